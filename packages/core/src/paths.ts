// Where the vault lives and whether it is safe to use: --vault > TVAULT_DIR > ~/.tvault.
import { type Stats, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitCode, TvaultError } from './errors';
import { type PrivacyRule, checkPrivate } from './private-files';

export function resolveVaultDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.TVAULT_DIR || join(homedir(), '.tvault'));
}

export const vaultFiles = (dir: string) => ({
  db: join(dir, 'vault.db'),
  sock: join(dir, 'agent.sock'),
  lock: join(dir, 'agent.lock'),
  pid: join(dir, 'agent.pid'),
});

/** "No vault here" (exit 5), for every command that finds none at dir. */
export function noVaultError(dir: string): TvaultError {
  return new TvaultError(`no vault at ${dir}; create one with: tvault init`, ExitCode.NOT_INITIALIZED);
}

/** The vault directory and what lives in it (allow records): ours, and nobody else may even enter. */
export const PRIVATE_DIR: PrivacyRule = { type: 'directory', forbid: 0o077 };

/** Refuses a directory that others can enter or that another uid owns (fail closed). */
export function checkPrivateDir(dir: string): void {
  checkPrivateDirStats(dir, statSync(dir));
}

/** The same rule for a directory already open: `st` from fstat, `dir` for the messages. */
export function checkPrivateDirStats(dir: string, st: Stats): void {
  checkPrivate(st, { what: 'vault directory', path: dir }, PRIVATE_DIR);
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
