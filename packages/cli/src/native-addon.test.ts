// nativeAddon() finds the addon by its fixed place (here: packages/native beside packages/cli)
// and it is the very instance the package's loader gives: one addon in the process, whichever
// way it was reached first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeAddon } from './native-addon';

test('nativeAddon is the addon that require("@tvault/native") loads, found without the node_modules walk', () => {
  const before = Object.keys(require.cache).filter((f) => f.endsWith('tvault_native.node'));
  const direct = nativeAddon();
  const viaPackage = require('@tvault/native') as typeof import('@tvault/native');
  for (const fn of ['agentCall', 'harden', 'scrubEnv', 'setCoreLimit'] as const) {
    assert.equal(typeof direct[fn], 'function', fn);
    assert.equal(direct[fn], viaPackage[fn], `${fn}: the same instance`);
  }
  const after = Object.keys(require.cache).filter((f) => f.endsWith('tvault_native.node'));
  assert.equal(after.length, 1, `one addon file loaded: ${after.join(', ')}`);
  assert.ok(before.length <= 1);
  assert.equal(nativeAddon(), direct, 'loaded once');
});
