// SQLite storage: opening the database safely, the schema and its forward migrations.
// See docs/FORMAT.md for the tables. Writers use BEGIN IMMEDIATE with a long busy timeout,
// so two processes writing at once queue for the lock instead of failing with "busy".
import type { Database } from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { TvaultError, integrityError } from './errors';
import { loadSqlite } from './lazy';
import { createPrivateFile, noVaultError } from './paths';

export type Db = Database;
export const SCHEMA_VERSION = 4;
export const BUSY_TIMEOUT_MS = 30_000;

const MIGRATIONS: Array<(db: Db) => void> = [
  // 0 -> 1: the initial schema.
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
      );
      CREATE TABLE projects (
        id         INTEGER PRIMARY KEY,
        uid        BLOB NOT NULL UNIQUE,          -- 16 random bytes, bound into every ciphertext
        name       TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      );
      -- One wrapped copy of a project's DEK per recipient: 'passphrase' (sealed under the KEK)
      -- today, 'x25519:<public key>' for shared identities later.
      CREATE TABLE project_keys (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        recipient  TEXT NOT NULL,
        wrapped    BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (project_id, recipient)
      );
      CREATE TABLE secrets (
        id              INTEGER PRIMARY KEY,
        project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        current_version INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        UNIQUE (project_id, name)
      );
      -- Every change keeps a row; sealed is NULL for a deletion (a tombstone).
      CREATE TABLE secret_versions (
        secret_id  INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
        version    INTEGER NOT NULL,
        op         TEXT NOT NULL,
        sealed     BLOB,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (secret_id, version)
      );
      CREATE TABLE audit (
        id        INTEGER PRIMARY KEY,
        ts        INTEGER NOT NULL,
        op        TEXT NOT NULL,
        ok        INTEGER NOT NULL,
        project   TEXT,
        keys      TEXT,
        via       TEXT NOT NULL,
        uid       INTEGER,
        pid       INTEGER,
        token_id  TEXT,
        detail    TEXT,
        prev_hash BLOB NOT NULL,
        hash      BLOB NOT NULL
      );
      CREATE INDEX audit_ts ON audit(ts);
    `);
  },
  // 1 -> 2: audit rows written while unlocked carry an HMAC under the vault's audit key
  // (meta.audit_key, sealed under the KEK; created at the next unlock of an older vault).
  (db) => {
    db.exec('ALTER TABLE audit ADD COLUMN mac BLOB');
  },
  // 2 -> 3: each project's manifest (its authenticated name, uid, current versions and
  // deletions; see manifest.ts) and meta.header_mac. Both are made at the next unlock of an
  // older vault, which also rewrites its verifier to v2 (crypto.ts).
  (db) => {
    db.exec(`
      CREATE TABLE manifests (
        project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        body       BLOB NOT NULL,
        mac        BLOB NOT NULL
      );
    `);
  },
  // 3 -> 4: identities and recipients. A shared project's manifest also carries share_mac, a MAC
  // under a key derived from its DEK, which a reader by identity (who has no KEK) checks; and the
  // vault's own identities, their private keys sealed under the KEK. Nothing to re-seal: an
  // unshared project's manifest stays as it is (its recipients are the passphrase alone).
  (db) => {
    db.exec(`
      ALTER TABLE manifests ADD COLUMN share_mac BLOB;
      CREATE TABLE identities (
        name       TEXT PRIMARY KEY,
        recipient  TEXT NOT NULL UNIQUE,
        sealed     BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
    `);
  },
];

function sqliteCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/** Maps SQLite's corruption errors to an integrity failure with a one-line message. */
export function mapSqliteError(err: unknown, path: string): never {
  const code = sqliteCode(err) ?? '';
  if (err instanceof TvaultError) throw err;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    throw integrityError(`${path} is corrupt or not a tvault vault (${code}); restore it from a backup with: tvault restore PATH`);
  }
  if (code === 'SQLITE_CANTOPEN') throw new TvaultError(`cannot open ${path}`);
  if (code === 'SQLITE_READONLY') throw new TvaultError(`${path} is read-only`);
  if (code === 'SQLITE_FULL') throw new TvaultError('the disk is full; nothing was written');
  if (code.startsWith('SQLITE_BUSY')) throw new TvaultError('the vault stayed locked by another tvault process for 30 s; nothing was written');
  throw new TvaultError(`database error (${code || 'unknown'}): ${(err as Error).message}`);
}

export interface OpenOptions {
  create?: boolean;
  readonly?: boolean;
  /** false: open an older schema as it is (to inspect a backup); a newer one is still refused. */
  migrate?: boolean;
  /** The path shown in messages, when SQLite is given another name for it (/proc/self/fd/N/...). */
  shownAs?: string;
}

export function openDb(path: string, opts: OpenOptions = {}): Db {
  const shown = opts.shownAs ?? path;
  if (!existsSync(path)) {
    if (!opts.create) throw noVaultError(shown);
    createPrivateFile(path);
  }
  const Database = loadSqlite();
  let db: Db | undefined;
  try {
    db = new Database(path, { readonly: !!opts.readonly, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    // Checked before anything can write (journal_mode writes the header of an empty file).
    if (!opts.create) assertNotEmpty(db, shown);
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('secure_delete = ON');
    db.pragma('foreign_keys = ON');
    migrate(db, shown, opts);
    return db;
  } catch (err) {
    db?.close();
    mapSqliteError(err, shown);
  }
}

/**
 * A vault is built under a temporary name and renamed into place (Vault.init), so an existing
 * vault.db at schema 0 is an empty, truncated or foreign file: never one to build a schema in.
 */
function assertNotEmpty(db: Db, path: string): void {
  if ((db.pragma('user_version', { simple: true }) as number) === 0) {
    throw integrityError(`${path} is empty or not a tvault vault; restore it from a backup with: tvault restore PATH`);
  }
}

function migrate(db: Db, path: string, opts: OpenOptions): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new TvaultError(`${path} was written by a newer tvault (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade tvault`);
  }
  if (version === SCHEMA_VERSION || opts.migrate === false) return;
  if (opts.readonly) throw new TvaultError(`${path} needs a schema upgrade; run any tvault write command first`);
  db.transaction(() => {
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let v = db.pragma('user_version', { simple: true }) as number;
    for (; v < SCHEMA_VERSION; v++) MIGRATIONS[v](db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Runs fn in a BEGIN IMMEDIATE transaction: writers queue on the lock instead of deadlocking. */
export function writeTx<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}
