// The shell hooks in real shells: `tvault_load` (bash, zsh, fish) and `use tvault` (direnv)
// load every hostile value byte for byte (the shell's own view, `printf %s "$K" | sha256sum`,
// and what a child process inherits, `env -0`), and no payload in any value ever runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, requireCommand } from './helpers.mjs';
import { startAgent } from './agent-helpers.mjs';
import { hostileVault, sha256, shellEnv } from './shell-fixtures.mjs';

let v;
before(() => {
  v = hostileVault();
});
after(() => v?.cleanup());

/** How each shell runs a script without reading any rc file. */
const SHELLS = {
  bash: (script) => ['bash', ['--norc', '--noprofile', '-c', script]],
  zsh: (script) => ['zsh', ['-f', '-c', script]],
  fish: (script) => ['fish', ['--no-config', '-c', script]],
};

/** Runs a shell with a complete environment (nothing inherited beyond baseEnv). */
function runShell(shell, script, env, opts = {}) {
  const [cmd, args] = SHELLS[shell](script);
  const full = { ...baseEnv(), ...env };
  for (const k of opts.unset ?? []) delete full[k];
  const argv = opts.noTty ? ['setsid', ['-w', cmd, ...args]] : [cmd, args];
  const r = spawnSync(argv[0], argv[1], { env: full, cwd: opts.cwd ?? v.dir, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A script printing `NAME <sha256>` for each name, as the shell sees its variables (same text in every shell). */
function readBack(names) {
  return names.map((k) => `printf '%s ' ${k}; printf '%s' "$${k}" | sha256sum`).join('\n');
}

/** Parses `env -0` output into {name: value}. */
function parseEnv0(buf) {
  const out = {};
  for (const entry of buf.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

function assertLoaded(r, envFile) {
  const lines = r.stdout.trim().split('\n');
  const got = Object.fromEntries(lines.map((l) => l.split(/\s+/)).map(([k, h]) => [k, h]));
  for (const [k, val] of v.secrets) assert.equal(got[k], sha256(val), `${k}: the shell's value differs from the stored one`);
  const inherited = parseEnv0(readFileSync(envFile));
  for (const [k, val] of v.secrets) assert.equal(inherited[k], val, `${k}: a child process inherits a different value (or none)`);
  assert.equal(existsSync(v.canary), false, 'a command from a secret value ran');
}

const names = () => v.secrets.map(([k]) => k);

for (const shell of ['bash', 'zsh']) {
  test(`${shell}: tvault_load loads every hostile value exactly and runs none of them`, (t) => {
    if (!requireCommand(t, shell)) return;
    const envFile = join(v.dir, `${shell}.env0`);
    // These shells are not in a terminal, so `tvault hook` also prints its install hint on
    // stderr (see shell-hook-command.test.mjs); the rc lines here drop it, as a script would.
    const script = [`eval "$(tvault hook ${shell} 2>/dev/null)" || exit 90`, 'tvault_load || exit 91', readBack(names()), `env -0 > ${envFile}`].join('\n');
    const r = runShell(shell, script, shellEnv(v));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing on stderr when loading succeeds');
    assertLoaded(r, envFile);
  });
}

test('fish: tvault_load loads every hostile value exactly and runs none of them', (t) => {
  if (!requireCommand(t, 'fish')) return;
  const envFile = join(v.dir, 'fish.env0');
  const script = ['tvault hook fish 2>/dev/null | source; or exit 90', 'tvault_load; or exit 91', readBack(names()), `env -0 > ${envFile}`].join('\n');
  const r = runShell('fish', script, shellEnv(v));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr when loading succeeds');
  assertLoaded(r, envFile);
});

test('sh (dash): eval "$(tvault env)" loads every hostile value exactly (the shell format is POSIX)', (t) => {
  if (!requireCommand(t, 'dash')) return;
  const envFile = join(v.dir, 'dash.env0');
  const script = ['out="$(tvault env)" || exit 91', 'eval "$out"', readBack(names()), `env -0 > ${envFile}`].join('\n');
  const r = spawnSync('dash', ['-c', script], { env: { ...baseEnv(), ...shellEnv(v) }, cwd: v.dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assertLoaded({ stdout: r.stdout }, envFile);
});

test('zsh: options that change quoting (rc_quotes, csh_junkie_quotes, sh_word_split) do not change what loads', (t) => {
  if (!requireCommand(t, 'zsh')) return;
  const envFile = join(v.dir, 'zsh-opts.env0');
  const script = [
    'setopt rc_quotes csh_junkie_quotes sh_word_split ksh_arrays no_multibyte',
    'eval "$(tvault hook zsh 2>/dev/null)" || exit 90',
    'tvault_load || exit 91',
    'setopt no_csh_junkie_quotes',
    readBack(names()),
    `env -0 > ${envFile}`,
  ].join('\n');
  const r = runShell('zsh', script, shellEnv(v));
  assert.equal(r.code, 0, r.stderr);
  assertLoaded(r, envFile);
});

test('with an agent running, tvault_load needs no passphrase and no terminal, and loads every value exactly (bash, zsh, fish)', async (t) => {
  const shells = ['bash', 'zsh', 'fish'].filter((s) => requireCommand(t, s));
  if (shells.length < 3) return;
  await startAgent(t, v); // stopped when this test ends, before the "nothing can unlock" tests
  for (const shell of shells) {
    const envFile = join(v.dir, `agent-${shell}.env0`);
    const install = shell === 'fish' ? 'tvault hook fish 2>/dev/null | source; or exit 90' : `eval "$(tvault hook ${shell} 2>/dev/null)" || exit 90`;
    const script = [install, shell === 'fish' ? 'tvault_load; or exit 91' : 'tvault_load || exit 91', readBack(names()), `env -0 > ${envFile}`].join('\n');
    const r = runShell(shell, script, shellEnv(v), { noTty: true, unset: ['TVAULT_PASSPHRASE', 'TVAULT_NO_AGENT'] });
    assert.equal(r.code, 0, `${shell}: ${r.stderr}`);
    assertLoaded(r, envFile);
  }
});

/** A new empty directory inside the test dir. */
function freshDir() {
  const cwd = join(v.dir, 'projects-' + Math.random().toString(36).slice(2));
  mkdirSync(cwd);
  return cwd;
}

before(() => {
  for (const args of [
    ['projects', 'create', 'other'],
    ['set', 'ONLY_IN_OTHER', '--stdin', '-p', 'other'],
  ]) {
    const r = v.run(args, { input: "other's value" });
    assert.equal(r.code, 0, r.stderr);
  }
});

for (const shell of ['bash', 'zsh', 'fish']) {
  test(`${shell}: tvault_load PROJECT loads that project; without one, an allowed tvault.toml chooses`, (t) => {
    if (!requireCommand(t, shell)) return;
    const end = shell === 'fish' ? '; or exit 91' : ' || exit 91';
    const install = shell === 'fish' ? 'tvault hook fish 2>/dev/null | source' : `eval "$(tvault hook ${shell} 2>/dev/null)"`;
    const show = `printf '[%s]' "$ONLY_IN_OTHER"`;
    const named = runShell(shell, [install, `tvault_load other${end}`, show].join('\n'), shellEnv(v));
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stdout, "[other's value]");

    const cwd = freshDir();
    writeFileSync(join(cwd, 'tvault.toml'), 'project = "other"\n');
    const unallowed = runShell(shell, [install, `tvault_load${end}`, show].join('\n'), shellEnv(v), { cwd });
    assert.equal(unallowed.code, 91);
    assert.match(unallowed.stderr, /tvault\.toml is not allowed .*run: tvault allow /);
    assert.equal(unallowed.stderr.trim().split('\n').length, 1, unallowed.stderr);

    assert.equal(v.run(['allow', join(cwd, 'tvault.toml')]).code, 0);
    const allowed = runShell(shell, [install, `tvault_load${end}`, show].join('\n'), shellEnv(v), { cwd });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(allowed.stdout, "[other's value]");
  });

  test(`${shell}: when nothing can unlock, tvault_load prints one line, fails, and changes nothing`, (t) => {
    if (!requireCommand(t, shell)) return;
    const fish = shell === 'fish';
    const script = fish
      ? [
          'set -gx SINGLE_QUOTES old',
          'set -e SEMICOLON',
          'tvault hook fish 2>/dev/null | source',
          'tvault_load',
          'set st $status',
          'printf "status=%s\\n" $st',
          'printf "SINGLE_QUOTES=%s\\n" "$SINGLE_QUOTES"',
          'set -q SEMICOLON; and echo SEMICOLON=set; or echo SEMICOLON=unset',
        ].join('\n')
      : [
          'export SINGLE_QUOTES=old',
          'unset SEMICOLON',
          `eval "$(tvault hook ${shell} 2>/dev/null)"`,
          'tvault_load',
          'st=$?',
          'printf "status=%s\\n" "$st"',
          'printf "SINGLE_QUOTES=%s\\n" "$SINGLE_QUOTES"',
          'printf "SEMICOLON=%s\\n" "${SEMICOLON-unset}"',
        ].join('\n');
    // No passphrase, no agent (none runs), no terminal (setsid): nothing can unlock.
    const r = runShell(shell, script, shellEnv(v), { noTty: true, unset: ['TVAULT_PASSPHRASE', 'TVAULT_NO_AGENT'] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'status=3\nSINGLE_QUOTES=old\nSEMICOLON=unset\n');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `want one line on stderr, got: ${r.stderr}`);
    assert.match(lines[0], /^tvault: the vault is locked and nothing can unlock it/);
  });

  test(`${shell}: tvault_load with two arguments is a usage error`, (t) => {
    if (!requireCommand(t, shell)) return;
    const install = shell === 'fish' ? 'tvault hook fish 2>/dev/null | source' : `eval "$(tvault hook ${shell} 2>/dev/null)"`;
    const r = runShell(shell, [install, 'tvault_load a b', shell === 'fish' ? 'echo "status=$status"' : 'echo "status=$?"'].join('\n'), shellEnv(v));
    assert.equal(r.stdout, 'status=2\n');
    assert.equal(r.stderr, 'usage: tvault_load [project]\n');
  });
}

/** A direnv setup in the test dir: direnvrc holds the hook, DIR/.envrc says `use tvault ARGS`, allowed. */
function direnvProject(env, envrc) {
  const dir = join(v.dir, 'direnv-' + Math.random().toString(36).slice(2));
  mkdirSync(dir);
  mkdirSync(join(env.XDG_CONFIG_HOME, 'direnv'), { recursive: true });
  const hook = spawnSync('tvault', ['hook', 'direnv'], { env: { ...baseEnv(), ...env }, encoding: 'utf8' });
  assert.equal(hook.status, 0, hook.stderr);
  writeFileSync(join(env.XDG_CONFIG_HOME, 'direnv', 'direnvrc'), hook.stdout);
  writeFileSync(join(dir, '.envrc'), envrc);
  const allow = spawnSync('direnv', ['allow', dir], { env: { ...baseEnv(), ...env }, encoding: 'utf8' });
  assert.equal(allow.status, 0, allow.stderr);
  return dir;
}

test('direnv: `use tvault` loads every hostile value exactly (direnv exec, and direnv export bash evaluated by bash)', (t) => {
  if (!requireCommand(t, 'direnv') || !requireCommand(t, 'bash')) return;
  const env = { ...baseEnv(), ...shellEnv(v) };
  const dir = direnvProject(env, 'use tvault\n');

  const envFile = join(v.dir, 'direnv-exec.env0');
  const script = [readBack(names()), `env -0 > ${envFile}`].join('\n');
  const exec = spawnSync('direnv', ['exec', dir, 'bash', '--norc', '-c', script], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(exec.status, 0, exec.stderr);
  assertLoaded({ stdout: exec.stdout }, envFile);

  const envFile2 = join(v.dir, 'direnv-export.env0');
  const viaExport = spawnSync('bash', ['--norc', '--noprofile', '-c', ['eval "$(direnv export bash)"', script.replace(envFile, envFile2)].join('\n')], {
    env,
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(viaExport.status, 0, viaExport.stderr);
  assertLoaded({ stdout: viaExport.stdout }, envFile2);
});

test('direnv: `use tvault PROJECT` loads that project', (t) => {
  if (!requireCommand(t, 'direnv')) return;
  const env = { ...baseEnv(), ...shellEnv(v) };
  const dir = direnvProject(env, 'use tvault other\n');
  const r = spawnSync('direnv', ['exec', dir, 'sh', '-c', 'printf "[%s]" "$ONLY_IN_OTHER"'], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "[other's value]");
});

test('direnv: when nothing can unlock, `use tvault` loads nothing and says so in one line', (t) => {
  if (!requireCommand(t, 'direnv')) return;
  const env = { ...baseEnv(), ...shellEnv(v), SINGLE_QUOTES: 'old' };
  delete env.TVAULT_PASSPHRASE;
  delete env.TVAULT_NO_AGENT;
  const dir = direnvProject(env, 'use tvault\n');
  const r = spawnSync('setsid', ['-w', 'direnv', 'exec', dir, 'sh', '-c', 'printf "%s|%s" "$SINGLE_QUOTES" "${SEMICOLON-unset}"'], { env, encoding: 'utf8' });
  assert.equal(r.stdout, 'old|unset');
  const ours = r.stderr.split('\n').filter((l) => l.startsWith('tvault:'));
  assert.equal(ours.length, 1, r.stderr);
  assert.match(ours[0], /the vault is locked and nothing can unlock it/);
});
