// Brokered exec (issue 15): `tvault run --broker` and the exec op on exec.sock. Real agents on
// temp vaults, real descriptors (pipes; a terminal under script(1)), a raw peer built on the
// addon's sendFds for what the CLI never sends (no fds, too many, garbage, oversized), exec-only
// tokens that cannot read, --allow-cmd, signals and exit codes, the child's end with its caller,
// and the audit rows and logs, which hold names but never a value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault, requireCommand, requireRoot } from './helpers.mjs';
import {
  AGENT_ONLY,
  NOBODY,
  SETPRIV,
  agentLog,
  auditRows,
  exited,
  filesContaining,
  request,
  startAgent,
  tokenHash,
  waitFor,
  writeTokens,
} from './agent-helpers.mjs';

const require = createRequire(import.meta.url);
const native = require('../packages/native/index.js');

const SECRET = 'brokered-secret-value-4f9a';
const OTHER = 'other-secret-value-77c1';
const EXEC_TOKEN = 'tokenEEEE-exec-only-0123456789';
const CMD_TOKEN = 'tokenFFFF-exec-allow-cmd-0123456789';
const READ_TOKEN = 'tokenGGGG-read-0123456789';

/** A vault with two secrets, a token file (exec-only, exec-only with --allow-cmd, a reader), an agent. */
async function setup(t, { tokens = false, agentArgs = [] } = {}) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  assert.equal(v.run(['set', 'OTHER', '--stdin'], { input: OTHER }).code, 0);
  const file = join(v.dir, 'tokens');
  writeTokens(
    file,
    [
      `sha256:${tokenHash(EXEC_TOKEN)} exec=only keys=API_KEY name=exec`,
      `sha256:${tokenHash(CMD_TOKEN)} exec=only cmds=printenv,API_KEY;sh name=cmd`,
      `sha256:${tokenHash(READ_TOKEN)} name=reader`,
      '',
    ].join('\n'),
  );
  const args = tokens ? ['--require-token', '--token-file', file, ...agentArgs] : agentArgs;
  const a = await startAgent(t, v, args);
  return { v, a, file, execSock: join(v.vault, 'exec.sock') };
}

/** Runs the CLI as a user would (stdio: pipes), with the agent only (no passphrase). */
function tvaultRun(v, args, { env = {}, input = '', prefix = [], cwd } = {}) {
  const cmd = prefix.length ? prefix[0] : process.execPath;
  const argv = prefix.length ? [...prefix.slice(1), process.execPath, BIN, ...args] : [BIN, ...args];
  const r = spawnSync(cmd, argv, { env: baseEnv({ ...v.env, ...AGENT_ONLY, ...env }), input, encoding: 'utf8', timeout: 30_000, cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A raw exec peer: connects to exec.sock, sends `payload` with `fds` attached, collects the answer lines. */
function rawExec(sockPath, payload, fds, { keepOpen = true } = {}) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sockPath);
    let text = '';
    c.on('data', (d) => (text += d));
    c.on('error', () => undefined);
    c.on('close', () =>
      resolve(
        text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      ),
    );
    c.on('connect', () => {
      try {
        const buf = Buffer.from(payload);
        const sent = native.sendFds(native.socketFd(c), fds, buf);
        if (sent < buf.length) c.write(buf.subarray(sent));
        if (!keepOpen) c.end();
      } catch (err) {
        reject(err);
      }
    });
    setTimeout(() => c.destroy(), 15_000).unref();
  });
}

const execLine = (fields) => JSON.stringify({ v: 1, op: 'exec', cwd: '/', env: { PATH: process.env.PATH }, tty: false, ...fields }) + '\n';

test('run --broker: the child gets the secret from the agent; the caller sees names and the exit status only', async (t) => {
  const { v } = await setup(t);
  const r = tvaultRun(v, [
    'run',
    '--broker',
    '--only',
    'API_KEY',
    '--',
    'sh',
    '-c',
    'test "$API_KEY" = "$1" && echo injected; test -z "$OTHER" && echo only-selected; exit 7',
    'sh',
    SECRET,
  ]);
  assert.equal(r.code, 7, r.stderr);
  assert.equal(r.stdout, 'injected\nonly-selected\n');
  // The child wrote to the caller's own stdout pipe; nothing else reached the caller.
  assert.equal(r.stderr, '');
});

test('masking: the child prints its secret in every encoding, split across writes at every offset; the caller sees none of them', async (t) => {
  const { v } = await setup(t);
  const child = `
    const v = Buffer.from(process.env.API_KEY);
    const url = (s) => s.replace(/\\+/g, '-').replace(/\\//g, '_');
    const b64 = v.toString('base64');
    const forms = [v.toString(), v.toString('hex'), v.toString('hex').toUpperCase(), b64, b64.replace(/=+$/, ''), url(b64),
      encodeURIComponent(v.toString()), JSON.stringify(v.toString()).slice(1, -1)];
    for (let k = 0; k < 3; k++) forms.push(Buffer.concat([Buffer.from('xyz'.slice(0, k)), v, Buffer.from('tail')]).toString('base64'));
    const fs = require('fs');
    const sleep = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    for (const f of forms) for (let cut = 0; cut <= f.length; cut += 3) {
      fs.writeSync(1, 'x ' + f.slice(0, cut)); sleep(); fs.writeSync(1, f.slice(cut) + ' y\\n');
    }
    fs.writeSync(2, 'err ' + v.toString() + '\\n');
    process.stdout.write('count ' + forms.length + '\\n');`;
  const r = tvaultRun(v, ['run', '--broker', '--only', 'API_KEY', '--', process.execPath, '-e', child]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines.at(-1), /^count 11$/);
  assert.ok(lines.length > 100);
  const v64 = Buffer.from(SECRET).toString('base64');
  for (const needle of [SECRET, Buffer.from(SECRET).toString('hex'), v64.replace(/=+$/, ''), v64.slice(4, 20)]) {
    assert.ok(!r.stdout.includes(needle), needle);
  }
  for (const l of lines.slice(0, -1)) assert.match(l, /^x .*<masked:API_KEY>.* y$/, l);
  assert.equal(r.stderr, 'err <masked:API_KEY>\n');
});

test('masking: a value shorter than 8 bytes is injected with a warning and not masked', async (t) => {
  const { v } = await setup(t);
  assert.equal(v.run(['set', 'PIN', '--stdin'], { input: '1234' }).code, 0);
  const r = tvaultRun(v, ['run', '--broker', '--only', 'PIN', '--', 'sh', '-c', 'echo "pin $PIN"']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'pin 1234\n');
  assert.equal(r.stderr, 'tvault: warning: PIN is shorter than 8 bytes and was not masked in the output\n');
});

test('run --broker: stdin reaches the child; cwd and the caller base env pass, TVAULT_* and loader variables do not', async (t) => {
  const { v } = await setup(t);
  const cwd = join(v.dir, 'work');
  mkdirSync(cwd);
  const script = 'cat; pwd; echo "x=$MY_VAR ld=${LD_PRELOAD-unset} tv=${TVAULT_DIR-unset} bf=${BASH_ENV-unset}"';
  const r = spawnSync(process.execPath, [BIN, 'run', '--broker', '--', 'sh', '-c', script], {
    cwd,
    env: baseEnv({ ...v.env, ...AGENT_ONLY, MY_VAR: 'kept', LD_PRELOAD: '/nonexistent.so', BASH_ENV: '/tmp/x' }),
    input: 'from stdin\n',
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `from stdin\n${cwd}\nx=kept ld=unset tv=unset bf=unset\n`);
});

test('run --broker: exit codes as run (the code, 128+N for a signal, 127 not found, 126 not executable)', async (t) => {
  const { v } = await setup(t);
  assert.equal(tvaultRun(v, ['run', '--broker', '--', 'sh', '-c', 'exit 42']).code, 42);
  assert.equal(tvaultRun(v, ['run', '--broker', '--', 'sh', '-c', 'kill -TERM $$']).code, 128 + 15);
  const nf = tvaultRun(v, ['run', '--broker', '--', 'no-such-command-xyz']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /^tvault: no-such-command-xyz: command not found\n$/);
  const plain = join(v.dir, 'plain.txt');
  writeFileSync(plain, 'not a program', { mode: 0o644 });
  const ne = tvaultRun(v, ['run', '--broker', '--', plain]);
  assert.equal(ne.code, 126);
  assert.match(ne.stderr, /not executable \(EACCES\)/);
  assert.equal(tvaultRun(v, ['run', '--', plain]).code, 126, 'the same as plain run');
});

test('run --broker: no agent is tvault failing (125, one line)', (t) => {
  const v = makeVault(t);
  const r = tvaultRun(v, ['run', '--broker', '--', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^tvault: no agent serves brokered exec at .*exec\.sock; start one with: tvault agent start\n$/);
});

test('exec-only token: run is brokered by itself; get, env, getall, getselected are refused with what the token may do', async (t) => {
  const { v, a } = await setup(t, { tokens: true });
  const env = { TVAULT_AGENT_TOKEN: EXEC_TOKEN };
  const r = tvaultRun(v, ['run', '--', 'sh', '-c', 'test "$API_KEY" = "$1" && echo ok; test -z "$OTHER" && echo keys-only', 'sh', SECRET], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ok\nkeys-only\n');
  for (const args of [['get', 'API_KEY'], ['env'], ['export'], ['env', '--only', 'API_KEY']]) {
    const g = tvaultRun(v, args, { env });
    assert.equal(g.code, 1, args.join(' '));
    assert.equal(g.stdout, '');
    assert.match(g.stderr, /may run commands with its secrets but not read them .*tvault run --broker/, args.join(' '));
    // What it may do, in the words `token list` uses: exec-only, which commands, which keys.
    assert.match(g.stderr, /\(exec-only \(any command\), any project, keys API_KEY; token_id [0-9a-f]{8}\)/, args.join(' '));
  }
  for (const req of [{ op: 'get', key: 'API_KEY' }, { op: 'getall' }, { op: 'getselected', only: ['API_KEY'] }]) {
    const res = await request(a.sock, { v: 1, ...req, token: EXEC_TOKEN });
    assert.deepEqual([res.ok, res.error], [false, 'exec_only'], req.op);
    assert.ok(!JSON.stringify(res).includes(SECRET));
  }
  // A key outside the token's keys is refused before anything runs.
  const out = tvaultRun(v, ['run', '--only', 'OTHER', '--', 'sh', '-c', 'echo ran'], { env });
  assert.equal(out.code, 125);
  assert.equal(out.stdout, '');
  assert.match(out.stderr, /not in scope: key 'OTHER'/);
});

test('--allow-cmd: only the listed programs run, resolved by the agent; others and look-alikes are refused', async (t) => {
  const { v } = await setup(t, { tokens: true });
  const env = { TVAULT_AGENT_TOKEN: CMD_TOKEN };
  const ok = tvaultRun(v, ['run', '--broker', '--', 'printenv', 'API_KEY'], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, '<masked:API_KEY>\n', 'the allowed command prints its secret: masked');
  for (const argv of [['env'], ['printenv', 'OTHER'], ['printenv']]) {
    const r = tvaultRun(v, ['run', '--broker', '--', ...argv], { env });
    assert.equal(r.code, 125, argv.join(' '));
    assert.match(r.stderr, /not in scope: this token may run only: printenv API_KEY; sh/);
  }
  // A look-alike "printenv" first on the caller's PATH is not the agent's printenv.
  const fake = join(v.dir, 'fakebin');
  mkdirSync(fake);
  writeFileSync(join(fake, 'printenv'), '#!/bin/sh\necho fake\n', { mode: 0o755 });
  const look = tvaultRun(v, ['run', '--broker', '--', 'printenv', 'API_KEY'], { env: { ...env, PATH: `${fake}:${process.env.PATH}` } });
  assert.equal(look.stdout, '<masked:API_KEY>\n', 'the agent ran its own printenv');
  const byPath = tvaultRun(v, ['run', '--broker', '--', join(fake, 'printenv'), 'API_KEY'], { env });
  assert.equal(byPath.code, 125);
  // A symlink named like the allowed program is the program it points to: `env` here, refused.
  const links = join(v.dir, 'links');
  mkdirSync(links);
  symlinkSync(spawnSync('sh', ['-c', 'command -v env'], { encoding: 'utf8' }).stdout.trim(), join(links, 'printenv'));
  const link = tvaultRun(v, ['run', '--broker', '--', join(links, 'printenv'), 'API_KEY'], { env });
  assert.equal(link.code, 125, link.stdout);
  assert.match(link.stderr, /not in scope/);
  // `sh` is allowed here, and `sh -c` runs anything: an allow-list entry is as strong as its program (SECURITY.md).
  assert.equal(tvaultRun(v, ['run', '--broker', '--', 'sh', '-c', 'echo any'], { env }).stdout, 'any\n');
});

test('token list and create: exec-only and the commands are shown; "any command" when there is no --allow-cmd', async (t) => {
  const v = makeVault(t);
  const file = join(v.dir, 'tok');
  const c = spawnSync(
    process.execPath,
    [BIN, 'agent', 'token', 'create', '--token-file', file, '--exec-only', '--allow-cmd', 'npm test', '--allow-cmd', 'pytest', '--force', '--name', 'ci'],
    {
      env: baseEnv(v.env),
      encoding: 'utf8',
    },
  );
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /exec-only \(commands: npm test; pytest\)/);
  assert.match(readFileSync(file, 'utf8'), /exec=only {2}cmds=npm,test;pytest/);
  const c2 = spawnSync(process.execPath, [BIN, 'agent', 'token', 'create', '--token-file', file, '--exec-only', '--force', '--name', 'any'], {
    env: baseEnv(v.env),
    encoding: 'utf8',
  });
  assert.equal(c2.status, 0, c2.stderr);
  const l = spawnSync(process.execPath, [BIN, 'agent', 'token', 'list', '--token-file', file], { env: baseEnv(v.env), encoding: 'utf8' });
  assert.match(l.stdout, /ci .*exec-only +npm test; pytest/);
  assert.match(l.stdout, /any .*exec-only +\(any command\) +LANG,TERM /);
  // --allow-env: what a delegate's child may get of its own environment beyond LANG and TERM.
  const create = (...args) =>
    spawnSync(process.execPath, [BIN, 'agent', 'token', 'create', '--token-file', file, '--exec-only', '--force', ...args], {
      env: baseEnv(v.env),
      encoding: 'utf8',
    });
  const c3 = create('--name', 'envs', '--allow-env', 'CI', '--allow-env', 'GIT_AUTHOR_NAME');
  assert.equal(c3.status, 0, c3.stderr);
  assert.match(readFileSync(file, 'utf8'), /name=envs .*env=CI,GIT_AUTHOR_NAME\n/);
  const l2 = spawnSync(process.execPath, [BIN, 'agent', 'token', 'list', '--token-file', file], { env: baseEnv(v.env), encoding: 'utf8' });
  assert.match(l2.stdout, /envs .*exec-only +\(any command\) +LANG,TERM,CI,GIT_AUTHOR_NAME /);
  for (const [name, msg] of [
    ['LD_PRELOAD', /--allow-env: LD_PRELOAD changes how programs load/],
    ['PATH', /invalid --allow-env: PATH is always the agent's/],
    ['TVAULT_DIR', /invalid --allow-env: TVAULT_DIR: TVAULT_\* never passes/],
  ]) {
    const bad = create('--allow-env', name);
    assert.equal(bad.status, 2, name);
    assert.match(bad.stderr, msg);
    assert.equal(bad.stdout, '', 'no token printed');
  }
});

test('exec op, raw peer: no fds, too many fds, garbage, oversized, the wrong op, and exec on the line socket', async (t) => {
  const { v, a, execSock } = await setup(t);
  const good = execLine({ argv: ['true'] });
  const devnull = () => openSync('/dev/null', 'r+');
  const expectError = async (payload, fds, code, msg) => {
    const opened = fds.map(() => devnull());
    const res = await rawExec(execSock, payload, fds === 'none' ? [] : opened);
    opened.forEach((fd) => closeSync(fd));
    assert.equal(res.length, 1, JSON.stringify(res));
    assert.deepEqual([res[0].ok, res[0].error], [false, code], payload.slice(0, 60));
    if (msg) assert.match(res[0].message, msg);
  };
  await expectError(good, [], 'bad_request', /exactly 3 descriptors .*got 0/);
  await expectError(good, [1, 2], 'bad_request', /got 2/);
  await expectError(good, [1, 2, 3, 4], 'bad_request', /more were sent/);
  await expectError(good, [1, 2, 3, 4, 5, 6, 7, 8], 'bad_request', /more were sent/);
  await expectError('not json at all\n', [1, 2, 3], 'bad_json');
  await expectError(JSON.stringify({ v: 1, op: 'getall' }) + '\n', [1, 2, 3], 'bad_request', /serves op exec only/);
  await expectError(execLine({ argv: [] }), [1, 2, 3], 'bad_request', /needs "argv"/);
  await expectError(execLine({ argv: ['true'], cwd: 'relative' }), [1, 2, 3], 'bad_request', /absolute path/);
  await expectError(execLine({ argv: ['true'], cwd: '/nonexistent-dir-xyz' }), [1, 2, 3], 'bad_request', /not a directory/);
  await expectError(execLine({ argv: ['true'], env: { PAD: 'x'.repeat(70 * 1024) } }), [1, 2, 3], 'too_large');
  // The line socket knows the op but does not serve it there.
  const line = await request(a.sock, { v: 1, op: 'exec', argv: ['true'], cwd: '/', env: {}, tty: false });
  assert.deepEqual([line.ok, line.error], [false, 'bad_request']);
  assert.match(line.message, /exec\.sock/);
  // The agent keeps none of the descriptors it refused: its fd count is back where it was.
  const count = () =>
    spawnSync('ls', [`/proc/${a.pid}/fd`], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean).length;
  const before = count();
  for (let i = 0; i < 5; i++) await expectError(good, [1, 2, 3, 4, 5], 'bad_request');
  await waitFor(() => count() <= before, { what: 'the agent to close refused descriptors' });
  // And a well-formed request still works after all that.
  const r = tvaultRun(v, ['run', '--broker', '--', 'true']);
  assert.equal(r.code, 0, r.stderr);
});

test('exec op, raw peer: the answers carry names and the status, never a value', async (t) => {
  const { execSock } = await setup(t);
  const fds = [openSync('/dev/null', 'r'), openSync('/dev/null', 'w'), openSync('/dev/null', 'w')];
  const res = await rawExec(execSock, execLine({ argv: ['sh', '-c', 'printenv API_KEY; exit 3'] }), fds);
  fds.forEach((fd) => closeSync(fd));
  assert.deepEqual(res[0], { v: 1, ok: true, started: true, project: 'default', keys: ['API_KEY', 'OTHER'] });
  assert.deepEqual(res[1], { v: 1, ok: true, exit: { code: 3, signal: null }, status: 3 });
  assert.ok(!JSON.stringify(res).includes(SECRET) && !JSON.stringify(res).includes(OTHER));
});

test('signals reach the child; when the caller is killed, the child is ended', async (t) => {
  const { v } = await setup(t);
  const marks = join(v.dir, 'marks');
  const script = `trap 'echo INT >> ${marks}; exit 9' INT; echo $$ > ${marks}.pid; while :; do sleep 0.05; done`;
  const child = spawn(process.execPath, [BIN, 'run', '--broker', '--', 'sh', '-c', script], { env: baseEnv({ ...v.env, ...AGENT_ONLY }), stdio: 'pipe' });
  const done = exited(child);
  await waitFor(() => existsSync(`${marks}.pid`), { what: 'the child to start' });
  child.kill('SIGINT');
  assert.deepEqual(await done, { code: 9, signal: null });
  assert.equal(readFileSync(marks, 'utf8'), 'INT\n');

  // The caller dies (SIGKILL: it can forward nothing): the agent ends the child's process group.
  const pidFile = join(v.dir, 'orphan.pid');
  const c2 = spawn(process.execPath, [BIN, 'run', '--broker', '--', 'sh', '-c', `echo $$ > ${pidFile}; exec sleep 60`], {
    env: baseEnv({ ...v.env, ...AGENT_ONLY }),
    stdio: 'pipe',
  });
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), { what: 'the second child' });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  assert.ok(alive());
  c2.kill('SIGKILL');
  await exited(c2);
  await waitFor(() => !alive(), { what: 'the orphaned child to be ended' });
});

test('the child sees the caller terminal (script(1)): isatty, and its output comes through', async (t) => {
  requireCommand(t, 'script');
  const { v } = await setup(t);
  const inner = `${process.execPath} ${BIN} run --broker -- sh -c 'test -t 0 && printf "tty-yes\\033[31mred\\033[0m $API_KEY "; printf "prompt> "'`;
  const r = spawnSync('script', ['-qec', inner, '/dev/null'], { env: baseEnv({ ...v.env, ...AGENT_ONLY }), encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  // The child is on a pty of its own (test/masked-tty.test.mjs has the whole terminal session).
  assert.match(r.stdout, /tty-yes\x1b\[31mred\x1b\[0m <masked:API_KEY> prompt> /);
  assert.ok(!r.stdout.includes(SECRET));
});

test('audit rows and logs: exec and exec.exit with names, argv0, a hash of argv, the status; no value anywhere', async (t) => {
  const { v } = await setup(t);
  const r = tvaultRun(v, ['run', '--broker', '--only', 'API_KEY', '--', 'sh', '-c', 'exit 5', 'sh', 'arg-not-logged']);
  assert.equal(r.code, 5);
  const rows = auditRows(v.vault).filter((x) => x.op.startsWith('exec'));
  assert.deepEqual(
    rows.map((x) => x.op),
    ['exec', 'exec.exit'],
  );
  assert.match(rows[0].keys, /API_KEY/);
  assert.match(rows[0].detail, /^argv0=sh argv_sha256=[0-9a-f]{16}$/);
  assert.match(rows[1].detail, /argv_sha256=[0-9a-f]{16} status=5 ms=\d+$/);
  const log = agentLog(v);
  const ev = log.events.find((e) => e.op === 'exec');
  assert.equal(ev.result, 'status=5');
  assert.deepEqual(ev.keys, ['API_KEY']);
  assert.ok(!log.text.includes('arg-not-logged'));
  assert.deepEqual(filesContaining(v.dir, SECRET), []);
});

test('a delegate (another uid) with an exec-only token runs the command, cannot read the values nor the child environ', async (t) => {
  if (!requireRoot(t, 'needs root for setpriv and another uid')) return;
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  const file = writeTokens(join(v.dir, 'tokens'), `sha256:${tokenHash(EXEC_TOKEN)} exec=only env=MY_ALLOWED name=exec\n`);
  chmodSync(v.dir, 0o711); // traversable, so that 65534 reaches share/ (the vault dir stays 0700)
  const share = join(v.dir, 'share');
  mkdirSync(share, { mode: 0o711 });
  await startAgent(t, v, ['--require-token', '--token-file', file, '--delegate-dir', share, '--allow-uid', String(NOBODY)]);
  assert.ok(existsSync(join(share, 'exec.sock')), 'an exec socket beside the delegate socket');
  const env = { TVAULT_DIR: share, HOME: share, TVAULT_AGENT_TOKEN: EXEC_TOKEN };
  const prefix = ['setpriv', ...SETPRIV];
  const pidFile = join('/tmp', `tvault-exec-${process.pid}.pid`);
  const script = `echo $$ > ${pidFile}; test "$API_KEY" = "$1" && echo injected; id -u; echo "$API_KEY"; sleep 1`;
  const r = tvaultRun(v, ['run', '--', 'sh', '-c', script, 'sh', SECRET], { env, prefix, cwd: '/' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `injected\n${process.getuid()}\n<masked:API_KEY>\n`, 'the child runs as the agent user; its output is masked');
  assert.equal(tvaultRun(v, ['get', 'API_KEY'], { env, prefix }).code, 1);
  // The child's environment holds only what the token allows: LANG and TERM, its env= names, the
  // agent's PATH and HOME, the secrets. Nothing else of the delegate's own environment.
  const names = tvaultRun(v, ['run', '--', process.execPath, '-e', 'console.log(Object.keys(process.env).sort().join(" "))'], {
    env: { ...env, MY_ALLOWED: 'yes', MY_OTHER: 'no', LANG: 'C.UTF-8', TERM: 'dumb', EDITOR: 'vi' },
    prefix,
    cwd: '/',
  });
  assert.equal(names.code, 0, names.stderr);
  assert.equal(names.stdout, 'API_KEY HOME LANG MY_ALLOWED PATH TERM\n');
  // While a child runs, the delegate cannot read its environ (another uid).
  rmSync(pidFile, { force: true });
  t.after(() => rmSync(pidFile, { force: true }));
  const c = spawn('setpriv', [...SETPRIV, process.execPath, BIN, 'run', '--', 'sh', '-c', `echo $$ > ${pidFile}; sleep 5`], {
    env: baseEnv({ ...v.env, ...AGENT_ONLY, ...env }),
    stdio: 'pipe',
    cwd: '/',
  });
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() && Number(readFileSync(pidFile, 'utf8')) !== 0, { what: 'the child' });
  const pid = readFileSync(pidFile, 'utf8').trim();
  const peek = spawnSync('setpriv', [...SETPRIV, 'cat', `/proc/${pid}/environ`], { encoding: 'utf8' });
  assert.notEqual(peek.status, 0);
  assert.match(peek.stderr, /Permission denied/);
  c.kill('SIGTERM');
  await exited(c);
});

test('the agent stop ends brokered children', async (t) => {
  const { v, a } = await setup(t);
  const pidFile = join(v.dir, 'c.pid');
  const c = spawn(process.execPath, [BIN, 'run', '--broker', '--', 'sh', '-c', `echo $$ > ${pidFile}; exec sleep 60`], {
    env: baseEnv({ ...v.env, ...AGENT_ONLY }),
    stdio: 'pipe',
  });
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), { what: 'the child' });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  process.kill(a.pid, 'SIGTERM');
  await a.done;
  await waitFor(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    { what: 'the child to die with the agent' },
  );
  const r = await exited(c);
  assert.notEqual(r.code, 0);
});

test('the request the CLI sends holds names, never a value, the passphrase or a TVAULT_* variable (a test peer on exec.sock)', async (t) => {
  const v = makeVault(t);
  const sock = join(v.vault, 'exec.sock');
  let got = Buffer.alloc(0);
  let fds = [];
  const server = net.createServer({ pauseOnConnect: true }, async (s) => {
    // Read as the agent does (recvFds on the paused socket), then answer like one.
    for (let i = 0; i < 500; i++) {
      const r = native.recvFds(native.socketFd(s), 65536, 3);
      if (r) {
        got = Buffer.concat([got, r.data]);
        fds.push(...r.fds);
        if (got.includes(0x0a)) break;
      } else await new Promise((res) => setTimeout(res, 5));
    }
    s.end(JSON.stringify({ v: 1, ok: true, exit: { code: 0, signal: null }, status: 0 }) + '\n');
  });
  await new Promise((r) => server.listen(sock, r));
  t.after(() => server.close());
  const r = await new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'run', '--broker', '--only', 'API_KEY', '--', 'true'], {
      env: baseEnv({ ...v.env, TVAULT_NO_AGENT: undefined, TVAULT_AGENT_TOKEN: 'tok-sent-as-token-field', MY_VAR: 'plain' }),
      stdio: 'pipe',
    });
    let stderr = '';
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fds.length, 3, 'stdin, stdout, stderr arrived as descriptors');
  fds.forEach((fd) => closeSync(fd));
  const req = JSON.parse(got.toString('utf8'));
  assert.deepEqual([req.op, req.argv, req.only, req.token], ['exec', ['true'], ['API_KEY'], 'tok-sent-as-token-field']);
  assert.equal(req.env.MY_VAR, 'plain');
  assert.deepEqual(
    Object.keys(req.env).filter((k) => k.startsWith('TVAULT_')),
    [],
  );
  assert.ok(!got.toString().includes(v.env.TVAULT_PASSPHRASE), 'the passphrase is not in the request');
});

test('a locked agent: a brokered exec says to run tvault unlock, exit 3, nothing runs', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  await startAgent(t, v, ['--locked'], { env: { TVAULT_PASSPHRASE: undefined } });
  const marker = join(v.dir, 'ran');
  const r = tvaultRun(v, ['run', '--broker', '--', 'sh', '-c', `touch ${marker}`]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr, 'tvault: the agent is locked: run tvault unlock\n');
  assert.ok(!existsSync(marker), 'the command did not run');
});

test('an exec connection that sends nothing stalls nobody; it is closed at the I/O timeout', async (t) => {
  const { v, execSock } = await setup(t, { agentArgs: ['--io-timeout', '3s'] });
  const idle = net.connect(execSock);
  let answer = '';
  idle.on('data', (d) => (answer += d));
  const closed = new Promise((res) => idle.on('close', res));
  await new Promise((res) => idle.on('connect', res));
  // While it sits there, other callers are served.
  for (let i = 0; i < 3; i++) assert.equal(tvaultRun(v, ['run', '--broker', '--', 'sh', '-c', 'echo served']).stdout, 'served\n');
  await closed;
  assert.match(answer, /"error":"timeout"/);
});

test('a test peer between the CLI and the agent: no value in any protocol message, either way; nor in the log or audit rows', async (t) => {
  const { v, execSock } = await setup(t);
  // The agent keeps listening on the socket after a rename: the peer takes its place.
  const real = `${execSock}.real`;
  renameSync(execSock, real);
  const traffic = [];
  const server = net.createServer({ pauseOnConnect: true }, async (s) => {
    let head = Buffer.alloc(0);
    const fds = [];
    for (let i = 0; i < 2000 && !head.includes(0x0a); i++) {
      const r = native.recvFds(native.socketFd(s), 65536, 3);
      if (r) {
        head = Buffer.concat([head, r.data]);
        fds.push(...r.fds);
      } else await new Promise((res) => setTimeout(res, 5));
    }
    traffic.push({ dir: 'to agent', data: head });
    const up = net.connect(real, () => {
      native.sendFds(native.socketFd(up), fds, head);
      fds.forEach((fd) => closeSync(fd));
      s.on('data', (d) => (traffic.push({ dir: 'to agent', data: d }), up.write(d)));
      up.on('data', (d) => (traffic.push({ dir: 'to caller', data: d }), s.write(d)));
      up.on('end', () => s.end());
      s.on('end', () => up.end());
      s.resume();
    });
    up.on('error', () => s.destroy());
    s.on('error', () => up.destroy());
  });
  await new Promise((r) => server.listen(execSock, r));
  t.after(() => server.close());
  const script = 'printf "%s\\n" "$API_KEY" "$OTHER"; printf "%s" "$API_KEY" >&2; exit 4';
  const r = await new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, 'run', '--broker', '--', 'sh', '-c', script], { env: baseEnv({ ...v.env, ...AGENT_ONLY }), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, '<masked:API_KEY>\n<masked:OTHER>\n', 'the output went through the agent, masked');
  assert.equal(r.stderr, '<masked:API_KEY>');
  const seen = Buffer.concat(traffic.map((x) => x.data)).toString('latin1');
  assert.ok(
    traffic.some((x) => x.dir === 'to caller' && /"status":4/.test(x.data.toString())),
    'the peer saw the whole conversation',
  );
  for (const value of [SECRET, OTHER]) {
    for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')])
      assert.ok(!seen.includes(form), `${form} on the socket`);
  }
  const rows = auditRows(v.vault).filter((x) => x.op.startsWith('exec'));
  assert.equal(rows.length, 2);
  assert.ok(!JSON.stringify(rows).includes(SECRET) && !JSON.stringify(rows).includes(OTHER));
  assert.ok(!agentLog(v).text.includes(SECRET) && !agentLog(v).text.includes(OTHER));
  assert.deepEqual(filesContaining(v.dir, SECRET), []);
});
