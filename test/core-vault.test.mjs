// Unit tests of packages/core where the CLI cannot reach: the envelope and its binding, the
// name and value rules at their limits, the KDF (parameters, worker thread), schema guards,
// and the Vault API's all-or-nothing writes. Core is bundled to CommonJS in `before`, under the
// repo's node_modules so that its external requires resolve, with kdf-worker.cjs beside it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { IN_CI, sql, tempDir, bundleSources } from './helpers.mjs';

const native = createRequire(import.meta.url)('../packages/native/index.js');
let core;
let crypto;
let argon2id;
let out;

before(async () => {
  let require;
  ({ dir: out, require } = await bundleSources('core', {
    core: 'packages/core/src/index.ts',
    crypto: 'packages/core/src/crypto.ts',
    'kdf-worker': 'packages/core/src/kdf-worker.ts',
  }));
  core = require('./core.cjs');
  crypto = require('./crypto.cjs');
  ({ argon2id } = require('hash-wasm'));
});

const CHEAP = { alg: 'argon2id', memoryKiB: 256, passes: 1, parallelism: 1 };
const pass = (s = 'pw') => Buffer.from(s);

function throwsCode(fn, code, re) {
  assert.throws(fn, (err) => {
    assert.equal(err.name, 'TvaultError', String(err));
    assert.equal(err.exitCode, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

async function rejectsCode(promise, code, re) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.exitCode, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('the envelope: fresh nonces, any altered byte or wrong key refused', () => {
  const key = crypto.randomKey();
  const msg = Buffer.from('hello');
  const a = crypto.seal(key, msg);
  const b = crypto.seal(key, msg);
  assert.notDeepEqual(a, b, 'a fresh nonce per seal');
  assert.equal(a.length, 1 + 24 + 16 + msg.length);
  assert.equal(a[0], crypto.ENVELOPE_VERSION);
  assert.deepEqual(crypto.open(key, a), msg);
  for (let i = 0; i < a.length; i++) {
    const bad = Buffer.from(a);
    bad[i] ^= 0x80;
    assert.equal(crypto.open(key, bad), null, `byte ${i} altered`);
  }
  assert.equal(crypto.open(crypto.randomKey(), a), null);
  assert.equal(crypto.open(key, a.subarray(0, 40)), null);
  assert.equal(crypto.open(key, Buffer.alloc(0)), null);
});

test('binding: a value opens only under its own project, name and version', () => {
  const dek = crypto.randomKey();
  const uid = Buffer.alloc(16, 1);
  const sealed = crypto.sealBound(dek, crypto.secretHeader(uid, 'API_KEY', 3), Buffer.from('v'));
  assert.deepEqual(crypto.openBound(dek, crypto.secretHeader(uid, 'API_KEY', 3), sealed, 'x'), Buffer.from('v'));
  const others = [
    crypto.secretHeader(Buffer.alloc(16, 2), 'API_KEY', 3),
    crypto.secretHeader(uid, 'API_KEX', 3),
    crypto.secretHeader(uid, 'API_KEY', 2),
    crypto.secretHeader(uid, 'API_KE', 3),
    crypto.dekHeader(uid, 'passphrase'),
  ];
  for (const h of others)
    throwsCode(() => crypto.openBound(dek, h, sealed, 'p/K'), 8, /integrity check failed for p\/K: the ciphertext belongs to another key or project/);
  throwsCode(() => crypto.openBound(crypto.randomKey(), others[0], sealed, 'p/K'), 8, /altered or is not from this vault/);
  // Names are length-prefixed, so a name cannot be shifted into the version field.
  assert.notDeepEqual(crypto.secretHeader(uid, 'A', 0x100), crypto.secretHeader(uid, 'A\u0000', 0));
});

test('names and values at their limits', () => {
  core.checkKeyName('_');
  core.checkKeyName('a'.repeat(255));
  core.checkKeyName('Z9_z');
  for (const bad of ['', '1A', 'A-B', 'A.B', 'A B', 'É', 'a'.repeat(256), 'A\n', '$A']) throwsCode(() => core.checkKeyName(bad), 2, /invalid key name/);
  core.checkProjectName('a');
  core.checkProjectName('p'.repeat(100));
  core.checkProjectName('web.front-end_2');
  for (const bad of ['', 'p'.repeat(101), '-x', '.x', 'a/b', 'a b', '..']) throwsCode(() => core.checkProjectName(bad), 2, /invalid project name/);
  core.checkValue(Buffer.alloc(0));
  core.checkValue(Buffer.alloc(core.MAX_VALUE_BYTES, 0x61));
  core.checkValue(Buffer.from('日本語 🔑'));
  throwsCode(() => core.checkValue(Buffer.alloc(core.MAX_VALUE_BYTES + 1, 0x61)), 2, /too large/);
  throwsCode(() => core.checkValue(Buffer.from([0x61, 0, 0x62])), 2, /NUL/);
  throwsCode(() => core.checkValue(Buffer.from([0xf0, 0x9f, 0x94])), 2, /UTF-8/);
});

test('KDF parameters: the default is 64 MiB / 3 passes / 4 lanes; weak and invalid ones are told apart', () => {
  assert.deepEqual(core.DEFAULT_KDF, { alg: 'argon2id', memoryKiB: 65536, passes: 3, parallelism: 4 });
  assert.equal(core.isWeak(core.DEFAULT_KDF), false);
  assert.equal(core.isWeak(CHEAP), true);
  assert.equal(core.isWeak({ ...core.DEFAULT_KDF, passes: 2 }), true);
  assert.equal(core.isWeak({ ...core.DEFAULT_KDF, memoryKiB: 1024 * 1024 }), false);
  for (const bad of [
    { ...CHEAP, alg: 'scrypt' },
    { ...CHEAP, passes: 0 },
    { ...CHEAP, parallelism: 0 },
    { ...CHEAP, memoryKiB: 7 },
    { ...CHEAP, memoryKiB: 1.5 },
    { ...CHEAP, parallelism: 17 },
  ]) {
    throwsCode(() => core.checkKdfParams(bad), 1, /invalid Argon2id parameters/);
  }
});

test('deriveKek is Argon2id with exactly the given parameters, and leaves the caller its buffer', async () => {
  const salt = Buffer.alloc(16, 7);
  const p = { alg: 'argon2id', memoryKiB: 512, passes: 2, parallelism: 2 };
  const passphrase = pass('correct horse');
  const kek = await core.deriveKek(passphrase, salt, p);
  assert.equal(kek.length, 32);
  assert.deepEqual(passphrase, pass('correct horse'), 'the caller still owns (and zeroes) its passphrase');
  const reference = await argon2id({
    password: pass('correct horse'),
    salt,
    memorySize: 512,
    iterations: 2,
    parallelism: 2,
    hashLength: 32,
    outputType: 'binary',
  });
  assert.deepEqual(new Uint8Array(kek), reference);
  for (const other of [
    { ...p, passes: 3 },
    { ...p, parallelism: 1 },
    { ...p, memoryKiB: 256 },
  ]) {
    assert.notDeepEqual(await core.deriveKek(passphrase, salt, other), kek);
  }
  assert.notDeepEqual(await core.deriveKek(passphrase, Buffer.alloc(16, 8), p), kek);
});

test('deriveKek with the default parameters runs off the event loop', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = Date.now();
  await core.deriveKek(pass(), Buffer.alloc(16), core.DEFAULT_KDF);
  const elapsed = Date.now() - started;
  clearInterval(timer);
  // A blocked loop would run the interval at most once; a free one runs it about every 5 ms.
  assert.ok(ticks >= Math.min(10, elapsed / 20), `${ticks} ticks in ${elapsed} ms`);
});

test('deriveKek fails (never hangs) when its worker ends without a key', { timeout: 10_000 }, async () => {
  // As when kdf-worker.cjs is caught half-written by an upgrade: before the fix, the promise
  // stayed pending, the CLI's event loop ran dry, and `tvault set` exited 0 having written nothing.
  const broken = join(out, 'broken');
  mkdirSync(broken);
  copyFileSync(join(out, 'core.cjs'), join(broken, 'core.cjs'));
  writeFileSync(join(broken, 'kdf-worker.cjs'), '');
  const brokenCore = createRequire(join(broken, 'entry.cjs'))('./core.cjs');
  // Only hash-wasm runs in the worker (a native backend derives in the caller's thread).
  await rejectsCode(brokenCore.deriveKek(pass(), Buffer.alloc(16), CHEAP, 'hash-wasm'), 1, /key derivation failed: the worker exited \(code 0\) without a key/);
  writeFileSync(join(broken, 'kdf-worker.cjs'), 'throw new Error("boom")');
  await rejectsCode(brokenCore.deriveKek(pass(), Buffer.alloc(16), CHEAP, 'hash-wasm'), 1, /key derivation failed: boom/);
});

test('Vault: unlock, wrong passphrase (6), values bound and all-or-nothing writes', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  const v = await core.Vault.init(vdir, pass('secret'), CHEAP);
  t.after(() => v.close());
  assert.equal(statSync(vdir).mode & 0o777, 0o700);
  await rejectsCode(v.unlock(pass('nope')), 6, /^wrong passphrase$/);
  const kek = await v.unlock(pass('secret'));
  assert.equal(v.kekMatches(kek), true);
  assert.equal(v.kekMatches(Buffer.alloc(32)), false);
  v.setSecrets(kek, 'default', [
    { name: 'A', value: pass('1') },
    { name: 'B', value: pass('2') },
  ]);
  // One bad entry refuses the whole batch, before anything is written.
  throwsCode(
    () =>
      v.setSecrets(kek, 'default', [
        { name: 'A', value: pass('changed') },
        { name: 'BAD-NAME', value: pass('x') },
      ]),
    2,
  );
  throwsCode(
    () =>
      v.setSecrets(kek, 'default', [
        { name: 'A', value: pass('changed') },
        { name: 'C', value: Buffer.from([0]) },
      ]),
    2,
  );
  assert.deepEqual(v.getSecret(kek, 'default', 'A'), pass('1'));
  assert.deepEqual(
    v.getSecrets(kek, 'default', { prefix: 'B' }).map((s) => [s.name, String(s.value)]),
    [['B', '2']],
  );
  assert.deepEqual(
    v.getSecrets(kek, 'default', { only: ['B', 'MISSING', 'A'] }).map((s) => s.name),
    ['A', 'B'],
  );
  throwsCode(() => v.getSecret(kek, 'default', 'MISSING'), 4);
  throwsCode(() => v.getSecret(kek, 'nope', 'A'), 4, /project 'nope' does not exist/);
  // A KEK from another vault opens nothing here.
  throwsCode(() => v.getSecret(Buffer.alloc(32, 1), 'default', 'A'), 8, /the key of project 'default'/);
  kek.fill(0);
});

test('Vault.open: an empty vault.db is refused and left alone; a newer schema is refused', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  (await core.Vault.init(vdir, pass(), CHEAP)).close();
  const db = join(vdir, 'vault.db');
  sql(db, 'PRAGMA user_version = 99');
  throwsCode(() => core.Vault.open(vdir), 1, /written by a newer tvault \(schema 99/);
  writeFileSync(db, '');
  throwsCode(() => core.Vault.open(vdir), 8, /is empty or not a tvault vault/);
  throwsCode(() => core.Vault.open(vdir, undefined, { readonly: true }), 8, /is empty or not a tvault vault/);
  assert.equal(statSync(db).size, 0, 'opening did not write a schema into it');
});

test('the audit chain detects an edited, missing or reordered row', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  const v = await core.Vault.init(vdir, pass(), CHEAP);
  for (const op of ['a', 'b', 'c']) v.audit({ op, project: 'default', keys: ['K'] });
  const intact = v.verifyAudit();
  assert.equal(intact.ok, true);
  assert.equal(intact.rows, 4);
  v.close();
  const db = join(vdir, 'vault.db');
  const check = () => {
    const w = core.Vault.open(vdir);
    try {
      return w.verifyAudit();
    } finally {
      w.close();
    }
  };
  // Reorder: swap the contents of rows 2 and 3 (ids stay in order, hashes travel with rows).
  sql(db, 'UPDATE audit SET id = -2 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = -2;');
  assert.equal(check().ok, false);
  assert.equal(check().id, 2);
  sql(db, 'UPDATE audit SET id = -2 WHERE id = 2; UPDATE audit SET id = 2 WHERE id = 3; UPDATE audit SET id = 3 WHERE id = -2;');
  assert.equal(check().ok, true);
  sql(db, 'UPDATE audit SET ts = ts + 1 WHERE id = 4');
  assert.deepEqual(check(), { ok: false, id: 4, reason: 'its content was changed' });
  sql(db, 'UPDATE audit SET ts = ts - 1 WHERE id = 4; DELETE FROM audit WHERE id = 4');
  assert.equal(check().ok, true, 'removing the newest rows cannot be seen from the chain alone (documented)');
  sql(db, 'DELETE FROM audit WHERE id = 1');
  assert.equal(check().ok, false);
});

test('the key cache of a long-lived reader: reused while valid, a changed wrapped key or another KEK derived again, wiped to zeros', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  const v = await core.Vault.init(vdir, pass(), CHEAP);
  t.after(() => v.close());
  const kek = await v.unlock(pass());
  v.setSecrets(kek, 'default', [{ name: 'A', value: pass('one') }]);
  v.enableKeyCache();
  const read = (k = kek) => v.readSecretUnaudited(k, 'default', 'A').toString();
  assert.equal(read(), 'one');
  const cache = v.keyCache; // private in TypeScript; looked at here to see what is kept and wiped
  const [dek] = [...cache.deks.values()].map((d) => d.dek);
  const manifestKey = cache.manifestKey;
  assert.equal(read(), 'one');
  assert.equal(v.keyCache, cache, 'the same KEK Buffer: the same cache');
  assert.equal([...cache.deks.values()][0].dek, dek, 'the DEK was not unwrapped again');

  // The same bytes in another Buffer: a new cache, the old one zeroed.
  const copy = Buffer.from(kek);
  assert.equal(read(copy), 'one');
  assert.notEqual(v.keyCache, cache);
  assert.ok(dek.every((b) => b === 0) && manifestKey.every((b) => b === 0), 'the replaced cache was zeroed');

  // Another process alters the wrapped DEK: the read checks it again and fails, not served from the cache.
  const db = join(vdir, 'vault.db');
  const good = sql(db, "SELECT hex(wrapped) FROM project_keys WHERE recipient = 'passphrase'");
  sql(db, `UPDATE project_keys SET wrapped = zeroblob(length(wrapped)) WHERE recipient = 'passphrase'`);
  throwsCode(() => read(copy), 8);
  sql(db, `UPDATE project_keys SET wrapped = X'${good}' WHERE recipient = 'passphrase'`);
  assert.equal(read(copy), 'one');
  // A wrong KEK is never answered from the cache of the right one.
  throwsCode(() => read(Buffer.alloc(32, 7)), 8);

  const kept = v.keyCache;
  assert.equal(read(copy), 'one');
  const keys = [v.keyCache.manifestKey, ...[...v.keyCache.deks.values()].map((d) => d.dek)];
  assert.notEqual(v.keyCache, kept);
  v.wipeKeyCache();
  assert.equal(v.keyCache, null);
  assert.ok(
    keys.every((k) => k.every((b) => b === 0)),
    'wipeKeyCache zeroes every cached key',
  );
});

test('the key cache keeps the audit secret: one unwrap for many batches, checked against its row, wiped to zeros', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  const v = await core.Vault.init(vdir, pass(), CHEAP);
  t.after(() => v.close());
  const kek = await v.unlock(pass());
  v.enableKeyCache();
  const actor = { via: 'agent', uid: process.getuid(), pid: process.pid };
  const batch = (n) =>
    assert.equal(
      v.tryAuditBatch(
        Array.from({ length: n }, () => ({ ev: { op: 'get', project: 'default', keys: ['A'] }, actor })),
        kek,
      ),
      true,
    );
  batch(1);
  const kept = v.keyCache.audit.secret;
  batch(3);
  assert.equal(v.keyCache.audit.secret, kept, 'not unwrapped again');
  assert.equal(v.verifyAudit(kek).ok, true, 'rows written with the cached secret verify');
  // Another process alters the sealed audit key: the next batch checks it again and fails.
  const db = join(vdir, 'vault.db');
  const good = sql(db, "SELECT hex(value) FROM meta WHERE key = 'audit_key'");
  sql(db, `UPDATE meta SET value = zeroblob(length(value)) WHERE key = 'audit_key'`);
  throwsCode(() => batch(1), 8);
  sql(db, `UPDATE meta SET value = X'${good}' WHERE key = 'audit_key'`);
  batch(1);
  const again = v.keyCache.audit.secret;
  v.wipeKeyCache();
  assert.ok(
    again.every((b) => b === 0),
    'wipeKeyCache zeroes the audit secret',
  );
  assert.equal(v.verifyAudit(kek).ok, true);
});

test('sealedSnapshot: a range opens into views of one Buffer; a bad row fails with the error readSecretsUnaudited gives, in every range', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vdir = join(dir, 'v');
  const v0 = await core.Vault.init(vdir, pass(), CHEAP);
  const kek = await v0.unlock(pass());
  const names = ['A', 'B', 'C', 'D', 'E'];
  v0.setSecrets(
    kek,
    'default',
    names.map((name) => ({ name, value: pass(`${name}-${'v'.repeat(name.charCodeAt(0) - 60)}`) })),
  );
  v0.close();
  const db = join(vdir, 'vault.db');
  const id = (k) => `(SELECT id FROM secrets WHERE name = '${k}')`;
  const blob = (k) => `(SELECT sealed FROM secret_versions WHERE secret_id = ${id(k)})`;
  const outcome = (fn) => {
    try {
      return fn().map((x) => `${x.name}=${x.value}`);
    } catch (err) {
      return `${err.exitCode} ${err.message}`;
    }
  };
  const read = () => {
    const v = core.Vault.open(vdir);
    try {
      v.enableKeyCache();
      v.enableReadCache();
      // As the agent does before each request: the read cache is kept under the same signature.
      v.checkReadCache('this file');
      const direct = outcome(() => v.readSecretsUnaudited(kek, 'default'));
      v.checkReadCache('this file');
      const snap = v.sealedSnapshot(kek, 'default');
      const ranged = outcome(() => [0, 2, 4].flatMap((at) => snap.open(at, at + 2)));
      const whole = outcome(() => snap.open(0, 9));
      snap.close();
      // The same with the agent's native opener (one call a range, libsodium and the header compare in C).
      // Without libsodium23 (outside CI only: .ci/run installs it) the native half has nothing to compare.
      assert.ok(native.secretboxLib() || !IN_CI, 'CI has the system libsodium, so the native opener is compared');
      if (!native.secretboxLib()) return { direct, ranged, whole, nativeRanged: ranged, nativeWhole: whole, nativeShell: [shellOf(direct), shellOf(direct)] };
      let calls = 0;
      const open = (...a) => (calls++, native.secretboxOpenRows(...a));
      core.useNativeRows({ open });
      try {
        v.checkReadCache('this file');
        const snap2 = v.sealedSnapshot(kek, 'default');
        const nativeRanged = outcome(() => [0, 2, 4].flatMap((at) => snap2.open(at, at + 2)));
        const nativeWhole = outcome(() => snap2.open(0, 9));
        assert.equal(snap2.openShell(0, 9), null, 'no shell lines without the native writer');
        core.useNativeRows({ open, shell: native.shellLines });
        // The same lines as the shell format of what open() gives, range by range, or the same error.
        const lines = (ranges) => {
          try {
            return ranges.map(([from, to]) => snap2.openShell(from, to).toString()).join('');
          } catch (err) {
            return `${err.exitCode} ${err.message}`;
          }
        };
        const nativeShell = [
          lines([[0, 9]]),
          lines([
            [0, 2],
            [2, 3],
            [3, 9],
          ]),
        ];
        snap2.close();
        assert.ok(calls > 0, 'the native opener opened the ranges');
        return { direct, ranged, whole, nativeRanged, nativeWhole, nativeShell };
      } finally {
        core.useNativeRows(null);
      }
    } finally {
      v.close();
    }
  };
  // `export NAME='value'` lines (the shell format, docs/PROTOCOL.md) of `NAME=value` outcomes, or the error as it is.
  const shellOf = (o) =>
    typeof o === 'string'
      ? o
      : o
          .map((e) => {
            const at = e.indexOf('=');
            return `export ${e.slice(0, at)}='${e.slice(at + 1)}'\n`; // these values hold no '
          })
          .join('');
  const intact = read();
  assert.deepEqual(intact.nativeShell, [shellOf(intact.direct), shellOf(intact.direct)], 'the native shell lines, whole and by ranges');
  assert.deepEqual(
    intact.direct,
    names.map((n) => `${n}=${n}-${'v'.repeat(n.charCodeAt(0) - 60)}`),
  );
  assert.deepEqual(intact.ranged, intact.direct);
  assert.deepEqual(intact.whole, intact.direct);
  assert.deepEqual(intact.nativeRanged, intact.direct);
  assert.deepEqual(intact.nativeWhole, intact.direct);
  {
    const v = core.Vault.open(vdir);
    t.after(() => v.close());
    const snap = v.sealedSnapshot(kek, 'default');
    const got = snap.open(1, 4);
    assert.ok(
      got.every((x) => x.value.buffer === got[0].value.buffer),
      'one allocation per range',
    );
    assert.ok(got[0].value.buffer.byteLength < 8192, 'its own, not a slice of the shared pool (8 KiB)');
    const sealedLen = (k) => Number(sql(db, `SELECT length(sealed) FROM secret_versions WHERE secret_id = ${id(k)}`));
    const ab = sealedLen('A') + sealedLen('B');
    for (const [from, maxBytes, maxRows, n] of [
      [0, 0, 9, 1], // at least one while any is left
      [0, 1e9, 2, 2],
      [3, 1e9, 9, 2],
      [5, 1e9, 9, 0],
      [0, ab, 9, 2],
      [0, ab - 1, 9, 1],
      [0, ab + sealedLen('C'), 9, 3],
    ])
      assert.equal(snap.fit(from, maxBytes, maxRows), n, `fit(${from}, ${maxBytes}, ${maxRows})`);
    snap.close();
  }
  const hexOf = (k) => sql(db, `SELECT hex(sealed) FROM secret_versions WHERE secret_id = ${id(k)}`);
  const setHex = (k, h) => sql(db, `UPDATE secret_versions SET sealed = X'${h}' WHERE secret_id = ${id(k)}`);
  const flipAt = (h, at) => h.slice(0, 2 * at) + (parseInt(h.slice(2 * at, 2 * at + 2), 16) ^ 0x80).toString(16).padStart(2, '0') + h.slice(2 * at + 2);
  const tampers = [
    ['C', "holds B's ciphertext", () => hexOf('B')],
    ['D', 'a byte of its box flipped', (h) => flipAt(h, 41)],
    ['D', 'a byte of its nonce flipped', (h) => flipAt(h, 5)],
    ['E', 'cut short', (h) => h.slice(0, 60)],
    ['B', 'of another envelope version', (h) => '02' + h.slice(2)],
    ['A', 'the first, with its MAC flipped', (h) => flipAt(h, 30)],
  ];
  for (const [key, what, edit] of tampers) {
    const before = hexOf(key);
    setHex(key, edit(before));
    const r = read();
    setHex(key, before);
    assert.match(String(r.direct), new RegExp(`^8 integrity check failed for default/${key} `), `${key} ${what}`);
    assert.equal(r.ranged, r.direct, `${key} ${what}`);
    assert.equal(r.whole, r.direct, `${key} ${what}`);
    assert.equal(r.nativeRanged, r.direct, `${key} ${what} (native)`);
    assert.equal(r.nativeWhole, r.direct, `${key} ${what} (native)`);
    assert.deepEqual(r.nativeShell, [r.direct, r.direct], `${key} ${what} (native shell lines)`);
  }
  assert.deepEqual(read(), intact, 'restored');
});

test('sealedSnapshot: the selection as it was, checked once, opened by ranges; its DEK outlives a cache change and is zeroed at close', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const v = await core.Vault.init(join(dir, 'v'), pass(), CHEAP);
  t.after(() => v.close());
  const kek = await v.unlock(pass());
  v.setSecrets(
    kek,
    'default',
    ['A', 'B', 'C', 'D'].map((name) => ({ name, value: pass(`${name}-1`) })),
  );
  v.enableKeyCache();
  const snap = v.sealedSnapshot(kek, 'default', { prefix: '' });
  assert.deepEqual(snap.names, ['A', 'B', 'C', 'D']);
  v.setSecrets(kek, 'default', [{ name: 'B', value: pass('B-2') }]); // after the snapshot: not in it
  v.wipeKeyCache(); // the cached DEK is zeroed; the snapshot has its own copy
  const text = (xs) => xs.map((x) => `${x.name}=${x.value}`);
  assert.deepEqual(text(snap.open(0, 2)), ['A=A-1', 'B=B-1']);
  assert.deepEqual(text(snap.open(2, 64)), ['C=C-1', 'D=D-1']);
  assert.deepEqual(snap.open(4, 8), []);
  snap.close();
  assert.deepEqual(snap.open(0, 9), [], 'closed: it holds nothing more');
  assert.deepEqual(text(v.sealedSnapshot(kek, 'default', { only: ['B', 'D'] }).open(0, 9)), ['B=B-2', 'D=D-1']);
});
