// The age side of identities (issue 12): the age code tvault uses (dist/age.cjs, the bundle core
// loads) passes the C2SP CCTV age vectors for X25519; it interoperates with the real age CLI in
// both directions; and neither the agent nor the fast path (`tvault get` via the agent) loads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { ROOT, assertOneLineError, makeVault, requireCommand, sql, tvault } from './helpers.mjs';
import { NO_PASS, sharedVault } from './identity-helpers.mjs';
import { startAgent } from './agent-helpers.mjs';

const require = createRequire(import.meta.url);
const DIST = join(ROOT, 'packages/cli/dist');
const age = require(join(DIST, 'age.cjs'));

/** A CCTV vector: its header lines and the age file after the blank line (inflated if compressed). */
function parseVector(bytes) {
  const buf = Buffer.from(bytes);
  const split = buf.indexOf('\n\n');
  const header = Object.fromEntries(
    buf
      .subarray(0, split)
      .toString('utf8')
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
  );
  let body = buf.subarray(split + 2);
  if (header.compressed === 'zlib') body = inflateSync(body);
  return { header, body };
}

test('CCTV: every X25519 age vector decrypts, or fails, as it says, through dist/age.cjs', async () => {
  const vectors = require('cctv-age');
  let checked = 0;
  let pq = 0;
  for (const [name, bytes] of Object.entries(vectors)) {
    const { header, body } = parseVector(bytes);
    if (header.armored === 'yes' || header.passphrase || !header.identity) continue; // tvault stores binary age files, to identities only
    if (header.identity.startsWith('AGE-SECRET-KEY-PQ-')) {
      // The hybrid type is refused before the library sees it, whatever the file.
      await assert.rejects(() => age.decrypt(header.identity, body), /post-quantum/, name);
      pq++;
      continue;
    }
    const res = await age.decrypt(header.identity, body);
    if (header.expect === 'success') {
      assert.equal(res.ok, true, `${name}: ${header.comment ?? ''}`);
      assert.equal(createHash('sha256').update(res.payload).digest('hex'), header.payload, name);
    } else {
      assert.equal(res.ok, false, `${name} (${header.expect}) decrypted`);
      if (header.expect === 'no match') assert.equal(res.reason, 'no-match', name);
    }
    checked++;
  }
  assert.ok(checked >= 60, `only ${checked} X25519 vectors checked`);
  assert.ok(pq >= 10);
});

test('age.cjs: decrypts what `age -r` encrypted, and `age -d` decrypts what it encrypted', async (t) => {
  if (!requireCommand(t, 'age')) return;
  const id = await age.generate();
  const recipient = await age.recipientOf(id);
  const r = spawnSync('age', ['-r', recipient], { input: 'from the age CLI' });
  assert.equal(r.status, 0, String(r.stderr));
  const res = await age.decrypt(id, r.stdout);
  assert.equal(res.ok && res.payload.toString(), 'from the age CLI');
  const mine = await age.encrypt([recipient], Buffer.from('from tvault'));
  const keyFile = join(makeVault(t).dir, 'id.key');
  writeFileSync(keyFile, id + '\n', { mode: 0o600 });
  const d = spawnSync('age', ['-d', '-i', keyFile], { input: mine });
  assert.equal(d.status, 0, String(d.stderr));
  assert.equal(d.stdout.toString(), 'from tvault');
});

test('an identity from age-keygen is imported, shared with and reads without the passphrase', (t) => {
  if (!requireCommand(t, 'age-keygen')) return;
  const v = makeVault(t);
  assert.equal(v.run(['set', 'TOKEN', '--stdin'], { input: 's3cret' }).code, 0);
  const keyFile = join(v.dir, 'key.txt');
  const gen = spawnSync('age-keygen', ['-o', keyFile], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  const recipient = /Public key: (age1\w+)/.exec(gen.stderr)[1];
  const imp = v.run(['identity', 'import', 'me', '-f', keyFile]);
  assert.equal(imp.code, 0, imp.stderr);
  assert.equal(imp.stdout.trim(), recipient, 'the recipient tvault derives is the one age-keygen printed');
  assert.equal(v.run(['projects', 'share', 'me']).code, 0);
  const r = v.run(['get', 'TOKEN', '--identity', keyFile], { env: NO_PASS });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 's3cret\n');
  // And shared by its age1… string, from a vault that does not hold the key at all.
  const other = makeVault(t);
  assert.equal(other.run(['set', 'X', '--stdin'], { input: 'x' }).code, 0);
  assert.equal(other.run(['projects', 'share', recipient]).code, 0);
  assert.equal(other.run(['get', 'X', '--identity', keyFile], { env: NO_PASS }).stdout, 'x\n');
});

test('`age -d` with an exported tvault identity opens a DEK wrap: the documented payload; `age -r` makes a wrap tvault reads', (t) => {
  if (!requireCommand(t, 'age')) return;
  const v = sharedVault(t);
  const wrapFile = join(v.dir, 'wrap.age');
  sql(v.db, `SELECT writefile('${wrapFile}', wrapped) FROM project_keys WHERE recipient = '${v.recipient}'`);
  const d = spawnSync('age', ['-d', '-i', v.keyFile, wrapFile]);
  assert.equal(d.status, 0, String(d.stderr));
  const payload = d.stdout;
  // tag || project uid (16) || u16 len || recipient || DEK (32): docs/FORMAT.md, "Recipients".
  const tag = Buffer.from('tvault/share/v1\0');
  const uid = Buffer.from(sql(v.db, "SELECT hex(uid) FROM projects WHERE name = 'default'"), 'hex');
  assert.deepEqual(payload.subarray(0, tag.length), tag);
  assert.deepEqual(payload.subarray(tag.length, tag.length + 16), uid);
  assert.equal(payload.readUInt16BE(tag.length + 16), v.recipient.length);
  assert.equal(payload.subarray(tag.length + 18, tag.length + 18 + v.recipient.length).toString(), v.recipient);
  assert.equal(payload.length, tag.length + 18 + v.recipient.length + 32);
  // The same payload, wrapped by the age CLI and put in ci's row: tvault reads with it.
  const rewrapped = spawnSync('age', ['-r', v.recipient], { input: payload });
  assert.equal(rewrapped.status, 0);
  writeFileSync(wrapFile, rewrapped.stdout);
  sql(v.db, `UPDATE project_keys SET wrapped = readfile('${wrapFile}') WHERE recipient = '${v.recipient}'`);
  assert.notEqual(sql(v.db, `SELECT hex(wrapped) FROM project_keys WHERE recipient = '${v.recipient}'`), '');
  const r = v.asCi(['export', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { A: 'a2', B: 'b1' });
  // An armored file is not what tvault writes: refused as tampering, not read.
  const armored = spawnSync('age', ['-a', '-r', v.recipient], { input: payload });
  writeFileSync(wrapFile, armored.stdout);
  sql(v.db, `UPDATE project_keys SET wrapped = readfile('${wrapFile}') WHERE recipient = '${v.recipient}'`);
  assertOneLineError(assert, v.asCi(['get', 'A']), 8, /not a valid age file/);
});

// ---- the hot paths load no age code --------------------------------------------------------

/** A --require hook that appends to TRACE every age module a process loads (synchronously: an agent is killed). */
function tracer(dir) {
  const file = join(dir, 'trace-age.cjs');
  writeFileSync(
    file,
    `const M = require('module'); const fs = require('fs'); const load = M._load;
     M._load = function (request, parent, isMain) {
       if (/age\\.cjs$|age-encryption/.test(request)) fs.appendFileSync(process.env.TRACE, process.pid + ' ' + request + '\\n');
       return load.apply(this, arguments);
     };`,
  );
  return file;
}

test('the agent and the fast path load none of the age code; a read by identity does (the tracer works)', async (t) => {
  for (const bundle of ['tvault.cjs', 'cli.cjs', 'agent.cjs']) {
    const text = readFileSync(join(DIST, bundle), 'utf8');
    assert.doesNotMatch(text, /age-encryption\.org\/v1|AGE-SECRET-KEY-PQ/, `${bundle} bundles age code`);
  }
  const v = sharedVault(t);
  const trace = join(v.dir, 'trace.txt');
  writeFileSync(trace, '');
  const env = { NODE_OPTIONS: `--require ${tracer(v.dir)}`, TRACE: trace };
  const agent = await startAgent(t, v, [], { env: { ...env, TVAULT_PASSPHRASE: v.env.TVAULT_PASSPHRASE } });
  const viaAgent = { ...env, TVAULT_NO_AGENT: undefined, TVAULT_PASSPHRASE: undefined };
  const get = tvault(['get', 'A'], { env: { TVAULT_DIR: v.vault, ...viaAgent } });
  assert.equal(get.code, 0, get.stderr);
  assert.equal(get.stdout, 'a2\n');
  const envr = tvault(['env', '--format', 'dotenv'], { env: { TVAULT_DIR: v.vault, ...viaAgent } });
  assert.equal(envr.code, 0, envr.stderr);
  // The full CLI reading by passphrase (no agent) loads none of it either.
  assert.equal(v.run(['export'], { env }).code, 0);
  assert.ok(agent.pid > 0);
  assert.equal(readFileSync(trace, 'utf8'), '', 'age code was loaded on the agent or the passphrase path');
  // Positive control: reading by identity loads age.cjs, and the tracer sees it.
  assert.equal(v.asCi(['get', 'A'], { env }).code, 0);
  assert.match(readFileSync(trace, 'utf8'), /age\.cjs/);
});

test('TVAULT_IDENTITY_KEY is opt-in and exclusive: set, it reads by identity even with a running agent and a passphrase', async (t) => {
  const v = sharedVault(t);
  await startAgent(t, v);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  // With the agent and the passphrase both there, the identity still decides: not a recipient.
  const r = tvault(['get', '-p', 'other', 'A'], { env: { TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: v.env.TVAULT_PASSPHRASE, TVAULT_IDENTITY_KEY: v.key } });
  assertOneLineError(assert, r, 3, /not a recipient of project 'other'/);
  const ok = tvault(['get', 'A'], { env: { TVAULT_DIR: v.vault, TVAULT_IDENTITY_KEY: v.key } });
  assert.equal(ok.stdout, 'a2\n');
  assert.match(sql(v.db, 'SELECT via FROM audit ORDER BY id DESC LIMIT 1'), /^identity:age1/);
});
