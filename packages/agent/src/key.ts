// The only key material the agent keeps: the KEK, in a Buffer of its own (not the shared
// pool), locked into RAM where the OS allows, and wiped on every way out and on `lock`. A
// holder outlives its key: `tvault unlock` puts a new one in (hold), `tvault lock` wipes it.
import { mlock, munlock, zero } from '@tvault/native';
import { lockedError } from '@tvault/core';

export class KeyHolder {
  private buf: Buffer | null = null;
  /** Whether mlock succeeded for the key held now, or the last one (false when RLIMIT_MEMLOCK or the OS refuses). */
  mlocked = false;

  /** With a KEK: holds it at once (see hold). Without: an empty holder (`agent start --locked`). */
  constructor(kek?: Buffer) {
    if (kek) this.hold(kek);
  }

  /** Takes the KEK over: copies it into private memory and zeroes the caller's buffer. */
  hold(kek: Buffer): void {
    this.wipe();
    const buf = Buffer.allocUnsafeSlow(kek.length);
    kek.copy(buf);
    zero(kek);
    kek.fill(0);
    this.mlocked = mlock(buf);
    this.buf = buf;
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
