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

// ---- auto-load: `tvault hook SHELL --auto` ------------------------------------------------
// Appended to the shell's snippet. On a change of directory (bash: at a prompt whose $PWD
// differs from the last one; zsh: chpwd; fish: a change of PWD) the shell itself walks up to
// the nearest tvault.toml, without starting anything. Only when that file differs from the one
// loaded (a new tree entered, or left) does it unset what it had loaded and, for a new file,
// run tvault once: `tvault hook SHELL --load` prints what `tvault env` would, for the allowed
// tvault.toml's project, plus the list of names it set (TVAULT_AUTO_NAMES: key names are
// [A-Za-z_][A-Za-z0-9_]*, safe unquoted). A file tvault refuses (not allowed) is not asked
// about again until the directory tree changes: tvault says why once. The shell variables are
// TVAULT_AUTO_*, a prefix `tvault env` never emits. Leaving unsets the names (it does not
// bring back a value they may have had before).

const BASH_AUTO = `# tvault auto-load for bash: the project of an allowed tvault.toml while you are in its tree
_tvault_auto() {
  [ "$PWD" = "\${TVAULT_AUTO_PWD-}" ] && return 0
  TVAULT_AUTO_PWD=$PWD
  local TVAULT_AUTO_DIR="$PWD" TVAULT_AUTO_FOUND= IFS=$' \\t\\n'
  while :; do
    if [ -f "$TVAULT_AUTO_DIR/tvault.toml" ]; then TVAULT_AUTO_FOUND="$TVAULT_AUTO_DIR/tvault.toml"; break; fi
    [ -z "$TVAULT_AUTO_DIR" ] || [ "$TVAULT_AUTO_DIR" = / ] && break
    TVAULT_AUTO_DIR="\${TVAULT_AUTO_DIR%/*}"
  done
  [ "$TVAULT_AUTO_FOUND" = "\${TVAULT_AUTO_FILE-}" ] && return 0
  [ -n "\${TVAULT_AUTO_NAMES-}" ] && unset -v $TVAULT_AUTO_NAMES
  TVAULT_AUTO_NAMES= TVAULT_AUTO_FILE="$TVAULT_AUTO_FOUND"
  [ -n "$TVAULT_AUTO_FOUND" ] || return 0
  local TVAULT_LOAD_OUTPUT
  TVAULT_LOAD_OUTPUT="$(command tvault hook bash --load)" || return 0
  eval "$TVAULT_LOAD_OUTPUT"
}
case ";\${PROMPT_COMMAND-};" in
  *";_tvault_auto;"*) ;;
  *) PROMPT_COMMAND="_tvault_auto\${PROMPT_COMMAND:+;$PROMPT_COMMAND}" ;;
esac
`;

const ZSH_AUTO = `# tvault auto-load for zsh: the project of an allowed tvault.toml while you are in its tree
_tvault_auto() {
  emulate -L zsh
  [[ $PWD == "\${TVAULT_AUTO_PWD-}" ]] && return 0
  typeset -g TVAULT_AUTO_PWD=$PWD
  local TVAULT_AUTO_DIR=$PWD TVAULT_AUTO_FOUND=
  while true; do
    if [[ -f $TVAULT_AUTO_DIR/tvault.toml ]]; then TVAULT_AUTO_FOUND=$TVAULT_AUTO_DIR/tvault.toml; break; fi
    [[ $TVAULT_AUTO_DIR == / ]] && break
    TVAULT_AUTO_DIR=\${TVAULT_AUTO_DIR:h}
  done
  [[ $TVAULT_AUTO_FOUND == "\${TVAULT_AUTO_FILE-}" ]] && return 0
  [[ -n \${TVAULT_AUTO_NAMES-} ]] && unset -- \${=TVAULT_AUTO_NAMES}
  typeset -g TVAULT_AUTO_NAMES= TVAULT_AUTO_FILE=$TVAULT_AUTO_FOUND
  [[ -n $TVAULT_AUTO_FOUND ]] || return 0
  local TVAULT_LOAD_OUTPUT
  TVAULT_LOAD_OUTPUT="$(command tvault hook zsh --load)" || return 0
  eval "$TVAULT_LOAD_OUTPUT"
}
autoload -Uz add-zsh-hook
add-zsh-hook chpwd _tvault_auto
_tvault_auto
`;

const FISH_AUTO = `# tvault auto-load for fish: the project of an allowed tvault.toml while you are in its tree
function __tvault_auto --on-variable PWD --description 'Load the tvault project of this directory tree'
    set -l TVAULT_AUTO_DIR $PWD
    set -l TVAULT_AUTO_FOUND
    while true
        if test -f "$TVAULT_AUTO_DIR/tvault.toml"
            set TVAULT_AUTO_FOUND "$TVAULT_AUTO_DIR/tvault.toml"
            break
        end
        test "$TVAULT_AUTO_DIR" = / -o -z "$TVAULT_AUTO_DIR"; and break
        set TVAULT_AUTO_DIR (string replace -r '/[^/]*$' '' -- $TVAULT_AUTO_DIR)
        test -z "$TVAULT_AUTO_DIR"; and set TVAULT_AUTO_DIR /
    end
    set -q TVAULT_AUTO_FILE; and test "$TVAULT_AUTO_FOUND" = "$TVAULT_AUTO_FILE"; and return 0
    set -q TVAULT_AUTO_NAMES[1]; and set -e $TVAULT_AUTO_NAMES
    set -g TVAULT_AUTO_NAMES
    set -g TVAULT_AUTO_FILE "$TVAULT_AUTO_FOUND"
    test -n "$TVAULT_AUTO_FOUND"; or return 0
    set -l TVAULT_LOAD_OUTPUT (command tvault hook fish --load)
    or return 0
    string join \\n -- $TVAULT_LOAD_OUTPUT | source
end
__tvault_auto
`;

export const AUTO: Partial<Record<HookShell, string>> = { bash: BASH_AUTO, zsh: ZSH_AUTO, fish: FISH_AUTO };

/** The line after the exports of `hook SHELL --load`: the names it set, for the next unload. */
export function autoNamesLine(shell: HookShell, names: string[]): string {
  return shell === 'fish' ? `set -g TVAULT_AUTO_NAMES ${names.join(' ')}\n` : `TVAULT_AUTO_NAMES='${names.join(' ')}'\n`;
}

export const HOOKS: Record<HookShell, { snippet: string; install: string }> = {
  bash: { snippet: BASH, install: 'add to ~/.bashrc: eval "$(tvault hook bash)"' },
  zsh: { snippet: ZSH, install: 'add to ~/.zshrc: eval "$(tvault hook zsh)"' },
  fish: { snippet: FISH, install: 'add to ~/.config/fish/config.fish: tvault hook fish | source' },
  direnv: { snippet: DIRENV, install: "run: tvault hook direnv >> ~/.config/direnv/direnvrc, then write 'use tvault' in an .envrc" },
};
