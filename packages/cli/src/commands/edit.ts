// `tvault edit [-p P]`: the project's secrets in $VISUAL or $EDITOR as a dotenv file, and back.
// The file lives in a private directory on a RAM file system (tmpfs), never on disk unless
// --allow-disk says so; it is 0600, overwritten with zeros and removed on every way out (the
// editor failing, Ctrl-C, a file that does not parse). Only what changed is written, as `set`
// and `delete` would write it (and audited as they are).
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Y } from './argv';
import { ExitCode, TvaultError, checkKeyName, checkValue, usageError } from '@tvault/core';
import { formatEnv } from '@tvault/core/env-format';
import { warn } from '../output';
import { type GlobalArgs, Session, drain } from '../session';
import { parseDotenvFile } from '../dotenv-import';

/** The edited file's pairs; any line that import would leave out refuses the whole edit. */
function parseDotenv(raw: Buffer, label: string): Array<[string, string]> {
  const { entries, problems } = parseDotenvFile(raw);
  if (problems.length > 0) throw usageError(`${label}, line ${problems[0].line}: ${problems[0].reason}; nothing was changed`);
  return entries.map((e) => [e.name, e.value]);
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

function onRam(path: string): boolean {
  try {
    const t = statfsSync(path).type;
    return t === TMPFS_MAGIC || t === RAMFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Where the file may go: $XDG_RUNTIME_DIR when it is on tmpfs and yours alone (0700), else
 * /dev/shm when it is tmpfs (a private directory is made in it); null when neither is.
 */
export function ramDir(env = process.env): string | null {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) {
    try {
      const st = lstatSync(xdg);
      if (st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o777) === 0o700 && onRam(xdg)) return xdg;
    } catch {
      /* not there: try /dev/shm */
    }
  }
  return onRam('/dev/shm') ? '/dev/shm' : null;
}

/** Overwrites the file with zeros (as long as it is now), then removes it and its directory. */
function wipe(dir: string, file: string): void {
  try {
    const fd = openSync(file, 'r+');
    try {
      const size = fstatSync(fd).size;
      const zeros = Buffer.alloc(Math.min(size, 1 << 20));
      for (let off = 0; off < size; off += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, size - off), off);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* already gone (an editor that replaced it): removing is all that is left */
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Runs the editor on the file; returns the signal that stopped us meanwhile (Ctrl-C), if any. */
function runEditor(file: string): { status: number | null; signal: NodeJS.Signals | null } {
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
  // Ctrl-C reaches the editor and us alike: we must outlive it to wipe the file.
  let caught: NodeJS.Signals | null = null;
  const note = (s: NodeJS.Signals) => (caught ??= s);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  for (const s of signals) process.on(s, note);
  try {
    // Through sh, as git does: EDITOR may carry arguments ("code --wait"); the path is $1, never part of the command text.
    const r = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, editor, file], { stdio: 'inherit' });
    if (r.error) throw new TvaultError(`cannot run the editor '${editor}': ${r.error.message}`);
    return { status: r.status, signal: caught ?? r.signal };
  } finally {
    for (const s of signals) process.off(s, note);
  }
}

interface EditArgs extends GlobalArgs {
  allowDisk?: boolean;
}

async function edit(a: EditArgs): Promise<void> {
  const base = ramDir();
  if (!base && !a.allowDisk) {
    throw new TvaultError('no RAM file system for the temporary file ($XDG_RUNTIME_DIR on tmpfs, or /dev/shm); add --allow-disk to use the disk anyway');
  }
  if (!base) warn(`no RAM file system: the file goes to ${tmpdir()} on disk (--allow-disk); it is overwritten and removed afterwards`);
  const s = new Session(a);
  await s.withUnlocked(async (vault, kek) => {
    const project = s.project(vault);
    const before = new Map(vault.getSecrets(kek, project, {}, 'export').map((x) => [x.name, drain(x.value)]));
    const text = formatEnv(
      [...before].map(([name, value]) => ({ name, value })),
      'dotenv',
      { reader: 'tvault' },
    );
    // A value whose dotenv form would read back as something else is refused before the
    // editor opens: saving the file unchanged must change nothing.
    const roundTrip = new Map(parseDotenv(Buffer.from(text, 'utf8'), project));
    for (const [k, v] of before) {
      if (roundTrip.get(k) !== v) throw new TvaultError(`the value of ${k} cannot be edited as dotenv (it would not read back exactly); use tvault set ${k}`);
    }
    const dir = mkdtempSync(join(base ?? tmpdir(), 'tvault-edit-'));
    const file = join(dir, `${project}.env`);
    let raw: Buffer | undefined;
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      const r = runEditor(file);
      if (r.signal) throw new TvaultError(`cancelled (${r.signal}); nothing was changed`, ExitCode.CANCELLED);
      if (r.status !== 0) throw new TvaultError(`the editor exited with status ${r.status}; nothing was changed`);
      try {
        raw = readFileSync(file);
      } catch {
        throw new TvaultError('the edited file is gone; nothing was changed');
      }
    } finally {
      wipe(dir, file);
    }
    let after: Map<string, string>;
    try {
      after = new Map(parseDotenv(raw, `the edited file`));
    } finally {
      raw.fill(0);
    }
    const changed = [...after].filter(([k, v]) => before.get(k) !== v);
    const removed = [...before.keys()].filter((k) => !after.has(k));
    // Every name and value is checked before anything is written: a bad line changes nothing.
    for (const [k, v] of changed) {
      checkKeyName(k);
      checkValue(Buffer.from(v, 'utf8'));
    }
    const entries = changed.map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8') }));
    try {
      if (entries.length) vault.setSecrets(kek, project, entries);
      for (const k of removed) vault.deleteSecret(project, k, false, kek);
    } finally {
      entries.forEach((e) => e.value.fill(0));
    }
    const added = changed.filter(([k]) => !before.has(k)).length;
    const summary = { project, added, changed: changed.length - added, deleted: removed.length };
    if (a.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else if (!changed.length && !removed.length) process.stderr.write(`no changes to ${project}\n`);
    else process.stderr.write(`${project}: ${summary.added} added, ${summary.changed} changed, ${summary.deleted} deleted\n`);
  });
}

export function editOptions(c: Y): Y {
  return c
    .option('allow-disk', { type: 'boolean', describe: 'without a RAM file system, put the temporary file on disk' })
    .example('tvault edit', 'the current project')
    .example('EDITOR=nano tvault edit -p backend', '');
}

export function editCommand(a: EditArgs): Promise<void> {
  if (process.platform === 'win32') throw usageError('tvault edit needs a RAM file system; it runs on Linux');
  return edit(a);
}
