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
import { open, openBound, openBoundInto, openInto, openedLength, randomKey, seal, sealedParts, secretboxBackend, useNativeSecretbox } from './crypto';

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

test('secretbox backends: openInto opens into a view of a shared Buffer exactly as open does, and zeroes it on a failed MAC', () => {
  const key = randomKey();
  for (const len of [0, 1, 16, 17, 63, 64, 65, 1000, 16384]) {
    const plain = randomBytes(len);
    const sealed = seal(key, plain);
    const [a, b] = both(() => {
      const parts = sealedParts(sealed)!;
      assert.equal(openedLength(parts), len);
      const buf = Buffer.alloc(len + 8, 0xee); // a value between two others: nothing outside its view is touched
      const ok = openInto(key, parts, buf.subarray(4, 4 + len));
      return [ok, buf.subarray(4, 4 + len).equals(plain), buf.subarray(0, 4).toString('hex') + buf.subarray(4 + len).toString('hex')];
    });
    assert.deepEqual(a, [true, true, 'eeeeeeeeeeeeeeee'], `len ${len}`);
    assert.deepEqual(b, a, `len ${len}`);
  }
  const v = B.value;
  const env = hex(v.envelope);
  for (let at = 1; at < env.length; at++) {
    const bad = Buffer.from(env);
    bad[at] ^= 0x80;
    const [a, b] = both(() => {
      const parts = sealedParts(bad)!;
      const out = Buffer.alloc(openedLength(parts), 0xee);
      return [openInto(hex(v.key), parts, out), out.every((x) => x === 0)];
    });
    assert.deepEqual(a, [false, true], `byte ${at}`);
    assert.deepEqual(b, a, `byte ${at}`);
  }
  assert.throws(() => openInto(key, sealedParts(seal(key, Buffer.alloc(3)))!, Buffer.alloc(4)), RangeError, 'out must be the plaintext length');
});

test('secretbox backends: openBoundInto gives the body openBound gives and refuses what it refuses, with the same error', () => {
  const v = B.value;
  const env = hex(v.envelope);
  const flip = (at: number) => {
    const bad = Buffer.from(env);
    bad[at] ^= 0x80;
    return bad;
  };
  const cases: Array<[string, Buffer, Buffer, Buffer]> = [
    ['intact', env, hex(v.key), hex(v.header)],
    ['short', env.subarray(0, 40), hex(v.key), hex(v.header)],
    ['version', Buffer.concat([Buffer.from([2]), env.subarray(1)]), hex(v.key), hex(v.header)],
    ['wrong key', env, hex(B.dek.key), hex(v.header)],
    ['nonce byte', flip(3), hex(v.key), hex(v.header)],
    ['box byte', flip(env.length - 1), hex(v.key), hex(v.header)],
    ['another header', env, hex(v.key), Buffer.concat([hex(v.header).subarray(0, -1), Buffer.from([hex(v.header).at(-1)! ^ 1])])],
    ['a longer header', env, hex(v.key), Buffer.concat([hex(v.header), Buffer.alloc(hex(v.body).length + 1)])],
  ];
  const outcome = (fn: () => Buffer) => {
    try {
      return fn().toString('hex');
    } catch (err) {
      return `${(err as { exitCode?: number }).exitCode} ${(err as Error).message}`;
    }
  };
  for (const [what, sealed, key, header] of cases) {
    const [a, b] = both(() => {
      const expected = outcome(() => openBound(key, header, sealed, 'default/KEY (version 1)'));
      const parts = sealedParts(sealed);
      const out = Buffer.alloc(parts ? openedLength(parts) : 0, 0xee);
      const got = outcome(() => openBoundInto(key, header, parts, out, () => 'default/KEY (version 1)'));
      return [expected, got, got === v.body || out.every((x) => x === 0)];
    });
    assert.equal(a[1], a[0], what);
    assert.equal(a[2], true, `${what}: out is zeroed on a refusal`);
    assert.deepEqual(b, a, what);
  }
});
