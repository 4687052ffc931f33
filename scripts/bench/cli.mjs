// Direct-unlock CLI benchmark (issue 2): KDF speed against the reference argon2 CLI, env of
// 1,000 secrets, set of 1,000 secrets, and cold start against `node -e 0`. Medians; ratios
// against baselines measured in this same run. Figures go to docs/PERFORMANCE.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { buildSync } from 'esbuild';
import { common } from '../bundles.mjs';
import { join } from 'node:path';
import { CHEAP_KDF, ROOT, compare, isMain, fmt, ratio, tempDir, timeMedian, timeOnce, tvaultArgs } from './lib.mjs';

const node = process.execPath;
const PASS = 'bench-passphrase';
const results = [];
const report = (name, value) => {
  results.push([name, value]);
  console.log(`${name.padEnd(58)} ${value}`);
};

function ensureArgon2Cli() {
  if (spawnSync('argon2', ['-h']).error) {
    console.log('installing the reference argon2 CLI from Debian…');
    execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq argon2 >/dev/null']);
  }
}

// deriveKek (packages/core/src/kdf.ts) bundled as the CLI's bundles are, with the CLI's
// kdf-worker.cjs beside it, in a directory inside node_modules so that argon2 and hash-wasm
// resolve as they do for the CLI. Made once per run.
let kdfBundle;
function kdfBundleDir() {
  if (kdfBundle) return kdfBundle;
  kdfBundle = mkdtempSync(join(ROOT, 'node_modules', '.tvault-bench-kdf-'));
  process.on('exit', () => rmSync(kdfBundle, { recursive: true, force: true }));
  buildSync({
    ...common,
    entryPoints: { kdf: join(ROOT, 'packages/core/src/kdf.ts'), backends: join(ROOT, 'packages/core/src/kdf-backends.ts') },
    outdir: kdfBundle,
    outExtension: { '.js': '.cjs' },
  });
  copyFileSync(join(ROOT, 'packages/cli/dist/kdf-worker.cjs'), join(kdfBundle, 'kdf-worker.cjs'));
  return kdfBundle;
}

// Runs one derivation exactly as the CLI does, through deriveKek (a native backend in the
// caller's thread, hash-wasm in the worker, whose start is then included), with the given
// backend (undefined: the default, the fastest that loads).
export function kdfScript(backend) {
  const dir = kdfBundleDir();
  const file = join(dir, `kdf-${backend ?? 'default'}.cjs`);
  writeFileSync(
    file,
    `require('./kdf.cjs').deriveKek(new TextEncoder().encode(${JSON.stringify(PASS)}), Buffer.alloc(16, 1), { alg: 'argon2id', memoryKiB: 65536, passes: 3, parallelism: 4 }, ${JSON.stringify(backend)})
  .then((k) => k.fill(0), (err) => { console.error(err.message); process.exit(1); });`,
  );
  return file;
}

/** The name of the backend deriveKek uses by default here. */
export function defaultKdfBackend() {
  return execFileSync(node, ['-e', `process.stdout.write(require(${JSON.stringify(join(kdfBundleDir(), 'backends.cjs'))}).argon2Backend().name)`]).toString();
}

/**
 * Argon2id at the vault default (64 MiB, 3 passes, 4 lanes, 32 bytes) through tvault's default
 * backend and hash-wasm (each net of a Node start measured in the same run) and the reference
 * argon2 CLI, interleaved. Also used by goals.mjs.
 */
export function kdfFigures({ runs = 9, warmup = 1 } = {}) {
  ensureArgon2Cli();
  const [dflt, wasm, ref, base] = compare(
    [
      { cmd: node, args: [kdfScript(undefined)] },
      { cmd: node, args: [kdfScript('hash-wasm')] },
      { cmd: 'argon2', args: ['saltsaltsaltsalt', '-id', '-m', '16', '-t', '3', '-p', '4', '-l', '32', '-r'], input: PASS },
      { cmd: node, args: ['-e', '0'] },
    ],
    { runs, warmup },
  );
  return { dflt: dflt - base, wasm: wasm - base, ref };
}

function kdf() {
  const { dflt, wasm, ref } = kdfFigures();
  const version = execFileSync(node, [
    '-e',
    `process.stdout.write(String(require(${JSON.stringify(join(ROOT, 'node_modules/argon2/package.json'))}).version))`,
  ]).toString();
  report(`Argon2id 64 MiB/3/4, tvault's default backend (${defaultKdfBackend()}; argon2 ${version}; net of node start)`, fmt(dflt));
  report('Argon2id 64 MiB/3/4 with hash-wasm, the fallback (net of node start)', fmt(wasm));
  report('Argon2id 64 MiB/3/4 with the argon2 CLI (C, reference)', fmt(ref));
  const r = dflt / ref;
  report('  default / argon2 CLI (goal <= 1.2x)', `${ratio(dflt, ref)} ${r <= 1.2 ? 'met' : 'MISSED'}`);
  report('  hash-wasm / argon2 CLI', ratio(wasm, ref));
}

function vaultWith(n, kdfArgs) {
  const { dir, cleanup } = tempDir();
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  timeOnce(node, tvaultArgs('init', ...kdfArgs), { env });
  if (n) {
    const file = join(dir, 'bulk.env');
    writeFileSync(file, Array.from({ length: n }, (_, i) => `KEY_${i}=value-${i}-${'x'.repeat(40)}\n`).join(''));
    timeOnce(node, tvaultArgs('import', file), { env });
  }
  return { dir, env, cleanup };
}

function envAndSet() {
  // With the default KDF: what a user sees on a direct unlock.
  const real = vaultWith(1000, []);
  const envReal = timeMedian(node, tvaultArgs('env'), { env: real.env, runs: 7 });
  report('env, 1,000 secrets, default KDF (direct unlock)', fmt(envReal));
  const file = join(real.dir, 'bulk.env');
  const importReal = timeMedian(node, tvaultArgs('import', file), { env: real.env, runs: 5, warmup: 1 });
  report('set of 1,000 secrets in one import, default KDF', fmt(importReal));
  real.cleanup();

  // With a cheap KDF: tvault's own cost, with the deliberate KDF delay taken out.
  const cheap = vaultWith(1000, CHEAP_KDF);
  const envCheap = timeMedian(node, tvaultArgs('env'), { env: cheap.env, runs: 11 });
  report('env, 1,000 secrets, KDF excluded (cheap-KDF vault)', fmt(envCheap));
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) timeOnce(node, tvaultArgs('set', `SET_${i}`, '--stdin'), { env: cheap.env, input: `v${i}` });
  report(
    'set of 1,000 secrets, one `tvault set` each, KDF excluded',
    `${((Date.now() - t0) / 1000).toFixed(1)} s (${((Date.now() - t0) / 1000).toFixed(1)} ms/set)`,
  );
  cheap.cleanup();
}

function coldStart() {
  const [base, version] = compare([
    { cmd: node, args: ['-e', '0'] },
    { cmd: node, args: tvaultArgs('--version') },
  ]);
  report('node -e 0', fmt(base));
  report('tvault --version (cold start)', fmt(version));
  report('  tvault --version / node -e 0', ratio(version, base));
}

if (isMain(import.meta.url)) {
  console.log(`tvault CLI benchmark — node ${process.version}, ${new Date().toISOString()}`);
  kdf();
  if (!process.argv.includes('--kdf-only')) coldStart();
  if (!process.argv.includes('--kdf-only')) envAndSet();
}
