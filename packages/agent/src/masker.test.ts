// The output masker: every encoding of a value, split across writes at every offset, comes out
// as <masked:KEY>; overlapping values and a value that begins another are masked whole; the
// streaming automaton agrees with a naive scan on random input; ordinary output, a prompt
// without a newline and short values pass unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_MASK_BYTES, MaskSet, Masker, encodingsOf } from './masker';

type Secrets = Array<{ name: string; value: Buffer }>;
const SECRET = Buffer.from('s3cr3t/Value+with "quotes" & ü');
const secrets: Secrets = [{ name: 'API_KEY', value: SECRET }];

/** What the masker makes of text written in the given pieces. */
function through(m: Masker, pieces: Buffer[]): string {
  return Buffer.concat([...pieces.map((p) => m.push(p)), m.end()]).toString('latin1');
}

/**
 * The reference: at each point, the occurrence (of any form of any value) that covers it and
 * begins leftmost, the longest of those, becomes its placeholder; text no occurrence covers
 * passes. Quadratic and obvious.
 */
function naive(text: Buffer, list: Secrets): string {
  const byForm = new Map<string, string>();
  for (const s of list) for (const f of encodingsOf(s.value)) if (!byForm.has(f)) byForm.set(f, s.name);
  const occ: Array<{ s: number; e: number; key: string }> = [];
  for (const [f, key] of byForm) {
    const b = Buffer.from(f, 'latin1');
    for (let i = text.indexOf(b); i >= 0; i = text.indexOf(b, i + 1)) occ.push({ s: i, e: i + b.length, key });
  }
  let out = '';
  for (let i = 0; i < text.length;) {
    const cover = occ.filter((o) => o.s <= i && i < o.e).sort((x, y) => x.s - y.s || y.e - x.e)[0];
    if (cover) {
      out += `<masked:${cover.key}>`;
      i = cover.e;
    } else out += text.toString('latin1', i, ++i);
  }
  return out;
}

/** The longest tail of `text` that some form could still continue (what may be held back). */
function mayHold(text: Buffer, forms: string[]): number {
  const t = text.toString('latin1');
  for (let n = Math.min(t.length, 4096); n > 0; n--) if (forms.some((f) => f.length > n && f.startsWith(t.slice(-n)))) return n;
  return 0;
}

const url = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');

/** The encodings a program may print, by name. */
function printed(v: Buffer): Array<[string, Buffer]> {
  const b64 = v.toString('base64');
  const text = v.toString('utf8');
  const forms: Array<[string, Buffer]> = [
    ['raw', v],
    ['hex', Buffer.from(v.toString('hex'))],
    ['HEX', Buffer.from(v.toString('hex').toUpperCase())],
    ['base64', Buffer.from(b64)],
    ['base64 unpadded', Buffer.from(b64.replace(/=+$/, ''))],
    ['base64url', Buffer.from(url(b64))],
    ['base64url unpadded', Buffer.from(url(b64).replace(/=+$/, ''))],
    ['uri', Buffer.from(encodeURIComponent(text))],
    ['uri lower-case', Buffer.from(encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()))],
    ['form (+ for space)', Buffer.from(encodeURIComponent(text).replace(/%20/g, '+'))],
    ['json', Buffer.from(JSON.stringify(text).slice(1, -1))],
    ['json ascii', Buffer.from(JSON.stringify(text).slice(1, -1).replace(/ü/g, '\\u00fc'))],
  ];
  // Inside a larger base64 blob (standard and URL-safe), at every alignment.
  for (let k = 0; k < 3; k++) {
    const blob = Buffer.concat([Buffer.from('xyz'.slice(0, k)), v, Buffer.from('tail')]).toString('base64');
    forms.push([`base64 at alignment ${k}`, Buffer.from(blob)], [`base64url at alignment ${k}`, Buffer.from(url(blob))]);
  }
  return forms;
}

test('masker: every encoding, split into two writes at every offset, is masked', () => {
  const set = new MaskSet(secrets);
  for (const [what, form] of printed(SECRET)) {
    const text = Buffer.concat([Buffer.from('before '), form, Buffer.from(' after\n')]);
    const whole = through(new Masker(set), [text]);
    assert.match(whole, /<masked:API_KEY>/, what);
    assert.equal(whole, naive(text, secrets), what);
    if (!what.includes('alignment')) assert.equal(whole, 'before <masked:API_KEY> after\n', what);
    for (let cut = 0; cut <= text.length; cut++) {
      assert.equal(through(new Masker(set), [text.subarray(0, cut), text.subarray(cut)]), whole, `${what} cut at ${cut}`);
    }
    assert.equal(
      through(
        new Masker(set),
        [...text].map((b) => Buffer.from([b])),
      ),
      whole,
      `${what} byte by byte`,
    );
  }
});

test('masker: a multiline value is masked as a whole and line by line, under every encoding', () => {
  const pem = Buffer.from('-----BEGIN KEY-----\nMIIBVwIBADANBgkq\n-----END KEY-----');
  const list = [{ name: 'PEM', value: pem }];
  const set = new MaskSet(list);
  const cases: Array<[string, string, string]> = [
    ['whole', `a ${pem.toString()} b`, 'a <masked:PEM> b'],
    ['one line', 'line MIIBVwIBADANBgkq end', 'line <masked:PEM> end'],
    ['CRLF lines', pem.toString().replace(/\n/g, '\r\n'), '<masked:PEM>\r\n<masked:PEM>\r\n<masked:PEM>'],
    ['a line in base64', `x ${Buffer.from('MIIBVwIBADANBgkq').toString('base64')} y`, 'x <masked:PEM> y'],
    ['a line in hex', `x ${Buffer.from('-----END KEY-----').toString('hex')} y`, 'x <masked:PEM> y'],
    ['the whole as JSON', `{"k":${JSON.stringify(pem.toString())}}`, '{"k":"<masked:PEM>"}'],
  ];
  for (const [what, input, want] of cases) {
    const text = Buffer.from(input);
    for (let cut = 0; cut <= text.length; cut++) assert.equal(through(new Masker(set), [text.subarray(0, cut), text.subarray(cut)]), want, `${what} at ${cut}`);
  }
});

test('masker: overlapping values, a value that begins another, one inside another', () => {
  const cases: Array<[string, Secrets, string, string]> = [
    ['prefix of another', [v('SHORT', 'abcdefgh'), v('LONG', 'abcdefgh12345678')], 'x abcdefgh12345678 y abcdefgh z', 'x <masked:LONG> y <masked:SHORT> z'],
    ['prefix, listed the other way', [v('LONG', 'abcdefgh12345678'), v('SHORT', 'abcdefgh')], 'abcdefgh1234567', '<masked:SHORT>1234567'],
    ['overlapping', [v('A', 'abcdefgh12345678'), v('B', '12345678ABCDEFGH')], '<abcdefgh12345678ABCDEFGH>', '<<masked:A><masked:B>>'],
    ['overlapping, the other begins first', [v('A', 'abcdefgh12345678'), v('B', '12345678ABCDEFGH')], '--12345678ABCDEFGH--', '--<masked:B>--'],
    ['one inside another', [v('IN', 'cdefgh12'), v('OUT', 'abcdefgh12345678')], 'abcdefgh12345678 cdefgh12', '<masked:OUT> <masked:IN>'],
    ['a value twice, back to back', [v('K', 'repeated-value')], 'repeated-valuerepeated-value', '<masked:K><masked:K>'],
    ['self-overlapping', [v('K', 'aaaaaaaaab')], 'aaaaaaaaaaaab', 'aaa<masked:K>'],
  ];
  for (const [what, list, input, want] of cases) {
    const text = Buffer.from(input);
    assert.equal(naive(text, list), want, `reference: ${what}`);
    const set = new MaskSet(list);
    for (let cut = 0; cut <= text.length; cut++) assert.equal(through(new Masker(set), [text.subarray(0, cut), text.subarray(cut)]), want, `${what} at ${cut}`);
    assert.equal(
      through(
        new Masker(set),
        [...text].map((b) => Buffer.from([b])),
      ),
      want,
      `${what} byte by byte`,
    );
  }
});

function v(name: string, value: string) {
  return { name, value: Buffer.from(value) };
}

/** A small seeded generator, so that a failure can be replayed. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

test('masker: agrees with the naive scan on random values, text and writes; never holds back more than could still match', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = prng(seed);
    // Values over a tiny alphabet, so that they overlap, nest and begin one another.
    const alphabet = 'ab=+/\n';
    const list: Secrets = Array.from({ length: 1 + r(4) }, (_, i) => ({
      name: `K${i}`,
      value: Buffer.from(Array.from({ length: MIN_MASK_BYTES + r(6) }, () => alphabet[r(alphabet.length)]).join('')),
    }));
    const forms = list.flatMap((s) => encodingsOf(s.value));
    // Text: forms, pieces of forms and noise.
    const parts: string[] = [];
    for (let k = r(8) + 1; k > 0; k--) {
      const f = forms[r(forms.length)];
      parts.push(r(3) ? f : f.slice(r(f.length)), 'abxy=\n'.slice(r(6), r(7)));
    }
    const text = Buffer.from(parts.join(''), 'latin1');
    const want = naive(text, list);
    const m = new Masker(list);
    let got = '';
    for (let at = 0; at < text.length;) {
      const next = Math.min(text.length, at + 1 + r(12));
      got += m.push(text.subarray(at, next)).toString('latin1');
      assert.ok(want.startsWith(got), `seed ${seed}: released output is final`);
      assert.ok(m.pending <= mayHold(text.subarray(0, next), forms), `seed ${seed}: held ${m.pending} bytes at ${next}`);
      at = next;
    }
    got += m.end().toString('latin1');
    assert.equal(got, want, `seed ${seed}`);
  }
});

test('masker: long writes (the automaton runs two lanes at once) agree with the naive scan, values anywhere, also at the middle', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = prng(seed * 7919);
    const list: Secrets = Array.from({ length: 1 + r(5) }, (_, i) => ({ name: `K${i}`, value: Buffer.from(`val-${seed}-${i}-${'q'.repeat(r(8))}`) }));
    const forms = list.flatMap((s) => encodingsOf(s.value));
    const size = 4096 + r(30000);
    const text = Buffer.alloc(size, 'lorem ipsum dolor sit amet, 0123456789\n');
    // Forms at random places, and one across the middle of the first write (where the second lane starts).
    const at = [...Array.from({ length: r(6) }, () => r(size)), (size >> 1) - r(20)];
    for (const p of at) Buffer.from(forms[r(forms.length)], 'latin1').copy(text, Math.min(p, size - 1));
    const want = naive(text, list);
    const cut = r(2) ? size : 2048 + r(size - 2048);
    assert.equal(through(new Masker(list), [text.subarray(0, cut), text.subarray(cut)]), want, `seed ${seed}`);
  }
});

test('masker: 50 values at once, byte by byte', () => {
  const many = Array.from({ length: 50 }, (_, i) => ({ name: `K${i}`, value: Buffer.from(`value-number-${i}-${'x'.repeat(i)}`) }));
  const text = Buffer.from(many.map((s) => `${s.name}=${s.value.toString()}\n`).join(''));
  const out = through(
    new Masker(many),
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
  assert.equal(m.pending, 6);
  assert.equal(m.push(Buffer.from('!')).toString(), 's3cr3t!');
  assert.equal(m.pending, 0);
  // A whole value that nothing longer continues is released, masked, at once.
  assert.equal(m.push(SECRET).toString(), '<masked:API_KEY>');
  assert.equal(m.end().length, 0);
});

test('masker: the pushed chunk may be zeroed as soon as push returns', () => {
  const m = new Masker(secrets);
  const chunk = Buffer.from('plain output\n');
  const out = m.push(chunk);
  chunk.fill(0);
  assert.equal(out.toString(), 'plain output\n');
});

test('masker: short values are reported, not masked; no values, no change', () => {
  const short = [{ name: 'PIN', value: Buffer.from('1234') }];
  assert.equal(through(new Masker(short), [Buffer.from('pin 1234 test')]), 'pin 1234 test');
  assert.deepEqual(Masker.unmasked([...short, ...secrets, { name: 'EMPTY', value: Buffer.alloc(0) }]), ['PIN']);
  assert.equal(MIN_MASK_BYTES, 8);
  assert.equal(through(new Masker([]), [Buffer.from('any'), Buffer.from('thing')]), 'anything');
  for (const f of encodingsOf(Buffer.from('12345678'))) assert.ok(f.length >= MIN_MASK_BYTES, f);
});

test('masker: a large set of long values (deep states beyond the dense table) still matches', () => {
  const big = Array.from({ length: 40 }, (_, i) => ({ name: `PEM${i}`, value: Buffer.from(`${i}:`.padEnd(3000, `key-material-${i}-`)) }));
  const set = new MaskSet(big);
  const text = Buffer.concat([Buffer.from('head '), Buffer.from(big[39].value.toString('base64')), Buffer.from(' mid '), big[7].value, Buffer.from(' tail')]);
  for (const cut of [0, 1, 100, 2999, 4000, text.length]) {
    assert.equal(through(new Masker(set), [text.subarray(0, cut), text.subarray(cut)]), 'head <masked:PEM39> mid <masked:PEM7> tail', `cut ${cut}`);
  }
});

test("masker: the addon's 4-gram filter gives exactly the unfiltered scan's stops and states (random values, text, starts and writes)", () => {
  const native = require('@tvault/native') as typeof import('@tvault/native');
  for (let seed = 1; seed <= 120; seed++) {
    const r = prng(seed * 104729);
    // Values over a small alphabet (4-grams shared between values and noise: false hits), some long.
    const alphabet = seed % 3 ? 'abc=+/\n' : 'ab';
    const list: Secrets = Array.from({ length: 1 + r(6) }, (_, i) => ({
      name: `K${i}`,
      value: Buffer.from(Array.from({ length: MIN_MASK_BYTES + r(seed % 4 ? 8 : 90) }, () => alphabet[r(alphabet.length)]).join('')),
    }));
    const a = new MaskSet(list).automaton!;
    assert.ok(a.grams && a.depth8, `seed ${seed}: the filter applies`);
    const forms = list.flatMap((s) => encodingsOf(s.value));
    const parts: string[] = [];
    // Every fifth seed: mostly the forms' first bytes (hits of the filter that lead nowhere: it
    // hands over to the lanes), a whole form now and then.
    const teasing = seed % 5 === 0;
    for (let size = 0; size < 6000 + r(20000);) {
      const f = forms[r(forms.length)];
      const p = teasing ? (r(40) ? f.slice(0, 4 + r(3)) : f) : r(4) ? f.slice(r(f.length), r(f.length + 1)) : f;
      const noise = teasing ? ' ' : r(2) ? 'xyz 012\n'.repeat(r(20)) : alphabet.repeat(r(5));
      parts.push(p, noise);
      size += p.length + noise.length;
    }
    const text = Buffer.from(parts.join(''), 'latin1');
    const warm = a.depth[a.depth.length - 1];
    // Every stop from `from` to the end, as the masker goes (after a stop, on from the next byte).
    const stops = (from: number, filtered: boolean) => {
      let s = 0;
      for (let k = 0; k < from; k++) s = a.step(s, a.cls[text[k]]);
      const seen: number[] = [];
      let i = from;
      const out = new Int32Array(1);
      while (i < text.length) {
        if (s >= a.dense) {
          s = a.step(s, a.cls[text[i++]]);
          seen.push(-i, s);
          continue;
        }
        const k = filtered
          ? native.maskScan(a.delta, a.cls, a.dense, a.classes, warm, text, i, s, out, a.grams, a.depth8)
          : native.maskScan(a.delta, a.cls, a.dense, a.classes, warm, text, i, s, out);
        s = out[0];
        seen.push(k, s);
        i = k + 1;
      }
      return seen;
    };
    for (const from of [0, 1, 2, 3, 5, r(64), r(text.length)]) {
      assert.deepEqual(stops(from, true), stops(from, false), `seed ${seed} from ${from}`);
    }
  }
});
