// @tvault/client: brokered exec for orchestrators (README.md). The caller names the secrets; the
// tvault agent resolves them, runs the command with them and masks them in its output; the
// caller gets the exit status and the masked output, never a value. The same conversation
// backs `tvault run --broker` (packages/cli/src/broker.ts). Protocol: docs/PROTOCOL.md, "exec".
import { Socket } from 'node:net';
import { closeSync, openSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EXEC_SIGNALS, type ExecRequest, execSocketPath, parseAnswer, requestLine } from '@tvault/protocol';

type Native = typeof import('@tvault/native');
const native = (): Native => require('@tvault/native') as Native;

/** A refusal by the agent (`code` is its error code) or no agent at all (`no_agent`). */
export class BrokerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How a brokered child ended: `status` as `tvault run` exits (its code, 128+N, 126, 127). */
export interface ExecStatus {
  status: number;
  exit: { code: number | null; signal: string | null } | null;
  /** Why the child could not start (not found, not executable). */
  message?: string;
  project: string | null;
  /** The names injected (never their values). */
  keys: string[];
  /** Names whose values are too short to be masked in the output. */
  unmasked: string[];
}

/** The exec socket of the agent serving a vault directory (TVAULT_DIR, else ~/.tvault). */
export function execSocketFor(vaultDir = process.env.TVAULT_DIR || join(homedir(), '.tvault')): string {
  return execSocketPath(join(vaultDir, 'agent.sock'));
}

/** The caller's environment minus tvault's own variables (the token above all). */
export function baseEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('TVAULT_')) out[k] = v;
  return out;
}

/**
 * Connects to an exec socket with the checks of every tvault client: its directory is neither
 * group- nor other-writable, and is yours (`own`) or, for a delegate with a token, anyone's.
 */
export function connectExec(path: string, checkDir: 'own' | 'any'): Socket {
  let fd: number;
  try {
    fd = native().agentConnect(path, 5000, checkDir);
  } catch (err) {
    throw new BrokerError('refused', `refusing the agent's exec socket ${path}: ${(err as Error).message}`);
  }
  if (fd < 0) throw new BrokerError('no_agent', `no agent serves brokered exec at ${path}; start one with: tvault agent start`);
  return new Socket({ fd, readable: true, writable: true });
}

export interface Conversation {
  /** Forward a signal to the child's process group. */
  signal(sig: (typeof EXEC_SIGNALS)[number]): void;
  /** Settles when the child has ended (after its output is written) or the agent refused. */
  done: Promise<ExecStatus>;
}

/**
 * Sends one exec request on a connected exec socket with [stdin, stdout, stderr] attached and
 * follows the answers. Closing the socket (or this process dying) ends the child.
 */
export function converse(sock: Socket, req: ExecRequest & { token?: string }, fds: [number, number, number]): Conversation {
  const body = Buffer.from(requestLine(req));
  const done = new Promise<ExecStatus>((resolve, reject) => {
    let text = '';
    let started: { project: string | null; keys: string[]; unmasked: string[] } = { project: null, keys: [], unmasked: [] };
    let result: ExecStatus | BrokerError | null = null;
    sock.on('error', () => undefined); // the close below reports it
    sock.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      for (let nl; (nl = text.indexOf('\n')) >= 0;) {
        const a = parseAnswer(text.slice(0, nl + 1));
        text = text.slice(nl + 1);
        if (!a) continue;
        if (!a.ok) result = new BrokerError(a.error, a.message);
        else if (a.started === true) {
          const names = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
          started = { project: typeof a.project === 'string' ? a.project : null, keys: names(a.keys), unmasked: names(a.unmasked) };
        } else if (typeof a.status === 'number') {
          const exit = (a.exit ?? null) as ExecStatus['exit'];
          result = { status: a.status, exit, ...(typeof a.message === 'string' && { message: a.message }), ...started };
        }
      }
    });
    sock.on('close', () => {
      if (result instanceof BrokerError) reject(result);
      else if (result) resolve(result);
      else reject(new BrokerError('disconnected', 'the agent closed the exec connection without an exit status'));
    });
    try {
      // The descriptors travel with the first bytes; whatever sendmsg did not take follows plainly.
      const sent = native().sendFds(native().socketFd(sock), fds, body);
      if (sent < body.length) sock.write(body.subarray(sent));
      else body.fill(0); // it may carry the token
    } catch (err) {
      sock.destroy();
      reject(new BrokerError('send_failed', `cannot pass the descriptors to the agent: ${(err as Error).message}`));
    }
  });
  return {
    signal: (sig) => void (sock.writable && sock.write(`{"signal":"${sig}"}\n`)),
    done,
  };
}

export interface ExecOptions {
  /** The command; argv[0] is resolved by the agent. */
  argv: string[];
  /** The secrets to inject, by name (default: all of the project, or the token's keys). */
  names?: string[];
  prefix?: string;
  project?: string | null;
  /** The vault whose agent runs it (default TVAULT_DIR, else ~/.tvault). */
  vaultDir?: string;
  /** A capability token (default TVAULT_AGENT_TOKEN); an exec-only token is enough. */
  token?: string;
  cwd?: string;
  /** The child's base environment, without secrets (default: this process's, minus TVAULT_*). */
  env?: NodeJS.ProcessEnv;
  /** Text for the child's stdin (default: none, /dev/null). */
  input?: string | Buffer;
  /**
   * End the child after this long: SIGTERM to its process group, and if it has not ended
   * TERM_GRACE_MS later, the connection is closed (the agent then kills the group: SIGKILL).
   */
  timeoutMs?: number;
  /** Aborting ends the child at once: the connection closes and the agent kills its group. */
  signal?: AbortSignal;
  /** Keep at most this many bytes of each of stdout and stderr; the rest is read and dropped. */
  maxOutputBytes?: number;
  /** A label for the agent's audit row (PROTOCOL.md, "exec": `tool`), like `mcp.run`. */
  tool?: string;
}

/** After a timeout's SIGTERM, how long the child has to end before the connection is closed. */
export const TERM_GRACE_MS = 2000;

export interface ExecResult extends ExecStatus {
  /** The child's output after the agent's masker (at most maxOutputBytes of each). */
  stdout: Buffer;
  stderr: Buffer;
  /** Which outputs were longer than maxOutputBytes (cut there). */
  truncated: { stdout: boolean; stderr: boolean };
  /** Set when the child was ended by timeoutMs or the abort signal, not by itself. */
  ended?: 'timeout' | 'aborted';
}

/** Reads a pipe's read end to its end, keeping at most `cap` bytes. */
function collect(fd: number, cap = Infinity): Promise<{ data: Buffer; truncated: boolean }> {
  return new Promise((resolve) => {
    const s = new Socket({ fd, readable: true, writable: false });
    const parts: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    s.on('data', (d: Buffer) => {
      if (kept + d.length > cap) truncated = true;
      const part = kept < cap ? d.subarray(0, cap - kept) : null;
      if (part?.length) parts.push(part);
      kept += part?.length ?? 0;
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ data: Buffer.concat(parts), truncated }));
  });
}

/**
 * Runs argv through the agent with the named secrets and returns its exit status and masked
 * output. Throws BrokerError when the agent refuses (e.g. `token_scope`, `exec_only`) or is not there.
 */
export async function execWithSecrets(o: ExecOptions): Promise<ExecResult> {
  const token = o.token ?? process.env.TVAULT_AGENT_TOKEN;
  const sock = connectExec(execSocketFor(o.vaultDir), token ? 'any' : 'own');
  const n = native();
  const [outR, outW] = n.pipe();
  const [errR, errW] = n.pipe();
  let inR: number;
  let inW = -1;
  if (o.input !== undefined) [inR, inW] = n.pipe();
  else inR = openSync('/dev/null', 'r');
  const req: ExecRequest & { token?: string } = {
    op: 'exec',
    project: o.project ?? null,
    argv: o.argv,
    cwd: o.cwd ?? process.cwd(),
    env: baseEnv(o.env),
    ...(o.names && { only: o.names }),
    ...(o.prefix !== undefined && { prefix: o.prefix }),
    tty: false,
    ...(o.tool && { tool: o.tool }),
    ...(token && { token }),
  };
  const conv = converse(sock, req, [inR, outW, errW]);
  // The agent holds its own copies now: ours would keep the pipes open.
  for (const fd of [inR, outW, errW]) closeSync(fd);
  const output = Promise.all([collect(outR, o.maxOutputBytes), collect(errR, o.maxOutputBytes)]);
  if (inW >= 0) {
    const w = new Socket({ fd: inW, readable: false, writable: true });
    w.on('error', () => undefined);
    w.end(o.input as string | Buffer);
  }
  let ended: ExecResult['ended'];
  const stop = (why: 'timeout' | 'aborted') => {
    if (ended) return;
    ended = why;
    if (why === 'aborted') return void sock.destroy();
    conv.signal('SIGTERM');
    setTimeout(() => sock.destroy(), TERM_GRACE_MS).unref();
  };
  const timer = o.timeoutMs !== undefined ? setTimeout(() => stop('timeout'), o.timeoutMs) : undefined;
  const onAbort = () => stop('aborted');
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const result = (status: ExecStatus, out: Awaited<typeof output>): ExecResult => ({
    ...status,
    stdout: out[0].data,
    stderr: out[1].data,
    truncated: { stdout: out[0].truncated, stderr: out[1].truncated },
    ...(ended && { ended }),
  });
  try {
    const status = await conv.done;
    return result(status, await output);
  } catch (err) {
    const out = await output;
    // We closed the connection ourselves (the child outlived its SIGTERM, or the abort): the
    // agent killed the group, and there is no exit status to report but that.
    if (ended && err instanceof BrokerError && err.code === 'disconnected')
      return result({ status: 128 + 9, exit: null, message: `killed (${ended})`, project: o.project ?? null, keys: o.names ?? [], unmasked: [] }, out);
    throw err;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}
