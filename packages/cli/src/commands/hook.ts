// `tvault hook SHELL`: print the shell integration snippet (hooks.ts) on stdout.
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Y } from './argv';
import { TvaultError, usageError } from '@tvault/core';
import { AUTO, HOOKS, HOOK_SHELLS, type HookShell, autoNamesLine } from '../hooks';
import { formatEnv } from '@tvault/core/env-format';
import { type GlobalArgs, Session } from '../session';

export function hookOptions(y: Y): Y {
  return y
    .positional('shell', { type: 'string', describe: HOOK_SHELLS.join(', ') })
    .option('auto', { type: 'boolean', describe: "also load an allowed tvault.toml's project on cd into its tree, and unload it on leaving (bash, zsh, fish)" })
    .option('load', { type: 'boolean', hidden: true, describe: 'what --auto runs on entering a tree: the exports and the names they set' })
    .example('eval "$(tvault hook zsh --auto)"', 'in ~/.zshrc: tvault_load, and auto-load on cd')
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

export async function hookCommand(a: GlobalArgs & { shell?: string; auto?: boolean; load?: boolean }): Promise<void> {
  const shell = (a.shell ?? '').toLowerCase() as HookShell;
  if (!HOOK_SHELLS.includes(shell)) {
    const given = a.shell === undefined ? 'no shell given' : `unknown shell '${a.shell}'`;
    throw usageError(`${given}; use one of: ${HOOK_SHELLS.join(', ')} (e.g. tvault hook bash)`);
  }
  const auto = AUTO[shell];
  if ((a.auto || a.load) && !auto) throw usageError(`--auto is for bash, zsh and fish; direnv loads on cd by itself (use tvault in an .envrc)`);
  if (a.load) return load(a, shell);
  const { snippet, install } = HOOKS[shell];
  process.stdout.write(a.auto ? snippet + auto : snippet);
  if (!evaluatedAtShellStart()) process.stderr.write(`# tvault: ${install.replace(`hook ${shell}`, `hook ${shell}${a.auto ? ' --auto' : ''}`)}\n`);
}

/**
 * `hook SHELL --load`, run by the auto-load snippet on entering a tree: what `tvault env` prints
 * for the shell (agent first, the allowed tvault.toml's project), then the names it set.
 * Rendered in full before anything is written: a refusal prints nothing on stdout.
 */
async function load(a: GlobalArgs, shell: HookShell): Promise<void> {
  // Only for an allowed tvault.toml: one that tvault ignores (another user's /tmp/tvault.toml)
  // must not load the current project into every shell that enters /tmp.
  const s = new Session({ ...a, project: undefined });
  if (!s.projectConfig()) throw new TvaultError('no usable tvault.toml here: nothing to load');
  const { secrets } = await s.readSecrets({});
  const text = formatEnv(secrets, shell === 'fish' ? 'fish' : 'shell');
  process.stdout.write(
    text +
      autoNamesLine(
        shell,
        secrets.map((x) => x.name),
      ),
  );
}
