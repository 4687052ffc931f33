// The vault: a directory holding vault.db, unlocked by a passphrase-derived KEK.
// Every project has a random DEK wrapped under the KEK; values are sealed under the DEK and
// bound to (project, key name, version). Callers pass the KEK in; this module never keeps it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Statement, Transaction } from 'better-sqlite3';
import {
  type Actor,
  type AuditEvent,
  type AuditFilter,
  type AuditRow,
  type ChainReport,
  appendAudit,
  appendAuditRows,
  auditHead,
  auditRows,
  directActor,
  verifyAuditChain,
} from './audit';
import { u32, zero } from './bytes';
import {
  auditKeyHeader,
  dekHeader,
  identityHeader,
  openSharePayload,
  shareManifestMac,
  sharePayload,
  headerBytes,
  legacyVerifierPlaintext,
  hmacSha256,
  macEquals,
  macUnder,
  type OpenRows,
  boundError,
  openBound,
  openBoundInto,
  nativeRows,
  type ShellRows,
  plainLength,
  openedLength,
  randomKey,
  sealBound,
  secretHeader,
  sealedParts,
  type SealedParts,
  subkey,
  verifierPlaintext,
  open as openBox,
  seal,
} from './crypto';
import { ExitCode, TvaultError, integrityError, lockedError, notFound, usageError } from './errors';
import { DEFAULT_KDF, type KdfParams, checkKdfParams, checkNewKdfParams, deriveKek, isWeak } from './kdf';
import { MAC_BYTES as ALLOWED_MAC_BYTES, allowedNamesKey, decodeAllowedNames, encodeAllowedNames } from './allowed-names';
import { type Manifest, type ManifestEntry, decodeManifest, encodeManifest, isShared, manifestRecipients } from './manifest';
import { loadAge } from './lazy';
import { checkKeyName, checkProjectName, checkValue } from './names';
import { ensurePrivateDir, vaultFiles } from './paths';
import { BUSY_TIMEOUT_MS, type Db, mapSqliteError, openDb, writeTx } from './store';
import { createTempFile } from './temp-file';
import { type VaultDir, openVaultDir } from './vault-dir';

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

export interface IdentityRow {
  name: string;
  recipient: string;
  created_at: number;
}

export interface RecipientRow {
  recipient: string;
  created_at: number;
  /** The name of this vault's identity for that recipient, if it has one. */
  identity: string | null;
}

export interface Selection {
  only?: string[];
  prefix?: string;
}

/** A key's secrets row and the version row it points at (null columns when that row is missing). */
/** See Vault.sealedSnapshot. */
export interface SealedSnapshot {
  /**
   * The selected live keys, in the order of the rows (by name). Frozen; the same array for as
   * long as the project's packed rows are cached (a reader may remember what it checked of it).
   */
  readonly names: readonly string[];
  /** Decrypts names[from, to); the caller zeroes the values. */
  open(from: number, to: number): Secret[];
  /**
   * names[from, to) as the shell format's lines with `export` (env-format.ts's shellLinesBytes of
   * open(from, to)), opened and written in C where the agent's native helpers load; null where
   * they do not (then open() and shellLinesBytes). The caller checks the names first (checkShellNames)
   * and zeroes the lines.
   */
  openShell(from: number, to: number): Buffer | null;
  /** How many of the keys from `from` on (at most maxRows; at least 1 while any is left) have ciphertexts that fit in maxBytes together. */
  fit(from: number, maxBytes: number, maxRows: number): number;
  close(): void;
}

interface KeyState {
  name: string;
  current: number;
  version: number | null;
  sealed: Buffer | null;
  /**
   * What opening `sealed` needs that does not change while the row is cached (sealedSnapshot):
   * its context header for the project uid `uid` (public metadata) and views of its nonce and box.
   */
  prep?: { uid: Uint8Array; header: Buffer; parts: SealedParts | null };
}

/** What checking a KEK against the vault header found. */
type KekCheck = { ok: true; legacy: boolean } | { ok: false; tampered?: string };

const tampered = (what: string) => integrityError(`integrity check failed for ${what}`);

const now = () => Date.now();

/** See Vault.enableKeyCache. */
interface KeyCache {
  kek: Uint8Array;
  manifestKey: Buffer;
  keyTag: Buffer;
  deks: Map<number, { wrapped: Buffer; uid: Buffer; dek: Buffer }>;
  /** The unwrapped audit secret, while its sealed row and the vault id are these bytes. */
  audit?: { sealed: Buffer; vaultId: Buffer; secret: Buffer };
}

/**
 * See Vault.enableReadCache: what a long-lived reader has read and verified, valid while the
 * database is unchanged (`epoch`). No key material and no plaintext: rows, ciphertexts and
 * the results of checks (a manifest whose MAC verified under `kek`, rows that matched it).
 */
interface ReadCache {
  epoch: string;
  projects: Map<string, ProjectRow>;
  current?: string;
  verifier?: Buffer;
  wrapped: Map<number, Buffer>;
  verified: Map<number, VerifiedProject>;
}

interface VerifiedProject {
  /** The KEK Buffer the manifest was verified under: another one is checked afresh. */
  kek: Uint8Array;
  m: Manifest;
  allowed?: string[];
  /** Every key's rows (tombstones too), each checked against m, none that m lists missing. */
  states?: KeyState[];
  /** Keys whose rows were read and checked against m by name (null: no rows, none listed). */
  byName: Map<string, KeyState | null>;
  /** The ciphertext bytes byName holds (bounded by READ_CACHE_MAX_BYTES). */
  bytes: number;
  /** The live rows of `states` packed for the native opener (see packedRows), built at the first getall. */
  packed?: PackedRows;
}

/**
 * Rows laid out for crypto.ts's OpenRows: each row's envelope and its expected context header
 * (both public) side by side in `buf`, and a table of 4 u32 a row (envelope offset, length,
 * header offset, length). A copy of the ciphertexts, no key material and no plaintext.
 */
interface PackedRows {
  uid: Uint8Array;
  rows: KeyState[];
  buf: Buffer;
  table: Uint32Array;
  /** The rows' names side by side and their offset and length (2 u32 a row), for shellLines: made at the first shell getall. */
  names?: { bytes: Buffer; spans: Uint32Array };
  /** The rows' names, frozen (SealedSnapshot.names). */
  nameList: readonly string[];
}

/** The most ciphertext bytes a project's cached rows may hold (a larger project is read each time). */
const READ_CACHE_MAX_BYTES = 16 << 20;

/** Rows [from, to) opened side by side into one Buffer of their own (a failure zeroes it and names the row). */
function openPackedRange(native: OpenRows, key: Buffer, p: ProjectRow, live: KeyState[], packed: PackedRows, from: number, to: number): Buffer {
  const { table } = packed;
  let total = 0;
  for (let i = from; i < to; i++) total += plainLength(table[4 * i + 1]);
  const buf = Buffer.allocUnsafeSlow(total);
  const failed = native(key, packed.buf, table, from, to, buf);
  if (failed >= 0) {
    zero(buf);
    const r = live[failed >> 1];
    throw boundError(failed & 1 ? 'moved' : 'altered', `${p.name}/${r.name} (version ${r.current})`);
  }
  return buf;
}

/**
 * Rows [from, to) as the shell format's lines, opened and written in C (shellLines): no value
 * becomes a view or an object in JS. The opened values are zeroed before this returns.
 */
function openPackedShell(
  native: OpenRows,
  shell: ShellRows,
  key: Buffer,
  p: ProjectRow,
  live: KeyState[],
  packed: PackedRows,
  from: number,
  to: number,
): Buffer {
  const buf = openPackedRange(native, key, p, live, packed, from, to);
  try {
    packed.names ??= packNames(packed.rows);
    return shell(buf, valueSpans(packed.table, from, to), packed.names.bytes, packed.names.spans, from, true);
  } finally {
    zero(buf);
  }
}

function packNames(rows: KeyState[]): { bytes: Buffer; spans: Uint32Array } {
  const bytes = Buffer.from(rows.map((r) => r.name).join(''), 'utf8');
  const spans = new Uint32Array(2 * rows.length);
  let at = 0;
  rows.forEach((r, i) => {
    const n = Buffer.byteLength(r.name, 'utf8');
    spans[2 * i] = at;
    spans[2 * i + 1] = n;
    at += n;
  });
  return { bytes, spans };
}

/** Where each value of rows [from, to) lies in the Buffer openPackedRange filled: its offset after its header, and its length (2 u32 a row). */
function valueSpans(table: Uint32Array, from: number, to: number): Uint32Array {
  const spans = new Uint32Array(2 * (to - from));
  for (let i = from, at = 0, k = 0; i < to; i++, k += 2) {
    const n = plainLength(table[4 * i + 1]);
    spans[k] = at + table[4 * i + 3];
    spans[k + 1] = n - table[4 * i + 3];
    at += n;
  }
  return spans;
}

/**
 * SealedSnapshot.open with the native opener: rows [from, to) of `live` (packed.rows) into one
 * Buffer of their own, every MAC checked and every header compared in C, each value a view after
 * its header; a refused row is the integrity error openSealed gives for it, with the Buffer zeroed.
 */
function openPacked(native: OpenRows, key: Buffer, p: ProjectRow, live: KeyState[], packed: PackedRows, from: number, to: number): Secret[] {
  to = Math.min(to, live.length);
  from = Math.min(from, to);
  const buf = openPackedRange(native, key, p, live, packed, from, to);
  const spans = valueSpans(packed.table, from, to);
  const out = new Array<Secret>(to - from);
  for (let k = 0; k < to - from; k++) out[k] = { name: live[from + k].name, value: buf.subarray(spans[2 * k], spans[2 * k] + spans[2 * k + 1]) };
  return out;
}

export class Vault {
  private constructor(
    readonly dir: string,
    private readonly db: Db,
    readonly actor: Actor,
    private readonly vaultDir?: VaultDir,
  ) {}

  /** Manifest changes made by the write in progress: project id -> key -> entry (null: purged). */
  private readonly pending = new Map<number, Map<string, ManifestEntry | null>>();
  /** Verified manifests by project id, reused while their row and the key are unchanged. */
  private readonly manifests = new Map<number, { body: Buffer; mac: Buffer; keyTag: Buffer; m: Manifest }>();
  /** Keys derived from one KEK, kept between reads by a long-lived reader (enableKeyCache); null: none kept. */
  private keyCache: KeyCache | null = null;
  private keyCacheOn = false;
  /** See enableReadCache; null: off, or not valid (nothing read since a change). */
  private readCache: ReadCache | null = null;
  private readCacheOn = false;
  /** Counts this connection's own writes (which do not change data_version for it). */
  private ownWrites = 0;

  // ---- lifecycle ---------------------------------------------------------------------------

  static exists(dir: string): boolean {
    return existsSync(vaultFiles(dir).db);
  }

  /** Creates a new vault with a default project. The passphrase buffer stays the caller's. */
  static async init(dir: string, passphrase: Uint8Array, kdf: KdfParams = DEFAULT_KDF): Promise<Vault> {
    checkNewKdfParams(kdf);
    if (passphrase.length === 0) throw usageError('the passphrase is empty');
    const path = newVaultPath(dir);
    const salt = randomBytes(16);
    const kek = await deriveKek(passphrase, salt, kdf);
    try {
      createVaultFile(path, kek, salt, kdf, DEFAULT_PROJECT);
    } finally {
      zero(kek);
    }
    return Vault.open(dir);
  }

  /**
   * Creates a vault with one project whose KEK is random, derived from no passphrase: no
   * passphrase opens it, so its projects are read only by the recipients they are shared with
   * (a handoff's session vault). Returns it with the KEK, which the caller zeroes once done.
   */
  static initUnderRandomKey(dir: string, project: string): { vault: Vault; kek: Buffer } {
    checkProjectName(project);
    const path = newVaultPath(dir);
    const kek = randomKey();
    try {
      createVaultFile(path, kek, randomBytes(16), NO_PASSPHRASE_KDF, project);
      return { vault: Vault.open(dir), kek };
    } catch (err) {
      zero(kek);
      throw err;
    }
  }

  /**
   * Opens the vault in dir. The directory is opened once and checked through that descriptor,
   * and vault.db is opened relative to it (see vault-dir.ts): no check-then-open by path.
   */
  static open(dir: string, actor: Actor = directActor(), opts: { readonly?: boolean } = {}): Vault {
    const vd = openVaultDir(dir);
    try {
      const shownAs = vaultFiles(dir).db;
      const db = vd.openChecked(
        (path) => openDb(path, { readonly: opts.readonly, shownAs }),
        (d) => d.close(),
      );
      const v = new Vault(dir, db, actor, vd);
      try {
        v.kdfParams(); // fail early on a vault whose meta is damaged
      } catch (err) {
        v.close();
        throw err;
      }
      return v;
    } catch (err) {
      if (!vd.closed) vd.close();
      throw err;
    }
  }

  // Statements are prepared once per open vault: the agent runs the same few for every read.
  private readonly statements = new Map<string, Statement<unknown[], unknown>>();

  /** A cached prepared statement, typed by its parameters P and its row R. */
  private q<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.guard(() => this.db.prepare<unknown[], unknown>(sql));
      this.statements.set(sql, st);
    }
    return st as unknown as Statement<P, R>;
  }

  close(): void {
    this.wipeKeyCache();
    if (this.db.open) this.db.close();
    if (this.vaultDir && !this.vaultDir.closed) this.vaultDir.close();
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
    const row = this.guard(() => this.q<[string], { value: Buffer | string }>('SELECT value FROM meta WHERE key = ?').get(key));
    if (!row) throw new TvaultError(`the vault is damaged: meta entry '${key}' is missing`, ExitCode.INTEGRITY);
    return typeof row.value === 'string' ? Buffer.from(row.value, 'utf8') : Buffer.from(row.value);
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
    const c = this.readCache;
    if (c) return (c.verifier ??= this.meta('verifier'));
    return this.meta('verifier');
  }

  /**
   * Derives the KEK and checks it against the header (verifier and header MAC). Records success
   * and failure; a header that was tampered with is exit 8 and audited as such, not "wrong
   * passphrase". A vault from before schema 3 gets its manifests and header MAC here.
   */
  async unlock(passphrase: Uint8Array): Promise<Buffer> {
    const kdf = this.kdfParams();
    const salt = this.meta('kdf_salt');
    const kek = await deriveKek(passphrase, salt, kdf);
    let check = this.checkKek(kek);
    if (!check.ok && !check.tampered && isWeak(kdf)) check = await this.checkLoweredKdf(passphrase, salt);
    if (!check.ok) {
      zero(kek);
      if (check.tampered) {
        this.audit({ op: 'unlock', ok: false, detail: `tampered: ${check.tampered}` });
        throw integrityError(`the vault header was tampered with: ${check.tampered}; restore the vault from a backup with: tvault restore PATH`);
      }
      this.audit({ op: 'unlock', ok: false });
      throw new TvaultError('wrong passphrase', ExitCode.WRONG_PASSPHRASE);
    }
    try {
      if (check.legacy) this.upgrade(kek);
      this.audit({ op: 'unlock' }, this.actor, kek);
    } catch (err) {
      zero(kek);
      throw err;
    }
    return kek;
  }

  /** Whether `kek` opens this vault (and its header is intact). */
  kekMatches(kek: Uint8Array): boolean {
    return this.checkKek(kek).ok;
  }

  /**
   * The verifier must open under the KEK and name this vault; a v2 verifier also needs a valid
   * header MAC. When the verifier does not open but the header MAC verifies, the KEK is right
   * and the verifier was altered. Neither opening is a wrong passphrase, or a header whose KDF
   * input (salt, parameters) was changed: those cannot be told apart (docs/SECURITY.md).
   */
  private checkKek(kek: Uint8Array): KekCheck {
    const vaultId = this.vaultId();
    const plain = openBox(kek, this.verifier());
    if (!plain)
      return this.headerMacOk(kek) ? { ok: false, tampered: 'the verifier was altered (the header MAC shows the passphrase is right)' } : { ok: false };
    try {
      if (bytesEqual(plain, verifierPlaintext(vaultId))) {
        return this.headerMacOk(kek)
          ? { ok: true, legacy: false }
          : { ok: false, tampered: 'the header (vault id, KDF parameters or salt) does not match its MAC' };
      }
      if (bytesEqual(plain, legacyVerifierPlaintext(vaultId))) return { ok: true, legacy: true };
      return { ok: false, tampered: 'the vault id does not match the verifier' };
    } finally {
      zero(plain);
    }
  }

  private headerMacOk(kek: Uint8Array): boolean {
    const row = this.q<[], { value: Buffer }>("SELECT value FROM meta WHERE key = 'header_mac'").get();
    if (!row) return false;
    return macEquals(row.value, macUnder(kek, 'header', headerBytes(this.vaultId(), this.meta('kdf'), this.meta('kdf_salt'))));
  }

  /**
   * A failed unlock with KDF parameters below the default: if the passphrase opens the vault
   * with the default parameters, someone lowered them. One more derivation, only on this path.
   */
  private async checkLoweredKdf(passphrase: Uint8Array, salt: Buffer): Promise<KekCheck> {
    const kek = await deriveKek(passphrase, salt, DEFAULT_KDF);
    try {
      const plain = openBox(kek, this.verifier());
      if (!plain) return { ok: false };
      zero(plain);
      return { ok: false, tampered: 'the KDF parameters were lowered (the passphrase opens the vault with the default ones)' };
    } finally {
      zero(kek);
    }
  }

  /**
   * Makes a vault from before schema 3 authenticate its structure: a manifest for every project
   * and the header MAC, and a v2 verifier that says so. What is sealed is the state found at
   * this first unlock (docs/SECURITY.md says what that means).
   */
  private upgrade(kek: Uint8Array): void {
    this.write(kek, { op: 'vault.upgrade', detail: 'structure authenticated: project manifests and header MAC (schema 3)' }, () => {
      const c = this.checkKek(kek); // again inside the lock: another process may have done it
      if (!c.ok || !c.legacy) return;
      const missing = this.q<[], ProjectRow>('SELECT p.* FROM projects p WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.project_id = p.id)').all();
      for (const p of missing) {
        const entries = new Map<string, ManifestEntry>();
        for (const r of this.keyStates(p.id)) entries.set(r.name, { version: r.current, live: r.sealed !== null });
        storeManifest(this.db, kek, p.id, { uid: Buffer.from(p.uid), name: p.name, entries });
      }
      storeHeaderMac(this.db, kek);
      this.q<[Buffer]>("UPDATE meta SET value = ? WHERE key = 'verifier'").run(seal(kek, verifierPlaintext(this.vaultId())));
    });
  }

  /** Appends an audit row; authenticated (see audit.ts) when the KEK is given. */
  audit(ev: AuditEvent, actor: Actor = this.actor, kek?: Uint8Array): void {
    this.write(kek, ev, () => undefined, actor);
  }

  /**
   * Every write goes through here: fn runs in one BEGIN IMMEDIATE transaction, and the audit
   * row for it (authenticated when the KEK is given) is appended in the same transaction, so
   * a change and its record commit together or not at all. `ev` may depend on fn's result.
   */
  private write<T>(kek: Uint8Array | undefined, ev: AuditEvent | ((result: T) => AuditEvent), fn: () => T, actor: Actor = this.actor): T {
    this.dropReadCache();
    return this.guard(() =>
      writeTx(this.db, () => {
        this.ownWrites++;
        this.pending.clear();
        try {
          const result = fn();
          this.applyPending(kek);
          const event = typeof ev === 'function' ? ev(result) : ev;
          this.withAuditKey(kek, (mac) => appendAudit(this.db, actor, event, mac));
          return result;
        } finally {
          this.pending.clear();
        }
      }),
    );
  }

  /** One transaction function for the connection's life: db.transaction() builds its wrappers anew on every call. */
  private auditTxFn?: Transaction<(rows: Array<{ ev: AuditEvent; actor: Actor }>, kek: Uint8Array | undefined) => void>;

  private get auditTx() {
    return (this.auditTxFn ??= this.db.transaction((rows: Array<{ ev: AuditEvent; actor: Actor }>, kek: Uint8Array | undefined) =>
      this.withAuditKey(kek, (mac) => appendAuditRows(this.db, rows, mac)),
    ));
  }

  /**
   * Appends several rows in one transaction without waiting for the write lock: false (nothing
   * written) when another process holds it, so that the agent's event loop never blocks on it.
   * With `wait`, it waits for the lock as every writer does (the agent at start).
   */
  tryAuditBatch(rows: Array<{ ev: AuditEvent; actor: Actor }>, kek?: Uint8Array, wait = false): boolean {
    // Prepared once (q caches them): db.pragma() would parse and prepare twice per batch.
    if (!wait) this.q('PRAGMA busy_timeout = 0').run();
    try {
      this.auditTx.immediate(rows, kek);
      return true;
    } catch (err) {
      if (String((err as { code?: string })?.code).startsWith('SQLITE_BUSY')) return false;
      return mapSqliteError(err, vaultFiles(this.dir).db);
    } finally {
      if (!wait) this.q(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`).run();
    }
  }

  /**
   * Runs fn with the unwrapped audit secret and zeroes it afterwards. The secret is the 32-byte
   * audit key followed by the id (u32) of the first row it authenticates: sealed with the key,
   * so that nobody without the KEK can move that boundary to excuse stripped MACs. A vault from
   * before schema 2 gets its secret here, at its first unlock, starting after its last row.
   */
  private withAuditSecret<T>(kek: Uint8Array, fn: (secret: Buffer) => T): T {
    const vaultId = this.vaultId();
    const header = auditKeyHeader(vaultId);
    const row = this.q<[], { value: Buffer }>("SELECT value FROM meta WHERE key = 'audit_key'").get();
    const cache = row ? this.cacheFor(kek) : null;
    // The agent's key cache: one unwrap for every batch of rows while the sealed row is the same.
    if (cache?.audit?.sealed.equals(row!.value) && cache.audit.vaultId.equals(vaultId)) return fn(cache.audit.secret);
    let secret: Buffer;
    if (row) {
      secret = openBound(kek, header, row.value, 'the audit key');
      if (secret.length !== 36) {
        zero(secret);
        throw integrityError('the vault is damaged: its audit key is malformed');
      }
      if (cache) {
        if (cache.audit) zero(cache.audit.secret);
        const kept = Buffer.allocUnsafeSlow(secret.length); // its own memory, not the shared pool
        secret.copy(kept);
        zero(secret);
        cache.audit = { sealed: Buffer.from(row.value), vaultId: Buffer.from(vaultId), secret: kept };
        return fn(kept);
      }
    } else {
      secret = writeTx(this.db, () => {
        const next = this.q<[], { n: number }>('SELECT COALESCE(MAX(id), 0) + 1 AS n FROM audit').get()?.n ?? 1;
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

  /**
   * Checks the audit chain and, with the key from `kek`, every row's authentication. Without
   * a KEK only the hashes are checked (anyone could have recomputed them).
   */
  verifyAudit(kek?: Uint8Array): ChainReport {
    if (!kek) return this.guard(() => verifyAuditChain(this.db));
    return this.guard(() => this.withAuditSecret(kek, (secret) => verifyAuditChain(this.db, secret.subarray(0, 32), secret.readUInt32BE(32))));
  }

  /** Audit rows for display (names and actors, never values). */
  auditRows(filter: AuditFilter): AuditRow[] {
    return this.guard(() => auditRows(this.db, filter));
  }

  /** The newest audit row as `id:hash-prefix`: an anchor to keep outside the vault. */
  auditHead(): string {
    return this.guard(() => auditHead(this.db));
  }

  // ---- the database file -------------------------------------------------------------------

  /** SQLite's own consistency check of the file: 'ok', or the first problem it found. */
  integrityCheck(): string {
    return String(this.guard(() => this.db.pragma('integrity_check', { simple: true })));
  }

  /**
   * For a connection that lives long and commits often (the agent): commits never checkpoint
   * the WAL inline; the owner calls checkpoint() when it is quiet. A checkpoint trims the
   * -wal file to `walSizeLimit` bytes.
   */
  deferCheckpoints(walSizeLimit: number): void {
    this.guard(() => {
      this.db.pragma('wal_autocheckpoint = 0');
      this.db.pragma(`journal_size_limit = ${Math.floor(walSizeLimit)}`);
    });
  }

  /** A PASSIVE checkpoint: never waits for another process; what it cannot copy now, a later one will. */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /** A consistent online copy of the database through SQLite's backup API (see backup.ts). */
  copyTo(path: string): Promise<unknown> {
    return this.db.backup(path);
  }

  // ---- projects ----------------------------------------------------------------------------

  listProjects(): Array<ProjectRow & { secrets: number }> {
    return this.guard(() =>
      this.q<[], ProjectRow & { secrets: number }>(
        `SELECT p.*, (SELECT COUNT(*) FROM secrets s JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
                        WHERE s.project_id = p.id AND v.sealed IS NOT NULL) AS secrets
           FROM projects p ORDER BY p.name`,
      ).all(),
    );
  }

  findProject(name: string): ProjectRow | undefined {
    const hit = this.readCache?.projects.get(name);
    if (hit) return hit;
    const p = this.guard(() => this.q<[string], ProjectRow>('SELECT * FROM projects WHERE name = ?').get(name));
    if (p) this.readCache?.projects.set(name, p);
    return p;
  }

  project(name: string): ProjectRow {
    const p = this.findProject(name);
    if (!p) throw notFound(`project '${name}' does not exist; create it with: tvault projects create ${name}`);
    return p;
  }

  createProject(kek: Uint8Array, name: string): void {
    checkProjectName(name);
    this.write(kek, { op: 'project.create', project: name }, () => {
      if (this.findProject(name)) throw new TvaultError(`project '${name}' already exists`);
      insertProject(this.db, kek, name);
    });
  }

  deleteProject(name: string, kek?: Uint8Array): void {
    this.write(kek, { op: 'project.delete', project: name }, () => {
      const p = this.project(name);
      // The current project always exists: every command without -p reads it. Falling back
      // to 'default' would leave a vault whose every command fails once 'default' is gone.
      if (this.currentProject() === name) {
        throw new TvaultError(`project '${name}' is the current project; make another one current first (tvault use OTHER), then delete it`);
      }
      this.q<[number]>('DELETE FROM projects WHERE id = ?').run(p.id);
      this.q<[string]>('DELETE FROM meta WHERE key = ?').run(allowedNamesKey(p.uid));
      this.manifests.delete(p.id);
    });
  }

  currentProject(): string {
    const c = this.readCache;
    if (c) return (c.current ??= this.meta('current_project').toString('utf8'));
    return this.meta('current_project').toString('utf8');
  }

  /**
   * Whether the passphrase was accepted although its strength estimate was weak (`--force` at
   * init or key rotate), for doctor to say so. A note in meta ('weak_passphrase'), never anything
   * derived from the passphrase itself; a rotation to a strong passphrase removes it.
   */
  weakPassphrase(): boolean {
    return this.guard(() => !!this.q<[], { value: unknown }>("SELECT value FROM meta WHERE key = 'weak_passphrase'").get());
  }

  markWeakPassphrase(weak: boolean): void {
    this.guard(() => {
      if (weak) this.q("INSERT OR REPLACE INTO meta (key, value) VALUES ('weak_passphrase', '1')").run();
      else this.q("DELETE FROM meta WHERE key = 'weak_passphrase'").run();
    });
  }

  useProject(name: string): void {
    this.write(undefined, { op: 'project.use', project: name }, () => {
      this.project(name);
      this.q<[string]>("INSERT OR REPLACE INTO meta (key, value) VALUES ('current_project', ?)").run(name);
    });
  }

  /** Unwraps a project's DEK; the caller zeroes it. */
  dek(kek: Uint8Array, p: ProjectRow): Buffer {
    const dek = openBound(kek, dekHeader(p.uid, PASSPHRASE_RECIPIENT), this.wrappedDek(p), `the key of project '${p.name}'`);
    if (dek.length !== 32) throw new TvaultError(`the vault is damaged: project '${p.name}' has a malformed key`, ExitCode.INTEGRITY);
    return dek;
  }

  private wrappedDek(p: ProjectRow): Buffer {
    const hit = this.readCache?.wrapped.get(p.id);
    if (hit) return hit;
    const row = this.guard(() =>
      this.q<[number, string], { wrapped: Buffer }>('SELECT wrapped FROM project_keys WHERE project_id = ? AND recipient = ?').get(p.id, PASSPHRASE_RECIPIENT),
    );
    if (!row) throw new TvaultError(`the vault is damaged: project '${p.name}' has no key`, ExitCode.INTEGRITY);
    this.readCache?.wrapped.set(p.id, row.wrapped);
    return row.wrapped;
  }

  /** Runs fn with the project's DEK and zeroes it afterwards (unless the key cache keeps it). */
  withDek<T>(kek: Uint8Array, project: string, fn: (dek: Buffer, p: ProjectRow) => T): T {
    const p = this.project(project);
    const cache = this.cacheFor(kek);
    if (!cache) {
      const dek = this.dek(kek, p);
      try {
        return fn(dek, p);
      } finally {
        zero(dek);
      }
    }
    return fn(this.cachedDek(cache, kek, p), p);
  }

  // ---- the key cache of a long-lived reader (the agent) ------------------------------------

  /**
   * Keeps the keys derived from the KEK between calls: the manifest key (HKDF), each
   * project's DEK and the audit secret (unwrapped with NaCl), ~45 µs of a ~70 µs `get` (docs/PERFORMANCE.md). For a
   * reader that holds one KEK Buffer for its life and calls wipeKeyCache when it drops it; a
   * one-shot CLI process has nothing to gain. Entries are tied to the KEK Buffer they came from
   * (another Buffer: derived afresh) and a DEK to its wrapped row's bytes and its project's uid,
   * so a rotated or restored key is unwrapped (and checked) again.
   */
  enableKeyCache(): void {
    this.keyCacheOn = true;
  }

  /** Zeroes and forgets every cached key (the agent locks, stops, or finds the KEK rotated). */
  wipeKeyCache(): void {
    this.readCache = null; // its entries name the KEK they were verified under
    const c = this.keyCache;
    this.keyCache = null;
    if (!c) return;
    zero(c.manifestKey, c.audit?.secret, ...[...c.deks.values()].map((d) => d.dek));
    c.deks.clear();
  }

  private cacheFor(kek: Uint8Array): KeyCache | null {
    if (!this.keyCacheOn) return null;
    if (this.keyCache?.kek === kek) return this.keyCache;
    this.wipeKeyCache();
    const manifestKey = subkey(kek, 'manifest');
    const keyTag = createHash('sha256').update('tvault/manifest-cache\0').update(manifestKey).digest();
    this.keyCache = { kek, manifestKey, keyTag, deks: new Map() };
    return this.keyCache;
  }

  /**
   * Keeps what reads fetch and verify between calls, for a long-lived reader (the agent) that
   * calls checkReadCache before each request: project rows, the current project, the verifier,
   * wrapped DEKs, each project's manifest as verified under the KEK, its allowed names, and
   * after a read of the whole project its rows (ciphertexts and the result of checking them
   * against the manifest). Never a plaintext value: every value is still opened, and its MAC
   * checked, by each read. See checkReadCache for when it is dropped.
   */
  enableReadCache(): void {
    this.readCacheOn = true;
  }

  /**
   * Validates the read cache before a request: it is kept only while the database is the one
   * it was read from. `file` is the caller's signature of vault.db as it is now (device, inode,
   * size, mtime and ctime of the path); with SQLite's data_version (which changes with every
   * commit by any other connection, in this process or another) and this connection's own
   * writes, it must equal the one the cache was filled under, or the cache is dropped. A write
   * to the file by anything but SQLite changes its ctime; a file replaced under the path, its
   * inode (the caller reopens the database then, which starts without a cache).
   */
  checkReadCache(file: string): void {
    if (!this.readCacheOn) return;
    const version = this.guard(() => this.q<[], number>('PRAGMA data_version').pluck().get());
    const epoch = `${version}|${this.ownWrites}|${file}`;
    if (this.readCache?.epoch === epoch) return;
    this.readCache = { epoch, projects: new Map(), wrapped: new Map(), verified: new Map() };
  }

  /**
   * After the caller's own checkpoint (which writes vault.db, so changes its mtime and ctime):
   * the cache filled under the file as it was just before stays valid under its new signature.
   */
  renewReadCache(before: string, after: string): void {
    const c = this.readCache;
    if (c?.epoch.endsWith(`|${before}`)) c.epoch = c.epoch.slice(0, -before.length) + after;
  }

  /** Forgets everything the read cache holds (a write of this connection's, a lock). */
  dropReadCache(): void {
    this.readCache = null;
  }

  /** The project's verified entry in the read cache, if it was verified under this KEK. */
  private verifiedEntry(kek: Uint8Array, p: ProjectRow): VerifiedProject | undefined {
    const hit = this.readCache?.verified.get(p.id);
    return hit && hit.kek === kek ? hit : undefined;
  }

  /** The project's DEK from the cache while its wrapped row and uid are the ones it came from. */
  private cachedDek(cache: KeyCache, kek: Uint8Array, p: ProjectRow): Buffer {
    const wrapped = this.wrappedDek(p);
    const hit = cache.deks.get(p.id);
    if (hit && hit.wrapped.equals(wrapped) && hit.uid.equals(Buffer.from(p.uid))) return hit.dek;
    if (hit) zero(hit.dek);
    cache.deks.delete(p.id);
    // Its own memory, not a slice of Buffer's shared pool that other allocations reuse.
    const fresh = this.dek(kek, p);
    const dek = Buffer.allocUnsafeSlow(fresh.length);
    fresh.copy(dek);
    zero(fresh);
    cache.deks.set(p.id, { wrapped, uid: Buffer.from(p.uid), dek });
    return dek;
  }

  // ---- manifests (see manifest.ts) ---------------------------------------------------------

  /**
   * The project's verified manifest, which must name this row's uid and name: a project row
   * renamed, or given another's uid, is tampering. A verified manifest is reused while its row
   * and the KEK are the same bytes (the agent's `get KEY` then costs one row read and a compare).
   */
  private manifest(kek: Uint8Array, p: ProjectRow): Manifest {
    const verified = this.verifiedEntry(kek, p);
    if (verified) return verified.m;
    const read = () => this.guard(() => this.q<[number], { body: Buffer; mac: Buffer }>('SELECT body, mac FROM manifests WHERE project_id = ?').get(p.id));
    // The MAC alone first: while it is the one of the manifest verified before (under the same
    // key), the cached, authentic copy is used, without reading a body that grows with the
    // project (~25 bytes a key) on every get. A body altered under an unchanged MAC is then
    // never even read; reads are checked against the authentic manifest all the same.
    const current = this.guard(() => this.q<[number], { mac: Buffer }>('SELECT mac FROM manifests WHERE project_id = ?').get(p.id));
    let row: { body: Buffer; mac: Buffer } | undefined;
    if (!current) {
      // A vault from before schema 3 that was not unlocked since (restored, or opened by an agent).
      const c = this.checkKek(kek);
      if (c.ok && c.legacy) {
        this.upgrade(kek);
        row = read();
      }
      if (!row) throw tampered(`project '${p.name}': its manifest is missing (deleted without the key)`);
    }
    const cache = this.cacheFor(kek);
    const key = cache?.manifestKey ?? subkey(kek, 'manifest');
    try {
      const keyTag = cache?.keyTag ?? createHash('sha256').update('tvault/manifest-cache\0').update(key).digest();
      const hit = this.manifests.get(p.id);
      let m: Manifest;
      if (hit && !row && hit.keyTag.equals(keyTag) && hit.mac.equals(current!.mac)) m = hit.m;
      else {
        row ??= read();
        if (!row) throw tampered(`project '${p.name}': its manifest is missing (deleted without the key)`);
        if (!macEquals(row.mac, hmacSha256(key, row.body))) throw tampered(`project '${p.name}': its manifest was altered`);
        m = decodeManifest(row.body, `project '${p.name}'`);
        this.manifests.set(p.id, { body: row.body, mac: row.mac, keyTag, m });
      }
      if (m.name !== p.name || !m.uid.equals(Buffer.from(p.uid))) {
        throw tampered(`project '${p.name}': its row does not carry the name and uid its manifest authenticates (the projects table was edited)`);
      }
      this.checkRecipientRows(p, m);
      this.readCache?.verified.set(p.id, { kek, m, byName: new Map(), bytes: 0 });
      return m;
    } finally {
      if (!cache) zero(key);
    }
  }

  /**
   * The project_keys rows must be the recipients the manifest authenticates: a row added (a DEK
   * wrapped to someone the owner never shared with) or deleted by editing vault.db is tampering.
   */
  private checkRecipientRows(p: ProjectRow, m: Manifest): void {
    const rows = this.recipientNames(p.id);
    const want = manifestRecipients(m);
    if (rows.length === want.length && rows.every((r, i) => r === want[i])) return;
    const added = rows.filter((r) => !want.includes(r));
    const gone = want.filter((r) => !rows.includes(r));
    const what = [added.length ? `${added.join(', ')} added` : '', gone.length ? `${gone.join(', ')} deleted` : ''].filter(Boolean).join('; ');
    throw tampered(`project '${p.name}': its recipients do not match its manifest (${what} without the key)`);
  }

  /** The recipients of a project's key rows, sorted (the order manifestRecipients uses). */
  private recipientNames(projectId: number): string[] {
    return this.guard(() => this.q<[number], { recipient: string }>('SELECT recipient FROM project_keys WHERE project_id = ?').all(projectId))
      .map((r) => r.recipient)
      .sort();
  }

  /** Records a change to a key's manifest entry; write() applies it before it commits. */
  private noteChange(projectId: number, name: string, entry: ManifestEntry | null): void {
    let changes = this.pending.get(projectId);
    if (!changes) this.pending.set(projectId, (changes = new Map()));
    changes.set(name, entry);
  }

  /** Applies the pending changes to each project's verified manifest and stores it, MACed again. */
  private applyPending(kek: Uint8Array | undefined): void {
    if (!this.pending.size) return;
    if (!kek) throw new TvaultError('internal error: a change to secrets needs the vault key');
    for (const [projectId, changes] of this.pending) {
      const p = this.q<[number], ProjectRow>('SELECT * FROM projects WHERE id = ?').get(projectId);
      if (!p) throw new TvaultError('internal error: a change to a project that is gone');
      const m = this.manifest(kek, p);
      const entries = new Map(m.entries);
      for (const [name, e] of changes) {
        if (e) entries.set(name, e);
        else entries.delete(name);
      }
      storeManifest(this.db, kek, projectId, { ...m, entries });
      this.manifests.delete(projectId);
    }
  }

  /**
   * A key's rows must be exactly what its manifest entry says: present, pointing at the
   * authenticated current version, that version row present and a value or a deletion as
   * recorded. No entry: no rows.
   */
  private checkKey(p: ProjectRow, name: string, e: ManifestEntry | undefined, s: KeyState | undefined): void {
    const what = `${p.name}/${name}`;
    if (!e) {
      if (s) throw tampered(`${what}: it is not in the project's manifest (its rows were added without the key)`);
      return;
    }
    if (!s) throw tampered(`${what}: its rows were deleted without the key`);
    if (s.current !== e.version) throw tampered(`${what}: its current version was moved to ${s.current} (the manifest says ${e.version})`);
    if (s.version === null) throw tampered(`${what}: its current version ${e.version} was deleted`);
    if ((s.sealed !== null) !== e.live)
      throw tampered(`${what}: version ${e.version} is ${e.live ? 'a value' : 'a deletion'} in the manifest and not in the table`);
  }

  // ---- allowed names (see allowed-names.ts) -------------------------------------------------

  /** The names the project lets `run` and the applied `env` formats pass on; verified under the KEK. */
  allowedNames(kek: Uint8Array, project: string): string[] {
    return this.readAllowedNames(kek, this.project(project));
  }

  private readAllowedNames(kek: Uint8Array, p: ProjectRow): string[] {
    const verified = this.verifiedEntry(kek, p);
    if (verified?.allowed) return verified.allowed.slice();
    const names = this.readAllowedNamesRow(kek, p);
    if (verified) verified.allowed = names.slice();
    return names;
  }

  private readAllowedNamesRow(kek: Uint8Array, p: ProjectRow): string[] {
    const row = this.guard(() => this.q<[string], { value: Buffer | string }>('SELECT value FROM meta WHERE key = ?').get(allowedNamesKey(p.uid)));
    if (!row) return []; // none allowed; a deleted row only takes allowances away
    const v = typeof row.value === 'string' ? Buffer.from(row.value, 'utf8') : row.value;
    const body = v.subarray(0, Math.max(0, v.length - ALLOWED_MAC_BYTES));
    if (v.length < ALLOWED_MAC_BYTES || !macEquals(v.subarray(body.length), macUnder(kek, 'manifest', body)))
      throw tampered(`the allowed names of project '${p.name}': the row was altered or written without the key`);
    return decodeAllowedNames(body, p.uid, `project '${p.name}'`);
  }

  /** Adds or removes allowed names of a project (audited as name.allow / name.revoke); returns the new list. */
  changeAllowedNames(kek: Uint8Array, project: string, change: { add?: string[]; remove?: string[] }): string[] {
    const add = (change.add ?? []).map(checkKeyName);
    const remove = (change.remove ?? []).map(checkKeyName);
    const p = this.project(project);
    const op = remove.length ? 'name.revoke' : 'name.allow';
    return this.write(kek, { op, project, keys: [...add, ...remove] }, () => {
      const names = new Set(this.readAllowedNames(kek, p));
      add.forEach((n) => names.add(n));
      remove.forEach((n) => names.delete(n));
      // No row for an empty list: rotate re-MACs the rows that exist, which are the non-empty ones.
      if (names.size) storeAllowedNames(this.db, kek, p.uid, names);
      else this.q<[string]>('DELETE FROM meta WHERE key = ?').run(allowedNamesKey(p.uid));
      return [...names].sort();
    });
  }

  // ---- secrets -----------------------------------------------------------------------------

  /** Stores a new version of each value; all of them or none. Values stay the caller's to zero. */
  setSecrets(kek: Uint8Array, project: string, entries: Array<{ name: string; value: Uint8Array }>, op = 'set'): Array<{ name: string; version: number }> {
    for (const e of entries) {
      checkKeyName(e.name);
      checkValue(e.value);
    }
    return this.withDek(kek, project, (dek, p) =>
      this.write(kek, { op, project, keys: entries.map((e) => e.name) }, () =>
        entries.map((e) => ({ name: e.name, version: this.putVersion(dek, p, e.name, e.value, op) })),
      ),
    );
  }

  private putVersion(dek: Uint8Array, p: ProjectRow, name: string, value: Uint8Array | null, op: string): number {
    const t = now();
    let s = this.q<[number, string], { id: number; current_version: number }>('SELECT id, current_version FROM secrets WHERE project_id = ? AND name = ?').get(
      p.id,
      name,
    );
    const lastVersion = s ? (this.q<[number], { v: number | null }>('SELECT MAX(version) AS v FROM secret_versions WHERE secret_id = ?').get(s.id)?.v ?? 0) : 0;
    const version = lastVersion + 1;
    if (!s) {
      const insert = this.q<[number, string, number, number, number]>(
        'INSERT INTO secrets (project_id, name, current_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      );
      s = { id: Number(insert.run(p.id, name, version, t, t).lastInsertRowid), current_version: version };
    } else {
      this.q<[number, number, number]>('UPDATE secrets SET current_version = ?, updated_at = ? WHERE id = ?').run(version, t, s.id);
    }
    const sealed = value ? sealBound(dek, secretHeader(p.uid, name, version), value) : null;
    this.q<[number, number, string, Buffer | null, number]>(
      'INSERT INTO secret_versions (secret_id, version, op, sealed, created_at) VALUES (?, ?, ?, ?, ?)',
    ).run(s.id, version, op, sealed, t);
    this.noteChange(p.id, name, { version, live: value !== null });
    return version;
  }

  /**
   * Every key of a project with its current version row (tombstones too, for the manifest
   * check). The selection is applied in SQL so that `get KEY` reads one row, not the whole
   * project (and a damaged page costs only the values on it); substr(), not LIKE, whose `_`
   * wildcard is in key names. A selection by names gets its own statement, without an `OR`
   * around the IN: with one, SQLite visits every row of the project for each call (the agent's
   * getall reads a project in chunks of names: every chunk read all 1,000 rows).
   */
  private keyStates(projectId: number, sel: Selection = {}): KeyState[] {
    return this.guard(() =>
      this.q<[{ projectId: number; only: string | null; prefix: string | null }], KeyState>(
        `SELECT s.name, s.current_version AS current, v.version, v.sealed FROM secrets s
         LEFT JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
         WHERE s.project_id = @projectId
           AND ${sel.only ? 's.name IN (SELECT value FROM json_each(@only))' : '@only IS NULL'}
           AND (@prefix IS NULL OR substr(s.name, 1, length(@prefix)) = @prefix)
         ORDER BY s.name`,
      ).all({ projectId, only: sel.only ? JSON.stringify(sel.only) : null, prefix: sel.prefix || null }),
    );
  }

  private openSealed(dek: Uint8Array, p: ProjectRow, name: string, version: number, sealed: Buffer): Buffer {
    return openBound(dek, secretHeader(p.uid, name, version), sealed, () => `${p.name}/${name} (version ${version})`);
  }

  /** One key by name: the (project_id, name) index, no scan. */
  private keyState(projectId: number, name: string): KeyState | undefined {
    return this.guard(() =>
      this.q<[number, string], KeyState>(
        `SELECT s.name, s.current_version AS current, v.version, v.sealed FROM secrets s
         LEFT JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
         WHERE s.project_id = ? AND s.name = ?`,
      ).get(projectId, name),
    );
  }

  /** Decrypts one secret; the caller zeroes it. `actor` overrides who the audit row names. */
  getSecret(kek: Uint8Array, project: string, name: string, actor: Actor = this.actor): Buffer {
    const value = this.readSecretUnaudited(kek, project, name);
    try {
      this.audit({ op: 'get', project, keys: [name] }, actor, kek);
    } catch (err) {
      zero(value);
      throw err;
    }
    return value;
  }

  /** Decrypts the selected secrets; the caller zeroes the values. */
  getSecrets(kek: Uint8Array, project: string, sel: Selection = {}, op = 'getall', actor: Actor = this.actor): Secret[] {
    const out = this.readSecretsUnaudited(kek, project, sel);
    try {
      this.audit({ op, project, keys: out.map((s) => s.name) }, actor, kek);
    } catch (err) {
      zero(...out.map((s) => s.value));
      throw err;
    }
    return out;
  }

  /**
   * getSecret without its audit row, for the agent, which commits the rows of its reads in
   * batches (tryAuditBatch) and answers only once a read's row is committed.
   */
  readSecretUnaudited(kek: Uint8Array, project: string, name: string): Buffer {
    checkKeyName(name);
    return this.withDek(kek, project, (dek, p) => {
      const m = this.manifest(kek, p);
      // The key's rows as read and checked since the last change (by this get, an earlier one,
      // or a getall of the whole project): no SELECT. Only rows that passed the check are kept.
      const v = this.verifiedEntry(kek, p);
      const hit = v?.byName.get(name);
      const row = hit !== undefined ? (hit ?? undefined) : v?.states ? undefined : this.keyState(p.id, name);
      this.checkKey(p, name, m.entries.get(name), row);
      if (v && hit === undefined && !v.states && v.bytes + (row?.sealed?.length ?? 0) <= READ_CACHE_MAX_BYTES) {
        v.byName.set(name, row ?? null);
        v.bytes += row?.sealed?.length ?? 0;
      }
      if (!row?.sealed) throw notFound(`secret '${name}' not found in project '${project}'`);
      return this.openSealed(dek, p, name, row.current, row.sealed);
    });
  }

  /** getSecrets without its audit row (see readSecretUnaudited). */
  readSecretsUnaudited(kek: Uint8Array, project: string, sel: Selection = {}): Secret[] {
    return this.withDek(kek, project, (dek, p) => {
      const secrets: Secret[] = [];
      try {
        for (const r of this.verifiedStates(kek, p, sel))
          if (r.sealed) secrets.push({ name: r.name, value: this.openSealed(dek, p, r.name, r.current, r.sealed) });
      } catch (err) {
        zero(...secrets.map((s) => s.value));
        throw err;
      }
      return secrets;
    });
  }

  /**
   * The selected live secrets as they are now, checked against the project's manifest (as
   * readSecretsUnaudited does), to be decrypted a range at a time: for a reader that answers a
   * large selection in steps (the agent's getall, reads.ts), with one read of the rows instead of
   * one to check and one per step. The answer is the project as it was at this call. The
   * snapshot holds its own copy of the DEK (the key cache may replace and zero its copy if the
   * key changes meanwhile) and the ciphertexts; close() zeroes the DEK.
   */
  sealedSnapshot(kek: Uint8Array, project: string, sel: Selection = {}): SealedSnapshot {
    return this.withDek(kek, project, (dek, p) => {
      const native = nativeRows()?.open;
      const whole = !sel.only && !sel.prefix;
      const ready = native && whole ? this.packedAsCached(kek, p) : null;
      // A copy of the cached rows: close() empties the snapshot's list.
      const live = ready ? ready.rows.slice() : this.verifiedStates(kek, p, sel).filter((r) => r.sealed);
      const key = Buffer.allocUnsafeSlow(dek.length); // its own memory, not the shared pool
      dek.copy(key);
      const packed = ready ?? (native && whole ? this.packedRows(kek, p, live) : null);
      return {
        names: packed ? packed.nameList : Object.freeze(live.map((r) => r.name)),
        openShell: (from, to) => {
          const shell = nativeRows()?.shell;
          if (!(native && packed && shell)) return null;
          to = Math.min(to, live.length);
          return openPackedShell(native, shell, key, p, live, packed, Math.min(from, to), to);
        },
        open: (from, to) => {
          if (native && packed) return openPacked(native, key, p, live, packed, from, to);
          // The range's plaintexts side by side in one allocation of its own (not the shared
          // pool), each value a view of it after its header; the header and the envelope's views
          // are kept on the cached row. Every value is MAC-checked and its header compared, as
          // openSealed does, with the same error; on one, everything opened so far is zeroed.
          const rows = live.slice(from, to);
          let total = 0;
          for (const r of rows) {
            if (r.prep?.uid !== p.uid) r.prep = { uid: p.uid, header: secretHeader(p.uid, r.name, r.current), parts: sealedParts(r.sealed!) };
            total += r.prep.parts ? openedLength(r.prep.parts) : 0;
          }
          const buf = Buffer.allocUnsafeSlow(total);
          const out: Secret[] = [];
          try {
            let at = 0;
            for (const r of rows) {
              const { header, parts } = r.prep!;
              const n = parts ? openedLength(parts) : 0;
              out.push({
                name: r.name,
                value: openBoundInto(key, header, parts, buf.subarray(at, at + n), () => `${p.name}/${r.name} (version ${r.current})`),
              });
              at += n;
            }
          } catch (err) {
            zero(buf);
            throw err;
          }
          return out;
        },
        fit: (from, maxBytes, maxRows) => {
          let n = 0;
          for (let bytes = 0; from + n < live.length && n < maxRows; n++) {
            bytes += live[from + n].sealed!.length;
            if (bytes > maxBytes && n) break;
          }
          return n;
        },
        close: () => {
          zero(key);
          live.length = 0;
        },
      };
    });
  }

  /**
   * The names of the selected live secrets, after checking every selected key's rows against
   * the project's manifest (as readSecretsUnaudited does, without decrypting): for the agent's
   * names op, so that a key whose rows were deleted is an integrity failure, not a key silently
   * missing from the answer.
   */
  verifiedNames(kek: Uint8Array, project: string, sel: Selection = {}): string[] {
    return this.verifiedStates(kek, this.project(project), sel)
      .filter((r) => r.sealed)
      .map((r) => r.name);
  }

  /** The selected keys' rows, each checked against the manifest, and none that it lists missing. */
  private verifiedStates(kek: Uint8Array, p: ProjectRow, sel: Selection): KeyState[] {
    const m = this.manifest(kek, p);
    const v = this.verifiedEntry(kek, p);
    if (v?.states) {
      // Every row of the project was checked against m when it was cached: a selection of it
      // passes the same checks (the rows of the selected keys, none of them missing).
      const only = sel.only ? new Set(sel.only) : null;
      const prefix = sel.prefix || null;
      return v.states.filter((r) => (!only || only.has(r.name)) && (!prefix || r.name.startsWith(prefix)));
    }
    const states = this.statesAgainst(m, p, sel);
    const bytes = states.reduce((n, r) => n + (r.sealed?.length ?? 0), 0);
    if (v && !sel.only && !sel.prefix && bytes <= READ_CACHE_MAX_BYTES) {
      v.states = states.slice();
      v.byName = new Map(states.map((r) => [r.name, r]));
      v.bytes = bytes;
    }
    return states;
  }

  /**
   * The whole project's packed rows, if its rows are cached and were packed: they are its live
   * rows as verifiedStates would list them (both come from the entry's `states`, which an entry
   * never replaces), without filtering 1,000 rows again (~50 µs of a getall). An entry exists
   * only for a manifest verified under this KEK since the vault last changed (manifest()), so
   * nothing is to be checked again.
   */
  private packedAsCached(kek: Uint8Array, p: ProjectRow): PackedRows | null {
    const v = this.verifiedEntry(kek, p);
    return v?.states && v.packed?.uid === p.uid ? v.packed : null;
  }

  /**
   * Packs the project's live rows for the native opener and keeps them on its verified entry
   * (a getall of the whole project; any other list is opened in JS), where packedAsCached finds
   * them next time. null when the project is not in the read cache.
   */
  private packedRows(kek: Uint8Array, p: ProjectRow, live: KeyState[]): PackedRows | null {
    const v = this.verifiedEntry(kek, p);
    if (!v?.states) return null;
    let total = 0;
    const headers = live.map((r) => {
      const h = secretHeader(p.uid, r.name, r.current);
      total += r.sealed!.length + h.length;
      return h;
    });
    if (total > 2 * READ_CACHE_MAX_BYTES || live.length > 0x3fffffff) return null;
    const buf = Buffer.allocUnsafeSlow(total);
    const table = new Uint32Array(4 * live.length);
    let at = 0;
    live.forEach((r, i) => {
      table[4 * i] = at;
      table[4 * i + 1] = r.sealed!.length;
      at += r.sealed!.copy(buf, at);
      table[4 * i + 2] = at;
      table[4 * i + 3] = headers[i].length;
      at += headers[i].copy(buf, at);
    });
    v.packed = { uid: p.uid, rows: live.slice(), buf, table, nameList: Object.freeze(live.map((r) => r.name)) };
    return v.packed;
  }

  /** The selected keys' rows checked against a verified manifest (the KEK's or a recipient's). */
  private statesAgainst(m: Manifest, p: ProjectRow, sel: Selection): KeyState[] {
    const states = this.keyStates(p.id, sel);
    const seen = new Set<string>();
    for (const r of states) {
      this.checkKey(p, r.name, m.entries.get(r.name), r);
      seen.add(r.name);
    }
    // A key the manifest lists and the selection covers must have had rows. With `only` (the
    // agent's getall reads a project in chunks of names), walk those names, not every entry: a
    // walk of the whole manifest per chunk, each testing `only.includes`, was quadratic.
    const listed = sel.only ? sel.only.filter((name) => m.entries.has(name)) : m.entries.keys();
    for (const name of listed) if ((!sel.prefix || name.startsWith(sel.prefix)) && !seen.has(name)) this.checkKey(p, name, m.entries.get(name), undefined);
    return states;
  }

  list(project: string, sel: Selection = {}): SecretMeta[] {
    const p = this.project(project);
    const rows = this.guard(() =>
      this.q<[number], SecretMeta>(
        `SELECT s.name, s.current_version AS version, s.created_at, s.updated_at FROM secrets s
           JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
           WHERE s.project_id = ? AND v.sealed IS NOT NULL ORDER BY s.name`,
      ).all(p.id),
    );
    return rows.filter((r) => (!sel.only || sel.only.includes(r.name)) && (!sel.prefix || r.name.startsWith(sel.prefix)));
  }

  /** Marks a secret deleted (a tombstone version; history stays), or purges it with all history. */
  deleteSecret(project: string, name: string, purge: boolean, kek: Uint8Array): void {
    checkKeyName(name);
    const p = this.project(project);
    this.write(kek, { op: purge ? 'purge' : 'delete', project, keys: [name] }, () => {
      const s = this.q<[number, string], { id: number }>('SELECT id FROM secrets WHERE project_id = ? AND name = ?').get(p.id, name);
      const live = !!s && !!this.keyState(p.id, name)?.sealed;
      if (!s || (!live && !purge)) throw notFound(`secret '${name}' not found in project '${project}'`);
      if (purge) {
        this.q<[number]>('DELETE FROM secrets WHERE id = ?').run(s.id);
        this.noteChange(p.id, name, null);
      } else this.putVersion(Buffer.alloc(0), p, name, null, 'delete');
    });
  }

  history(project: string, name: string): VersionMeta[] {
    checkKeyName(name);
    const p = this.project(project);
    const rows = this.guard(() =>
      this.q<[number, string], Omit<VersionMeta, 'current'> & { current: number }>(
        `SELECT v.version, v.op, v.created_at, (v.version = s.current_version) AS current FROM secret_versions v
           JOIN secrets s ON s.id = v.secret_id WHERE s.project_id = ? AND s.name = ? ORDER BY v.version`,
      ).all(p.id, name),
    );
    if (!rows.length) throw notFound(`secret '${name}' has no history in project '${project}'`);
    return rows.map((r) => ({ ...r, current: !!r.current }));
  }

  /** Makes the value of version `to` current again, as a new version (history is append-only). */
  rollback(kek: Uint8Array, project: string, name: string, to: number): number {
    checkKeyName(name);
    return this.withDek(kek, project, (dek, p) =>
      this.write(kek, { op: 'rollback', project, keys: [name], detail: `to=${to}` }, () => {
        const row = this.q<[number, string, number], { sealed: Buffer | null }>(
          'SELECT v.sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.project_id = ? AND s.name = ? AND v.version = ?',
        ).get(p.id, name, to);
        if (!row) throw notFound(`secret '${name}' has no version ${to} in project '${project}'`);
        if (!row.sealed) throw usageError(`version ${to} of '${name}' is a deletion; pick a version that holds a value (see: tvault history ${name})`);
        const value = this.openSealed(dek, p, name, to, row.sealed);
        try {
          return this.putVersion(dek, p, name, value, 'rollback');
        } finally {
          zero(value);
        }
      }),
    );
  }

  search(project: string, q: { prefix?: string; nameLike?: string }): SecretMeta[] {
    const like = q.nameLike?.toLowerCase();
    return this.list(project, { prefix: q.prefix }).filter((m) => !like || globLike(m.name.toLowerCase(), like));
  }

  // ---- identities and recipients (docs/FORMAT.md, "Recipients") ----------------------------
  // An identity is an age X25519 key pair; this vault's own are kept with their private key
  // sealed under the KEK. A project is shared by wrapping its DEK to a recipient (age1…) in a
  // project_keys row named by that recipient, so a reader finds its row without trying others.
  // The age code (dist/age.cjs) is loaded only here.

  listIdentities(): IdentityRow[] {
    return this.guard(() => this.q<[], IdentityRow>('SELECT name, recipient, created_at FROM identities ORDER BY name').all());
  }

  identity(name: string): IdentityRow {
    const row = this.guard(() => this.q<[string], IdentityRow>('SELECT name, recipient, created_at FROM identities WHERE name = ?').get(name));
    if (!row) throw notFound(`no identity named '${name}' in this vault (see: tvault identity list)`);
    return row;
  }

  /**
   * Stores an identity under `name`: a new one, or `key` (an AGE-SECRET-KEY-1… line, the caller's
   * to zero). The private key is sealed under the KEK; only the recipient is stored in the clear.
   */
  async addIdentity(kek: Uint8Array, name: string, key?: Buffer): Promise<IdentityRow> {
    checkIdentityName(name);
    const age = loadAge();
    const text = key ? key.toString('latin1') : await age.generate();
    const recipient = await ageCall(() => age.recipientOf(text));
    const secret = Buffer.from(text, 'latin1');
    const t = now();
    try {
      this.write(kek, { op: key ? 'identity.import' : 'identity.new', detail: `${name} ${recipient}` }, () => {
        if (this.q<[string], { name: string }>('SELECT name FROM identities WHERE name = ?').get(name))
          throw new TvaultError(`an identity named '${name}' already exists`);
        const same = this.q<[string], { name: string }>('SELECT name FROM identities WHERE recipient = ?').get(recipient);
        if (same) throw new TvaultError(`this key is already in the vault as identity '${same.name}'`);
        this.q<[string, string, Buffer, number]>('INSERT INTO identities (name, recipient, sealed, created_at) VALUES (?, ?, ?, ?)').run(
          name,
          recipient,
          sealBound(kek, identityHeader(this.vaultId(), name, recipient), secret),
          t,
        );
      });
    } finally {
      zero(secret);
    }
    return { name, recipient, created_at: t };
  }

  /** The private key of an identity (AGE-SECRET-KEY-1…), unsealed; the caller zeroes it. */
  identityKey(kek: Uint8Array, name: string): Buffer {
    checkIdentityName(name);
    const id = this.identity(name);
    const row = this.guard(() => this.q<[string], { sealed: Buffer }>('SELECT sealed FROM identities WHERE name = ?').get(name))!;
    return openBound(kek, identityHeader(this.vaultId(), id.name, id.recipient), row.sealed, `identity '${name}'`);
  }

  /** The private key of an identity for export; the caller zeroes it. Audited. */
  exportIdentity(kek: Uint8Array, name: string): Buffer {
    const key = this.identityKey(kek, name);
    const id = this.identity(name);
    try {
      this.audit({ op: 'identity.export', detail: `${name} ${id.recipient}` }, this.actor, kek);
    } catch (err) {
      zero(key);
      throw err;
    }
    return key;
  }

  /** Deletes an identity's key from the vault. Projects shared with it stay shared (doctor lists them). */
  deleteIdentity(kek: Uint8Array, name: string): IdentityRow {
    const id = this.identity(name);
    this.write(kek, { op: 'identity.delete', detail: `${name} ${id.recipient}` }, () => {
      this.q<[string]>('DELETE FROM identities WHERE name = ?').run(name);
    });
    return id;
  }

  /** A recipient given as age1… or as the name of one of this vault's identities. */
  resolveRecipient(given: string): string {
    if (given === PASSPHRASE_RECIPIENT) throw usageError('the passphrase is not a recipient to share or unshare (change it with: tvault key rotate)');
    if (/^age1/i.test(given.trim())) return ageInput(() => loadAge().checkRecipient(given));
    if (!IDENTITY_NAME_RE.test(given)) throw usageError('give a recipient as age1… or the name of an identity of this vault (see: tvault identity list)');
    return this.identity(given).recipient;
  }

  /** A project's recipients as stored (no key needed; `doctor` and reads check them against the manifest). */
  recipients(project: string): RecipientRow[] {
    const p = this.project(project);
    return this.guard(() =>
      this.q<[number], RecipientRow>(
        `SELECT k.recipient, k.created_at, i.name AS identity FROM project_keys k LEFT JOIN identities i ON i.recipient = k.recipient
         WHERE k.project_id = ? ORDER BY k.recipient = 'passphrase' DESC, k.recipient`,
      ).all(p.id),
    );
  }

  /** Whether any project has a recipient beside the passphrase. */
  isShared(): boolean {
    return !!this.guard(() => this.q<[], { n: number }>("SELECT 1 AS n FROM project_keys WHERE recipient <> 'passphrase' LIMIT 1").get());
  }

  /** Every project shared with a recipient that none of this vault's identities matches. */
  unmatchedRecipients(): Array<{ project: string; recipient: string }> {
    return this.guard(() =>
      this.q<[], { project: string; recipient: string }>(
        `SELECT p.name AS project, k.recipient FROM project_keys k JOIN projects p ON p.id = k.project_id
         WHERE k.recipient <> 'passphrase' AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.recipient = k.recipient)
         ORDER BY p.name, k.recipient`,
      ).all(),
    );
  }

  /** Wraps the project's DEK to a recipient (age1… or an identity's name). */
  async share(kek: Uint8Array, project: string, given: string): Promise<string> {
    const recipient = this.resolveRecipient(given);
    const p = this.project(project);
    const m = this.manifest(kek, p);
    if (manifestRecipients(m).includes(recipient)) throw new TvaultError(`project '${project}' is already shared with ${recipient}`);
    const dek = this.dek(kek, p);
    try {
      const payload = sharePayload(p.uid, recipient, dek);
      let wrapped: Buffer;
      try {
        wrapped = await ageCall(() => loadAge().encrypt([recipient], payload));
      } finally {
        zero(payload);
      }
      this.write(kek, { op: 'project.share', project, detail: `recipient=${recipient}` }, () => {
        // Again inside the lock: an unshare may have changed the DEK, or a share added the same one.
        const cur = this.manifest(kek, p);
        const check = this.dek(kek, p);
        const same = bytesEqual(check, dek);
        zero(check);
        if (!same) throw new TvaultError(`the key of project '${project}' changed while sharing; nothing was written, try again`);
        if (manifestRecipients(cur).includes(recipient)) throw new TvaultError(`project '${project}' is already shared with ${recipient}`);
        this.q<[number, string, Buffer, number]>('INSERT INTO project_keys (project_id, recipient, wrapped, created_at) VALUES (?, ?, ?, ?)').run(
          p.id,
          recipient,
          wrapped,
          now(),
        );
        storeManifest(this.db, kek, p.id, { ...cur, recipients: [...manifestRecipients(cur), recipient] });
        this.manifests.delete(p.id);
      });
    } finally {
      zero(dek);
    }
    return recipient;
  }

  /**
   * Takes a recipient off a project: a new DEK, every current and archived value sealed again
   * under it, the new DEK wrapped to the passphrase and to every remaining recipient, the removed
   * row deleted, the manifest stored again: one transaction, so a crash leaves the old state or
   * the new one. The age wraps are made before the transaction (age is async; SQLite's
   * transactions are not), and the transaction checks that the recipients are still those.
   */
  async unshare(kek: Uint8Array, project: string, given: string): Promise<{ recipient: string; versions: number }> {
    const recipient = this.resolveRecipient(given);
    const p = this.project(project);
    const m = this.manifest(kek, p);
    const before = manifestRecipients(m);
    if (recipient === PASSPHRASE_RECIPIENT || !before.includes(recipient)) throw notFound(`${recipient} is not a recipient of project '${project}'`);
    const remaining = before.filter((r) => r !== recipient && r !== PASSPHRASE_RECIPIENT);
    const dek = randomKey();
    try {
      const wraps = new Map<string, Buffer>();
      for (const r of remaining) {
        const payload = sharePayload(p.uid, r, dek);
        try {
          wraps.set(r, await ageCall(() => loadAge().encrypt([r], payload)));
        } finally {
          zero(payload);
        }
      }
      const versions = this.write(
        kek,
        (n: number) => ({ op: 'project.unshare', project, detail: `recipient=${recipient} versions=${n}` }),
        () => {
          const cur = this.manifest(kek, p);
          const current = manifestRecipients(cur);
          if (current.length !== before.length || current.some((r, i) => r !== before[i]))
            throw new TvaultError(`the recipients of project '${project}' changed meanwhile; nothing was written, try again`);
          const old = this.dek(kek, p);
          let n = 0;
          try {
            const rows = this.q<[number], { secret_id: number; version: number; sealed: Buffer; name: string }>(
              `SELECT v.secret_id, v.version, v.sealed, s.name FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
               WHERE s.project_id = ? AND v.sealed IS NOT NULL`,
            ).all(p.id);
            const upd = this.q<[Buffer, number, number]>('UPDATE secret_versions SET sealed = ? WHERE secret_id = ? AND version = ?');
            for (const r of rows) {
              const header = secretHeader(p.uid, r.name, r.version);
              const value = openBound(old, header, r.sealed, `${p.name}/${r.name} (version ${r.version})`);
              try {
                upd.run(sealBound(dek, header, value), r.secret_id, r.version);
              } finally {
                zero(value);
              }
              n++;
            }
          } finally {
            zero(old);
          }
          const put = this.q<[Buffer, number, string]>('UPDATE project_keys SET wrapped = ? WHERE project_id = ? AND recipient = ?');
          put.run(sealBound(kek, dekHeader(p.uid, PASSPHRASE_RECIPIENT), dek), p.id, PASSPHRASE_RECIPIENT);
          for (const [r, w] of wraps) put.run(w, p.id, r);
          this.q<[number, string]>('DELETE FROM project_keys WHERE project_id = ? AND recipient = ?').run(p.id, recipient);
          storeManifest(this.db, kek, p.id, { ...cur, recipients: before.filter((r) => r !== recipient) });
          this.manifests.delete(p.id);
          return n;
        },
      );
      return { recipient, versions };
    } finally {
      zero(dek);
    }
  }

  /**
   * Reads the selected secrets of a project as a recipient, with an age identity (the caller's
   * to zero) and without the KEK: its own row (found by its recipient, no trial decryption) gives
   * the DEK and the project uid and recipient it was wrapped for; the manifest is checked by its
   * share_mac under a key derived from that DEK, its recipients against the rows, and every row
   * read against the manifest, as a reader with the KEK does. Audited with the recipient as actor.
   */
  async readAsRecipient(identity: Buffer, project: string, sel: Selection = {}, op = 'getall'): Promise<{ recipient: string; secrets: Secret[] }> {
    const age = loadAge();
    const text = identity.toString('latin1');
    const recipient = await ageCall(() => age.recipientOf(text));
    const p = this.project(project);
    const row = this.guard(() =>
      this.q<[number, string], { wrapped: Buffer }>('SELECT wrapped FROM project_keys WHERE project_id = ? AND recipient = ?').get(p.id, recipient),
    );
    const mrow = this.guard(() =>
      this.q<[number], { body: Buffer; share_mac: Buffer | null }>('SELECT body, share_mac FROM manifests WHERE project_id = ?').get(p.id),
    );
    if (!row) {
      // Unauthenticated (there is no key to check it with), so only a hint: a manifest that
      // names this recipient means its row was deleted, else it simply is not one.
      let listed = false;
      try {
        listed = !!mrow && manifestRecipients(decodeManifest(mrow.body, `project '${project}'`)).includes(recipient);
      } catch {
        /* a malformed manifest: not a recipient, as far as can be told */
      }
      if (listed) throw tampered(`project '${project}': the key row of ${recipient} was deleted without the key`);
      throw lockedError(
        `identity ${recipient} is not a recipient of project '${project}' (its owner can share it: tvault projects share -p ${project} ${recipient})`,
      );
    }
    const what = `the key of project '${project}' for ${recipient}`;
    const res = await age.decrypt(text, row.wrapped);
    if (!res.ok)
      throw tampered(
        `${what}: ${res.reason === 'no-match' ? 'it is not wrapped to this identity (a row swapped between recipients)' : 'it is not a valid age file (truncated or altered)'}`,
      );
    const dek = openSharePayload(res.payload, p.uid, recipient);
    zero(res.payload);
    if (!dek) throw tampered(`${what}: it was wrapped for another project or recipient (a row swapped)`);
    try {
      if (!mrow) throw tampered(`project '${p.name}': its manifest is missing (deleted without the key)`);
      if (!mrow.share_mac || !macEquals(mrow.share_mac, shareManifestMac(dek, mrow.body))) throw tampered(`project '${p.name}': its manifest was altered`);
      const m = decodeManifest(mrow.body, `project '${p.name}'`);
      if (m.name !== p.name || !m.uid.equals(Buffer.from(p.uid)))
        throw tampered(`project '${p.name}': its row does not carry the name and uid its manifest authenticates`);
      if (!manifestRecipients(m).includes(recipient)) throw tampered(`project '${p.name}': the key row of ${recipient} was added without the key`);
      this.checkRecipientRows(p, m);
      const secrets: Secret[] = [];
      try {
        for (const r of this.statesAgainst(m, p, sel))
          if (r.sealed) secrets.push({ name: r.name, value: this.openSealed(dek, p, r.name, r.current, r.sealed) });
        this.audit({ op, project, keys: secrets.map((x) => x.name) }, { ...directActor(), via: `identity:${recipient}` });
      } catch (err) {
        zero(...secrets.map((x) => x.value));
        throw err;
      }
      return { recipient, secrets };
    } finally {
      zero(dek);
    }
  }

  // ---- key rotation ----------------------------------------------------------------------

  /** Re-wraps every DEK and the verifier under a KEK from the new passphrase, atomically. */
  async rotate(oldKek: Uint8Array, newPassphrase: Uint8Array, kdf: KdfParams = this.kdfParams()): Promise<void> {
    checkNewKdfParams(kdf);
    if (newPassphrase.length === 0) throw usageError('the new passphrase is empty');
    const salt = randomBytes(16);
    const newKek = await deriveKek(newPassphrase, salt, kdf);
    try {
      // The audit row is written under the new KEK: by then the audit key is sealed under it.
      this.write(
        newKek,
        (projects: number) => ({ op: 'key.rotate', detail: `projects=${projects}` }),
        () => {
          if (!this.kekMatches(oldKek)) throw new TvaultError('the vault key changed while rotating; nothing was written', ExitCode.WRONG_PASSPHRASE);
          const rows = this.q<[string], { project_id: number; wrapped: Buffer; uid: Buffer; name: string }>(
            `SELECT pk.project_id, pk.wrapped, p.uid, p.name FROM project_keys pk JOIN projects p ON p.id = pk.project_id WHERE pk.recipient = ?`,
          ).all(PASSPHRASE_RECIPIENT);
          const upd = this.q<[Buffer, number, string]>('UPDATE project_keys SET wrapped = ? WHERE project_id = ? AND recipient = ?');
          for (const r of rows) {
            const header = dekHeader(r.uid, PASSPHRASE_RECIPIENT);
            const dek = openBound(oldKek, header, r.wrapped, `the key of project '${r.name}'`);
            try {
              upd.run(sealBound(newKek, header, dek), r.project_id, PASSPHRASE_RECIPIENT);
            } finally {
              zero(dek);
            }
          }
          // Every manifest is checked under the old KEK and MACed again under the new one.
          for (const p of this.q<[], ProjectRow>('SELECT * FROM projects').all()) {
            storeManifest(this.db, newKek, p.id, this.manifest(oldKek, p));
            const allowed = this.readAllowedNames(oldKek, p);
            if (allowed.length) storeAllowedNames(this.db, newKek, p.uid, allowed);
          }
          const put = this.q<[Buffer | string, string]>('UPDATE meta SET value = ? WHERE key = ?');
          put.run(salt, 'kdf_salt');
          put.run(JSON.stringify(kdf), 'kdf');
          put.run(seal(newKek, verifierPlaintext(this.vaultId())), 'verifier');
          storeHeaderMac(this.db, newKek);
          // The vault's identities: their private keys are re-sealed under the new KEK too.
          const ids = this.q<[], { name: string; recipient: string; sealed: Buffer }>('SELECT name, recipient, sealed FROM identities').all();
          const reseal = this.q<[Buffer, string]>('UPDATE identities SET sealed = ? WHERE name = ?');
          for (const id of ids) {
            const header = identityHeader(this.vaultId(), id.name, id.recipient);
            const key = openBound(oldKek, header, id.sealed, `identity '${id.name}'`);
            try {
              reseal.run(sealBound(newKek, header, key), id.name);
            } finally {
              zero(key);
            }
          }
          // The audit key itself does not change: it is re-sealed under the new KEK.
          this.withAuditSecret(oldKek, (audit) => put.run(sealBound(newKek, auditKeyHeader(this.vaultId()), audit), 'audit_key'));
          return rows.length;
        },
      );
    } finally {
      zero(newKek);
    }
  }
}

/** vault.db's path in dir for a new vault: the directory made private, no vault there yet. */
function newVaultPath(dir: string): string {
  ensurePrivateDir(dir);
  const path = vaultFiles(dir).db;
  if (existsSync(path)) throw new TvaultError(`a vault already exists at ${dir}`);
  return path;
}

/** The KDF parameters recorded for a vault under a random KEK: any valid ones, none derives its key. */
const NO_PASSPHRASE_KDF: KdfParams = { alg: 'argon2id', memoryKiB: 8, passes: 1, parallelism: 1 };

/**
 * Writes a new vault.db under `kek` with one project (current). Built under a temporary name
 * and renamed, so a killed init leaves no half-made vault.
 */
function createVaultFile(path: string, kek: Uint8Array, salt: Buffer, kdf: KdfParams, project: string): void {
  const vaultId = randomBytes(16);
  const created = createTempFile(dirname(path), basename(path));
  closeSync(created.fd);
  const tmp = created.path;
  try {
    const db = openDb(tmp, { create: true });
    writeTx(db, () => {
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      put.run('vault_id', vaultId);
      put.run('kdf', JSON.stringify(kdf));
      put.run('kdf_salt', salt);
      put.run('verifier', seal(kek, verifierPlaintext(vaultId)));
      put.run('current_project', project);
      const audit = newAuditSecret(1);
      put.run('audit_key', sealBound(kek, auditKeyHeader(vaultId), audit));
      storeHeaderMac(db, kek);
      insertProject(db, kek, project);
      appendAudit(db, directActor(), { op: 'init', project }, audit.subarray(0, 32));
      zero(audit);
    });
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    renameSync(tmp, path);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(tmp + suffix, { force: true });
  }
}

const IDENTITY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkIdentityName(name: string): string {
  if (!IDENTITY_NAME_RE.test(name) || name === PASSPHRASE_RECIPIENT)
    throw usageError(`invalid identity name ${JSON.stringify(name.slice(0, 80))}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return name;
}

/** Runs an age.ts check; its refusal (never containing the key) becomes a usage error. */
function ageInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    throw usageError(String((err as Error)?.message ?? err));
  }
}

async function ageCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    throw usageError(String((err as Error)?.message ?? err));
  }
}

/** A fresh audit secret: a random key, then the first audit row id it authenticates. */
function newAuditSecret(firstRow: number): Buffer {
  const key = randomKey();
  const secret = Buffer.concat([key, u32(firstRow)]);
  zero(key);
  return secret;
}

/**
 * Stores a project's manifest, MACed under the KEK's manifest key; a shared project's also gets
 * share_mac, under a key derived from its DEK (the one its passphrase row wraps now), which its
 * recipients check (see shareManifestMac).
 */
function storeManifest(db: Db, kek: Uint8Array, projectId: number, m: Manifest): void {
  const body = encodeManifest(m);
  let shareMac: Buffer | null = null;
  if (isShared(m)) {
    const row = db
      .prepare<[number, string], { wrapped: Buffer }>('SELECT wrapped FROM project_keys WHERE project_id = ? AND recipient = ?')
      .get(projectId, PASSPHRASE_RECIPIENT);
    if (!row) throw tampered(`project '${m.name}': its passphrase key row is missing`);
    const dek = openBound(kek, dekHeader(m.uid, PASSPHRASE_RECIPIENT), row.wrapped, `the key of project '${m.name}'`);
    try {
      shareMac = shareManifestMac(dek, body);
    } finally {
      zero(dek);
    }
  }
  db.prepare<[number, Buffer, Buffer, Buffer | null]>('INSERT OR REPLACE INTO manifests (project_id, body, mac, share_mac) VALUES (?, ?, ?, ?)').run(
    projectId,
    body,
    macUnder(kek, 'manifest', body),
    shareMac,
  );
}

/** Stores a project's allowed names: body || HMAC(manifest key, body). */
function storeAllowedNames(db: Db, kek: Uint8Array, uid: Uint8Array, names: Iterable<string>): void {
  const body = encodeAllowedNames(uid, names);
  db.prepare<[string, Buffer]>('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
    allowedNamesKey(uid),
    Buffer.concat([body, macUnder(kek, 'manifest', body)]),
  );
}

/** MACs the header (vault id, KDF parameters, salt) as stored, under the KEK's header key. */
function storeHeaderMac(db: Db, kek: Uint8Array): void {
  const meta = db.prepare<[string], { value: Buffer | string }>('SELECT value FROM meta WHERE key = ?');
  const bytes = (key: string) => {
    const v = meta.get(key)?.value;
    if (v === undefined) throw integrityError(`the vault is damaged: meta entry '${key}' is missing`);
    return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
  };
  const mac = macUnder(kek, 'header', headerBytes(bytes('vault_id'), bytes('kdf'), bytes('kdf_salt')));
  db.prepare<[Buffer]>("INSERT OR REPLACE INTO meta (key, value) VALUES ('header_mac', ?)").run(mac);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a selection covers a key name (the same rule as the SQL in keyStates). */
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
  storeManifest(db, kek, id, { uid, name, entries: new Map() });
}

/** `*` matches any run, `?` one character; anything else is literal. A substring if no wildcard. */
function globLike(name: string, pattern: string): boolean {
  if (!/[*?]/.test(pattern)) return name.includes(pattern);
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(name);
}
