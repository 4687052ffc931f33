// The only key material the agent keeps: the KEK, in a Buffer of its own (not the shared
// pool), locked into RAM where the OS allows, and wiped on every way out.
import { mlock, munlock, zero } from '@tvault/native';
import { lockedError } from '@tvault/core';

export class KeyHolder {
  private buf: Buffer | null;
  /** Whether mlock succeeded (false when RLIMIT_MEMLOCK or the OS refuses). */
  readonly mlocked: boolean;

  /** Takes the KEK over: copies it into private memory and zeroes the caller's buffer. */
  constructor(kek: Buffer) {
    this.buf = Buffer.allocUnsafeSlow(kek.length);
    kek.copy(this.buf);
    zero(kek);
    kek.fill(0);
    this.mlocked = mlock(this.buf);
  }

  get held(): boolean {
    return this.buf !== null;
  }

  /** The KEK for one synchronous use; never store or copy it. */
  use(): Buffer {
    if (!this.buf) throw lockedError('the agent is locked');
    return this.buf;
  }

  /** Wipes the KEK; safe to call more than once. */
  wipe(): void {
    const b = this.buf;
    if (!b) return;
    this.buf = null;
    zero(b);
    b.fill(0);
    if (this.mlocked) munlock(b);
  }
}
