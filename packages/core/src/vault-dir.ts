// Opening the vault directory so that what is checked is what is used. The directory is
// opened once (not following a link at its last component) and its owner and mode are checked
// on that open descriptor; vault.db is then opened relative to it, through /proc/self/fd/N on
// Linux. So someone who can write an ancestor directory cannot swap the vault directory
// between the check and the open.
//
// SQLite canonicalises the name it is given: it reads the /proc/self/fd/N link, which names
// wherever the checked directory is at that moment, and opens that path. A rename of the
// directory before the open is therefore followed, not trusted; what remains is the instant
// between SQLite's readlink and its open, so afterwards we check that the vault.db SQLite has
// open is the vault.db inside the directory we checked (the descriptors it opened, through
// /proc/self/fd), and refuse otherwise. Without /proc (macOS, the BSDs) the directory is still
// opened and checked once, but SQLite opens vault.db by its plain path: there the swap window
// remains, documented in docs/SECURITY.md.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TvaultError } from './errors';
import { checkPrivateDir, checkPrivateDirStats, noVaultError } from './paths';

const PROC_FD = '/proc/self/fd';
const DB_FILE = 'vault.db';

export interface VaultDir {
  /** The path SQLite is given for vault.db: relative to the open directory where possible. */
  readonly dbPath: string;
  /** Runs SQLite's open and checks that it opened the vault.db of the checked directory. */
  openChecked<T>(open: (dbPath: string) => T, close: (db: T) => void): T;
  readonly closed: boolean;
  close(): void;
}

/** Opens and checks the vault directory; a missing directory or vault.db is "no vault" (5). */
export function openVaultDir(dir: string): VaultDir {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw noVaultError(dir);
    // O_NOFOLLOW|O_DIRECTORY on a link: ELOOP on some systems, ENOTDIR on Linux.
    if (code === 'ELOOP' || (code === 'ENOTDIR' && lstatSync(dir).isSymbolicLink())) {
      throw new TvaultError(`vault directory ${dir} is a symbolic link; refusing to follow it (use the directory it points to)`);
    }
    if (code === 'ENOTDIR') throw new TvaultError(`${dir} is not a directory`);
    // Another user's 0700 directory cannot be opened, but can be stat'ed: say whose it is.
    if (code === 'EACCES') checkPrivateDir(dir);
    throw new TvaultError(`cannot open vault directory ${dir} (${code ?? (err as Error).message})`);
  }
  try {
    checkPrivateDirStats(dir, fstatSync(fd));
    const viaProc = existsSync(`${PROC_FD}/${fd}`);
    const dbPath = viaProc ? `${PROC_FD}/${fd}/${DB_FILE}` : join(dir, DB_FILE);
    if (!existsSync(dbPath)) throw noVaultError(dir);
    let closed = false;
    return {
      dbPath,
      get closed() {
        return closed;
      },
      openChecked: (open, close) => {
        if (!viaProc) return open(dbPath);
        const before = new Set(readdirSync(PROC_FD));
        const db = open(dbPath);
        try {
          checkOpenedFile(dir, dbPath, before);
        } catch (err) {
          close(db);
          throw err;
        }
        return db;
      },
      close: () => {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

const identity = (path: string) => {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
};

/**
 * The descriptors for a file named vault.db that appeared during SQLite's open must all be the
 * vault.db of the checked directory. SQLite may reuse a descriptor it already holds for the
 * same file (then none is new): one of those must be it.
 */
function checkOpenedFile(dir: string, dbPath: string, before: Set<string>): void {
  const want = identity(dbPath);
  const opened: string[] = [];
  const held: string[] = [];
  for (const fd of readdirSync(PROC_FD)) {
    let target: string;
    try {
      target = readlinkSync(`${PROC_FD}/${fd}`);
      if (!target.endsWith(`/${DB_FILE}`)) continue;
      (before.has(fd) ? held : opened).push(identity(`${PROC_FD}/${fd}`));
    } catch {
      continue; // closed meanwhile (the descriptor readdir itself used, for one)
    }
  }
  const ok = opened.length ? opened.every((id) => id === want) : held.includes(want);
  if (!ok) throw new TvaultError(`vault directory ${dir} was replaced while it was being opened; refusing to use it`);
}
