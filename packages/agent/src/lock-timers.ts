// The agent's two auto-lock deadlines: idle (no read for idleMs) and max-ttl (maxTtlMs after
// unlocking, however busy). Time comes from a Clock, so that unit tests can drive both without
// waiting (lock-timers.test.ts); the agent uses the system clock.
//
// A read only records its time: the idle timer, when it fires, re-arms itself for what is left
// if a read came since. That keeps the read path free of timer work, and a timer that fires
// early (or a clock that jumps) never locks before the deadline.

export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type LockReason = 'idle' | 'max-ttl';

export class LockTimers {
  /** When the key was last put in (start, or `tvault unlock`): max-ttl counts from here. */
  unlockedAt: number;
  private lastRead: number;
  private idleTimer?: TimerHandle;
  private ttlTimer?: TimerHandle;
  private stopped = false;

  constructor(
    private readonly o: { idleMs: number; maxTtlMs: number },
    private readonly onExpire: (reason: LockReason) => void,
    private readonly clock: Clock = systemClock,
  ) {
    this.unlockedAt = this.lastRead = clock.now();
  }

  /** Arms the timers that are on (0 is off). */
  start(): void {
    if (this.o.idleMs) this.armIdle(this.o.idleMs);
    if (this.o.maxTtlMs) this.armTtl();
  }

  /**
   * A new unlock (`tvault unlock` after a lock): both deadlines count from now again. The
   * timers only run while the agent holds the key; stop() before locking in place.
   */
  restart(): void {
    this.stop();
    this.stopped = false;
    this.unlockedAt = this.lastRead = this.clock.now();
    this.start();
  }

  /** A read: the idle countdown starts again from now. */
  touch(): void {
    this.lastRead = this.clock.now();
  }

  /** No timer fires after this. */
  stop(): void {
    this.stopped = true;
    if (this.idleTimer !== undefined) this.clock.clearTimeout(this.idleTimer);
    if (this.ttlTimer !== undefined) this.clock.clearTimeout(this.ttlTimer);
    this.idleTimer = this.ttlTimer = undefined;
  }

  idleRemainingMs(now = this.clock.now()): number | null {
    return this.o.idleMs ? Math.max(0, this.lastRead + this.o.idleMs - now) : null;
  }

  maxTtlRemainingMs(now = this.clock.now()): number | null {
    return this.o.maxTtlMs ? Math.max(0, this.unlockedAt + this.o.maxTtlMs - now) : null;
  }

  private armIdle(ms: number): void {
    this.idleTimer = this.clock.setTimeout(() => {
      const left = this.idleRemainingMs()!;
      if (left > 0) this.armIdle(left);
      else this.expire('idle');
    }, ms);
  }

  private armTtl(): void {
    this.ttlTimer = this.clock.setTimeout(() => {
      if (this.maxTtlRemainingMs()! > 0) this.armTtl();
      else this.expire('max-ttl');
    }, this.maxTtlRemainingMs()!);
  }

  private expire(reason: LockReason): void {
    if (this.stopped) return;
    this.stop();
    this.onExpire(reason);
  }
}
