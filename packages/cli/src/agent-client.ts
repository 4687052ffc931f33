// The client side of the agent protocol (docs/PROTOCOL.md): one line of JSON in, one line out.
// This module is on the hot path of `tvault get`: it loads nothing but the small native addon.
import { lstatSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { TvaultError } from '@tvault/core/src/errors';
import { vaultFiles } from '@tvault/core/src/paths';

export const PROTOCOL_VERSION = 1;
const MAX_RESPONSE = 64 * 1024 * 1024;

export interface AgentRequest {
  op: 'get' | 'getall' | 'getselected' | 'status' | 'stop';
  project?: string | null;
  key?: string;
  only?: string[];
  prefix?: string;
}

export type AgentResponse =
  | { v: number; ok: true; project?: string; value?: string; secrets?: Record<string, string>; [k: string]: unknown }
  | { v: number; ok: false; error: string; message: string };

// integrity: the vault was tampered with; a direct unlock would only say so again, later.
const ALWAYS_FINAL: ReadonlySet<string> = new Set(['not_found', 'bad_request', 'integrity']);
// A process that sends a token (a delegate) means to be served by the agent: its refusal is
// the answer, not a reason to fall back to a direct unlock that would fail with a confusing
// "locked". Without a token, these fall back as before (the owner can always unlock directly).
const FINAL_WITH_TOKEN: ReadonlySet<string> = new Set(['token_required', 'token_scope', 'token_expired', 'permission_denied']);

/** Errors the agent reports that are final answers, not reasons to fall back to a direct unlock. */
export const FINAL_ERRORS = {
  has: (code: string): boolean => ALWAYS_FINAL.has(code) || (!!process.env.TVAULT_AGENT_TOKEN && FINAL_WITH_TOKEN.has(code)),
};

/** What the fast path (fast.ts) learned from the agent, left for the full CLI in the same process. */
export interface AgentMemo {
  tvaultAgentAnswer?: AgentResponse | null;
}

export function agentSocketPath(vaultDir: string): string {
  return vaultFiles(vaultDir).sock;
}

/** TVAULT_NO_AGENT=1 (anything but empty, 0 or false) skips the agent, as --no-agent does. */
export function agentDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.TVAULT_NO_AGENT;
  return !!v && v !== '0' && v.toLowerCase() !== 'false';
}

/** The exit code for a final refusal: 4 when something was not found, else 1. */
export function finalExitCode(error: string): 1 | 4 | 8 {
  return error === 'not_found' ? 4 : error === 'integrity' ? 8 : 1;
}

/** The request for one key, a selection (only/prefix), or the whole project. */
export function readRequest(project: string | null, q: { key?: string; only?: string[]; prefix?: string }): AgentRequest {
  if (q.key !== undefined) return { op: 'get', key: q.key, project };
  if (q.only || q.prefix) return { op: 'getselected', only: q.only, prefix: q.prefix, project };
  return { op: 'getall', project };
}

/** A getall/getselected answer as a list of name/value pairs. */
export function answerSecrets(res: { secrets?: Record<string, string> }): Array<{ name: string; value: string }> {
  return Object.entries(res.secrets ?? {}).map(([name, value]) => ({ name, value }));
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
 * The socket to dial, or null when there is none (no agent). Whoever can create files in its
 * directory could have planted it there to feed us values (or collect a token), so the client
 * dials only a socket in a directory that neither group nor others can write, and that is its
 * own (or root's). A delegate, which sets TVAULT_AGENT_TOKEN, dials a directory of the agent's
 * user: choosing it is the delegate's configuration, and the agent requires it not writable by
 * others too.
 */
function socketToDial(vaultDir: string): string | null {
  const sock = agentSocketPath(vaultDir);
  if (!isSocket(sock)) return null;
  const dir = dirname(sock);
  const st = statSync(dir);
  if (st.mode & 0o022) {
    throw new TvaultError(`refusing the agent socket in ${dir}: the directory is writable by group or others (fix it with: chmod go-w ${dir})`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0 && !process.env.TVAULT_AGENT_TOKEN) {
    throw new TvaultError(`refusing the agent socket in ${dir}: the directory belongs to uid ${st.uid}, not to you (a delegate reaches another user's agent with TVAULT_AGENT_TOKEN)`);
  }
  return sock;
}

/**
 * Sends one request and waits for the answer, synchronously: the addon's agentCall does the
 * round trip in C, which spares the hot path loading node:net and several event-loop turns
 * (~3 ms, measured in scripts/bench/agent.mjs). Returns null when no agent is listening (no
 * socket, refused, or it hung up without an answer), so that callers fall back to a direct
 * unlock. A socket that is there but that this install cannot dial (no addon) is an error.
 */
export function agentRequest(vaultDir: string, req: AgentRequest, timeoutMs = 5000): AgentResponse | null {
  const sock = socketToDial(vaultDir);
  if (!sock) return null;
  let agentCall: typeof import('@tvault/native').agentCall;
  try {
    agentCall = (require('@tvault/native') as typeof import('@tvault/native')).agentCall;
  } catch (err) {
    // An agent is there (perhaps another install's, or another user's for a delegate), and
    // this install cannot talk to it: say so, rather than fall back and prompt or report "locked".
    throw new TvaultError(`cannot reach the agent at ${sock}: ${(err as Error).message.split('\n')[0]}`);
  }
  const token = process.env.TVAULT_AGENT_TOKEN;
  const body = Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ...req, ...(token ? { token } : {}) }) + '\n');
  const answer = agentCall(sock, body, timeoutMs, MAX_RESPONSE);
  body.fill(0); // it may carry the token
  if (!answer) return null;
  try {
    return parseAnswer(answer);
  } finally {
    answer.fill(0); // values
  }
}

/** The first complete line as JSON, or null (no answer, a partial line, or garbage). */
function parseAnswer(buf: Buffer): AgentResponse | null {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return null;
  try {
    return JSON.parse(buf.subarray(0, nl).toString('utf8')) as AgentResponse;
  } catch {
    return null;
  }
}
