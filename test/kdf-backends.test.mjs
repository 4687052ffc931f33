// The Argon2id backends (packages/core/src/kdf-backends.ts) must derive identical keys: a vault
// made where the native one loads has to open where only the portable one does. Each backend
// that loads here is checked against the reference implementation's CLI (Debian's `argon2`,
// libargon2) over a table of parameters, and against known answers computed by that CLI, so the
// check holds even where the CLI is missing.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { IN_CI, requireCommand, bundleSources } from './helpers.mjs';

let backends;
let core;
let mod;
let out;

before(async () => {
  const { require, dir } = await bundleSources('kdf', {
    backends: 'packages/core/src/kdf-backends.ts',
    core: 'packages/core/src/index.ts',
    'kdf-worker': 'packages/core/src/kdf-worker.ts',
  });
  mod = require('./backends.cjs');
  backends = mod.argon2Backends();
  core = require('./core.cjs');
  out = dir;
});

// [passphrase, salt (printable: the CLI takes it as an argument), memoryKiB, passes, lanes, key]
const KNOWN = [['password', 'somesalt', 65536, 2, 4, '1a9677b0afe81fda7b548895e7a1bfeb8668ffc19a530e37e088a668fab1c02a']];

const CASES = [
  ['correct horse battery staple', 'saltsaltsaltsalt', 65536, 3, 4], // tvault's default
  ['correct horse battery staple', 'saltsaltsaltsalt', 256, 1, 1], // the tests' cheap vaults
  ['pässwörd ✓', '0123456789abcdef', 1024, 2, 3],
  ['x', 'ABCDEFGHIJKLMNOP', 64, 4, 8], // the least memory for 8 lanes
  ['a'.repeat(120), 'zzzzzzzzzzzzzzzz', 4096, 1, 16], // the CLI reads at most 127 bytes
];

function reference(pass, salt, m, t, p) {
  const r = spawnSync('argon2', [salt, '-id', '-t', String(t), '-k', String(m), '-p', String(p), '-l', '32', '-r'], { input: pass, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const derive = async (b, pass, salt, m, t, p) =>
  Buffer.from(await b.derive({ passphrase: Buffer.from(pass), salt: Buffer.from(salt), memoryKiB: m, passes: t, parallelism: p })).toString('hex');

test('the portable backend always loads, and a native one loads on Linux x64', () => {
  const names = backends.map((b) => b.name);
  assert.equal(names.at(-1), 'hash-wasm');
  if (process.platform === 'linux' && process.arch === 'x64') assert.ok(names.length >= 2, `only ${names} loaded: the fast path is missing`);
});

test('every backend gives the known answers', async () => {
  for (const b of backends) {
    for (const [pass, salt, m, t, p, key] of KNOWN) assert.equal(await derive(b, pass, salt, m, t, p), key, `${b.name} m=${m} t=${t} p=${p}`);
  }
});

test('every backend agrees with the reference argon2 CLI', { timeout: 120_000 }, async (t) => {
  if (!requireCommand(t, 'argon2')) return;
  for (const c of CASES) {
    const want = reference(...c);
    for (const b of backends) assert.equal(await derive(b, ...c), want, `${b.name} on ${JSON.stringify(c.slice(1))}`);
  }
});

test('deriveKek gives the same key through each backend, and leaves the caller its passphrase', async () => {
  const salt = Buffer.alloc(16, 7);
  const p = { alg: 'argon2id', memoryKiB: 512, passes: 2, parallelism: 2 };
  const passphrase = Buffer.from('correct horse');
  const keys = [];
  for (const b of backends) keys.push((await core.deriveKek(passphrase, salt, p, b.name)).toString('hex'));
  assert.equal(new Set(keys).size, 1, keys.join(' '));
  assert.equal((await core.deriveKek(passphrase, salt, p)).toString('hex'), keys[0], 'the default backend');
  assert.deepEqual(passphrase, Buffer.from('correct horse'));
  await assert.rejects(core.deriveKek(passphrase, salt, p, 'nope'), /not available/);
});

test('a native default backend derives without the worker; hash-wasm needs it', async (t) => {
  if (backends[0].blocking) {
    // CI's `npm ci` builds argon2's binding for the Node it runs: a native backend must load there.
    if (IN_CI) throw new Error('no native Argon2 backend loads here, and CI is set (npm ci builds argon2)');
    return t.skip('no native backend loads here (set CI=true to make this a failure)');
  }
  // A kdf-worker.cjs that cannot run: the default (native) backend does not notice, hash-wasm fails closed.
  const broken = join(out, 'no-worker');
  mkdirSync(broken);
  copyFileSync(join(out, 'core.cjs'), join(broken, 'core.cjs'));
  writeFileSync(join(broken, 'kdf-worker.cjs'), 'throw new Error("no worker")');
  const brokenCore = createRequire(join(broken, 'entry.cjs'))('./core.cjs');
  const p = { alg: 'argon2id', memoryKiB: 512, passes: 2, parallelism: 2 };
  const want = (await core.deriveKek(Buffer.from('pw'), Buffer.alloc(16, 3), p, 'hash-wasm')).toString('hex');
  assert.equal((await brokenCore.deriveKek(Buffer.from('pw'), Buffer.alloc(16, 3), p)).toString('hex'), want);
  await assert.rejects(brokenCore.deriveKek(Buffer.from('pw'), Buffer.alloc(16, 3), p, 'hash-wasm'), /key derivation failed: no worker/);
});

test("argon2's bindings: none built for a newer N-API than this Node's (they segfault Node 20 as they load)", () => {
  const real = dirname(createRequire(import.meta.url).resolve('argon2/package.json'));
  const pkg = join(out, 'argon2-pkg');
  const release = join(pkg, 'build', 'Release', 'argon2.node');
  mkdirSync(join(pkg, 'build'), { recursive: true });
  const gypi = (v) => writeFileSync(join(pkg, 'build', 'config.gypi'), `{ "variables": { "napi_build_version": "${v}", "nodedir": "/usr" } }\n`);
  symlinkSync(join(real, 'prebuilds'), join(pkg, 'prebuilds'));
  // Node 20 (N-API 9): the compiled binding if built for 9 or less; never the prebuilt one (N-API 10).
  gypi(9);
  assert.deepEqual(mod.argon2BindingFiles(pkg, 20, 'linux', 'x64', 9), [release]);
  gypi(10);
  assert.deepEqual(mod.argon2BindingFiles(pkg, 20, 'linux', 'x64', 9), [], 'built by a newer Node');
  assert.deepEqual(mod.argon2BindingFiles(pkg, 22, 'linux', 'x64', 10), [release]);
  rmSync(join(pkg, 'build', 'config.gypi'));
  assert.deepEqual(mod.argon2BindingFiles(pkg, 20, 'linux', 'x64', 9), [], 'no record of what it was built for');
  // Node 24 (N-API 10): the compiled one first, then the prebuilt ones of this platform.
  gypi(10);
  const on24 = mod.argon2BindingFiles(pkg, 24, 'linux', 'x64', 10);
  assert.equal(on24[0], release);
  assert.ok(on24.length > 1 && on24.slice(1).every((f) => f.includes(join('prebuilds', 'linux-x64'))), on24.join(' '));
  // What this machine loaded.
  const loaded = Object.keys(createRequire(join(out, 'entry.cjs')).cache).filter((f) => f.endsWith('.node') && f.includes('argon2'));
  if (Number(process.versions.node.split('.')[0]) < 24) assert.ok(!loaded.some((f) => f.includes(join('argon2', 'prebuilds'))), loaded.join(' '));
});
