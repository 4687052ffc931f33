// The agent's read cache (Vault.enableReadCache, issue 11): after a read of a whole project it
// keeps the project's verified rows (ciphertexts, never a value) and skips re-reading and
// re-checking them while vault.db is unchanged. Any change must drop it: a write by another
// process, rows edited by someone without the key (still an integrity failure, with the same
// message as a direct read), and vault.db replaced under its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeVault, requireCommand, sql } from './helpers.mjs';
import { request, startAgent } from './agent-helpers.mjs';

const get = (a, key) => request(a.sock, { v: 1, op: 'get', key, project: null });
const getall = (a) => request(a.sock, { v: 1, op: 'getall', project: null });

/** A vault with A, B and C, and an agent whose cache holds the whole project (a getall served). */
async function cached(t) {
  const v = makeVault(t);
  for (const k of ['A', 'B', 'C']) assert.equal(v.run(['set', k, '--stdin'], { input: `${k.toLowerCase()}-1` }).code, 0);
  const a = await startAgent(t, v);
  assert.deepEqual((await getall(a)).secrets, { A: 'a-1', B: 'b-1', C: 'c-1' });
  assert.equal((await get(a, 'A')).value, 'a-1', 'a get served from the cached rows');
  return { v, a, db: join(v.vault, 'vault.db') };
}

test('getalls of an unchanged project are answered whole every time: the cached rows are reused, never used up', async (t) => {
  const { a } = await cached(t);
  // The first getall cached the rows; from the second on, the snapshot starts from the packed rows.
  for (let i = 0; i < 4; i++) assert.deepEqual((await getall(a)).secrets, { A: 'a-1', B: 'b-1', C: 'c-1' }, `getall ${i + 2}`);
  const only = await request(a.sock, { v: 1, op: 'getselected', project: null, only: ['B', 'C'] });
  assert.deepEqual(only.secrets, { B: 'b-1', C: 'c-1' });
  assert.deepEqual((await getall(a)).secrets, { A: 'a-1', B: 'b-1', C: 'c-1' });
  assert.equal((await get(a, 'C')).value, 'c-1');
});

test('a write by another process drops the cache: set, delete, a new key and a new project are served at once', async (t) => {
  const { v, a } = await cached(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'a-2' }).code, 0);
  assert.equal((await get(a, 'A')).value, 'a-2');
  assert.deepEqual((await getall(a)).secrets, { A: 'a-2', B: 'b-1', C: 'c-1' });
  assert.equal(v.run(['delete', 'B']).code, 0);
  assert.equal((await get(a, 'B')).error, 'not_found');
  assert.equal(v.run(['set', 'D', '--stdin'], { input: 'd-1' }).code, 0);
  assert.deepEqual((await getall(a)).secrets, { A: 'a-2', C: 'c-1', D: 'd-1' });
  assert.equal((await get(a, 'D')).value, 'd-1');
  // The current project, read from the cache too, follows `tvault use` from another terminal.
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  assert.equal(v.run(['use', 'other']).code, 0);
  assert.equal((await getall(a)).project, 'other');
});

test('rows edited without the key after the cache was filled: the same integrity failure as before, on get and getall', async (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const { v, a, db } = await cached(t);
  const id = (k) => `(SELECT id FROM secrets WHERE name = '${k}')`;
  const both = async (key, pattern) => {
    for (const r of [await get(a, key), await getall(a)]) {
      assert.equal(r.ok, false, JSON.stringify(r));
      assert.equal(r.error, 'integrity');
      assert.match(r.message, pattern);
    }
  };
  // B's ciphertext replaced by A's: opened under B's header, it fails.
  sql(db, `UPDATE secret_versions SET sealed = (SELECT sealed FROM secret_versions WHERE secret_id = ${id('A')}) WHERE secret_id = ${id('B')}`);
  const direct = v.run(['get', 'B']);
  assert.equal(direct.code, 8);
  await both('B', /integrity check failed for default\/B/);
  assert.match(
    (await get(a, 'B')).message,
    new RegExp(
      direct.stderr
        .trim()
        .replace(/^tvault: /, '')
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    ),
  );
  sql(db, `DELETE FROM secret_versions WHERE secret_id = ${id('B')}; DELETE FROM secrets WHERE id = ${id('B')}`);
  await both('B', /default\/B: its rows were deleted without the key/);
  // The manifest's MAC altered (an altered body under the old MAC is never read: the verified
  // copy is used, as before the cache): not the cached copy any more.
  sql(db, 'UPDATE manifests SET mac = randomblob(32)');
  await both('C', /manifest was altered/);
});

test('a key cached by get alone (no getall): another writer and a tampered row are seen at the next get', async (t) => {
  if (!requireCommand(t, 'sqlite3')) return;
  const v = makeVault(t);
  for (const k of ['A', 'B']) assert.equal(v.run(['set', k, '--stdin'], { input: `${k.toLowerCase()}-1` }).code, 0);
  const a = await startAgent(t, v);
  assert.equal((await get(a, 'A')).value, 'a-1');
  assert.equal((await get(a, 'A')).value, 'a-1');
  assert.equal((await get(a, 'X')).error, 'not_found');
  // Quiet for longer than QUIET_MS (vault-handle.ts): the agent checkpoints its audit rows into
  // vault.db, and carries its cache over that write of its own; a write by another is still seen.
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await get(a, 'A')).value, 'a-1');
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'a-2' }).code, 0);
  assert.equal(v.run(['set', 'X', '--stdin'], { input: 'x-1' }).code, 0);
  assert.equal((await get(a, 'A')).value, 'a-2');
  assert.equal((await get(a, 'X')).value, 'x-1');
  sql(join(v.vault, 'vault.db'), "UPDATE secrets SET current_version = 1 WHERE name = 'A'");
  const r = await get(a, 'A');
  assert.equal(r.error, 'integrity');
  assert.match(r.message, /default\/A: its current version was moved to 1 \(the manifest says 2\)/);
});

test('vault.db replaced under its path (a restore) after the cache was filled: the agent serves the new file', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'before' }).code, 0);
  const backup = join(v.dir, 'backup.db');
  assert.equal(v.run(['backup', backup]).code, 0);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'after' }).code, 0);
  assert.equal(v.run(['set', 'B', '--stdin'], { input: 'bee' }).code, 0);
  const a = await startAgent(t, v);
  assert.deepEqual((await getall(a)).secrets, { A: 'after', B: 'bee' });
  assert.equal(v.run(['restore', backup]).code, 0);
  assert.deepEqual((await getall(a)).secrets, { A: 'before' });
  assert.equal((await get(a, 'A')).value, 'before');
  assert.equal((await get(a, 'B')).error, 'not_found');
});
