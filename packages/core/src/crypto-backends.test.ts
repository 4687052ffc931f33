// The two implementations of crypto_secretbox (crypto.ts: tweetnacl by default, libsodium for
// the agent) must be one function: each opens what the other seals, both open the spec's
// vectors (test/vectors/binding.json) to the same bytes, and both refuse the same altered
// envelopes (test/vectors.test.mjs reads the committed vaults through an agent too). libsodium must load here: the agent's
// speed depends on it, and a silent fallback would hide a broken install.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open, openBound, randomKey, seal, secretboxBackend, useNativeSecretbox } from './crypto';

const ROOT = join(__dirname, '..', '..', '..');
const B = JSON.parse(readFileSync(join(ROOT, 'test/vectors/binding.json'), 'utf8')).binding as Record<string, Record<string, string>>;
const hex = (s: string) => Buffer.from(s, 'hex');
const nacl = require('tweetnacl') as typeof import('tweetnacl');

after(() => useNativeSecretbox(false));

/** Runs fn under each backend; returns its results in order [tweetnacl, libsodium]. */
function both<T>(fn: () => T): [T, T] {
  useNativeSecretbox(false);
  const a = fn();
  assert.equal(useNativeSecretbox(true), 'libsodium', 'sodium-native must load (npm ci)');
  try {
    return [a, fn()];
  } finally {
    useNativeSecretbox(false);
  }
}

test('secretbox backends: tweetnacl is the default; libsodium loads when asked for', () => {
  assert.equal(secretboxBackend(), 'tweetnacl');
  assert.equal(useNativeSecretbox(), 'libsodium');
  assert.equal(useNativeSecretbox(false), 'tweetnacl');
});

test('secretbox backends: both open every vector to its plaintext and body', () => {
  for (const [name, v] of Object.entries(B)) {
    const [a, b] = both(() => [
      open(hex(v.key), hex(v.envelope))?.toString('hex'),
      openBound(hex(v.key), hex(v.header), hex(v.envelope), name).toString('hex'),
    ]);
    assert.deepEqual(a, [v.plaintext, v.body], name);
    assert.deepEqual(b, a, name);
  }
});

test('secretbox backends: each opens what the other seals, and the box is NaCl secretbox', () => {
  for (const len of [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 4096, 16384, 70_000]) {
    const key = randomKey();
    const plain = randomBytes(len);
    const [byNacl, bySodium] = both(() => seal(key, plain));
    for (const sealed of [byNacl, bySodium]) {
      // Given the nonce it chose, each seal is exactly tweetnacl's secretbox (the format).
      assert.equal(sealed.length, 1 + 24 + 16 + len);
      assert.equal(sealed[0], 1);
      assert.ok(Buffer.from(nacl.secretbox(plain, sealed.subarray(1, 25), key)).equals(sealed.subarray(25)), `len ${len}`);
      const [x, y] = both(() => open(key, sealed));
      assert.ok(x?.equals(plain) && y?.equals(plain), `len ${len}`);
    }
  }
});

test('secretbox backends: both refuse every altered byte, a short envelope and the wrong key', () => {
  const v = B.value;
  const env = hex(v.envelope);
  const cases: Array<[string, Buffer, Buffer]> = [
    ['short', env.subarray(0, 40), hex(v.key)],
    ['wrong key', env, hex(B.dek.key)],
    ['version', Buffer.concat([Buffer.from([2]), env.subarray(1)]), hex(v.key)],
  ];
  for (let at = 1; at < env.length; at++) {
    const bad = Buffer.from(env);
    bad[at] ^= 0x80;
    cases.push([`byte ${at}`, bad, hex(v.key)]);
  }
  for (const [what, sealed, key] of cases)
    assert.deepEqual(
      both(() => open(key, sealed)),
      [null, null],
      what,
    );
});
