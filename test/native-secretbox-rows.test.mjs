// @tvault/native's secretboxOpenRows (src/secretbox_rows.c): a range of envelopes opened in one
// call into one Buffer, each with its MAC checked and its header compared, exactly as
// core/crypto.ts's openBound. Checked here against tweetnacl's secretbox (the format), with
// every refusal openBound makes, and with hostile tables: an offset or length outside its Buffer
// is a RangeError, never a read outside it. The agent's own use is tested through getall
// (test/agent-read-cache.test.mjs, test/agent-raw-reply.test.mjs, test/vectors.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { IN_CI } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require('../packages/native/index.js');
const nacl = require('tweetnacl');

const lib = native.secretboxLib();
// Outside CI a machine without libsodium23 skips these (the agent then opens a value at a time,
// which core-vault.test.mjs covers); in CI (.ci/run installs it) its absence is a failure.
const skip = lib || IN_CI ? false : 'no libsodium.so.23 on this machine (secretboxLib() is null): the agent opens a value at a time';

/** version 1 || nonce || secretbox(header || body), as core/crypto.ts's sealBound. */
function seal(key, header, body) {
  const nonce = randomBytes(24);
  return Buffer.concat([Buffer.from([1]), nonce, nacl.secretbox(Buffer.concat([header, body]), nonce, key)]);
}

/** Packs rows of {sealed, header} as core/vault.ts's packedRows does. */
function pack(rows) {
  const buf = Buffer.concat(rows.flatMap((r) => [r.sealed, r.header]));
  const table = new Uint32Array(4 * rows.length);
  let at = 0;
  rows.forEach((r, i) => {
    table.set([at, r.sealed.length, at + r.sealed.length, r.header.length], 4 * i);
    at += r.sealed.length + r.header.length;
  });
  return { buf, table };
}

const plainLen = (rows, from, to) => rows.slice(from, to).reduce((n, r) => n + Math.max(0, r.sealed.length - 41), 0);

function makeRows(key, lengths) {
  return lengths.map((len, i) => {
    const header = Buffer.from(`tvault/secret/v1\0uid-${i}:KEY_${i}`);
    const body = randomBytes(len);
    return { header, body, sealed: seal(key, header, body) };
  });
}

test('secretboxLib: the system libsodium loads here (the agent then opens a getall a range at a time)', { skip }, () => {
  assert.equal(lib, 'libsodium.so.23');
  assert.equal(native.secretboxLib(), lib, 'loaded once');
});

test('secretboxOpenRows: every range opens to the plaintexts side by side, exactly what tweetnacl opens', { skip }, () => {
  const key = randomBytes(32);
  const rows = makeRows(key, [0, 1, 15, 16, 17, 63, 64, 65, 200, 4096, 16384, 3]);
  const { buf, table } = pack(rows);
  for (const [from, to] of [
    [0, rows.length],
    [0, 0],
    [3, 4],
    [5, 9],
    [rows.length, rows.length],
  ]) {
    const out = Buffer.alloc(plainLen(rows, from, to) + 4, 0xee);
    assert.equal(native.secretboxOpenRows(key, buf, table, from, to, out.subarray(2, out.length - 2)), -1, `${from}..${to}`);
    const want = Buffer.concat(rows.slice(from, to).map((r) => Buffer.from(nacl.secretbox.open(r.sealed.subarray(25), r.sealed.subarray(1, 25), key))));
    assert.ok(out.subarray(2, out.length - 2).equals(want), `${from}..${to}`);
    assert.equal(out.subarray(0, 2).toString('hex') + out.subarray(-2).toString('hex'), 'eeeeeeee', 'nothing outside out is written');
  }
});

test('secretboxOpenRows: refuses what openBound refuses, naming the first row and why, with out zeroed', { skip }, () => {
  const key = randomBytes(32);
  const edits = [
    // [what, row, edit of that row, expected kind (0 altered, 1 another header)]
    ['a MAC byte flipped', 2, (r) => (r.sealed[30] ^= 1), 0],
    ['a nonce byte flipped', 1, (r) => (r.sealed[3] ^= 0x80), 0],
    ['the last box byte flipped', 3, (r) => (r.sealed[r.sealed.length - 1] ^= 1), 0],
    ['another envelope version', 0, (r) => (r.sealed[0] = 2), 0],
    ['cut short to 40 bytes', 2, (r) => (r.sealed = r.sealed.subarray(0, 40)), 0],
    ['cut short by one byte', 2, (r) => (r.sealed = r.sealed.subarray(0, r.sealed.length - 1)), 0],
    ['empty', 1, (r) => (r.sealed = Buffer.alloc(0)), 0],
    ['another row’s envelope', 2, (r, rows) => (r.sealed = rows[1].sealed), 1],
    ['a header byte changed', 3, (r) => (r.header = Buffer.concat([r.header.subarray(0, -1), Buffer.from([r.header.at(-1) ^ 1])])), 1],
    ['a header longer than the plaintext', 1, (r) => (r.header = Buffer.concat([r.header, r.body, Buffer.from('x')])), 1],
  ];
  for (const [what, at, edit, kind] of edits) {
    const rows = makeRows(key, [10, 20, 30, 40]);
    edit(rows[at], rows);
    const { buf, table } = pack(rows);
    const out = Buffer.alloc(plainLen(rows, 0, 4), 0xee);
    assert.equal(native.secretboxOpenRows(key, buf, table, 0, 4, out), 2 * at + kind, what);
    assert.ok(
      out.every((b) => b === 0),
      `${what}: out is zeroed`,
    );
    if (at > 0) {
      // The rows before it alone open.
      const before = Buffer.alloc(plainLen(rows, 0, at));
      assert.equal(native.secretboxOpenRows(key, buf, table, 0, at, before), -1, `${what}: the rows before it`);
    }
  }
  const rows = makeRows(key, [10, 20]);
  const { buf, table } = pack(rows);
  assert.equal(native.secretboxOpenRows(randomBytes(32), buf, table, 1, 2, Buffer.alloc(plainLen(rows, 1, 2))), 2, 'another key: the first row of the range');
});

test('secretboxOpenRows: arguments are checked, never trusted (a RangeError or TypeError, out zeroed, nothing read outside)', { skip }, () => {
  const key = randomBytes(32);
  const rows = makeRows(key, [10, 20, 30]);
  const { buf, table } = pack(rows);
  const n = plainLen(rows, 0, 3);
  const tableWith = (i, v) => {
    const t = table.slice();
    t[i] = v;
    return t;
  };
  const ranges = [
    ['from past to', [key, buf, table, 2, 1, Buffer.alloc(0)]],
    ['to past the rows', [key, buf, table, 0, 4, Buffer.alloc(n)]],
    ['a table of 4n+1 entries', [key, buf, new Uint32Array([...table, 0]), 0, 3, Buffer.alloc(n)]],
    ['a key of 31 bytes', [key.subarray(1), buf, table, 0, 3, Buffer.alloc(n)]],
    ['an envelope offset past packed', [key, buf, tableWith(4, buf.length + 1), 0, 3, Buffer.alloc(n)]],
    ['an envelope running past packed', [key, buf, tableWith(5, buf.length), 0, 3, Buffer.alloc(n + buf.length)]],
    ['an envelope length of 2^32-1', [key, buf, tableWith(1, 0xffffffff), 0, 3, Buffer.alloc(n)]],
    ['a header offset of 2^32-1', [key, buf, tableWith(2, 0xffffffff), 0, 3, Buffer.alloc(n)]],
    ['a header running past packed', [key, buf, tableWith(3, buf.length), 0, 3, Buffer.alloc(n)]],
    ['out one byte short', [key, buf, table, 0, 3, Buffer.alloc(n - 1, 0xee)]],
    ['out one byte long', [key, buf, table, 0, 3, Buffer.alloc(n + 1, 0xee)]],
    ['out empty', [key, buf, table, 0, 3, Buffer.alloc(0)]],
  ];
  for (const [what, args] of ranges) {
    assert.throws(() => native.secretboxOpenRows(...args), RangeError, what);
    assert.ok(
      args[5].every((b) => b === 0),
      `${what}: out is zeroed`,
    );
  }
  const types = [
    ['a string key', ['k'.repeat(32), buf, table, 0, 3, Buffer.alloc(n)]],
    ['a table of Int32', [key, buf, new Int32Array(table), 0, 3, Buffer.alloc(n)]],
    ['a Uint16Array out', [key, buf, table, 0, 3, new Uint16Array(n)]],
    ['a fractional from', [key, buf, table, 0.5, 3, Buffer.alloc(n)]],
    ['a negative to', [key, buf, table, 0, -1, Buffer.alloc(n)]],
    ['a string to', [key, buf, table, 0, '3', Buffer.alloc(n)]],
    ['too few arguments', [key, buf, table, 0, 3]],
  ];
  for (const [what, args] of types) assert.throws(() => native.secretboxOpenRows(...args), TypeError, what);
  // Random tables: an answer or a RangeError, never a crash.
  for (let k = 0; k < 2000; k++) {
    const t = new Uint32Array(12);
    for (let i = 0; i < 12; i++) t[i] = k % 3 ? Math.floor(Math.random() * (buf.length + 64)) : randomBytes(4).readUInt32LE();
    const out = Buffer.alloc(Math.floor(Math.random() * (n + 64)));
    try {
      const r = native.secretboxOpenRows(key, buf, t, 0, 3, out);
      assert.ok(Number.isInteger(r) && r >= -1 && r < 6, `answer ${r}`);
    } catch (err) {
      assert.ok(err instanceof RangeError, String(err));
    }
  }
});

/** The shell format's lines as docs/PROTOCOL.md gives them (env-format.ts's shellLinesBytes): the reference. */
function shellRef(rows, exp) {
  const quote = (v) => Buffer.from(v.toString('latin1').replaceAll("'", "'\\''"), 'latin1');
  return Buffer.concat(rows.flatMap(([name, v]) => [Buffer.from(`${exp ? 'export ' : ''}${name}='`), quote(v), Buffer.from("'\n")]));
}

/** plain, spans and the names' Buffer and spans for rows of [name, value], values after a gap each (as headers sit). */
function shellArgs(rows, gap = 3) {
  const plain = Buffer.concat(rows.flatMap(([, v]) => [Buffer.alloc(gap, 0xee), v]));
  const spans = new Uint32Array(2 * rows.length);
  const names = Buffer.from(rows.map(([n]) => n).join(''));
  const nameSpans = new Uint32Array(2 * rows.length);
  let at = 0;
  let nat = 0;
  rows.forEach(([n, v], i) => {
    spans.set([at + gap, v.length], 2 * i);
    nameSpans.set([nat, n.length], 2 * i);
    at += gap + v.length;
    nat += n.length;
  });
  return { plain, spans, names, nameSpans };
}

test('shellLines: byte for byte the shell format, for hostile values, with and without export, for any range', () => {
  const rows = [
    ['EMPTY', ''],
    ['Q', "'"],
    ['QQ', "''"],
    ['MID', "a'b"],
    ['SUBST', '$(touch /tmp/pwned) `id` ${HOME}'],
    ['NL', 'line1\nline2\r\n'],
    ['_U', 'é ü 日本'],
    ['a1', "'leading and trailing'"],
  ].map(([n, v]) => [n, Buffer.from(v)]);
  rows.push(['BYTES', Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
  rows.push(['RAND', randomBytes(5000)]);
  rows.push(['LONG', Buffer.from(`${"x'".repeat(40000)}'`)]);
  const { plain, spans, names, nameSpans } = shellArgs(rows);
  for (const exp of [true, false]) {
    assert.deepEqual(native.shellLines(plain, spans, names, nameSpans, 0, exp), shellRef(rows, exp), `all rows, export ${exp}`);
    for (const [from, to] of [
      [0, 0],
      [0, 1],
      [3, 7],
      [8, rows.length],
    ]) {
      const got = native.shellLines(plain, spans.subarray(2 * from, 2 * to), names, nameSpans, from, exp);
      assert.deepEqual(got, shellRef(rows.slice(from, to), exp), `rows ${from}..${to}, export ${exp}`);
    }
  }
  // 1,000 short random values, as a getall's step.
  const many = Array.from({ length: 1000 }, (_, i) => [`KEY_${i}`, randomBytes(i % 97)]);
  const m = shellArgs(many, 0);
  assert.deepEqual(native.shellLines(m.plain, m.spans, m.names, m.nameSpans, 0, true), shellRef(many, true));
});

test('shellLines: a span outside its Buffer, a name the shell would not take, or rows that do not match: a RangeError', () => {
  const rows = [
    ['A', Buffer.from('one')],
    ['B_2', Buffer.from("t'wo")],
  ];
  const { plain, spans, names, nameSpans } = shellArgs(rows);
  const bad = [
    ['a value past plain', [plain, new Uint32Array([0, plain.length + 1]), names, nameSpans, 0, true]],
    ['a value offset past plain', [plain, new Uint32Array([plain.length + 1, 0]), names, nameSpans, 0, true]],
    ['an offset that wraps', [plain, new Uint32Array([0xffffffff, 2]), names, nameSpans, 0, true]],
    ['a name past names', [plain, spans.subarray(0, 2), names, new Uint32Array([0, names.length + 1]), 0, true]],
    ['first past nameSpans', [plain, spans, names, nameSpans, 1, true]],
    ['more rows than names', [plain, new Uint32Array([0, 1, 0, 1, 0, 1]), names, nameSpans, 0, true]],
    ['an odd spans length', [plain, new Uint32Array([0, 1, 0]), names, nameSpans, 0, true]],
  ];
  for (const name of ['', '1A', 'A-B', 'A B', 'A=B', "A'", 'É', 'A\n']) {
    const n = Buffer.from(name);
    bad.push([`the name ${JSON.stringify(name)}`, [plain, spans.subarray(0, 2), n, new Uint32Array([0, n.length]), 0, true]]);
  }
  for (const [what, args] of bad) assert.throws(() => native.shellLines(...args), RangeError, what);
  const types = [
    ['a string plain', ['x', spans, names, nameSpans, 0, true]],
    ['Int32 spans', [plain, new Int32Array(spans), names, nameSpans, 0, true]],
    ['a string first', [plain, spans, names, nameSpans, '0', true]],
    ['a number exp', [plain, spans, names, nameSpans, 0, 1]],
    ['too few arguments', [plain, spans, names, nameSpans, 0]],
  ];
  for (const [what, args] of types) assert.throws(() => native.shellLines(...args), TypeError, what);
});
