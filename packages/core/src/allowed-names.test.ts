// The allowed-names row body (docs/FORMAT.md, "Allowed names"): exact bytes, and refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedNamesKey, decodeAllowedNames, encodeAllowedNames } from './allowed-names';

const UID = Buffer.alloc(16, 0xb0);

test('allowed names: the body is tag, uid, count and sorted unique names; it decodes back', () => {
  const body = encodeAllowedNames(UID, ['NODE_OPTIONS', 'LD_PRELOAD', 'NODE_OPTIONS']);
  assert.equal(
    body.toString('hex'),
    Buffer.from('tvault/allowed-names/v1\0').toString('hex') +
      'b0'.repeat(16) +
      '00000002' +
      '000a' +
      Buffer.from('LD_PRELOAD').toString('hex') +
      '000c' +
      Buffer.from('NODE_OPTIONS').toString('hex'),
  );
  assert.deepEqual(decodeAllowedNames(body, UID, 'p'), ['LD_PRELOAD', 'NODE_OPTIONS']);
  assert.deepEqual(decodeAllowedNames(encodeAllowedNames(UID, []), UID, 'p'), []);
  assert.equal(allowedNamesKey(UID), `allowed_names:${'b0'.repeat(16)}`);
});

test('allowed names: another project, a truncated or padded body, another tag are integrity failures', () => {
  const body = encodeAllowedNames(UID, ['A']);
  const cases: Array<[Buffer, Uint8Array, RegExp]> = [
    [body, Buffer.alloc(16, 1), /belongs to another project/],
    [body.subarray(0, body.length - 1), UID, /malformed/],
    [Buffer.concat([body, Buffer.from([0])]), UID, /malformed/],
    [Buffer.concat([Buffer.from('tvault/manifest/v1\0'), body.subarray(19)]), UID, /malformed/],
  ];
  for (const [b, uid, re] of cases)
    assert.throws(
      () => decodeAllowedNames(b, uid, "project 'p'"),
      (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === 8,
    );
});
