import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeVault } from './helpers.mjs';

test('init, set, get, env, run on a throwaway vault', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'GREETING', '--stdin'], { input: 'hello world\n' }).code, 0);
  const got = v.run(['get', 'GREETING']);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(got.stdout, 'hello world\n');
  assert.equal(v.run(['env']).stdout, "export GREETING='hello world'\n");
  const r = v.run(['run', '--', 'sh', '-c', 'printf %s "$GREETING"; env | grep -c ^TVAULT_ || true']);
  assert.equal(r.stdout, 'hello world0\n');
});
