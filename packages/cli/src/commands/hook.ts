// `tvault hook SHELL`: print the shell integration snippet (hooks.ts) on stdout.
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Y } from './argv';
import { usageError } from '@tvault/core';
import { HOOKS, HOOK_SHELLS, type HookShell } from '../hooks';

export function hookOptions(y: Y): Y {
  return y
    .positional('shell', { type: 'string', describe: HOOK_SHELLS.join(', ') })
    .example('eval "$(tvault hook bash)"', 'in ~/.bashrc')
    .example('eval "$(tvault hook zsh)"', 'in ~/.zshrc')
    .example('tvault hook fish | source', 'in ~/.config/fish/config.fish')
    .example('tvault hook direnv >> ~/.config/direnv/direnvrc', 'then `use tvault` in an .envrc');
}

/**
 * The snippet is being evaluated at a shell's start: `eval "$(tvault hook bash)"` or
 * `tvault hook fish | source` in an rc file, with stdout a pipe and stderr the terminal. The
 * install hint would be printed at every new shell there, so it is left out. Anywhere else (a
 * terminal, `>> direnvrc`, a script capturing both streams) it is printed on stderr.
 */
function evaluatedAtShellStart(): boolean {
  try {
    const st = fstatSync(1);
    return (st.isFIFO() || st.isSocket()) && isatty(2);
  } catch {
    return false;
  }
}

export function hookCommand(a: { shell?: string }): void {
  const shell = (a.shell ?? '').toLowerCase() as HookShell;
  if (!HOOK_SHELLS.includes(shell)) {
    const given = a.shell === undefined ? 'no shell given' : `unknown shell '${a.shell}'`;
    throw usageError(`${given}; use one of: ${HOOK_SHELLS.join(', ')} (e.g. tvault hook bash)`);
  }
  const { snippet, install } = HOOKS[shell];
  process.stdout.write(snippet);
  if (!evaluatedAtShellStart()) process.stderr.write(`# tvault: ${install}\n`);
}
