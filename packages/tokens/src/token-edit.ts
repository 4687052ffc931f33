// Editing the token file, for `tvault agent token create|revoke`: every change is made under an
// exclusive flock, to a file that parses (the agent would refuse one that does not), and lands
// in one rename, so that a reader (the agent on SIGHUP) sees the old file or the new one.
import { closeSync, constants, fstatSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { TvaultError, createTempFile, errnoCode, errnoText } from '@tvault/core';
import { type TokenSpec, openTokenFile, parseTokenFile, readTokenBytes } from './token-file';

const LOCK_WAIT_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates an empty 0600 token file if there is none. */
export function ensureTokenFile(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw new TvaultError(`cannot create token file ${path}: ${errnoText(err)}`);
  }
}

/**
 * Opens the token file with an exclusive flock on it. A rewrite replaces the file (rename), so
 * a lock won on a file that is no longer at the path is dropped and taken again on the new one.
 */
async function lockTokenFile(path: string): Promise<number> {
  const { flockExclusive } = require('@tvault/native') as typeof import('@tvault/native');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const fd = openTokenFile(path);
    if (flockExclusive(fd)) {
      const held = fstatSync(fd);
      const now = statSync(path);
      if (held.ino === now.ino && held.dev === now.dev) return fd;
    }
    closeSync(fd);
    if (Date.now() > deadline) throw new TvaultError(`token file ${path} is locked by another tvault process; try again`);
    await sleep(20);
  }
}

/** Replaces the file's content in one rename: a reader sees the old file or the new one, never half. */
function writeAtomic(path: string, data: Buffer): void {
  const target = realpathSync(path); // a symlinked token file stays a symlink
  const { path: tmp, fd } = createTempFile(dirname(target), basename(target));
  try {
    for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dirname(target), constants.O_RDONLY);
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* the rename is done; the directory's fsync only hardens it against a crash */
  }
}

/**
 * Runs edit on the file's bytes and tokens under the lock, and writes what it returns. A file
 * that does not parse is not edited: the agent would refuse it, so the error is shown instead.
 */
export async function editTokenFile(path: string, edit: (buf: Buffer, tokens: TokenSpec[]) => Buffer): Promise<void> {
  const fd = await lockTokenFile(path);
  try {
    const buf = readTokenBytes(fd, path);
    let next: Buffer | undefined;
    try {
      next = edit(buf, parseTokenFile(buf, path));
      writeAtomic(path, next);
    } finally {
      buf.fill(0); // the file may hold raw tokens (the page's plain form)
      next?.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes without line n (1-based), newline included; a copy of them all for n = 0. */
export function dropLine(buf: Buffer, n: number): Buffer {
  if (n < 1) return Buffer.from(buf);
  let start = 0;
  for (let i = 1; i < n; i++) start = buf.indexOf(0x0a, start) + 1;
  const nl = buf.indexOf(0x0a, start);
  const end = nl < 0 ? buf.length : nl + 1;
  return Buffer.concat([buf.subarray(0, start), buf.subarray(end)]);
}
