// The one decision whether `tvault run` masks (shouldMask): only --mask turns it on for now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shouldMask } from './run';

test('shouldMask: off by default, on with --mask, off with --no-mask, whatever the environment', () => {
  const cases: Array<[{ mask?: boolean }, NodeJS.ProcessEnv, boolean]> = [
    [{}, {}, false],
    [{ mask: true }, {}, true],
    [{ mask: false }, {}, false],
    [{}, { TVAULT_MASK: '1' }, false],
    [{ mask: true }, { PATH: '/bin' }, true],
  ];
  for (const [a, env, want] of cases) assert.equal(shouldMask(a, env), want, JSON.stringify([a, env]));
});
