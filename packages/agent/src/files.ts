// The agent's files in the vault directory: agent.lock (single instance), agent.sock and
// agent.pid. The directory itself is checked by core (0700, ours) before any of these is touched.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readFileSync, realpathSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { flockExclusive } from '@tvault/native';
import { type PrivacyRule, TvaultError, checkPrivate, errnoCode, errnoText, privacyFinding, privacyMessage } from '@tvault/core';

const { O_RDWR, O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = constants;
/** sun_path is 108 bytes on Linux (104 on macOS) including the terminating NUL. */
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

/** The agent's own files (lock, pid, log): ours; a looser mode someone left is tightened, not refused. */
const OWN_FILE: PrivacyRule = { forbid: 0o077 };
/** A stale socket at the socket path is replaced only if it is a socket of ours (its mode is ours to choose). */
const OWN_SOCKET: PrivacyRule = { type: 'socket', forbid: 0o022 };
/** The delegate directory: ours, writable by nobody else; who may traverse it is the user's choice. */
const DELEGATE_DIR: PrivacyRule = { type: 'directory', forbid: 0o022 };

/**
 * Opens a file 0600 without following a symlink, refuses one another uid owns, and fixes a looser
 * mode left behind. `what` names it in errors (the agent log).
 */
export function openPrivate(path: string, flags: number, what?: string): number {
  let fd: number;
  try {
    fd = openSync(path, flags | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new TvaultError(`cannot open ${what ? `${what} ` : ''}${path}: ${errnoText(err)}`);
  }
  const f = privacyFinding(fstatSync(fd), OWN_FILE);
  if (f?.problem === 'mode') fchmodSync(fd, 0o600);
  else if (f) {
    closeSync(fd);
    throw new TvaultError(privacyMessage({ what: what ?? 'agent file', path }, f, OWN_FILE));
  }
  return fd;
}

/**
 * Takes the single-instance lock and returns its fd, which must stay open for the life of the
 * process (the kernel drops the lock when the process dies, however it dies).
 */
export function acquireLock(lockPath: string, pidPath: string, what = 'for this vault'): number {
  const fd = openPrivate(lockPath, O_RDWR);
  if (!flockExclusive(fd)) {
    closeSync(fd);
    const pid = readPid(pidPath);
    throw new TvaultError(`an agent is already running ${what}${pid ? ` (pid ${pid})` : ''}; stop it with: tvault agent stop`);
  }
  return fd;
}

export function readPid(pidPath: string): number | null {
  try {
    const n = Number(readFileSync(pidPath, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Makes the socket path free for listen(). Called with the lock held, so a socket found there
 * belongs to a dead agent and is replaced; anything else, or a socket of another uid, is refused.
 */
export function clearSocketPath(sockPath: string): 'none' | 'stale' {
  if (Buffer.byteLength(sockPath) > MAX_SOCKET_PATH) {
    throw new TvaultError(
      `the socket path ${sockPath} is longer than ${MAX_SOCKET_PATH} bytes, the limit of a unix socket address; use a shorter vault directory`,
    );
  }
  let st;
  try {
    st = lstatSync(sockPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'none';
    throw err;
  }
  // Worded for replacing a socket (test/agent-lifecycle.test.mjs), found by the one rule engine;
  // its mode is no reason to keep it (the delegate socket is born 0666).
  const f = privacyFinding(st, OWN_SOCKET);
  if (f?.problem === 'type') throw new TvaultError(`${sockPath} exists and is not a socket; refusing to replace it (move it away if it is yours)`);
  if (f?.problem === 'owner') throw new TvaultError(`${sockPath} is a socket owned by uid ${f.uid}, not by you; refusing to replace it`);
  unlinkSync(sockPath);
  return 'stale';
}

export function writePidFile(pidPath: string): void {
  const fd = openPrivate(pidPath, O_WRONLY | O_TRUNC);
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * The directory of the delegate socket (--delegate-dir): ours, and writable by nobody else, so
 * that no one can replace the socket with a listener of their own and collect the tokens that
 * delegates send. Who may traverse it (mode, group, ACL) is the user's choice.
 */
export function checkDelegateDir(dir: string, vaultDir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new TvaultError(`delegate directory ${dir}: ${errnoText(err, { sayMissing: true })}`);
  }
  checkPrivate(st, { what: 'delegate directory', path: dir, why: ', who could replace the socket' }, DELEGATE_DIR);
  if (realpathSync(dir) === realpathSync(vaultDir)) throw new TvaultError('--delegate-dir must be another directory than the vault directory');
}

/** Removes the sockets and the pid file on the way out; never throws. */
export function removeRunFiles(sockPaths: string[], pidPath: string): void {
  for (const p of [...sockPaths, pidPath]) {
    try {
      if (p === pidPath && readPid(p) !== process.pid) continue;
      rmSync(p, { force: true });
    } catch {
      /* best effort: the next start replaces a leftover */
    }
  }
}

/** Which file a path or an fd is (device and inode), to notice that a file was replaced or rotated. */
export const fileIdentity = (st: { dev: number; ino: number }): string => `${st.dev}:${st.ino}`;
