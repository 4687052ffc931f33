// The auto-lock deadlines on a clock the test drives: idle and max-ttl without waiting.
// test/agent-expiry.test.mjs keeps one wall-clock test of each on a real agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Clock, type LockReason, LockTimers } from './lock-timers';

/** A clock that moves only when told; due timers fire in order as it passes them. */
class TestClock implements Clock {
  t = 1_700_000_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (id: unknown) => void this.timers.delete(id as number);
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
  /** Fires every timer now, whatever its deadline: a timer that fires early. */
  fireAllEarly(): void {
    const all = [...this.timers.values()];
    this.timers.clear();
    for (const x of all) x.fn();
  }
}

function setup(o: { idleMs: number; maxTtlMs: number }) {
  const clock = new TestClock();
  const fired: Array<{ reason: LockReason; at: number }> = [];
  const timers = new LockTimers(o, (reason) => fired.push({ reason, at: clock.now() }), clock);
  const t0 = clock.now();
  timers.start();
  return { clock, fired, timers, t0 };
}

test('idle: locks idleMs after the last read, and reads push it back', () => {
  const { clock, fired, timers, t0 } = setup({ idleMs: 1000, maxTtlMs: 0 });
  // Reads every 200 ms for 5 s: five times the idle time, kept alive only by the reads.
  for (let i = 0; i < 25; i++) {
    clock.advance(200);
    timers.touch();
  }
  assert.deepEqual(fired, []);
  const lastRead = clock.now();
  assert.equal(timers.idleRemainingMs(), 1000);
  clock.advance(999);
  assert.deepEqual(fired, []);
  assert.equal(timers.idleRemainingMs(), 1);
  clock.advance(1);
  assert.deepEqual(fired, [{ reason: 'idle', at: lastRead + 1000 }]);
  assert.ok(lastRead - t0 === 5000);
  assert.equal(clock.pending, 0, 'nothing left armed after the lock');
});

test('idle: without any read it locks at unlock + idleMs', () => {
  const { clock, fired, t0 } = setup({ idleMs: 15 * 60_000, maxTtlMs: 0 });
  clock.advance(60 * 60_000);
  assert.deepEqual(fired, [{ reason: 'idle', at: t0 + 15 * 60_000 }]);
});

test('max-ttl: locks on time however busy', () => {
  const { clock, fired, timers, t0 } = setup({ idleMs: 0, maxTtlMs: 2000 });
  for (let i = 0; i < 100; i++) {
    clock.advance(10);
    timers.touch();
  }
  assert.deepEqual(fired, []);
  assert.equal(timers.maxTtlRemainingMs(), 1000);
  clock.advance(1000);
  assert.deepEqual(fired, [{ reason: 'max-ttl', at: t0 + 2000 }]);
  assert.equal(timers.maxTtlRemainingMs(), 0);
});

test('both: whichever comes first locks, once', () => {
  const a = setup({ idleMs: 1000, maxTtlMs: 5000 });
  a.clock.advance(10_000);
  assert.deepEqual(a.fired, [{ reason: 'idle', at: a.t0 + 1000 }]);
  const b = setup({ idleMs: 1000, maxTtlMs: 2500 });
  for (let i = 0; i < 40; i++) {
    b.clock.advance(100);
    b.timers.touch();
  }
  assert.deepEqual(b.fired, [{ reason: 'max-ttl', at: b.t0 + 2500 }]);
  assert.equal(b.clock.pending, 0);
});

test('0 turns a timer off: nothing is armed and nothing remains', () => {
  const { clock, fired, timers } = setup({ idleMs: 0, maxTtlMs: 0 });
  assert.equal(clock.pending, 0);
  clock.advance(365 * 86_400_000);
  assert.deepEqual(fired, []);
  assert.equal(timers.idleRemainingMs(), null);
  assert.equal(timers.maxTtlRemainingMs(), null);
});

test('stop: no timer fires afterwards', () => {
  const { clock, fired, timers } = setup({ idleMs: 1000, maxTtlMs: 2000 });
  clock.advance(500);
  timers.stop();
  assert.equal(clock.pending, 0);
  clock.advance(10_000);
  assert.deepEqual(fired, []);
});

test('a timer that fires early never locks before the deadline; it re-arms for the rest', () => {
  const { clock, fired, t0 } = setup({ idleMs: 1000, maxTtlMs: 3000 });
  clock.advance(400);
  clock.fireAllEarly();
  assert.deepEqual(fired, []);
  assert.equal(clock.pending, 2, 'both re-armed');
  clock.advance(600);
  assert.deepEqual(fired, [{ reason: 'idle', at: t0 + 1000 }]);
});

test('restart (an unlock after a lock in place): both deadlines count from the new unlock, and fire again', () => {
  const { clock, fired, timers } = setup({ idleMs: 1000, maxTtlMs: 5000 });
  clock.advance(1000);
  assert.equal(fired.length, 1);
  clock.advance(10_000); // locked: nothing runs
  assert.equal(fired.length, 1);
  assert.equal(clock.pending, 0);
  const t1 = clock.now();
  timers.restart();
  assert.equal(timers.unlockedAt, t1);
  assert.equal(timers.idleRemainingMs(), 1000);
  assert.equal(timers.maxTtlRemainingMs(), 5000);
  for (let i = 0; i < 10; i++) {
    clock.advance(500);
    timers.touch();
  }
  assert.deepEqual(fired.slice(1), [{ reason: 'max-ttl', at: t1 + 5000 }]);
  // stop() then restart() again: a timer armed before the stop never fires.
  timers.restart();
  timers.stop();
  clock.advance(10_000);
  assert.equal(fired.length, 2);
});
