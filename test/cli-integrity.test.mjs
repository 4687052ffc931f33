// Tampering and corruption: an altered, swapped or moved ciphertext and a damaged vault.db are
// refused as integrity failures (exit 8, one line, no stack), never decrypted or "repaired",
// and every value that was not touched stays readable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, truncateSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { PASS, assertOneLineError, assertVaultIntact, makeVault, sql, tvaultMany } from './helpers.mjs';

const dbOf = (v) => join(v.vault, 'vault.db');

/** The WHERE clause that selects one version row of a key (the current one unless given). */
function versionRow(name, { project = 'default', version } = {}) {
  const sid = `(SELECT s.id FROM secrets s JOIN projects p ON p.id = s.project_id WHERE p.name = '${project}' AND s.name = '${name}')`;
  const ver = version ?? `(SELECT current_version FROM secrets WHERE id = ${sid})`;
  return `secret_id = ${sid} AND version = ${ver}`;
}

const sealedHex = (v, name, opts) => sql(dbOf(v), `SELECT hex(sealed) FROM secret_versions WHERE ${versionRow(name, opts)}`);
const setSealedHex = (v, name, hex, opts) => sql(dbOf(v), `UPDATE secret_versions SET sealed = X'${hex}' WHERE ${versionRow(name, opts)}`);

function flipNibble(hex, at) {
  const c = parseInt(hex[at], 16) ^ 0x1;
  return hex.slice(0, at) + c.toString(16).toUpperCase() + hex.slice(at + 1);
}

/** Imports { NAME: value } into v's current project as one dotenv file on stdin. */
function importValues(v, values) {
  const input = Object.entries(values)
    .map(([k, x]) => `${k}=${x}`)
    .join('\n');
  assert.equal(v.run(['import', '-'], { input }).code, 0);
}

function seeded(t) {
  const v = makeVault(t);
  const values = { ALPHA: 'alpha-value', BETA: 'beta-value', GAMMA: 'gamma-value' };
  importValues(v, values);
  return { v, values };
}

test('a flipped byte in a ciphertext is an integrity failure; other values stay readable', (t) => {
  const { v, values } = seeded(t);
  const orig = sealedHex(v, 'BETA');
  // hex offsets: 0 the envelope version, 10 the nonce, 60 the MAC, the last one the ciphertext
  for (const at of [0, 10, 60, orig.length - 1]) {
    setSealedHex(v, 'BETA', flipNibble(orig, at));
    assertOneLineError(assert, v.run(['get', 'BETA']), 8, /integrity check failed for default\/BETA.*altered/);
  }
  // Whole-project reads fail closed rather than silently dropping the bad value.
  assertOneLineError(assert, v.run(['env']), 8, /integrity check failed/);
  assertOneLineError(assert, v.run(['export', '--format', 'json']), 8, /integrity check failed/);
  assert.equal(v.run(['get', 'ALPHA']).stdout, 'alpha-value\n');
  assert.equal(v.run(['get', 'GAMMA']).stdout, 'gamma-value\n');
  // A truncated ciphertext is refused the same way.
  setSealedHex(v, 'BETA', orig.slice(0, 40));
  assertOneLineError(assert, v.run(['get', 'BETA']), 8, /integrity check failed/);
  setSealedHex(v, 'BETA', orig);
  assertVaultIntact(assert, v, values);
});

test('ciphertexts swapped between two keys belong to another key', (t) => {
  const { v, values } = seeded(t);
  const a = sealedHex(v, 'ALPHA');
  const b = sealedHex(v, 'BETA');
  setSealedHex(v, 'ALPHA', b);
  setSealedHex(v, 'BETA', a);
  assertOneLineError(assert, v.run(['get', 'ALPHA']), 8, /integrity check failed for default\/ALPHA.*belongs to another key or project/);
  assertOneLineError(assert, v.run(['get', 'BETA']), 8, /belongs to another key or project/);
  assert.equal(v.run(['get', 'GAMMA']).stdout, 'gamma-value\n');
  setSealedHex(v, 'ALPHA', a);
  setSealedHex(v, 'BETA', b);
  assertVaultIntact(assert, v, values);
});

test('a ciphertext copied to another project is refused', (t) => {
  const { v, values } = seeded(t);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  assert.equal(v.run(['set', '-p', 'other', 'ALPHA', '--stdin'], { input: 'other-alpha' }).code, 0);
  const mine = sealedHex(v, 'ALPHA', { project: 'other' });
  setSealedHex(v, 'ALPHA', sealedHex(v, 'ALPHA'), { project: 'other' });
  assertOneLineError(assert, v.run(['get', '-p', 'other', 'ALPHA']), 8, /integrity check failed for other\/ALPHA/);
  // The wrapped key of one project copied onto another is refused too (bound to the project).
  const db = dbOf(v);
  const keyOf = (p) => sql(db, `SELECT hex(wrapped) FROM project_keys WHERE project_id = (SELECT id FROM projects WHERE name = '${p}')`);
  const otherKey = keyOf('other');
  sql(db, `UPDATE project_keys SET wrapped = X'${keyOf('default')}' WHERE project_id = (SELECT id FROM projects WHERE name = 'other')`);
  assertOneLineError(assert, v.run(['get', '-p', 'other', 'ALPHA']), 8, /the key of project 'other'.*belongs to another/);
  sql(db, `UPDATE project_keys SET wrapped = X'${otherKey}' WHERE project_id = (SELECT id FROM projects WHERE name = 'other')`);
  setSealedHex(v, 'ALPHA', mine, { project: 'other' });
  assert.equal(v.run(['get', '-p', 'other', 'ALPHA']).stdout, 'other-alpha\n');
  assertVaultIntact(assert, v, values);
});

test('an older version copied onto the current version row is refused (no silent rollback)', (t) => {
  const { v, values } = seeded(t);
  assert.equal(v.run(['set', 'ALPHA', '--stdin'], { input: 'alpha-v2' }).code, 0);
  const v1 = sealedHex(v, 'ALPHA', { version: 1 });
  const v2 = sealedHex(v, 'ALPHA', { version: 2 });
  setSealedHex(v, 'ALPHA', v1, { version: 2 });
  assertOneLineError(assert, v.run(['get', 'ALPHA']), 8, /ALPHA \(version 2\).*belongs to another key or project/);
  setSealedHex(v, 'ALPHA', v2, { version: 2 });
  assertVaultIntact(assert, v, { ...values, ALPHA: 'alpha-v2' });
});

test('a truncated or empty vault.db is refused with one line and is not rebuilt', (t) => {
  const { v } = seeded(t);
  const db = dbOf(v);
  const size = statSync(db).size;
  truncateSync(db, Math.floor(size / 2));
  for (const args of [['get', 'ALPHA'], ['list'], ['set', 'X', '--stdin']])
    assertOneLineError(assert, v.run(args, { input: 'x' }), 8, /corrupt|not a tvault vault/);
  truncateSync(db, 0);
  for (const args of [['get', 'ALPHA'], ['list'], ['status'], ['set', 'X', '--stdin']]) {
    assertOneLineError(assert, v.run(args, { input: 'x' }), 8, /vault\.db is empty or not a tvault vault; restore it from a backup/);
  }
  // Reading an empty vault.db must not turn it into a fresh, empty vault.
  assert.equal(statSync(db).size, 0);
  const doc = v.run(['doctor']);
  assert.equal(doc.code, 8, doc.stdout + doc.stderr);
  assert.match(doc.stdout, /FAIL\s+database/);
});

test('garbage in the header of vault.db is refused with one line', (t) => {
  const { v } = seeded(t);
  const fd = openSync(dbOf(v), 'r+');
  writeSync(fd, Buffer.from('this is not an SQLite header!'), 0, 29, 0);
  closeSync(fd);
  for (const args of [['get', 'ALPHA'], ['env'], ['list'], ['history', 'ALPHA'], ['projects', 'list']]) {
    assertOneLineError(assert, v.run(args), 8, /corrupt or not a tvault vault/);
  }
});

test('a corrupted data page costs only the values on it', async (t) => {
  const v = makeVault(t);
  // ~1.5 KB per value: the version rows spread over many pages of secret_versions.
  const values = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`K${i}`, `${i}:` + randomBytes(700).toString('hex')]));
  importValues(v, values);
  const db = dbOf(v);
  assert.equal(existsSync(db + '-wal') && statSync(db + '-wal').size > 0, false, 'the WAL is checkpointed on close');
  const pageSize = Number(sql(db, 'PRAGMA page_size'));
  const leaves = sql(db, "SELECT pageno FROM dbstat WHERE name = 'secret_versions' AND pagetype = 'leaf' ORDER BY pageno").split('\n').map(Number);
  assert.ok(leaves.length >= 8, `want many leaf pages, got ${leaves.length}`);
  const page = leaves[Math.floor(leaves.length / 2)];
  const fd = openSync(db, 'r+');
  writeSync(fd, randomBytes(pageSize), 0, pageSize, (page - 1) * pageSize);
  closeSync(fd);
  let ok = 0;
  let bad = 0;
  const gets = await tvaultMany(Object.keys(values).map((k) => [['get', k], { env: v.env }]));
  for (const [i, [, val]] of Object.entries(values).entries()) {
    const r = gets[i];
    if (r.code === 0) {
      assert.equal(r.stdout, val + '\n');
      ok++;
    } else {
      assertOneLineError(assert, r, 8, /corrupt|integrity/);
      bad++;
    }
  }
  assert.ok(bad >= 1, 'the corrupted page held at least one value');
  assert.ok(ok >= 26, `only ${ok} of 32 values survived one bad page`);
});

test('no passphrase or value is ever written to the database in the clear; unlock failures are audited', (t) => {
  const v = makeVault(t);
  const canaries = Array.from({ length: 4 }, (_, i) => `canary-${i}-${randomBytes(8).toString('hex')}`);
  canaries.forEach((c, i) => assert.equal(v.run(['set', `C${i}`, '--stdin'], { input: c }).code, 0));
  assert.equal(v.run(['set', 'C0', '--stdin'], { input: canaries[0] + '-v2' }).code, 0);
  assert.equal(v.run(['rollback', 'C0', '--to', '1']).code, 0);
  assert.equal(v.run(['delete', 'C1']).code, 0);
  assert.equal(v.run(['env']).code, 0);
  assert.equal(v.run(['get', 'C2']).code, 0);
  assertOneLineError(assert, v.run(['get', 'C2'], { env: { TVAULT_PASSPHRASE: 'wrong-pass-canary' } }), 6, /wrong passphrase/);
  assert.equal(v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: 'new-pass-canary' } }).code, 0);
  const db = dbOf(v);
  const rows = sql(db, "SELECT op, ok, IFNULL(project, ''), IFNULL(keys, ''), IFNULL(detail, '') FROM audit ORDER BY id").split('\n');
  assert.ok(rows.includes('unlock|0|||'), rows.join('\n'));
  assert.ok(rows.includes('get|1|default|["C2"]|'), rows.join('\n'));
  assert.ok(
    rows.some((r) => r.startsWith('key.rotate|1|')),
    rows.join('\n'),
  );
  const files = [db, db + '-wal', db + '-shm'].filter(existsSync).map((f) => readFileSync(f));
  for (const needle of [PASS, 'wrong-pass-canary', 'new-pass-canary', ...canaries]) {
    for (const bytes of files) {
      assert.equal(bytes.includes(Buffer.from(needle)), false, `'${needle}' found in the vault files`);
      assert.equal(bytes.includes(Buffer.from(needle, 'utf16le')), false, `'${needle}' (UTF-16) found in the vault files`);
    }
  }
});

test('an edited or removed audit row breaks the chain, and doctor says where (exit 8)', (t) => {
  const { v } = seeded(t);
  assert.equal(v.run(['get', 'ALPHA']).code, 0);
  assert.equal(v.run(['get', 'BETA']).code, 0);
  const db = dbOf(v);
  const clean = v.run(['doctor', '--json']);
  assert.equal(clean.code, 0, clean.stdout);
  const chain = JSON.parse(clean.stdout).checks.find((c) => c.check === 'audit chain');
  assert.equal(chain.status, 'ok');

  const original = sql(db, 'SELECT quote(keys) FROM audit WHERE id = 3');
  sql(db, 'UPDATE audit SET keys = \'["GAMMA"]\' WHERE id = 3');
  let r = v.run(['doctor']);
  assert.equal(r.code, 8);
  assert.match(r.stdout, /FAIL\s+audit chain\s+broken at row 3: its content was changed/);
  assert.equal(r.stderr, '');

  sql(db, `UPDATE audit SET keys = ${original} WHERE id = 3`);
  assert.equal(v.run(['doctor']).code, 0, 'restoring the row restores the chain');
  sql(db, 'DELETE FROM audit WHERE id = 2');
  r = v.run(['doctor']);
  assert.equal(r.code, 8);
  assert.match(r.stdout, /audit chain\s+broken at row 3: row 2 is missing/);
});
