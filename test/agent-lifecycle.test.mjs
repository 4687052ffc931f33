// The agent's files and life: what start creates and refuses, single instance, stale sockets,
// signals, stop, and `tvault agent status`. Real agents on temp vaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, PASS, baseEnv, makeVault, requireRoot, tvault } from './helpers.mjs';
import { AGENT_ON, auditRows, exited, gone, pidPath, rawRequest, request, startAgent, startAgentFails, waitFor } from './agent-helpers.mjs';

const status = (v, json = true) => v.run(['agent', 'status', ...(json ? ['--json'] : [])], { env: AGENT_ON });

test('start: one line on stdout; socket 0600 in the vault dir; pid and lock files; umask restored', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v, ['--idle', '10m']);
  assert.match(a.line, new RegExp(`listening on ${a.sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(pid ${a.child.pid}, idle 10m, max-ttl off\\)`));
  assert.equal(a.stdout().split('\n').filter(Boolean).length, 1, 'exactly one line on stdout');
  const st = lstatSync(a.sock);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(readFileSync(pidPath(v.vault), 'utf8'), `${a.pid}\n`);
  assert.equal(lstatSync(pidPath(v.vault)).mode & 0o777, 0o600);
  assert.equal(lstatSync(join(v.vault, 'agent.lock')).mode & 0o777, 0o600);
  // The umask was tightened only around listen(): the process is back to what it was given.
  const umask = /Umask:\s+(\d+)/.exec(readFileSync(`/proc/${a.pid}/status`, 'utf8'))[1];
  assert.equal(parseInt(umask, 8), process.umask());
  const s = await request(a.sock, { v: 1, op: 'status', project: null });
  assert.equal(s.ok, true);
  assert.equal(s.pid, a.pid);
  assert.equal(s.unlocked, true);
  assert.equal(s.idleMs, 600_000);
});

test('start refuses a vault dir that group or others can enter, or that another uid owns', (t) => {
  const v = makeVault(t);
  chmodSync(v.vault, 0o750);
  let r = startAgentFails(v);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /accessible by group or others \(mode 0750\)/);
  assert.ok(gone(join(v.vault, 'agent.sock')));
  chmodSync(v.vault, 0o700);
  if (!requireRoot(t, 'then chowns a file to uid 65534')) return;
  chownSync(v.vault, 65534, 65534);
  r = startAgentFails(v);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /owned by uid 65534/);
  chownSync(v.vault, 0, 0);
});

test('start: no vault, wrong passphrase, no passphrase and bad flags fail with one line and the right code', (t) => {
  const v = makeVault(t);
  let r = startAgentFails({ ...v, vault: join(v.dir, 'nope') });
  assert.equal(r.code, 5, r.stderr);
  r = startAgentFails(v, [], { env: { TVAULT_PASSPHRASE: 'wrong' } });
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, /^tvault: wrong passphrase\n$/);
  assert.ok(gone(join(v.vault, 'agent.sock')) && gone(pidPath(v.vault)), 'nothing left behind');
  r = startAgentFails(v, [], { env: { TVAULT_PASSPHRASE: undefined } });
  assert.equal(r.code, 3, r.stderr);
  for (const [flag, val] of [
    ['--idle', '15'],
    ['--idle', 'soon'],
    ['--max-ttl', '-1s'],
    ['--max-ttl', '30d'],
  ]) {
    r = startAgentFails(v, [`${flag}=${val}`]);
    assert.equal(r.code, 2, `${flag} ${val}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tvault: .*${flag}`));
  }
});

test('a second start on the same vault is refused while the first keeps serving', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  const r = startAgentFails(v);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`already running for this vault \\(pid ${a.pid}\\)`));
  assert.ok(lstatSync(a.sock).isSocket(), 'the first agent still has its socket');
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).ok, true);
});

test('a stale socket left by kill -9 is reported by status and replaced by the next start', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  a.child.kill('SIGKILL');
  await a.done;
  assert.ok(lstatSync(a.sock).isSocket(), 'SIGKILL leaves the socket behind');
  let s = status(v);
  assert.equal(s.code, 1, s.stderr);
  assert.equal(JSON.parse(s.stdout).staleSocket, true);
  assert.match(status(v, false).stdout, /is stale/);
  const b = await startAgent(t, v);
  assert.notEqual(b.pid, a.pid);
  s = status(v);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).pid, b.pid);
  const log = readFileSync(join(v.dir, 'state/tvault/agent.log'), 'utf8');
  assert.match(log, /"staleSocketReplaced":true/);
});

test('a non-socket file, or a socket owned by another uid, at the socket path is refused and left alone', async (t) => {
  const v = makeVault(t);
  const sock = join(v.vault, 'agent.sock');
  writeFileSync(sock, 'not a socket');
  let r = startAgentFails(v);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /exists and is not a socket/);
  assert.equal(readFileSync(sock, 'utf8'), 'not a socket');
  execFileSync('rm', [sock]);
  // A real unix socket, then handed to uid 65534.
  execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
  if (!requireRoot(t, 'then chowns a file to uid 65534')) return;
  chownSync(sock, 65534, 65534);
  r = startAgentFails(v);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /socket owned by uid 65534/);
  assert.equal(lstatSync(sock).uid, 65534);
});

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  test(`${sig}: the agent wipes its key, removes socket and pid file, and exits 0`, async (t) => {
    const v = makeVault(t);
    const a = await startAgent(t, v);
    a.child.kill(sig);
    const r = await a.done;
    assert.deepEqual(r, { code: 0, signal: null });
    assert.ok(gone(a.sock) && gone(pidPath(v.vault)));
    assert.match(a.stderr(), new RegExp(`stopped \\(${sig}\\); the key is wiped`));
    const stop = auditRows(v.vault).filter((row) => row.op === 'agent.stop');
    assert.equal(stop.length, 1);
    assert.match(stop[0].detail, new RegExp(`reason=${sig}`));
  });
}

test('the stop op answers ok, then the agent exits 0 and cleans up', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  const r = await request(a.sock, { v: 1, op: 'stop' });
  assert.deepEqual(r, { v: 1, ok: true, pid: a.pid, stopping: true });
  assert.deepEqual(await a.done, { code: 0, signal: null });
  assert.ok(gone(a.sock) && gone(pidPath(v.vault)));
});

test('tvault agent stop waits for the agent to exit; status then says not running', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  const r = v.run(['agent', 'stop']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`stopped the agent \\(pid ${a.pid}\\)`));
  assert.equal(a.child.exitCode ?? (await a.done).code, 0);
  assert.ok(gone(a.sock));
  const s = status(v);
  assert.equal(s.code, 1);
  assert.deepEqual(JSON.parse(s.stdout), { running: false, vault: v.vault, socket: a.sock, staleSocket: false });
  const again = v.run(['agent', 'stop']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^tvault: no agent is running for /);
});

test('tvault agent status: exit 0 and the documented fields while running', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v, ['--idle', '5m', '--max-ttl', '1h']);
  const s = status(v);
  assert.equal(s.code, 0, s.stderr);
  const j = JSON.parse(s.stdout);
  assert.equal(j.running, true);
  assert.equal(j.pid, a.pid);
  assert.equal(j.socket, a.sock);
  assert.equal(j.vault, v.vault);
  assert.equal(j.project, 'default');
  assert.equal(j.unlocked, true);
  assert.equal(j.keyRotated, false);
  assert.equal(j.staleSocket, false);
  assert.equal(j.idleMs, 300_000);
  assert.equal(j.maxTtlMs, 3_600_000);
  assert.ok(j.idleRemainingMs > 290_000 && j.idleRemainingMs <= 300_000, `idle countdown ${j.idleRemainingMs}`);
  assert.ok(j.maxTtlRemainingMs > 3_500_000 && j.maxTtlRemainingMs <= 3_600_000);
  assert.ok(j.uptimeMs >= 0 && typeof j.version === 'string');
  const human = status(v, false);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /^agent +running \(pid \d+, unlocked\)$/m);
  assert.match(human.stdout, /^idle +5m \(auto-lock in \d+[sm]\)$/m);
  assert.match(human.stdout, /^max-ttl +1h \(expires in \d+[mh]\)$/m);
});

test('agent subcommands have --help with an example; agent alone is a usage error', () => {
  for (const sub of ['start', 'status', 'stop', 'install', 'uninstall']) {
    const r = tvault(['agent', sub, '--help']);
    assert.equal(r.code, 0, `${sub}: ${r.stderr}`);
    assert.match(r.stdout, /Examples:\n\s+tvault agent/, sub);
  }
  const r = tvault(['agent']);
  assert.equal(r.code, 2);
});

test('start prompts for the passphrase on the terminal when nothing else gives it (script(1) provides the tty)', async (t) => {
  const v = makeVault(t);
  const cmd = `${process.execPath} ${BIN} agent start --idle 1s`;
  const child = spawn('script', ['-qc', cmd, '/dev/null'], {
    env: baseEnv({ TVAULT_DIR: v.vault, XDG_STATE_HOME: join(v.dir, 'state') }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await waitFor(() => out.includes('Vault passphrase (agent): '), { what: 'the prompt' });
  child.stdin.write(`${PASS}\r`);
  await waitFor(() => out.includes('listening on'), { what: 'the agent line' });
  assert.ok(!out.includes(PASS), 'the passphrase is not echoed');
  // It auto-locks after 1 s; script(1) passes its exit code on.
  const r = await exited(child);
  assert.equal(r.code, 0);
  assert.match(out, /stopped \(idle\)/);
});

test('a log that cannot grow (RLIMIT_FSIZE: EFBIG) does not stop the agent: it keeps serving and says so once on stderr', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  const log = join(v.dir, 'state/tvault/agent.log');
  // The next log line no longer fits: writing it fails with EFBIG inside every request.
  execFileSync('prlimit', ['--pid', String(a.pid), `--fsize=${statSync(log).size + 10}:unlimited`]);
  for (let i = 0; i < 5; i++) assert.equal((await request(a.sock, { v: 1, op: 'status' })).unlocked, true);
  assert.equal(a.child.exitCode, null, 'still running');
  assert.equal(a.stderr().match(/cannot write \S+agent\.log \(EFBIG\); serving on/g)?.length, 1, a.stderr());
  // Once the log can grow again, it says so, and how many lines are missing.
  execFileSync('prlimit', ['--pid', String(a.pid), '--fsize=unlimited']);
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).ok, true);
  assert.match(a.stderr(), /agent\.log is writable again; [5-9] lines lost/);
  assert.match(readFileSync(log, 'utf8'), /"ev":"log_gap","lost":[5-9]/);
  // The key is still wiped on the way out.
  process.kill(a.pid, 'SIGTERM');
  assert.deepEqual(await a.done, { code: 0, signal: null });
  assert.match(a.stderr(), /the key is wiped/);
});

test('agent.log is rotated to agent.log.1 (0600) past --log-max-size; the two files hold the newest lines', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'one' }).code, 0);
  const a = await startAgent(t, v, ['--log-max-size', '4K']);
  const log = join(v.dir, 'state/tvault/agent.log');
  for (let i = 0; i < 60; i++) assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'A', project: null })).value, 'one');
  const lines = (p) =>
    readFileSync(p, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  for (const p of [log, `${log}.1`]) {
    assert.equal(statSync(p).mode & 0o777, 0o600, p);
    assert.ok(statSync(p).size < 4096 + 1024, `${p} is ${statSync(p).size} bytes`);
  }
  assert.ok(statSync(`${log}.1`).size >= 4096, 'rotated before the limit');
  // The two files hold the newest requests, in order, every line whole JSON.
  const served = [...lines(`${log}.1`), ...lines(log)].filter((e) => e.ev === 'request' && e.op === 'get');
  assert.ok(served.length >= 10, `only ${served.length} request lines kept`);
  const times = served.map((e) => e.time);
  assert.deepEqual(times, [...times].sort(), 'out of order');
  assert.deepEqual(served.at(-1).keys, ['A']);
  assert.equal(startAgentFails(v, ['--log-max-size', '10']).code, 2, 'a size below 1K is a usage error');
});

test("two agents (two vaults) sharing agent.log rotate it without losing each other's newer lines", async (t) => {
  const v1 = makeVault(t);
  const v2 = makeVault(t);
  const state = join(v1.dir, 'state');
  const N = 90;
  const names = Array.from({ length: N }, (_, i) => `K${i}`);
  for (const v of [v1, v2]) assert.equal(v.run(['import', '-'], { input: names.map((k) => `${k}=v`).join('\n') }).code, 0);
  const a = await startAgent(t, v1, ['--log-max-size', '2K']);
  const b = await startAgent(t, v2, ['--log-max-size', '2K'], { env: { XDG_STATE_HOME: state } });
  // One sequence of lines in time, from both agents: K0 a, K1 b, K2 a, ... then K80-K89 all a.
  for (let i = 0; i < N; i++) {
    const agent = i % 2 && i < 80 ? b : a;
    assert.equal((await request(agent.sock, { v: 1, op: 'get', key: names[i], project: null })).value, 'v');
  }
  const log = join(state, 'tvault/agent.log');
  const kept = [`${log}.1`, log]
    .flatMap((p) =>
      readFileSync(p, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    )
    .filter((e) => e.ev === 'request')
    .map((e) => Number(e.keys[0].slice(1)))
    .sort((x, y) => x - y);
  // Rotation drops the oldest lines only: what is kept is K(first)..K89 without a gap.
  assert.equal(kept.at(-1), N - 1);
  assert.deepEqual(
    kept,
    Array.from({ length: kept.length }, (_, i) => kept[0] + i),
    `lines kept: ${kept.join(' ')}`,
  );
  assert.ok(kept.length >= 10, `only ${kept.length} lines kept`);
});
