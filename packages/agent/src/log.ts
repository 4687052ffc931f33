// The agent's log: pino, one JSON line per event, in $XDG_STATE_HOME/tvault/agent.log
// (default ~/.local/state/tvault/agent.log), directory 0700 and file 0600. It records events,
// ops, project and key names, peers and result codes; never a value, passphrase, key or token.
// Past a size limit (10 MiB by default) the file is renamed agent.log.1, replacing the one
// before, and a new one is started: the two files stay within about twice the limit. The
// start and stop lines, which anchor the audit chain, also go to agent-anchors.log, which a
// flood of other lines cannot rotate away. A log that cannot be written never stops the agent.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, chmodSync, renameSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pino, { type Logger } from 'pino';
import { type PrivacyRule, TvaultError, errnoText, privacyFinding, privacyMessage } from '@tvault/core';
import { flockExclusive } from '@tvault/native';
import { fileIdentity, openPrivate } from './files';

export type { Logger };

export function logDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'tvault');
}

/** The log directory: ours and private; a looser mode is tightened (the log is ours to keep). */
const LOG_DIR: PrivacyRule = { type: 'directory', forbid: 0o077 };

function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = privacyFinding(lstatSync(dir), LOG_DIR);
  if (f?.problem === 'mode') chmodSync(dir, 0o700);
  else if (f) throw new TvaultError(privacyMessage({ what: 'log directory', path: dir }, f, LOG_DIR));
}

export const DEFAULT_LOG_MAX_BYTES = 10 << 20;

/** Opens the log for appending, 0600, refusing a symlink or a file another uid owns. */
function openPrivateFile(path: string): number {
  return openPrivate(path, constants.O_WRONLY | constants.O_APPEND, 'the agent log');
}

/**
 * pino's destination: appends rotated past maxBytes. The lines of one turn of the event loop are
 * appended together, with one write(2): before the agent's next answer goes out (flush, which
 * the server calls before every answer, so that a request's line is in the file before its
 * answer reaches the client), at the end of the turn at the latest, and on exit. Under 8 clients
 * a write per line cost the agent ~3 % of its time per `get` (docs/PERFORMANCE.md). What a
 * crash can lose is the lines of the turn it happened in, none of them answered yet; the
 * audit rows are not in this file (they are committed before any answer).
 *
 * Agents of different vaults share this file (the log is per user). So the path is looked at
 * again (a stat) at most RECHECK_MS after the last look, and before any line that takes the
 * size past the limit: if another agent rotated it (or someone removed it), this one follows
 * to the new file instead of writing on into the old one, and its size counts every agent's
 * lines (between looks: the size seen plus this agent's own lines since). A line written
 * within RECHECK_MS of another agent's rotation may so land at the end of agent.log.1, still
 * kept. The rotation itself happens under a lock, and only of the file still at the path: two
 * agents past the limit at once cannot rename one file over the other's. Under load a stat
 * per line cost the agent about 3 % of its time per `get` (docs/PERFORMANCE.md).
 */
/** How long a look at the log's path is trusted (see RotatingFile). */
const RECHECK_MS = 5;
/** Past this many bytes of lines waiting, they are written at once. */
const FLUSH_BYTES = 64 << 10;

class RotatingFile {
  private fd: number;
  private ident: string;
  /** The file's size at the last look, plus the bytes this agent wrote since. */
  private size: number;
  /** When the path is to be looked at again (performance.now()). */
  private recheckAt = 0;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
  ) {
    this.fd = openPrivateFile(path);
    const st = fstatSync(this.fd);
    this.ident = fileIdentity(st);
    this.size = st.size;
    process.on('exit', () => this.flush());
  }

  private failing: string | null = null;
  private lost = 0;
  /** Lines not yet written (see the class comment), and how many. */
  private pending = '';
  private pendingLines = 0;
  private scheduled = false;
  private readonly endOfTurn = () => {
    this.scheduled = false;
    this.flush();
  };

  /** Queues the line (pino's stream interface); it is written by flush. Never throws. */
  write(line: string): void {
    this.pending += line;
    this.pendingLines++;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTurn);
    }
  }

  /** Writes the lines waiting, if any (pino's logger.flush() calls it too). */
  flush(cb?: (err?: Error) => void): void {
    if (this.pendingLines) {
      const text = this.pending;
      const n = this.pendingLines;
      this.pending = '';
      this.pendingLines = 0;
      this.writeNow(text, n);
    }
    cb?.();
  }

  /**
   * Appends the lines; never throws. A log that cannot be written (disk full, EFBIG, EIO) must
   * not take the agent down with it: the agent keeps serving, says so once on stderr (the
   * journal under systemd), counts the lines lost, and says so again once writing works.
   */
  private writeNow(text: string, lines: number): void {
    try {
      this.append(text);
    } catch (err) {
      this.lost += lines;
      if (this.failing) return;
      this.failing = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      process.stderr.write(`tvault agent: cannot write ${this.path} (${this.failing}); serving on without logging until it can\n`);
      return;
    }
    if (this.failing) {
      const lost = this.lost;
      process.stderr.write(`tvault agent: ${this.path} is writable again; ${lost} line${lost === 1 ? '' : 's'} lost\n`);
      this.failing = null;
      this.lost = 0;
      this.writeNow(`${JSON.stringify({ level: 'warn', time: new Date().toISOString(), pid: process.pid, ev: 'log_gap', lost, error: 'write failed' })}\n`, 1);
    }
  }

  /** The whole line or an exception (a short write is continued: EFBIG, ENOSPC surface). */
  private append(line: string): void {
    const now = performance.now();
    if (now >= this.recheckAt || this.size >= this.maxBytes) {
      this.recheckAt = now + RECHECK_MS;
      const st = statSync(this.path, { throwIfNoEntry: false });
      if (!st || fileIdentity(st) !== this.ident) this.reopen();
      else if (st.size >= this.maxBytes) this.rotate();
      else this.size = st.size;
    }
    const buf = Buffer.from(line, 'utf8');
    for (let off = 0; off < buf.length;) {
      const n = writeSync(this.fd, buf, off);
      off += n;
      this.size += n;
    }
  }

  /** Switches to the file now at the path (creating it if it is gone); on failure keeps the current one. */
  private reopen(): void {
    try {
      const fd = openPrivateFile(this.path);
      closeSync(this.fd);
      this.fd = fd;
      const st = fstatSync(fd);
      this.ident = fileIdentity(st);
      this.size = st.size;
    } catch {
      /* keep the current file */
    }
  }

  private rotate(): void {
    let lock: number;
    try {
      lock = openSync(`${this.path}.lock`, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch {
      return; // no lock, no rotation: the file grows instead
    }
    try {
      if (!flockExclusive(lock)) return; // another agent is rotating it right now
      const st = statSync(this.path, { throwIfNoEntry: false });
      if (st && fileIdentity(st) === this.ident && st.size >= this.maxBytes) renameSync(this.path, `${this.path}.1`);
      this.reopen();
    } catch {
      /* keep the current file */
    } finally {
      closeSync(lock); // releases the flock
    }
  }
}

/** Where a flood of refusals cannot rotate them away: only start and stop lines go there. */
export const ANCHORS_MAX_BYTES = 1 << 20;

export interface AgentLog {
  log: Logger;
  path: string;
  /**
   * Writes an anchor of the audit chain (the start and stop lines, with the chain's head) to
   * agent.log and to agent-anchors.log, which nothing else writes: however many lines a flood
   * makes agent.log rotate, the anchors stay. agent-anchors.log rotates (once) past 1 MiB,
   * some thousands of starts and stops.
   */
  anchor(level: 'info' | 'warn', fields: Record<string, unknown>): void;
  /**
   * An info line of plain JSON fields, byte for byte what `log.info(fields)` writes, without
   * pino's generic serialiser: the agent writes one per request, and pino's made ~2 KB of
   * garbage a line (docs/PERFORMANCE.md). log.test.ts holds the two equal.
   */
  info(fields: Record<string, unknown>): void;
}

/** Opens (appends to) the log file and returns a synchronous logger. */
export function openLog(env: NodeJS.ProcessEnv = process.env, maxBytes = DEFAULT_LOG_MAX_BYTES): AgentLog {
  const dir = logDir(env);
  const path = join(dir, 'agent.log');
  try {
    privateDir(dir);
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    throw new TvaultError(`cannot open the agent log ${path}: ${errnoText(err)}`);
  }
  const options = { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };
  const file = new RotatingFile(path, maxBytes);
  const log = pino(options, file);
  const anchors = pino(options, new RotatingFile(join(dir, 'agent-anchors.log'), ANCHORS_MAX_BYTES));
  const anchor = (level: 'info' | 'warn', fields: Record<string, unknown>) => {
    log[level](fields);
    anchors[level](fields);
  };
  const pid = process.pid;
  const info = (fields: Record<string, unknown>) => {
    if (!log.isLevelEnabled('info')) return;
    const json = JSON.stringify(fields);
    file.write(`{"level":"info","time":"${new Date().toISOString()}","pid":${pid}${json.length > 2 ? `,${json.slice(1)}` : '}'}\n`);
  };
  return { log, path, anchor, info };
}

/**
 * Refusals, rate-limited per uid and result code: the first of each WINDOW_MS is logged as it
 * happens, the rest are counted and summed up in one line at the end of the window. A flood
 * of refused connections so costs two lines per uid and code a minute, not one per connection.
 */
export class RefusalDigest {
  static readonly WINDOW_MS = 60_000;
  /** Beyond this many uid/code pairs in one window, the rest are counted together. */
  static readonly MAX_KEYS = 64;
  private readonly counts = new Map<string, { uid: number | null; result: string; n: number; reason: string }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly log: Logger) {}

  refused(peer: { uid: number; pid: number } | null, result: string, reason: string): void {
    let key = `${peer?.uid ?? '?'}:${result}`;
    if (!this.counts.has(key) && this.counts.size >= RefusalDigest.MAX_KEYS) key = `*:${result}`;
    const seen = this.counts.get(key);
    if (seen) {
      seen.n++;
      seen.reason = reason;
      return;
    }
    this.counts.set(key, { uid: key.startsWith('*') ? null : (peer?.uid ?? null), result, n: 0, reason });
    this.log.warn({ ev: 'refused', peer: peer && { uid: peer.uid, pid: peer.pid }, result, reason });
    this.timer ??= setTimeout(() => this.flush(), RefusalDigest.WINDOW_MS).unref();
  }

  /** Logs the counts of the window (also called on the way out). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [key, c] of this.counts) {
      if (c.n)
        this.log.warn({
          ev: 'refused',
          peer: key.startsWith('*') ? 'other uids' : { uid: c.uid },
          result: c.result,
          repeated: c.n,
          windowMs: RefusalDigest.WINDOW_MS,
          lastReason: c.reason,
        });
    }
    this.counts.clear();
  }
}
