// `tvault run`: what reaches the child (no dangerous names unless allowed, no TVAULT_*, only a
// minimal environment with --pristine), the exit status (125/126/127/128+N, else the child's),
// signals forwarded, and stdio/TTY passed through untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, BIN_DIR, assertOneLineError, baseEnv, makeVault, requireCommand, tvaultNoTty } from './helpers.mjs';

function vaultWith(t, values) {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(values)) {
    const r = v.run(['set', k, '--stdin'], { input: val });
    assert.equal(r.code, 0, r.stderr);
  }
  return v;
}

/** Parses `env -0` output into {name: value}. */
const parseEnv0 = (s) =>
  Object.fromEntries(
    s
      .split('\0')
      .filter(Boolean)
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );

test('run refuses a dangerous name before the child starts (125), and --allow-dangerous NAME lets it through', (t) => {
  const v = makeVault(t);
  const canary = join(v.dir, 'CANARY');
  const started = join(v.dir, 'STARTED');
  const bashEnv = join(v.dir, 'bash_env.sh');
  writeFileSync(bashEnv, `touch ${canary}\n`);
  for (const [k, val] of [
    ['BASH_ENV', bashEnv],
    ['NODE_OPTIONS', '--no-warnings'],
    ['SAFE', 'ok'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);

  const r = v.run(['run', '--', 'bash', '-c', `touch ${started}`]);
  assertOneLineError(
    assert,
    r,
    125,
    /refusing to inject BASH_ENV, NODE_OPTIONS: they make programs load code or configuration from the value .*; if you mean it, allow them with: tvault allow-name -p default BASH_ENV NODE_OPTIONS$/m,
  );
  assert.equal(existsSync(started), false, 'the child started');
  assert.equal(existsSync(canary), false, 'BASH_ENV ran');

  const one = v.run(['run', '--allow-dangerous', 'NODE_OPTIONS', '--', 'true']);
  assertOneLineError(assert, one, 125, /refusing to inject BASH_ENV: it makes/);

  const both = v.run(['run', '--allow-dangerous', 'NODE_OPTIONS', '--allow-dangerous', 'BASH_ENV', '--', 'sh', '-c', 'printf "%s|%s" "$NODE_OPTIONS" "$SAFE"']);
  assert.equal(both.code, 0, both.stderr);
  assert.equal(both.stdout, '--no-warnings|ok');
  const comma = v.run(['run', '--allow-dangerous', 'NODE_OPTIONS,BASH_ENV', '--', 'true']);
  assert.equal(comma.code, 0, comma.stderr);
});

test('set and import warn about dangerous and TVAULT_* names; run refuses TVAULT_* even with --allow-dangerous', (t) => {
  const v = makeVault(t);
  const set = v.run(['set', 'LD_PRELOAD', '--stdin'], { input: '/tmp/x.so' });
  assert.equal(set.code, 0);
  assert.match(
    set.stderr,
    /warning: LD_PRELOAD makes programs load code or configuration from its value; tvault run and tvault env \(shell, fish, github\) will refuse it until you allow it with: tvault allow-name LD_PRELOAD/,
  );
  const file = join(v.dir, 'in.env');
  writeFileSync(file, 'PROMPT_COMMAND=x\nTVAULT_DIR=/elsewhere\nPLAIN=1\n');
  const imp = v.run(['import', file]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.match(imp.stderr, /warning: PROMPT_COMMAND makes programs load/);
  assert.match(imp.stderr, /warning: TVAULT_DIR is reserved for tvault itself/);
  assert.doesNotMatch(imp.stderr, /PLAIN/);
  const r = v.run(['run', '--allow-dangerous', 'LD_PRELOAD,PROMPT_COMMAND,TVAULT_DIR', '--', 'true']);
  assertOneLineError(assert, r, 125, /refusing to pass on TVAULT_DIR: names starting with TVAULT_ are reserved for tvault itself/);
});

test("no TVAULT_* variable of tvault's own environment reaches the child", (t) => {
  const v = vaultWith(t, { K: 'v' });
  const r = v.run(['run', '--', 'env', '-0'], { env: { TVAULT_AGENT_TOKEN: 'tok', TVAULT_ANYTHING: 'x', KEPT: 'yes' } });
  assert.equal(r.code, 0, r.stderr);
  const env = parseEnv0(r.stdout);
  assert.deepEqual(
    Object.keys(env).filter((k) => k.startsWith('TVAULT_')),
    [],
  );
  assert.equal(env.K, 'v');
  assert.equal(env.KEPT, 'yes');
});

test("--pristine: the child gets only the secrets plus PATH, HOME and TERM; the command is found on the caller's PATH", (t) => {
  const v = vaultWith(t, { A: 'one', B: 'two' });
  const bin = join(v.dir, 'bin');
  mkdirSync(bin);
  symlinkSync('/usr/bin/env', join(bin, 'show-env')); // found only on the caller's PATH; adds nothing (a shell would add PWD)
  const r = v.run(['run', '--pristine', '--', 'show-env', '-0'], {
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: '/home/x', TERM: 'xterm', EXTRA: 'leak', LANG: 'C.UTF-8' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(parseEnv0(r.stdout), { A: 'one', B: 'two', PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/x', TERM: 'xterm' });
  const noTerm = v.run(['run', '--pristine', '--only', 'A', '--', 'env', '-0'], { env: { TERM: undefined } });
  assert.deepEqual(Object.keys(parseEnv0(noTerm.stdout)).sort(), ['A', 'HOME', 'PATH']);
});

test('--strict: a key named by --only that is missing stops run before the child starts (125); env --strict exits 4', (t) => {
  const v = vaultWith(t, { A: 'one' });
  const started = join(v.dir, 'STARTED');
  const r = v.run(['run', '--strict', '--only', 'A,MISSING', '--', 'touch', started]);
  assertOneLineError(assert, r, 125, /--strict: missing MISSING/);
  assert.equal(existsSync(started), false);
  assert.equal(v.run(['run', '--only', 'A,MISSING', '--', 'touch', started]).code, 0, 'without --strict a missing key is fine');
  assertOneLineError(assert, v.run(['env', '--strict', '--only', 'A,MISSING']), 4, /--strict: missing MISSING/);
});

test("exit codes: the child's own; 125 when tvault fails (locked); 126 not executable; 127 not found; 128+N on a signal", (t) => {
  const v = vaultWith(t, { K: 'v' });
  assert.equal(v.run(['run', '--', 'sh', '-c', 'exit 42']).code, 42);
  assert.equal(v.run(['env', '--', 'sh', '-c', 'exit 7']).code, 7, 'env -- CMD runs like run');

  const locked = tvaultNoTty(['run', '--', 'true'], { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1' } });
  assertOneLineError(assert, locked, 125, /the vault is locked and nothing can unlock it/);

  const notExec = join(v.dir, 'not-executable.sh');
  writeFileSync(notExec, '#!/bin/sh\necho hi\n');
  chmodSync(notExec, 0o644);
  assertOneLineError(assert, v.run(['run', '--', notExec]), 126, /not-executable\.sh: not executable/);
  assertOneLineError(assert, v.run(['run', '--', v.dir]), 126, /not executable/);
  assertOneLineError(assert, v.run(['run', '--', 'no-such-command-tvault-test']), 127, /no-such-command-tvault-test: command not found/);
  assertOneLineError(assert, v.run(['run', '--', join(v.dir, 'missing')]), 127, /command not found/);

  assert.equal(v.run(['run', '--', 'sh', '-c', 'kill -KILL $$']).code, 128 + 9);
  assert.equal(v.run(['run', '--', 'sh', '-c', 'kill -TERM $$']).code, 128 + 15);
  assertOneLineError(assert, v.run(['run']), 2, /nothing to run/);
});

/**
 * Starts `tvault run` with a child that writes `sig` to a file when it gets `sig`, and waits
 * until it is ready. tvault leads its own process group, so that cleanup can kill the child too.
 */
async function trappingChild(t, v, sig) {
  const seen = join(v.dir, `seen-${sig}`);
  const script = `trap 'echo ${sig} > ${seen}; exit 0' ${sig.replace('SIG', '')}; echo ready; while :; do sleep 0.05; done`;
  const p = spawn(process.execPath, [BIN, 'run', '--', 'sh', '-c', script], { env: baseEnv(v.env), stdio: 'pipe', detached: true });
  const exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  });
  await new Promise((resolve, reject) => {
    p.stdout.once('data', resolve);
    p.once('exit', () => reject(new Error('tvault run exited before the child was ready')));
  });
  return { p, seen, exited };
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1']) {
  test(`run forwards ${sig} to the child (which traps it) and exits with the child's status`, { timeout: 15_000 }, async (t) => {
    const v = vaultWith(t, { K: 'v' });
    const { p, seen, exited } = await trappingChild(t, v, sig);
    p.kill(sig);
    const { code, signal } = await exited;
    assert.equal(signal, null, 'tvault itself was killed instead of forwarding');
    assert.equal(code, 0);
    assert.equal(readFileSync(seen, 'utf8'), `${sig}\n`);
  });
}

test('stdin, stdout and stderr pass through byte for byte (1 MiB of random bytes each way)', (t) => {
  const v = vaultWith(t, { K: 'v' });
  const data = randomBytes(1 << 20);
  const env = baseEnv(v.env);
  const out = spawnSync(process.execPath, [BIN, 'run', '--', 'cat'], { env, input: data, maxBuffer: 8 << 20 });
  assert.equal(out.status, 0, String(out.stderr));
  assert.ok(out.stdout.equals(data), 'stdout differs from stdin');
  const err = spawnSync(process.execPath, [BIN, 'run', '--', 'sh', '-c', 'cat >&2'], { env, input: data, maxBuffer: 8 << 20 });
  assert.equal(err.status, 0);
  assert.ok(err.stderr.equals(data), 'stderr differs from stdin');
  assert.equal(err.stdout.length, 0);
});

test('the child gets default SIGPIPE: `tvault run -- yes | head -c 3` ends at once', (t) => {
  const v = vaultWith(t, { K: 'v' });
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" run -- yes | head -c 3; echo " end"`], {
    env: baseEnv(v.env),
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.signal, null, 'timed out: yes never got SIGPIPE');
  assert.equal(r.stdout, 'y\ny end\n');
});

test('a terminal is passed through: the child sees a TTY on stdin, stdout and stderr', (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = vaultWith(t, { K: 'v' });
  const inner = `"${process.execPath}" "${BIN}" run -- sh -c '[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo TTY-OK "$K"'`;
  const r = spawnSync('script', ['-qec', inner, '/dev/null'], {
    env: baseEnv({ ...v.env, PATH: `${BIN_DIR}:${process.env.PATH}` }),
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /TTY-OK v/);
});

test('Ctrl-C in a terminal reaches the child once (the terminal signals the whole group; tvault does not forward it again)', { timeout: 20_000 }, async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = vaultWith(t, { K: 'v' });
  const log = join(v.dir, 'int.log');
  const child = `trap 'echo INT >> ${log}; got=1' INT; got=; echo ready; while [ -z "$got" ]; do sleep 0.05; done; sleep 0.5; echo done`;
  // `exec`: script(1) runs the line through $SHELL, and dash (CI's /bin/sh) would stay as a parent
  // in the foreground group, catch the same Ctrl-C and kill itself with SIGINT once tvault exits.
  const inner = `exec "${process.execPath}" "${BIN}" run -- sh -c '${child.replace(/'/g, `'\\''`)}'`;
  const p = spawn('script', ['-qec', inner, '/dev/null'], { env: baseEnv(v.env), stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => p.kill('SIGKILL'));
  let out = '';
  await new Promise((resolve, reject) => {
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
    p.on('exit', () => reject(new Error(`ended before ready: ${out}`)));
  });
  p.stdin.write('\x03');
  const code = await new Promise((resolve) => p.on('exit', resolve));
  assert.equal(code, 0, out);
  assert.match(out, /done/);
  assert.equal(readFileSync(log, 'utf8'), 'INT\n', 'the child saw SIGINT more (or less) than once');
});

test('a secret named __proto__ reaches the child as a variable', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', '__proto__', '--stdin'], { input: 'proto-value' }).code, 0);
  const r = v.run(['run', '--', 'sh', '-c', 'env | grep "^__proto__="']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '__proto__=proto-value\n');
});
