// What `tvault mcp` checks before it serves, and how it words a refusal for a model. Pure, so
// that the tables are unit-tested (guard.test.ts); the server is mcp/server.ts.
import type { TokenInfo } from '@tvault/protocol';

/** The variables that would hand the MCP server a way to unlock the vault itself. */
export const PASSPHRASE_VARS = ['TVAULT_PASSPHRASE', 'TVAULT_PASSPHRASE_FILE'] as const;

/**
 * Why the server must not start in this environment, or null. It never unlocks: a passphrase in
 * the environment the AI client gives it is a master key that the client (and whatever the model
 * talks it into) can read, so it refuses rather than ignore it.
 */
export function startRefusal(env: NodeJS.ProcessEnv): string | null {
  const set = PASSPHRASE_VARS.filter((k) => env[k] !== undefined);
  if (set.length)
    return (
      `refusing to start: ${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set; tvault mcp never unlocks the vault, and a passphrase in the ` +
      `environment an AI client starts it with can be read by that client: remove it from the MCP configuration and give the server only ` +
      `TVAULT_AGENT_TOKEN, an exec-only token (tvault mcp install CLIENT prints one)`
    );
  if (!env.TVAULT_AGENT_TOKEN)
    return 'refusing to start: TVAULT_AGENT_TOKEN is not set; the server talks to the running agent with an exec-only token only (tvault mcp install CLIENT prints the configuration with one)';
  return null;
}

/**
 * Why the agent's answer about our token makes serving unsafe, or null: the token must be one the
 * agent checks (it runs with --require-token) and exec-only (it can never read a value).
 */
export function tokenRefusal(token: TokenInfo | undefined): string | null {
  if (!token)
    return 'the running agent does not check tokens (it was started without --require-token), so TVAULT_AGENT_TOKEN would limit nothing; ask the user to start it with: tvault agent start --require-token';
  if (!token.execOnly)
    return `the token in TVAULT_AGENT_TOKEN (token_id ${token.id}) can read values, not only run commands; ask the user for an exec-only one: tvault mcp install CLIENT --keys NAMES`;
  return null;
}

/** The next step a model can take (or ask the user to take) after a refusal, by error code. */
const NEXT: Record<string, string> = {
  token_scope: 'Call list_secrets to see the keys and commands this session may use; if the task needs more, ask the user to widen the token.',
  token_expired: 'Ask the user for a new token: tvault mcp install CLIENT (then restart this MCP server).',
  token_required: 'TVAULT_AGENT_TOKEN is not a token this agent knows (revoked?); ask the user for a new one: tvault mcp install CLIENT.',
  exec_only: 'This session can only run commands with secrets; it can never read a value.',
  locked: 'The vault is locked; ask the user to run: tvault unlock',
  no_agent: 'No tvault agent is running; ask the user to run: tvault agent start --require-token',
  not_found: 'Call list_secrets to see the projects and keys that exist.',
  busy: 'The agent is busy; try again shortly.',
};

/** A refusal, in one line a model can act on: what happened, then what to do. */
export function refusalText(code: string, message: string): string {
  const next = NEXT[code];
  return `Refused (${code}): ${message}${next ? `. ${next}` : ''}`;
}
