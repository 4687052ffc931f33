// Temporary files, made one way everywhere: created by us, exclusively (O_EXCL: never a file or
// a link someone put there first), without following a link, mode 0600 from the first byte,
// under a name nobody can guess, next to the file it will replace (a rename is atomic only
// within one filesystem). A fixed name like `${dest}.tmp-${pid}` would let another user who
// can write the directory pre-create it, or read the copy while it is being written.
import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Creates `<base>.tmp-<random>` in dir and returns its path and an open, writable fd. */
export function createTempFile(dir: string, base: string): { path: string; fd: number } {
  // node:crypto loads here, not at import: the fast path bundles this module (through
  // project-config) and must not pay ~5 ms for it on every `tvault get`.
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  const path = join(dir, `${base}.tmp-${randomBytes(8).toString('hex')}`);
  return { path, fd: openSync(path, CREATE, 0o600) };
}

/**
 * Replaces path's content in one rename: a reader sees the old file or the new one, never half.
 * The new file gets `mode` (0600 unless said otherwise) only once it is complete.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = createTempFile(dirname(path), basename(path));
  let open = true;
  try {
    for (let at = 0; at < bytes.length;) at += writeSync(tmp.fd, bytes, at, bytes.length - at);
    if (mode !== 0o600) fchmodSync(tmp.fd, mode);
    fsyncSync(tmp.fd);
    closeSync(tmp.fd);
    open = false;
    renameSync(tmp.path, path);
  } catch (err) {
    if (open) closeSync(tmp.fd);
    rmSync(tmp.path, { force: true });
    throw err;
  }
}
