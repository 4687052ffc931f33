// The handoff lease and the process marks it names its supervisor by: a live lease is found, a
// dead one (its pid gone, or reused by another process: another start time) is removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, leaseDir, leaseRefusal, liveLeases, markOf, processStart, releaseLease, takeLease } from './handoff-lease';

const ID = 'a'.repeat(32);

/** The pid of a process that has exited (so, most likely, no process has it now). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

test('process marks: this process is alive; a dead pid, a reused pid (other start time) and nonsense are not', () => {
  const me = markOf();
  assert.equal(me.pid, process.pid);
  assert.ok(isAlive(me));
  const cases: Array<[unknown, string]> = [
    [{ pid: deadPid(), start: me.start }, 'an exited process'],
    [{ pid: process.pid, start: `${me.start}1` }, 'the same pid with another start time (reused)'],
    [{ pid: -1, start: '' }, 'a negative pid'],
    [{ pid: 'x', start: '' }, 'not a number'],
    [{}, 'nothing'],
  ];
  if (process.platform !== 'linux') cases.splice(1, 1); // only procfs gives a start time
  for (const [m, what] of cases) assert.equal(isAlive(m as { pid: number; start: string }), false, what);
  assert.equal(processStart(0), null);
});

test('leases: a live one refuses, a dead or malformed one is removed, a released one is gone', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-lease-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(liveLeases(dir), [], 'no lease directory');
  const path = takeLease(dir, ID, '/dev/shm/x');
  assert.deepEqual(
    liveLeases(dir).map((l) => l.id),
    [ID],
  );
  assert.match(leaseRefusal(dir) ?? '', /a tvault handoff \(pid \d+\) holds this vault/);
  const dead = join(leaseDir(dir), `${'b'.repeat(32)}.lease`);
  writeFileSync(dead, JSON.stringify({ id: 'b'.repeat(32), pid: deadPid(), start: markOf().start, e: '/x', created: 0 }), { mode: 0o600 });
  const junk = join(leaseDir(dir), `${'c'.repeat(32)}.lease`);
  writeFileSync(junk, 'not json', { mode: 0o600 });
  assert.equal(liveLeases(dir).length, 1);
  assert.ok(!existsSync(dead) && !existsSync(junk), 'dead and malformed leases removed');
  releaseLease(path);
  assert.equal(leaseRefusal(dir), null);
  assert.deepEqual(readdirSync(leaseDir(dir)), []);
  assert.throws(() => takeLease(dir, 'nope', '/x'), /32 hex digits/);
});
