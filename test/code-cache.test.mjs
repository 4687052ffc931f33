// The entry's V8 code cache (packages/cli/bin/tvault, scripts/code-cache.mjs) fails safe: a
// cache that is stale, corrupt, not the bundle owner's, writable by others, behind a symlink or
// made under other V8 flags is ignored, and tvault runs its bundle as if there were none.
//
// Each test runs a copy of the install (bin/tvault, dist/) in a temp dir. The control test shows
// what makes the others meaningful: a cache that passes every check is run by V8 as it is, even
// when its code is not the bundle's (V8 compares only the source's length). So the tests forge
// such a cache — the bundle's exact bytes with the data of a same-length variant whose
// `tvault --version` prints the help instead — and check that each refusal keeps it from running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, baseEnv, requireRoot, tempDir } from './helpers.mjs';
import { decodeCache, encodeCache } from '../scripts/code-cache.mjs';

const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

/** A copy of the install in a temp dir, with the build's cache and the forged one at hand. */
function install(t) {
  const { dir, cleanup } = tempDir('tvault-cc-');
  t.after(cleanup);
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'packages/cli/bin/tvault'), join(pkg, 'bin/tvault'));
  cpSync(join(ROOT, 'packages/cli/dist'), join(pkg, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules')); // @tvault/native, better-sqlite3...
  chmodSync(dir, 0o755);
  const entry = join(pkg, 'dist/tvault.cjs');
  const cache = `${entry}.cache`;
  const source = readFileSync(entry);
  const good = readFileSync(cache);
  assert.ok(decodeCache(good).source.equals(source), 'the build wrote a cache of this bundle');

  // The variant: same length, and whatever the command line, the full CLI is asked for --help.
  const variant = Buffer.from(source.toString('latin1').replaceAll('process.argv.slice(2)', "[ '--help' ].slice(0)"), 'latin1');
  assert.equal(variant.length, source.length);
  assert.ok(!variant.equals(source));
  mkdirSync(join(pkg, 'variant'));
  const variantEntry = join(pkg, 'variant/tvault.cjs');
  writeFileSync(variantEntry, variant);
  const made = spawnSync(process.execPath, [join(ROOT, 'scripts/code-cache.mjs'), variantEntry], { env: baseEnv(), encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const stale = readFileSync(`${variantEntry}.cache`);
  const forged = encodeCache(source, decodeCache(stale).data);

  const run = (args = ['--version'], nodeFlags = []) =>
    spawnSync(process.execPath, [...nodeFlags, join(pkg, 'bin/tvault'), ...args], { env: baseEnv({ TVAULT_DIR: join(dir, 'nowhere') }), encoding: 'utf8' });
  const put = (bytes, mode = 0o644) => {
    rmSync(cache, { force: true });
    writeFileSync(cache, bytes, { mode });
    chmodSync(cache, mode);
  };
  return { pkg, entry, cache, good, stale, forged, run, put };
}

/** What a run of the real bundle prints for --version. */
function assertNormal(r, what) {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} (a crash in V8?)`);
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  assert.equal(r.stdout.trim(), VERSION, what);
}

test('control: a cache that passes every check is what runs, even code that is not the bundle’s', (t) => {
  const i = install(t);
  assertNormal(i.run(), 'with the build’s own cache');
  i.put(i.forged);
  const r = i.run();
  assert.ok(r.status !== 0 || r.stdout.trim() !== VERSION, `the forged cache was not run: ${r.status} ${r.stdout}`);
});

test('the build’s cache is accepted by V8 as tvault is started (same flags, same version)', (t) => {
  const i = install(t);
  const data = join(i.pkg, 'data.bin');
  writeFileSync(data, decodeCache(i.good).data);
  const check = `const M=require('node:module'),{Script}=require('node:vm'),fs=require('node:fs');
    const s=new Script(M.wrap(fs.readFileSync(${JSON.stringify(i.entry)},'utf8')),{filename:${JSON.stringify(i.entry)},cachedData:fs.readFileSync(${JSON.stringify(data)})});
    process.stdout.write(String(s.cachedDataRejected))`;
  const r = spawnSync(process.execPath, ['-e', check], { env: baseEnv(), encoding: 'utf8' });
  assert.equal(r.stdout, 'false', r.stderr);
});

test('a stale cache (another build’s, of the same length) is ignored', (t) => {
  const i = install(t);
  i.put(i.stale);
  assertNormal(i.run(), 'stale cache');
});

test('a corrupt cache is ignored and never crashes V8', (t) => {
  const i = install(t);
  const { data } = decodeCache(i.forged);
  const headLen = i.forged.length - 2 * data.length;
  // One copy of V8's data damaged past V8's own header (which it would check): without the
  // second copy to compare with, V8 runs such data and crashes or misbehaves.
  const damaged = Buffer.from(i.good);
  for (let at = headLen + 256; at < headLen + data.length; at += 97) damaged[at] ^= 0x5a;
  const cases = {
    'one copy of the data damaged': damaged,
    truncated: i.good.subarray(0, i.good.length - 100),
    'one byte short of its second copy': i.good.subarray(0, i.good.length - 1),
    garbage: Buffer.alloc(5000, 0xa5),
    empty: Buffer.alloc(0),
    'a header whose lengths point past the end': Buffer.concat([i.good.subarray(0, 20), Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0])]),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    i.put(bytes);
    assertNormal(i.run(), what);
  }
  rmSync(i.cache);
  mkdirSync(i.cache); // a directory where the file should be
  assertNormal(i.run(), 'a directory');
});

test('a cache that others could have written, or behind a symlink, is ignored', (t) => {
  const i = install(t);
  i.put(i.forged, 0o664);
  assertNormal(i.run(), 'group-writable cache');
  i.put(i.forged, 0o646);
  assertNormal(i.run(), 'world-writable cache');
  i.put(i.forged);
  chmodSync(join(i.pkg, 'dist'), 0o777);
  assertNormal(i.run(), 'in a directory that others can write');
  chmodSync(join(i.pkg, 'dist'), 0o755);
  rmSync(i.cache);
  writeFileSync(join(i.pkg, 'elsewhere.cache'), i.forged, { mode: 0o644 });
  symlinkSync(join(i.pkg, 'elsewhere.cache'), i.cache);
  assertNormal(i.run(), 'a symlink to a cache');
});

test('a cache owned by another user than the bundle’s is ignored', (t) => {
  if (!requireRoot(t, 'chowns a file to another uid')) return;
  const i = install(t);
  i.put(i.forged);
  chownSync(i.cache, 65534, 65534);
  assertNormal(i.run(), 'cache of uid 65534');
  // and the bundle's owner is what counts, not the caller: the bundle given away too, the cache is its owner's again
  chownSync(i.entry, 65534, 65534);
  const r = i.run();
  assert.ok(r.status !== 0 || r.stdout.trim() !== VERSION, 'same owner as the bundle: used (the control)');
});

test('data made under other V8 flags is rejected by V8, and tvault runs normally', (t) => {
  const i = install(t);
  i.put(i.forged);
  assertNormal(i.run(['--version'], ['--stack-size=900']), 'other V8 flags');
});
