// The audit rows of the agent's reads, recorded without ever blocking the event loop.
// better-sqlite3 is synchronous: a BEGIN IMMEDIATE that waits for a write lock held by another
// process (a `tvault set`, an open `sqlite3` shell) would stall every client for up to the
// 30 s busy timeout. So rows are queued, and the queue is committed in one transaction that
// does not wait for the lock (Vault.tryAuditBatch). Rows that arrive within a few turns of the
// loop share that transaction: one commit for a burst of reads (group commit, flushSoon).
//
// When another process holds the lock, the rows go to the agent's audit journal instead
// (audit-journal.jsonl in the vault directory, 0600): appended with write(2), which survives
// the agent's crash as a SQLite commit in WAL mode with synchronous=NORMAL does. Then the read
// is answered: a read is never answered before its row is in vault.db or in the journal. The
// journal is moved into vault.db (its rows first, with their own times) as soon as the lock is
// free, retried with a short backoff; an agent that dies first leaves it to the next agent,
// which commits it before its start row.
import { closeSync, constants, fstatSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { type Actor, type AuditEvent, TvaultError } from '@tvault/core';

export interface AuditSink {
  /** Commits all rows at once; false when the vault's write lock is held elsewhere. Throws on other errors. */
  tryWrite(rows: AuditEntry[]): boolean;
}

export interface AuditEntry {
  ev: AuditEvent;
  actor: Actor;
}

const BACKOFF_MS = [1, 2, 5, 10, 20, 50];
/** The most turns of the event loop a row waits for others to share its commit. */
const MAX_TURNS = 4;

/** The rows recorded while the vault was locked by another process, in order. */
export class AuditJournal {
  constructor(readonly path: string) {}

  /** The rows left by an agent that could not commit them (or none); a damaged line is skipped. */
  load(): AuditEntry[] {
    let text: string;
    try {
      const fd = openSync(this.path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        if (fstatSync(fd).uid !== process.getuid!()) return [];
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return [];
    }
    const out: AuditEntry[] = [];
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as AuditEntry;
        if (e && typeof e.ev?.op === 'string' && typeof e.actor?.via === 'string') out.push(e);
      } catch {
        /* a line cut short by a crash */
      }
    }
    return out;
  }

  append(rows: AuditEntry[]): void {
    const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      if (fstatSync(fd).uid !== process.getuid!()) throw new TvaultError(`${this.path} is not yours; refusing to journal audit rows into it`);
      const buf = Buffer.from(rows.map((r) => JSON.stringify(r) + '\n').join(''));
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
    } finally {
      closeSync(fd);
    }
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }
}

interface Pending extends AuditEntry {
  resolve(): void;
  reject(err: Error): void;
}

export class AuditQueue {
  private pending: Pending[] = [];
  /** Rows in the journal, not yet in vault.db; they go first. */
  private journaled: AuditEntry[];
  private scheduled = false;
  private retries = 0;
  private turns = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly sink: AuditSink,
    private readonly journal: AuditJournal,
    /** Whether more rows are likely within a turn or two (see flushSoon). */
    private readonly moreComing: () => boolean = () => false,
  ) {
    this.journaled = journal.load();
    if (this.journaled.length) this.schedule(0);
  }

  /** Rows recorded but not yet in vault.db (in the journal). */
  get backlog(): number {
    return this.journaled.length;
  }

  /** Resolves once the row is committed or journaled; rejects if it can be neither. */
  record(ev: AuditEvent, actor: Actor): Promise<void> {
    return new Promise((resolve, reject) => {
      // Object.assign, not { ...ev, ts }: V8 promoted what such a clone referenced to the old
      // generation (~0.2-0.5 MB a scavenge under 8 clients, each scavenge ~1 ms longer for it).
      const row: AuditEvent = Object.assign({}, ev, { ts: ev.ts ?? Date.now() });
      this.pending.push({ ev: row, actor, resolve, reject });
      // Even during a backoff: a new row is journaled at once if the lock is still held.
      if (!this.scheduled) {
        this.scheduled = true;
        this.turns = 0;
        setImmediate(() => this.flushSoon());
      }
    });
  }

  /**
   * Group commit. A commit costs the agent about as much as two reads (scripts/bench/
   * audit-batch.mjs), and under 8 clients, a connection each per request, a flush in the turn
   * of the loop that queued the row committed one row per transaction (1.006 rows a commit,
   * measured). So the flush waits, a turn at a time (a poll for I/O that is already there,
   * which never blocks while an immediate is pending) and up to MAX_TURNS, while `moreComing`
   * says that requests are on their way (connections accepted whose request is not yet read):
   * their rows then share this transaction. With none on its way the rows are committed at
   * once, in the turn after they were queued: a lone read waits for nothing, and a wait
   * that cannot fill the batch only adds to every read's latency. Never a timer.
   */
  private flushSoon(): void {
    if (this.turns++ < MAX_TURNS && this.moreComing()) setImmediate(() => this.flushSoon());
    else this.flush();
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), ms);
  }

  /** Commits the journal and the queue in one transaction; on a held lock, journals the queue. */
  flush(): void {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length && !this.journaled.length) return;
    const rows: AuditEntry[] = [...this.journaled, ...batch.map(({ ev, actor }) => ({ ev, actor }))];
    let written: boolean;
    try {
      written = this.sink.tryWrite(rows);
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      if (this.journaled.length) this.schedule(BACKOFF_MS.at(-1)!);
      return;
    }
    if (written) {
      if (this.journaled.length) this.journal.clear();
      this.journaled = [];
      this.retries = 0;
      for (const p of batch) p.resolve();
      return;
    }
    if (batch.length) {
      try {
        this.journal.append(batch.map(({ ev, actor }) => ({ ev, actor })));
        this.journaled.push(...batch.map(({ ev, actor }) => ({ ev, actor })));
        for (const p of batch) p.resolve();
      } catch (err) {
        const e = new TvaultError(
          `the vault is locked by another process and the audit journal cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the read was not served`,
        );
        for (const p of batch) p.reject(e);
      }
    }
    if (this.journaled.length) this.schedule(BACKOFF_MS[Math.min(this.retries++, BACKOFF_MS.length - 1)]);
  }

  /** Rejects everything still queued (the agent is stopping); journaled rows stay for the next agent. */
  abandon(err: Error): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) p.reject(err);
  }
}
