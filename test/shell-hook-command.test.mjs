// `tvault hook SHELL`: the four snippets (case-insensitive), each valid in its shell, none
// depending on the vault; the install hint on stderr; anything else a usage error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, assertOneLineError, baseEnv, makeVault, requireCommand, tempDir, tvault } from './helpers.mjs';

const INSTALL = {
  bash: 'eval "$(tvault hook bash)"',
  zsh: 'eval "$(tvault hook zsh)"',
  fish: 'tvault hook fish | source',
  direnv: 'tvault hook direnv >> ~/.config/direnv/direnvrc',
};
const DEFINES = { bash: /^tvault_load\(\) \{$/m, zsh: /^tvault_load\(\) \{$/m, fish: /^function tvault_load /m, direnv: /^use_tvault\(\) \{$/m };

const scratch = tempDir();
after(scratch.cleanup);

/** Runs `tvault hook NAME` with stdout going to a file (as `>> direnvrc` does). */
function hookToFile(name, env = {}) {
  const out = join(scratch.dir, `hook-${name}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(process.execPath, [BIN, 'hook', name], { env: baseEnv(env), stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
    return { code: r.status, stdout: readFileSync(out, 'utf8'), stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

for (const shell of Object.keys(INSTALL)) {
  test(`hook ${shell}: the snippet on stdout, the install line on stderr; any case works`, () => {
    const r = hookToFile(shell);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, DEFINES[shell]);
    assert.match(r.stdout, shell === 'fish' ? /env --format fish/ : /command tvault env --format shell/);
    assert.equal(r.stderr.split('\n').length, 2, `one line of hint: ${r.stderr}`);
    assert.ok(r.stderr.startsWith('# tvault: ') && r.stderr.includes(INSTALL[shell]), r.stderr);
    assert.equal(hookToFile(shell.toUpperCase()).stdout, r.stdout);
    assert.equal(hookToFile(shell[0].toUpperCase() + shell.slice(1)).stdout, r.stdout);
  });
}

test('hook: with stdout and stderr both captured (a script, CI) the hint is on stderr', () => {
  const r = tvault(['hook', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n').length, 2, `one line of hint: ${r.stderr}`);
  assert.ok(r.stderr.startsWith('# tvault: ') && r.stderr.includes(INSTALL.bash), r.stderr);
  assert.match(r.stdout, DEFINES.bash);
});

test('hook: evaluated at a shell start in a terminal (eval "$(tvault hook bash)", stderr a TTY), no hint is printed', (t) => {
  if (!requireCommand(t, 'script')) return;
  const rc = join(scratch.dir, `rc-${Math.random().toString(36).slice(2)}`);
  writeFileSync(rc, `eval "$("${process.execPath}" "${BIN}" hook bash)"\ntype tvault_load >/dev/null && echo LOADED\n`);
  const r = spawnSync('script', ['-qec', `exec bash --norc --noprofile ${rc}`, '/dev/null'], { env: baseEnv(), encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /LOADED/);
  assert.doesNotMatch(r.stdout, /# tvault:/);
});

test('hook: an unknown or missing shell is a usage error listing the four', () => {
  for (const args of [['hook', 'tcsh'], ['hook', 'powershell'], ['hook', ''], ['hook']]) {
    const r = tvault(args);
    assertOneLineError(assert, r, 2, /use one of: bash, zsh, fish, direnv/);
    assert.equal(r.stdout, '');
  }
  assert.match(tvault(['hook', 'tcsh']).stderr, /unknown shell 'tcsh'/);
});

test('hook: the snippet holds no secret and does not depend on the vault (it needs none, and no unlock)', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'SECRET', '--stdin'], { input: 'hunter2-value' }).code, 0);
  for (const shell of Object.keys(INSTALL)) {
    const withVault = v.run(['hook', shell]);
    const noVault = tvault(['hook', shell], { env: { TVAULT_DIR: join(scratch.dir, 'none') } });
    assert.equal(withVault.code, 0, withVault.stderr);
    assert.equal(noVault.code, 0, noVault.stderr);
    assert.equal(withVault.stdout, noVault.stdout);
    assert.doesNotMatch(withVault.stdout, /hunter2/);
  }
});

for (const [shell, check] of [
  ['bash', ['bash', '-n']],
  ['zsh', ['zsh', '-n']],
  ['fish', ['fish', '--no-execute']],
  ['direnv', ['bash', '-n']],
]) {
  test(`hook ${shell}: the snippet parses in ${check[0]}`, (t) => {
    if (!requireCommand(t, check[0])) return;
    const file = join(scratch.dir, `snippet.${shell}`);
    const r = hookToFile(shell);
    writeFileSync(file, r.stdout);
    const p = spawnSync(check[0], [...check.slice(1), file], { encoding: 'utf8', env: baseEnv({ HOME: scratch.dir }) });
    assert.equal(p.status, 0, p.stderr);
  });
}
