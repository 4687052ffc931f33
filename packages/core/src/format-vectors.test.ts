// The vault format against its written spec: test/vectors/binding.json (computed from
// docs/FORMAT.md by scripts/make-vectors.mjs, not by this code) must match what crypto.ts and
// audit.ts produce, byte for byte, and FORMAT.md's worked examples must match binding.json.
// A failure here means the format changed: if on purpose, run `npm run vectors` and review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditKeyHeader,
  dekHeader,
  headerBytes,
  legacyVerifierPlaintext,
  macUnder,
  open,
  openBound,
  sealBound,
  secretHeader,
  subkey,
  verifierPlaintext,
} from './crypto';
import { decodeManifest, encodeManifest } from './manifest';
import { type AuditRow, GENESIS, appendAuditRows, rowHash, rowMac, verifyAuditChain } from './audit';
import { openDb } from './store';
import { TvaultError } from './errors';

const ROOT = join(__dirname, '..', '..', '..');
const V = JSON.parse(readFileSync(join(ROOT, 'test/vectors/binding.json'), 'utf8'));
const FORMAT_MD = readFileSync(join(ROOT, 'docs/FORMAT.md'), 'utf8');
const nacl = require('tweetnacl') as typeof import('tweetnacl');

const hex = (s: string) => Buffer.from(s, 'hex');
const B = V.binding;
const VAULT_ID = hex(B.verifier.plaintext).subarray(19);
const PROJECT_UID = hex(B.dek.header).subarray(14, 30);

test('vectors: the code builds each binding header as the spec does', () => {
  assert.equal(verifierPlaintext(VAULT_ID).toString('hex'), B.verifier.plaintext);
  assert.equal(B.verifier.header, B.verifier.plaintext);
  assert.equal(legacyVerifierPlaintext(VAULT_ID).toString('hex'), B.legacyVerifier.plaintext);
  assert.equal(auditKeyHeader(VAULT_ID).toString('hex'), B.auditKey.header);
  assert.equal(dekHeader(PROJECT_UID, 'passphrase').toString('hex'), B.dek.header);
  assert.equal(secretHeader(PROJECT_UID, 'API_URL', 3).toString('hex'), B.value.header);
  assert.equal(hex(B.value.body).toString('utf8'), 'https://é.example/?a=1&b=2');
});

test('vectors: the keys derived from the KEK, the header MAC and a manifest are the bytes of the spec', () => {
  const S = V.structure;
  const kek = hex(B.verifier.key);
  assert.equal(subkey(kek, 'header').toString('hex'), S.headerKey);
  assert.equal(subkey(kek, 'manifest').toString('hex'), S.manifestKey);
  const h = headerBytes(VAULT_ID, Buffer.from(S.header.kdf, 'utf8'), hex(S.header.salt));
  assert.equal(h.toString('hex'), S.header.bytes);
  assert.equal(macUnder(kek, 'header', h).toString('hex'), S.header.mac);
  const entries = new Map<string, { version: number; live: boolean }>(
    (S.manifest.entries as Array<[string, number, number]>).map(([name, version, live]) => [name, { version, live: live === 1 }]),
  );
  // Given in another order: the encoding sorts entries by the bytes of their names.
  const body = encodeManifest({ uid: PROJECT_UID, name: S.manifest.project, entries: new Map([...entries].reverse()) });
  assert.equal(body.toString('hex'), S.manifest.body);
  assert.equal(macUnder(kek, 'manifest', body).toString('hex'), S.manifest.mac);
  const back = decodeManifest(body, 'the vector');
  assert.equal(back.name, S.manifest.project);
  assert.deepEqual([...back.entries], [...entries]);
});

test('vectors: the code opens each envelope to its body, and its seal has the same layout', () => {
  for (const [name, v] of Object.entries(B) as Array<[string, Record<string, string>]>) {
    const key = hex(v.key);
    assert.equal(open(key, hex(v.envelope))?.toString('hex'), v.plaintext, name);
    assert.equal(openBound(key, hex(v.header), hex(v.envelope), name).toString('hex'), v.body, name);
    // seal() picks a random nonce; given that nonce, the rest is the spec's secretbox.
    const mine = sealBound(key, hex(v.header), hex(v.body));
    assert.equal(mine.length, 1 + 24 + 16 + hex(v.plaintext).length, name);
    assert.equal(mine[0], 1);
    const expected = Buffer.from(nacl.secretbox(hex(v.plaintext), mine.subarray(1, 25), key));
    assert.equal(mine.subarray(25).toString('hex'), expected.toString('hex'), name);
    // ...and with the vector's nonce the spec's envelope is exactly the vector.
    const fixed = Buffer.concat([Buffer.from([1]), hex(v.nonce), nacl.secretbox(hex(v.plaintext), hex(v.nonce), key)]);
    assert.equal(fixed.toString('hex'), v.envelope, name);
  }
});

test('vectors: any change to an envelope, or the wrong row, is an integrity failure', () => {
  const v = B.value;
  const key = hex(v.key);
  const env = hex(v.envelope);
  const integrity = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (err: unknown) => err instanceof TvaultError && err.exitCode === 8 && re.test(err.message));
  for (const at of [0, 1, 24, 25, 40, 41, env.length - 1]) {
    const bad = Buffer.from(env);
    bad[at] ^= 0x01;
    integrity(() => openBound(key, hex(v.header), bad, 'K'), /altered or is not from this vault/);
  }
  integrity(() => openBound(key, hex(v.header), env.subarray(0, 40), 'K'), /altered/);
  integrity(() => openBound(hex(B.dek.key), hex(v.header), env, 'K'), /altered/);
  // The right key and an intact envelope, on another row: another version, name or project.
  integrity(() => openBound(key, secretHeader(PROJECT_UID, 'API_URL', 2), env, 'K'), /belongs to another key or project/);
  integrity(() => openBound(key, secretHeader(PROJECT_UID, 'API_URI', 3), env, 'K'), /belongs to another key or project/);
  integrity(() => openBound(key, secretHeader(Buffer.alloc(16), 'API_URL', 3), env, 'K'), /belongs to another key or project/);
  integrity(() => openBound(hex(B.dek.key), dekHeader(PROJECT_UID, 'x25519:abc'), hex(B.dek.envelope), 'D'), /belongs to another/);
});

test('vectors: audit rows hash and MAC as the spec says, chained from 32 zero bytes', () => {
  let prev: Buffer = GENESIS;
  for (const a of V.audit) {
    const r = a.row;
    assert.equal(a.prevHash, prev.toString('hex'));
    const canonical = JSON.stringify([r.id, r.ts, r.op, r.ok, r.project, r.keys, r.via, r.uid, r.pid, r.token_id, r.detail]);
    assert.equal(canonical, a.canonical, `row ${r.id}`);
    assert.equal(Buffer.from(canonical, 'utf8').toString('hex'), a.canonicalHex);
    const hash = rowHash(prev, r);
    assert.equal(hash.toString('hex'), a.hash, `row ${r.id}`);
    assert.equal(a.mac === null ? null : rowMac(hex(V.auditKey), hash).toString('hex'), a.mac, `row ${r.id}`);
    prev = hash;
  }
  // What the spec's rules say about the characters that encoders disagree on.
  const row2 = V.audit[1].canonicalHex;
  assert.ok(row2.includes(Buffer.from('zoé').toString('hex')) && row2.includes('c3a9'), 'é is raw UTF-8');
  assert.ok(!Buffer.from(V.audit[1].canonical).includes('\\u'), 'no \\u escapes');
  assert.match(V.audit[2].canonical, /"tab\\there \\"q\\" back\\\\slash\\nnew\u007f\u2028 😀 <&>"/);
});

/** fn with a new vault database of its own, removed afterwards. */
function withDb(fn: (db: ReturnType<typeof openDb>) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-vectors-'));
  const db = openDb(join(dir, 'vault.db'), { create: true });
  try {
    fn(db);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// appendAuditRows quotes a frozen names array once and hashes the row around it (the agent's
// getall); any other array is encoded with the row. Both must give the spec's bytes.
for (const frozen of [false, true]) {
  test(`vectors: appendAuditRows writes the spec's hashes and MACs (keys ${frozen ? 'frozen, quoted once' : 'not frozen'})`, () => {
    withDb((db) => {
      const rows = V.audit.map(({ row: r }: { row: AuditRow }) => {
        const keys = r.keys === null ? null : (JSON.parse(r.keys) as string[]);
        return {
          ev: { op: r.op, ok: r.ok === 1, project: r.project, keys: frozen && keys ? Object.freeze(keys) : keys, detail: r.detail, ts: r.ts },
          actor: { via: r.via as 'direct' | 'agent', uid: r.uid ?? undefined, pid: r.pid ?? undefined, tokenId: r.token_id ?? undefined },
        };
      });
      // Twice, so that the second pass finds the quoting remembered.
      for (const pass of [0, 1]) {
        db.exec('DELETE FROM audit');
        appendAuditRows(db, rows, hex(V.auditKey));
        const got = db.prepare<[], AuditRow>('SELECT * FROM audit ORDER BY id').all();
        assert.deepEqual(
          got.map((r) => [r.id, Buffer.from(r.hash).toString('hex'), Buffer.from(r.mac!).toString('hex')]),
          V.audit.map((a: { row: AuditRow; hash: string; mac: string | null }) => [
            a.row.id,
            a.hash,
            a.mac ?? rowMac(hex(V.auditKey), hex(a.hash)).toString('hex'),
          ]),
          `pass ${pass}`,
        );
      }
    });
  });
}

test('appendAuditRows: names that JSON escapes, frozen and not, hash as verifyAuditChain recomputes them from the stored column', () => {
  withDb((db) => {
    // Names that JSON escapes or encoders disagree on, in a frozen array and not: the chain the
    // reader recomputes from the stored column (rowHash) must match what was written.
    const hostile = ['"q"', 'back\\slash', 'tab\t\n', '\u2028\u2029', 'zoé 😀', '<&>', '\u007f', ''];
    appendAuditRows(
      db,
      [
        { ev: { op: 'getall', project: 'web', keys: Object.freeze(hostile.slice()) }, actor: { via: 'agent', uid: 0, pid: 1 } },
        { ev: { op: 'getall', project: null, keys: hostile }, actor: { via: 'agent', tokenId: 'ab' } },
      ],
      hex(V.auditKey),
    );
    const report = verifyAuditChain(db, hex(V.auditKey));
    assert.ok(report.ok && report.rows === 2 && report.unkeyed === 0, JSON.stringify(report));
  });
});

/** The `label:` blocks of FORMAT.md's generated section: label -> hex. */
function formatExamples(): Map<string, string> {
  const m = /<!-- vectors:begin[^\n]*-->\n```text\n([\s\S]*?)```\n<!-- vectors:end -->/.exec(FORMAT_MD);
  assert.ok(m, 'docs/FORMAT.md has its generated examples section');
  const out = new Map<string, string>();
  let label: string | undefined;
  for (const line of m[1].split('\n')) {
    const l = /^(\S.*):$/.exec(line);
    if (l) out.set((label = l[1]), '');
    else if (/^ {4}[0-9a-f]+$/.test(line) && label) out.set(label, out.get(label) + line.trim());
    else assert.equal(line, '', `unexpected line in FORMAT.md's examples: ${line}`);
  }
  return out;
}

test('vectors: the worked examples in docs/FORMAT.md are these vectors', () => {
  const ex = formatExamples();
  const want = new Map<string, string>([
    ['KEK', B.verifier.key],
    ['DEK', B.value.key],
    ['vault_id', VAULT_ID.toString('hex')],
    ['project uid', PROJECT_UID.toString('hex')],
    ['audit key', V.auditKey],
    ['argon2id salt', V.kdf.salt],
    ['argon2id KEK', V.kdf.kek],
  ]);
  want.set('header key (HKDF)', V.structure.headerKey);
  want.set('manifest key (HKDF)', V.structure.manifestKey);
  want.set('header MAC input H', V.structure.header.bytes);
  want.set('header MAC', V.structure.header.mac);
  want.set('manifest body', V.structure.manifest.body);
  want.set('manifest MAC', V.structure.manifest.mac);
  for (const [k, label] of [
    ['verifier', 'verifier'],
    ['legacyVerifier', 'legacy (v1) verifier'],
    ['auditKey', 'audit key'],
    ['dek', 'wrapped DEK'],
    ['value', 'value'],
  ]) {
    for (const part of ['nonce', 'plaintext', 'envelope']) want.set(`${label} ${part}`, B[k][part]);
  }
  for (const a of V.audit) {
    want.set(`audit row ${a.row.id} canonical`, a.canonicalHex);
    want.set(`audit row ${a.row.id} prev_hash`, a.prevHash);
    want.set(`audit row ${a.row.id} hash`, a.hash);
    if (a.mac) want.set(`audit row ${a.row.id} mac`, a.mac); // a row written without the key has none
  }
  assert.deepEqual([...ex.keys()].sort(), [...want.keys()].sort());
  for (const [label, h] of want) assert.equal(ex.get(label), h, label);
  // The prose quotes the rows too: the canonical text of rows 1 and 2, as written there.
  for (const a of V.audit.slice(0, 2)) assert.ok(FORMAT_MD.includes('`' + a.canonical + '`'), `FORMAT.md quotes row ${a.row.id}`);
});
