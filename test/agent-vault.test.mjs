// The agent beside other tvault processes: writes from other terminals keep working while it
// runs and it serves what they wrote; after `key rotate` it answers key_rotated; every read it
// serves leaves an audit row (via=agent, peer uid and pid); its log never holds a value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PASS, makeVault, sql, tvaultMany } from './helpers.mjs';
import { auditRows, rawRequest, request, startAgent, waitFor } from './agent-helpers.mjs';

const get = (a, key, project = null) => request(a.sock, { v: 1, op: 'get', key, project });

test('set, delete, projects and key rotate from other processes work while the agent runs', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'one' }).code, 0);
  const a = await startAgent(t, v);
  assert.equal((await get(a, 'A')).value, 'one');
  // Writes from "another terminal" (direct unlocks) while the agent holds its connection.
  let r = v.run(['set', 'A', '--stdin'], { input: 'two' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await get(a, 'A')).value, 'two', 'the agent serves the new version');
  r = v.run(['set', 'B', '--stdin'], { input: 'bee' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await get(a, 'B')).value, 'bee');
  r = v.run(['delete', 'B']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await get(a, 'B')).error, 'not_found');
  r = v.run(['projects', 'create', 'other']);
  assert.equal(r.code, 0, r.stderr);
  r = v.run(['use', 'other']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await request(a.sock, { v: 1, op: 'getall' })).project, 'other', 'project null follows the current project');
  r = v.run(['use', 'default']);
  assert.equal(r.code, 0, r.stderr);
  // Many writes interleaved with reads: neither side sees "busy". The writes are spawned
  // asynchronously: a spawnSync here would stop this process's event loop while its 40 clients
  // are connected but have not yet sent their requests, and on a loaded machine they then miss
  // the agent's 5 s request deadline and write after it closed (EPIPE).
  const reads = Promise.all(Array.from({ length: 40 }, () => get(a, 'A')));
  const writes = tvaultMany(
    Array.from({ length: 5 }, (_, i) => [['set', `W${i}`, '--stdin'], { input: 'w', env: v.env }]),
    1,
  );
  for (const w of await writes) assert.equal(w.code, 0, w.stderr);
  for (const x of await reads) assert.equal(x.ok, true);
  // Rotation goes through too, and then the agent's key no longer opens the vault.
  r = v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: 'a new passphrase' } });
  assert.equal(r.code, 0, r.stderr);
  const rotated = await get(a, 'A');
  assert.equal(rotated.ok, false);
  assert.equal(rotated.error, 'key_rotated');
  assert.match(rotated.message, /restart the agent: tvault agent stop && tvault agent start/);
  assert.equal((await request(a.sock, { v: 1, op: 'getall' })).error, 'key_rotated', 'and on every read after');
  const s = await request(a.sock, { v: 1, op: 'status' });
  assert.equal(s.keyRotated, true);
  assert.equal(s.unlocked, false, 'the stale key was wiped');
  const st = v.run(['agent', 'status', '--json'], { env: { TVAULT_NO_AGENT: undefined } });
  assert.equal(st.code, 2, 'status: error, the agent must be restarted');
  // The vault itself is fine: a direct read with the new passphrase works.
  r = v.run(['get', 'A'], { env: { TVAULT_PASSPHRASE: 'a new passphrase' } });
  assert.equal(r.stdout, 'two\n');
  assert.equal(a.child.exitCode, null, 'the agent keeps answering key_rotated until stopped');
});

test('a restore while the agent runs: the agent serves the restored data', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'before' }).code, 0);
  const backup = join(v.dir, 'backup.db');
  assert.equal(v.run(['backup', backup]).code, 0);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'after' }).code, 0);
  const a = await startAgent(t, v);
  assert.equal((await get(a, 'A')).value, 'after');
  const r = v.run(['restore', backup]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await get(a, 'A')).value, 'before');
});

test('every read the agent serves is audited with via=agent, the peer uid and pid, and key names only', async (t) => {
  const v = makeVault(t);
  for (const [k, val] of [
    ['A', 'audit-value-a'],
    ['B', 'audit-value-b'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const a = await startAgent(t, v);
  await get(a, 'A');
  await request(a.sock, { v: 1, op: 'getall' });
  await request(a.sock, { v: 1, op: 'getselected', only: ['B'] });
  await get(a, 'NOPE');
  const rows = auditRows(v.vault).filter((r) => r.via === 'agent');
  const byOp = (op) => rows.filter((r) => r.op === op);
  assert.equal(byOp('agent.start').length, 1);
  assert.equal(byOp('agent.start')[0].pid, a.pid);
  assert.match(byOp('agent.start')[0].detail, /idle 15m, max-ttl off/);
  const reads = rows.filter((r) => ['get', 'getall', 'getselected'].includes(r.op));
  assert.deepEqual(
    reads.map((r) => [r.op, r.project, r.keys]),
    [
      ['get', 'default', '["A"]'],
      ['getall', 'default', '["A","B"]'],
      ['getselected', 'default', '["B"]'],
    ],
  );
  for (const r of reads) {
    assert.equal(r.uid, process.getuid(), 'the peer uid');
    assert.ok(r.pid > 0 && r.pid !== a.pid, 'the peer pid, not the agent');
  }
  const dump = JSON.stringify(auditRows(v.vault));
  assert.doesNotMatch(dump, /audit-value/);
  // The chain still verifies with the agent's rows in it.
  assert.match(v.run(['doctor']).stdout, /audit chain\s+\d+ rows, chain intact/);
});

test('agent.log (0600 in a 0700 dir) records requests by key name and never holds a value, passphrase or token', async (t) => {
  const v = makeVault(t);
  const values = { DB_PASSWORD: 'sup3r-s3cret-db-pw', API_TOKEN: 'tok_live_abcdef123456', MULTI: 'line one\nline two' };
  for (const [k, val] of Object.entries(values)) assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const a = await startAgent(t, v);
  for (const k of Object.keys(values)) assert.equal((await get(a, k)).value, values[k].replace(/\n$/, ''));
  await request(a.sock, { v: 1, op: 'getall' });
  await request(a.sock, { v: 1, op: 'getselected', prefix: 'DB_' });
  await request(a.sock, { v: 1, op: 'get', key: 'API_TOKEN', token: 'capability-token-xyz' });
  await rawRequest(a.sock, '{"v":1,"op":"get","key":"sup3r-s3cret-db-pw!"}\n'); // a value pasted as a key
  await rawRequest(a.sock, 'tok_live_abcdef123456\n'); // a value sent as garbage
  await request(a.sock, { v: 1, op: 'stop' });
  await a.done;
  const dir = join(v.dir, 'state/tvault');
  const logFile = join(dir, 'agent.log');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(logFile).mode & 0o777, 0o600);
  const log = readFileSync(logFile, 'utf8');
  for (const secret of [...Object.values(values), 'line one', 'line two', PASS, 'capability-token-xyz']) {
    assert.ok(!log.includes(secret), `agent.log contains ${JSON.stringify(secret)}`);
  }
  const events = log
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const reqs = events.filter((e) => e.ev === 'request');
  assert.deepEqual(
    reqs.slice(0, 3).map((e) => [e.op, e.keys[0], e.result]),
    [
      ['get', 'DB_PASSWORD', 'ok'],
      ['get', 'API_TOKEN', 'ok'],
      ['get', 'MULTI', 'ok'],
    ],
  );
  assert.deepEqual(
    reqs.slice(5).map((e) => [e.op, e.result]),
    [
      ['get', 'ok'],
      [undefined, 'bad_request'],
      [undefined, 'bad_json'],
      ['stop', 'ok'],
    ],
  );
  assert.ok(reqs.every((e) => e.peer.uid === process.getuid() && e.peer.pid > 0));
  assert.deepEqual(
    events.map((e) => e.ev).filter((e) => e !== 'request'),
    ['start', 'stop'],
  );
});

test('once reads stop, the agent checkpoints its audit rows into vault.db itself', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'one' }).code, 0);
  const a = await startAgent(t, v);
  const db = join(v.vault, 'vault.db');
  // vault.db without its -wal file: what a checkpoint has copied back, and nothing else. (50
  // reads write ~100 WAL pages: SQLite's own autocheckpoint, at 1,000, would not copy them.)
  let n = 0;
  const checkpointedReads = () => {
    const copy = join(v.dir, `copy-${n++}.db`);
    copyFileSync(db, copy);
    try {
      return Number(sql(copy, "SELECT count(*) FROM audit WHERE via = 'agent' AND op = 'get'"));
    } catch {
      return -1; // copied in the middle of a checkpoint: look again
    }
  };
  const before = checkpointedReads();
  for (let i = 0; i < 50; i++) assert.equal((await get(a, 'A')).value, 'one');
  await waitFor(() => checkpointedReads() === before + 50, { timeout: 5000, what: 'a checkpoint after the burst' });
  assert.equal(auditRows(v.vault).filter((r) => r.via === 'agent' && r.op === 'get').length, 50);
});
