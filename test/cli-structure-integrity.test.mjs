// The vault authenticates its own structure (issue 9): which project a name means, which
// version of a key is current, which keys were deleted, and the header. Each attack is done
// with the real sqlite3 CLI on a real vault by someone without the passphrase, and must be an
// integrity failure (exit 8, one line) on every read path: direct, getall, and the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_ON, AGENT_ONLY, startAgent, writeTokens } from './agent-helpers.mjs';
import { PASS, assertOneLineError, makeVault, requireCommand, sql, tempDir, tvault } from './helpers.mjs';

const FIXTURE = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'fixtures', 'schema2-vault.db');

/** prod and staging, each with its own KEY. */
function twoProjects(t) {
  const v = makeVault(t);
  for (const [p, value] of [
    ['prod', 'prod-value'],
    ['staging', 'staging-value'],
  ]) {
    assert.equal(v.run(['projects', 'create', p]).code, 0);
    assert.equal(v.run(['set', '-p', p, 'KEY', '--stdin'], { input: value }).code, 0);
  }
  return { ...v, db: join(v.vault, 'vault.db') };
}

const SWAP_NAMES =
  "UPDATE projects SET name = 'x' WHERE name = 'prod'; UPDATE projects SET name = 'prod' WHERE name = 'staging'; UPDATE projects SET name = 'staging' WHERE name = 'x';";

test('project names swapped in vault.db: -p prod never serves staging (direct, getall, agent, scoped token)', async (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const v = twoProjects(t);
  const token = 'tvt_structure_integrity_prod_only_token_000000000';
  const file = writeTokens(join(v.dir, 'tokens'), `${token}:prod\n`);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  assert.equal(v.run(['get', '-p', 'prod', 'KEY'], { env: { ...AGENT_ONLY, TVAULT_AGENT_TOKEN: token } }).stdout, 'prod-value\n');
  sql(v.db, SWAP_NAMES);
  const bound = /integrity check failed for project 'prod'.*manifest/;
  assertOneLineError(assert, v.run(['get', '-p', 'prod', 'KEY']), 8, bound);
  assertOneLineError(assert, v.run(['env', '-p', 'prod']), 8, bound);
  assertOneLineError(assert, v.run(['get', '-p', 'prod', 'KEY'], { env: { ...AGENT_ONLY, TVAULT_AGENT_TOKEN: token } }), 8, bound);
  // Names back, and the uids and keys swapped instead: the rows no longer match their manifests.
  sql(v.db, SWAP_NAMES);
  assert.equal(v.run(['get', '-p', 'prod', 'KEY']).stdout, 'prod-value\n');
  const id = (p) => `(SELECT id FROM projects WHERE name = '${p}')`;
  sql(
    v.db,
    `CREATE TEMP TABLE s AS SELECT name, uid FROM projects;
     UPDATE projects SET uid = randomblob(16) WHERE name = 'prod';
     UPDATE projects SET uid = (SELECT uid FROM s WHERE name = 'prod') WHERE name = 'staging';
     UPDATE projects SET uid = (SELECT uid FROM s WHERE name = 'staging') WHERE name = 'prod';
     UPDATE project_keys SET project_id = -1 WHERE project_id = ${id('prod')};
     UPDATE project_keys SET project_id = ${id('prod')} WHERE project_id = ${id('staging')};
     UPDATE project_keys SET project_id = ${id('staging')} WHERE project_id = -1;
     UPDATE secrets SET project_id = -1 WHERE project_id = ${id('prod')};
     UPDATE secrets SET project_id = ${id('prod')} WHERE project_id = ${id('staging')};
     UPDATE secrets SET project_id = ${id('staging')} WHERE project_id = -1;`,
  );
  assertOneLineError(assert, v.run(['get', '-p', 'prod', 'KEY']), 8, bound);
  assertOneLineError(assert, v.run(['get', '-p', 'prod', 'KEY'], { env: { ...AGENT_ONLY, TVAULT_AGENT_TOKEN: token } }), 8, bound);
  a.child.kill('SIGTERM');
});

test('current version moved back, or past a tombstone, and deleted rows: exit 8 on get, getall and through the agent', async (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const v = twoProjects(t);
  const set = (k, value) => assert.equal(v.run(['set', '-p', 'prod', k, '--stdin'], { input: value }).code, 0);
  set('OLD', 'compromised');
  set('OLD', 'rotated');
  set('GONE', 'deleted-value');
  assert.equal(v.run(['delete', '-p', 'prod', 'GONE']).code, 0);
  await startAgent(t, v);
  const reads = (key) => [
    v.run(['get', '-p', 'prod', key]),
    v.run(['env', '-p', 'prod']),
    v.run(['get', '-p', 'prod', key], { env: AGENT_ON }),
    v.run(['env', '-p', 'prod', '--only', key], { env: AGENT_ON }),
  ];
  const allFail = (key, pattern) => {
    for (const r of reads(key)) assertOneLineError(assert, r, 8, pattern);
  };
  const secret = (k) => `(SELECT id FROM secrets WHERE name = '${k}' AND project_id = (SELECT id FROM projects WHERE name = 'prod'))`;
  // Moved back: the old value would be served.
  sql(v.db, `UPDATE secrets SET current_version = 1 WHERE id = ${secret('OLD')}`);
  allFail('OLD', /prod\/OLD: its current version was moved to 1 \(the manifest says 2\)/);
  sql(v.db, `UPDATE secrets SET current_version = 2 WHERE id = ${secret('OLD')}`);
  assert.equal(v.run(['get', '-p', 'prod', 'OLD']).stdout, 'rotated\n');
  // Moved past the tombstone: the deleted secret would come back.
  sql(v.db, `UPDATE secrets SET current_version = 1 WHERE id = ${secret('GONE')}`);
  allFail('GONE', /prod\/GONE: its current version was moved/);
  sql(v.db, `UPDATE secrets SET current_version = 2 WHERE id = ${secret('GONE')}`);
  assertOneLineError(assert, v.run(['get', '-p', 'prod', 'GONE']), 4, /not found/);
  // A live secret's rows deleted.
  sql(v.db, `DELETE FROM secrets WHERE id = ${secret('OLD')}`);
  allFail('OLD', /prod\/OLD: its rows were deleted without the key/);
  // The tombstone row deleted.
  sql(v.db, `DELETE FROM secret_versions WHERE secret_id = ${secret('GONE')} AND sealed IS NULL`);
  allFail('GONE', /prod\/GONE: its current version 2 was deleted/);
});

test('the vault header: a tampered verifier or vault id is exit 8 and audited as tampering; a typo stays 6', (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const v = twoProjects(t);
  assertOneLineError(assert, v.run(['get', 'KEY', '-p', 'prod'], { env: { TVAULT_PASSPHRASE: 'typo' } }), 6, /wrong passphrase/);
  const verifier = sql(v.db, "SELECT hex(value) FROM meta WHERE key = 'verifier'");
  sql(v.db, `UPDATE meta SET value = X'${verifier.slice(0, 60)}${verifier[60] === '0' ? '1' : '0'}${verifier.slice(61)}' WHERE key = 'verifier'`);
  assertOneLineError(assert, v.run(['get', 'KEY', '-p', 'prod']), 8, /the vault header was tampered with: the verifier was altered/);
  assert.match(sql(v.db, "SELECT ok || ' ' || detail FROM audit WHERE op = 'unlock' ORDER BY id DESC LIMIT 1"), /^0 tampered: the verifier was altered/);
  // Still 6 for a wrong passphrase: nothing proves it is the right one.
  assertOneLineError(assert, v.run(['get', 'KEY', '-p', 'prod'], { env: { TVAULT_PASSPHRASE: 'typo' } }), 6, /wrong passphrase/);
  sql(v.db, `UPDATE meta SET value = X'${verifier}' WHERE key = 'verifier'`);
  sql(v.db, "UPDATE meta SET value = randomblob(16) WHERE key = 'vault_id'");
  assertOneLineError(assert, v.run(['get', 'KEY', '-p', 'prod']), 8, /tampered with: the vault id does not match the verifier/);
});

test('KDF parameters lowered from the default are exit 8; key rotate warns when it lowers them; an impossible --kdf-memory is a usage error', (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  assert.equal(tvault(['init'], { env }).code, 0); // the default parameters
  sql(join(dir, 'v', 'vault.db'), `UPDATE meta SET value = '{"alg":"argon2id","memoryKiB":256,"passes":1,"parallelism":1}' WHERE key = 'kdf'`);
  assertOneLineError(assert, tvault(['get', 'X'], { env }), 8, /the KDF parameters were lowered/);
  // key rotate to weaker parameters says so, as init does.
  const v = makeVault(t);
  const r = v.run(['key', 'rotate', '--kdf-memory', '128'], { env: { TVAULT_NEW_PASSPHRASE: 'a new passphrase' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: Argon2id parameters below the default/);
  for (const args of [
    ['init', '--kdf-memory', '99999999999'],
    ['init', '--kdf-memory', '3000000', '--kdf-passes', '1'],
  ]) {
    assertOneLineError(assert, tvault(args, { env: { ...env, TVAULT_DIR: join(dir, 'new') } }), 2, /kdf|Argon2id/i);
  }
});

test('a vault made by tvault 39d2cd6 (schema 2) is migrated; its structure is sealed at its first unlock and then defended', (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vault = join(dir, 'v');
  mkdirSync(vault, { mode: 0o700 });
  const db = join(vault, 'vault.db');
  copyFileSync(FIXTURE, db);
  const env = { TVAULT_DIR: vault, TVAULT_PASSPHRASE: 'fixture passphrase', TVAULT_NO_AGENT: '1' };
  const run = (args) => tvault(args, { env });
  assert.equal(run(['get', 'A']).stdout, 'alpha\n');
  assert.equal(sql(db, 'PRAGMA user_version'), '4');
  assert.equal(sql(db, 'SELECT COUNT(*) FROM manifests'), '3');
  assert.equal(sql(db, "SELECT COUNT(*) FROM audit WHERE op = 'vault.upgrade'"), '1');
  assert.equal(run(['get', 'B']).stdout, 'b-two\n');
  assert.equal(run(['get', '-p', 'staging', 'KEY']).stdout, 'staging-value\n');
  assertOneLineError(assert, run(['get', 'C']), 4, /not found/);
  const verify = run(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
  // Now sealed: the attacks of the tests above are refused on the migrated vault too.
  sql(db, SWAP_NAMES);
  assertOneLineError(assert, run(['get', '-p', 'prod', 'KEY']), 8, /integrity check failed for project 'prod'/);
  sql(db, SWAP_NAMES);
  sql(db, "UPDATE secrets SET current_version = 1 WHERE name = 'C'");
  assertOneLineError(assert, run(['get', 'C']), 8, /default\/C: its current version was moved/);
  // Deleting the manifests does not make it "not yet migrated" again: the verifier says it is.
  sql(db, "UPDATE secrets SET current_version = 2 WHERE name = 'C'; DELETE FROM manifests;");
  assertOneLineError(assert, run(['get', 'A']), 8, /its manifest is missing/);
});
