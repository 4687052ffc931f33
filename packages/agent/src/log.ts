// The agent's log: pino, one JSON line per event, in $XDG_STATE_HOME/tvault/agent.log
// (default ~/.local/state/tvault/agent.log), directory 0700 and file 0600. It records events,
// ops, project and key names, peers and result codes; never a value, passphrase, key or token.
// Past a size limit (10 MiB by default) the file is renamed agent.log.1, replacing the one
// before, and a new one is started: the two files stay within about twice the limit.
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
 * pino's destination: synchronous appends (no line lost on exit), rotated past maxBytes.
 *
 * Agents of different vaults share this file (the log is per user). So before each line the
 * path is looked at again: if another agent rotated it (or someone removed it), this one
 * follows to the new file instead of writing on into the old one, and its size counts every
 * agent's lines. The rotation itself happens under a lock, and only of the file still at the
 * path: two agents past the limit at once cannot rename one file over the other's.
 */
class RotatingFile {
  private fd: number;
  private ident: string;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
  ) {
    this.fd = openPrivateFile(path);
    this.ident = fileIdentity(fstatSync(this.fd));
  }

  /** The whole line or an exception (a short write is continued: EFBIG, ENOSPC surface). */
  write(line: string): void {
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st || fileIdentity(st) !== this.ident) this.reopen();
    else if (st.size >= this.maxBytes) this.rotate();
    const buf = Buffer.from(line, 'utf8');
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
  }

  /** Switches to the file now at the path (creating it if it is gone); on failure keeps the current one. */
  private reopen(): void {
    try {
      const fd = openPrivateFile(this.path);
      closeSync(this.fd);
      this.fd = fd;
      this.ident = fileIdentity(fstatSync(fd));
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

/** Opens (appends to) the log file and returns a synchronous logger. */
export function openLog(env: NodeJS.ProcessEnv = process.env, maxBytes = DEFAULT_LOG_MAX_BYTES): { log: Logger; path: string } {
  const dir = logDir(env);
  const path = join(dir, 'agent.log');
  try {
    privateDir(dir);
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    throw new TvaultError(`cannot open the agent log ${path}: ${errnoText(err)}`);
  }
  const log = pino(
    { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    new RotatingFile(path, maxBytes),
  );
  return { log, path };
}
