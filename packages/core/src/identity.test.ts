// The pure parts of identities and recipients: an identity's text, the share payload's binding,
// and the v2 manifest (recipients) next to the unchanged v1 bytes. The age code itself is tested
// through its bundle (test/identity-age.test.mjs: CCTV vectors, the age CLI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSharePayload, shareManifestMac, sharePayload } from './crypto';
import { parseIdentityText } from './identity-file';
import { decodeManifest, encodeManifest, isShared, manifestRecipients } from './manifest';
import { TvaultError } from './errors';

const KEY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';

test('parseIdentityText: one key line, comments and blank lines skipped; anything else a usage error that never repeats it', () => {
  const ok: Array<[string, string]> = [
    [`${KEY}\n`, 'a bare key line'],
    [`# created: 2026-12-01T00:00:00Z\n# public key: age1xyz\n${KEY}\n`, 'age-keygen layout'],
    [`\r\n  ${KEY}  \r\n\n`, 'CRLF and spaces'],
    [KEY, 'no final newline'],
  ];
  for (const [text, what] of ok) assert.equal(parseIdentityText(Buffer.from(text), 'x').toString(), KEY, what);
  const bad: Array<[string, RegExp]> = [
    ['', /holds no age identity/],
    ['# only a comment\n', /holds no age identity/],
    [`${KEY}\n${KEY}\n`, /holds 2 keys/],
    ['age1abc\n', /is not an age identity/],
    [`${KEY.toLowerCase()}\n`, /is not an age identity/],
    [`${KEY}é\n`, /is not an age identity/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseIdentityText(Buffer.from(text), 'the file k'),
      (err: unknown) => err instanceof TvaultError && err.exitCode === 2 && re.test(err.message) && !err.message.includes(KEY.slice(16)),
      JSON.stringify(text),
    );
  }
});

test('share payload: opens only for the project uid and recipient it was made for', () => {
  const uid = randomBytes(16);
  const dek = randomBytes(32);
  const p = sharePayload(uid, 'age1aaa', dek);
  assert.deepEqual(openSharePayload(p, uid, 'age1aaa'), dek);
  assert.equal(openSharePayload(p, randomBytes(16), 'age1aaa'), null, 'another project');
  assert.equal(openSharePayload(p, uid, 'age1aab'), null, 'another recipient');
  assert.equal(openSharePayload(p.subarray(0, p.length - 1), uid, 'age1aaa'), null, 'truncated');
  assert.equal(openSharePayload(Buffer.concat([p, Buffer.from([0])]), uid, 'age1aaa'), null, 'extended');
  assert.equal(p.subarray(0, 16).toString('latin1'), 'tvault/share/v1\0');
});

test('manifest: v1 bytes while the passphrase is the only recipient, v2 with the sorted recipients once shared', () => {
  const uid = Buffer.alloc(16, 7);
  const entries = new Map([['A', { version: 2, live: true }]]);
  const v1 = encodeManifest({ uid, name: 'p', entries });
  assert.deepEqual(encodeManifest({ uid, name: 'p', entries, recipients: ['passphrase'] }), v1, 'passphrase alone is v1');
  assert.equal(v1.subarray(0, 19).toString('latin1'), 'tvault/manifest/v1\0');
  assert.equal(decodeManifest(v1, 'x').recipients, undefined);
  const m = { uid, name: 'p', entries, recipients: ['passphrase', 'age1zzz', 'age1bbb'] };
  const v2 = encodeManifest(m);
  assert.equal(v2.subarray(0, 19).toString('latin1'), 'tvault/manifest/v2\0');
  assert.deepEqual(v2.subarray(0, v1.length).subarray(19), v1.subarray(19), 'the v1 fields, then the recipients');
  const back = decodeManifest(v2, 'x');
  assert.deepEqual(manifestRecipients(back), ['age1bbb', 'age1zzz', 'passphrase']);
  assert.ok(isShared(back) && !isShared({ uid, name: 'p', entries }));
  // Malformed v2 lists: a duplicate, no passphrase, trailing bytes.
  for (const r of [
    ['passphrase', 'age1a', 'age1a'],
    ['age1a', 'age1b'],
  ])
    assert.throws(() => decodeManifest(encodeManifest({ uid, name: 'p', entries, recipients: r }), 'x'), /malformed/);
  assert.throws(() => decodeManifest(Buffer.concat([v2, Buffer.from([0])]), 'x'), /malformed/);
  // share_mac depends on the DEK and every byte of the body.
  const dek = randomBytes(32);
  assert.notDeepEqual(shareManifestMac(dek, v2), shareManifestMac(randomBytes(32), v2));
  assert.notDeepEqual(shareManifestMac(dek, v2), shareManifestMac(dek, v1));
});
