// The envelope and the binding headers (crypto.ts), table-driven. The exact bytes against the
// spec are format-vectors.test.ts's; this checks the rules around them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_BYTES, NONCE_BYTES, dekHeader, open, openBound, randomKey, seal, sealBound, secretHeader } from './crypto';

const UID = Buffer.alloc(16, 0xb0);

test('crypto: secretHeader lays out tag, uid, u16 byte length, UTF-8 name, u32 version', () => {
  const cases: Array<[string, number, string]> = [
    ['K', 1, '0001' + '4b' + '00000001'],
    ['API_URL', 3, '0007' + Buffer.from('API_URL').toString('hex') + '00000003'],
    ['K', 0x01020304, '0001' + '4b' + '01020304'],
    ['K', 0xffffffff, '0001' + '4b' + 'ffffffff'],
    ['é', 2, '0002' + 'c3a9' + '00000002'],
    ['x'.repeat(300), 1, '012c' + '78'.repeat(300) + '00000001'],
  ];
  const tag = Buffer.from('tvault/secret/v1\0').toString('hex');
  for (const [name, version, tail] of cases) {
    assert.equal(secretHeader(UID, name, version).toString('hex'), tag + UID.toString('hex') + tail, `${name.slice(0, 10)} v${version}`);
  }
  assert.throws(() => secretHeader(UID, 'K', 2 ** 32), RangeError, 'a version beyond u32 is refused, not wrapped');
});

test('crypto: dekHeader names the recipient with its byte length', () => {
  const tag = Buffer.from('tvault/dek/v1\0').toString('hex');
  for (const r of ['passphrase', 'x25519:' + 'ab'.repeat(32), '']) {
    const n = Buffer.from(r);
    assert.equal(dekHeader(UID, r).toString('hex'), tag + UID.toString('hex') + n.length.toString(16).padStart(4, '0') + n.toString('hex'), r);
  }
});

test('crypto: seal uses a fresh nonce every time and open inverts it', () => {
  const key = randomKey();
  assert.equal(key.length, KEY_BYTES);
  for (const plain of [Buffer.alloc(0), Buffer.from('v'), Buffer.alloc(70_000, 7)]) {
    const a = seal(key, plain);
    const b = seal(key, plain);
    assert.equal(a.length, 1 + NONCE_BYTES + 16 + plain.length);
    assert.notEqual(a.subarray(1, 25).toString('hex'), b.subarray(1, 25).toString('hex'), 'nonce reused');
    assert.deepEqual(open(key, a), plain);
    assert.deepEqual(open(key, b), plain);
  }
});

test('crypto: open returns null for anything that is not an intact envelope under this key', () => {
  const key = randomKey();
  const good = seal(key, Buffer.from('value'));
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['40 bytes', good.subarray(0, 40)],
    ['version 0', Buffer.concat([Buffer.from([0]), good.subarray(1)])],
    ['version 2', Buffer.concat([Buffer.from([2]), good.subarray(1)])],
    ['truncated', good.subarray(0, good.length - 1)],
    ['extended', Buffer.concat([good, Buffer.from([0])])],
  ];
  for (const [what, sealed] of cases) assert.equal(open(key, sealed), null, what);
  assert.equal(open(randomKey(), good), null, 'another key');
});

test('crypto: sealBound/openBound return the body only under the same header', () => {
  const key = randomKey();
  const h = secretHeader(UID, 'K', 1);
  const body = Buffer.from('secret value');
  const sealed = sealBound(key, h, body);
  assert.deepEqual(openBound(key, h, sealed, 'K'), body);
  assert.equal(body.toString(), 'secret value', 'the caller still owns the body');
  // Another row's header, or one longer than the whole plaintext, is not a match.
  assert.throws(() => openBound(key, secretHeader(UID, 'K', 2), sealed, 'K'), /belongs to another key or project/);
  assert.throws(() => openBound(key, Buffer.concat([h, body, Buffer.from('x')]), sealed, 'K'), /belongs to another key or project/);
});
