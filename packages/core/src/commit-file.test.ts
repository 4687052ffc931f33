// The committable file format: the parser and writer (table-driven), and the cryptography
// against test/vectors/commit-file-v1.json, which a second implementation made from FORMAT.md
// (scripts/make-commit-file-vector.py: Python cryptography and the real age CLI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as age from './age';
import { canonicalContent, parseCommitFile, serializeCommitFile } from './commit-file-format';
import { computeMac, mergeEntries, openEntries, sealCommitFile, unlockCommitFile, type PlainEntry } from './commit-file';
import { ExitCode, TvaultError } from './errors';

const V = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'test/vectors/commit-file-v1.json'), 'utf8'));
const ID = Buffer.from(V.identity as string);
const plain = (o: Record<string, string>): PlainEntry[] => Object.entries(o).map(([name, v]) => ({ name, value: Buffer.from(v) }));
const asObj = (es: PlainEntry[]) => Object.fromEntries(es.map((e) => [e.name, e.value.toString()]));

function code(fn: () => unknown): number | string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof TvaultError) return err.exitCode;
    throw err;
  }
}
async function acode(fn: () => Promise<unknown>): Promise<number | string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof TvaultError) return err.exitCode;
    throw err;
  }
}

test('the vector from the second implementation parses, re-serializes byte for byte, authenticates and opens', async () => {
  const doc = parseCommitFile(V.file);
  assert.equal(serializeCommitFile(doc), V.file);
  const { fileKey, recipient } = await unlockCommitFile(doc, ID, 'the vector', age);
  assert.equal(recipient, V.recipient);
  assert.equal(fileKey.toString('hex'), V.file_key_hex);
  const opened = openEntries(doc, fileKey);
  assert.deepEqual(
    opened.map((e) => [e.name, e.value.toString('base64')]),
    V.values.map((v: { name: string; value_b64: string }) => [v.name, v.value_b64]),
  );
  assert.deepEqual(computeMac(doc, fileKey), doc.mac);
});

const lines = (V.file as string).split('\n').slice(0, -1);
const join_ = (ls: string[]) => `${ls.join('\n')}\n`;

// Structural damage: each is refused by the parser, before any key is used.
const PARSE_CASES: [string, string, number][] = [
  ['empty', '', ExitCode.INTEGRITY],
  ['truncated mid-line (no final newline)', V.file.slice(0, -10), ExitCode.INTEGRITY],
  ['no header', join_(lines.slice(1)), ExitCode.INTEGRITY],
  ['a newer format version', join_([lines[0].replace('v1', 'v2'), ...lines.slice(1)]), ExitCode.ERROR],
  ['a comment line', join_([...lines, '# note']), ExitCode.INTEGRITY],
  ['a blank line', join_([...lines.slice(0, 2), '', ...lines.slice(2)]), ExitCode.INTEGRITY],
  ['a duplicated key', join_([...lines, lines[2]]), ExitCode.INTEGRITY],
  ['a recipient line that does not parse', join_([lines[0], '#recipient age1notakey xyz', ...lines.slice(1)]), ExitCode.INTEGRITY],
  ['a recipient after the values', join_([lines[0], ...lines.slice(2), lines[1]]), ExitCode.INTEGRITY],
  ['no recipient', join_([lines[0], ...lines.slice(2)]), ExitCode.INTEGRITY],
  ['a quoted dotenv value', join_([...lines, 'X="plain"']), ExitCode.INTEGRITY],
  ['padded base64', join_([...lines.slice(0, 2), `${lines[2]}=`]), ExitCode.INTEGRITY],
  ['a value too short to be sealed', join_([...lines, 'X=AAAA']), ExitCode.INTEGRITY],
  ['mixed CRLF and LF', join_([`${lines[0]}\r`, ...lines.slice(1)]), ExitCode.INTEGRITY],
  ['a byte-order mark', `\ufeff${V.file}`, ExitCode.INTEGRITY],
  ['invalid UTF-8', Buffer.concat([Buffer.from(V.file), Buffer.from([0xff, 0x0a])]) as unknown as string, ExitCode.INTEGRITY],
];
for (const [name, text, want] of PARSE_CASES)
  test(`parse refuses: ${name}`, () =>
    assert.equal(
      code(() => parseCommitFile(text)),
      want,
    ));

test('a file with CRLF on every line (a Windows checkout) reads as the same lines', async () => {
  const doc = parseCommitFile(V.file.replace(/\n/g, '\r\n'));
  assert.equal(serializeCommitFile(doc), V.file);
  const { fileKey } = await unlockCommitFile(doc, ID, 'f', age);
  assert.equal(openEntries(doc, fileKey).length, 3);
});

// Parses, but does not authenticate: the MAC (or the value's AEAD) catches each.
const TAMPER_CASES: [string, string][] = [
  ['a deleted line', join_(lines.filter((_, i) => i !== 3))],
  ['two lines swapped', join_([lines[0], lines[1], lines[3], lines[2], lines[4]])],
  ['a value changed', join_([...lines.slice(0, 2), lines[2].replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), ...lines.slice(3)])],
  ['a value moved onto another name', join_([...lines.slice(0, 4), `EMPTY=${lines[2].split('=')[1]}`])],
  ['the MAC of another file', join_([`#tvault-file v1 mac=${'A'.repeat(43)}`, ...lines.slice(1)])],
];
for (const [name, text] of TAMPER_CASES)
  test(`tamper is exit 8: ${name}`, async () => {
    const doc = parseCommitFile(text);
    assert.equal(await acode(async () => openEntries(doc, (await unlockCommitFile(doc, ID, 'f', age)).fileKey)), ExitCode.INTEGRITY);
  });

test('a recipient added by someone without the file key is detected', async () => {
  const other = await age.generate();
  const r = await age.recipientOf(other);
  const wrap = await age.encrypt([r], Buffer.alloc(32, 7)); // they can only wrap a key of their own
  const doc = parseCommitFile(V.file);
  doc.recipients.push({ recipient: r, wrap });
  const text = serializeCommitFile(doc);
  assert.equal(await acode(() => unlockCommitFile(parseCommitFile(text), ID, 'f', age)), ExitCode.INTEGRITY);
  assert.equal(await acode(() => unlockCommitFile(parseCommitFile(text), Buffer.from(other), 'f', age)), ExitCode.INTEGRITY);
});

test('an identity that is not a recipient is exit 3; a malformed one exit 2, without echoing it', async () => {
  const doc = parseCommitFile(V.file);
  const stranger = Buffer.from(await age.generate());
  assert.equal(await acode(() => unlockCommitFile(doc, stranger, 'f', age)), ExitCode.LOCKED);
  const bad = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
  await assert.rejects(unlockCommitFile(doc, Buffer.from(bad), 'f', age), (err: TvaultError) => err.exitCode === ExitCode.USAGE && !err.message.includes(bad));
});

test('re-sealing after one change leaves every other line byte-identical', async () => {
  const doc = parseCommitFile(V.file);
  const { fileKey } = await unlockCommitFile(doc, ID, 'f', age);
  const values = asObj(openEntries(doc, fileKey));
  const same = await sealCommitFile({ secrets: plain(values), recipients: [V.recipient], previous: [{ doc, fileKey }] }, age);
  assert.equal(same.text, V.file, 'nothing changed: the file is byte-identical');
  const one = await sealCommitFile({ secrets: plain({ ...values, API_KEY: 'new' }), recipients: [V.recipient], previous: [{ doc, fileKey }] }, age);
  const a = V.file.split('\n');
  const b = one.text.split('\n');
  assert.deepEqual(
    a.map((l: string, i: number) => (l === b[i] ? '=' : 'x')),
    ['x', '=', 'x', '=', '=', '='],
    'only the header MAC and the API_KEY line differ',
  );
  assert.equal(one.rekeyed, false);
});

test('removing a recipient seals under a new file key; adding one keeps the others', async () => {
  const doc = parseCommitFile(V.file);
  const { fileKey } = await unlockCommitFile(doc, ID, 'f', age);
  const values = openEntries(doc, fileKey);
  const other = await age.generate();
  const r2 = await age.recipientOf(other);
  const added = await sealCommitFile({ secrets: values, recipients: [V.recipient, r2], previous: [{ doc, fileKey }] }, age);
  assert.equal(added.rekeyed, false);
  assert.ok(added.text.includes(lines[1]), 'the existing wrap is kept');
  const { fileKey: k2 } = await unlockCommitFile(parseCommitFile(added.text), Buffer.from(other), 'f', age);
  assert.ok(k2.equals(fileKey));
  const removed = await sealCommitFile({ secrets: values, recipients: [r2], previous: [{ doc: added.doc, fileKey }] }, age);
  assert.equal(removed.rekeyed, true);
  const { fileKey: k3 } = await unlockCommitFile(parseCommitFile(removed.text), Buffer.from(other), 'f', age);
  assert.ok(!k3.equals(fileKey));
  assert.equal(await acode(() => unlockCommitFile(parseCommitFile(removed.text), ID, 'f', age)), ExitCode.LOCKED);
});

const MERGE_CASES: [string, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, string[]][] = [
  ['different keys changed', { A: '1', B: '1' }, { A: '2', B: '1' }, { A: '1', B: '2' }, { A: '2', B: '2' }, []],
  ['one side adds, other deletes another', { A: '1', B: '1' }, { A: '1', B: '1', C: '3' }, { A: '1' }, { A: '1', C: '3' }, []],
  ['same change on both sides', { A: '1' }, { A: '2' }, { A: '2' }, { A: '2' }, []],
  ['same key changed differently', { A: '1', B: '1' }, { A: '2', B: '1' }, { A: '3', B: '2' }, { A: '2', B: '2' }, ['A']],
  ['deleted on one side, changed on the other', { A: '1' }, {}, { A: '3' }, { A: '3' }, ['A']],
  ['added on both sides differently', {}, { A: '1' }, { A: '2' }, { A: '1' }, ['A']],
];
for (const [name, o, a, b, want, conflicts] of MERGE_CASES)
  test(`merge: ${name}`, () => {
    const r = mergeEntries({ entries: plain(o), recipients: ['r1'] }, { entries: plain(a), recipients: ['r1', 'r2'] }, { entries: plain(b), recipients: [] });
    assert.deepEqual(asObj(r.secrets), want);
    assert.deepEqual(r.conflicts, conflicts);
    assert.deepEqual(r.recipients, ['r2'], 'ours added r2, theirs removed r1');
  });

test('canonical content is the version line and every body line', () => {
  const doc = parseCommitFile(V.file);
  assert.equal(canonicalContent(doc).toString(), `tvault-file v1\n${lines.slice(1).join('\n')}\n`);
});
