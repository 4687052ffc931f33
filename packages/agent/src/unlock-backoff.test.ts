// The unlock rate limit on a clock the test gives: doubling delays, the cap, one at a time, reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIRST_DELAY_MS, MAX_DELAY_MS, UnlockBackoff } from './unlock-backoff';

test('unlock back-off: each wrong passphrase doubles the wait, up to the cap; a success resets it', () => {
  const b = new UnlockBackoff();
  let now = 1_000_000;
  assert.equal(b.refusal(now), null);
  const delays: number[] = [];
  for (let i = 0; i < 12; i++) {
    assert.equal(b.refusal(now), null, `attempt ${i + 1} is allowed once the wait is over`);
    b.begin();
    const d = b.failed(now);
    delays.push(d);
    assert.match(b.refusal(now)!, new RegExp(`^${i + 1} wrong passphrases? in a row: the next unlock is accepted in ${Math.ceil(d / 1000)} s$`));
    assert.notEqual(b.refusal(now + d - 1), null, 'still refused 1 ms before the end of the wait');
    now += d;
  }
  assert.deepEqual(delays.slice(0, 4), [FIRST_DELAY_MS, 2 * FIRST_DELAY_MS, 4 * FIRST_DELAY_MS, 8 * FIRST_DELAY_MS]);
  assert.equal(delays.at(-1), MAX_DELAY_MS);
  b.begin();
  b.ended(true);
  assert.equal(b.failures, 0);
  assert.equal(b.refusal(now), null);
});

test('unlock back-off: one attempt at a time; an error that is not a wrong passphrase keeps the count', () => {
  const b = new UnlockBackoff();
  b.begin();
  assert.match(b.refusal(0)!, /another unlock is in progress/);
  b.failed(0);
  b.begin();
  b.ended(false);
  assert.equal(b.failures, 1);
  assert.equal(b.refusal(FIRST_DELAY_MS), null);
});
