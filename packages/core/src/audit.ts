// The audit trail: one row per secret read, write and key event, with names but never values.
// Rows are hash-chained: hash = SHA-256(prev_hash || canonical row), so an edited, deleted or
// reordered row breaks the chain at that point. Rows written while the vault is unlocked also
// carry mac = HMAC-SHA-256(audit key, hash), where the audit key is a random key sealed under
// the KEK: someone without the passphrase cannot recompute the chain past such a row.
// See docs/SECURITY.md for what this can't catch.
import { createHash, timingSafeEqual } from 'node:crypto';
import { hmacSha256, oneShotHash } from './crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './store';

export interface Actor {
  /** `identity:age1…`: a read by an age identity, without the KEK (its row carries no MAC). */
  via: 'direct' | 'agent' | `identity:${string}`;
  uid?: number;
  pid?: number;
  tokenId?: string;
}

export interface AuditEvent {
  op: string;
  ok?: boolean;
  project?: string | null;
  keys?: readonly string[] | null;
  detail?: string | null;
  /** When it happened, if not now (a row the agent journaled while the vault was locked). */
  ts?: number;
}

export interface AuditRow {
  id: number;
  ts: number;
  op: string;
  ok: number;
  project: string | null;
  keys: string | null;
  via: string;
  uid: number | null;
  pid: number | null;
  token_id: string | null;
  detail: string | null;
  prev_hash: Buffer;
  hash: Buffer;
  mac: Buffer | null;
}

/**
 * Operations that are legitimately written without the vault key: a failed unlock, and the
 * commands that do not unlock (project switch, backup, restore, token file edits, the agent's
 * own lifecycle, the end of a handoff, written by its supervisor, which never has the key).
 * Every other row must carry a valid MAC.
 */
const UNKEYED_OPS = new Set(['project.use', 'backup', 'restore', 'token.create', 'token.revoke', 'token.reload', 'agent.start', 'agent.stop', 'handoff.end']);

/** What a reader by identity (who has no KEK, so no audit key) may record. */
const IDENTITY_READ_OPS = new Set(['get', 'getall', 'export']);

function mayBeUnkeyed(r: Pick<AuditRow, 'op' | 'ok' | 'via'>): boolean {
  return UNKEYED_OPS.has(r.op) || (r.op === 'unlock' && !r.ok) || (r.via.startsWith('identity:') && IDENTITY_READ_OPS.has(r.op));
}

export const GENESIS = Buffer.alloc(32);

export function directActor(): Actor {
  return { via: 'direct', uid: process.getuid?.(), pid: process.pid };
}

type HashedFields = Omit<AuditRow, 'prev_hash' | 'hash' | 'mac'>;

/** A row's fields in the order of its canonical JSON (docs/FORMAT.md); `keys` at KEYS_AT. */
function canonicalFields(r: HashedFields): unknown[] {
  return [r.id, r.ts, r.op, r.ok, r.project, r.keys, r.via, r.uid, r.pid, r.token_id, r.detail];
}
const KEYS_AT = 5;

export function rowHash(prev: Buffer, r: HashedFields): Buffer {
  const canonical = JSON.stringify(canonicalFields(r));
  // The same digest, sha256(prev || canonical): one-shot where Node has it (20.12+, 21.7+),
  // which spares a Hash object per row (~1.5 µs of the agent's audit commit).
  if (oneShotHash) return oneShotHash('sha256', Buffer.concat([prev, Buffer.from(canonical, 'utf8')]), 'buffer');
  return createHash('sha256').update(prev).update(canonical).digest();
}

/**
 * rowHash for a row whose keys column is `quotedKeys`: the UTF-8 of JSON.stringify(r.keys),
 * made once for a frozen names array (see keysJsonOf). The same bytes as rowHash hashes: the
 * JSON of an array is its elements' JSON joined by commas, so the canonical row is cut around
 * its keys. A getall of 1,000 names spent ~70 µs of its commit escaping and copying them.
 */
function rowHashQuoted(prev: Buffer, r: HashedFields, quotedKeys: Buffer): Buffer {
  if (!oneShotHash) return rowHash(prev, r);
  const fields = canonicalFields(r);
  const head = JSON.stringify(fields.slice(0, KEYS_AT));
  const tail = JSON.stringify(fields.slice(KEYS_AT + 1));
  const parts = [prev, Buffer.from(`${head.slice(0, -1)},`, 'utf8'), quotedKeys, Buffer.from(`,${tail.slice(1)}`, 'utf8')];
  return oneShotHash('sha256', Buffer.concat(parts), 'buffer');
}

export function rowMac(key: Uint8Array, hash: Buffer): Buffer {
  return hmacSha256(key, hash);
}

type Head = Pick<AuditRow, 'id' | 'hash'>;
type InsertParams = [
  number,
  number,
  string,
  number,
  string | null,
  string | null,
  string,
  number | null,
  number | null,
  string | null,
  string | null,
  Buffer,
  Buffer,
  Buffer | null,
];

// Prepared once per connection: the agent appends a row for every read it serves.
const statements = new WeakMap<Db, { last: Statement<[], Head>; insert: Statement<InsertParams> }>();

function stmts(db: Db) {
  let s = statements.get(db);
  if (!s) {
    s = {
      last: db.prepare<[], Head>('SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1'),
      // Positional parameters: no object to build and no names to look up per row.
      insert: db.prepare<InsertParams>(
        'INSERT INTO audit (id, ts, op, ok, project, keys, via, uid, pid, token_id, detail, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
    };
    statements.set(db, s);
  }
  return s;
}

/**
 * Appends one row; call inside a write transaction so the chain cannot fork. With `macKey`
 * (the unwrapped audit key) the row is authenticated.
 */
export function appendAudit(db: Db, actor: Actor, ev: AuditEvent, macKey?: Uint8Array | null): void {
  appendAuditRows(db, [{ actor, ev }], macKey);
}

/**
 * The JSON of a row's keys, and the UTF-8 of that JSON as a JSON string (what the row's hash
 * covers), remembered for a frozen array: the agent's getall of an unchanged cached project
 * passes the same frozen names each time (SealedSnapshot.names), and 1,000 names took ~50 µs
 * to encode per row, and ~70 µs more to quote into the row's hash.
 */
const keysJsonOf = new WeakMap<readonly string[], { json: string; quoted: Buffer }>();

function frozenKeysJson(keys: readonly string[]): { json: string; quoted: Buffer } {
  let k = keysJsonOf.get(keys);
  if (k === undefined) {
    const json = JSON.stringify(keys);
    keysJsonOf.set(keys, (k = { json, quoted: Buffer.from(JSON.stringify(json), 'utf8') }));
  }
  return k;
}

/**
 * Appends rows in order, in the caller's write transaction: the chain's head is read once, and
 * each row links to the one before it.
 */
export function appendAuditRows(db: Db, rows: ReadonlyArray<{ actor: Actor; ev: AuditEvent }>, macKey?: Uint8Array | null): void {
  const { last: lastStmt, insert } = stmts(db);
  const last = lastStmt.get();
  let id = last?.id ?? 0;
  let prev: Buffer = last ? Buffer.from(last.hash) : GENESIS;
  for (const { actor, ev } of rows) {
    const named = ev.keys && ev.keys.length ? ev.keys : null;
    const frozen = named && Object.isFrozen(named) ? frozenKeysJson(named) : null;
    const row = {
      id: ++id,
      ts: ev.ts ?? Date.now(),
      op: ev.op,
      ok: ev.ok === false ? 0 : 1,
      project: ev.project ?? null,
      keys: frozen ? frozen.json : named && JSON.stringify(named),
      via: actor.via,
      uid: actor.uid ?? null,
      pid: actor.pid ?? null,
      token_id: actor.tokenId ?? null,
      detail: ev.detail ?? null,
    };
    const hash = frozen ? rowHashQuoted(prev, row, frozen.quoted) : rowHash(prev, row);
    insert.run(
      row.id,
      row.ts,
      row.op,
      row.ok,
      row.project,
      row.keys,
      row.via,
      row.uid,
      row.pid,
      row.token_id,
      row.detail,
      prev,
      hash,
      macKey ? rowMac(macKey, hash) : null,
    );
    prev = hash;
  }
}

/** The newest row as `id:hash-prefix`, the same form `audit verify` prints: an anchor to keep elsewhere. */
export function auditHead(db: Db): string {
  const last = stmts(db).last.get();
  return last ? `${last.id}:${Buffer.from(last.hash).toString('hex').slice(0, 16)}` : '0:';
}

export type ChainReport = { ok: true; rows: number; unkeyed: number; head: string } | { ok: false; id: number; reason: string };

/**
 * Walks the chain from row 1 and reports the first row that does not fit. Without `macKey`
 * only the hashes are checked (anyone could have recomputed them); with it, every row from
 * `keyedFrom` on must also carry a valid MAC unless its operation is written without the key.
 */
export function verifyAuditChain(db: Db, macKey?: Uint8Array, keyedFrom = 1): ChainReport {
  let prev: Buffer = GENESIS;
  let expectId = 1;
  let unkeyed = 0;
  for (const r of db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY id').iterate()) {
    if (r.id !== expectId) return { ok: false, id: r.id, reason: `row ${expectId} is missing (deleted, or rows were renumbered)` };
    if (!Buffer.from(r.prev_hash).equals(prev))
      return { ok: false, id: r.id, reason: 'its link to the previous row is broken (a row was removed or reordered)' };
    const hash = rowHash(prev, r);
    if (!hash.equals(Buffer.from(r.hash))) return { ok: false, id: r.id, reason: 'its content was changed' };
    if (macKey) {
      if (r.mac) {
        const mac = Buffer.from(r.mac);
        if (mac.length !== 32 || !timingSafeEqual(mac, rowMac(macKey, hash)))
          return { ok: false, id: r.id, reason: 'its authentication code does not match (the row, or the chain before it, was rewritten)' };
      } else if (r.id >= keyedFrom && !mayBeUnkeyed(r)) {
        return { ok: false, id: r.id, reason: `a '${r.op}' row must be authenticated and is not (the chain was rewritten without the key)` };
      }
    }
    if (!r.mac) unkeyed++;
    prev = hash;
    expectId++;
  }
  return { ok: true, rows: expectId - 1, unkeyed, head: `${expectId - 1}:${prev.toString('hex').slice(0, 16)}` };
}

/** Which rows `tvault audit` shows: after a row id, and optionally by time, project and operation. */
export interface AuditFilter {
  afterId: number;
  since?: number;
  project?: string;
  /** An operation, or its family: 'agent' matches agent.start and agent.stop. */
  op?: string;
}

export function auditRows(db: Db, f: AuditFilter): AuditRow[] {
  const where = ['id > ?'];
  const params: Array<string | number> = [f.afterId];
  const and = (clause: string, ...values: Array<string | number>) => {
    where.push(clause);
    params.push(...values);
  };
  if (f.since !== undefined) and('ts >= ?', f.since);
  if (f.project) and('project = ?', f.project);
  if (f.op) and('(op = ? OR op LIKE ?)', f.op, `${f.op}.%`);
  return db.prepare<Array<string | number>, AuditRow>(`SELECT * FROM audit WHERE ${where.join(' AND ')} ORDER BY id`).all(...params);
}
