// Identities under bad input and tampering (issue 12): a recipient with a bad checksum or a
// low-order point, a wrapped DEK swapped between projects or recipients, a truncated stanza, a
// recipient row deleted, added or replayed by someone editing vault.db without the key, an
// altered share MAC; each refused with a one-line error (2 for bad input, 8 for tampering) and
// nothing lost. And kill -9 at random points of an unshare: the old state or the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, assertOneLineError, requireCommand, sql, tvaultSpawn } from './helpers.mjs';
import { NO_PASS, sharedVault } from './identity-helpers.mjs';

const coreRequire = createRequire(join(ROOT, 'packages/core/package.json'));
const { bech32 } = coreRequire('@scure/base');
const nacl = coreRequire('tweetnacl');
const Database = coreRequire('better-sqlite3');

/** A second identity, ops, that default is shared with too; returns its key and a reader. */
function addOps(v, project = 'default') {
  assert.equal(v.run(['identity', 'new', 'ops']).code, 0);
  assert.equal(v.run(['projects', 'share', '-p', project, 'ops']).code, 0);
  const key = v.run(['identity', 'export', 'ops', '--force']).stdout.trim();
  return { key, recipient: v.run(['identity', 'show', 'ops']).stdout.trim(), as: (args) => v.run(args, { env: { ...NO_PASS, TVAULT_IDENTITY_KEY: key } }) };
}

const rowOf = (v, recipient, project = 'default') => `project_id = (SELECT id FROM projects WHERE name = '${project}') AND recipient = '${recipient}'`;

/** After a tamper case is undone, everything reads as before: nothing was lost. */
function assertIntact(v) {
  assert.deepEqual(JSON.parse(v.run(['export', '--format', 'json']).stdout), { A: 'a2', B: 'b1' });
  assert.deepEqual(JSON.parse(v.asCi(['export', '--format', 'json']).stdout), { A: 'a2', B: 'b1' });
}

test('share refuses a recipient with a bad checksum, a low-order point, a post-quantum type or no key at all (exit 2)', (t) => {
  const v = sharedVault(t);
  const bad = v.recipient.slice(0, -1) + (v.recipient.endsWith('q') ? 'p' : 'q');
  const lowOrder = bech32.encodeFromBytes('age', new Uint8Array(32)); // u = 0
  const one = new Uint8Array(32);
  one[0] = 1; // u = 1, of order 1
  for (const [r, pattern] of [
    [bad, /not valid Bech32/],
    [lowOrder, /low-order point/],
    [bech32.encodeFromBytes('age', one), /low-order point/],
    ['age1pq1' + 'q'.repeat(60), /post-quantum/],
    [v.recipient.toUpperCase(), /not an age X25519 recipient/],
    [bech32.encodeFromBytes('age', new Uint8Array(31).fill(7)), /not a 32-byte X25519 key/],
  ]) {
    assertOneLineError(assert, v.run(['projects', 'share', r]), 2, pattern);
  }
  assert.equal(sql(v.db, "SELECT COUNT(*) FROM project_keys WHERE recipient <> 'passphrase'"), '1');
  assertIntact(v);
});

test('a wrapped DEK swapped between projects, or between recipients, is tampering (exit 8); swapped back, all reads', (t) => {
  const v = sharedVault(t);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  assert.equal(v.run(['set', '-p', 'other', 'X', '--stdin'], { input: 'x' }).code, 0);
  assert.equal(v.run(['projects', 'share', '-p', 'other', 'ci']).code, 0);
  const ops = addOps(v);
  const save = sql(v.db, `SELECT hex(wrapped) FROM project_keys WHERE ${rowOf(v, v.recipient)}`);
  // ci's wrap of project other, in ci's row of default: it names the other project's uid.
  sql(v.db, `UPDATE project_keys SET wrapped = (SELECT wrapped FROM project_keys WHERE ${rowOf(v, v.recipient, 'other')}) WHERE ${rowOf(v, v.recipient)}`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /wrapped for another project or recipient/);
  // ops's wrap in ci's row: not for this identity at all.
  sql(v.db, `UPDATE project_keys SET wrapped = (SELECT wrapped FROM project_keys WHERE ${rowOf(v, ops.recipient)}) WHERE ${rowOf(v, v.recipient)}`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /not wrapped to this identity \(a row swapped between recipients\)/);
  sql(v.db, `UPDATE project_keys SET wrapped = x'${save}' WHERE ${rowOf(v, v.recipient)}`);
  assertIntact(v);
  assert.equal(ops.as(['get', 'B']).stdout, 'b1\n');
});

test('a truncated or altered age stanza is tampering (exit 8), never a stack trace', (t) => {
  const v = sharedVault(t);
  const save = sql(v.db, `SELECT hex(wrapped) FROM project_keys WHERE ${rowOf(v, v.recipient)}`);
  for (const edit of [
    `substr(wrapped, 1, 60)`, // inside the X25519 stanza line
    `substr(wrapped, 1, length(wrapped) - 10)`, // the payload cut short
    `x'${save.slice(0, 200)}' || x'00' || x'${save.slice(202)}'`, // one header byte changed
    `x''`,
  ]) {
    sql(v.db, `UPDATE project_keys SET wrapped = ${edit} WHERE ${rowOf(v, v.recipient)}`);
    assertOneLineError(assert, v.asCi(['get', 'A']), 8, /not a valid age file|not wrapped to this identity/);
    sql(v.db, `UPDATE project_keys SET wrapped = x'${save}' WHERE ${rowOf(v, v.recipient)}`);
  }
  assertIntact(v);
});

test('a recipient row deleted or added without the key is tampering for every reader (exit 8); a revoked row replayed too', (t) => {
  const v = sharedVault(t);
  const ops = addOps(v);
  const dump = sql(v.db, `SELECT hex(wrapped) || ' ' || created_at FROM project_keys WHERE ${rowOf(v, v.recipient)}`).split(' ');
  const restoreCi = () =>
    sql(v.db, `INSERT INTO project_keys VALUES ((SELECT id FROM projects WHERE name = 'default'), '${v.recipient}', x'${dump[0]}', ${dump[1]})`);
  // Deleted: ci is told its row was deleted (not "not a recipient"), the passphrase and ops see it too.
  sql(v.db, `DELETE FROM project_keys WHERE ${rowOf(v, v.recipient)}`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /key row of age1\w+ was deleted without the key/);
  assertOneLineError(assert, v.run(['get', 'A']), 8, /recipients do not match its manifest \(age1\w+ deleted without the key\)/);
  assertOneLineError(assert, ops.as(['get', 'A']), 8, /recipients do not match its manifest/);
  restoreCi();
  assertIntact(v);
  // Added: ci's row copied into a project never shared with it.
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  sql(v.db, `INSERT INTO project_keys VALUES ((SELECT id FROM projects WHERE name = 'other'), '${v.recipient}', x'${dump[0]}', 0)`);
  assertOneLineError(assert, v.run(['env', '-p', 'other']), 8, /added without the key/);
  assertOneLineError(assert, v.asCi(['env', '-p', 'other']), 8);
  sql(v.db, `DELETE FROM project_keys WHERE ${rowOf(v, v.recipient, 'other')}`);
  // Replayed: unshare ci, then put its old row back. The manifest no longer lists it.
  assert.equal(v.run(['projects', 'unshare', 'ci']).code, 0);
  restoreCi();
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /manifest was altered|added without the key/);
  assertOneLineError(assert, v.run(['get', 'A']), 8, /added without the key/);
  sql(v.db, `DELETE FROM project_keys WHERE ${rowOf(v, v.recipient)}`);
  assert.equal(v.run(['get', 'A']).stdout, 'a2\n');
  assert.equal(ops.as(['get', 'A']).stdout, 'a2\n');
});

test("a shared manifest's share_mac, body or recipients edited without the key: exit 8 for the reader by identity", (t) => {
  const v = sharedVault(t);
  const save = sql(v.db, "SELECT hex(share_mac) || ' ' || hex(body) FROM manifests WHERE project_id = (SELECT id FROM projects WHERE name = 'default')").split(
    ' ',
  );
  const where = "project_id = (SELECT id FROM projects WHERE name = 'default')";
  sql(v.db, `UPDATE manifests SET share_mac = zeroblob(32) WHERE ${where}`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /its manifest was altered/);
  sql(v.db, `UPDATE manifests SET share_mac = NULL WHERE ${where}`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /its manifest was altered/);
  sql(v.db, `UPDATE manifests SET share_mac = x'${save[0]}' WHERE ${where}`);
  // The current version of A moved back to 1 (an old value served as current): the manifest says 2.
  sql(v.db, "UPDATE secrets SET current_version = 1 WHERE name = 'A'");
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /current version was moved to 1/);
  sql(v.db, "UPDATE secrets SET current_version = 2 WHERE name = 'A'");
  assertIntact(v);
});

// ---- kill -9 in the middle of an unshare ---------------------------------------------------

/** The DEK a recipient's row wraps, by the real age CLI: payload = tag || uid || u16 len || recipient || DEK. */
function dekOf(v, keyFile, recipient) {
  const wrapFile = join(v.dir, 'wrap.age');
  sql(v.db, `SELECT writefile('${wrapFile}', wrapped) FROM project_keys WHERE ${rowOf(v, recipient)}`);
  const r = spawnSync('age', ['-d', '-i', keyFile, wrapFile]);
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout.subarray(r.stdout.length - 32);
}

/** Every sealed version of the project opens under `dek` (a mix of old and new ciphertexts would not). */
function allOpenUnder(v, dek) {
  const db = new Database(v.db, { readonly: true });
  try {
    const rows = db.prepare('SELECT sealed FROM secret_versions WHERE sealed IS NOT NULL').all();
    return rows.every(({ sealed: b }) => nacl.secretbox.open(b.subarray(25), b.subarray(1, 25), dek) !== null);
  } finally {
    db.close();
  }
}

test('kill -9 at random points of an unshare of a large project: the old state or the new one, every version readable', async (t) => {
  if (!requireCommand(t, 'age')) return;
  const v = sharedVault(t);
  const ops = addOps(v);
  const opsFile = join(v.dir, 'ops.key');
  writeFileSync(opsFile, ops.key + '\n', { mode: 0o600 });
  const N = 1000;
  const expected = {};
  for (const round of [1, 2, 3]) {
    const lines = [];
    for (let i = 0; i < N; i++) {
      const value = `value-${round}-${i}-${'x'.repeat(40)}`;
      lines.push(`K${i}=${value}`);
      expected[`K${i}`] = value;
    }
    assert.equal(v.run(['import', '-'], { input: lines.join('\n') + '\n' }).code, 0);
  }
  expected.A = 'a2';
  expected.B = 'b1';
  // The exit is listened for at once: a child that finishes before its kill must not be missed.
  const unshare = () => {
    const child = tvaultSpawn(['projects', 'unshare', 'ci'], { env: { ...v.env }, stdio: 'ignore' });
    child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return child;
  };
  const wait = (child) => child.exited;
  // How long a whole unshare takes here, to spread the kills over it.
  let t0 = Date.now();
  assert.equal((await wait(unshare())).code, 0);
  const full = Date.now() - t0;
  assert.equal(v.run(['projects', 'share', 'ci']).code, 0);
  const seen = { old: 0, new: 0 };
  for (let i = 0; i < 6; i++) {
    const child = unshare();
    const delay = Math.floor(full * (0.4 + 0.8 * Math.random()));
    t0 = Date.now();
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    const res = await wait(child);
    const stillShared = v.asCi(['get', 'A']);
    const state = stillShared.code === 0 ? 'old' : 'new';
    seen[state]++;
    if (state === 'new') assertOneLineError(assert, stillShared, 3, /not a recipient/);
    // Both states: the passphrase and ops read every current value, and every archived version
    // opens under the one DEK that the passphrase row and ops's row both wrap.
    assert.deepEqual(
      JSON.parse(v.run(['export', '--format', 'json']).stdout),
      expected,
      `state ${state} after a kill at ${delay} ms (${res.signal ?? res.code})`,
    );
    assert.deepEqual(JSON.parse(ops.as(['export', '--format', 'json']).stdout), expected);
    assert.ok(allOpenUnder(v, dekOf(v, opsFile, ops.recipient)), `a mix of ciphertexts after a kill at ${delay} ms`);
    if (state === 'new') assert.equal(v.run(['projects', 'share', 'ci']).code, 0);
  }
  t.diagnostic(`unshare of ${3 * N + 3} versions took ${full} ms; kills left the old state ${seen.old}, the new ${seen.new} times`);
  assert.equal(v.run(['audit', 'verify']).code, 0);
});
