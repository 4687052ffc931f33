// Auto-lock: the idle timeout (reset by reads), the absolute max-ttl (however busy), what a
// request in flight gets when the agent locks, and the per-connection deadline. These are the
// wall-clock tests on a real agent; the deadlines' rules on a test clock, without waiting, are
// in packages/agent/src/lock-timers.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeVault } from './helpers.mjs';
import { auditRows, gone, pidPath, rawRequest, request, startAgent } from './agent-helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withSecret(t) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v1' }).code, 0);
  return v;
}

test('idle: reads keep the agent alive past the idle time; without them it locks and exits 0', async (t) => {
  const v = withSecret(t);
  const a = await startAgent(t, v, ['--idle', '1s']);
  // 2 s of reads every 200 ms: twice the idle time, so only the resets keep it alive.
  const until = Date.now() + 2000;
  let lastRead = 0;
  while (Date.now() < until) {
    const r = await request(a.sock, { v: 1, op: 'get', key: 'K' });
    assert.equal(r.value, 'v1');
    lastRead = Date.now();
    await sleep(200);
  }
  assert.equal(a.child.exitCode, null, 'still running after 2 s of reads with --idle 1s');
  const r = await a.done;
  const idleFor = Date.now() - lastRead;
  assert.deepEqual(r, { code: 0, signal: null });
  assert.ok(idleFor >= 900, `locked after ${idleFor} ms without a read`);
  assert.ok(gone(a.sock) && gone(pidPath(v.vault)));
  assert.match(a.stderr(), /stopped \(idle\)/);
  assert.match(auditRows(v.vault).at(-1).detail, /reason=idle/);
});

test('status requests do not keep an idle agent unlocked', async (t) => {
  const v = withSecret(t);
  const a = await startAgent(t, v, ['--idle', '1s']);
  const started = Date.now();
  let polls = 0;
  while (a.child.exitCode === null && Date.now() - started < 5000) {
    await request(a.sock, { v: 1, op: 'status' }).catch(() => null);
    polls++;
    await sleep(100);
  }
  assert.deepEqual(await a.done, { code: 0, signal: null });
  assert.ok(polls >= 5, `polled status ${polls} times before the idle lock`);
});

test('max-ttl: the key expires on time however busy the agent is', async (t) => {
  const v = withSecret(t);
  const a = await startAgent(t, v, ['--idle', '0', '--max-ttl', '2s']);
  const t0 = Date.now();
  let served = 0;
  let lastOk = 0;
  // Four clients in a tight loop, until the agent is gone.
  const client = async () => {
    while (a.child.exitCode === null) {
      const r = await rawRequest(a.sock, JSON.stringify({ v: 1, op: 'get', key: 'K' }) + '\n').catch(() => null);
      if (!r) break;
      if (r.json?.ok) {
        served++;
        lastOk = Date.now();
      } else assert.equal(r.json?.error, 'locked', r.text);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  const r = await a.done;
  const lifetime = Date.now() - t0;
  assert.deepEqual(r, { code: 0, signal: null });
  assert.ok(served > 50, `only ${served} reads served: the test did not keep it busy`);
  assert.ok(lastOk - t0 > 1500, 'still serving shortly before the deadline');
  assert.ok(lifetime < 6000, `exited ${lifetime} ms after start (max-ttl 2s)`);
  assert.match(a.stderr(), /stopped \(max-ttl\)/);
  assert.ok(gone(a.sock) && gone(pidPath(v.vault)));
});

test('a request in flight when the agent locks gets "locked"', async (t) => {
  const v = withSecret(t);
  const a = await startAgent(t, v, ['--idle', '0', '--max-ttl', '1s']);
  // Half a request, never finished: it is still being read when max-ttl strikes.
  const r = await rawRequest(a.sock, '{"v":1,"op":"get",', { keepOpen: true });
  assert.equal(r.json?.error, 'locked', r.text);
  assert.match(r.json.message, /locked \(max-ttl\)/);
  assert.deepEqual(await a.done, { code: 0, signal: null });
});

test('a client that sends nothing gets "timeout" after the per-connection deadline; the agent goes on', async (t) => {
  const v = withSecret(t);
  const a = await startAgent(t, v, ['--io-timeout', '300ms']);
  const t0 = Date.now();
  const r = await rawRequest(a.sock, null, { keepOpen: true });
  assert.equal(r.json?.error, 'timeout', r.text);
  assert.ok(Date.now() - t0 >= 250);
  // A slow client dribbling bytes is cut off by the same absolute deadline.
  const slow = await rawRequest(a.sock, '{"v":', { keepOpen: true });
  assert.equal(slow.json?.error, 'timeout');
  assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'K' })).value, 'v1');
});
