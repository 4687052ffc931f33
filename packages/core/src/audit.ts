// The audit trail: one row per secret read, write and key event, with names but never values.
// Rows are hash-chained: hash = SHA-256(prev_hash || canonical row), so an edited, deleted or
// reordered row breaks the chain at that point (see docs/SECURITY.md for what this can't catch).
import { createHash } from 'node:crypto';
import type { Db } from './store';

export interface Actor {
  via: 'direct' | 'agent';
  uid?: number;
  pid?: number;
  tokenId?: string;
}

export interface AuditEvent {
  op: string;
  ok?: boolean;
  project?: string | null;
  keys?: string[] | null;
  detail?: string | null;
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
}

export const GENESIS = Buffer.alloc(32);

export function directActor(): Actor {
  return { via: 'direct', uid: process.getuid?.(), pid: process.pid };
}

export function rowHash(prev: Buffer, r: Omit<AuditRow, 'prev_hash' | 'hash'>): Buffer {
  const canonical = JSON.stringify([r.id, r.ts, r.op, r.ok, r.project, r.keys, r.via, r.uid, r.pid, r.token_id, r.detail]);
  return createHash('sha256').update(prev).update(canonical).digest();
}

/** Appends one row; call inside a write transaction so the chain cannot fork. */
export function appendAudit(db: Db, actor: Actor, ev: AuditEvent): void {
  const last = db.prepare('SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1').get() as { id: number; hash: Buffer } | undefined;
  const row = {
    id: (last?.id ?? 0) + 1,
    ts: Date.now(),
    op: ev.op,
    ok: ev.ok === false ? 0 : 1,
    project: ev.project ?? null,
    keys: ev.keys && ev.keys.length ? JSON.stringify(ev.keys) : null,
    via: actor.via,
    uid: actor.uid ?? null,
    pid: actor.pid ?? null,
    token_id: actor.tokenId ?? null,
    detail: ev.detail ?? null,
  };
  const prev = last?.hash ?? GENESIS;
  db.prepare(
    `INSERT INTO audit (id, ts, op, ok, project, keys, via, uid, pid, token_id, detail, prev_hash, hash)
     VALUES (@id, @ts, @op, @ok, @project, @keys, @via, @uid, @pid, @token_id, @detail, @prev_hash, @hash)`,
  ).run({ ...row, prev_hash: prev, hash: rowHash(prev, row) });
}

/** Returns null when the chain is intact, else the id of the first row that does not fit. */
export function verifyAuditChain(db: Db): { ok: true; rows: number } | { ok: false; id: number; reason: string } {
  let prev = GENESIS;
  let expectId = 1;
  let rows = 0;
  for (const r of db.prepare('SELECT * FROM audit ORDER BY id').iterate() as IterableIterator<AuditRow>) {
    if (r.id !== expectId) return { ok: false, id: r.id, reason: `row ${expectId} is missing` };
    if (!Buffer.from(r.prev_hash).equals(prev)) return { ok: false, id: r.id, reason: 'its link to the previous row is broken (a row was removed or reordered)' };
    if (!rowHash(prev, r).equals(Buffer.from(r.hash))) return { ok: false, id: r.id, reason: 'its content was changed' };
    prev = Buffer.from(r.hash);
    expectId++;
    rows++;
  }
  return { ok: true, rows };
}
