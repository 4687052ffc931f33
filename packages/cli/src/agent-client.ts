// The client side of the agent protocol (docs/PROTOCOL.md): one line of JSON in, one line out.
// This module is on the hot path of `tvault get`: it loads nothing but the small native addon.
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExitCode, TvaultError, vaultFiles } from '@tvault/core/base';
import { nativeAddon } from './native-addon';
import { type Answer, type ErrorAnswer, MAX_ANSWER_BYTES, type Request, clientAction, isFinal, parseAnswer, requestLine } from '@tvault/protocol';

/** Whether this process speaks for a delegate: it sends TVAULT_AGENT_TOKEN with every request. */
const sendsToken = (): boolean => !!process.env.TVAULT_AGENT_TOKEN;

/**
 * The error to report for a refusal that is a final answer (CLIENT_ACTIONS in @tvault/protocol),
 * or null when the caller should fall back to a direct unlock instead.
 */
export function finalRefusal(res: ErrorAnswer): TvaultError | null {
  if (!isFinal(res.error, sendsToken())) return null;
  const action = clientAction(res.error);
  const code = action === 'final_not_found' ? ExitCode.NOT_FOUND : action === 'final_integrity' ? ExitCode.INTEGRITY : ExitCode.ERROR;
  return new TvaultError(res.message, code);
}

/** Says why a running agent was passed over, where the user would otherwise be puzzled. */
export function explainFallback(res: ErrorAnswer): void {
  const action = clientAction(res.error);
  if (action === 'fallback_say') process.stderr.write(`tvault: ${res.message}\n`);
  if (action === 'token_hint' && !sendsToken()) {
    process.stderr.write('tvault: the running agent requires a capability token (set TVAULT_AGENT_TOKEN); unlocking directly instead\n');
  }
}

export function agentSocketPath(vaultDir: string): string {
  return vaultFiles(vaultDir).sock;
}

/** TVAULT_NO_AGENT=1 (anything but empty, 0 or false) skips the agent, as --no-agent does. */
export function agentDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.TVAULT_NO_AGENT;
  return !!v && v !== '0' && v.toLowerCase() !== 'false';
}

/** The request for one key, a selection (only/prefix), or the whole project. */
export function readRequest(project: string | null, q: { key?: string; only?: string[]; prefix?: string }): Request {
  if (q.key !== undefined) return { op: 'get', key: q.key, project };
  if (q.only || q.prefix) return { op: 'getselected', only: q.only, prefix: q.prefix, project };
  return { op: 'getall', project };
}

/** A getall/getselected answer as a list of name/value pairs. */
export function answerSecrets(res: { secrets?: Record<string, string> }): Array<{ name: string; value: string }> {
  // A loop over the keys, not Object.entries().map(): no [name, value] array per secret, in
  // code that runs once per process (cold) over up to thousands of them.
  const secrets = res.secrets ?? {};
  const names = Object.keys(secrets);
  const out = new Array<{ name: string; value: string }>(names.length);
  for (let i = 0; i < names.length; i++) out[i] = { name: names[i], value: secrets[names[i]] };
  return out;
}

/** The names the project allows although they are dangerous, as the agent verified them (core/dangerous-names.ts). */
export function answerAllowed(res: { allowed?: unknown }): string[] {
  return Array.isArray(res.allowed) ? res.allowed.filter((n): n is string => typeof n === 'string') : [];
}

/** Whether a socket is at path: a symlink or a plain file there is no agent (nor a stale one). */
export function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Why the client will not dial a socket (thrown by the addon's agentCall with checkDir). Whoever
 * can create files in its directory could have planted it there to feed us values (or collect a
 * token), so the client dials only a socket in a directory that neither group nor others can
 * write, and that is its own (or root's). A delegate, which sets TVAULT_AGENT_TOKEN, dials a
 * directory of the agent's user: choosing it is the delegate's configuration, and the agent
 * requires it not writable by others too. The addon checks the open directory and connects
 * through it, so that renaming an ancestor between the check and the connect changes nothing.
 */
function refusal(err: unknown, dir: string): TvaultError | null {
  const e = err as { code?: string; uid?: number };
  const why = (text: string) => new TvaultError(`refusing the agent socket in ${dir}: ${text}`);
  switch (e?.code) {
    case 'EDIRWRITABLE':
      return why(`the directory is writable by group or others (fix it with: chmod go-w ${dir})`);
    case 'EDIROWNER':
      return why(`the directory belongs to uid ${e.uid}, not to you (a delegate reaches another user's agent with TVAULT_AGENT_TOKEN)`);
    case 'EDIRLINK':
      return why('the directory is a symbolic link (point --vault or TVAULT_DIR at the real directory)');
    case 'EDIRSWAP':
      return why('the directory changed while it was checked');
    default:
      return null;
  }
}

/**
 * Sends one request and waits for the answer, synchronously: the addon's agentCall does the
 * round trip in C, which spares the hot path loading node:net and several event-loop turns
 * (~3 ms, measured in scripts/bench/agent.mjs). Returns null when no agent is listening (no
 * socket, refused, or it hung up without an answer), so that callers fall back to a direct
 * unlock. A socket that is there but that this install cannot dial (no addon) is an error.
 */
export function agentRequest(vaultDir: string, req: Request, timeoutMs = 5000): Answer | null {
  const token = process.env.TVAULT_AGENT_TOKEN;
  const body = Buffer.from(requestLine({ ...req, ...(token ? { token } : {}) }));
  try {
    return agentCallBytes(vaultDir, body, timeoutMs, !!token);
  } finally {
    body.fill(0); // it may carry the token
  }
}

/**
 * agentRequest with a request line the caller built (and zeroes): `tvault unlock` sends its
 * passphrase this way, to its own agent only (`delegate` false: the addon checks that the
 * socket's directory and the listening process are this user's).
 */
export function agentCallBytes(vaultDir: string, body: Buffer, timeoutMs: number, delegate = false): Answer | null {
  const sock = agentSocketPath(vaultDir);
  if (!isSocket(sock)) return null; // no agent: a missing addon does not matter then
  let agentCall: typeof import('@tvault/native').agentCall;
  try {
    agentCall = nativeAddon().agentCall;
  } catch (err) {
    // An agent is there (perhaps another install's, or another user's for a delegate), and
    // this install cannot talk to it: say so, rather than fall back and prompt or report "locked".
    throw new TvaultError(`cannot reach the agent at ${sock}: ${(err as Error).message.split('\n')[0]}`);
  }
  let answer: Buffer | null;
  try {
    answer = agentCall(sock, body, timeoutMs, MAX_ANSWER_BYTES, delegate ? 'any' : 'own');
  } catch (err) {
    throw refusal(err, dirname(sock)) ?? err;
  }
  if (!answer) return null;
  try {
    return parseAnswerBytes(answer);
  } finally {
    answer.fill(0); // values
  }
}

/** The first complete line as JSON, or null (no answer, a partial line, or garbage). */
function parseAnswerBytes(buf: Buffer): Answer | null {
  const nl = buf.indexOf(0x0a);
  return nl < 0 ? null : parseAnswer(buf.toString('utf8', 0, nl + 1));
}
