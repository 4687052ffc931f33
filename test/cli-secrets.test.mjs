// The life of a secret: versions, history, rollback, delete (a tombstone) and purge; finding
// secrets by name; and listings that carry names and metadata, never values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertOneLineError, assertVaultIntact, makeVault, sql } from './helpers.mjs';

const set = (v, k, val) => assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
const get = (v, k) => v.run(['get', k]);
const history = (v, k) => JSON.parse(v.run(['history', k, '--json']).stdout).versions.map((r) => [r.version, r.op, r.current]);

test('history keeps every version; rollback makes an old value current as a new version', (t) => {
  const v = makeVault(t);
  for (const val of ['v1', 'v2', 'v3']) set(v, 'API_KEY', val);
  assert.deepEqual(history(v, 'API_KEY'), [
    [1, 'set', false],
    [2, 'set', false],
    [3, 'set', true],
  ]);
  const r = v.run(['rollback', 'API_KEY', '--to', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /restored API_KEY to version 1 \(now version 4\)/);
  assert.equal(get(v, 'API_KEY').stdout, 'v1\n');
  assert.deepEqual(history(v, 'API_KEY').at(-1), [4, 'rollback', true]);
  const text = v.run(['history', 'API_KEY']);
  assert.match(text.stdout, /^VERSION\s+CHANGE\s+WHEN/);
  assert.match(text.stdout, /\n4\s+rollback\s+\S+Z\s+current\n$/);
  const j = JSON.parse(v.run(['rollback', 'API_KEY', '--to', '3', '--json']).stdout);
  assert.deepEqual(j, { project: 'default', key: 'API_KEY', restored: 3, version: 5 });
  assert.equal(get(v, 'API_KEY').stdout, 'v3\n');
});

test('delete leaves a tombstone in history; rollback after delete restores; delete twice is not found', (t) => {
  const v = makeVault(t);
  set(v, 'TOKEN', 'first');
  set(v, 'TOKEN', 'second');
  set(v, 'OTHER', 'other');
  const d = v.run(['delete', 'TOKEN']);
  assert.equal(d.code, 0, d.stderr);
  assertOneLineError(assert, get(v, 'TOKEN'), 4, /secret 'TOKEN' not found/);
  assert.deepEqual(history(v, 'TOKEN'), [
    [1, 'set', false],
    [2, 'set', false],
    [3, 'delete', true],
  ]);
  assert.deepEqual(
    JSON.parse(v.run(['list', '--json']).stdout).secrets.map((s) => s.name),
    ['OTHER'],
  );
  assertOneLineError(assert, v.run(['delete', 'TOKEN']), 4, /not found/);
  assertOneLineError(assert, v.run(['rollback', 'TOKEN', '--to', '3']), 2, /version 3 of 'TOKEN' is a deletion/);
  assert.equal(v.run(['rollback', 'TOKEN', '--to', '1']).code, 0);
  assert.equal(get(v, 'TOKEN').stdout, 'first\n');
  assert.deepEqual(history(v, 'TOKEN').at(-1), [4, 'rollback', true]);
  // `rm` is the same command; setting again after a delete continues the numbering.
  assert.equal(v.run(['rm', 'TOKEN']).code, 0);
  set(v, 'TOKEN', 'third');
  assert.deepEqual(history(v, 'TOKEN').slice(-2), [
    [5, 'delete', false],
    [6, 'set', true],
  ]);
  assertVaultIntact(assert, v, { OTHER: 'other', TOKEN: 'third' });
});

test('delete --purge erases the secret and its whole history', (t) => {
  const v = makeVault(t);
  set(v, 'GONE', 'a');
  set(v, 'GONE', 'b');
  set(v, 'KEPT', 'k');
  const r = v.run(['delete', 'GONE', '--purge', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { project: 'default', key: 'GONE', deleted: true, purged: true });
  assertOneLineError(assert, v.run(['history', 'GONE']), 4, /no history/);
  assertOneLineError(assert, v.run(['rollback', 'GONE', '--to', '1']), 4, /no version 1/);
  const db = join(v.vault, 'vault.db');
  assert.equal(sql(db, "SELECT COUNT(*) FROM secrets WHERE name = 'GONE'"), '0');
  assert.equal(sql(db, 'SELECT COUNT(*) FROM secret_versions WHERE secret_id NOT IN (SELECT id FROM secrets)'), '0');
  // A tombstoned secret can still be purged; purging nothing is not found.
  set(v, 'TOMB', 't');
  assert.equal(v.run(['delete', 'TOMB']).code, 0);
  assert.equal(v.run(['delete', 'TOMB', '--purge']).code, 0);
  assertOneLineError(assert, v.run(['history', 'TOMB']), 4, /no history/);
  assertOneLineError(assert, v.run(['delete', 'NEVER', '--purge']), 4, /not found/);
  // A purged name starts again at version 1.
  set(v, 'GONE', 'new');
  assert.deepEqual(history(v, 'GONE'), [[1, 'set', true]]);
  assertVaultIntact(assert, v, { GONE: 'new', KEPT: 'k' });
});

test('search PATTERN, --prefix and --name-like (substring, * and ?, case-insensitive)', (t) => {
  const v = makeVault(t);
  for (const k of ['DB_HOST', 'DB_PASSWORD', 'DBX', 'GITHUB_TOKEN', 'npm_token', 'TOKEN_A', 'TOKEN_AB', 'AWS_KEY']) set(v, k, `value-of-${k}`);
  assert.equal(v.run(['delete', 'AWS_KEY']).code, 0);
  const names = (args) => {
    const r = v.run(['search', ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).secrets.map((s) => s.name);
  };
  // `_` is literal in a prefix (no LIKE wildcard leaks through).
  assert.deepEqual(names(['--prefix', 'DB_']), ['DB_HOST', 'DB_PASSWORD']);
  assert.deepEqual(names(['--prefix', 'db_']), [], 'prefixes are case-sensitive, like key names');
  assert.deepEqual(names(['--name-like', 'token']), ['GITHUB_TOKEN', 'TOKEN_A', 'TOKEN_AB', 'npm_token']);
  assert.deepEqual(names(['--name-like', '*_token']), ['GITHUB_TOKEN', 'npm_token']);
  assert.deepEqual(names(['--name-like', 'token_?']), ['TOKEN_A']);
  assert.deepEqual(names(['--name-like', 'token_*']), ['TOKEN_A', 'TOKEN_AB']);
  assert.deepEqual(names(['--name-like', 'db.host']), [], '. is literal, not a regex');
  assert.deepEqual(names(['--name-like', '*KEY*']), [], 'deleted secrets are not found');
  assert.deepEqual(names(['--prefix', 'TOKEN', '--name-like', '*b']), ['TOKEN_AB']);
  // A plain word: the same as --name-like.
  assert.deepEqual(names(['token']), ['GITHUB_TOKEN', 'TOKEN_A', 'TOKEN_AB', 'npm_token']);
  assert.deepEqual(names(['*_token']), ['GITHUB_TOKEN', 'npm_token']);
  assert.deepEqual(names(['--prefix', 'TOKEN', '*b']), ['TOKEN_AB']);
  const text = v.run(['search', '--prefix', 'DB_']);
  assert.match(text.stdout, /^NAME\s+VERSION\s+UPDATED\nDB_HOST\s+1\s+\S+Z\nDB_PASSWORD\s+1\s+\S+Z\n$/);
  assert.doesNotMatch(text.stdout + v.run(['search', '--name-like', '*', '--json']).stdout, /value-of-/);
});

test('list (and --json, --prefix) shows names and metadata, never values', (t) => {
  const v = makeVault(t);
  set(v, 'B_KEY', 'canary-value-b');
  set(v, 'A_KEY', 'canary-value-a');
  set(v, 'A_KEY', 'canary-value-a2');
  const r = v.run(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.project, 'default');
  assert.deepEqual(
    doc.secrets.map((s) => [s.name, s.version]),
    [
      ['A_KEY', 2],
      ['B_KEY', 1],
    ],
  );
  for (const s of doc.secrets) {
    assert.deepEqual(Object.keys(s).sort(), ['created_at', 'name', 'updated_at', 'version']);
    assert.match(s.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
  assert.deepEqual(
    JSON.parse(v.run(['ls', '--json', '--prefix', 'B_']).stdout).secrets.map((s) => s.name),
    ['B_KEY'],
  );
  const text = v.run(['list']);
  assert.match(text.stdout, /^NAME\s+VERSION\s+UPDATED\nA_KEY\s+2\s/);
  for (const out of [r.stdout, text.stdout, text.stderr, r.stderr]) assert.doesNotMatch(out, /canary-value/);
  // list needs no passphrase: it reads metadata only.
  const locked = v.run(['list', '--json'], { env: { TVAULT_PASSPHRASE: undefined } });
  assert.equal(locked.code, 0, locked.stderr);
});
