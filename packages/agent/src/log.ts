// The agent's log: pino, one JSON line per event, in $XDG_STATE_HOME/tvault/agent.log
// (default ~/.local/state/tvault/agent.log), directory 0700 and file 0600. It records events,
// ops, project and key names, peers and result codes; never a value, passphrase, key or token.
// Past a size limit (10 MiB by default) the file is renamed agent.log.1, replacing the one
// before, and a new one is started: an agent that serves for months stays within ~2x the limit.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, chmodSync, renameSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pino, { type Logger } from 'pino';
import { TvaultError } from '@tvault/core';

export type { Logger };

export function logDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'tvault');
}

function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new TvaultError(`log directory ${dir} is not a directory`);
  if (st.uid !== process.getuid!()) throw new TvaultError(`log directory ${dir} is owned by uid ${st.uid}, not by you`);
  if (st.mode & 0o077) chmodSync(dir, 0o700);
}

export const DEFAULT_LOG_MAX_BYTES = 10 << 20;

/** Opens the log for appending, 0600, refusing a symlink or a file another uid owns. */
function openPrivateFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new TvaultError(`cannot open the agent log ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const st = fstatSync(fd);
  if (st.uid !== process.getuid!()) {
    closeSync(fd);
    throw new TvaultError(`the agent log ${path} is owned by uid ${st.uid}, not by you`);
  }
  if (st.mode & 0o077) fchmodSync(fd, 0o600);
  return fd;
}

/** pino's destination: synchronous appends (no line lost on exit), rotated past maxBytes. */
class RotatingFile {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes: number,
  ) {
    this.fd = openPrivateFile(path);
    this.size = fstatSync(this.fd).size;
  }

  /** The whole line or an exception (a short write is continued: EFBIG, ENOSPC surface). */
  write(line: string): void {
    if (this.size >= this.maxBytes) this.rotate();
    const buf = Buffer.from(line, 'utf8');
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off);
    this.size += buf.length;
  }

  /** If the rename or the new file fails, logging carries on in the current file. */
  private rotate(): void {
    try {
      renameSync(this.path, `${this.path}.1`);
      const fd = openPrivateFile(this.path);
      closeSync(this.fd);
      this.fd = fd;
    } catch {
      /* keep the current file */
    }
    this.size = fstatSync(this.fd).size;
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
    throw new TvaultError(`cannot open the agent log ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const log = pino(
    { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    new RotatingFile(path, maxBytes),
  );
  return { log, path };
}
