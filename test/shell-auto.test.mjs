// `tvault hook SHELL --auto` in real bash (interactive: PROMPT_COMMAND), zsh (chpwd) and fish
// (PWD event): entering the tree of an allowed tvault.toml loads its project, moving inside
// the tree or pressing enter starts nothing, leaving unloads it; an unallowed file loads
// nothing and is reported once. A logging `tvault` first on PATH counts every start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault, requireCommand } from './helpers.mjs';
import { AGENT_ONLY, startAgent } from './agent-helpers.mjs';

const VALUE = `it's "app"\nsecond line $HOME`;
let v;
let paths;
before(() => {
  v = makeVault(null);
  assert.equal(v.run(['set', 'DEFAULT_KEY', '--stdin'], { input: 'from-default' }).code, 0);
  assert.equal(v.run(['projects', 'create', 'app']).code, 0);
  assert.equal(v.run(['set', 'APP_KEY', '--stdin', '-p', 'app'], { input: VALUE }).code, 0);
  assert.equal(v.run(['set', 'APP_OTHER', '--stdin', '-p', 'app'], { input: 'other' }).code, 0);
  const repo = join(v.dir, 'repo');
  const unallowed = join(v.dir, 'unallowed');
  const outside = join(v.dir, 'outside');
  for (const d of [join(repo, 'sub', 'deeper'), unallowed, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(repo, 'tvault.toml'), 'project = "app"\n');
  writeFileSync(join(unallowed, 'tvault.toml'), 'project = "app"\n');
  assert.equal(v.run(['allow', join(repo, 'tvault.toml')]).code, 0);
  // A tvault that notes each start, then runs the real one.
  const bin = join(v.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'tvault'), `#!/bin/sh\necho "$*" >> "$HOOK_LOG"\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(join(bin, 'tvault'), 0o755);
  paths = { repo, unallowed, outside, bin };
});
after(() => v?.cleanup());

const show = (tag) => `echo "${tag}:\${APP_KEY-unset}|\${APP_OTHER-unset}|\${DEFAULT_KEY-unset}"`;
const STEPS = (p) => [
  ['cd', p.outside],
  ['show', 'out'],
  ['cd', join(p.repo, 'sub')],
  ['show', 'in'],
  ['cd', join(p.repo, 'sub', 'deeper')],
  ['cd', p.repo],
  ['show', 'still'],
  ['cd', p.outside],
  ['show', 'left'],
  ['cd', p.unallowed],
  ['cd', p.unallowed],
  ['show', 'unallowed'],
];

/** The script for each shell; bash reads it interactively, one line per prompt. */
const RUN = {
  bash: (steps) => ({
    cmd: 'bash',
    args: ['--norc', '--noprofile', '-i'],
    input: ['eval "$(tvault hook bash --auto)"', ...steps.map(([k, x]) => (k === 'cd' ? `cd '${x}'` : show(x))), ''].join('\n'),
  }),
  zsh: (steps) => ({
    cmd: 'zsh',
    args: ['-f', '-c', ['eval "$(tvault hook zsh --auto)"', ...steps.map(([k, x]) => (k === 'cd' ? `cd '${x}'` : show(x)))].join('\n')],
  }),
  fish: (steps) => ({
    cmd: 'fish',
    args: [
      '--no-config',
      '-c',
      [
        'tvault hook fish --auto | source',
        ...steps.map(([k, x]) =>
          k === 'cd'
            ? `cd '${x}'`
            : `begin; set -l a unset; set -q APP_KEY; and set a "$APP_KEY"; set -l b unset; set -q APP_OTHER; and set b "$APP_OTHER"; set -l c unset; set -q DEFAULT_KEY; and set c "$DEFAULT_KEY"; printf '%s:%s|%s|%s\\n' ${x} "$a" "$b" "$c"; end`,
        ),
      ].join('\n'),
    ],
  }),
};

for (const shell of ['bash', 'zsh', 'fish']) {
  test(`${shell} --auto: loads on entering an allowed tree, starts nothing inside it, unloads on leaving`, async (t) => {
    if (!requireCommand(t, shell)) return;
    await startAgent(t, v);
    const log = join(v.dir, `log-${shell}`);
    writeFileSync(log, '');
    const { cmd, args, input } = RUN[shell](STEPS(paths));
    const r = spawnSync('setsid', ['-w', cmd, ...args], {
      env: { ...baseEnv({ TVAULT_DIR: v.vault, ...AGENT_ONLY }), HOOK_LOG: log, PATH: `${paths.bin}:${process.env.PATH}`, PS1: '$ ', HOME: v.dir },
      input: input ?? '',
      cwd: v.dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const lines = Object.fromEntries(
      r.stdout
        .split(/\n(?=\w+:)/)
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
    );
    assert.equal(lines.out, 'unset|unset|unset', r.stdout + r.stderr);
    assert.equal(lines.in, `${VALUE}|other|unset`, 'the project of the allowed tvault.toml, byte for byte');
    assert.equal(lines.still, `${VALUE}|other|unset`);
    assert.equal(lines.left, 'unset|unset|unset', 'left the tree: unloaded');
    assert.equal(lines.unallowed, 'unset|unset|unset', 'an unallowed file loads nothing');
    assert.equal((r.stderr.match(/is not allowed/g) ?? []).length, 1, `one note for the unallowed file: ${r.stderr}`);
    // Starts: the snippet itself, then one load per tree entered (the allowed one and the
    // unallowed one); moving inside a tree, leaving, and prompts in the same place start nothing.
    const starts = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(starts, [`hook ${shell} --auto`, `hook ${shell} --load`, `hook ${shell} --load`], starts.join('; '));
  });
}

test('--load refuses without an allowed tvault.toml (an ignored or missing one never loads the current project)', () => {
  for (const cwd of [paths.outside, paths.unallowed]) {
    const r = spawnSync(process.execPath, [BIN, 'hook', 'bash', '--load'], { env: baseEnv(v.env), cwd, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no usable tvault\.toml here|is not allowed/);
  }
  assert.match(spawnSync(process.execPath, [BIN, 'hook', 'direnv', '--auto'], { env: baseEnv(), encoding: 'utf8' }).stderr, /direnv loads on cd by itself/);
});
