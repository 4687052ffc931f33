// Where a handoff's ephemeral vault E lives, and its end. E belongs in RAM: $XDG_RUNTIME_DIR when
// it is a tmpfs directory of this user's with mode 0700, else /dev/shm; a disk directory only
// with --allow-disk (a vault.db on disk can outlive the session in the disk's blocks). Teardown
// overwrites E's files with zeros and removes them; the sweep removes the E of a supervisor
// that was killed (kill -9 leaves no chance to tear down).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TvaultError, isAlive } from '@tvault/core';
import { E_PREFIX, eName, idOfDir, readSessionFile, type SessionInfo } from './session-file';

/** statfs(2) f_type of the RAM file systems (linux/magic.h). */
const RAM_FS = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */]);

export function isRamFs(path: string): boolean {
  try {
    return RAM_FS.has(Number(statfsSync(path).type));
  } catch {
    return false;
  }
}

/** A directory this user owns and nobody else may enter (0700), not a symlink. */
function isPrivateDir(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && (!process.getuid || st.uid === process.getuid()) && (st.mode & 0o777) === 0o700;
  } catch {
    return false;
  }
}

/** /dev/shm: a real directory in RAM that this user can create a 0700 directory in. */
function isShm(path: string): boolean {
  try {
    return lstatSync(path).isDirectory() && isRamFs(path);
  } catch {
    return false;
  }
}

export interface Base {
  dir: string;
  ram: boolean;
}

/** The directory E is made in: `candidates` are tried in order (see ramCandidates); disk only with allowDisk. */
export function chooseBase(candidates: Array<{ dir: string; kind: 'runtime' | 'shm' }>, allowDisk: boolean, disk = tmpdir()): Base {
  for (const c of candidates) {
    if (c.kind === 'runtime' ? isPrivateDir(c.dir) && isRamFs(c.dir) : isShm(c.dir)) return { dir: c.dir, ram: true };
  }
  if (allowDisk) return { dir: disk, ram: false };
  throw new TvaultError(
    'no RAM-backed directory for the session vault ($XDG_RUNTIME_DIR is not a private tmpfs directory, and /dev/shm is not usable); --allow-disk puts it on disk instead',
  );
}

export function ramCandidates(env: NodeJS.ProcessEnv = process.env): Array<{ dir: string; kind: 'runtime' | 'shm' }> {
  const out: Array<{ dir: string; kind: 'runtime' | 'shm' }> = [];
  if (env.XDG_RUNTIME_DIR?.startsWith('/')) out.push({ dir: env.XDG_RUNTIME_DIR, kind: 'runtime' });
  out.push({ dir: '/dev/shm', kind: 'shm' });
  return out;
}

/** Creates E (0700, this user's; the name must be new) in base. */
export function createE(base: string, id: string): string {
  const dir = join(base, eName(id));
  mkdirSync(dir, { mode: 0o700 }); // EEXIST if anyone made it first: never reused
  if (!isPrivateDir(dir)) {
    rmSync(dir, { recursive: true, force: true });
    throw new TvaultError(`cannot make a private directory for the session vault in ${base}`);
  }
  return dir;
}

/** Overwrites E's regular files with zeros, then removes E. Idempotent; never follows a symlink. */
export function destroyE(dir: string): void {
  let names: string[];
  try {
    if (!lstatSync(dir).isDirectory()) return;
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) zeroFile(join(dir, name));
  rmSync(dir, { recursive: true, force: true });
}

/** --ttl: E's vault files are destroyed (zeroed, removed); handoff.json stays, saying the session expired. */
export function destroyVaultFiles(dir: string): void {
  for (const name of ['vault.db', 'vault.db-wal', 'vault.db-shm']) {
    zeroFile(join(dir, name));
    rmSync(join(dir, name), { force: true });
  }
}

function zeroFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return;
    const zeros = Buffer.alloc(Math.min(st.size, 1 << 20));
    for (let at = 0; at < st.size; at += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, st.size - at), at);
  } catch {
    /* removed below all the same */
  } finally {
    closeSync(fd);
  }
}

/** Every directory an E may have been made in (its sweep looks in all). */
export function sweepBases(env: NodeJS.ProcessEnv = process.env): string[] {
  return [...new Set([...ramCandidates(env).map((c) => c.dir), tmpdir()])];
}

/** What the sweep removed: each E of a dead supervisor, with what its handoff.json said. */
export interface Swept {
  dir: string;
  info: SessionInfo | null;
}

/** An E without a readable handoff.json is removed only once it is this old (its supervisor may be writing it). */
const ORPHAN_GRACE_MS = 60_000;

/**
 * Removes the E directories, of this user, whose supervisor is dead (a `kill -9`ed handoff).
 * A live session's E is never touched.
 */
export function sweep(bases = sweepBases(), now = Date.now()): Swept[] {
  const swept: Swept[] = [];
  for (const base of bases) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(E_PREFIX)) continue;
      const dir = join(base, name);
      if (!idOfDir(dir) || !isPrivateDir(dir)) continue;
      const info = readSessionFile(dir);
      if (info ? isAlive(info) : now - lstatSync(dir).mtimeMs < ORPHAN_GRACE_MS) continue;
      destroyE(dir);
      swept.push({ dir, info });
    }
  }
  return swept;
}
