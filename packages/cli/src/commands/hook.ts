// `tvault hook SHELL`: print the shell integration snippet (hooks.ts) on stdout.
import { fstatSync } from 'node:fs';
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
 * True when stdout is a pipe: the snippet is being evaluated (`eval "$(tvault hook bash)"`,
 * `tvault hook fish | source`) at every shell start, where an install hint would be noise.
 */
function stdoutIsPipe(): boolean {
  try {
    const st = fstatSync(1);
    return st.isFIFO() || st.isSocket();
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
  if (!stdoutIsPipe()) process.stderr.write(`# tvault: ${install}\n`);
}
