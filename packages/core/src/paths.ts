// Where the vault lives and whether it is safe to use: --vault > TVAULT_DIR > ~/.tvault.
import { type Stats, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { TvaultError } from './errors';

export function resolveVaultDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.TVAULT_DIR || join(homedir(), '.tvault'));
}

export const vaultFiles = (dir: string) => ({
  db: join(dir, 'vault.db'),
  sock: join(dir, 'agent.sock'),
  lock: join(dir, 'agent.lock'),
  pid: join(dir, 'agent.pid'),
});

/** Refuses a directory that others can enter or that another uid owns (fail closed). */
export function checkPrivateDir(dir: string): void {
  checkPrivateDirStats(dir, statSync(dir));
}

/** The same rule for a directory already open: `st` from fstat, `dir` for the messages. */
export function checkPrivateDirStats(dir: string, st: Stats): void {
  if (!st.isDirectory()) throw new TvaultError(`${dir} is not a directory`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new TvaultError(`vault directory ${dir} is owned by uid ${st.uid}, not by you (uid ${process.getuid()}); refusing to use it`);
  }
  if (st.mode & 0o077) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new TvaultError(`vault directory ${dir} is accessible by group or others (mode ${mode}); fix it with: chmod 700 ${dir}`);
  }
}

/** Creates the directory 0700 if it is missing, then checks it. */
export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkPrivateDir(dir);
}

/** Creates an empty file with mode 0600 so that SQLite (and its -wal/-shm files) inherit it. */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, 'wx', 0o600));
}
