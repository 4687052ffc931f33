// Masking that keeps the terminal (issue 15): `tvault run --broker` (a real agent) and
// `tvault run --mask` (no agent) under a real terminal, script(1). The child gets a pty of its
// own: it sees a TTY, its colours and a prompt without newline come through, a value on the
// screen is masked, it sees the terminal's size and its changes, Ctrl-C typed on the (raw)
// terminal is its SIGINT, and the terminal's settings are the same afterwards. Without a
// terminal, run --mask masks through pipes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault, requireCommand } from './helpers.mjs';
import { AGENT_ONLY, startAgent, waitFor } from './agent-helpers.mjs';

const SECRET = 'pty-masked-secret-9c2e1b';

// The child: a TTY check, colours, the size, the value, a resize it waits for, a prompt without
// newline and what is typed there, then Ctrl-C (trapped: exit 7).
const CHILD = [
  'test -t 0 && test -t 1 && test -t 2 && echo tty-yes',
  `printf '\\033[31mred\\033[0m\\n'`,
  'echo "size=$(stty size)"',
  'echo "value=$API_KEY"',
  'touch "$MARK"',
  'while [ "$(stty size)" = "33 101" ]; do sleep 0.05; done',
  'echo "resized=$(stty size)"',
  `trap 'echo got-int; exit 7' INT`,
  `printf 'prompt> '`,
  'read x',
  'echo "read=$x"',
  'while :; do sleep 0.05; done',
].join('\n');

/**
 * Runs `tvault run <mode> -- sh -c CHILD` inside script(1) on a 33x101 terminal, typing into it
 * as its prompts appear; a helper outside the session resizes the terminal once the child asks.
 * Resolves { code, out } (script's status and everything the terminal showed).
 */
function underScript(env, mode, dir) {
  const mark = join(dir, 'resize-me');
  const tv = `${process.execPath} ${BIN} run ${mode} -- sh -c '${CHILD.replace(/'/g, `'\\''`)}'`;
  const resizer = `setsid sh -c 'while [ ! -e "${mark}" ]; do sleep 0.05; done; stty -F "$T" rows 40 cols 120' </dev/null >/dev/null 2>&1 &`;
  const outer = `stty rows 33 cols 101; T=$(tty); export T; before=$(stty -g); ${resizer} ${tv}; rc=$?; [ "$(stty -g)" = "$before" ] && echo restored-yes; echo "rc=$rc"`;
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', outer, '/dev/null'], { env: baseEnv({ ...env, MARK: mark }) });
    let out = '';
    const answers = [
      [/prompt> $/, 'hello\r'],
      [/read=hello\r?\n$/, '\x03'],
    ];
    child.stdout.on('data', (d) => {
      out += d;
      if (answers.length && answers[0][0].test(out)) child.stdin.write(answers.shift()[1]);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function assertTerminalSession(r) {
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /tty-yes/, 'the child sees a TTY on 0, 1 and 2');
  assert.match(r.out, /\x1b\[31mred\x1b\[0m/, 'colours come through');
  assert.match(r.out, /size=33 101/, 'the pty has the terminal size');
  assert.match(r.out, /value=<masked:API_KEY>/, 'the value on the screen is masked');
  assert.ok(!r.out.includes(SECRET), 'the value never reaches the terminal');
  assert.match(r.out, /resized=40 120/, 'a resize of the terminal reaches the child');
  assert.match(r.out, /prompt> hello/, 'a prompt without newline appears; typing reaches the child (echoed by its pty)');
  assert.match(r.out, /read=hello/);
  assert.match(r.out, /got-int/, 'Ctrl-C on the raw terminal is the child’s SIGINT');
  assert.match(r.out, /rc=7/, "the child's exit code");
  assert.match(r.out, /restored-yes/, 'the terminal settings are back as before');
}

test('run --broker on a terminal: the child gets a pty; masked output, colours, prompt, size, resize, Ctrl-C, terminal restored', async (t) => {
  requireCommand(t, 'script');
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  await startAgent(t, v);
  assertTerminalSession(await underScript({ ...v.env, ...AGENT_ONLY }, '--broker', v.dir));
});

test('run --mask on a terminal (no agent): the same session through the same pump', async (t) => {
  requireCommand(t, 'script');
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  assertTerminalSession(await underScript(v.env, '--mask', v.dir));
});

test('run --mask without a terminal: pipes, masked stdout and stderr, exit codes; --no-mask and plain run do not mask', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  const script = 'test -t 1 || echo no-tty; echo "out=$API_KEY"; echo "err=$API_KEY" >&2; exit 3';
  const masked = v.run(['run', '--mask', '--', 'sh', '-c', script]);
  assert.equal(masked.code, 3, masked.stderr);
  assert.match(masked.stdout, /no-tty\nout=<masked:API_KEY>\n/);
  assert.match(masked.stderr, /err=<masked:API_KEY>/);
  assert.ok(!masked.stdout.includes(SECRET) && !masked.stderr.includes(SECRET));
  for (const args of [
    ['run', '--no-mask', '--'],
    ['run', '--'],
  ]) {
    const plain = v.run([...args, 'sh', '-c', script]);
    assert.equal(plain.code, 3);
    assert.match(plain.stdout, new RegExp(`out=${SECRET}`));
  }
  assert.equal(v.run(['run', '--mask', '--', '/no/such/command-x']).code, 127);
  const killed = v.run(['run', '--mask', '--', 'sh', '-c', 'kill -TERM $$']);
  assert.equal(killed.code, 128 + 15);
});

test('run --mask on a terminal: not found is 127, not executable 126, a signal 128+N', (t) => {
  requireCommand(t, 'script');
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  const tv = `${process.execPath} ${BIN} run --mask --`;
  const inner = `${tv} no-such-command-x; echo "a=$?"; ${tv} /etc/hostname; echo "b=$?"; ${tv} sh -c 'kill -TERM $$'; echo "c=$?"`;
  const r = spawnSync('script', ['-qec', inner, '/dev/null'], { env: baseEnv(v.env), encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /a=127/);
  assert.match(r.stdout, /b=126/);
  assert.match(r.stdout, /c=143/);
});

test('run --broker --no-mask is refused: the agent always masks', async (t) => {
  const v = makeVault(t);
  await startAgent(t, v);
  const r = spawnSync(process.execPath, [BIN, 'run', '--broker', '--no-mask', '--', 'true'], { env: baseEnv({ ...v.env, ...AGENT_ONLY }), encoding: 'utf8' });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /always masks/);
});

/**
 * Starts `tvault run <mode>` on a terminal under script(1), its child looping; once it runs,
 * sends `sig` to the tvault process itself. Resolves { out, childPid } once script ends; the outer
 * shell reports tvault's status and whether the terminal's settings came back (polled with a deadline).
 */
function killCaller(env, mode, dir, sig) {
  const caller = join(dir, 'caller.pid');
  const childPidFile = join(dir, 'child.pid');
  const tv = `${process.execPath} ${BIN} run ${mode} -- sh -c 'echo $$ > "$CHILDPID"; echo started; while :; do sleep 0.05; done'`;
  const wait = `i=0; while [ "$(stty -g)" != "$before" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`;
  const outer = `before=$(stty -g); sh -c 'echo $$ > "${caller}"; exec ${tv.replace(/'/g, `'\\''`)}'; echo "rc=$?"; ${wait}; [ "$(stty -g)" = "$before" ] && echo restored-yes`;
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', outer, '/dev/null'], { env: baseEnv({ ...env, CHILDPID: childPidFile }) });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!sent && out.includes('started')) {
        sent = true;
        process.kill(Number(readFileSync(caller, 'utf8')), sig);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ out, childPid: Number(readFileSync(childPidFile, 'utf8')) });
    });
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const mode of ['--broker', '--mask']) {
  test(`run ${mode} on a terminal: SIGTERM to tvault reaches the child (143), the terminal is restored; SIGKILL to tvault ends the child`, async (t) => {
    requireCommand(t, 'script');
    const v = makeVault(t);
    assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
    const env = mode === '--broker' ? { ...v.env, ...AGENT_ONLY } : v.env;
    if (mode === '--broker') await startAgent(t, v);
    const term = await killCaller(env, mode, v.dir, 'SIGTERM');
    assert.match(term.out, /rc=143/, term.out);
    assert.match(term.out, /restored-yes/);
    await waitFor(() => !alive(term.childPid), { what: 'the child to end' });
    const killed = await killCaller(env, mode, v.dir, 'SIGKILL');
    assert.match(killed.out, /rc=137/, killed.out);
    // Brokered, the agent holds the terminal and puts it back; tvault itself cannot after a SIGKILL.
    if (mode === '--broker') assert.match(killed.out, /restored-yes/);
    await waitFor(() => !alive(killed.childPid), { what: 'the orphaned child to be ended' });
  });
}

for (const mode of ['--broker', '--mask']) {
  test(`run ${mode}, stdout a terminal, stdin a pipe and stderr a file: only stdout is the pty; stdin is the pipe; stderr is masked into the file`, async (t) => {
    requireCommand(t, 'script');
    const v = makeVault(t);
    assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
    const env = mode === '--broker' ? { ...v.env, ...AGENT_ONLY } : v.env;
    if (mode === '--broker') await startAgent(t, v);
    const errFile = join(v.dir, 'err.txt');
    const child = `test -t 0 || echo stdin-pipe; read x; echo "x=$x"; test -t 1 && echo out-tty; test -t 2 || echo "err=$API_KEY" >&2`;
    const inner = `echo piped | ${process.execPath} ${BIN} run ${mode} -- sh -c '${child}' 2>"${errFile}"; echo "rc=$?"`;
    const r = spawnSync('script', ['-qec', inner, '/dev/null'], { env: baseEnv(env), encoding: 'utf8', timeout: 30_000 });
    assert.match(r.stdout, /stdin-pipe\r\nx=piped\r\nout-tty\r\n/, r.stdout);
    assert.match(r.stdout, /rc=0/);
    assert.equal(readFileSync(errFile, 'utf8'), 'err=<masked:API_KEY>\n');
  });
}

test('run --mask on a terminal: a grandchild that keeps the pty open does not keep tvault waiting; the hangup ends it', async (t) => {
  requireCommand(t, 'script');
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  const pidFile = join(v.dir, 'grandchild.pid');
  const inner = `${process.execPath} ${BIN} run --mask -- sh -c 'sleep 300 & echo $! > "${pidFile}"; echo "bye $API_KEY"'; echo "rc=$?"`;
  // script's stdin stays open until it exits: at EOF on its stdin script(1) types an end-of-file
  // byte into the terminal, which the shell's terminal echoes (^@ or ^D) into the output.
  const r = await new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', inner, '/dev/null'], { env: baseEnv(v.env) });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', () => child.stdin.end());
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    });
  });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /bye <masked:API_KEY>\r\nrc=0/);
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  await waitFor(() => !alive(grandchild), { what: 'the grandchild to get the hangup' });
});
