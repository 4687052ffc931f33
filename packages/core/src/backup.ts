// Backup and restore: the filesystem side of copying a vault. The copy itself is SQLite's
// backup API (consistent while other processes write, not a raw copy of a live WAL file); the
// file it goes to is a temporary file we create exclusively, 0600, under an unpredictable
// name (temp-file.ts), renamed into place when complete.
import { closeSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ExitCode, TvaultError, integrityError, notFound } from './errors';
import { createPrivateFile, ensurePrivateDir, vaultFiles } from './paths';
import { type Db, openDb } from './store';
import { createTempFile } from './temp-file';
import { Vault } from './vault';

/** Writes a consistent copy of the open vault to dest (still encrypted), and audits it. */
export async function backup(vault: Vault, dest: string): Promise<void> {
  let tmp: string | undefined;
  try {
    const created = createTempFile(dirname(dest), basename(dest));
    closeSync(created.fd);
    tmp = created.path;
    // SQLite writes into the empty 0600 file (and a -journal beside it with the same mode).
    await vault.copyTo(tmp);
    renameSync(tmp, dest);
  } catch (err) {
    if (tmp) for (const suffix of ['', '-journal']) rmSync(tmp + suffix, { force: true });
    if (err instanceof TvaultError) throw err;
    throw new TvaultError(`backup to ${dest} failed: ${(err as Error).message}`);
  }
  vault.audit({ op: 'backup', detail: dest });
}

/**
 * Replaces the contents of the vault in dir with a backup, through the backup API so that
 * other processes see either the old vault or the new one. The backup is checked first, and
 * the current vault is copied aside so that a mistaken restore loses nothing.
 */
export async function restore(dir: string, src: string): Promise<{ savedAs?: string }> {
  const from = openBackup(src);
  let savedAs: string | undefined;
  try {
    ensurePrivateDir(dir);
    const path = vaultFiles(dir).db;
    if (existsSync(path)) savedAs = await setAside(dir, path);
    if (!existsSync(path)) createPrivateFile(path); // the backup API would create it 0644
    await from.backup(path);
  } finally {
    from.close();
  }
  const v = Vault.open(dir);
  v.audit({ op: 'restore', detail: src });
  v.close();
  return { savedAs };
}

const notABackup = (src: string) => integrityError(`${src} is not a valid tvault backup (corrupt, truncated or another kind of file); nothing was restored`);

/** Opens a backup read-only and checks that it is a whole tvault vault before anything is replaced. */
function openBackup(src: string): Db {
  if (!existsSync(src)) throw notFound(`no backup at ${src}`);
  // A directory or a device is no backup; SQLite would say "disk I/O error" about it.
  if (!statSync(src).isFile()) throw notABackup(src);
  let db: Db | undefined;
  try {
    // An older schema is fine: the restored vault is migrated when it is next opened.
    db = openDb(src, { readonly: true, migrate: false });
    const check = db.pragma('integrity_check', { simple: true });
    const meta = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM meta WHERE key IN ('vault_id','kdf','kdf_salt','verifier')").get();
    if (check !== 'ok' || meta?.n !== 4) throw integrityError('damaged');
    return db;
  } catch (err) {
    db?.close();
    // "Cannot open" and the like are reported as they are; anything else means "not a vault".
    if (err instanceof TvaultError && err.exitCode !== ExitCode.INTEGRITY) throw err;
    throw notABackup(src);
  }
}

/**
 * Keeps the current vault next to it before a restore: a consistent copy through the backup
 * API, or, when the vault is too damaged to open (the usual reason to restore), its raw files.
 */
async function setAside(dir: string, path: string): Promise<string> {
  const savedAs = `${path}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    const current = Vault.open(dir);
    try {
      await backup(current, savedAs);
    } finally {
      current.close();
    }
  } catch (err) {
    if (!(err instanceof TvaultError && err.exitCode === ExitCode.INTEGRITY)) throw err;
    for (const suffix of ['-wal', '-shm', '']) if (existsSync(path + suffix)) renameSync(path + suffix, savedAs + suffix);
  }
  return savedAs;
}
