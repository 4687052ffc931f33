// Writes test/vectors/ and the worked examples of docs/FORMAT.md: `npm run vectors`.
//
// The hex vectors are computed here from the spec (docs/FORMAT.md), independently of the code
// in packages/core: the headers are concatenated by hand, the envelope is NaCl's secretbox with
// a fixed nonce, the audit row's canonical text comes from a small encoder written from the
// spec's rules. The unit tests then check that the code produces the same bytes. The vault is
// made by the built CLI, as a user would make one, and its expected values and audit head are
// read back here. Run it only when the format changes on purpose; review the diff.
import { spawnSync } from 'node:child_process';
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test/vectors');
const FORMAT_MD = join(ROOT, 'docs/FORMAT.md');
const coreRequire = createRequire(join(ROOT, 'packages/core/package.json'));
const nacl = coreRequire('tweetnacl');
const { argon2id } = coreRequire('hash-wasm');

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (first, n) => Buffer.from(Array.from({ length: n }, (_, i) => (first + i) & 0xff));
const u16 = (n) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const utf8 = (s) => Buffer.from(s, 'utf8');
const sha256 = (...parts) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
/** A distinct, reproducible nonce per vector: the first 24 bytes of SHA-256(label). */
const nonceFor = (label) => sha256(utf8(`tvault test vector nonce: ${label}`)).subarray(0, 24);
const envelope = (key, nonce, plaintext) => Buffer.concat([Buffer.from([1]), nonce, Buffer.from(nacl.secretbox(plaintext, nonce, key))]);

// ---- binding headers and envelopes ---------------------------------------------------------

const KEK = bytes(0x00, 32);
const VAULT_ID = bytes(0xa0, 16);
const PROJECT_UID = bytes(0xb0, 16);
const DEK = bytes(0xc0, 32);
const AUDIT_KEY = bytes(0xe0, 32);
const RECIPIENT = 'passphrase';
const KEY_NAME = 'API_URL';
const VERSION = 3;
const VALUE = 'https://é.example/?a=1&b=2';

function sealed(label, key, header, body = Buffer.alloc(0)) {
  const plaintext = Buffer.concat([header, body]);
  const nonce = nonceFor(label);
  return { key: hex(key), nonce: hex(nonce), header: hex(header), body: hex(body), plaintext: hex(plaintext), envelope: hex(envelope(key, nonce, plaintext)) };
}

const binding = {
  verifier: sealed('verifier', KEK, Buffer.concat([utf8('tvault/verifier/v2\0'), VAULT_ID])),
  legacyVerifier: sealed('legacy verifier', KEK, Buffer.concat([utf8('tvault/verifier/v1\0'), VAULT_ID])),
  auditKey: sealed('audit key', KEK, Buffer.concat([utf8('tvault/audit-key/v1\0'), VAULT_ID]), Buffer.concat([AUDIT_KEY, u32(1)])),
  dek: sealed('wrapped DEK', KEK, Buffer.concat([utf8('tvault/dek/v1\0'), PROJECT_UID, u16(utf8(RECIPIENT).length), utf8(RECIPIENT)]), DEK),
  value: sealed('value', DEK, Buffer.concat([utf8('tvault/secret/v1\0'), PROJECT_UID, u16(utf8(KEY_NAME).length), utf8(KEY_NAME), u32(VERSION)]), utf8(VALUE)),
};

// ---- keys derived from the KEK, the header MAC, a manifest (schema 3) ------------------------

const hkdf = (info) => Buffer.from(hkdfSync('sha256', KEK, Buffer.alloc(0), utf8(info), 32));
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
const HEADER_KEY = hkdf('tvault/header-key/v1');
const MANIFEST_KEY = hkdf('tvault/manifest-key/v1');
const KDF_JSON = utf8(JSON.stringify({ alg: 'argon2id', memoryKiB: 65536, passes: 3, parallelism: 4 }));
const SALT = bytes(0x50, 16);
const headerBody = Buffer.concat([utf8('tvault/header/v1\0'), VAULT_ID, u16(KDF_JSON.length), KDF_JSON, u16(SALT.length), SALT]);
// Entries sorted by the bytes of their names; 'OLD' is a deletion.
const ENTRIES = [
  ['API_URL', 3, 1],
  ['OLD', 2, 0],
  ['Zé', 1, 1],
].sort((a, b) => Buffer.compare(utf8(a[0]), utf8(b[0])));
const PROJECT_NAME = 'web';
const manifestBody = Buffer.concat([
  utf8('tvault/manifest/v1\0'),
  PROJECT_UID,
  u16(utf8(PROJECT_NAME).length),
  utf8(PROJECT_NAME),
  u32(ENTRIES.length),
  ...ENTRIES.flatMap(([name, version, live]) => [u16(utf8(name).length), utf8(name), u32(version), Buffer.from([live])]),
]);
const structure = {
  headerKey: hex(HEADER_KEY),
  manifestKey: hex(MANIFEST_KEY),
  header: { kdf: KDF_JSON.toString('utf8'), salt: hex(SALT), bytes: hex(headerBody), mac: hex(hmac(HEADER_KEY, headerBody)) },
  manifest: { project: PROJECT_NAME, entries: ENTRIES, body: hex(manifestBody), mac: hex(hmac(MANIFEST_KEY, manifestBody)) },
};

// ---- the audit chain -------------------------------------------------------------------------

/** The canonical string, from docs/FORMAT.md's rules (not JSON.stringify: checked against it below). */
function canonicalString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const lone =
      (c >= 0xd800 && c <= 0xdbff && !(s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff)) ||
      (c >= 0xdc00 && c <= 0xdfff && !(s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff));
    const short = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r' }[c];
    if (short) out += short;
    else if (c < 0x20 || lone) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return out + '"';
}
const canonicalValue = (v) => (v === null ? 'null' : typeof v === 'number' ? String(v) : canonicalString(v));
const FIELDS = ['id', 'ts', 'op', 'ok', 'project', 'keys', 'via', 'uid', 'pid', 'token_id', 'detail'];
const canonicalRow = (r) => `[${FIELDS.map((f) => canonicalValue(r[f])).join(',')}]`;

const ROWS = [
  {
    id: 1,
    ts: 1764547200000,
    op: 'set',
    ok: 1,
    project: 'web',
    keys: JSON.stringify(['API_URL', 'DB']),
    via: 'direct',
    uid: 1000,
    pid: 4242,
    token_id: null,
    detail: null,
    keyed: true,
  },
  {
    id: 2,
    ts: 1764547201234,
    op: 'backup',
    ok: 1,
    project: null,
    keys: null,
    via: 'direct',
    uid: 1000,
    pid: 4243,
    token_id: null,
    detail: '/home/zoé/backups/vault&1.db',
    keyed: false,
  },
  {
    id: 3,
    ts: 1764547202000,
    op: 'get',
    ok: 0,
    project: 'web',
    keys: JSON.stringify(['API_URL']),
    via: 'agent',
    uid: 0,
    pid: 77,
    token_id: '1a2b3c4d',
    detail: 'tab\there "q" back\\slash\nnew\u007f\u2028 😀 <&>',
    keyed: true,
  },
];
let prev = Buffer.alloc(32);
const audit = ROWS.map(({ keyed, ...r }) => {
  const text = canonicalRow(r);
  const json = JSON.stringify(FIELDS.map((f) => r[f]));
  if (text !== json) throw new Error(`the spec's encoder and JSON.stringify differ on row ${r.id}:\n${text}\n${json}`);
  const hash = sha256(prev, utf8(text));
  const out = {
    row: r,
    canonical: text,
    canonicalHex: hex(utf8(text)),
    prevHash: hex(prev),
    hash: hex(hash),
    mac: keyed ? hex(createHmac('sha256', AUDIT_KEY).update(hash).digest()) : null,
  };
  prev = hash;
  return out;
});

// ---- the KDF -------------------------------------------------------------------------------

const KDF = { passphrase: 'correct horse battery staple', salt: hex(bytes(0x50, 16)), memoryKiB: 256, passes: 1, parallelism: 1 };
const kek = await argon2id({
  password: utf8(KDF.passphrase),
  salt: Buffer.from(KDF.salt, 'hex'),
  memorySize: KDF.memoryKiB,
  iterations: KDF.passes,
  parallelism: KDF.parallelism,
  hashLength: 32,
  outputType: 'binary',
});

writeFileSync(
  join(OUT, 'binding.json'),
  JSON.stringify(
    {
      note: 'Generated by scripts/make-vectors.mjs from docs/FORMAT.md; see test/vectors/README.md.',
      auditKey: hex(AUDIT_KEY),
      kdf: { ...KDF, kek: hex(kek) },
      binding,
      structure,
      audit,
    },
    null,
    2,
  ) + '\n',
);

// ---- a small vault, made by the built CLI ----------------------------------------------------

const BIN = join(ROOT, 'packages/cli/bin/tvault');
const tmp = mkdtempSync(join(tmpdir(), 'tvault-vectors-'));
const vaultDir = join(tmp, 'vault');
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TVAULT_'))),
  TVAULT_DIR: vaultDir,
  TVAULT_PASSPHRASE: KDF.passphrase,
  TVAULT_NO_AGENT: '1',
};
function tvault(args, input = '') {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, input, cwd: tmp, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tvault ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const VALUES = {
  default: { API_URL: VALUE, DB_PASSWORD: 'p@ss "quoted" \\ back', MULTI: 'line 1\nline 2\ttab' },
  web: { TOKEN: '日本語 😀 &amp; é' },
};
try {
  tvault(['init', '--kdf-memory', String(KDF.memoryKiB), '--kdf-passes', String(KDF.passes), '--kdf-parallelism', String(KDF.parallelism)]);
  for (const [k, v] of Object.entries(VALUES.default)) tvault(['set', k, '--stdin', '--keep-newline'], v);
  tvault(['set', 'DB_PASSWORD', '--stdin'], 'replaced');
  tvault(['rollback', 'DB_PASSWORD', '--to', '1']);
  tvault(['set', 'OLD', '--stdin'], 'gone');
  tvault(['delete', 'OLD']);
  tvault(['projects', 'create', 'web']);
  for (const [k, v] of Object.entries(VALUES.web)) tvault(['set', '-p', 'web', k, '--stdin', '--keep-newline'], v);
  tvault(['backup', 'café&co.db']);
  tvault(['use', 'web']);
  // Schema 4: an identity of the vault, and the web project shared with it (a v2 manifest with
  // its share_mac, an age-wrapped DEK). Its private key is in vault.json, to read by identity.
  tvault(['identity', 'new', 'ci']);
  tvault(['projects', 'share', '-p', 'web', 'ci']);
  const identityKey = tvault(['identity', 'export', 'ci', '--force']).trim();
  const identityRecipient = tvault(['identity', 'show', 'ci']).trim();
  // One file, no WAL beside it: what is committed is the whole vault.
  const Database = coreRequire('better-sqlite3');
  const db = new Database(join(vaultDir, 'vault.db'));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const head = db.prepare('SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1').get();
  const unkeyed = db.prepare('SELECT COUNT(*) AS n FROM audit WHERE mac IS NULL').get().n;
  const kdf = JSON.parse(db.prepare("SELECT value FROM meta WHERE key = 'kdf'").get().value.toString());
  db.close();
  copyFileSync(join(vaultDir, 'vault.db'), join(OUT, 'vault.db'));
  writeFileSync(
    join(OUT, 'vault.json'),
    JSON.stringify(
      {
        note: 'The expected contents of vault.db. Generated by scripts/make-vectors.mjs; see test/vectors/README.md.',
        passphrase: KDF.passphrase,
        schemaVersion: 4,
        kdf,
        identity: { name: 'ci', recipient: identityRecipient, key: identityKey, shared: ['web'] },
        currentProject: 'web',
        values: VALUES,
        history: {
          project: 'default',
          key: 'DB_PASSWORD',
          versions: [
            [1, 'set'],
            [2, 'set'],
            [3, 'rollback'],
          ],
        },
        deleted: {
          project: 'default',
          key: 'OLD',
          versions: [
            [1, 'set'],
            [2, 'delete'],
          ],
        },
        audit: { rows: head.id, unkeyed, head: `${head.id}:${hex(head.hash).slice(0, 16)}`, headHash: hex(head.hash) },
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// ---- docs/FORMAT.md's worked examples -------------------------------------------------------

/** Hex in rows of 32 bytes, indented under its label: how FORMAT.md shows it (and the test reads it). */
const block = (label, h) => [`${label}:`, ...(h.match(/.{1,64}/g) ?? ['']).map((l) => `    ${l}`)].join('\n');
const examples = [
  '<!-- vectors:begin (generated by scripts/make-vectors.mjs; test/vectors/binding.json holds the same) -->',
  '```text',
  block('KEK', hex(KEK)),
  block('DEK', hex(DEK)),
  block('vault_id', hex(VAULT_ID)),
  block('project uid', hex(PROJECT_UID)),
  block('audit key', hex(AUDIT_KEY)),
  ...Object.entries({ verifier: 'verifier', legacyVerifier: 'legacy (v1) verifier', auditKey: 'audit key', dek: 'wrapped DEK', value: 'value' }).flatMap(
    ([k, label]) => [
      block(`${label} nonce`, binding[k].nonce),
      block(`${label} plaintext`, binding[k].plaintext),
      block(`${label} envelope`, binding[k].envelope),
    ],
  ),
  block('header key (HKDF)', structure.headerKey),
  block('manifest key (HKDF)', structure.manifestKey),
  block('header MAC input H', structure.header.bytes),
  block('header MAC', structure.header.mac),
  block('manifest body', structure.manifest.body),
  block('manifest MAC', structure.manifest.mac),
  ...audit.flatMap((a) => [
    block(`audit row ${a.row.id} canonical`, a.canonicalHex),
    block(`audit row ${a.row.id} prev_hash`, a.prevHash),
    block(`audit row ${a.row.id} hash`, a.hash),
    ...(a.mac ? [block(`audit row ${a.row.id} mac`, a.mac)] : []),
  ]),
  block('argon2id salt', KDF.salt),
  block('argon2id KEK', hex(kek)),
  '```',
  '<!-- vectors:end -->',
].join('\n');
const md = readFileSync(FORMAT_MD, 'utf8');
const re = /<!-- vectors:begin[\s\S]*?<!-- vectors:end -->/;
if (!re.test(md)) throw new Error('docs/FORMAT.md has no <!-- vectors:begin --> ... <!-- vectors:end --> section');
writeFileSync(
  FORMAT_MD,
  md.replace(re, () => examples),
);
console.log(`wrote ${OUT}/binding.json, vault.db, vault.json and the examples in docs/FORMAT.md`);
