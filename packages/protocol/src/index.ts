// The agent's wire protocol v1 (docs/PROTOCOL.md) as code: its version, limits, ops, the shapes
// of requests and answers, the error codes, and what a client does on each error code. The
// agent (packages/agent), the client's fast path (packages/cli/src/agent-client.ts) and the
// probe (packages/cli/src/commands/agent-probe.ts) all take them from here.
//
// Dependency-free on purpose: no Node module, no other package. The fast path of `tvault get`
// loads this, and another implementation can read it next to PROTOCOL.md. How values are
// encoded without becoming JS strings is the agent's business (packages/agent/src/protocol.ts).

export const PROTOCOL_VERSION = 1;
/** The longest request line the agent reads (newline excluded); longer is `too_large`. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** The longest answer the CLI accepts; past it the answer counts as none (no agent). */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** The longest `prefix` of a getselected request. */
export const MAX_PREFIX = 255;

// ---- requests ------------------------------------------------------------------------------

export const OPS = ['get', 'getall', 'getselected', 'status', 'stop', 'unlock', 'lock', 'exec', 'names'] as const;
export type Op = (typeof OPS)[number];

/**
 * A request, without `v` (as a client means it, and as the agent has parsed it: then `project` is
 * always there). `project` null or absent is the vault's current project. `token` is the
 * capability token as sent: never logged.
 */
export type Request = (
  | { op: 'get'; project?: string | null; key: string; reply?: 'value' }
  | { op: 'getall'; project?: string | null; reply?: 'shell' }
  | { op: 'getselected'; project?: string | null; only?: string[]; prefix?: string }
  | { op: 'status'; project?: string | null }
  | { op: 'stop' }
  | { op: 'lock' }
  | ExecRequest
  | NamesRequest
) & { token?: string };

/**
 * `unlock` carries the passphrase as lowercase hex in `passphrase`, so that neither side ever
 * holds it as a JS string: the client writes the line byte by byte into a Buffer
 * (unlockRequestLine) and the agent decodes the field out of its Buffer before it parses the
 * rest. Same-uid peers only, never with a token (PROTOCOL.md, "Unlock and lock").
 */
export const UNLOCK_FIELD = '"passphrase":"';
/** The longest passphrase an unlock request carries (its hex fits in MAX_REQUEST_BYTES). */
export const MAX_PASSPHRASE_BYTES = 16 * 1024;

const HEX = '0123456789abcdef';

/** `{"v":1,"op":"unlock","passphrase":"<hex>"}` and a newline, in a Buffer; the caller zeroes it. */
export function unlockRequestLine(passphrase: Uint8Array): Uint8Array {
  const head = `{"v":${PROTOCOL_VERSION},"op":"unlock",${UNLOCK_FIELD}`;
  const tail = '"}\n';
  const out = new Uint8Array(head.length + passphrase.length * 2 + tail.length);
  let i = 0;
  for (let k = 0; k < head.length; k++) out[i++] = head.charCodeAt(k);
  for (const b of passphrase) {
    out[i++] = HEX.charCodeAt(b >> 4);
    out[i++] = HEX.charCodeAt(b & 15);
  }
  for (let k = 0; k < tail.length; k++) out[i++] = tail.charCodeAt(k);
  return out;
}

/**
 * `reply` (PROTOCOL.md, "Raw replies"): `"value"` on `get`, `"shell"` on `getall`. The answer is
 * then not a JSON line but this header and exactly `bytes` bytes after it: the value's UTF-8
 * bytes, or the text `tvault env --format shell` prints. For a client that must neither parse
 * JSON strings nor quote values (the native front end). Errors are the ordinary error lines.
 */
export const REPLY_FOR_OP = { get: 'value', getall: 'shell' } as const;
export type Reply = (typeof REPLY_FOR_OP)[keyof typeof REPLY_FOR_OP];

/** The header of a raw reply: `{"ok":true,"bytes":N}` and a newline, exactly (no other field, no space). */
export function rawReplyHeader(bytes: number): string {
  return `{"ok":true,"bytes":${bytes}}\n`;
}

/** A request as the agent has parsed it: an unlock's passphrase is a Buffer it zeroes. */
export type ParsedRequest = Request | { op: 'unlock'; passphrase: Uint8Array; token?: string };

export type ReadOp = 'get' | 'getall' | 'getselected';
export type ReadRequest = Extract<Request, { op: ReadOp }>;

/** The request line a client sends: `{"v":1,...}` and a newline. */
export function requestLine(req: Request): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, ...req }) + '\n';
}

// ---- brokered exec (PROTOCOL.md, "exec") ---------------------------------------------------

/**
 * `exec`: the agent runs argv with the secrets in an environment it builds itself; the caller
 * sends only names. Sent on the exec socket (execSocketPath), in one sendmsg with the caller's
 * stdin, stdout and stderr attached (SCM_RIGHTS). `env` is the caller's base environment, which
 * must hold no secret: the agent filters it (TVAULT_*, loader and shell variables) anyway.
 */
export interface ExecRequest {
  op: 'exec';
  project?: string | null;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  only?: string[];
  prefix?: string;
  /** Whether the caller's stdout is a terminal (told to the child's masker; see PROTOCOL.md). */
  tty: boolean;
  /** The caller's label for the audit row (TOOL_LABEL). */
  tool?: string;
}

// ---- names (PROTOCOL.md, "names") ----------------------------------------------------------

/**
 * `names`: the projects and key names a caller may use, with their metadata; never a value, so
 * an exec-only token may ask. `project` absent or null: every project in the token's scope (a
 * project-scoped token: its own). `only`: just these keys (those missing are listed as such).
 */
export interface NamesRequest {
  op: 'names';
  project?: string | null;
  only?: string[];
  tool?: string;
}

/** One key as `names` describes it: no value. Times are ISO 8601. */
export interface KeyMeta {
  name: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** `names`: per project, the keys in scope; `missing` lists names of `only` the project lacks. */
export interface NamesAnswer {
  current: string | null;
  projects: Array<{ name: string; keys: KeyMeta[]; missing?: string[] }>;
}

/**
 * `tool`: a label the caller gives its request for the audit row (e.g. `mcp.run`, the MCP
 * server's tool). The caller's own claim, recorded as such; it changes nothing the agent does.
 */
export const TOOL_LABEL = /^[a-z][a-z0-9_.:-]{0,39}$/;

/** The exec socket beside an agent socket (the same directory, the same access rules). */
export function execSocketPath(agentSocket: string): string {
  const slash = agentSocket.lastIndexOf('/');
  return `${slash >= 0 ? agentSocket.slice(0, slash + 1) : ''}exec.sock`;
}

/** The caller's descriptors an exec request carries: stdin, stdout, stderr, in that order. */
export const EXEC_FDS = 3;
export const MAX_EXEC_ARGS = 4096;
export const MAX_EXEC_ENV = 4096;
/** Signals the caller may forward to the child after the request: `{"signal":"SIGINT"}` lines. */
export const EXEC_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

/** `exec`, first answer: the child runs. Names only, never a value. */
export interface ExecStartedAnswer {
  started: true;
  project: string;
  keys: string[];
}

/** `exec`, last answer: how it ended; `status` is what `run` would exit with (128+N, 126, 127...). */
export interface ExecExitAnswer {
  exit: { code: number | null; signal: string | null } | null;
  status: number;
  /** Why the child could not start (not found, not executable), for the caller's stderr. */
  message?: string;
}

// ---- answers -------------------------------------------------------------------------------

/** `get`: one value. */
export interface ValueAnswer {
  project: string;
  key: string;
  value: string;
}

/** `getall`, `getselected`: name to value, in name order. */
export interface SecretsAnswer {
  project: string;
  secrets: Record<string, string>;
  /** Names among `secrets` the project allows although they are dangerous (absent: none). */
  allowed?: string[];
}

/** What `status` tells the holder of a token about it. */
export interface TokenInfo {
  id: string;
  name: string | null;
  project: string | null;
  keys: readonly string[] | null;
  expiresAt: string | null;
  /** May only run commands with the secrets (exec), never read them. */
  execOnly?: boolean;
  /** The commands (argv prefixes) an exec may run; absent: any. */
  allowCmd?: ReadonlyArray<readonly string[]>;
}

/** `status`: the agent's state; no secret. */
export interface StatusAnswer {
  project: string | null;
  pid: number;
  uid: number;
  version: string;
  vault: string;
  socket: string;
  startedAt: string;
  uptimeMs: number;
  unlocked: boolean;
  /** Running without the key (started --locked, `tvault lock`, or auto-locked with --on-idle lock): `tvault unlock` warms it. */
  locked: boolean;
  /** What the idle and max-ttl deadlines do: lock in place, or lock and exit. */
  onIdle: 'lock' | 'exit';
  keyRotated: boolean;
  mlocked: boolean;
  idleMs: number;
  idleRemainingMs: number | null;
  maxTtlMs: number;
  maxTtlRemainingMs: number | null;
  served: number;
  requireToken: boolean;
  token?: TokenInfo;
  /** Shown to an unrestricted token only. */
  tokenFile?: string;
  tokens?: number;
}

/** `unlock` and `lock`: the state afterwards (`already`: it was in that state before). */
export interface LockAnswer {
  pid: number;
  unlocked: boolean;
  already: boolean;
}

/** `stop`: the agent answers, then locks and exits. */
export interface StopAnswer {
  pid: number;
  stopping: true;
}

/**
 * A success as a client reads it: the fields of whichever op it asked for. A client ignores
 * fields it does not know (PROTOCOL.md, "Versioning"), so all of them are optional here.
 */
export type OkAnswer = { v: number; ok: true } & Partial<
  ValueAnswer & SecretsAnswer & Omit<StatusAnswer, 'project'> & StopAnswer & LockAnswer & NamesAnswer
> & {
    project?: string | null;
    [field: string]: unknown;
  };

/** A refusal. `error` is a string: a newer agent may send a code this client does not know. */
export interface ErrorAnswer {
  v: number;
  ok: false;
  error: string;
  message: string;
  /** On `locked`: this agent runs locked in place, and an `unlock` request (tvault unlock) warms it. */
  unlock?: boolean;
}

export type Answer = OkAnswer | ErrorAnswer;

/** The first line of what an agent sent, as JSON; null for a partial line or garbage. */
export function parseAnswer(text: string): Answer | null {
  const nl = text.indexOf('\n');
  if (nl < 0) return null;
  try {
    const a = JSON.parse(text.slice(0, nl)) as unknown;
    return typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Answer) : null;
  } catch {
    return null;
  }
}

// ---- errors and what the client does about them --------------------------------------------

export const ERROR_CODES = [
  'permission_denied',
  'too_large',
  'bad_json',
  'bad_version',
  'unknown_op',
  'bad_request',
  'not_found',
  'key_rotated',
  'locked',
  'timeout',
  'busy',
  'internal',
  'integrity',
  'token_required',
  'token_scope',
  'token_expired',
  'wrong_passphrase',
  'unlock_backoff',
  'exec_only',
  'unformattable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The refusals of a token check (the agent runs with --require-token). */
export const TOKEN_ERRORS: ReadonlySet<string> = new Set<ErrorCode>(['token_required', 'token_scope', 'token_expired']);

/**
 * What a client does on an error code (the table in PROTOCOL.md, "Errors"):
 * - `final`: the agent's refusal is the answer: report its message, exit 1.
 * - `final_not_found`: the same, exit 4 (not found).
 * - `final_integrity`: the same, exit 8 (the vault failed an integrity check).
 * - `final_with_token`: final (exit 1) for a client that sent a token (a delegate, which means to
 *   be served by the agent and could not unlock directly); any other client falls back.
 * - `fallback`: unlock directly instead, as if no agent ran.
 * - `fallback_say`: the same, after showing the agent's message (it says what to do).
 * - `token_hint`: final with a token; without one, fall back after saying that the agent wants one.
 */
export type ClientAction = 'final' | 'final_not_found' | 'final_integrity' | 'final_with_token' | 'fallback' | 'fallback_say' | 'token_hint';

/** A Record over every code: a new error code does not type-check until its row is written. */
export const CLIENT_ACTIONS: Readonly<Record<ErrorCode, ClientAction>> = {
  permission_denied: 'final_with_token',
  too_large: 'fallback',
  bad_json: 'fallback',
  bad_version: 'fallback',
  unknown_op: 'fallback',
  bad_request: 'final',
  not_found: 'final_not_found',
  key_rotated: 'fallback_say',
  locked: 'fallback',
  timeout: 'fallback',
  // The agent is there and holds the key but is at its connection cap (or could not record the
  // read in time): falling back would only end in "locked" or a prompt where the truth is "try again".
  busy: 'final',
  internal: 'fallback',
  // The vault was tampered with: a direct unlock would only say so again, later (exit 8).
  integrity: 'final_integrity',
  token_required: 'token_hint',
  token_scope: 'final_with_token',
  token_expired: 'final_with_token',
  // Answers to `unlock`, which only `tvault unlock` (and a read that offers to unlock) sends.
  wrong_passphrase: 'final',
  unlock_backoff: 'final',
  // An exec-only token may run commands with its secrets (exec) but not read them.
  exec_only: 'final',
  // A raw reply (`reply: "shell"`) the formatter refuses (a dangerous or reserved name): not
  // the last word, the full CLI reads the same secrets and reports the refusal properly itself.
  unformattable: 'fallback',
};

/** The action on a code; one this client does not know (from a newer agent) falls back, as PROTOCOL.md says. */
export function clientAction(code: string): ClientAction {
  return Object.prototype.hasOwnProperty.call(CLIENT_ACTIONS, code) ? CLIENT_ACTIONS[code as ErrorCode] : 'fallback';
}

/** Whether a refusal is the final answer for a client that did (or did not) send a token. */
export function isFinal(code: string, sentToken: boolean): boolean {
  const a = clientAction(code);
  return a === 'final' || a === 'final_not_found' || a === 'final_integrity' || (sentToken && (a === 'final_with_token' || a === 'token_hint'));
}
