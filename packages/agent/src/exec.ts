// Brokered exec (docs/PROTOCOL.md, "exec"): the caller sends a command and secret *names*, with
// its stdin, stdout and stderr attached as descriptors (SCM_RIGHTS); the agent checks the
// request against the token, builds the child's environment itself, runs the child on the
// caller's descriptors and answers with its exit status. No value is ever sent to the caller.
//
// Exec connections come in on their own socket (exec.sock), accepted paused: Node reads a
// socket with read(2), which drops passed descriptors, so the request is read here with the
// addon's recvFds until its newline; only then is the socket resumed, for signal lines.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants as fsConstants, realpathSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { Socket } from 'node:net';
import { recvFds, socketFd } from '@tvault/native';
import type { Actor, AuditEvent, Secret } from '@tvault/core';
import { zero } from '@tvault/core';
import {
  EXEC_FDS,
  EXEC_SIGNALS,
  type ErrorCode,
  type ExecRequest,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  type ParsedRequest,
  type Request,
} from '@tvault/protocol';
import type { TokenSpec } from '@tvault/tokens';
import { ProtocolError, errorLine, parseRequest } from './protocol';
import type { Peer } from './server';
import { type TokenSet, authorize } from './token-gate';
import type { Logger } from './log';
import { MaskSet, Masker } from './masker';
import { type PtyChild, childPipe, isTerminal, maskedPump, spawnOnPty } from './masked-io';

/** Children at once; one more is answered busy. */
export const MAX_EXECS = 32;
/**
 * How often a paused exec connection is polled for its request. It is normally there at once
 * (the client sends it with the connection), so the first polls are quick; a connection that
 * stays silent is polled ever less often, up to every POLL_MAX_MS, until the request timeout.
 * (Node gives no readiness event for a socket it does not read; a blocking wait would hold a
 * thread-pool thread per idle connection and stall other clients' file I/O.)
 */
const POLL_FIRST_MS = 1;
const POLL_MAX_MS = 100;
/** After the request: signal lines only; more than this from a caller ends the exec. */
const MAX_CONTROL_BYTES = 64 * 1024;
/** A child that ignores SIGTERM after its caller left gets SIGKILL this much later. */
const KILL_AFTER_MS = 2000;
/** The exit statuses `tvault run` uses (packages/cli/src/run.ts). */
const RUN_FAILED = 125;
const NOT_EXECUTABLE = 126;
const NOT_FOUND = 127;

/** What the broker needs from the agent. */
export interface BrokerContext {
  ioTimeoutMs: number;
  log: Logger;
  /** The tokens in force (--require-token), or null. */
  tokens(): TokenSet | null;
  /** The CLI's dangerous-name filter (loader and shell variables); without it, only a minimal base env passes. */
  isDangerousName?: (name: string) => boolean;
  /** The selected secrets of a project (the project resolved), read as `getselected` would. */
  readSecrets(project: string | null, only: string[] | undefined, prefix: string | undefined): { project: string; secrets: Secret[] };
  audit(ev: AuditEvent, actor: Actor): Promise<void>;
  /** A refusal's code and message, as the line protocol words it. */
  classify(err: unknown): { code: ErrorCode; message: string };
}

const line = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ok: true, ...fields }) + '\n');
const closeFds = (fds: number[]) => fds.splice(0).forEach((fd) => closeQuietly(fd));

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

/**
 * The program a name means, as execvp would find it along path; null when there is none. A name
 * with a slash is that file, executable or not (spawn then reports EACCES: 126, as a shell does).
 */
export function resolveProgram(name: string, cwd: string, path: string): string | null {
  if (name.includes('/')) {
    try {
      const real = realpathSync(resolve(cwd, name));
      return statSync(real).isDirectory() ? null : real;
    } catch {
      return null;
    }
  }
  const candidates = name.includes('/') ? [resolve(cwd, name)] : path.split(':').map((d) => join(isAbsolute(d) ? d : resolve(cwd, d || '.'), name));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, fsConstants.X_OK);
      return realpathSync(c);
    } catch {
      /* not here */
    }
  }
  return null;
}

/**
 * Whether argv is one of the token's commands: the same program (both resolved by the agent,
 * along its own PATH, to a real path) and the prefix's further words in order.
 */
export function allowedCommand(allow: ReadonlyArray<readonly string[]>, argv: readonly string[], program: string, agentPath: string): boolean {
  return allow.some(
    (prefix) => prefix.length <= argv.length && resolveProgram(prefix[0], '/', agentPath) === program && prefix.slice(1).every((w, i) => argv[i + 1] === w),
  );
}

/** A short, stable fingerprint of the whole argv for the audit row (never the argv itself). */
export const argvHash = (argv: readonly string[]): string => createHash('sha256').update(JSON.stringify(argv)).digest('hex').slice(0, 16);

/**
 * What a delegate's (another uid's) base environment may carry into the child when its token
 * names nothing more (`env=` in the token file, `--allow-env` at `token create`): the locale and
 * the terminal type. PATH and HOME are always the agent's (the child runs as the agent's user).
 */
export const DELEGATE_ENV = ['LANG', 'TERM'] as const;

/**
 * The child's environment, built by the agent: the caller's base without TVAULT_* and without
 * any variable that changes how programs load or shells start; a caller of another uid passes
 * only DELEGATE_ENV and the names its token allows, and gets the agent's PATH and HOME; then
 * the secrets.
 */
export function brokerEnv(
  base: Record<string, string>,
  secrets: Array<{ name: string; value: string }>,
  o: { isDangerousName?: (name: string) => boolean; delegate: boolean; agentEnv: NodeJS.ProcessEnv; allowEnv?: readonly string[] },
): Record<string, string> {
  const env = Object.create(null) as Record<string, string>;
  const safe = o.isDangerousName ? (k: string) => !o.isDangerousName!(k) : (k: string) => ['PATH', 'HOME', 'TERM', 'LANG', 'USER'].includes(k);
  const allowed = new Set<string>(o.delegate ? [...DELEGATE_ENV, ...(o.allowEnv ?? [])] : []);
  const keep = (k: string) => !k.startsWith('TVAULT_') && safe(k) && (!o.delegate || allowed.has(k));
  for (const [k, v] of Object.entries(base)) if (keep(k)) env[k] = v;
  if (o.delegate) {
    for (const k of ['PATH', 'HOME'] as const) {
      if (o.agentEnv[k] !== undefined) env[k] = o.agentEnv[k];
      else delete env[k];
    }
  }
  for (const s of secrets) env[s.name] = s.value;
  return env;
}

/** Reads one exec request and its descriptors from a paused socket, polling until its newline. */
async function readExecRequest(sock: Socket, deadline: number): Promise<{ line: Buffer; fds: number[] }> {
  const fd = socketFd(sock);
  const chunks: Buffer[] = [];
  const fds: number[] = [];
  let size = 0;
  let wait = POLL_FIRST_MS;
  try {
    for (;;) {
      if (fd < 0 || sock.destroyed) throw new ProtocolError('bad_request', 'the caller went away before its request was complete');
      const r = recvFds(fd, MAX_REQUEST_BYTES + 1, EXEC_FDS - fds.length);
      if (r === null) {
        if (Date.now() > deadline) throw new ProtocolError('timeout', 'no complete exec request in time');
        await new Promise((res) => setTimeout(res, Math.min(wait, deadline - Date.now() + 1)));
        wait = Math.min(POLL_MAX_MS, wait * 2);
        continue;
      }
      fds.push(...r.fds);
      if (r.truncated)
        throw new ProtocolError('bad_request', `an exec request carries exactly ${EXEC_FDS} descriptors (stdin, stdout, stderr); more were sent`);
      if (!r.data.length) break; // end of input: the request ends there (and so does the caller)
      const nl = r.data.indexOf(0x0a);
      const part = nl >= 0 ? r.data.subarray(0, nl) : r.data;
      size += part.length;
      chunks.push(part);
      if (size > MAX_REQUEST_BYTES) throw new ProtocolError('too_large', `the request is larger than ${MAX_REQUEST_BYTES} bytes`);
      if (nl >= 0) break;
    }
    if (fds.length !== EXEC_FDS)
      throw new ProtocolError('bad_request', `an exec request carries exactly ${EXEC_FDS} descriptors (stdin, stdout, stderr); got ${fds.length}`);
    return { line: Buffer.concat(chunks), fds };
  } catch (err) {
    closeFds(fds);
    throw err;
  } finally {
    chunks.forEach((c) => c.fill(0));
  }
}

/** One brokered child, from its request to its exit. */
class ExecSession {
  private child: ChildProcess | undefined;
  /** The child when it runs on a pty (the caller's stdout is a terminal). */
  private pty: PtyChild | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private exited = false;
  private control = '';
  private controlBytes = 0;

  constructor(
    private readonly sock: Socket,
    private readonly peer: Peer,
    private readonly ctx: BrokerContext,
    private readonly done: (s: ExecSession) => void,
  ) {}

  async run(): Promise<void> {
    const t0 = Date.now();
    let fds: number[] = [];
    let req: ExecRequest | undefined;
    let token: TokenSpec | undefined;
    const info: { project?: string; keys?: string[] } = {};
    try {
      const got = await readExecRequest(this.sock, Date.now() + this.ctx.ioTimeoutMs);
      fds = got.fds;
      let first: ParsedRequest;
      try {
        first = parseRequest(got.line);
      } finally {
        got.line.fill(0);
      }
      if (first.op === 'unlock') first.passphrase.fill(0);
      if (first.op !== 'exec') throw new ProtocolError('bad_request', `the exec socket serves op exec only, not ${first.op}`);
      let parsed: Request = first;
      const tokens = this.ctx.tokens();
      if (tokens) {
        token = tokens.find(parsed.token);
        parsed = authorize(token, parsed, Date.now());
      }
      req = parsed as ExecRequest;
      const delegate = this.peer.uid !== process.getuid!();
      const agentPath = process.env.PATH ?? '/usr/bin:/bin';
      // An allow-list is checked against the program the agent finds along its own PATH; the
      // caller's PATH decides nothing then (it could point at a look-alike).
      const lookup = token?.allowCmd || delegate ? agentPath : (req.env.PATH ?? agentPath);
      if (!statSafe(req.cwd)) throw new ProtocolError('bad_request', `cwd ${req.cwd} is not a directory the agent can use`);
      const program = resolveProgram(req.argv[0], req.cwd, lookup);
      if (token?.allowCmd && (!program || !allowedCommand(token.allowCmd, req.argv, program, agentPath))) {
        throw new ProtocolError('token_scope', `not in scope: this token may run only: ${token.allowCmd.map((c) => c.join(' ')).join('; ')}`);
      }
      const { project, secrets } = this.ctx.readSecrets(req.project ?? null, req.only, req.prefix);
      info.project = project;
      info.keys = secrets.map((s) => s.name);
      let env: Record<string, string>;
      let masker: { out: Masker; err: Masker; unmasked: string[] };
      try {
        const refused = info.keys.filter((k) => k.startsWith('TVAULT_') || this.ctx.isDangerousName?.(k));
        if (refused.length)
          throw new ProtocolError('bad_request', `refusing to inject ${refused.join(', ')}: reserved for tvault, or changes how programs load`);
        const values = secrets.map((s) => ({ name: s.name, value: Buffer.from(s.value).toString('utf8') }));
        env = brokerEnv(req.env, values, { isDangerousName: this.ctx.isDangerousName, delegate, agentEnv: process.env, allowEnv: token?.allowEnv });
        // Masking is always on for brokered exec: the caller cannot turn it off.
        const set = new MaskSet(secrets);
        masker = { out: new Masker(set), err: new Masker(set), unmasked: Masker.unmasked(secrets) };
      } finally {
        zero(...secrets.map((s) => s.value));
      }
      const actor: Actor = { via: 'agent', uid: this.peer.uid, pid: this.peer.pid, ...(token && { tokenId: token.id }) };
      // tool=: the caller's own label (the MCP server's tool), recorded as its claim.
      const detail = `argv0=${basename(req.argv[0])} argv_sha256=${argvHash(req.argv)}${req.tool ? ` tool=${req.tool}` : ''}`;
      // Recorded before the child gets a value: no row, no exec (fail closed, as reads).
      await this.ctx.audit({ op: 'exec', project, keys: info.keys, detail }, actor);
      if (this.sock.destroyed) throw new ProtocolError('bad_request', 'the caller went away before the child started');
      // A caller whose stdout is a terminal (it says so, and the passed descriptor is one) gets a pty.
      const spawnIt = req.tty && isTerminal(fds[1]) ? this.spawnPtyChild : this.spawnChild;
      const status = await spawnIt.call(this, req, program, env, fds, masker, { project, keys: info.keys });
      await this.ctx
        .audit({ op: 'exec.exit', project, keys: info.keys, detail: `${detail} status=${status} ms=${Date.now() - t0}` }, actor)
        .catch((err: Error) => this.ctx.log.error({ ev: 'internal', op: 'exec.exit', error: err.message }));
      this.logDone(req, token, info, `status=${status}`, t0);
    } catch (err) {
      const { code, message } = this.ctx.classify(err);
      if (code === 'internal') this.ctx.log.error({ ev: 'internal', op: 'exec', error: message });
      this.logDone(req, token, info, code, t0);
      this.finish(errorLine(code, message));
    } finally {
      closeFds(fds);
      this.done(this);
    }
  }

  /**
   * Runs the child: stdin is the caller's own descriptor; stdout and stderr are pipes whose
   * masked contents the agent writes to the caller's descriptors. Resolves, once both are
   * written out, with the status `run` would exit with.
   */
  private spawnChild(
    req: ExecRequest,
    program: string | null,
    env: Record<string, string>,
    fds: number[],
    masker: { out: Masker; err: Masker; unmasked: string[] },
    names: { project: string; keys: string[] },
  ): Promise<number> {
    return new Promise((resolveStatus) => {
      const exit = (status: number, fields: Record<string, unknown>) => {
        if (this.exited) return;
        this.exited = true;
        clearTimeout(this.killTimer);
        this.finish(line({ ...fields, status }));
        resolveStatus(status);
      };
      if (!program) return exit(NOT_FOUND, { exit: null, message: `${req.argv[0]}: command not found` });
      // The child's stdout and stderr are pipes the agent makes (masked-io.ts, childPipe): large
      // buffers, read in large blocks, not Node's pipe streams.
      const pipes: number[][] = [];
      try {
        pipes.push(childPipe(), childPipe());
        // detached: a session and process group of its own, so that the caller's departure
        // (or the agent's stop) can end the child and whatever it started.
        this.child = spawn(program, req.argv.slice(1), { argv0: req.argv[0], cwd: req.cwd, env, stdio: [fds[0], pipes[0][1], pipes[1][1]], detached: true });
      } catch (err) {
        pipes.forEach((p) => p.forEach((fd) => closeQuietly(fd)));
        return exit(RUN_FAILED, { exit: null, message: `cannot run ${req.argv[0]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      }
      // The child holds stdin and the pipes' write ends now; the output descriptors belong to their pumps.
      pipes.forEach((p) => closeQuietly(p[1]));
      const [inFd, outFd, errFd] = fds.splice(0);
      closeQuietly(inFd);
      const written = [maskedPump(pipes[0][0], outFd, masker.out), maskedPump(pipes[1][0], errFd, masker.err)];
      this.child.on('error', (err: NodeJS.ErrnoException) => {
        const status =
          err.code === 'ENOENT' ? NOT_FOUND : err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR' ? NOT_EXECUTABLE : RUN_FAILED;
        void Promise.all(written).then(() =>
          exit(status, {
            exit: null,
            message: `${req.argv[0]}: ${status === NOT_FOUND ? 'command not found' : status === NOT_EXECUTABLE ? `not executable (${err.code})` : `cannot run (${err.code ?? err.message})`}`,
          }),
        );
      });
      this.child.on('exit', (code, signal) => {
        const status = signal ? 128 + (osConstants.signals[signal] ?? 0) : (code ?? RUN_FAILED);
        // The answer goes once all the output is out, so that the caller exits after it.
        void Promise.all(written).then(() => exit(status, { exit: { code, signal } }));
      });
      if (this.child.pid) this.sock.write(line({ started: true, ...names, ...(masker.unmasked.length && { unmasked: masker.unmasked }) }));
      this.listenForSignals();
    });
  }

  /**
   * Runs the child on a pty of its own (masked-io.ts): the masker sits between the pty and the
   * caller's terminal, which is in raw mode until the child has ended. Resolves as spawnChild.
   */
  private spawnPtyChild(
    req: ExecRequest,
    program: string | null,
    env: Record<string, string>,
    fds: number[],
    masker: { out: Masker; err: Masker; unmasked: string[] },
    names: { project: string; keys: string[] },
  ): Promise<number> {
    const finish = (status: number, fields: Record<string, unknown>) => {
      this.exited = true;
      clearTimeout(this.killTimer);
      this.finish(line({ ...fields, status }));
      return status;
    };
    if (!program) return Promise.resolve(finish(NOT_FOUND, { exit: null, message: `${req.argv[0]}: command not found` }));
    const [inFd, outFd, errFd] = fds.splice(0); // the pty session owns them now
    try {
      this.pty = spawnOnPty({ file: program, argv: req.argv, env, cwd: req.cwd, stdio: [inFd, outFd, errFd], masker, closeCallerFds: true });
    } catch (err) {
      [inFd, outFd, errFd].forEach((fd) => closeQuietly(fd));
      const code = (err as NodeJS.ErrnoException).code;
      const status = code === 'ENOENT' ? NOT_FOUND : code === 'EACCES' || code === 'ENOEXEC' || code === 'EISDIR' ? NOT_EXECUTABLE : RUN_FAILED;
      const why =
        status === NOT_FOUND ? 'command not found' : status === NOT_EXECUTABLE ? `not executable (${code})` : `cannot run (${code ?? (err as Error).message})`;
      return Promise.resolve(finish(status, { exit: null, message: `${req.argv[0]}: ${why}` }));
    }
    this.sock.write(line({ started: true, ...names, ...(masker.unmasked.length && { unmasked: masker.unmasked }) }));
    this.listenForSignals();
    return this.pty.done.then(({ code, signal }) => {
      const name = signal !== null ? (Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0] ?? null) : null;
      return finish(signal !== null ? 128 + signal : (code ?? RUN_FAILED), { exit: { code, signal: name } });
    });
  }

  /** After the request, the caller sends only `{"signal":"SIGINT"}` lines; its end ends the child. */
  private listenForSignals(): void {
    this.sock.on('data', (chunk: Buffer) => {
      this.controlBytes += chunk.length;
      if (this.controlBytes > MAX_CONTROL_BYTES) return this.callerGone();
      this.control += chunk.toString('latin1');
      for (let nl; (nl = this.control.indexOf('\n')) >= 0;) {
        const text = this.control.slice(0, nl);
        this.control = this.control.slice(nl + 1);
        let sig: unknown;
        try {
          sig = (JSON.parse(text) as { signal?: unknown }).signal;
        } catch {
          continue; // garbage is ignored
        }
        if (sig === 'SIGWINCH' && this.pty)
          this.pty.resize(); // the pty tells its foreground group
        else if ((EXEC_SIGNALS as readonly unknown[]).includes(sig)) this.signal(sig as NodeJS.Signals);
      }
      if (this.control.length > 256) this.control = '';
    });
    this.sock.on('end', () => this.callerGone());
    this.sock.on('close', () => this.callerGone());
    this.sock.on('error', () => this.callerGone());
    this.sock.resume();
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid ?? this.pty?.pid;
    if (!pid || this.exited) return;
    try {
      process.kill(-pid, sig); // the child's whole process group
    } catch {
      /* gone already */
    }
  }

  /** The caller died or hung up: no orphan keeps running with its secrets. */
  private callerGone(): void {
    if (this.exited || !(this.child?.pid ?? this.pty?.pid) || this.killTimer) return;
    this.signal('SIGHUP');
    this.signal('SIGTERM');
    this.killTimer = setTimeout(() => this.signal('SIGKILL'), KILL_AFTER_MS);
  }

  /** The agent stops: its children stop with it. */
  kill(): void {
    this.signal('SIGKILL');
  }

  private finish(answer: Buffer): void {
    if (!this.sock.destroyed) this.sock.end(answer);
    this.sock.once('finish', () => this.sock.destroy());
    setTimeout(() => this.sock.destroy(), this.ctx.ioTimeoutMs).unref();
  }

  private logDone(req: ExecRequest | undefined, token: TokenSpec | undefined, info: { project?: string; keys?: string[] }, result: string, t0: number): void {
    this.ctx.log.info({
      ev: 'request',
      op: 'exec',
      project: info.project,
      keys: info.keys,
      argv0: req ? basename(req.argv[0]) : undefined,
      argvHash: req ? argvHash(req.argv) : undefined,
      token: token?.id,
      peer: { uid: this.peer.uid, pid: this.peer.pid },
      result,
      ms: Date.now() - t0,
    });
  }
}

function statSafe(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

export class Broker {
  private readonly running = new Set<ExecSession>();

  constructor(private readonly ctx: BrokerContext) {
    // However the agent ends, no brokered child outlives it.
    process.on('exit', () => this.killAll());
  }

  get size(): number {
    return this.running.size;
  }

  accept(sock: Socket, peer: Peer): void {
    sock.on('error', () => sock.destroy());
    if (this.running.size >= MAX_EXECS) {
      sock.end(errorLine('busy', `the agent is busy: ${MAX_EXECS} brokered commands are running`));
      setTimeout(() => sock.destroy(), 250).unref();
      return;
    }
    const s = new ExecSession(sock, peer, this.ctx, (x) => this.running.delete(x));
    this.running.add(s);
    void s.run();
  }

  killAll(): void {
    for (const s of this.running) s.kill();
  }
}
