// The agent as an attacker of the same uid sees it: no ptrace, no /proc/PID/mem (with an
// unhardened control, so that the refusal is shown to come from the hardening); no agent at
// all without the native addon (fail closed); and systemd readiness over sd_notify.
//
// CI runs as root, and root has CAP_SYS_PTRACE, so the agent and the attacker both run as uid
// 65534 (setpriv) on a vault that 65534 owns. On a kernel with Yama ptrace_scope >= 1 a sibling
// is refused even without hardening, so the control cases are skipped there, with the scope
// in the reason; this VM has no Yama.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, PASS, ROOT, baseEnv, makeVault, requireRoot, tempDir } from './helpers.mjs';
import { NOBODY, SETPRIV, exited, gone, request, startAgent, waitFor } from './agent-helpers.mjs';

function ptraceScope() {
  try {
    return readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    return 'absent';
  }
}
const SCOPE = ptraceScope();
const CONTROL_MEANINGFUL = SCOPE === 'absent' || SCOPE === '0';

const asNobody = (cmd, args, opts = {}) => spawnSync('setpriv', [...SETPRIV, cmd, ...args], { encoding: 'utf8', timeout: 30_000, ...opts });

/** A vault owned by uid 65534, in a dir it can reach. */
function nobodyVault(t) {
  const tmp = tempDir('tvault-nobody-');
  t.after(tmp.cleanup);
  chmodSync(tmp.dir, 0o755);
  const home = join(tmp.dir, 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, NOBODY, NOBODY);
  const v = { dir: home, vault: join(home, 'vault') };
  const env = baseEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, HOME: home });
  const r = asNobody(process.execPath, [BIN, 'init', ...CHEAP_KDF], { env });
  assert.equal(r.status, 0, r.stderr);
  const s = asNobody(process.execPath, [BIN, 'set', 'K', '--stdin'], { env, input: 'nobody-secret' });
  assert.equal(s.status, 0, s.stderr);
  return v;
}

/** Tries to read the memory of pid as uid 65534: opens /proc/PID/mem and reads the first mapped page. */
const READ_MEM = `
const fs = require('fs');
const pid = process.argv[1];
try {
  const first = fs.readFileSync('/proc/' + pid + '/maps', 'utf8').split('\\n')[0];
  const addr = BigInt('0x' + first.split('-')[0]);
  const fd = fs.openSync('/proc/' + pid + '/mem', 'r');
  const buf = Buffer.alloc(16);
  fs.readSync(fd, buf, 0, 16, addr);
  console.log('READ ' + buf.toString('hex'));
} catch (e) {
  console.log('DENIED ' + e.code);
}`;

function gdbAttach(pid) {
  const r = asNobody('gdb', ['-nx', '-batch', '-p', String(pid), '-ex', 'detach'], { env: baseEnv({ HOME: '/tmp' }) });
  return `${r.stdout}\n${r.stderr}`;
}

test('a same-uid process can neither ptrace the agent nor read its memory (hardened), unlike an unhardened process', async (t) => {
  if (!requireRoot(t, 'runs a process as uid 65534 (setpriv)')) return;
  const v = nobodyVault(t);
  const a = await startAgent(t, v, [], { prefix: ['setpriv', ...SETPRIV], env: { HOME: v.dir } });
  assert.match(readFileSync(`/proc/${a.pid}/status`, 'utf8'), /^Uid:\s+65534\s+65534\s/m, 'the agent runs as 65534');
  // (and it refuses this test process, which is root: the peer check is by uid, not by privilege)
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).error, 'permission_denied');
  const mem = asNobody(process.execPath, ['-e', READ_MEM, String(a.pid)]);
  assert.match(mem.stdout, /^DENIED (EACCES|EPERM)/, mem.stdout + mem.stderr);
  const gdb = gdbAttach(a.pid);
  assert.match(gdb, /ptrace: Operation not permitted/, gdb);
  // The agent is unharmed and still serves.
  assert.equal(a.child.exitCode, null);

  if (!CONTROL_MEANINGFUL) {
    t.diagnostic(`control skipped: Yama ptrace_scope=${SCOPE} refuses siblings even without hardening`);
    return;
  }
  // Control: the same attacker against an unhardened node process of the same uid succeeds.
  const victim = spawn('setpriv', [...SETPRIV, process.execPath, '-e', 'console.log("up"); setInterval(() => {}, 1e6)'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => victim.kill('SIGKILL'));
  await new Promise((resolve) => victim.stdout.once('data', resolve));
  const ctl = asNobody(process.execPath, ['-e', READ_MEM, String(victim.pid)]);
  assert.match(ctl.stdout, /^READ [0-9a-f]{32}/, ctl.stdout + ctl.stderr);
  const ctlGdb = gdbAttach(victim.pid);
  assert.doesNotMatch(ctlGdb, /Operation not permitted/, ctlGdb);
  assert.match(ctlGdb, /Detaching from program|Inferior 1 .* detached/, ctlGdb);
});

test('/proc/PID/status shows the agent non-dumpable-protected (root-owned /proc files) and without core dumps', async (t) => {
  const v = makeVault(t);
  const a = await startAgent(t, v);
  const limits = readFileSync(`/proc/${a.pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max core file size'));
  assert.match(limits, /Max core file size\s+0\s+0\s/);
  const mem = spawnSync('stat', ['-c', '%u', `/proc/${a.pid}/mem`], { encoding: 'utf8' });
  assert.equal(mem.stdout.trim(), '0');
  // The KEK is locked into RAM (root has no RLIMIT_MEMLOCK issue).
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).mlocked, true);
  assert.match(readFileSync(`/proc/${a.pid}/status`, 'utf8'), /VmLck:\s+[1-9]\d* kB/);
});

test('without the native addon the agent refuses to start (fail closed) with a clear one-line message', (t) => {
  // A copy of the installed layout whose @tvault/native has no compiled addon.
  const tmp = tempDir('tvault-nonative-');
  t.after(tmp.cleanup);
  const root = tmp.dir;
  for (const p of ['packages/cli/bin', 'packages/cli/dist']) cpSync(join(ROOT, p), join(root, p), { recursive: true });
  mkdirSync(join(root, 'node_modules/@tvault/native'), { recursive: true });
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== '@tvault') symlinkSync(join(ROOT, 'node_modules', name), join(root, 'node_modules', name));
  }
  for (const f of ['index.js', 'package.json']) cpSync(join(ROOT, 'packages/native', f), join(root, 'node_modules/@tvault/native', f));
  const v = makeVault(t);
  const r = spawnSync(process.execPath, [join(root, 'packages/cli/bin/tvault'), 'agent', 'start'], {
    env: baseEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state') }),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tvault: the agent cannot start without its native addon \(it checks every client's uid\): tvault native addon is not built/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.equal(r.stdout, '');
  assert.ok(gone(join(v.vault, 'agent.sock')));
  // Commands that read no secret do not need the addon.
  const list = spawnSync(process.execPath, [join(root, 'packages/cli/bin/tvault'), 'list'], { env: baseEnv(v.env), encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  // A passphrase is not read by a process that cannot harden itself (fail closed).
  const get = spawnSync(process.execPath, [join(root, 'packages/cli/bin/tvault'), 'get', 'K'], { env: baseEnv(v.env), encoding: 'utf8' });
  assert.equal(get.status, 1, get.stderr);
  assert.match(
    get.stderr,
    /^tvault: refusing to read the passphrase: this process cannot be protected from debuggers and core dumps \(its native addon did not load \(tvault native addon is not built/,
  );
  assert.equal(get.stderr.trim().split('\n').length, 1);
});

const RECEIVER = `
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
s.settimeout(30)
print('bound', flush=True)
while True:
    msg = s.recv(4096).decode()
    print(json.dumps(msg), flush=True)
    if 'STOPPING=1' in msg:
        break
`;

for (const kind of ['path', 'abstract']) {
  test(`sd_notify: READY=1 with MAINPID once listening and STOPPING=1 on stop (${kind} NOTIFY_SOCKET)`, async (t) => {
    const v = makeVault(t);
    const addr = kind === 'path' ? join(v.dir, 'notify.sock') : `@tvault-test-${randomBytes(8).toString('hex')}`;
    const rx = spawn('python3', ['-c', RECEIVER, addr], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => rx.kill('SIGKILL'));
    let out = '';
    rx.stdout.on('data', (d) => (out += d));
    await waitFor(() => out.startsWith('bound'), { what: 'the python receiver' });
    const a = await startAgent(t, v, [], { env: { NOTIFY_SOCKET: addr } });
    const messages = () =>
      out
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    await waitFor(() => messages().length >= 1, { what: 'READY=1' });
    const ready = messages()[0].split('\n');
    assert.ok(ready.includes('READY=1'), messages()[0]);
    assert.ok(ready.includes(`MAINPID=${a.pid}`), messages()[0]);
    // READY comes after the socket is there: a notified service manager can rely on it.
    assert.equal((await request(a.sock, { v: 1, op: 'status' })).ok, true);
    a.child.kill('SIGTERM');
    await a.done;
    await exited(rx);
    assert.deepEqual(messages().slice(1), ['STOPPING=1']);
    if (kind === 'path') assert.ok(existsSync(addr), 'the receiver socket is untouched');
  });
}

/** TCP sockets in LISTEN state held by pid (from /proc, which root can read even for a hardened process). */
function tcpListeners(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const rows = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').slice(1) : []));
  return rows
    .map((r) => r.trim().split(/\s+/))
    .filter((c) => c[3] === '0A' && inodes.has(c[9]))
    .map((c) => c[1]);
}

test('SIGUSR1 does not open the Node inspector (an unauthenticated debugger on localhost) in the agent', async (t) => {
  if (!requireRoot(t, "reads the hardened agent's /proc/PID/fd, which only root can")) return;
  const v = makeVault(t);
  const a = await startAgent(t, v);
  process.kill(a.pid, 'SIGUSR1');
  await waitFor(() => readFileSync(join(v.dir, 'state/tvault/agent.log'), 'utf8').includes('"signal":"SIGUSR1"'), { what: 'the SIGUSR1 log line' });
  assert.equal(a.child.exitCode, null, 'still running');
  assert.doesNotMatch(a.stderr(), /inspector|Debugger/i);
  assert.deepEqual(tcpListeners(a.pid), [], 'the agent listens on TCP');
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).ok, true);
});

test('the agent refuses to start with the inspector enabled (NODE_OPTIONS=--inspect)', (t) => {
  const v = makeVault(t);
  const r = spawnSync(process.execPath, [BIN, 'agent', 'start'], {
    env: baseEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state'), NODE_OPTIONS: '--inspect=127.0.0.1:0' }),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tvault: the Node inspector is active in this process/m);
  assert.ok(gone(join(v.vault, 'agent.sock')));
});
