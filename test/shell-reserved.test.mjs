// Every variable name a shell treats specially is either refused by tvault (core/src/dangerous-names.ts,
// or the format's reserved list in core/src/env-format.ts) or loads like any other: exactly, and without
// running the `a[$(touch CANARY)]` payload that arithmetic assignment would run. The names come
// from the installed shells themselves, so a new shell version with a new special variable
// fails here until the lists are updated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, makeVault, requireCommand } from './helpers.mjs';
import { sha256, shellEnv } from './shell-fixtures.mjs';

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Special in bash but unset in a bare shell, so `compgen -v` does not list them (bash manual, "Shell Variables").
const BASH_MANUAL = `BASH_COMPAT BASH_ENV BASH_XTRACEFD CDPATH CHILD_MAX COLUMNS COMP_CWORD COMP_KEY COMP_LINE COMP_POINT COMP_TYPE
  COMP_WORDS COMPREPLY COPROC EMACS ENV EXECIGNORE FCEDIT FIGNORE FUNCNAME FUNCNEST GLOBIGNORE HISTCONTROL HISTFILESIZE HISTIGNORE
  HISTSIZE HISTTIMEFORMAT HOSTFILE IGNOREEOF INPUTRC INSIDE_EMACS LANG LC_ALL LC_COLLATE LC_CTYPE LC_MESSAGES LC_NUMERIC LC_TIME LINES
  MAIL MAILPATH MAPFILE OLDPWD OPTARG POSIXLY_CORRECT PROMPT_COMMAND PROMPT_DIRTRIM PS0 PS3 READLINE_ARGUMENT READLINE_LINE READLINE_MARK
  READLINE_POINT REPLY TIMEFORMAT TMOUT TMPDIR auto_resume histchars`.split(/\s+/);

function lines(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { env: { HOME: '/nonexistent', ...env }, encoding: 'utf8', input: '' });
  return r.stdout.split('\n').filter((n) => KEY.test(n));
}

/** A vault holding NAME = payload for every name (one import), and tvault's verdict on each. */
function vaultForNames(t, names, format) {
  const v = makeVault(t);
  const canary = join(v.dir, 'CANARY');
  const payload = `a[$(touch ${canary})]x`;
  const file = join(v.dir, 'names.env');
  writeFileSync(file, names.map((n) => `${n}='${payload}'`).join('\n') + '\n');
  const imp = v.run(['import', file]);
  assert.equal(imp.code, 0, imp.stderr);
  // tvault names every refused name in its one-line error: first the dangerous ones, then, with
  // those allowed, the ones this format reserves.
  const dangerous = /refusing to inject ([A-Za-z0-9_, ]+):/.exec(v.run(['env', '--format', format]).stderr)?.[1].split(', ') ?? [];
  const res = v.run(['env', '--format', format, '--allow-dangerous', dangerous.join(',')]);
  const reserved = /^tvault: ([A-Za-z0-9_, ]+) cannot be loaded into/.exec(res.stderr)?.[1].split(', ') ?? [];
  const loadable = names.filter((n) => !dangerous.includes(n) && !reserved.includes(n));
  return { v, canary, payload, loadable, refused: names.length - loadable.length };
}

function checkShell(t, argvFor, names, format) {
  const { v, canary, payload, loadable, refused } = vaultForNames(t, names, format);
  assert.ok(refused > 0 && loadable.length > 0, `${refused} refused, ${loadable.length} loadable`);
  const out = v.run(['env', '--format', format, '--only', loadable.join(',')]);
  assert.equal(out.code, 0, out.stderr);
  const file = join(v.dir, 'load.sh');
  writeFileSync(file, out.stdout);
  const readBack = loadable.map((n) => `printf '%s ' ${n}; printf '%s' "$${n}" | sha256sum`).join('\n');
  for (const argv of argvFor(`source ${file}\n${readBack}`)) {
    const r = spawnSync(argv[0], argv.slice(1), { env: { ...baseEnv(), ...shellEnv(v) }, encoding: 'utf8', input: '', cwd: v.dir });
    const got = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)),
    );
    const wrong = loadable.filter((n) => got[n] !== sha256(payload));
    assert.deepEqual(wrong, [], `${argv.slice(0, 2).join(' ')}: these names load differently; refuse them for ${format}`);
    assert.equal(existsSync(canary), false, `${argv.slice(0, 2).join(' ')}: assigning a special variable ran the payload`);
  }
}

test('bash and zsh: every special name is refused by the shell format or loads exactly, running nothing', (t) => {
  if (!requireCommand(t, 'bash') || !requireCommand(t, 'zsh')) return;
  const names = new Set([
    ...lines('bash', ['--norc', '--noprofile', '-c', 'compgen -v']),
    ...lines('bash', ['--norc', '--noprofile', '-i', '-c', 'compgen -v']),
    ...lines('zsh', ['-f', '-c', 'print -l ${(k)parameters}']),
    ...lines('zsh', ['-f', '-i', '-c', 'print -l ${(k)parameters}']),
    ...BASH_MANUAL,
  ]);
  checkShell(
    t,
    (script) => [
      ['bash', '--norc', '--noprofile', '-c', script],
      ['bash', '--norc', '--noprofile', '-i', '-c', script],
      ['zsh', '-f', '-c', script],
      ['zsh', '-f', '-i', '-c', script],
    ],
    [...names],
    'shell',
  );
});

test('fish: every special name is refused by the fish format or loads exactly', (t) => {
  if (!requireCommand(t, 'fish')) return;
  const names = lines('fish', ['--no-config', '-c', 'set -n']);
  checkShell(
    t,
    (script) => [
      ['fish', '--no-config', '-c', script],
      ['fish', '--no-config', '-i', '-c', script],
    ],
    names,
    'fish',
  );
});
