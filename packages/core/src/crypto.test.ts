// The envelope and the binding headers (crypto.ts), table-driven. The exact bytes against the
// spec are format-vectors.test.ts's; this checks the rules around them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { KEY_BYTES, NONCE_BYTES, dekHeader, hmacSha256, open, openBound, randomKey, seal, sealBound, secretHeader } from './crypto';

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

test('crypto: hmacSha256 is HMAC-SHA-256 (RFC 4231 vectors, and createHmac for every key length)', () => {
  // RFC 4231 test cases 1, 2, 4 and 6 (a key longer than a block).
  const vectors: Array<[string, string, string]> = [
    ['0b'.repeat(20), Buffer.from('Hi There').toString('hex'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
    [
      Buffer.from('Jefe').toString('hex'),
      Buffer.from('what do ya want for nothing?').toString('hex'),
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    ],
    ['0102030405060708090a0b0c0d0e0f10111213141516171819', 'cd'.repeat(50), '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'],
    [
      'aa'.repeat(131),
      Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First').toString('hex'),
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    ],
  ];
  for (const [key, data, mac] of vectors) assert.equal(hmacSha256(Buffer.from(key, 'hex'), Buffer.from(data, 'hex')).toString('hex'), mac);
  for (const len of [0, 1, 31, 32, 33, 63, 64, 65, 200]) {
    const key = Buffer.alloc(len, len + 1);
    for (const data of [Buffer.alloc(0), Buffer.alloc(32, 7), Buffer.alloc(1000, 9)])
      assert.deepEqual(hmacSha256(key, data), createHmac('sha256', key).update(data).digest(), `key of ${len} bytes, data of ${data.length}`);
  }
});
