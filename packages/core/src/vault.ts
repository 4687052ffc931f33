// The vault: a directory holding vault.db, unlocked by a passphrase-derived KEK.
// Every project has a random DEK wrapped under the KEK; values are sealed under the DEK and
// bound to (project, key name, version). Callers pass the KEK in; this module never keeps it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import type { Statement } from 'better-sqlite3';
import { type Actor, type AuditEvent, type ChainReport, appendAudit, directActor, verifyAuditChain } from './audit';
import { u32, zero } from './bytes';
import { auditKeyHeader, dekHeader, openBound, randomKey, sealBound, secretHeader, verifierPlaintext, open as openBox, seal } from './crypto';
import { ExitCode, TvaultError, integrityError, notFound, usageError } from './errors';
import { DEFAULT_KDF, type KdfParams, checkKdfParams, deriveKek } from './kdf';
import { checkKeyName, checkProjectName, checkValue } from './names';
import { checkPrivateDir, createPrivateFile, ensurePrivateDir, vaultFiles } from './paths';
import { type Db, mapSqliteError, openDb, writeTx } from './store';

export const PASSPHRASE_RECIPIENT = 'passphrase';
export const DEFAULT_PROJECT = 'default';

export interface ProjectRow {
  id: number;
  uid: Buffer;
  name: string;
  created_at: number;
}

export interface SecretMeta {
  name: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface VersionMeta {
  version: number;
  op: string;
  created_at: number;
  current: boolean;
}

export interface Secret {
  name: string;
  value: Buffer;
}

export interface Selection {
  only?: string[];
  prefix?: string;
}

const now = () => Date.now();

export class Vault {
  private constructor(
    readonly dir: string,
    readonly db: Db,
    readonly actor: Actor,
  ) {}

  // ---- lifecycle ---------------------------------------------------------------------------

  static exists(dir: string): boolean {
    return existsSync(vaultFiles(dir).db);
  }

  /** Creates a new vault with a default project. The passphrase buffer stays the caller's. */
  static async init(dir: string, passphrase: Uint8Array, kdf: KdfParams = DEFAULT_KDF): Promise<Vault> {
    checkKdfParams(kdf);
    if (passphrase.length === 0) throw usageError('the passphrase is empty');
    ensurePrivateDir(dir);
    const path = vaultFiles(dir).db;
    if (existsSync(path)) throw new TvaultError(`a vault already exists at ${dir}`);
    const salt = randomBytes(16);
    const vaultId = randomBytes(16);
    const kek = await deriveKek(passphrase, salt, kdf);
    const tmp = `${path}.init-${process.pid}`;
    try {
      // Built under a temporary name and renamed, so a killed init leaves no half-made vault.
      const db = openDb(tmp, { create: true });
      writeTx(db, () => {
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('vault_id', vaultId);
        put.run('kdf', JSON.stringify(kdf));
        put.run('kdf_salt', salt);
        put.run('verifier', seal(kek, verifierPlaintext(vaultId)));
        put.run('current_project', DEFAULT_PROJECT);
        const audit = newAuditSecret(1);
        put.run('audit_key', sealBound(kek, auditKeyHeader(vaultId), audit));
        insertProject(db, kek, DEFAULT_PROJECT);
        appendAudit(db, directActor(), { op: 'init', project: DEFAULT_PROJECT }, audit.subarray(0, 32));
        zero(audit);
      });
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      renameSync(tmp, path);
    } finally {
      zero(kek);
      for (const suffix of ['', '-wal', '-shm']) rmSync(tmp + suffix, { force: true });
    }
    return Vault.open(dir);
  }

  static open(dir: string, actor: Actor = directActor(), opts: { readonly?: boolean } = {}): Vault {
    const noVault = () => new TvaultError(`no vault at ${dir}; create one with: tvault init`, ExitCode.NOT_INITIALIZED);
    if (!existsSync(dir)) throw noVault();
    // Checked before looking inside: another user's 0700 directory hides vault.db from us.
    checkPrivateDir(dir);
    if (!Vault.exists(dir)) throw noVault();
    const db = openDb(vaultFiles(dir).db, { readonly: opts.readonly });
    const v = new Vault(dir, db, actor);
    v.kdfParams(); // fail early on a vault whose meta is damaged
    return v;
  }

  // Statements are prepared once per open vault: the agent runs the same few for every read.
  private readonly statements = new Map<string, Statement>();

  private q(sql: string): Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.guard(() => this.db.prepare(sql));
      this.statements.set(sql, st);
    }
    return st;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Wraps a database call so that SQLite errors surface as one-line tvault errors. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      mapSqliteError(err, vaultFiles(this.dir).db);
    }
  }

  // ---- meta and unlocking ------------------------------------------------------------------

  private meta(key: string): Buffer {
    const row = this.guard(() => this.q('SELECT value FROM meta WHERE key = ?').get(key)) as { value: Buffer | string } | undefined;
    if (!row) throw new TvaultError(`the vault is damaged: meta entry '${key}' is missing`, ExitCode.INTEGRITY);
    return Buffer.from(row.value as Buffer);
  }

  kdfParams(): KdfParams {
    try {
      return checkKdfParams(JSON.parse(this.meta('kdf').toString('utf8')));
    } catch (err) {
      if (err instanceof TvaultError && err.exitCode === ExitCode.INTEGRITY) throw err;
      throw new TvaultError('the vault is damaged: its KDF parameters are unreadable', ExitCode.INTEGRITY);
    }
  }

  vaultId(): Buffer {
    return this.meta('vault_id');
  }

  /** The sealed verifier; the agent compares it to notice a key rotation. */
  verifier(): Buffer {
    return this.meta('verifier');
  }

  /** Derives the KEK and checks it against the verifier. Records success and failure. */
  async unlock(passphrase: Uint8Array): Promise<Buffer> {
    const kek = await deriveKek(passphrase, this.meta('kdf_salt'), this.kdfParams());
    if (!this.kekMatches(kek)) {
      zero(kek);
      this.audit({ op: 'unlock', ok: false });
      throw new TvaultError('wrong passphrase', ExitCode.WRONG_PASSPHRASE);
    }
    this.audit({ op: 'unlock' }, this.actor, kek);
    return kek;
  }

  kekMatches(kek: Uint8Array): boolean {
    const plain = openBox(kek, this.verifier());
    if (!plain) return false;
    const expected = verifierPlaintext(this.vaultId());
    const ok = plain.length === expected.length && timingSafeEqual(plain, expected);
    zero(plain);
    return ok;
  }

  /** Appends an audit row; authenticated (see audit.ts) when the KEK is given. */
  audit(ev: AuditEvent, actor: Actor = this.actor, kek?: Uint8Array): void {
    this.guard(() => writeTx(this.db, () => this.withAuditKey(kek, (mac) => appendAudit(this.db, actor, ev, mac))));
  }

  /**
   * Runs fn with the unwrapped audit secret and zeroes it afterwards. The secret is the 32-byte
   * audit key followed by the id (u32) of the first row it authenticates: sealed with the key,
   * so that nobody without the KEK can move that boundary to excuse stripped MACs. A vault from
   * before schema 2 gets its secret here, at its first unlock, starting after its last row.
   */
  private withAuditSecret<T>(kek: Uint8Array, fn: (secret: Buffer) => T): T {
    const header = auditKeyHeader(this.vaultId());
    const row = this.q("SELECT value FROM meta WHERE key = 'audit_key'").get() as { value: Buffer } | undefined;
    let secret: Buffer;
    if (row) {
      secret = openBound(kek, header, row.value, 'the audit key');
      if (secret.length !== 36) throw integrityError('the vault is damaged: its audit key is malformed');
    } else {
      secret = writeTx(this.db, () => {
        const next = (this.q('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM audit').get() as { n: number }).n;
        const fresh = newAuditSecret(next);
        this.q("INSERT INTO meta (key, value) VALUES ('audit_key', ?)").run(sealBound(kek, header, fresh));
        return fresh;
      });
    }
    try {
      return fn(secret);
    } finally {
      zero(secret);
    }
  }

  /** Runs fn with the audit key (null without a KEK, for an unauthenticated row). */
  private withAuditKey<T>(kek: Uint8Array | undefined, fn: (key: Buffer | null) => T): T {
    if (!kek) return fn(null);
    return this.withAuditSecret(kek, (secret) => fn(secret.subarray(0, 32)));
  }

  /** Checks the audit chain and, with the key from `kek`, every row's authentication. */
  verifyAudit(kek: Uint8Array): ChainReport {
    return this.guard(() => this.withAuditSecret(kek, (secret) => verifyAuditChain(this.db, secret.subarray(0, 32), secret.readUInt32BE(32))));
  }

  // ---- projects ----------------------------------------------------------------------------

  listProjects(): Array<ProjectRow & { secrets: number }> {
    return this.guard(() =>
      this.q(
          `SELECT p.*, (SELECT COUNT(*) FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
                        WHERE s.project_id = p.id AND v.sealed IS NOT NULL) AS secrets
           FROM projects p ORDER BY p.name`,
        )
        .all(),
    ) as Array<ProjectRow & { secrets: number }>;
  }

  findProject(name: string): ProjectRow | undefined {
    return this.guard(() => this.q('SELECT * FROM projects WHERE name = ?').get(name)) as ProjectRow | undefined;
  }

  project(name: string): ProjectRow {
    const p = this.findProject(name);
    if (!p) throw notFound(`project '${name}' does not exist; create it with: tvault projects create ${name}`);
    return p;
  }

  createProject(kek: Uint8Array, name: string): void {
    checkProjectName(name);
    this.guard(() =>
      writeTx(this.db, () => {
        if (this.findProject(name)) throw new TvaultError(`project '${name}' already exists`);
        insertProject(this.db, kek, name);
        this.withAuditKey(kek, (mac) => appendAudit(this.db, this.actor, { op: 'project.create', project: name }, mac));
      }),
    );
  }

  deleteProject(name: string, kek?: Uint8Array): void {
    this.guard(() =>
      writeTx(this.db, () => {
        const p = this.project(name);
        // The current project always exists: every command without -p reads it. Falling back
        // to 'default' would leave a vault whose every command fails once 'default' is gone.
        if (this.currentProject() === name) {
          throw new TvaultError(`project '${name}' is the current project; make another one current first (tvault use OTHER), then delete it`);
        }
        this.q('DELETE FROM projects WHERE id = ?').run(p.id);
        this.withAuditKey(kek, (mac) => appendAudit(this.db, this.actor, { op: 'project.delete', project: name }, mac));
      }),
    );
  }

  currentProject(): string {
    return this.meta('current_project').toString('utf8');
  }

  useProject(name: string): void {
    this.guard(() =>
      writeTx(this.db, () => {
        this.project(name);
        this.q("INSERT OR REPLACE INTO meta (key, value) VALUES ('current_project', ?)").run(name);
        appendAudit(this.db, this.actor, { op: 'project.use', project: name });
      }),
    );
  }

  /** Unwraps a project's DEK; the caller zeroes it. */
  dek(kek: Uint8Array, p: ProjectRow): Buffer {
    const row = this.guard(() =>
      this.q('SELECT wrapped FROM project_keys WHERE project_id = ? AND recipient = ?').get(p.id, PASSPHRASE_RECIPIENT),
    ) as { wrapped: Buffer } | undefined;
    if (!row) throw new TvaultError(`the vault is damaged: project '${p.name}' has no key`, ExitCode.INTEGRITY);
    const dek = openBound(kek, dekHeader(p.uid, PASSPHRASE_RECIPIENT), row.wrapped, `the key of project '${p.name}'`);
    if (dek.length !== 32) throw new TvaultError(`the vault is damaged: project '${p.name}' has a malformed key`, ExitCode.INTEGRITY);
    return dek;
  }

  /** Runs fn with the project's DEK and zeroes it afterwards. */
  withDek<T>(kek: Uint8Array, project: string, fn: (dek: Buffer, p: ProjectRow) => T): T {
    const p = this.project(project);
    const dek = this.dek(kek, p);
    try {
      return fn(dek, p);
    } finally {
      zero(dek);
    }
  }

  // ---- secrets -----------------------------------------------------------------------------

  /** Stores a new version of each value; all of them or none. Values stay the caller's to zero. */
  setSecrets(kek: Uint8Array, project: string, entries: Array<{ name: string; value: Uint8Array }>, op = 'set'): Array<{ name: string; version: number }> {
    for (const e of entries) {
      checkKeyName(e.name);
      checkValue(e.value);
    }
    return this.withDek(kek, project, (dek, p) =>
      this.guard(() =>
        writeTx(this.db, () => {
          const out = entries.map((e) => ({ name: e.name, version: this.putVersion(dek, p, e.name, e.value, op) }));
          this.withAuditKey(kek, (mac) => appendAudit(this.db, this.actor, { op, project, keys: entries.map((e) => e.name) }, mac));
          return out;
        }),
      ),
    );
  }

  private putVersion(dek: Uint8Array, p: ProjectRow, name: string, value: Uint8Array | null, op: string): number {
    const t = now();
    let s = this.q('SELECT id, current_version FROM secrets WHERE project_id = ? AND name = ?').get(p.id, name) as
      | { id: number; current_version: number }
      | undefined;
    const lastVersion = s ? (this.q('SELECT MAX(version) AS v FROM secret_versions WHERE secret_id = ?').get(s.id) as { v: number }).v : 0;
    const version = lastVersion + 1;
    if (!s) {
      const id = Number(this.q('INSERT INTO secrets (project_id, name, current_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)').run(p.id, name, version, t, t).lastInsertRowid);
      s = { id, current_version: version };
    } else {
      this.q('UPDATE secrets SET current_version = ?, updated_at = ? WHERE id = ?').run(version, t, s.id);
    }
    const sealed = value ? sealBound(dek, secretHeader(p.uid, name, version), value) : null;
    this.q('INSERT INTO secret_versions (secret_id, version, op, sealed, created_at) VALUES (?, ?, ?, ?, ?)').run(s.id, version, op, sealed, t);
    return version;
  }

  /**
   * Current, non-deleted secrets of a project, sealed (decrypt with openSealed). The selection
   * is applied in SQL so that `get KEY` reads one row, not the whole project (and a damaged page
   * costs only the values on it); substr(), not LIKE, whose `_` wildcard is in key names.
   */
  private currentRows(projectId: number, sel: Selection = {}): Array<{ name: string; version: number; sealed: Buffer }> {
    return this.guard(() =>
      this.q(
          `SELECT s.name, v.version, v.sealed FROM secrets s
           JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
           WHERE s.project_id = @projectId AND v.sealed IS NOT NULL
             AND (@only IS NULL OR s.name IN (SELECT value FROM json_each(@only)))
             AND (@prefix IS NULL OR substr(s.name, 1, length(@prefix)) = @prefix)
           ORDER BY s.name`,
        )
        .all({ projectId, only: sel.only ? JSON.stringify(sel.only) : null, prefix: sel.prefix || null }),
    ) as Array<{ name: string; version: number; sealed: Buffer }>;
  }

  private openSealed(dek: Uint8Array, p: ProjectRow, name: string, version: number, sealed: Buffer): Buffer {
    return openBound(dek, secretHeader(p.uid, name, version), sealed, `${p.name}/${name} (version ${version})`);
  }

  /** One current, non-deleted secret by name: the (project_id, name) index, no scan. */
  private currentRow(projectId: number, name: string): { name: string; version: number; sealed: Buffer } | undefined {
    return this.guard(() =>
      this.q(
        `SELECT s.name, v.version, v.sealed FROM secrets s
         JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
         WHERE s.project_id = ? AND s.name = ? AND v.sealed IS NOT NULL`,
      ).get(projectId, name),
    ) as { name: string; version: number; sealed: Buffer } | undefined;
  }

  /** Decrypts one secret; the caller zeroes it. `actor` overrides who the audit row names. */
  getSecret(kek: Uint8Array, project: string, name: string, actor: Actor = this.actor): Buffer {
    checkKeyName(name);
    const value = this.withDek(kek, project, (dek, p) => {
      const row = this.currentRow(p.id, name);
      if (!row) throw notFound(`secret '${name}' not found in project '${project}'`);
      return this.openSealed(dek, p, row.name, row.version, row.sealed);
    });
    this.audit({ op: 'get', project, keys: [name] }, actor, kek);
    return value;
  }

  /** Decrypts the selected secrets; the caller zeroes the values. */
  getSecrets(kek: Uint8Array, project: string, sel: Selection = {}, op = 'getall', actor: Actor = this.actor): Secret[] {
    const out = this.withDek(kek, project, (dek, p) => {
      const secrets: Secret[] = [];
      try {
        for (const r of this.currentRows(p.id, sel)) secrets.push({ name: r.name, value: this.openSealed(dek, p, r.name, r.version, r.sealed) });
      } catch (err) {
        zero(...secrets.map((s) => s.value));
        throw err;
      }
      return secrets;
    });
    this.audit({ op, project, keys: out.map((s) => s.name) }, actor, kek);
    return out;
  }

  list(project: string, sel: Selection = {}): SecretMeta[] {
    const p = this.project(project);
    const rows = this.guard(() =>
      this.q(
          `SELECT s.name, s.current_version AS version, s.created_at, s.updated_at FROM secrets s
           JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
           WHERE s.project_id = ? AND v.sealed IS NOT NULL ORDER BY s.name`,
        )
        .all(p.id),
    ) as SecretMeta[];
    return rows.filter((r) => (!sel.only || sel.only.includes(r.name)) && (!sel.prefix || r.name.startsWith(sel.prefix)));
  }

  /** Marks a secret deleted (a tombstone version; history stays), or purges it with all history. */
  deleteSecret(project: string, name: string, purge = false, kek?: Uint8Array): void {
    checkKeyName(name);
    const p = this.project(project);
    this.guard(() =>
      writeTx(this.db, () => {
        const s = this.q('SELECT id FROM secrets WHERE project_id = ? AND name = ?').get(p.id, name) as { id: number } | undefined;
        const live = s && this.currentRow(p.id, name) !== undefined;
        if (!s || (!live && !purge)) throw notFound(`secret '${name}' not found in project '${project}'`);
        if (purge) this.q('DELETE FROM secrets WHERE id = ?').run(s.id);
        else this.putVersion(Buffer.alloc(0), p, name, null, 'delete');
        this.withAuditKey(kek, (mac) => appendAudit(this.db, this.actor, { op: purge ? 'purge' : 'delete', project, keys: [name] }, mac));
      }),
    );
  }

  history(project: string, name: string): VersionMeta[] {
    checkKeyName(name);
    const p = this.project(project);
    const rows = this.guard(() =>
      this.q(
          `SELECT v.version, v.op, v.created_at, (v.version = s.current_version) AS current FROM secret_versions v
           JOIN secrets s ON s.id = v.secret_id WHERE s.project_id = ? AND s.name = ? ORDER BY v.version`,
        )
        .all(p.id, name),
    ) as Array<VersionMeta & { current: number | boolean }>;
    if (!rows.length) throw notFound(`secret '${name}' has no history in project '${project}'`);
    return rows.map((r) => ({ ...r, current: !!r.current }));
  }

  /** Makes the value of version `to` current again, as a new version (history is append-only). */
  rollback(kek: Uint8Array, project: string, name: string, to: number): number {
    checkKeyName(name);
    return this.withDek(kek, project, (dek, p) =>
      this.guard(() =>
        writeTx(this.db, () => {
          const row = this.q('SELECT v.sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.project_id = ? AND s.name = ? AND v.version = ?')
            .get(p.id, name, to) as { sealed: Buffer | null } | undefined;
          if (!row) throw notFound(`secret '${name}' has no version ${to} in project '${project}'`);
          if (!row.sealed) throw usageError(`version ${to} of '${name}' is a deletion; pick a version that holds a value (see: tvault history ${name})`);
          const value = this.openSealed(dek, p, name, to, row.sealed);
          try {
            const v = this.putVersion(dek, p, name, value, 'rollback');
            this.withAuditKey(kek, (mac) => appendAudit(this.db, this.actor, { op: 'rollback', project, keys: [name], detail: `to=${to}` }, mac));
            return v;
          } finally {
            zero(value);
          }
        }),
      ),
    );
  }

  search(project: string, q: { prefix?: string; nameLike?: string }): SecretMeta[] {
    const like = q.nameLike?.toLowerCase();
    return this.list(project, { prefix: q.prefix }).filter((m) => !like || globLike(m.name.toLowerCase(), like));
  }

  // ---- key rotation, backup, restore -------------------------------------------------------

  /** Re-wraps every DEK and the verifier under a KEK from the new passphrase, atomically. */
  async rotate(oldKek: Uint8Array, newPassphrase: Uint8Array, kdf: KdfParams = this.kdfParams()): Promise<void> {
    checkKdfParams(kdf);
    if (newPassphrase.length === 0) throw usageError('the new passphrase is empty');
    const salt = randomBytes(16);
    const newKek = await deriveKek(newPassphrase, salt, kdf);
    try {
      this.guard(() =>
        writeTx(this.db, () => {
          if (!this.kekMatches(oldKek)) throw new TvaultError('the vault key changed while rotating; nothing was written', ExitCode.WRONG_PASSPHRASE);
          const rows = this.q(`SELECT pk.project_id, pk.wrapped, p.uid, p.name FROM project_keys pk JOIN projects p ON p.id = pk.project_id WHERE pk.recipient = ?`).all(PASSPHRASE_RECIPIENT) as Array<{ project_id: number; wrapped: Buffer; uid: Buffer; name: string }>;
          const upd = this.q('UPDATE project_keys SET wrapped = ? WHERE project_id = ? AND recipient = ?');
          for (const r of rows) {
            const header = dekHeader(r.uid, PASSPHRASE_RECIPIENT);
            const dek = openBound(oldKek, header, r.wrapped, `the key of project '${r.name}'`);
            try {
              upd.run(sealBound(newKek, header, dek), r.project_id, PASSPHRASE_RECIPIENT);
            } finally {
              zero(dek);
            }
          }
          const put = this.q('UPDATE meta SET value = ? WHERE key = ?');
          put.run(salt, 'kdf_salt');
          put.run(JSON.stringify(kdf), 'kdf');
          put.run(seal(newKek, verifierPlaintext(this.vaultId())), 'verifier');
          // The audit key itself does not change: it is re-sealed under the new KEK.
          this.withAuditSecret(oldKek, (audit) => {
            put.run(sealBound(newKek, auditKeyHeader(this.vaultId()), audit), 'audit_key');
            appendAudit(this.db, this.actor, { op: 'key.rotate', detail: `projects=${rows.length}` }, audit.subarray(0, 32));
          });
        }),
      );
    } finally {
      zero(newKek);
    }
  }

  /** A consistent online copy through SQLite's backup API (not a raw copy of a live WAL file). */
  async backup(dest: string): Promise<void> {
    const tmp = `${dest}.tmp-${process.pid}`;
    try {
      await this.db.backup(tmp);
      const { chmodSync } = await import('node:fs');
      chmodSync(tmp, 0o600);
      renameSync(tmp, dest);
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof TvaultError) throw err;
      throw new TvaultError(`backup to ${dest} failed: ${(err as Error).message}`);
    }
    this.audit({ op: 'backup', detail: dest });
  }

  /**
   * Replaces this vault's contents with a backup, through the backup API so that other
   * processes see either the old vault or the new one. The backup is checked first, and the
   * current vault is copied aside so that a mistaken restore loses nothing.
   */
  static async restore(dir: string, src: string): Promise<{ savedAs?: string }> {
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
}

/** Opens a backup read-only and checks that it is a whole tvault vault before anything is replaced. */
function openBackup(src: string): Db {
  if (!existsSync(src)) throw notFound(`no backup at ${src}`);
  let db: Db | undefined;
  try {
    // An older schema is fine: the restored vault is migrated when it is next opened.
    db = openDb(src, { readonly: true, migrate: false });
    const check = db.pragma('integrity_check', { simple: true });
    const meta = db.prepare("SELECT COUNT(*) AS n FROM meta WHERE key IN ('vault_id','kdf','kdf_salt','verifier')").get() as { n: number };
    if (check !== 'ok' || meta.n !== 4) throw integrityError('damaged');
    return db;
  } catch (err) {
    db?.close();
    // "Cannot open" and the like are reported as they are; anything else means "not a vault".
    if (err instanceof TvaultError && err.exitCode !== ExitCode.INTEGRITY) throw err;
    throw integrityError(`${src} is not a valid tvault backup (corrupt, truncated or another kind of file); nothing was restored`);
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
      await current.backup(savedAs);
    } finally {
      current.close();
    }
  } catch (err) {
    if (!(err instanceof TvaultError && err.exitCode === ExitCode.INTEGRITY)) throw err;
    for (const suffix of ['-wal', '-shm', '']) if (existsSync(path + suffix)) renameSync(path + suffix, savedAs + suffix);
  }
  return savedAs;
}

/** A fresh audit secret: a random key, then the first audit row id it authenticates. */
function newAuditSecret(firstRow: number): Buffer {
  const key = randomKey();
  const secret = Buffer.concat([key, u32(firstRow)]);
  zero(key);
  return secret;
}

function insertProject(db: Db, kek: Uint8Array, name: string): void {
  const uid = randomBytes(16);
  const t = now();
  const id = Number(db.prepare('INSERT INTO projects (uid, name, created_at) VALUES (?, ?, ?)').run(uid, name, t).lastInsertRowid);
  const dek = randomKey();
  try {
    db.prepare('INSERT INTO project_keys (project_id, recipient, wrapped, created_at) VALUES (?, ?, ?, ?)').run(
      id,
      PASSPHRASE_RECIPIENT,
      sealBound(kek, dekHeader(uid, PASSPHRASE_RECIPIENT), dek),
      t,
    );
  } finally {
    zero(dek);
  }
}

/** `*` matches any run, `?` one character; anything else is literal. A substring if no wildcard. */
function globLike(name: string, pattern: string): boolean {
  if (!/[*?]/.test(pattern)) return name.includes(pattern);
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(name);
}
