// The agent's life: harden, check the vault directory, take the single-instance lock, unlock
// (or, with --locked, wait for `tvault unlock`), serve reads over a private socket; `tvault
// lock`, and idle or max-ttl with --on-idle lock, wipe the KEK and keep it running, locked; on
// idle or max-ttl (--on-idle exit), `stop`, a signal or a crash: wipe the KEK, remove the
// socket and pid file, exit. See docs/PROTOCOL.md for the wire format.
import {
  type Actor,
  type AuditEvent,
  ExitCode,
  TvaultError,
  Vault,
  checkPrivateDir,
  formatDuration,
  leaseRefusal,
  lockedError,
  noVaultError,
  useNativeSecretbox,
  useNativeRows,
  vaultFiles,
} from '@tvault/core';
import { AuditJournal, AuditQueue } from './audit-queue';
import { url as inspectorUrl } from 'node:inspector';
import { join } from 'node:path';
import { harden, sdNotify, secretboxLib, secretboxOpenRows, shellLines } from '@tvault/native';
import { acquireLock, checkDelegateDir, clearSocketPath, removeRunFiles, writePidFile } from './files';
import { KeyHolder } from './key';
import { LockTimers } from './lock-timers';
import { type AgentLog, type Logger, RefusalDigest, openLog } from './log';
import { type ErrorCode, type LockAnswer, type NamesRequest, type ParsedRequest, type ReadRequest, type StatusAnswer, type TokenInfo } from '@tvault/protocol';
import { ProtocolError, errorLine, okLine, parseRequest } from './protocol';
import { listNames } from './names';
import { type ReadResult, serveRead } from './reads';
import { type Answer, AgentServer, type Peer } from './server';
import { TokenSet, authorize } from './token-gate';
import { type TokenSpec, isUnrestricted, readTokenFile } from '@tvault/tokens';
import { UnlockBackoff } from './unlock-backoff';
import { VaultHandle } from './vault-handle';
import { Broker } from './exec';
import { execSocketPath } from '@tvault/protocol';

declare const TVAULT_VERSION: string;
const VERSION = typeof TVAULT_VERSION === 'string' ? TVAULT_VERSION : '0.0.0-dev';

export interface AgentOptions {
  dir: string;
  /** Auto-lock after this long without a read; 0 never. */
  idleMs: number;
  /** Lock this long after unlocking however busy the agent is; 0 never. */
  maxTtlMs: number;
  /** Per-connection deadline for reading the request and writing the answer. */
  ioTimeoutMs: number;
  /** Where the passphrase comes from (prompt, TVAULT_PASSPHRASE, a file); the agent zeroes it. */
  readPassphrase(): Promise<Buffer>;
  /** Extra uids allowed to connect besides the agent's own (--allow-uid); needs tokenFile. */
  allowUids?: number[];
  /** With a token file, every request needs a valid token from it (--require-token --token-file). */
  tokenFile?: string;
  /** Another directory to listen in, DIR/agent.sock (mode 0666), for delegates (--delegate-dir); needs tokenFile. */
  delegateDir?: string;
  /** agent.log is rotated to agent.log.1 past this size (--log-max-size). */
  logMaxBytes?: number;
  /** Start without the key (--locked): serve nothing until `tvault unlock`; readPassphrase is not called. */
  locked?: boolean;
  /** What the idle and max-ttl deadlines do (--on-idle): wipe the key and keep running, or exit (the default). */
  onIdle?: 'lock' | 'exit';
  /** The CLI's dangerous-name filter for brokered exec (exec.ts); without it a child gets a minimal base env. */
  isDangerousName?: (name: string) => boolean;
}

/** What a locked agent answers to a read; the client offers to unlock it (the answer's `unlock` field). */
const LOCKED_MESSAGE = 'the agent is locked: run tvault unlock';

/** What the log says about a request: never a value or a token, only names and the token_id. */
interface RequestInfo {
  project?: string;
  keys?: readonly string[];
  token?: string;
}

export type StopReason = 'idle' | 'max-ttl' | 'stop' | 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'crash';
type LockReason = 'lock' | 'idle' | 'max-ttl';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const DRAIN_MS = 1000;

/** Maps a failure while serving to a protocol error code and a one-line message. */
function classify(err: unknown): { code: ErrorCode; message: string; fields?: Record<string, boolean> } {
  if (err instanceof ProtocolError) return { code: err.code, message: err.message, fields: err.fields };
  if (err instanceof TvaultError) {
    const code: ErrorCode =
      err.exitCode === ExitCode.NOT_FOUND
        ? 'not_found'
        : err.exitCode === ExitCode.WRONG_PASSPHRASE
          ? 'wrong_passphrase'
          : err.exitCode === ExitCode.USAGE
            ? 'bad_request'
            : err.exitCode === ExitCode.LOCKED
              ? 'locked'
              : err.exitCode === ExitCode.INTEGRITY
                ? 'integrity'
                : 'internal';
    return { code, message: err.message };
  }
  return { code: 'internal', message: `internal error: ${(err as Error)?.message ?? String(err)}` };
}

function notify(log: Logger, state: string): void {
  const addr = process.env.NOTIFY_SOCKET;
  if (!addr) return;
  try {
    if (!sdNotify(addr, state)) log.warn({ ev: 'sd_notify', delivered: false, state: state.split('\n')[0] });
  } catch (err) {
    log.warn({ ev: 'sd_notify', error: (err as Error).message });
  }
}

class Agent {
  /** locked: no key (--locked, `tvault lock`, an auto-lock with --on-idle lock); `unlock` makes it serving. */
  private state: 'serving' | 'locked' | 'rotated' | 'stopping';
  private readonly timers: LockTimers;
  private served = 0;
  private lastAuditHead = '';
  private readonly allowed: ReadonlySet<number>;
  readonly server: AgentServer;
  private readonly files: ReturnType<typeof vaultFiles>;
  /** Made at the first unlock: its rows need the key, and a locked agent serves no read. */
  private audits: AuditQueue | null = null;
  private readonly refusals: RefusalDigest;
  private readonly backoff = new UnlockBackoff();
  private readonly startedAt = Date.now();
  private readonly broker: Broker;

  constructor(
    private readonly o: AgentOptions,
    private readonly vault: VaultHandle,
    private readonly key: KeyHolder,
    private readonly log: Logger,
    /** The tokens in force (--require-token), replaced as a whole by a reload; null: no tokens. */
    private tokens: TokenSet | null,
    /** The sockets this agent listens on (removed on the way out). */
    private readonly sockets: string[],
    /** Start and stop lines: also kept where a flood cannot rotate them away (log.ts). */
    private readonly anchor: AgentLog['anchor'],
    /** A request's line: log.info's bytes, without pino's serialiser (log.ts). */
    private readonly requestLine: AgentLog['info'],
  ) {
    this.files = vaultFiles(o.dir);
    this.refusals = new RefusalDigest(log);
    this.state = key.held ? 'serving' : 'locked';
    if (key.held) this.startAudits();
    this.allowed = new Set([process.getuid!(), ...(o.allowUids ?? [])]);
    this.timers = new LockTimers(o, (reason) => (o.onIdle === 'lock' ? this.lock(reason) : this.stop(reason, 0)));
    this.server = new AgentServer({
      ioTimeoutMs: o.ioTimeoutMs,
      allowPeer: (p) => this.allowed.has(p.uid),
      onRequest: (line, peer, arrived) => this.onRequest(line, peer, arrived),
      onRefused: (peer, code, reason) => this.refusals.refused(peer, code, reason),
      beforeAnswer: () => this.log.flush(),
      onExec: (sock, peer) => this.broker.accept(sock, peer),
    });
    this.broker = new Broker({
      ioTimeoutMs: o.ioTimeoutMs,
      log,
      tokens: () => this.tokens,
      isDangerousName: o.isDangerousName,
      readSecrets: (project, only, prefix) => this.execSecrets(project, only, prefix),
      // A locked agent has no audit queue (its rows need the key): the exec is refused, fail closed.
      audit: (ev, actor) => (this.audits ? this.audits.record(ev, actor) : Promise.reject(new ProtocolError('locked', LOCKED_MESSAGE))),
      classify,
    });
  }

  /** The secrets a brokered exec injects (exec.ts), read as getselected would; the caller zeroes them. */
  private execSecrets(project: string | null, only: string[] | undefined, prefix: string | undefined) {
    if (this.state === 'stopping') throw new ProtocolError('locked', 'the agent is locking; unlock directly or start it again');
    if (this.state === 'locked') throw new ProtocolError('locked', LOCKED_MESSAGE);
    this.touch();
    const vault = this.vault.get();
    this.checkKey();
    const p = project ?? vault.currentProject();
    const secrets = vault.readSecretsUnaudited(this.key.use(), p, only || prefix !== undefined ? { only, prefix } : {});
    this.served++;
    return { project: p, secrets };
  }

  /** The deadlines run while the agent holds the key. */
  startTimers(): void {
    if (this.key.held) this.timers.start();
  }

  private startAudits(): void {
    this.audits ??= new AuditQueue(
      { tryWrite: (rows) => this.writeAudit(rows) },
      new AuditJournal(auditJournalPath(this.o.dir)),
      () => this.server.requestsComing,
    );
  }

  // ---- requests ----------------------------------------------------------------------------

  private onRequest(line: Buffer, peer: Peer, arrived?: number): Answer | Promise<Answer> {
    const t0 = performance.now();
    let req: ParsedRequest | undefined;
    const info: RequestInfo = {};
    const done = (answer: Answer, result: string): Answer => {
      const keys = info.keys && info.keys.length > 20 ? [...info.keys.slice(0, 20), `+${info.keys.length - 20} more`] : info.keys;
      const us = Math.floor((performance.now() - t0) * 1000);
      const reply = req && 'reply' in req ? req.reply : undefined;
      this.requestLine({
        ev: 'request',
        op: req?.op,
        ...(reply && { reply }),
        project: info.project,
        keys,
        token: info.token,
        peer: { uid: peer.uid, pid: peer.pid },
        result,
        us,
      });
      return answer;
    };
    const failed = (err: unknown): Answer => {
      const { code, message, fields } = classify(err);
      if (code === 'internal') this.log.error({ ev: 'internal', op: req?.op, error: message });
      return done({ line: errorLine(code, message, fields) }, code);
    };
    try {
      req = parseRequest(line);
      // Before the token gate: unlock and lock answer to the agent's own uid, never to a token.
      if (req.op === 'unlock' || req.op === 'lock') {
        const r = req;
        return this.lockOp(r, peer).then((a) => done({ line: okLine(a) }, 'ok'), failed);
      }
      let token: TokenSpec | undefined;
      if (this.tokens) {
        // After the uid check (server.ts), before anything else: no token, no service.
        token = this.tokens.find(req.token);
        info.token = token?.id;
        req = authorize(token, req, Date.now());
      }
      if (req.op === 'status') return done({ line: okLine(this.status(req.project, token)) }, 'ok');
      if (req.op === 'exec') throw new ProtocolError('bad_request', "op exec is served on exec.sock, with the caller's descriptors (docs/PROTOCOL.md)");
      if (req.op === 'stop') return done({ line: okLine({ pid: process.pid, stopping: true }), after: () => this.stop('stop', 0) }, 'ok');
      if (req.op === 'names') return this.names(req, peer, info, token).then((line) => done({ line }, 'ok'), failed);
      return this.read(req, peer, info, token, arrived).then((r) => {
        info.project = r.project;
        info.keys = r.keys;
        this.served++;
        return done({ line: r.line }, 'ok');
      }, failed);
    } catch (err) {
      return failed(err);
    }
  }

  /** Not async (see serveGet): a refusal throws, to onRequest's catch; the read resolves once audited. */
  private read(req: ReadRequest, peer: Peer, info: RequestInfo, token: TokenSpec | undefined, arrived?: number): Promise<ReadResult> {
    if (this.state === 'stopping') throw new ProtocolError('locked', 'the agent is locking; unlock directly or start it again');
    if (this.state === 'locked') throw new ProtocolError('locked', LOCKED_MESSAGE, { unlock: true });
    this.touch();
    info.project = req.project ?? undefined;
    info.keys = req.op === 'get' ? [req.key] : req.op === 'getselected' ? req.only : undefined;
    const vault = this.vault.get(arrived);
    this.checkKey();
    const actor: Actor = { via: 'agent', uid: peer.uid, pid: peer.pid, ...(token && { tokenId: token.id }) };
    const audits = this.audits!;
    return serveRead(vault, req, { kek: () => this.key.use(), audit: (ev) => audits.record(ev, actor) });
  }

  /** `names` (names.ts): metadata only, audited like a read (no row, no answer), refused while locked. */
  private async names(req: NamesRequest, peer: Peer, info: RequestInfo, token: TokenSpec | undefined): Promise<Buffer> {
    if (this.state === 'stopping') throw new ProtocolError('locked', 'the agent is locking; unlock directly or start it again');
    if (this.state === 'locked') throw new ProtocolError('locked', LOCKED_MESSAGE, { unlock: true });
    this.touch();
    const vault = this.vault.get();
    this.checkKey();
    const answer = listNames(vault, this.key.use(), req, token?.keys);
    info.project = req.project ?? undefined;
    info.keys = req.only;
    const listed = answer.projects.reduce((n, p) => n + p.keys.length, 0);
    const detail = `projects=${answer.projects.length} keys=${listed}${req.tool ? ` tool=${req.tool}` : ''}`;
    const actor: Actor = { via: 'agent', uid: peer.uid, pid: peer.pid, ...(token && { tokenId: token.id }) };
    await this.audits!.record({ op: 'names', project: req.project ?? null, keys: req.only ?? null, detail }, actor);
    this.served++;
    return okLine(answer);
  }

  /** Commits queued audit rows (the audit queue's sink); with the KEK, so that they carry the MAC. */
  private writeAudit(rows: Array<{ ev: AuditEvent; actor: Actor }>): boolean {
    if (!this.key.held) throw lockedError('the agent locked before the read was recorded');
    const ok = this.vault.forAudit().tryAuditBatch(rows, this.key.use());
    if (ok) this.vault.wrote();
    return ok;
  }

  /** After `key rotate` the KEK no longer opens the vault: wipe it and say so on every read. */
  private checkKey(): void {
    if (this.state === 'serving' && !this.vault.kekStillMatches(this.key.use())) {
      this.state = 'rotated';
      this.wipeKeys();
      this.log.warn({ ev: 'key_rotated' });
    }
    if (this.state === 'rotated') {
      throw new ProtocolError(
        'key_rotated',
        'the vault key changed (tvault key rotate) after this agent unlocked it; restart the agent: tvault agent stop && tvault agent start, or unlock it with the new passphrase: tvault unlock',
      );
    }
  }

  private touch(): void {
    this.timers.touch();
  }

  // ---- unlock and lock in place ------------------------------------------------------------

  /**
   * `unlock` and `lock`: for the agent's own uid only, as the kernel reports the peer, and never
   * with a token. A delegate's token says which values it may read; it must not be able to
   * wipe the owner's key, nor to try passphrases.
   */
  private async lockOp(req: Extract<ParsedRequest, { op: 'unlock' | 'lock' }>, peer: Peer): Promise<LockAnswer> {
    try {
      if (req.token !== undefined)
        throw new ProtocolError('permission_denied', `a capability token cannot ${req.op} the agent: only its own user can, without a token`);
      if (peer.uid !== process.getuid!()) throw new ProtocolError('permission_denied', `only the agent's own user may ${req.op} it`);
      if (this.state === 'stopping') throw new ProtocolError('locked', 'the agent is stopping');
      if (req.op === 'lock') return { pid: process.pid, unlocked: false, already: !this.lock('lock') };
      return await this.unlock(req.passphrase, peer);
    } finally {
      if (req.op === 'unlock') req.passphrase.fill(0);
    }
  }

  /** Derives the KEK off the event loop (deriveKek, as a start does) and holds it; rate-limited (unlock-backoff.ts). */
  private async unlock(pass: Uint8Array, peer: Peer): Promise<LockAnswer> {
    if (this.key.held) return { pid: process.pid, unlocked: true, already: true };
    const leased = leaseRefusal(this.o.dir);
    if (leased) throw new ProtocolError('locked', leased);
    const refused = this.backoff.refusal(Date.now());
    if (refused) {
      this.log.warn({ ev: 'unlock', result: 'backoff', failures: this.backoff.failures, peer: { uid: peer.uid, pid: peer.pid } });
      throw new ProtocolError('unlock_backoff', refused);
    }
    this.backoff.begin();
    let kek: Buffer;
    try {
      kek = await this.vault.unlock(pass); // audits the attempt (an `unlock` row, ok or failed)
    } catch (err) {
      if ((err as TvaultError).exitCode === ExitCode.WRONG_PASSPHRASE) {
        const delay = this.backoff.failed(Date.now());
        this.log.warn({ ev: 'unlock', result: 'wrong_passphrase', failures: this.backoff.failures, delayMs: delay, peer: { uid: peer.uid, pid: peer.pid } });
        throw new ProtocolError('wrong_passphrase', `wrong passphrase (the next unlock is accepted in ${Math.ceil(delay / 1000)} s)`);
      }
      this.backoff.ended(false);
      throw err;
    }
    this.backoff.ended(true);
    if (this.state === 'stopping') {
      kek.fill(0);
      throw new ProtocolError('locked', 'the agent is stopping');
    }
    this.key.hold(kek);
    this.state = 'serving';
    this.startAudits();
    this.timers.restart();
    this.log.info({ ev: 'unlock', result: 'ok', mlocked: this.key.mlocked, peer: { uid: peer.uid, pid: peer.pid } });
    process.stderr.write('tvault agent: unlocked\n');
    return { pid: process.pid, unlocked: true, already: false };
  }

  /**
   * Wipes the KEK and keeps serving, locked: reads answer `locked` until the next unlock. The
   * agent's queued audit rows go in first, with the key. False if it was locked already.
   */
  private lock(reason: LockReason): boolean {
    if (!this.key.held) {
      if (this.state === 'rotated') this.state = 'locked';
      return false;
    }
    // Through the audit queue, with the key, now: it never waits for the vault's write lock (a
    // row that cannot be committed is journaled, and goes in after the next unlock).
    const self: Actor = { via: 'agent', uid: process.getuid!(), pid: process.pid };
    const audits = this.audits!;
    audits
      .record({ op: 'agent.lock', detail: `reason=${reason} served=${this.served}` }, self)
      .catch((err: Error) => this.log.warn({ ev: 'lock', audit: false, error: err.message }));
    try {
      audits.flush();
    } catch (err) {
      this.log.warn({ ev: 'lock', audit: false, error: (err as Error).message }); // the lock must happen anyway
    }
    this.wipeKeys(); // the KEK and the vault's cached manifest keys and DEKs
    this.timers.stop();
    this.state = 'locked';
    this.log.info({ ev: 'lock', reason });
    process.stderr.write(`tvault agent: locked (${reason}); the key is wiped, tvault unlock to unlock again\n`);
    return true;
  }

  private status(project: string | null | undefined, token: TokenSpec | undefined): StatusAnswer {
    const now = Date.now();
    let current: string | null = project ?? null;
    try {
      current ??= this.vault.get().currentProject();
    } catch {
      /* status still answers when the vault is unreadable */
    }
    return {
      project: current,
      pid: process.pid,
      uid: process.getuid!(),
      version: VERSION,
      vault: this.o.dir,
      socket: this.files.sock,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: now - this.startedAt,
      unlocked: this.key.held,
      locked: this.state === 'locked',
      onIdle: this.o.onIdle ?? 'exit',
      keyRotated: this.state === 'rotated',
      mlocked: this.key.mlocked,
      idleMs: this.o.idleMs,
      idleRemainingMs: this.key.held ? this.timers.idleRemainingMs(now) : null,
      maxTtlMs: this.o.maxTtlMs,
      maxTtlRemainingMs: this.key.held ? this.timers.maxTtlRemainingMs(now) : null,
      served: this.served,
      requireToken: this.tokens !== null,
      ...(token && { token: tokenInfo(token) }),
      // The file and the count are the owner's business: shown to an unrestricted token only.
      ...(token && isUnrestricted(token) && { tokenFile: this.tokens!.file, tokens: this.tokens!.size }),
    };
  }

  // ---- tokens ------------------------------------------------------------------------------

  get requiresTokens(): boolean {
    return this.tokens !== null;
  }

  /**
   * SIGHUP with --token-file: switch to the file as it is now, or, if it cannot be read or
   * parsed, keep the tokens in force and say why. An emptied file revokes every token.
   */
  reloadTokens(): void {
    const before = this.tokens!;
    let next: TokenSet;
    try {
      next = new TokenSet(before.file, readTokenFile(before.file, { allowEmpty: true }));
    } catch (err) {
      const error = (err as Error).message;
      this.log.error({ ev: 'tokens', action: 'reload_failed', file: before.file, error, kept: before.size });
      process.stderr.write(`tvault agent: the token file was not reloaded, the ${before.size} tokens in force stay: ${error}\n`);
      return;
    }
    this.tokens = next;
    const removed = before.removedIn(next);
    const added = next.removedIn(before);
    this.log.info({ ev: 'tokens', action: 'reloaded', file: next.file, tokens: next.size, added, removed });
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
    process.stderr.write(`tvault agent: reloaded ${n(next.size, 'token')} from ${next.file} (${added.length} added, ${removed.length} removed)\n`);
    // Through the audit queue (with the KEK, so that the row carries the MAC): never blocking on the lock.
    const detail = `tokens=${next.size} added=${added.join(',') || '-'} removed=${removed.join(',') || '-'}`;
    const self: Actor = { via: 'agent', uid: process.getuid!(), pid: process.pid };
    if (!this.audits) {
      // Locked: an unkeyed row (token.reload may be), never waiting for the write lock.
      if (!this.vault.get().tryAuditBatch([{ ev: { op: 'token.reload', detail }, actor: self }])) this.log.warn({ ev: 'tokens', audit: false });
      return;
    }
    this.audits.record({ op: 'token.reload', detail }, self).catch((err: Error) => this.log.error({ ev: 'internal', op: 'token.reload', error: err.message }));
  }

  // ---- stopping ----------------------------------------------------------------------------

  /** The KEK and every key derived from it that the vault keeps between reads (a lock calls this too). */
  private wipeKeys(): void {
    this.key.wipe();
    this.vault.wipeCaches();
  }

  /** Every way out goes through here: wipe first, then tidy up, then exit. */
  stop(reason: StopReason, code: number): void {
    if (this.state === 'stopping') return;
    this.state = 'stopping';
    // One last try, with the key, to move journaled rows into vault.db (never waits for the lock).
    if (this.key.held) {
      try {
        this.audits?.flush();
      } catch {
        /* they stay in the journal for the next agent */
      }
    }
    this.wipeKeys();
    this.timers.stop();
    const step = (fn: () => void) => {
      try {
        fn();
      } catch {
        /* keep going: the exit must happen */
      }
    };
    step(() => notify(this.log, 'STOPPING=1'));
    step(() => this.server.close());
    step(() => this.broker.killAll());
    step(() => this.server.refuseAll('locked', `the agent locked (${reason}) before answering; unlock directly or start it again`));
    step(() => this.audits?.abandon(lockedError('the agent locked before the read was recorded')));
    removeRunFiles(this.sockets, this.files.pid);
    step(() => this.vault.get().audit({ op: 'agent.stop', detail: `reason=${reason} served=${this.served}` }));
    step(() => (this.lastAuditHead = this.vault.get().auditHead()));
    step(() => this.vault.close());
    // The audit chain's head, logged outside the vault: an anchor against a later rewrite.
    step(() => this.refusals.flush());
    step(() => this.anchor('info', { ev: 'stop', reason, served: this.served, exitCode: code, auditHead: this.lastAuditHead }));
    step(() => process.stderr.write(`tvault agent: stopped (${reason}); the key is wiped\n`));
    const deadline = Date.now() + DRAIN_MS;
    const exit = () => (this.server.inFlight === 0 || Date.now() > deadline ? process.exit(code) : setTimeout(exit, 10));
    exit();
  }

  onCrash(err: unknown): void {
    this.wipeKeys();
    try {
      this.log.fatal({ ev: 'crash', error: (err as Error)?.message ?? String(err) });
    } catch {
      /* nothing more to do */
    }
    if (this.state === 'stopping') process.exit(ExitCode.ERROR);
    this.stop('crash', ExitCode.ERROR);
  }
}

/**
 * Node answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, an unauthenticated debugger
 * any local process could attach to and read the key through, which would defeat the hardening.
 * A listener of our own replaces Node's handler; an inspector already open means no agent.
 */
function shutInspector(): void {
  process.on('SIGUSR1', () => undefined);
  if (inspectorUrl()) {
    throw new TvaultError(
      'the Node inspector is active in this process (--inspect, or NODE_OPTIONS); the agent refuses to hold the key where a debugger can read it',
    );
  }
}

/**
 * Starts the agent. Resolves once it is listening (after printing its one line on stdout);
 * from then on the agent ends the process itself. Rejects, with nothing left behind, if it
 * cannot start.
 */
/** A handoff's live lease on the vault is a refusal to hold its key (exit 3). */
function refuseWhileLeased(dir: string): void {
  const why = leaseRefusal(dir);
  if (why) throw new TvaultError(`${why}; start the agent after it`, ExitCode.LOCKED);
}

export async function startAgent(o: AgentOptions): Promise<void> {
  // Never let another uid in without tokens (the CLI refuses this too; fail closed here as well).
  if (!o.tokenFile && (o.allowUids?.length || o.delegateDir)) {
    throw new TvaultError('--allow-uid and --delegate-dir need --require-token --token-file: another uid is never let in without a token', ExitCode.USAGE);
  }
  // Before any key material exists: no debugger, no ptrace by the same uid, no core dumps.
  shutInspector();
  const hardening = harden();
  if (process.platform === 'linux' && (!hardening.dumpable || !hardening.coreLimit)) {
    throw new TvaultError('cannot harden the agent process (PR_SET_DUMPABLE / RLIMIT_CORE); refusing to hold the key');
  }
  if (!Vault.exists(o.dir)) throw noVaultError(o.dir);
  checkPrivateDir(o.dir);
  // The token file is checked before the passphrase is asked for: a bad file fails fast.
  const tokens = o.tokenFile ? new TokenSet(o.tokenFile, readTokenFile(o.tokenFile)) : null;
  if (o.delegateDir) checkDelegateDir(o.delegateDir, o.dir);
  const files = vaultFiles(o.dir);
  acquireLock(files.lock, files.pid); // the fd stays open (and locked) until the process exits
  // No cache of a vault that a `tvault handoff` holds (handoff-lease.ts): before the key exists,
  // and again once the sockets listen (a handoff that took its lease meanwhile sees them).
  refuseWhileLeased(o.dir);
  const stale = clearSocketPath(files.sock);
  const sockets = [files.sock];
  if (o.delegateDir) {
    // One agent per delegate directory too; holding its lock makes a socket found there a stale one.
    acquireLock(join(o.delegateDir, 'agent.lock'), join(o.delegateDir, 'agent.pid'), `with the delegate directory ${o.delegateDir}`);
    sockets.push(join(o.delegateDir, 'agent.sock'));
    clearSocketPath(sockets[1]);
  }
  // Brokered exec: an exec.sock beside each agent socket, with the same mode (exec.ts).
  const execSockets = sockets.map((s) => execSocketPath(s));
  execSockets.forEach((s) => clearSocketPath(s));
  const { log, anchor, info } = openLog(process.env, o.logMaxBytes);
  const self: Actor = { via: 'agent', uid: process.getuid!(), pid: process.pid };
  let vault: VaultHandle | undefined;
  let key: KeyHolder | undefined;
  // libsodium for every seal and open from here on, where its binary loads (else tweetnacl, the
  // same bytes): a getall of 1,000 values spent ~45 % of its time in tweetnacl (PERFORMANCE.md).
  const secretbox = useNativeSecretbox();
  // A getall's values a range at a time in one native call, where the system's libsodium loads
  // (core/vault.ts's openPacked; else one open a value, the same checks and errors).
  const openRowsLib = secretboxLib();
  // With it, a shell getall's lines are written in C too (the same bytes as shellLinesBytes).
  useNativeRows(openRowsLib ? { open: secretboxOpenRows, shell: shellLines } : null);
  try {
    vault = new VaultHandle(o.dir, self);
    if (o.locked) key = new KeyHolder();
    else {
      const pass = await o.readPassphrase();
      try {
        key = new KeyHolder(await vault.unlock(pass));
      } finally {
        pass.fill(0);
      }
    }
    // Rows a previous agent journaled and could not commit (audit-queue.ts) go in first
    // (locked: at the first unlock, when the audit queue starts with them).
    const journal = new AuditJournal(auditJournalPath(o.dir));
    const left = key.held ? journal.load() : [];
    if (left.length) {
      vault.get().tryAuditBatch(left, key.use(), true);
      journal.clear();
      log.warn({ ev: 'audit_journal', committed: left.length });
    }
    const agent = new Agent(o, vault, key, log, tokens, [...sockets, ...execSockets], anchor, info);
    process.on('uncaughtException', (err) => agent.onCrash(err));
    process.on('unhandledRejection', (err) => agent.onCrash(err));
    // SIGHUP reloads the token file when there is one (like sshd); otherwise it locks, as the
    // end of the terminal the agent was started in.
    for (const sig of SIGNALS) process.on(sig, () => (sig === 'SIGHUP' && agent.requiresTokens ? agent.reloadTokens() : agent.stop(sig, ExitCode.OK)));
    process.on('SIGUSR1', () => log.warn({ ev: 'signal', signal: 'SIGUSR1', action: 'ignored (no inspector in the agent)' }));
    const onAcceptError = (err: Error) => log.error({ ev: 'accept', error: err.message });
    await agent.server.listen(files.sock, 0o600, onAcceptError);
    // The delegate socket is 0666: reaching it is governed by its directory, using it by the uid check and the token.
    if (sockets[1]) await agent.server.listen(sockets[1], 0o666, onAcceptError);
    await agent.server.listen(execSockets[0], 0o600, onAcceptError, 'exec');
    if (execSockets[1]) await agent.server.listen(execSockets[1], 0o666, onAcceptError, 'exec');
    writePidFile(files.pid);
    refuseWhileLeased(o.dir);
    agent.startTimers();
    const settings = [
      ...(o.locked ? ['locked (tvault unlock)'] : []),
      `idle ${formatDuration(o.idleMs)}`,
      `max-ttl ${formatDuration(o.maxTtlMs)}`,
      ...(o.onIdle === 'lock' ? ['on-idle lock'] : []),
      ...(tokens ? [`tokens required (${tokens.size} from ${tokens.file})`] : []),
      ...(o.allowUids?.length ? [`allow-uid ${o.allowUids.join(',')}`] : []),
    ].join(', ');
    vault.get().audit({ op: 'agent.start', detail: settings }, self, key.held ? key.use() : undefined); // with the key: the row carries the audit MAC
    anchor('info', {
      ev: 'start',
      auditHead: vault.get().auditHead(),
      socket: files.sock,
      vault: o.dir,
      idleMs: o.idleMs,
      maxTtlMs: o.maxTtlMs,
      hardening,
      mlocked: key.mlocked,
      secretbox,
      openRows: openRowsLib,
      staleSocketReplaced: stale === 'stale',
      version: VERSION,
      ...(tokens && { tokenFile: tokens.file, tokens: tokens.ids(), allowUids: o.allowUids ?? [], delegateSocket: sockets[1] }),
    });
    process.stdout.on('error', () => undefined); // a closed stdout must not kill the agent
    log.flush(); // the start line is in agent.log before anyone is told the agent listens
    process.stdout.write(`tvault agent: listening on ${sockets.join(' and ')} (pid ${process.pid}, ${settings})\n`);
    notify(log, `READY=1\nMAINPID=${process.pid}\nSTATUS=${key.held ? 'serving' : 'locked, waiting for tvault unlock on'} ${files.sock}`);
    if (key.held && !key.mlocked) log.warn({ ev: 'mlock', locked: false, hint: 'RLIMIT_MEMLOCK too low; the key may be swapped out' });
  } catch (err) {
    key?.wipe();
    vault?.close();
    removeRunFiles([...sockets, ...execSockets], files.pid);
    log.error({ ev: 'start_failed', error: (err as Error).message });
    throw err;
  }
}

/** Where the agent journals audit rows while another process holds the vault's write lock. */
const auditJournalPath = (dir: string) => join(dir, 'audit-journal.jsonl');

/** What status tells a token's holder about it. */
function tokenInfo(t: TokenSpec): TokenInfo {
  return {
    id: t.id,
    name: t.name ?? null,
    project: t.project ?? null,
    keys: t.keys ?? null,
    expiresAt: t.expiresAt !== undefined ? new Date(t.expiresAt).toISOString() : null,
    ...(t.execOnly && { execOnly: true }),
    ...(t.allowCmd && { allowCmd: t.allowCmd }),
  };
}
