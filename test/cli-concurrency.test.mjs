// Several writers at once never see "database is busy", and a writer killed with SIGKILL at any
// moment leaves a vault that opens, passes doctor, and holds every value it reported committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault } from './helpers.mjs';

const TV = `"${process.execPath}" "${BIN}"`;

/** Runs a bash script in its own process group; resolves {code, signal, stdout, stderr}. */
function bash(script, env, { killAfterMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { env: baseEnv(env), detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = killAfterMs === undefined ? null : setTimeout(() => process.kill(-child.pid, 'SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('4 processes × 20 sets at the same moment all succeed, with no "busy"', async (t) => {
  const v = makeVault(t);
  const writer = (p) => `for i in $(seq 1 20); do printf "p${p}-v$i" | ${TV} set "P${p}_K$i" --stdin || exit 1; done`;
  const results = await Promise.all([1, 2, 3, 4].map((p) => bash(writer(p), v.env)));
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /busy|locked|error/i);
  }
  const expected = {};
  for (const p of [1, 2, 3, 4]) for (let i = 1; i <= 20; i++) expected[`P${p}_K${i}`] = `p${p}-v${i}`;
  const got = JSON.parse(v.run(['export', '--format', 'json']).stdout);
  const wrong = Object.keys(expected)
    .filter((k) => got[k] !== expected[k])
    .map((k) => `${k}=${got[k]}`);
  const extra = Object.keys(got).filter((k) => !(k in expected));
  assert.deepEqual({ wrong, extra }, { wrong: [], extra: [] });
  assert.equal(v.run(['doctor']).code, 0, 'the audit chain did not fork');
});

test('concurrent writers of the same key get distinct versions; none is lost', async (t) => {
  const v = makeVault(t);
  const writer = (p) => `for i in $(seq 1 10); do printf "w${p}-$i" | ${TV} set SAME --stdin 2>/dev/null || exit 1; done`;
  const results = await Promise.all([1, 2, 3].map((p) => bash(writer(p), v.env)));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const versions = JSON.parse(v.run(['history', 'SAME', '--json']).stdout).versions.map((x) => x.version);
  assert.deepEqual(
    versions,
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  // Each version decrypts to one of the written values (rollback reads it back).
  assert.equal(v.run(['rollback', 'SAME', '--to', '17']).code, 0);
  assert.match(v.run(['get', 'SAME']).stdout, /^w[123]-([1-9]|10)\n$/);
});

/** Checks a vault after a kill: it opens, doctor passes, and the WAL files stayed private. */
function assertHealthy(v) {
  const doc = v.run(['doctor']);
  assert.equal(doc.code, 0, doc.stdout + doc.stderr);
  const db = join(v.vault, 'vault.db');
  for (const f of [db, db + '-wal', db + '-shm']) if (existsSync(f)) assert.equal(statSync(f).mode & 0o077, 0, `${f} is readable by others`);
}

test('a loop of sets killed with SIGKILL keeps every value it reported committed', async (t) => {
  const v = makeVault(t);
  const expected = {}; // every value reported committed so far, over all rounds
  for (const [round, killAfterMs] of [350, 800, 1300].entries()) {
    // Each set that exits 0 prints its number: that value is committed.
    const script = `for i in $(seq 1 200); do printf "r${round}-$i" | ${TV} set "R${round}_K$i" --stdin 2>/dev/null && echo $i; done`;
    const r = await bash(script, v.env, { killAfterMs: killAfterMs + Math.floor(Math.random() * 200) });
    assert.equal(r.signal, 'SIGKILL');
    const committed = r.stdout.split('\n').filter(Boolean).map(Number);
    for (const i of committed) expected[`R${round}_K${i}`] = `r${round}-${i}`;
    const values = JSON.parse(v.run(['export', '--format', 'json']).stdout);
    for (const [k, val] of Object.entries(expected)) assert.equal(values[k], val, `${k} was reported committed`);
    // The set in flight when the kill came is either whole or absent; nothing else appears.
    const extra = Object.keys(values).filter((k) => !(k in expected));
    assert.ok(extra.length <= 1, `unexpected keys: ${extra}`);
    for (const k of extra) {
      assert.equal(values[k], `r${round}-${k.split('_K')[1]}`);
      expected[k] = values[k];
    }
    assertHealthy(v);
  }
});

test('an import killed with SIGKILL is all or nothing', async (t) => {
  const v = makeVault(t);
  const file = join(v.dir, 'big.env');
  const N = 20000;
  assert.equal(v.run(['set', 'BEFORE', '--stdin'], { input: 'kept' }).code, 0);
  // Time one whole import (on another vault), then kill at fractions of that time, so that
  // most kills land while the import's transaction is being written.
  writeFileSync(file, Array.from({ length: N }, (_, i) => `BIG_${i}=timing-${i}`).join('\n'));
  const scratch = makeVault(t);
  const started = Date.now();
  assert.equal((await bash(`exec ${TV} import "${file}"`, scratch.env)).code, 0);
  const full = Date.now() - started;
  const outcomes = [];
  let committed = null; // the round whose import is the current state of the BIG_ keys
  for (const [round, fraction] of [0.3, 0.6, 0.8, 0.95].entries()) {
    writeFileSync(file, Array.from({ length: N }, (_, i) => `BIG_${i}=r${round}-${i}`).join('\n'));
    const r = await bash(`exec ${TV} import "${file}"`, v.env, { killAfterMs: Math.round(full * fraction) });
    const values = JSON.parse(v.run(['export', '--format', 'json']).stdout);
    assert.equal(values.BEFORE, 'kept');
    const big = Object.entries(values).filter(([k]) => k.startsWith('BIG_'));
    if (big.length === 0) {
      assert.equal(committed, null, 'an earlier import vanished');
    } else {
      assert.equal(big.length, N, `a killed import left ${big.length} of ${N} keys`);
      const rounds = new Set(big.map(([k, val]) => (assert.equal(val.split('-')[1], k.slice(4)), val.split('-')[0])));
      assert.equal(rounds.size, 1, `values from several imports: ${[...rounds]}`);
      const now = [...rounds][0];
      assert.ok(now === `r${round}` || now === committed, `unexpected state ${now}`);
      committed = now;
    }
    outcomes.push(`${r.signal === 'SIGKILL' ? 'killed' : 'finished'}→${committed ?? 'none'}`);
    assertHealthy(v);
  }
  // Not a proof of timing, but a record of where the kills landed.
  t.diagnostic(`a whole import took ${full} ms; outcomes: ${outcomes.join(', ')}`);
});
