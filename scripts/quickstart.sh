#!/usr/bin/env bash
# A guided tour on a throwaway vault in a temp dir, non-interactively.
# Nothing here touches ~/.tvault; the temp dir is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
tvault() { node packages/cli/bin/tvault "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

tmp=$(mktemp -d)
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export TVAULT_DIR="$tmp/vault"
# A throwaway passphrase from the environment makes every step non-interactive.
# In daily use you type it at a hidden prompt, or keep it in a 0600 TVAULT_PASSPHRASE_FILE.
export TVAULT_PASSPHRASE="quickstart-$RANDOM-$RANDOM"

step tvault init;                                    tvault init
step 'printf %s "postgres://app:s3cret@db/app" | tvault set DATABASE_URL --stdin'
printf %s "postgres://app:s3cret@db/app" | tvault set DATABASE_URL --stdin
step "printf %s 'it'\\''s \$(not) run' | tvault set TRICKY --stdin"
printf %s "it's \$(not) run" | tvault set TRICKY --stdin
step tvault list;                                    tvault list
step tvault get DATABASE_URL;                        tvault get DATABASE_URL
step tvault env;                                     tvault env
step 'eval "$(tvault env)" && printf "%s\n" "$TRICKY"'
( eval "$(tvault env)" && printf '%s\n' "$TRICKY" )
step 'tvault run -- sh -c '\''echo "the child sees DATABASE_URL=${DATABASE_URL%%@*}@…"'\'''
tvault run -- sh -c 'echo "the child sees DATABASE_URL=${DATABASE_URL%%@*}@…"'

# The agent starts locked in the background (no prompt), `tvault unlock` warms it (at a terminal
# it prompts; here TVAULT_PASSPHRASE gives it), and reads are prompt-free until `tvault lock`.
step 'tvault agent start --locked --on-idle lock &'
tvault agent start --locked --on-idle lock &
agent_pid=$!
for _ in $(seq 200); do [ -S "$TVAULT_DIR/agent.sock" ] && break; sleep 0.05; done
step tvault unlock;                                tvault unlock
step 'env -u TVAULT_PASSPHRASE tvault get DATABASE_URL </dev/null   # no passphrase, no prompt: the agent answers'
env -u TVAULT_PASSPHRASE node packages/cli/bin/tvault get DATABASE_URL </dev/null
step 'env -u TVAULT_PASSPHRASE tvault run -- sh -c '\''echo "${#DATABASE_URL} characters injected"'\'''
env -u TVAULT_PASSPHRASE node packages/cli/bin/tvault run -- sh -c 'echo "${#DATABASE_URL} characters injected"' </dev/null
step tvault agent status;                          tvault agent status
step tvault lock;                                  tvault lock
step 'env -u TVAULT_PASSPHRASE tvault get DATABASE_URL </dev/null   # locked: exit 3, and it says tvault unlock'
env -u TVAULT_PASSPHRASE node packages/cli/bin/tvault get DATABASE_URL </dev/null || echo "(exit $?)"
step tvault agent stop;                            tvault agent stop
wait "$agent_pid" 2>/dev/null || true
agent_pid=

printf '\nDone. The throwaway vault in %s is removed now.\n' "$tmp"
