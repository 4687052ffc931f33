// The vault key: the default Argon2id parameters, and `key rotate`, which re-wraps every
// project key and the verifier atomically, never touches a value, and changes nothing when it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PASS, assertOneLineError, assertVaultIntact, makeVault, sql, tempDir, tvault, tvaultNoTty } from './helpers.mjs';

const NEW = 'a brand new passphrase';

/** Everything a rotation may change, and the values it must not. */
function snapshot(v) {
  const db = join(v.vault, 'vault.db');
  return {
    meta: sql(db, "SELECT key, hex(value) FROM meta WHERE key IN ('kdf', 'kdf_salt', 'verifier', 'vault_id') ORDER BY key"),
    keys: sql(db, 'SELECT project_id, recipient, hex(wrapped) FROM project_keys ORDER BY project_id'),
    values: sql(db, 'SELECT secret_id, version, hex(sealed) FROM secret_versions ORDER BY secret_id, version'),
  };
}

function twoProjects(t) {
  const v = makeVault(t);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'a-value' }).code, 0);
  assert.equal(v.run(['set', '-p', 'backend', 'B', '--stdin'], { input: 'b-value' }).code, 0);
  return v;
}

test('init without KDF flags uses Argon2id 65536 KiB, 3 passes, 4 lanes, and doctor is content', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  const r = tvault(['init'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/);
  const kdf = JSON.parse(sql(join(dir, 'v', 'vault.db'), "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'kdf'"));
  assert.deepEqual(kdf, { alg: 'argon2id', memoryKiB: 65536, passes: 3, parallelism: 4 });
  assert.equal(sql(join(dir, 'v', 'vault.db'), "SELECT length(value) FROM meta WHERE key = 'kdf_salt'"), '16');
  const doc = tvault(['doctor', '--json'], { env });
  assert.equal(doc.code, 0, doc.stdout);
  const d = JSON.parse(doc.stdout);
  assert.equal(d.ok, true);
  assert.equal(d.warnings, 0);
  assert.match(d.checks.find((c) => c.check === 'key derivation').detail, /Argon2id 65536 KiB, 3 passes, 4 lanes/);
});

test('key rotate: the old passphrase fails (6), the new one works, values untouched', (t) => {
  const v = twoProjects(t);
  const before = snapshot(v);
  const r = v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: NEW } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /passphrase changed/);
  const after = snapshot(v);
  assert.notEqual(after.meta, before.meta, 'salt and verifier changed');
  assert.notEqual(after.keys, before.keys, 'every project key was re-wrapped');
  assert.equal(after.values, before.values, 'no value was re-encrypted');
  assertOneLineError(assert, v.run(['get', 'A']), 6, /wrong passphrase/);
  const withNew = { ...v, run: (args, o = {}) => v.run(args, { ...o, env: { TVAULT_PASSPHRASE: NEW, ...o.env } }) };
  assertVaultIntact(assert, withNew, { A: 'a-value' });
  assertVaultIntact(assert, withNew, { B: 'b-value' }, 'backend');
  assert.equal(sql(join(v.vault, 'vault.db'), "SELECT detail FROM audit WHERE op = 'key.rotate'"), 'projects=2');
});

test('key rotate can change the KDF parameters (stored in the vault, used from then on)', (t) => {
  const v = twoProjects(t);
  const kdf = { alg: 'argon2id', memoryKiB: 512, passes: 2, parallelism: 2 };
  const r = v.run(['key', 'rotate', '--kdf-memory', '512', '--kdf-passes', '2', '--kdf-parallelism', '2', '--json'], { env: { TVAULT_NEW_PASSPHRASE: NEW } });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { rotated: true, kdf });
  assert.deepEqual(JSON.parse(v.run(['status', '--json']).stdout).kdf, kdf);
  // Still below the default: doctor keeps warning (and still exits 0).
  const doc = v.run(['doctor', '--json']);
  assert.equal(doc.code, 0);
  assert.equal(JSON.parse(doc.stdout).checks.find((c) => c.check === 'key derivation').status, 'warn');
  assert.equal(v.run(['get', '-p', 'backend', 'B'], { env: { TVAULT_PASSPHRASE: NEW } }).stdout, 'b-value\n');
});

test('a rotation that fails changes nothing', (t) => {
  const v = twoProjects(t);
  const before = snapshot(v);
  const same = () => assert.deepEqual(snapshot(v), before);
  // Wrong old passphrase.
  assertOneLineError(assert, v.run(['key', 'rotate'], { env: { TVAULT_PASSPHRASE: 'wrong', TVAULT_NEW_PASSPHRASE: NEW } }), 6, /wrong passphrase/);
  same();
  // No new passphrase and no terminal to ask for one.
  assertOneLineError(assert, tvaultNoTty(['key', 'rotate'], { env: v.env }), 3, /TVAULT_NEW_PASSPHRASE/);
  same();
  // An empty new passphrase.
  assertOneLineError(assert, v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: '' } }), 2, /empty/);
  same();
  // Invalid KDF parameters.
  assertOneLineError(assert, v.run(['key', 'rotate', '--kdf-passes', '0'], { env: { TVAULT_NEW_PASSPHRASE: NEW } }), 2, /invalid Argon2id parameters/);
  same();
  // A damaged key of the second project makes the rotation fail half-way through its loop:
  // the first project's key, already re-wrapped inside the transaction, must be rolled back too.
  const db = join(v.vault, 'vault.db');
  const good = sql(db, "SELECT hex(wrapped) FROM project_keys WHERE project_id = (SELECT id FROM projects WHERE name = 'backend')");
  const bad = good.slice(0, 80) + (good[80] === '0' ? '1' : '0') + good.slice(81);
  sql(db, `UPDATE project_keys SET wrapped = X'${bad}' WHERE project_id = (SELECT id FROM projects WHERE name = 'backend')`);
  const damaged = snapshot(v);
  assertOneLineError(assert, v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: NEW } }), 8, /the key of project 'backend'/);
  assert.deepEqual(snapshot(v), damaged);
  assertOneLineError(assert, v.run(['get', 'A'], { env: { TVAULT_PASSPHRASE: NEW } }), 6, /wrong passphrase/);
  sql(db, `UPDATE project_keys SET wrapped = X'${good}' WHERE project_id = (SELECT id FROM projects WHERE name = 'backend')`);
  same();
  assertVaultIntact(assert, v, { A: 'a-value' });
  assertVaultIntact(assert, v, { B: 'b-value' }, 'backend');
});
