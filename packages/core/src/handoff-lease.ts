// The handoff lease: while `tvault handoff` runs, the real vault must have no live cache (an
// unlock agent holds the KEK and answers any process of the user's uid, the coding agent
// included). The supervisor writes a lease file into the vault directory; `tvault agent start`
// and the agent's `unlock` refuse while a lease's supervisor is alive. A lease names its
// supervisor by pid *and* process start time, so a dead supervisor whose pid was reused by
// another process does not hold the vault forever; a dead lease is ignored and removed.
// Light on purpose (fs only): the agent and the CLI both load it.
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, constants } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './temp-file';

/** A process as it can be recognised later: its pid and its start time (clock ticks since boot, Linux). */
export interface ProcessMark {
  pid: number;
  /** /proc/PID/stat field 22; '' where there is no procfs (then only the pid is checked). */
  start: string;
}

/** The start time of pid, '' without procfs, null when no such process is running (or it is a zombie). */
export function processStart(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return null;
    return signalAlive(pid) ? '' : null;
  }
  // After "pid (comm) ": field 3 (state) is index 0, field 22 (starttime) is index 19.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return null;
  return f[19] ?? '';
}

function signalAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process (or pid), as a mark that isAlive() can check later. */
export function markOf(pid = process.pid): ProcessMark {
  return { pid, start: processStart(pid) ?? '' };
}

/** Whether the marked process is still the one running under its pid. */
export function isAlive(m: { pid?: unknown; start?: unknown }): boolean {
  if (typeof m.pid !== 'number' || typeof m.start !== 'string') return false;
  const now = processStart(m.pid);
  return now !== null && now === m.start;
}

export interface Lease extends ProcessMark {
  /** The handoff session's id (its marker). */
  id: string;
  /** The ephemeral vault's directory. */
  e: string;
  created: number;
}

const LEASE_DIR = 'handoff-leases';
const LEASE_RE = /^([0-9a-f]{32})\.lease$/;

export const leaseDir = (vaultDir: string) => join(vaultDir, LEASE_DIR);

/** Writes this process's lease on vaultDir (atomically: a reader never sees half a lease); returns its path. */
export function takeLease(vaultDir: string, id: string, e: string): string {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Error('a handoff id is 32 hex digits');
  const dir = leaseDir(vaultDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lease: Lease = { ...markOf(), id, e, created: Date.now() };
  const path = join(dir, `${id}.lease`);
  writeFileAtomic(path, JSON.stringify(lease));
  return path;
}

export function releaseLease(path: string): void {
  rmSync(path, { force: true });
}

/** A lease file, or null when it is not one (malformed, not a regular file of this uid). */
function readLease(path: string): Lease | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 4096 || (process.getuid && st.uid !== process.getuid())) return null;
    const v = JSON.parse(readFileSync(fd, 'utf8')) as Lease;
    return typeof v?.id === 'string' && typeof v.pid === 'number' && typeof v.start === 'string' ? v : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The leases on vaultDir whose supervisor is alive. Dead ones (supervisor gone, or its pid now
 * another process's) and malformed ones are removed: they hold nothing.
 */
export function liveLeases(vaultDir: string): Lease[] {
  const dir = leaseDir(vaultDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const live: Lease[] = [];
  for (const name of names) {
    if (!LEASE_RE.test(name)) continue;
    const path = join(dir, name);
    const lease = readLease(path);
    if (lease && isAlive(lease)) live.push(lease);
    else rmSync(path, { force: true });
  }
  return live;
}

/** The refusal for an unlock agent while a handoff holds the vault, or null when none does. */
export function leaseRefusal(vaultDir: string): string | null {
  const live = liveLeases(vaultDir);
  if (!live.length) return null;
  const pids = live.map((l) => l.pid).join(', ');
  return `a tvault handoff (pid ${pids}) holds this vault: no agent may cache its key until the handoff ends`;
}
