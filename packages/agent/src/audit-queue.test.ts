// The audit queue's group commit (audit-queue.ts): which rows share a transaction, and that
// none is lost or answered before it is written. The sink records each commit (the SQLite
// side is Vault.tryAuditBatch, tested in test/core-vault.test.mjs and through the agent in
// test/agent-protocol.test.mjs); the journal is a real file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Actor } from '@tvault/core';
import { type AuditEntry, AuditJournal, AuditQueue } from './audit-queue';

const actor: Actor = { via: 'agent', uid: 1000, pid: 1 };
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function queue(t: { after(fn: () => void): void }, opts: { moreComing?: () => boolean; locked?: () => boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-audit-queue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const commits: string[][] = [];
  const journal = new AuditJournal(join(dir, 'audit-journal.jsonl'));
  const sink = {
    tryWrite(rows: AuditEntry[]) {
      if (opts.locked?.()) return false;
      commits.push(rows.map((r) => r.ev.keys![0]));
      return true;
    },
  };
  const q = new AuditQueue(sink, journal, opts.moreComing);
  const record = (key: string) => q.record({ op: 'get', project: 'p', keys: [key] }, actor).then(() => key);
  return { q, commits, journal, record };
}

test('audit queue: rows of one turn share one commit, and each read resolves only after it', async (t) => {
  const { commits, record } = queue(t);
  const done: string[] = [];
  const all = ['A', 'B', 'C'].map((k) =>
    record(k).then((x) => {
      assert.ok(commits.flat().includes(x), 'not answered before the commit');
      done.push(x);
    }),
  );
  assert.deepEqual(commits, [], 'nothing is written in the turn that queued the rows');
  await Promise.all(all);
  assert.deepEqual(done, ['A', 'B', 'C']);
  assert.deepEqual(commits, [['A', 'B', 'C']]);
});

test('audit queue: with no request on its way a row is committed in the next turn, without waiting for more', async (t) => {
  const { commits, record } = queue(t);
  const a = record('A');
  await turn();
  const b = record('B'); // the next turn: A is in already
  await Promise.all([a, b]);
  assert.deepEqual(commits, [['A'], ['B']]);
});

test('audit queue: while requests are coming it waits more turns, at most four, and loses no row', async (t) => {
  let coming = true;
  const { commits, record } = queue(t, { moreComing: () => coming });
  const rows: Array<Promise<string>> = [];
  for (let i = 0; i < 8; i++) {
    rows.push(record(`K${i}`));
    await turn();
  }
  coming = false;
  rows.push(record('LAST'));
  assert.deepEqual((await Promise.all(rows)).length, 9);
  assert.ok(commits.length >= 2, 'the wait is bounded: a steady stream is still committed in batches');
  assert.ok(commits[0].length >= 3 && commits[0].length <= 5, `first commit: ${commits[0]}`);
  assert.deepEqual(commits.flat(), [...Array.from({ length: 8 }, (_, i) => `K${i}`), 'LAST'], 'every row once, in order');
});

test('audit queue: while the vault is locked elsewhere the batch is journaled, then committed first once free', async (t) => {
  let locked = true;
  const { commits, journal, record } = queue(t, { locked: () => locked });
  await Promise.all([record('A'), record('B')]);
  assert.deepEqual(commits, []);
  assert.deepEqual(
    journal.load().map((e) => e.ev.keys),
    [['A'], ['B']],
  );
  locked = false;
  await record('C');
  assert.deepEqual(commits, [['A', 'B', 'C']]);
  assert.deepEqual(journal.load(), [], 'the journal is cleared once its rows are in');
});
