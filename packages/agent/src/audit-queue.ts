// The audit rows of the agent's reads, committed without ever blocking the event loop.
// better-sqlite3 is synchronous: a BEGIN IMMEDIATE that waits for a write lock held by another
// process (a `tvault set`, an open `sqlite3` shell) would stall every client for up to the
// 30 s busy timeout. So rows are queued, and the queue is committed in one transaction that
// does not wait for the lock (Vault.tryAuditBatch): if the lock is taken, it is tried again
// after a short backoff, while the loop keeps serving `status` and the reads whose rows can
// wait. A read is answered only once its row is committed; a row that still cannot be written
// after MAX_WAIT_MS fails its read. Rows that arrive in the same turn of the loop share one
// transaction, which is what makes reads under load cheap (one commit for a burst).
import type { Actor, AuditEvent } from '@tvault/core';
import { ProtocolError } from './protocol';

export interface AuditSink {
  /** Commits all rows at once; false when the vault's write lock is held elsewhere. Throws on other errors. */
  tryWrite(rows: Array<{ ev: AuditEvent; actor: Actor }>): boolean;
}

/** The old busy timeout: how long a read may wait for its row before it fails. */
export const MAX_WAIT_MS = 30_000;
const BACKOFF_MS = [1, 2, 5, 10, 20, 50];

interface Pending {
  ev: AuditEvent;
  actor: Actor;
  since: number;
  resolve(): void;
  reject(err: Error): void;
}

export class AuditQueue {
  private pending: Pending[] = [];
  private scheduled = false;
  private retries = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly sink: AuditSink,
    private readonly maxWaitMs = MAX_WAIT_MS,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  /** Resolves once the row is committed; rejects if it cannot be. */
  record(ev: AuditEvent, actor: Actor): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ ev, actor, since: Date.now(), resolve, reject });
      if (!this.scheduled && !this.timer) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Tries to commit everything queued; on a held lock, again after a backoff. */
  flush(): void {
    this.scheduled = false;
    this.timer = undefined;
    if (!this.pending.length) return;
    const batch = this.pending;
    let written: boolean;
    try {
      written = this.sink.tryWrite(batch.map(({ ev, actor }) => ({ ev, actor })));
    } catch (err) {
      this.pending = [];
      this.retries = 0;
      for (const p of batch) p.reject(err as Error);
      return;
    }
    if (written) {
      this.pending = [];
      this.retries = 0;
      for (const p of batch) p.resolve();
      return;
    }
    const now = Date.now();
    const expired = batch.filter((p) => now - p.since >= this.maxWaitMs);
    if (expired.length) {
      this.pending = batch.filter((p) => now - p.since < this.maxWaitMs);
      const err = new ProtocolError('busy', `the vault stayed locked by another process for ${Math.round(this.maxWaitMs / 1000)} s; the read was not served (its audit row could not be written)`);
      for (const p of expired) p.reject(err);
    }
    if (!this.pending.length) return;
    this.timer = setTimeout(() => this.flush(), BACKOFF_MS[Math.min(this.retries++, BACKOFF_MS.length - 1)]);
  }

  /** Rejects everything still queued (the agent is stopping). */
  abandon(err: Error): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) p.reject(err);
  }
}
