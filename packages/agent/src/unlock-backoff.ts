// The rate limit on `unlock` through the socket: after each wrong passphrase the next attempt
// waits twice as long (1 s, 2 s, 4 s ... up to 5 minutes), and only one unlock runs at a time.
// The peers are of the agent's own uid, who could run the KDF themselves; the limit is there
// so that a process of that uid cannot use a warm agent's worker as a fast guessing oracle
// without leaving a trail (each attempt is logged and audited), nor keep the CPU busy with KDFs.
// Pure: time comes from the caller, so that unit tests drive it (unlock-backoff.test.ts).

export const FIRST_DELAY_MS = 1000;
export const MAX_DELAY_MS = 5 * 60_000;

export class UnlockBackoff {
  /** Wrong passphrases in a row (a success resets it). */
  failures = 0;
  private notBefore = 0;
  private running = false;

  /** Null when an attempt may start now; otherwise why not, in words for the client. */
  refusal(now: number): string | null {
    if (this.running) return 'another unlock is in progress; try again when it has finished';
    const wait = this.notBefore - now;
    if (wait > 0)
      return `${this.failures} wrong passphrase${this.failures === 1 ? '' : 's'} in a row: the next unlock is accepted in ${Math.ceil(wait / 1000)} s`;
    return null;
  }

  /** An attempt starts (after refusal() said null). */
  begin(): void {
    this.running = true;
  }

  /** The attempt failed with a wrong passphrase; returns how long the next one must wait. */
  failed(now: number): number {
    this.running = false;
    this.failures++;
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(this.failures - 1, 20));
    this.notBefore = now + delay;
    return delay;
  }

  /** The attempt ended otherwise: success resets the count; an error that is not a wrong passphrase leaves it. */
  ended(success: boolean): void {
    this.running = false;
    if (success) {
      this.failures = 0;
      this.notBefore = 0;
    }
  }
}
