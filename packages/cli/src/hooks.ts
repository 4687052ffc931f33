// The shell integration snippets printed by `tvault hook SHELL`.
// Rules every snippet keeps (see docs/SECURITY.md):
// - no secret value is ever part of this text: the function asks `tvault env` when it runs;
// - tvault's whole output is captured first and evaluated only if tvault succeeded, so a
//   failure (locked vault, unallowed tvault.toml) leaves the shell exactly as it was; tvault
//   itself prints the one-line reason on stderr and the function returns its exit status;
// - `command tvault` finds the tvault on PATH, never a function or alias of that name;
// - --project is passed only when the user named a project, as --project=NAME so that a name
//   starting with '-' cannot become an option;
// - the one local variable is named TVAULT_*, a prefix `tvault env` never emits, so a secret
//   cannot land in it instead of the environment.

export const HOOK_SHELLS = ['bash', 'zsh', 'fish', 'direnv'] as const;
export type HookShell = (typeof HOOK_SHELLS)[number];

const BASH = `# tvault shell integration for bash: tvault_load [project]
tvault_load() {
  if [ "$#" -gt 1 ]; then
    printf '%s\\n' 'usage: tvault_load [project]' >&2
    return 2
  fi
  local TVAULT_LOAD_OUTPUT
  if [ "$#" -eq 1 ]; then
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell --project="$1")" || return
  else
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell)" || return
  fi
  eval "$TVAULT_LOAD_OUTPUT"
}
`;

// emulate -L: the user's zsh options (rc_quotes, csh_junkie_quotes, ...) must not change how
// the output is read; the options come back when the function returns. export is global.
const ZSH = `# tvault shell integration for zsh: tvault_load [project]
tvault_load() {
  emulate -L zsh
  if (( $# > 1 )); then
    print -ru2 -- 'usage: tvault_load [project]'
    return 2
  fi
  local TVAULT_LOAD_OUTPUT
  if (( $# == 1 )); then
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell --project="$1")" || return
  else
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell)" || return
  fi
  eval "$TVAULT_LOAD_OUTPUT"
}
`;

// fish splits a command substitution into one element per line; joining them with newlines
// gives the output back exactly (its last newline aside, which carries nothing).
const FISH = `# tvault shell integration for fish: tvault_load [project]
function tvault_load --description 'Load the secrets of a tvault project into this shell'
    if set -q argv[2]
        echo 'usage: tvault_load [project]' >&2
        return 2
    end
    set -l TVAULT_LOAD_ARGS env --format fish
    if set -q argv[1]
        set -a TVAULT_LOAD_ARGS --project=$argv[1]
    end
    set -l TVAULT_LOAD_OUTPUT (command tvault $TVAULT_LOAD_ARGS)
    or return
    string join \\n -- $TVAULT_LOAD_OUTPUT | source
end
`;

// direnv evaluates .envrc in bash and exports what changed to the user's shell itself.
const DIRENV = `# tvault integration for direnv: \`use tvault [project]\` in an .envrc
use_tvault() {
  if [[ $# -gt 1 ]]; then
    log_error 'usage: use tvault [project]'
    return 2
  fi
  local TVAULT_LOAD_OUTPUT
  if [[ $# -eq 1 ]]; then
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell --project="$1")" || return
  else
    TVAULT_LOAD_OUTPUT="$(command tvault env --format shell)" || return
  fi
  eval "$TVAULT_LOAD_OUTPUT"
}
`;

export const HOOKS: Record<HookShell, { snippet: string; install: string }> = {
  bash: { snippet: BASH, install: 'add to ~/.bashrc: eval "$(tvault hook bash)"' },
  zsh: { snippet: ZSH, install: 'add to ~/.zshrc: eval "$(tvault hook zsh)"' },
  fish: { snippet: FISH, install: 'add to ~/.config/fish/config.fish: tvault hook fish | source' },
  direnv: { snippet: DIRENV, install: "run: tvault hook direnv >> ~/.config/direnv/direnvrc, then write 'use tvault' in an .envrc" },
};
