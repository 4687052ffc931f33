// The one decision whether `tvault run` masks (shouldMask): --mask / --no-mask, else on only in a
// live handoff (a claim in the environment without its session vault is not one: the live case is
// test/handoff.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldMask } from './run';

test('shouldMask: off by default, on with --mask, off with --no-mask; a stale handoff marker does not turn it on', () => {
  const cases: Array<[{ mask?: boolean }, NodeJS.ProcessEnv, boolean]> = [
    [{}, {}, false],
    [{ mask: true }, {}, true],
    [{ mask: false }, {}, false],
    [{}, { TVAULT_MASK: '1' }, false],
    [{ mask: true }, { PATH: '/bin' }, true],
    [{}, { TVAULT_HANDOFF: '0123456789abcdef0123456789abcdef', TVAULT_DIR: '/nonexistent/tvault-handoff-0123456789abcdef0123456789abcdef' }, false],
    [{ mask: true }, { TVAULT_HANDOFF: 'x' }, true],
  ];
  for (const [a, env, want] of cases) assert.equal(shouldMask(a, env), want, JSON.stringify([a, env]));
});
