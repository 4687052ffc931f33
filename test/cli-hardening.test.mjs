// The direct-unlock CLI holds the passphrase, the KEK and values (for the whole life of
// `tvault run`), so it is hardened like the agent: a `tvault run` child cannot read the
// passphrase from its parent's /proc/PPID/environ (not even as root), a same-uid debugger
// cannot attach, a crash writes no core file, and a Node inspector is refused. The child of
// `tvault run` is an ordinary process again (dumpable, the caller's core limit).
//
// CI runs as root, and root has CAP_SYS_PTRACE, so the same-uid cases run the CLI and the
// attacker as uid 65534 (setpriv) on a vault that 65534 owns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, PASS, baseEnv, makeVault, rootOnly, tempDir } from './helpers.mjs';
import { NOBODY, SETPRIV, exited, waitFor } from './agent-helpers.mjs';

const IS_ROOT = process.getuid() === 0;
const NEEDS_ROOT = rootOnly('runs a process as uid 65534 (setpriv)');
const TOKEN = 'tvt_test-token-that-must-not-leak';
const asNobody = (cmd, args, opts = {}) => spawnSync('setpriv', [...SETPRIV, cmd, ...args], { encoding: 'utf8', timeout: 30_000, ...opts });

/** A vault owned by uid 65534 with one secret, in a temp dir it can reach. */
function nobodyVault(t) {
  const tmp = tempDir('tvault-clihard-');
  t.after(tmp.cleanup);
  chmodSync(tmp.dir, 0o755);
  const home = join(tmp.dir, 'home');
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, NOBODY, NOBODY);
  const env = baseEnv({ TVAULT_DIR: join(home, 'vault'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1', HOME: home });
  assert.equal(asNobody(process.execPath, [BIN, 'init', ...CHEAP_KDF], { env }).status, 0);
  assert.equal(asNobody(process.execPath, [BIN, 'set', 'K', '--stdin'], { env, input: 'nobody-secret' }).status, 0);
  return { home, env };
}

/** The children of pid (from /proc), once there is one. */
const childrenOf = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

const READ_PARENT_ENV = 'cat /proc/$PPID/environ 2>/dev/null | tr "\\0" "\\n"; cat /proc/$PPID/environ >/dev/null 2>&1 && echo READ || echo DENIED';

test("a `tvault run` child finds no passphrase or token in its parent's /proc/PPID/environ, even as root", (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  for (const pristine of [[], ['--pristine']]) {
    const r = v.run(['run', ...pristine, '--', 'sh', '-c', READ_PARENT_ENV], { env: { TVAULT_AGENT_TOKEN: TOKEN } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(PASS), `the passphrase is in /proc/PPID/environ (${pristine})`);
    if (!IS_ROOT) {
      // An ordinary user's child cannot read it at all: the parent is non-dumpable.
      assert.match(r.stdout, /^DENIED$/m, r.stdout);
      continue;
    }
    // The file was read (root may read it), and the names are there, without their values.
    assert.match(r.stdout, /^TVAULT_PASSPHRASE=$/m, r.stdout);
    assert.match(r.stdout, /^TVAULT_AGENT_TOKEN=$/m, r.stdout);
    assert.ok(!r.stdout.includes(PASS), `the passphrase is in /proc/PPID/environ (${pristine})`);
    assert.ok(!r.stdout.includes(TOKEN), `the token is in /proc/PPID/environ (${pristine})`);
    assert.match(r.stdout, /^TVAULT_DIR=/m, 'other variables are untouched');
    assert.match(r.stdout, /^READ$/m);
  }
});

test('the CLI still reads the scrubbed variables: the passphrase unlocks, the token is sent', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value-1' }).code, 0);
  assert.equal(v.run(['get', 'K']).stdout, 'value-1\n');
  assert.equal(v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: 'the next passphrase' } }).code, 0);
  assert.equal(v.run(['get', 'K'], { env: { TVAULT_PASSPHRASE: 'the next passphrase' } }).stdout, 'value-1\n');
});

test(
  'as uid 65534: the child cannot read its parent environ at all, a same-uid gdb cannot attach to `tvault run`, and the child itself is an ordinary dumpable process',
  { skip: NEEDS_ROOT },
  async (t) => {
    const { env } = nobodyVault(t);
    const r = asNobody(process.execPath, [BIN, 'run', '--', 'sh', '-c', READ_PARENT_ENV], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes(PASS), r.stdout);
    assert.match(r.stdout, /^DENIED$/m, 'non-dumpable: /proc/PPID/environ is root-only');

    const run = spawn('setpriv', [...SETPRIV, process.execPath, BIN, 'run', '--', 'sleep', '30'], { env, stdio: 'ignore' });
    t.after(() => {
      for (const c of childrenOf(run.pid).concat(run.pid))
        try {
          process.kill(c, 'SIGKILL');
        } catch {
          /* gone */
        }
    });
    // The child once it has exec'd sleep (between fork and exec it is still a copy of tvault).
    const comm = (pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        return '';
      }
    };
    const sleepers = () => (existsSync(`/proc/${run.pid}`) ? childrenOf(run.pid).filter((c) => comm(c) === 'sleep') : []);
    const [sleeper] = await waitFor(() => sleepers().length && sleepers(), { timeout: 20_000, what: 'the child of tvault run' });
    // /proc/PID/* belong to root for a non-dumpable process; the child's to its own uid again.
    assert.equal(statSync(`/proc/${run.pid}/mem`).uid, 0, 'tvault run is non-dumpable');
    assert.equal(statSync(`/proc/${sleeper}/mem`).uid, NOBODY, 'the child is dumpable (execve reset it)');
    const gdb = asNobody('gdb', ['-nx', '-batch', '-p', String(run.pid), '-ex', 'detach'], { env: baseEnv({ HOME: '/tmp' }) });
    assert.match(`${gdb.stdout}\n${gdb.stderr}`, /ptrace: Operation not permitted/);
    const mem = asNobody('sh', ['-c', `head -c 1 /proc/${run.pid}/environ >/dev/null && echo READ || echo DENIED`]);
    assert.equal(mem.stdout.trim(), 'DENIED');
    assert.equal(run.exitCode, null, 'tvault run is unharmed');
  },
);

test("a crash of `tvault run` writes no core file, and the child keeps the caller's core limit", async (t) => {
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  const cwd = join(v.dir, 'cwd');
  mkdirSync(cwd);
  const limit = v.run(['run', '--', 'sh', '-c', 'ulimit -c'], { cwd, env: {} });
  // (spawnSync's child inherits this test's limit; `sh -c "ulimit -c unlimited; ..."` below sets one)
  assert.equal(limit.code, 0, limit.stderr);
  // Killed once it is surely running: for tvault, once its child wrote child-limit (bounded wait).
  const script = (what, ready) =>
    `ulimit -c unlimited; ${what} & p=$!; for i in $(seq 200); do [ -e ${ready} ] && break; sleep 0.1; done; sleep 0.3; kill -SEGV $p; wait $p; echo $?`;
  // The child of `tvault run` reports its core limit: the caller's (unlimited), not 0.
  const r = spawnSync('bash', ['-c', script(`"${process.execPath}" "${BIN}" run -- sh -c 'ulimit -c >child-limit; sleep 5'`, 'child-limit')], {
    cwd,
    env: baseEnv(v.env),
    encoding: 'utf8',
  });
  assert.equal(r.stdout.trim(), '139', r.stderr); // killed by SIGSEGV
  assert.equal(readFileSync(join(cwd, 'child-limit'), 'utf8').trim(), 'unlimited');
  const cores = () => readdirSync(cwd).filter((f) => f.startsWith('core'));
  assert.deepEqual(cores(), [], 'tvault run wrote a core file');
  spawnSync('pkill', ['-KILL', '-P', String(process.pid), 'sleep']); // the orphaned child, if any
  if (pattern.startsWith('|') || pattern.includes('/')) {
    t.diagnostic(`core_pattern is ${pattern}: the control (a core of an unhardened node) is not looked for in the cwd`);
    return;
  }
  // Control: the same crash of an unhardened node in the same place writes one.
  const c = spawnSync('bash', ['-c', script(`"${process.execPath}" -e "require('fs').writeFileSync('up', ''); setInterval(() => {}, 1e6)"`, 'up')], {
    cwd,
    encoding: 'utf8',
  });
  assert.equal(c.stdout.trim(), '139', c.stderr);
  assert.equal(cores().length, 1, 'the control wrote no core file, so this test proves nothing here');
});

for (const how of ['NODE_OPTIONS', 'node --inspect']) {
  test(`a Node inspector is refused with one line before any secret is read (${how})`, (t) => {
    const v = makeVault(t);
    assert.equal(v.run(['set', 'K', '--stdin'], { input: 'inspected-value' }).code, 0);
    const args = how === 'NODE_OPTIONS' ? [BIN, 'get', 'K'] : ['--inspect=127.0.0.1:0', BIN, 'get', 'K'];
    const env = baseEnv({ ...v.env, ...(how === 'NODE_OPTIONS' && { NODE_OPTIONS: '--inspect=127.0.0.1:0' }) });
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    // Node itself announces its debugger before tvault runs; tvault's own refusal is one line.
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('tvault:'));
    assert.deepEqual(ours, [
      'tvault: the Node inspector is active in this process (--inspect, or NODE_OPTIONS); tvault refuses to handle secrets where a debugger can read them',
    ]);
  });
}

test('a flag that only looks like --inspect does not trip the refusal', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'x' }).code, 0);
  const r = v.run(['get', 'K'], { env: { NODE_OPTIONS: '--inspect-port=0' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'x\n');
});

test('SIGUSR1 sent to `tvault run` opens no inspector in tvault (it goes to the child)', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  const run = spawn(process.execPath, [BIN, 'run', '--', 'sh', '-c', 'trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 0.05; done'], {
    env: baseEnv(v.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  run.stdout.on('data', (d) => (out += d));
  run.stderr.on('data', (d) => (err += d));
  // Once the child says ready its trap is set (before that, SIGUSR1 would kill the shell: 138).
  await waitFor(() => out.includes('ready\n'), { what: 'the child of tvault run to set its trap' });
  run.kill('SIGUSR1');
  const r = await exited(run);
  assert.equal(r.code, 0, err);
  assert.equal(out, 'ready\ngot-usr1\n');
  assert.doesNotMatch(err, /Debugger|inspector/i);
});
