// `tvault completion bash|zsh|fish`: tab completion. The scripts are small glue: at every TAB
// they ask `tvault --get-yargs-completions WORDS...`, and yargs answers from the same command
// definitions that parse the command line (commands, subcommands, options, choices), so the
// completion can never drift from the CLI. complete() below adds project and key names, only
// while an agent is running unlocked (the user is in a session): names, never values, read
// from vault.db as `tvault list` reads them; it never prompts and never unlocks.
import type { Y } from './argv';
import { usageError } from '@tvault/core';
import { agentRequest } from '../agent-client';
import { type GlobalArgs, Session } from '../session';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof COMPLETION_SHELLS)[number];

// SHELL=sh: yargs formats its answer as zsh's `name:description` when $SHELL names zsh; these
// scripts read plain names, one a line.
const SCRIPTS: Record<Shell, string> = {
  bash: `# tvault completion for bash: eval "$(tvault completion bash)" in ~/.bashrc
_tvault_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(compgen -W "$(SHELL=sh command tvault --get-yargs-completions "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _tvault_complete tvault
`,
  zsh: `#compdef tvault
# tvault completion for zsh: eval "$(tvault completion zsh)" in ~/.zshrc, after compinit
_tvault() {
  local -a reply
  reply=(\${(f)"$(SHELL=sh command tvault --get-yargs-completions "\${(@)words[1,CURRENT]}" 2>/dev/null)"})
  compadd -a reply
}
compdef _tvault tvault
`,
  fish: `# tvault completion for fish: tvault completion fish > ~/.config/fish/completions/tvault.fish
function __tvault_complete
    env SHELL=sh tvault --get-yargs-completions (commandline -opc) (commandline -ct) 2>/dev/null
end
complete -c tvault -f -a '(__tvault_complete)'
`,
};

export const INSTALL: Record<Shell, string> = {
  bash: 'add to ~/.bashrc: eval "$(tvault completion bash)"',
  zsh: 'add to ~/.zshrc, after compinit: eval "$(tvault completion zsh)"',
  fish: 'run: tvault completion fish > ~/.config/fish/completions/tvault.fish',
};

export function completionOptions(y: Y): Y {
  return y
    .positional('shell', { type: 'string', choices: COMPLETION_SHELLS, describe: 'the shell to complete in' })
    .example('eval "$(tvault completion bash)"', 'in ~/.bashrc')
    .example('eval "$(tvault completion zsh)"', 'in ~/.zshrc, after compinit')
    .example('tvault completion fish > ~/.config/fish/completions/tvault.fish', '');
}

export function completionCommand(a: { shell?: string }): void {
  const shell = a.shell as Shell | undefined;
  if (!shell || !COMPLETION_SHELLS.includes(shell)) throw usageError(`give a shell: ${COMPLETION_SHELLS.join(', ')} (e.g. tvault completion bash)`);
  process.stdout.write(SCRIPTS[shell]);
}

/** The commands whose first positional is a key name, and those whose is a project name. */
const KEY_FIRST = new Set(['get', 'set', 'delete', 'rm', 'history', 'rollback']);
const PROJECT_FIRST = new Set(['use', 'projects delete', 'projects use']);

type Done = (names: string[]) => void;
type Fallback = (done: (err: Error | null, completions: string[]) => void) => void;

/**
 * yargs' completion hook. `current` is the word under the cursor; the words before it come
 * from the command line after --get-yargs-completions (yargs' argv would not say which word
 * precedes the cursor).
 */
export function complete(current: string, argv: GlobalArgs, fallback: Fallback, done: Done): void {
  const key = '--get-yargs-completions';
  const words = process.argv.slice(process.argv.indexOf(key) + 2, -1); // after the program name, before `current`
  const names = nameKind(words, current);
  if (names) return done(namesFor(names, argv).filter((n) => n.startsWith(current)));
  fallback((err, completions) => done(err ? [] : tidy(completions ?? [])));
}

/** Which names the word under the cursor is, if any. */
function nameKind(words: string[], current: string): 'keys' | 'projects' | null {
  if (current.startsWith('-')) return null;
  const prev = words[words.length - 1];
  if (prev === '-p' || prev === '--project') return 'projects';
  const positional = words.filter((w, i) => !w.startsWith('-') && words[i - 1] !== '-p' && words[i - 1] !== '--project' && words[i - 1] !== '--vault');
  if (positional.length === 1 && KEY_FIRST.has(positional[0])) return 'keys';
  if (PROJECT_FIRST.has(positional.join(' '))) return 'projects';
  return null;
}

/** Project or key names, only while an unlocked agent serves this vault; [] on any doubt. */
function namesFor(kind: 'keys' | 'projects', argv: GlobalArgs): string[] {
  try {
    const s = new Session({ vault: argv.vault, project: argv.project || undefined });
    const status = agentRequest(s.dir, { op: 'status', project: null }, 500);
    if (!status?.ok || (status as { unlocked?: boolean }).unlocked !== true) return [];
    const vault = s.openVault();
    try {
      if (kind === 'projects') return vault.listProjects().map((p) => p.name);
      return vault.list(s.project(vault)).map((r) => r.name);
    } finally {
      vault.close();
    }
  } catch {
    return [];
  }
}

/**
 * One-letter aliases (-p, -f, -h; yargs offers them as `--p` after `--`) are left out: the long
 * names say what they are, and yargs lists an alias even where it hides the option itself.
 */
function tidy(completions: string[]): string[] {
  return completions.filter((c) => !/^--?.$/.test(c) && !c.startsWith('__'));
}
