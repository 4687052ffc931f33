// A handoff session on disk: its ephemeral vault E is a directory `tvault-handoff-<id>` in RAM,
// holding an ordinary vault.db and handoff.json, which names the session (its id, the marker the
// agent gets in TVAULT_HANDOFF), its supervisor (pid and start time) and its state. inspect,
// the session guard and the sweep read it; only the supervisor writes it. fs only: light.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '@tvault/core/base';

/** The variable that marks a process as inside a handoff session: the session's id. */
export const SESSION_VAR = 'TVAULT_HANDOFF';
export const SESSION_FILE = 'handoff.json';
export const E_PREFIX = 'tvault-handoff-';
export const ID_RE = /^[0-9a-f]{32}$/;

export type SessionState = 'building' | 'live' | 'expired';

export interface SessionInfo {
  v: 1;
  id: string;
  /** The supervisor. */
  pid: number;
  start: string;
  state: SessionState;
  /** The real vault's directory (for the sweep's audit row). */
  vault: string;
  project?: string;
  keys?: number;
  /** E's vault id (hex), read back by inspect from vault.db: the session's own vault. */
  vaultId?: string;
  /** When --ttl destroys E (ms since the epoch); null: no limit. */
  expiresAt?: number | null;
}

/** E's directory name for a session id. */
export const eName = (id: string) => `${E_PREFIX}${id}`;

/** The session id a directory's name carries, or null when it is not an E directory. */
export function idOfDir(dir: string): string | null {
  const name = basename(dir);
  if (!name.startsWith(E_PREFIX)) return null;
  const id = name.slice(E_PREFIX.length);
  return ID_RE.test(id) ? id : null;
}

/** Writes handoff.json (0600) atomically: a reader sees the old one or the new one. */
export function writeSessionFile(dir: string, info: SessionInfo): void {
  writeFileAtomic(join(dir, SESSION_FILE), JSON.stringify(info));
}

/**
 * handoff.json of dir, or null when there is none that can be trusted: not a regular file,
 * another uid's, readable by others, malformed, or for another session id than the directory's.
 * Opened once (no symlink followed) and checked through the descriptor.
 */
export function readSessionFile(dir: string): SessionInfo | null {
  let fd: number;
  try {
    fd = openSync(join(dir, SESSION_FILE), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 16 * 1024 || st.mode & 0o077) return null;
    if (process.getuid && st.uid !== process.getuid()) return null;
    const v = JSON.parse(readFileSync(fd, 'utf8')) as SessionInfo;
    if (v?.v !== 1 || typeof v.id !== 'string' || v.id !== idOfDir(dir)) return null;
    if (typeof v.pid !== 'number' || typeof v.start !== 'string' || typeof v.vault !== 'string') return null;
    if (v.state !== 'building' && v.state !== 'live' && v.state !== 'expired') return null;
    return v;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
