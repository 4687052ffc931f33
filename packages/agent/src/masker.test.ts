// The output masker: every encoding of a value, split across writes at every offset, comes out
// as <masked:KEY>; ordinary output, a prompt without a newline and short values pass unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_MASK_BYTES, Masker, encodingsOf } from './masker';

const SECRET = Buffer.from('s3cr3t/Value+with "quotes" & ü');
const secrets = [{ name: 'API_KEY', value: SECRET }];

/** What the masker makes of text written in the given pieces. */
function through(m: Masker, pieces: Buffer[]): string {
  return Buffer.concat([...pieces.map((p) => m.push(p)), m.end()]).toString('latin1');
}

/** The encodings a program may print, each in some surrounding text. */
function printed(v: Buffer): Array<[string, Buffer]> {
  const b64 = v.toString('base64');
  const url = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');
  const forms: Array<[string, Buffer]> = [
    ['raw', v],
    ['hex', Buffer.from(v.toString('hex'))],
    ['HEX', Buffer.from(v.toString('hex').toUpperCase())],
    ['base64', Buffer.from(b64)],
    ['base64 unpadded', Buffer.from(b64.replace(/=+$/, ''))],
    ['base64url', Buffer.from(url(b64))],
    ['base64url unpadded', Buffer.from(url(b64).replace(/=+$/, ''))],
    ['uri', Buffer.from(encodeURIComponent(v.toString('utf8')))],
    ['json', Buffer.from(JSON.stringify(v.toString('utf8')).slice(1, -1))],
  ];
  // Inside a larger base64 blob, at every alignment.
  for (let k = 0; k < 3; k++)
    forms.push([`base64 at offset ${k}`, Buffer.from(Buffer.concat([Buffer.from('xyz'.slice(0, k)), v, Buffer.from('tail')]).toString('base64'))]);
  return forms;
}

test('masker: every encoding, split at every offset, is masked', () => {
  for (const [what, form] of printed(SECRET)) {
    const text = Buffer.concat([Buffer.from('before '), form, Buffer.from(' after\n')]);
    for (let cut = 0; cut <= text.length; cut++) {
      const out = through(new Masker(secrets), [text.subarray(0, cut), text.subarray(cut)]);
      assert.match(out, /<masked:API_KEY>/, `${what} cut at ${cut}`);
      assert.ok(out.startsWith(what.startsWith('base64 at') ? '' : 'before '), `${what}: ${out}`);
      for (const enc of encodingsOf(SECRET)) assert.ok(!out.includes(enc), `${what} cut at ${cut}: ${out}`);
    }
  }
});

test('masker: byte by byte, and many values at once', () => {
  const many = Array.from({ length: 50 }, (_, i) => ({ name: `K${i}`, value: Buffer.from(`value-number-${i}-${'x'.repeat(i)}`) }));
  const m = new Masker(many);
  const text = Buffer.from(many.map((s) => `${s.name}=${s.value.toString()}\n`).join(''));
  const out = through(
    m,
    [...text].map((b) => Buffer.from([b])),
  );
  assert.equal(out, many.map((s) => `${s.name}=<masked:${s.name}>\n`).join(''));
});

test('masker: output that cannot match is not held back; a prompt without a newline appears at once', () => {
  const m = new Masker(secrets);
  assert.equal(m.push(Buffer.from('Password: ')).toString(), 'Password: ');
  assert.equal(m.push(Buffer.from('\x1b[31mred\x1b[0m')).toString(), '\x1b[31mred\x1b[0m', 'colours pass');
  // The beginning of the value is held only until it cannot match any more.
  assert.equal(m.push(Buffer.from('s3cr3t')).toString(), '');
  assert.equal(m.push(Buffer.from('!')).toString(), 's3cr3t!');
  assert.equal(m.end().length, 0);
});

test('masker: multiline values as a whole and line by line; short values are reported, not masked', () => {
  const pem = Buffer.from('-----BEGIN KEY-----\nMIIBVwIBADANBgkq\n-----END KEY-----');
  const m = new Masker([{ name: 'PEM', value: pem }]);
  assert.equal(through(m, [Buffer.from(`a ${pem.toString()} b`)]), 'a <masked:PEM> b');
  assert.equal(through(new Masker([{ name: 'PEM', value: pem }]), [Buffer.from('line MIIBVwIBADANBgkq end')]), 'line <masked:PEM> end');
  const short = [{ name: 'PIN', value: Buffer.from('1234') }];
  assert.equal(through(new Masker(short), [Buffer.from('pin 1234 test')]), 'pin 1234 test');
  assert.deepEqual(Masker.unmasked([...short, ...secrets]), ['PIN']);
  assert.equal(MIN_MASK_BYTES, 8);
});
