// Tests for packages/native (the tvault_native N-API addon). Real syscalls, real processes, no mocks.
//
// Environment assumptions (true on the dev VM and in CI): Linux, running as root, no TTY,
// with setpriv (util-linux), prlimit, gdb and python3 on PATH. Cross-uid cases drop to
// uid/gid 65534 (nobody) with `setpriv`, so they are skipped when not running as root.
//
// ptrace_scope: /proc/sys/kernel/yama/ptrace_scope does NOT exist on the dev VM (kernel 6.18
// built without Yama), so classic ptrace rules apply: a process may ptrace / open /proc/PID/mem
// of another process with the same uid iff the target is dumpable. With Yama scope >= 1 a
// same-uid *sibling* is refused even without harden(), so the control case could not pass;
// the sibling/gdb cases are then skipped (with the scope in the skip reason), never faked.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rootOnly } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require('../packages/native/index.js');
const ADDON = fileURLToPath(new URL('../packages/native/index.js', import.meta.url));

const IS_ROOT = process.getuid() === 0;
const NOBODY = 65534;
const SETPRIV = ['--reuid=' + NOBODY, '--regid=' + NOBODY, '--clear-groups'];

function readPtraceScope() {
  try {
    return fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {
    return 'absent';
  }
}
const PTRACE_SCOPE = readPtraceScope();

// [soft, hard] of "Max core file size" from /proc/<pid>/limits ('unlimited' or a byte count).
function coreLimit(pid) {
  const line = fs
    .readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max core file size'));
  return line
    .trim()
    .split(/\s{2,}/)
    .slice(1, 3);
}

// A temp dir that uid 65534 can traverse (mkdtemp creates it 0700).
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tvault-native-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// Resolve with the first stdout line of a child (rejects if it exits first).
function firstLine(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before a line; stderr: ${err}`)));
  });
}

// All of a child's stdout once it exits.
function collect(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

// A unix-socket server that reports peerCred (or the error) for each accepted connection.
function credServer(sockPath) {
  const waiting = [];
  const results = [];
  const server = net.createServer((sock) => {
    let r;
    try {
      r = { cred: native.peerCred(sock._handle.fd) };
    } catch (error) {
      r = { error };
    }
    sock.destroy();
    const w = waiting.shift();
    if (w) w(r);
    else results.push(r);
  });
  const next = () => (results.length ? Promise.resolve(results.shift()) : new Promise((res) => waiting.push(res)));
  const listening = new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(sockPath, res);
  });
  return { server, next, listening };
}

describe('peerCred', () => {
  let dir;
  let srv;
  const sockPath = () => path.join(dir, 'agent.sock');

  before(async () => {
    dir = tempDir();
    srv = credServer(sockPath());
    await srv.listening;
    fs.chmodSync(sockPath(), 0o777); // connect(2) needs write permission on the socket file
  });
  after(() => {
    srv.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('same process: uid/gid/pid are ours', async () => {
    const client = net.connect(sockPath());
    const r = await srv.next();
    client.destroy();
    assert.ifError(r.error);
    assert.deepEqual(r.cred, { uid: process.getuid(), gid: process.getgid(), pid: process.pid });
  });

  test('child as uid 65534: uid/gid 65534 and the child pid', { skip: rootOnly('runs a process as uid 65534 (setpriv)') }, async () => {
    const code =
      "const s=require('net').connect(process.argv[1],()=>console.log(process.pid));" +
      "s.on('close',()=>process.exit(0));s.on('error',(e)=>{console.error(e.message);process.exit(2)})";
    const child = spawn('setpriv', [...SETPRIV, process.execPath, '-e', code, sockPath()], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [r, line] = await Promise.all([srv.next(), firstLine(child)]);
    await new Promise((res) => (child.exitCode !== null ? res() : child.once('exit', res)));
    assert.ifError(r.error);
    assert.equal(Number(line), child.pid, 'setpriv execs node, so the pids agree');
    assert.deepEqual(r.cred, { uid: NOBODY, gid: NOBODY, pid: child.pid });
  });

  test('the listening socket itself is refused (it would report our own creds)', () => {
    assert.throws(() => native.peerCred(srv.server._handle.fd), { code: 'EINVAL', syscall: 'peerCred(listening socket)' });
  });

  test('a regular file fd is refused (ENOTSOCK)', () => {
    const fd = fs.openSync(path.join(dir, 'plain'), 'w');
    try {
      assert.throws(() => native.peerCred(fd), { code: 'ENOTSOCK' });
    } finally {
      fs.closeSync(fd);
    }
  });

  test('a TCP socket is refused (no kernel-attested peer)', async () => {
    const got = new Promise((resolve) => {
      const tcp = net.createServer((sock) => {
        try {
          resolve({ cred: native.peerCred(sock._handle.fd) });
        } catch (error) {
          resolve({ error });
        }
        sock.destroy();
        tcp.close();
      });
      tcp.listen(0, '127.0.0.1', () => net.connect(tcp.address().port, '127.0.0.1').on('error', () => {}));
    });
    const r = await got;
    assert.equal(r.cred, undefined);
    assert.equal(r.error.code, 'EINVAL');
    assert.match(r.error.message, /not an AF_UNIX socket/);
  });

  test('a bad fd throws EBADF', () => {
    assert.throws(() => native.peerCred(2 ** 30), { code: 'EBADF', syscall: 'getsockname' });
  });
});

describe('flockExclusive', () => {
  let dir;
  before(() => (dir = tempDir()));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Another process tries the same lock file and prints true/false.
  function childTry(lockPath) {
    const code =
      `const n=require(${JSON.stringify(ADDON)});` +
      `const fd=require('fs').openSync(${JSON.stringify(lockPath)},'r+');` +
      'process.stdout.write(String(n.flockExclusive(fd)))';
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  test('held here -> another process gets false; released -> it gets true', () => {
    const lockPath = path.join(dir, 'agent.lock');
    const fd = fs.openSync(lockPath, 'w');
    assert.equal(native.flockExclusive(fd), true);
    assert.equal(native.flockExclusive(fd), true, 're-locking through the same fd is idempotent');

    // flock is per open file description: a second open in this process is refused too.
    const fd2 = fs.openSync(lockPath, 'r+');
    assert.equal(native.flockExclusive(fd2), false);
    fs.closeSync(fd2);

    assert.equal(childTry(lockPath), 'false');
    fs.closeSync(fd); // releases the lock
    assert.equal(childTry(lockPath), 'true');
  });

  test('a bad fd throws EBADF', () => {
    assert.throws(() => native.flockExclusive(2 ** 30), { code: 'EBADF', syscall: 'flock' });
  });
});

describe('harden', { skip: rootOnly('runs processes as uid 65534 (setpriv, prlimit)') }, () => {
  // Two long-lived uid-65534 node processes that both load the addon; only one calls harden().
  // Both start with a non-zero soft RLIMIT_CORE (1 MiB, capped by our hard limit; soft-only so no
  // CAP_SYS_RESOURCE is needed) so that the "core limit is 0" assertion can fail.
  const [, OUR_CORE_HARD] = coreLimit('self');
  const CORE_SOFT = OUR_CORE_HARD === 'unlimited' ? 1024 * 1024 : Math.min(1024 * 1024, Number(OUR_CORE_HARD));
  const children = [];
  let hardened;
  let control;

  async function startTarget(doHarden) {
    const code =
      `const n=require(${JSON.stringify(ADDON)});` +
      `const r=${doHarden ? 'n.harden()' : 'null'};` +
      'console.log(JSON.stringify({pid:process.pid,r}));setInterval(()=>{},1000)';
    const child = spawn('prlimit', [`--core=${CORE_SOFT}:`, 'setpriv', ...SETPRIV, process.execPath, '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const info = JSON.parse(await firstLine(child));
    assert.equal(info.pid, child.pid, 'prlimit and setpriv exec, so the node pid is the spawned pid');
    return info;
  }

  // A *sibling* process (same uid 65534, not an ancestor) tries to read the target's memory.
  function siblingReadsMem(pid) {
    const code = `
      const fs = require('fs');
      const pid = ${pid};
      let fd;
      try { fd = fs.openSync('/proc/' + pid + '/mem', 'r'); }
      catch (e) { console.log(JSON.stringify({ ok: false, stage: 'open', code: e.code })); process.exit(0); }
      try {
        const exe = fs.readlinkSync('/proc/' + pid + '/exe');
        const line = fs.readFileSync('/proc/' + pid + '/maps', 'utf8').split('\\n')
          .find((l) => { const f = l.trim().split(/\\s+/); return f[2] === '00000000' && f[5] === exe; });
        const buf = Buffer.alloc(4);
        fs.readSync(fd, buf, 0, 4, parseInt(line.split('-')[0], 16));
        console.log(JSON.stringify({ ok: true, magic: buf.toString('hex') }));
      } catch (e) { console.log(JSON.stringify({ ok: false, stage: 'read', code: e.code, msg: e.message })); }`;
    const r = spawnSync('setpriv', [...SETPRIV, process.execPath, '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  // gdb as the same uid 65534 tries to attach (batch mode detaches again on exit).
  function gdbAttach(pid) {
    const r = spawnSync('setpriv', [...SETPRIV, '/usr/bin/gdb', '-nx', '-batch', '-iex', 'set debuginfod enabled off', '-p', String(pid)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: os.tmpdir() },
    });
    return r.stdout + r.stderr;
  }

  const sameUidReason =
    PTRACE_SCOPE !== 'absent' &&
    PTRACE_SCOPE !== '0' &&
    `yama ptrace_scope=${PTRACE_SCOPE}: a same-uid sibling is refused even without harden(), so the control cannot pass`;

  before(async () => {
    [hardened, control] = await Promise.all([startTarget(true), startTarget(false)]);
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  test('reports what took effect (Linux: non-dumpable + core limit)', () => {
    assert.equal(process.platform, 'linux');
    const { coreSoftBefore, ...r } = hardened.r;
    assert.deepEqual(r, { dumpable: true, coreLimit: true, denyAttach: false });
    assert.equal(typeof coreSoftBefore, 'number');
  });

  test('/proc/PID files become root:root; the control stays 65534', () => {
    const h = fs.statSync(`/proc/${hardened.pid}/mem`);
    const c = fs.statSync(`/proc/${control.pid}/mem`);
    assert.deepEqual([h.uid, h.gid], [0, 0]);
    assert.deepEqual([c.uid, c.gid], [NOBODY, NOBODY]);
  });

  test('RLIMIT_CORE is 0/0 after harden; the control keeps its limit', { skip: CORE_SOFT === 0 && 'hard RLIMIT_CORE is 0 here' }, () => {
    assert.deepEqual(coreLimit(hardened.pid), ['0', '0']);
    assert.deepEqual(coreLimit(control.pid), [String(CORE_SOFT), OUR_CORE_HARD]);
  });

  test('a same-uid sibling cannot read /proc/PID/mem after harden; it can without', { skip: sameUidReason }, () => {
    const c = siblingReadsMem(control.pid);
    assert.deepEqual(c, { ok: true, magic: '7f454c46' }, 'control: the sibling reads the ELF header of node');
    const h = siblingReadsMem(hardened.pid);
    assert.equal(h.ok, false);
    assert.equal(h.stage, 'open');
    assert.ok(['EACCES', 'EPERM'].includes(h.code), `unexpected ${h.code}`);
  });

  test('a same-uid gdb cannot attach after harden; it can without', { skip: sameUidReason }, () => {
    const c = gdbAttach(control.pid);
    assert.match(c, new RegExp(`\\[Inferior 1 \\(process ${control.pid}\\) detached\\]`), c);
    assert.doesNotMatch(c, /Operation not permitted/);
    const h = gdbAttach(hardened.pid);
    assert.match(h, /ptrace: Operation not permitted/, h);
    assert.doesNotMatch(h, /detached/);
  });
});

describe('mlock / munlock / zero', () => {
  const vmLckKb = () => Number(/^VmLck:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

  test('mlock/munlock a 32-byte Buffer (true as root) and VmLck follows', () => {
    const buf = Buffer.alloc(32, 0x41);
    const before = vmLckKb();
    const locked = native.mlock(buf);
    assert.equal(typeof locked, 'boolean');
    if (IS_ROOT) assert.equal(locked, true);
    if (locked) assert.ok(vmLckKb() >= before + 4, 'at least one page is now locked');
    assert.equal(native.munlock(buf), true);
    assert.equal(vmLckKb(), before);
    assert.equal(buf.toString(), 'A'.repeat(32), 'contents untouched');
  });

  test('mlock accepts a plain Uint8Array and an empty one', () => {
    const u = new Uint8Array(32);
    assert.equal(typeof native.mlock(u), 'boolean');
    assert.equal(native.munlock(u), true);
    assert.equal(native.mlock(new Uint8Array(0)), true);
  });

  test('zero() zeroes a Buffer', () => {
    const buf = Buffer.from('correct horse battery staple');
    assert.equal(native.zero(buf), undefined);
    assert.ok(buf.every((b) => b === 0));
    assert.equal(buf.length, 28);
  });

  test('zero() respects byteOffset/length of a view (neighbours untouched)', () => {
    const big = Buffer.alloc(16, 0xaa);
    native.zero(big.subarray(4, 8));
    assert.deepEqual([...big], [...Array(4).fill(0xaa), 0, 0, 0, 0, ...Array(8).fill(0xaa)]);
    const small = new Uint8Array([1, 2, 3]); // small typed arrays start on the V8 heap
    native.zero(small);
    assert.deepEqual([...small], [0, 0, 0]);
  });
});

describe('sdNotify', () => {
  let dir;
  before(() => (dir = tempDir()));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // python3 binds an AF_UNIX datagram socket ('@name' -> abstract, leading NUL, exact length)
  // and prints "ready", then the hex of the first datagram it receives.
  const PY = [
    'import socket, sys',
    'a = sys.argv[1]',
    "a = '\\0' + a[1:] if a.startswith('@') else a",
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(a)',
    's.settimeout(15)',
    "print('ready', flush=True)",
    'print(s.recv(65536).hex(), flush=True)',
  ].join('\n');

  async function roundTrip(address, message) {
    const py = spawn('python3', ['-c', PY, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    const done = collect(py);
    assert.equal(await firstLine(py), 'ready');
    const sent = native.sdNotify(address, message);
    const { code, out, err } = await done;
    assert.equal(code, 0, err);
    return { sent, received: Buffer.from(out.split('\n')[1], 'hex') };
  }

  test('filesystem path receives exactly READY=1', async () => {
    const { sent, received } = await roundTrip(path.join(dir, 'notify.sock'), 'READY=1');
    assert.equal(sent, true);
    assert.deepEqual(received, Buffer.from('READY=1'));
  });

  test('abstract @name receives exactly READY=1 (exact sockaddr length)', async () => {
    const name = `@tvault-test-${randomBytes(8).toString('hex')}`;
    const { sent, received } = await roundTrip(name, 'READY=1');
    assert.equal(sent, true);
    assert.deepEqual(received, Buffer.from('READY=1'));
  });

  test('abstract name of maximum length (107 bytes after @) works', async () => {
    const name = '@' + `tvault-max-${randomBytes(8).toString('hex')}-`.padEnd(107, 'x');
    const { sent, received } = await roundTrip(name, 'READY=1\nSTATUS=unlocked');
    assert.equal(sent, true);
    assert.deepEqual(received, Buffer.from('READY=1\nSTATUS=unlocked'));
    assert.throws(() => native.sdNotify(name + 'x', 'READY=1'), RangeError);
  });

  // Decision: delivery failures return false (systemd may simply not be listening; the caller
  // logs and carries on). Only malformed addresses and socket() failures throw.
  test('no listener: nonexistent path and unbound abstract name return false', () => {
    assert.equal(native.sdNotify(path.join(dir, 'does-not-exist.sock'), 'READY=1'), false);
    assert.equal(native.sdNotify(`@tvault-test-none-${randomBytes(8).toString('hex')}`, 'READY=1'), false);
  });

  test('malformed addresses throw RangeError', () => {
    for (const bad of ['', '@', 'relative/notify.sock', '/tmp/a\0b', '@a\0b', '/' + 'a'.repeat(107)]) {
      assert.throws(() => native.sdNotify(bad, 'READY=1'), RangeError, JSON.stringify(bad));
    }
  });
});

// agentCall blocks the calling thread, so the server it talks to runs in a child process.
// Each mode is one behaviour of a server, on one connection; "ready" means it listens.
const SERVER = `
const net = require('net');
const [path, mode] = process.argv.slice(1);
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  let got = Buffer.alloc(0);
  s.on('data', (d) => (got = Buffer.concat([got, d])));
  if (mode === 'echo') s.on('end', () => s.end(JSON.stringify({ got: got.toString() }) + '\\n'));
  if (mode === 'partial') s.end('no newline');
  if (mode === 'answer-first') { s.end('early\\n'); s.destroy(); } // answers and closes before reading
  if (mode === 'line-stays-open') s.write('one\\ntwo'); // never ends: the client stops at the newline
  if (mode === 'big-line') s.end('x'.repeat(300 * 1024) + '\\n');
  if (mode === 'endless') { const c = Buffer.alloc(64 * 1024, 0x78); const more = () => { while (s.write(c)); }; s.on('drain', more); s.on('error', () => {}); more(); }
  // 'silent': reads and never answers
});
server.listen(path, () => console.log('ready'));
`;

describe('agentCall', () => {
  let dir;
  const servers = [];
  before(() => (dir = tempDir()));
  after(() => {
    for (const s of servers) s.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serve(mode) {
    const sock = path.join(dir, `${mode}.sock`);
    const child = spawn(process.execPath, ['-e', SERVER, sock, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(child);
    assert.equal(await firstLine(child), 'ready');
    return sock;
  }

  test('sends the request, half-closes, and returns the answer line', async () => {
    const sock = await serve('echo');
    const answer = native.agentCall(sock, Buffer.from('{"op":"status"}\n'), 5000, 1 << 20);
    assert.deepEqual(JSON.parse(answer.toString()), { got: '{"op":"status"}\n' });
  });

  test('returns at the first newline without waiting for the close', async () => {
    const sock = await serve('line-stays-open');
    const t0 = performance.now();
    const answer = native.agentCall(sock, Buffer.from('x\n'), 10_000, 1 << 20);
    assert.ok(performance.now() - t0 < 5000, 'waited for the deadline');
    assert.ok(answer.toString().startsWith('one\n'), answer.toString());
  });

  test('an answer larger than its first buffer arrives whole', async () => {
    const sock = await serve('big-line');
    const answer = native.agentCall(sock, Buffer.from('x\n'), 5000, 1 << 20);
    assert.equal(answer.length, 300 * 1024 + 1);
    assert.ok(answer.subarray(0, -1).every((b) => b === 0x78) && answer.at(-1) === 0x0a);
  });

  test('an answer without a newline is returned as it arrived (the caller refuses it)', async () => {
    const sock = await serve('partial');
    assert.equal(native.agentCall(sock, Buffer.from('x\n'), 5000, 1 << 20).toString(), 'no newline');
  });

  test('an answer sent before the request was read still arrives, though sending the request fails', async () => {
    const sock = await serve('answer-first');
    const answer = native.agentCall(sock, Buffer.alloc(4 << 20, 0x61), 5000, 1 << 20);
    assert.equal(answer?.toString(), 'early\n');
  });

  test('a server that never answers: returns what arrived (nothing) at the deadline', async () => {
    const sock = await serve('silent');
    const t0 = performance.now();
    const answer = native.agentCall(sock, Buffer.from('x\n'), 300, 1 << 20);
    const ms = performance.now() - t0;
    assert.equal(answer.length, 0);
    assert.ok(ms >= 290 && ms < 3000, `returned after ${ms} ms`);
  });

  test('an answer that grows past maxBytes gives null', async () => {
    const sock = await serve('endless');
    assert.equal(native.agentCall(sock, Buffer.from('x\n'), 5000, 1 << 20), null);
  });

  test('nobody listening gives null: no file, a stale socket, a regular file, a path too long', () => {
    const stale = path.join(dir, 'stale.sock');
    const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
    assert.equal(py.status, 0, String(py.stderr));
    assert.ok(fs.lstatSync(stale).isSocket());
    const file = path.join(dir, 'file');
    fs.writeFileSync(file, '');
    for (const p of [path.join(dir, 'none.sock'), stale, file, '/' + 'a'.repeat(200), '']) {
      assert.equal(native.agentCall(p, Buffer.from('x\n'), 1000, 1024), null, p);
    }
  });
});

test('type misuse throws TypeError and never crashes', () => {
  const cases = [
    () => native.peerCred('x'),
    () => native.peerCred(),
    () => native.peerCred(1.5),
    () => native.peerCred(-1),
    () => native.peerCred(NaN),
    () => native.peerCred(2 ** 31),
    () => native.peerCred(3n),
    () => native.flockExclusive(null),
    () => native.flockExclusive('3'),
    () => native.mlock('abc'),
    () => native.mlock([1, 2, 3]),
    () => native.mlock(new Uint16Array(4)),
    () => native.munlock(new DataView(new ArrayBuffer(4))),
    () => native.zero({}),
    () => native.zero(new ArrayBuffer(8)),
    () => native.sdNotify(1, 'READY=1'),
    () => native.sdNotify('/tmp/x', 2),
    () => native.sdNotify('/tmp/x'),
    () => native.agentCall(1, Buffer.from('x'), 1000, 1024),
    () => native.agentCall('/tmp/x', 'x', 1000, 1024),
    () => native.agentCall('/tmp/x', Buffer.from('x'), 0, 1024),
    () => native.agentCall('/tmp/x', Buffer.from('x'), NaN, 1024),
    () => native.agentCall('/tmp/x', Buffer.from('x'), 1000, 0),
    () => native.agentCall('/tmp/x', Buffer.from('x'), '1000', 1024),
    () => native.agentCall('/tmp/x', Buffer.from('x')),
  ];
  for (const fn of cases) assert.throws(fn, TypeError, fn.toString());
});

describe('scrubEnv', () => {
  test('wipes the values from the initial environment block that /proc/self/environ shows; getenv still sees them', () => {
    const code = `const n=require(${JSON.stringify(ADDON)});const fs=require('fs');
const before=fs.readFileSync('/proc/self/environ','latin1');const wiped=n.scrubEnv(['TVAULT_S','TVAULT_ABSENT']);
const after=fs.readFileSync('/proc/self/environ','latin1');
console.log(JSON.stringify({before:before.includes('TVAULT_S=secret-x'),wiped,after:after.includes('secret-x'),name:after.includes('TVAULT_S=\\0'),env:process.env.TVAULT_S,other:after.includes('TVAULT_T=keep-me')}));`;
    const r = spawnSync(process.execPath, ['-e', code], { env: { PATH: process.env.PATH, TVAULT_S: 'secret-x', TVAULT_T: 'keep-me' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: true, wiped: 1, after: false, name: true, env: 'secret-x', other: true });
  });

  test('also wipes what environ no longer points to: a duplicate name, and one unset before the call', () => {
    // execve with a hand-made environment (two TVAULT_S entries), which no Node API can build.
    const py = [
      'import ctypes, sys',
      'libc = ctypes.CDLL(None)',
      'argv = (ctypes.c_char_p * 4)(sys.argv[1].encode(), b"-e", sys.argv[2].encode(), None)',
      'envs = [b"TVAULT_S=first-secret", b"TVAULT_S=second-secret", b"TVAULT_T=keep"]',
      'libc.execve(argv[0], argv, (ctypes.c_char_p * 4)(*envs, None))',
    ].join('\n');
    const code = `const fs=require('fs');const n=require(${JSON.stringify(ADDON)});
const show=()=>fs.readFileSync('/proc/self/environ','latin1').split('\\0').filter(Boolean);
const before=show();delete process.env.TVAULT_S;const wiped=n.scrubEnv(['TVAULT_S']);
console.log(JSON.stringify({before,wiped,after:show()}));`;
    const r = spawnSync('python3', ['-c', py, process.execPath, code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      before: ['TVAULT_S=first-secret', 'TVAULT_S=second-secret', 'TVAULT_T=keep'],
      wiped: 2,
      after: ['TVAULT_S=', 'TVAULT_S=', 'TVAULT_T=keep'],
    });
  });

  test('refuses anything but an array of plain names', () => {
    for (const bad of ['TVAULT_S', [1], ['A=B'], [''], Array(9).fill('X')]) assert.throws(() => native.scrubEnv(bad), TypeError);
  });
});

describe('sendFds / recvFds (SCM_RIGHTS)', () => {
  let dir, server, accepted;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tvault-fds-'));
    // Paused, as the agent's exec socket: Node must never read (and drop) the ancillary data.
    server = net.createServer({ pauseOnConnect: true }, (s) => accepted(s));
    await new Promise((r) => server.listen(path.join(dir, 's'), r));
  });
  after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A connected pair: [client socket, the server's paused socket]. */
  async function pair() {
    const got = new Promise((r) => (accepted = r));
    const c = net.connect(path.join(dir, 's'));
    await new Promise((r) => c.once('connect', r));
    return [c, await got];
  }
  const openFds = () => fs.readdirSync('/proc/self/fd').length;
  const isCloexec = (fd) => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1], 8) & 0o2000000) !== 0;
  async function recvWhenReady(fd, maxBytes, maxFds) {
    for (let i = 0; i < 200; i++) {
      const r = native.recvFds(fd, maxBytes, maxFds);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 5));
    }
    throw new Error('nothing arrived');
  }

  test('a file descriptor and its data arrive together; the received fd is close-on-exec and works', async () => {
    const [c, s] = await pair();
    const file = path.join(dir, 'out');
    const wfd = fs.openSync(file, 'w');
    assert.equal(native.recvFds(native.socketFd(s), 64, 3), null, 'nothing sent yet: null (EAGAIN)');
    assert.equal(native.sendFds(native.socketFd(c), [wfd], Buffer.from('hello\n')), 6);
    fs.closeSync(wfd);
    const r = await recvWhenReady(native.socketFd(s), 64, 3);
    assert.equal(r.data.toString(), 'hello\n');
    assert.equal(r.fds.length, 1);
    assert.equal(r.truncated, false);
    assert.ok(isCloexec(r.fds[0]), 'MSG_CMSG_CLOEXEC');
    fs.writeSync(r.fds[0], 'through the passed fd');
    fs.closeSync(r.fds[0]);
    assert.equal(fs.readFileSync(file, 'utf8'), 'through the passed fd');
    c.end();
    assert.equal((await recvWhenReady(native.socketFd(s), 64, 3)).data.length, 0, 'end of input: empty data');
    s.destroy();
  });

  test('more descriptors than maxFds: the extra ones are closed, never installed, and it says so', async () => {
    const [c, s] = await pair();
    const fds = [0, 1, 2, 0, 1].map(() => fs.openSync('/dev/null', 'r'));
    native.sendFds(native.socketFd(c), fds, Buffer.from('x'));
    fds.forEach((fd) => fs.closeSync(fd));
    const before = openFds();
    const r = await recvWhenReady(native.socketFd(s), 64, 2);
    assert.equal(r.fds.length, 2);
    assert.equal(r.truncated, true);
    assert.equal(openFds(), before + 2, 'only the two kept are open');
    r.fds.forEach((fd) => fs.closeSync(fd));
    c.destroy();
    s.destroy();
  });

  test('maxFds 0 keeps none of them (and says so)', async () => {
    const [c, s] = await pair();
    const fd = fs.openSync('/dev/null', 'r');
    native.sendFds(native.socketFd(c), [fd], Buffer.from('y'));
    fs.closeSync(fd);
    const before = openFds();
    const r = await recvWhenReady(native.socketFd(s), 64, 0);
    assert.deepEqual([r.data.toString(), r.fds, r.truncated], ['y', [], true]);
    assert.equal(openFds(), before);
    c.destroy();
    s.destroy();
  });

  test('data without descriptors, read in pieces of maxBytes', async () => {
    const [c, s] = await pair();
    native.sendFds(native.socketFd(c), [], Buffer.from('abcdef'));
    const a = await recvWhenReady(native.socketFd(s), 4, 3);
    const b = await recvWhenReady(native.socketFd(s), 4, 3);
    assert.deepEqual([a.data.toString(), b.data.toString(), a.fds, a.truncated], ['abcd', 'ef', [], false]);
    c.destroy();
    s.destroy();
  });

  test('pipe(): a working pair, both ends close-on-exec', () => {
    const [r, w] = native.pipe();
    assert.ok(isCloexec(r) && isCloexec(w));
    fs.writeSync(w, 'through');
    fs.closeSync(w);
    const buf = Buffer.alloc(16);
    assert.equal(buf.toString('utf8', 0, fs.readSync(r, buf)), 'through');
    fs.closeSync(r);
  });

  test('agentConnect: a connected, close-on-exec fd; -1 with nobody listening; a writable directory is refused', async () => {
    const fd = native.agentConnect(path.join(dir, 's'), 2000, 'own');
    assert.ok(fd >= 0 && isCloexec(fd));
    fs.closeSync(fd);
    assert.equal(native.agentConnect(path.join(dir, 'nobody-here'), 2000, 'own'), -1);
    fs.chmodSync(dir, 0o777);
    try {
      assert.throws(() => native.agentConnect(path.join(dir, 's'), 2000, 'own'), { code: 'EDIRWRITABLE' });
    } finally {
      fs.chmodSync(dir, 0o700);
    }
    assert.throws(() => native.agentConnect(path.join(dir, 's'), 2000, 'mine'), TypeError);
  });

  test('refuses bad arguments and bad fds', () => {
    assert.throws(() => native.sendFds(-1, [], Buffer.from('x')), TypeError);
    assert.throws(() => native.sendFds(0, Array(9).fill(0), Buffer.from('x')), TypeError);
    assert.throws(() => native.sendFds(0, [1.5], Buffer.from('x')), TypeError);
    assert.throws(() => native.sendFds(0, [], Buffer.alloc(0)), TypeError);
    assert.throws(() => native.recvFds(0, 0, 1), TypeError);
    assert.throws(() => native.recvFds(0, 64, 9), TypeError);
    const f = fs.openSync('/dev/null', 'r');
    assert.throws(() => native.sendFds(f, [], Buffer.from('x')), { code: 'ENOTSOCK', syscall: 'sendmsg' });
    assert.throws(() => native.recvFds(f, 8, 1), { code: 'ENOTSOCK', syscall: 'recvmsg' });
    fs.closeSync(f);
  });
});

describe('ptySpawn / ptyResize / ttySize / ttyRaw / ttySave / ttyRestore / waitPid (pseudo-terminals)', () => {
  const tty = require('node:tty');
  const isCloexec = (fd) => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))[1], 8) & 0o2000000) !== 0;

  /** Polls waitPid until the child has ended (never a bare sleep). */
  async function reaped(pid) {
    for (;;) {
      const end = native.waitPid(pid);
      if (end) return end;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Everything the pty shows until its child side is closed (EIO), and how the child ended. */
  function collect(child) {
    const out = new tty.ReadStream(child.fd);
    let text = '';
    out.on('data', (d) => (text += d));
    out.on('error', () => undefined);
    const closed = new Promise((r) => out.on('close', r));
    return { out, done: Promise.all([closed, reaped(child.pid)]).then(([, end]) => ({ text, end })), text: () => text };
  }

  const PATH_ENV = 'PATH=/usr/bin:/bin';

  test('the child leads its own session on the pty, sees a TTY on 0/1/2, the size, cwd, argv[0] and exactly the env given', async () => {
    const script =
      'test -t 0 && test -t 1 && test -t 2 && echo tty-yes; echo "size=$(stty size)"; pwd; echo "arg0=$0"; ' +
      'set -- $(ps -o pid=,sid=,pgid=,tpgid= -p $$); echo "leader=$([ "$1" = "$2" ] && [ "$1" = "$3" ] && [ "$1" = "$4" ] && echo yes)"; ' +
      'echo "ctty=$(tty)"; env | sort';
    const c = native.ptySpawn('/bin/sh', ['my-sh', '-c', script], [PATH_ENV, 'ONLY_THIS=1'], '/tmp', 30, 100, [-1, -1, -1]);
    assert.ok(c.pid > 0 && c.fd > 2 && isCloexec(c.fd));
    assert.ok(fs.fstatSync(c.fd).isCharacterDevice());
    const { text, end } = await collect(c).done;
    assert.deepEqual(end, { code: 0, signal: null });
    assert.match(text, /tty-yes/);
    assert.match(text, /size=30 100/);
    assert.match(text, /\/tmp\r\n/);
    assert.match(text, /arg0=my-sh/);
    assert.match(text, /leader=yes/, 'pid = session id = process group = the terminal’s foreground group');
    assert.match(text, /ctty=\/dev\/pts\/\d+/);
    const env = text.split('\r\n').filter((l) => /^[A-Z_]+=/.test(l) && !/^(PWD|OLDPWD|SHLVL|_)=/.test(l));
    assert.deepEqual(env, ['ONLY_THIS=1', PATH_ENV]);
  });

  test('every signal has its default action and none is blocked (Node ignores SIGPIPE; execve would keep that)', async () => {
    const c = native.ptySpawn('/bin/cat', ['cat', '/proc/self/status'], [], '/', 24, 80, [-1, -1, -1]);
    const { text } = await collect(c).done;
    assert.match(text, /SigIgn:\s+0{16}/);
    assert.match(text, /SigBlk:\s+0{16}/);
  });

  test('stdio: a descriptor instead of the pty for stdin and stderr, as given', async () => {
    const [inR, inW] = native.pipe();
    const [errR, errW] = native.pipe();
    const script = 'test -t 0 || echo stdin-not-tty; read x; echo "in=$x"; echo "to-err" >&2; test -t 1 && echo stdout-tty';
    const c = native.ptySpawn('/bin/sh', ['sh', '-c', script], [PATH_ENV], '/', 24, 80, [inR, -1, errW]);
    fs.closeSync(inR);
    fs.closeSync(errW);
    fs.writeSync(inW, 'piped\n');
    fs.closeSync(inW);
    const { text } = await collect(c).done;
    assert.match(text, /stdin-not-tty\r\nin=piped\r\nstdout-tty/);
    assert.ok(!text.includes('to-err'));
    assert.equal(fs.readFileSync(errR, 'utf8'), 'to-err\n');
    fs.closeSync(errR);
  });

  test('ptyResize: the child sees the new size (and its SIGWINCH); waitPid is null while it runs, then a signal death', async () => {
    const script = `trap 'echo winch' WINCH; echo ready; while [ "$(stty size)" = "24 80" ]; do sleep 0.02; done; echo "now=$(stty size)"; kill -TERM $$`;
    const c = native.ptySpawn('/bin/bash', ['bash', '-c', script], [PATH_ENV], '/', 24, 80, [-1, -1, -1]);
    const r = collect(c);
    for (let i = 0; !r.text().includes('ready'); i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(native.waitPid(c.pid), null);
    assert.deepEqual(native.ttySize(c.fd), { rows: 24, cols: 80 });
    native.ptyResize(c.fd, 50, 132);
    assert.deepEqual(native.ttySize(c.fd), { rows: 50, cols: 132 });
    const { text, end } = await r.done;
    assert.match(text, /now=50 132/);
    assert.deepEqual(end, { code: null, signal: 15 });
  });

  test('ttyRaw / ttySave / ttyRestore: raw mode on a terminal and back to exactly what it was', async () => {
    const c = native.ptySpawn('/bin/sh', ['sh', '-c', 'read x; stty -a; read y'], [PATH_ENV], '/', 24, 80, [-1, -1, -1]);
    const r = collect(c);
    const before = native.ttySave(c.fd);
    assert.ok(Buffer.isBuffer(before) && before.length > 0);
    const saved = native.ttyRaw(c.fd);
    assert.deepEqual(saved, before, 'ttyRaw returns the settings from before');
    assert.notDeepEqual(native.ttySave(c.fd), before);
    fs.writeSync(c.fd, 'x\n'); // in raw mode read(1) still returns at a newline byte: it gets one byte at a time
    while (!/-icanon/.test(r.text())) await new Promise((res) => setTimeout(res, 10));
    assert.match(r.text(), /-icanon/);
    assert.match(r.text(), /-echo /);
    assert.match(r.text(), /-isig/);
    assert.equal(native.ttyRestore(c.fd, saved), true);
    assert.deepEqual(native.ttySave(c.fd), before);
    fs.writeSync(c.fd, 'y\n');
    await r.done;
    const f = fs.openSync('/dev/null', 'r');
    assert.equal(native.ttyRaw(f), null);
    assert.equal(native.ttySave(f), null);
    assert.equal(native.ttySize(f), null);
    assert.equal(native.ttyRestore(f, saved), false);
    fs.closeSync(f);
    assert.throws(() => native.ttyRestore(0, Buffer.alloc(3)), TypeError);
  });

  test('ttyRaw makes the descriptor non-blocking (the agent must never block on a read) and ttyRestore undoes it', async () => {
    const c = native.ptySpawn('/bin/sh', ['sh', '-c', 'tty; read x'], [PATH_ENV], '/', 24, 80, [-1, -1, -1]);
    const r = collect(c);
    while (!/\/dev\/pts\/\d+\r\n/.test(r.text())) await new Promise((res) => setTimeout(res, 10));
    const slave = fs.openSync(/\/dev\/pts\/\d+/.exec(r.text())[0], fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    const nonblocking = () => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${slave}`, 'utf8'))[1], 8) & fs.constants.O_NONBLOCK) !== 0;
    assert.equal(nonblocking(), false);
    const saved = native.ttyRaw(slave);
    assert.equal(nonblocking(), true);
    assert.throws(() => fs.readSync(slave, Buffer.alloc(8)), { code: 'EAGAIN' }, 'nothing typed: EAGAIN, not a wait');
    assert.equal(native.ttyRestore(slave, saved), true);
    assert.equal(nonblocking(), false);
    const outputOnly = native.ttyRaw(slave, true);
    assert.equal(nonblocking(), false, 'outputOnly leaves the descriptor as it is');
    native.ttyRestore(slave, outputOnly);
    fs.closeSync(slave);
    fs.writeSync(c.fd, 'x\n');
    await r.done;
  });

  test('ttyRaw(fd, true): only output processing goes off; line editing and signals stay', async () => {
    const c = native.ptySpawn('/bin/sh', ['sh', '-c', 'read x; stty -a'], [PATH_ENV], '/', 24, 80, [-1, -1, -1]);
    const r = collect(c);
    const saved = native.ttyRaw(c.fd, true);
    fs.writeSync(c.fd, 'x\n');
    const { text } = await r.done;
    assert.match(text, /-opost/);
    assert.match(text, /(^|\s)icanon\b/m);
    assert.match(text, /(^|\s)isig\b/m);
    assert.ok(saved);
  });

  test('a child that cannot start throws with the step and errno, and is reaped; bad arguments are TypeErrors', () => {
    assert.throws(() => native.ptySpawn('/no/such/program', ['x'], [], '/', 24, 80, [-1, -1, -1]), { code: 'ENOENT', syscall: 'execve' });
    assert.throws(() => native.ptySpawn('/bin/true', ['x'], [], '/no/such/dir', 24, 80, [-1, -1, -1]), { code: 'ENOENT', syscall: 'chdir' });
    assert.throws(() => native.ptySpawn('/etc', ['x'], [], '/', 24, 80, [-1, -1, -1]), { code: 'EACCES', syscall: 'execve' });
    // No zombie is left behind by the failures above.
    const zombies = spawnSync('sh', ['-c', `ps -o stat= --ppid ${process.pid} | grep -c Z || true`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(zombies, '0');
    const ok = ['/bin/true', ['true'], [], '/', 24, 80, [-1, -1, -1]];
    const bad = [
      [0, 1],
      [1, []],
      [1, ['a\0b']],
      [2, ['A=1\0B=2']],
      [2, 'A=1'],
      [3, 7],
      [4, 0],
      [5, 65536],
      [6, [-1, -1]],
      [6, [-2, -1, -1]],
      [6, [-1, 1.5, -1]],
    ];
    for (const [i, v] of bad) {
      const args = [...ok];
      args[i] = v;
      assert.throws(() => native.ptySpawn(...args), TypeError, `argument ${i} = ${JSON.stringify(v)}`);
    }
    assert.throws(() => native.ptyResize(0, 0, 80), TypeError);
    assert.throws(() => native.ttySize(-1), TypeError);
    assert.throws(() => native.waitPid(0), TypeError);
  });
});

describe('maskScan (the masker hot loop: tables from JS, checked, never trusted)', () => {
  // A two-class automaton for the pattern "aa": state 0 (root), state 1 (after "a"); "aa" ends
  // in state 1 again (the entry -1 - 1 says "something to do" there).
  const cls = new Uint8Array(256);
  cls[0x61] = 1;
  const delta = new Int32Array([0, 2, 0, -2]);
  const out = new Int32Array(1);
  const scan = (d, c, dense, classes, warm, buf, from = 0, state = 0, o = out) => native.maskScan(d, c, dense, classes, warm, buf, from, state, o);

  test('stops at the first byte whose entry is negative, with the state it reaches; else runs to the end', () => {
    assert.equal(scan(delta, cls, 2, 2, 2, Buffer.from('xxaxaa')), 5);
    assert.equal(out[0], 1);
    assert.equal(scan(delta, cls, 2, 2, 2, Buffer.from('xaxax')), 5);
    assert.equal(out[0], 0);
    assert.equal(scan(delta, cls, 2, 2, 2, Buffer.from('xaxa')), 4);
    assert.equal(out[0], 1);
    assert.equal(scan(delta, cls, 2, 2, 2, Buffer.from('a'), 0, 1), 0, 'from state 1, the next a ends the pattern');
    assert.equal(scan(delta, cls, 2, 2, 2, Buffer.from('aaa'), 3), 3, 'from the end: nothing to scan');
  });

  test('long buffers (four interleaved lanes) give exactly the one-lane answer, wherever the stop is', () => {
    for (const at of [0, 1, 4095, 25000, 49999, 50000, 74998, 99998]) {
      const buf = Buffer.alloc(100000, 'x');
      if (at < buf.length - 1) buf.fill('a', at, at + 2);
      const want = at < buf.length - 1 ? at + 1 : buf.length;
      assert.equal(scan(delta, cls, 2, 2, 2, buf), want, `pattern at ${at}`);
    }
    const lone = Buffer.alloc(100000, 'x');
    lone[50000] = 0x61; // an "a" at a lane's start: the lane's warm-up sees it
    lone[50001] = 0x61;
    assert.equal(scan(delta, cls, 2, 2, 2, lone, 10), 50001);
  });

  test('a table of the wrong shape, or a state, class or start out of range, is refused before anything is read', () => {
    const buf = Buffer.from('xaax');
    assert.throws(() => scan(delta.subarray(0, 3), cls, 2, 2, 2, buf), RangeError, 'truncated delta');
    assert.throws(() => scan(delta, cls, 3, 2, 2, buf), RangeError, 'dense larger than the table');
    assert.throws(() => scan(delta, cls, 2, 3, 2, buf), RangeError, 'classes that do not fit the table');
    assert.throws(() => scan(delta, cls, 0, 4, 2, buf), RangeError, 'no dense state');
    assert.throws(() => scan(delta, cls.subarray(0, 255), 2, 2, 2, buf), RangeError, 'truncated cls');
    const bad = new Uint8Array(256);
    bad[0x78] = 2;
    assert.throws(() => scan(delta, bad, 2, 2, 2, buf), RangeError, 'a class past the row');
    assert.throws(() => scan(delta, cls, 2, 2, 2, buf, 0, 2), RangeError, 'a state past the table');
    assert.throws(() => scan(delta, cls, 2, 2, 2, buf, 5), RangeError, 'from past the end');
    assert.throws(() => scan(delta, cls, 2, 257, 2, buf), TypeError, 'more than 256 classes');
    assert.throws(() => scan(delta, cls, 2, 2, -1, buf), TypeError);
    assert.throws(() => scan(delta, cls, 2, 2, 2, buf, 0, 0, new Int32Array(0)), TypeError, 'no answer slot');
    assert.throws(() => scan(new Uint32Array(4), cls, 2, 2, 2, buf), TypeError);
    assert.throws(() => scan(delta, cls, 2, 2, 2, 'xaax'), TypeError);
    assert.throws(() => scan(delta, cls, 2, 2, 2, buf, 0.5), TypeError);
  });

  test('an entry that points past the table is a RangeError, never followed (short and long buffers, every lane)', () => {
    const hostile = new Int32Array([0, 4, 0, -2]); // state 0 on "a" -> row 4: past the last row (2)
    assert.throws(() => scan(hostile, cls, 2, 2, 2, Buffer.from('xxa')), RangeError);
    for (const at of [10, 30000, 60000, 90000]) {
      const buf = Buffer.alloc(120000, 'x');
      buf[at] = 0x61;
      assert.throws(() => scan(hostile, cls, 2, 2, 2, buf), RangeError, `at ${at}`);
    }
    const huge = new Int32Array([0, 0x7fffffff, 0, 0]);
    assert.throws(() => scan(huge, cls, 2, 2, 2, Buffer.from('a')), RangeError);
    // In range but not a row's start: a wrong answer is allowed, an out-of-bounds read is not.
    const odd = new Int32Array([0, 1, 1, 3]);
    const r = scan(odd, cls, 2, 2, 2, Buffer.alloc(50000, 'a'));
    assert.ok(r >= 0 && r <= 50000);
  });

  test("the 4-gram filter's tables: both of their exact sizes or neither; wrong ones are refused, never read past", () => {
    const buf = Buffer.from('xaax');
    const grams = new Uint8Array(1 << 14);
    const depth = new Uint8Array(2);
    assert.equal(native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, grams, depth), 4, 'an empty bitmap: nothing can be under way');
    assert.throws(() => native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, grams.subarray(1), depth), RangeError, 'short bitmap');
    assert.throws(() => native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, grams, new Uint8Array(1)), RangeError, 'depth not one per dense state');
    assert.throws(() => native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, grams), TypeError, 'a bitmap without depths');
    assert.throws(() => native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, new Int32Array(1 << 12), depth), TypeError);
    assert.throws(() => native.maskScan(delta, cls, 2, 2, 2, buf, 0, 0, out, 'grams', depth), TypeError);
    // Where its premise does not hold (this pattern is shorter than 7 bytes) the answer may be
    // wrong, but stays in range (exactness on real automata: masker.test.ts).
    const full = new Uint8Array(1 << 14).fill(255);
    for (const at of [0, 1, 3, 4, 5, 4095, 60000, 99998]) {
      const long = Buffer.alloc(100000, 'x');
      if (at < long.length - 1) long.fill('a', at, at + 2);
      const r = native.maskScan(delta, cls, 2, 2, 2, long, 0, 0, out, full, depth);
      assert.ok(r >= 0 && r <= long.length && out[0] >= 0 && out[0] < 2, `pattern at ${at}`);
    }
    // A hostile entry is still a RangeError behind the filter.
    const hostile = new Int32Array([0, 4, 0, -2]);
    assert.throws(() => native.maskScan(hostile, cls, 2, 2, 2, Buffer.alloc(50000, 'a'), 0, 0, out, full, depth), RangeError);
  });

  test('random hostile tables and buffers: an index in range or a RangeError, never a crash', () => {
    let seed = 12345;
    const rnd = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let round = 0; round < 300; round++) {
      const classes = 1 + rnd(8);
      const dense = 1 + rnd(8);
      const d = new Int32Array(dense * classes);
      for (let k = 0; k < d.length; k++) {
        const pick = rnd(10);
        d[k] = pick < 6 ? rnd(dense) * classes : pick < 8 ? -1 - rnd(2 * dense) : pick < 9 ? rnd(dense * classes + 4) : (rnd(1 << 24) << 8) | rnd(256);
      }
      const c = new Uint8Array(256).map(() => rnd(classes));
      const buf = Buffer.alloc(rnd(3) ? rnd(64) : 4096 + rnd(40000)).map(() => rnd(256));
      const from = rnd(buf.length + 1);
      // Half the rounds with the 4-gram filter's tables, random too (a hit or a skip anywhere).
      const grams = rnd(2) ? new Uint8Array(1 << 14).map(() => (rnd(4) ? 0 : rnd(256))) : undefined;
      const depth = grams && new Uint8Array(dense).map(() => (rnd(3) ? rnd(6) : rnd(256)));
      try {
        const r = native.maskScan(d, c, dense, classes, rnd(40), buf, from, rnd(dense), out, grams, depth);
        assert.ok(r >= from && r <= buf.length, `round ${round}: ${r}`);
      } catch (err) {
        assert.ok(err instanceof RangeError, `round ${round}: ${err}`);
      }
    }
  });
});

describe('unixListen / acceptor / fdRecv / fdSendClose / fdClose (the agent line sockets)', () => {
  let dir;
  before(() => (dir = tempDir()));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /**
   * A listener at a fresh path; next() resolves with the next accepted connection's callback
   * arguments; `ends` counts the end-of-wakeup calls (-1, -1, -1, -1, 0), each after at least one
   * connection (`sinceEnd` of them).
   */
  function listen(name, mode = 0o600) {
    const p = path.join(dir, name);
    const old = process.umask(0o777 & ~mode);
    let fd;
    try {
      fd = native.unixListen(p, 16);
    } finally {
      process.umask(old);
    }
    const queue = [];
    const waiting = [];
    const l = { path: p, fd, ends: 0, sinceEnd: 0 };
    l.handle = native.acceptor(fd, (...args) => {
      if (args[0] === -1 && args[4] === 0) {
        assert.ok(l.sinceEnd > 0, 'an end of wakeup follows at least one connection');
        l.ends++;
        l.sinceEnd = 0;
        return;
      }
      l.sinceEnd++;
      if (waiting.length) waiting.shift()(args);
      else queue.push(args);
    });
    l.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
    l.close = () => (native.acceptorClose(l.handle), native.fdClose(fd), fs.rmSync(p, { force: true }));
    return l;
  }
  const connect = (p) =>
    new Promise((resolve, reject) => {
      const c = net.connect(p);
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  /** fdRecv(fd, max) until it returns something (a Buffer, empty at end of input), for up to ~1 s. */
  const recvSoon = async (fd, max) => {
    let got = null;
    for (let i = 0; i < 200 && !got; i++) (got = native.fdRecv(fd, max)) || (await new Promise((r) => setTimeout(r, 5)));
    return got;
  };
  const readAll = (c) =>
    new Promise((resolve) => {
      const chunks = [];
      c.on('data', (d) => chunks.push(d));
      c.on('error', () => undefined);
      c.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });

  test('binds with the umask mode, accepts with our credentials, reads the request, answers and closes', async () => {
    const l = listen('a.sock');
    try {
      const st = fs.lstatSync(l.path);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600);
      const c = await connect(l.path);
      const answer = readAll(c);
      c.write('{"op":"get"}\n');
      const [fd, uid, gid, pid, err] = await l.next();
      assert.deepEqual([uid, gid, pid, err], [process.getuid(), process.getgid(), process.pid, 0]);
      const got = await recvSoon(fd, 1024);
      assert.equal(got.toString(), '{"op":"get"}\n');
      assert.equal(native.fdSendClose(fd, Buffer.from('{"ok":true}\n')), 12);
      assert.equal(await answer, '{"ok":true}\n', 'the answer, then end of input');
      assert.equal(l.ends, 1, 'the wakeup ended after the connection');
      assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' }, 'the fd was closed');
    } finally {
      l.close();
    }
  });

  test('fdRecv: null while nothing came, at most max bytes, an empty Buffer at end of input', async () => {
    const l = listen('b.sock');
    try {
      const c = await connect(l.path);
      const [fd] = await l.next();
      assert.equal(native.fdRecv(fd, 64), null);
      c.write('abcdef');
      const got = await recvSoon(fd, 4);
      assert.equal(got.toString(), 'abcd');
      assert.equal(native.fdRecv(fd, 64).toString(), 'ef');
      c.end();
      const eof = await recvSoon(fd, 64);
      assert.equal(eof.length, 0);
      native.fdClose(fd);
      c.destroy();
    } finally {
      l.close();
    }
  });

  test('fdSendClose: a full socket takes part and leaves the fd open; a gone peer gives -1 and closes it', async () => {
    const l = listen('c.sock');
    try {
      const c = await connect(l.path);
      c.pause(); // reads nothing
      const [fd] = await l.next();
      const big = Buffer.alloc(16 << 20, 0x61);
      const sent = native.fdSendClose(fd, big);
      assert.ok(sent > 0 && sent < big.length, `${sent} of ${big.length}`);
      assert.ok(fs.fstatSync(fd).isSocket(), 'still open');
      c.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(native.fdSendClose(fd, big), -1);
      assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
    } finally {
      l.close();
    }
  });

  test('a peer of another uid is reported as such (the caller refuses it)', { skip: rootOnly('runs a process as uid 65534 (setpriv)') }, async () => {
    const l = listen('d.sock', 0o666);
    try {
      const code = "const s=require('net').connect(process.argv[1],()=>s.end('x\\n'));s.on('close',()=>process.exit(0));s.on('error',()=>process.exit(0))";
      const child = spawn('setpriv', [...SETPRIV, process.execPath, '-e', code, l.path], { stdio: 'ignore' });
      const [fd, uid, gid, pid, err] = await l.next();
      native.fdClose(fd);
      await new Promise((res) => (child.exitCode !== null ? res() : child.once('exit', res)));
      assert.deepEqual([uid, gid, pid, err], [NOBODY, NOBODY, child.pid, 0]);
    } finally {
      l.close();
    }
  });

  test('acceptorSet(false) stops accepting until true; after acceptorClose nothing more is accepted', async () => {
    const l = listen('e.sock');
    try {
      native.acceptorSet(l.handle, false);
      const c1 = await connect(l.path); // into the backlog
      let accepted = false;
      const first = l.next().then((a) => ((accepted = true), a));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(accepted, false);
      native.acceptorSet(l.handle, true);
      const [fd] = await first;
      native.fdClose(fd);
      c1.destroy();
      native.acceptorClose(l.handle);
      native.acceptorClose(l.handle); // again: a no-op
      native.acceptorSet(l.handle, true); // on a closed one: ignored
      const c2 = await connect(l.path);
      let more = false;
      l.next().then(() => (more = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(more, false);
      c2.destroy();
    } finally {
      native.fdClose(l.fd);
      fs.rmSync(l.path, { force: true });
    }
  });

  test('unixListen refuses a path in use, too long, or with a NUL; bad arguments are TypeErrors', () => {
    const l = listen('f.sock');
    try {
      assert.throws(() => native.unixListen(l.path, 16), { code: 'EADDRINUSE' });
      assert.throws(() => native.unixListen(path.join(dir, 'x'.repeat(120)), 16), { code: 'ENAMETOOLONG' });
      assert.throws(() => native.unixListen(path.join(dir, 'a\0b'), 16), { code: 'ENAMETOOLONG' });
    } finally {
      l.close();
    }
    for (const fn of [
      () => native.unixListen(1, 16),
      () => native.unixListen('/tmp/x', 0),
      () => native.acceptor(-1, () => {}),
      () => native.acceptor(3, null),
      () => native.acceptorSet({}, true),
      () => native.acceptorClose(3),
      () => native.fdRecv(-1, 10),
      () => native.fdRecv(3, 0),
      () => native.fdSendClose(3, 'x'),
      () => native.fdSendClose(1.5, Buffer.from('x')),
      () => native.fdClose('3'),
    ])
      assert.throws(fn, TypeError, fn.toString());
    // Each kind of handle is refused by the other's functions (both are uv_poll handles inside).
    const [r, w] = native.pipe();
    const poll = native.fdPoll(r, false, () => {});
    const l2 = listen('kinds.sock');
    try {
      assert.throws(() => native.acceptorSet(poll, true), TypeError, 'an fdPoll handle to acceptorSet');
      assert.throws(() => native.acceptorClose(poll), TypeError, 'an fdPoll handle to acceptorClose');
      assert.throws(() => native.fdPollSet(l2.handle, true), TypeError, 'an acceptor handle to fdPollSet');
    } finally {
      native.fdPollClose(poll);
      fs.closeSync(r);
      fs.closeSync(w);
      l2.close();
    }
  });
});
