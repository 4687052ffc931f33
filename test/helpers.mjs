// Shared test helpers: run the built CLI as a user would, on throwaway vaults.
// Vaults made here use cheap Argon2id parameters (`init --kdf-memory 256 --kdf-passes 1`),
// an explicit, documented init option; the default is never weakened.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'packages/cli/bin/tvault');
export const PASS = 'correct horse battery staple';
export const CHEAP_KDF = ['--kdf-memory', '256', '--kdf-passes', '1', '--kdf-parallelism', '1'];

/** Values a shell, a JSON encoder or a terminal could misread, by key: what the agent's raw replies and the native front end must pass on byte for byte. */
export const HOSTILE_VALUES = {
  QUOTES: `it's "both" '' \\' \\`,
  NEWLINES: 'line one\nline two\r\n\nend\n',
  SUBST: '$(touch /tmp/tvault-pwned) `id` ${HOME} $HOME; rm -rf ~',
  UTF8: 'é ü 日本 😀 𝄞 \u2028 \u00a0',
  EMPTY: '',
  CTL: 'tab\tbell\u0007esc\u001b[31m del\u007f',
  ONE_QUOTE: "'",
};

/** The environment of a test process: no inherited TVAULT_* and no agent unless asked. */
export function baseEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TVAULT_')) delete env[k];
  delete env.NODE_EXTRA_CA_CERTS;
  return { ...env, ...extra };
}

/** Runs `tvault ...args` to completion. opts: env (merged onto baseEnv), input, cwd, timeout. */
export function tvault(args, opts = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: baseEnv(opts.env),
    input: opts.input ?? '',
    cwd: opts.cwd,
    timeout: opts.timeout ?? 30_000,
    encoding: opts.encoding ?? 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `tvault ...args` without waiting; returns the ChildProcess. */
export function tvaultSpawn(args, opts = {}) {
  return spawn(process.execPath, [BIN, ...args], { env: baseEnv(opts.env), cwd: opts.cwd, stdio: opts.stdio ?? 'pipe' });
}

/** A fresh temp dir; removed by the returned cleanup. */
export function tempDir(prefix = 'tvault-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A new vault in a temp dir, initialised non-interactively with cheap KDF parameters.
 * Returns { dir, vault, env, run(args, opts), cleanup } where run() targets this vault
 * with TVAULT_PASSPHRASE set and the agent disabled unless opts.env says otherwise.
 */
export function makeVault(t, { pass = PASS } = {}) {
  const { dir, cleanup } = tempDir();
  const vault = join(dir, 'vault');
  const env = { TVAULT_DIR: vault, TVAULT_PASSPHRASE: pass, TVAULT_NO_AGENT: '1' };
  const run = (args, opts = {}) => tvault(args, { ...opts, env: { ...env, ...opts.env } });
  const r = run(['init', ...CHEAP_KDF]);
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
  t?.after?.(cleanup);
  return { dir, vault, env, run, cleanup };
}

/** Asserts a one-line error on stderr with no stack trace. */
export function assertOneLineError(assert, r, code, pattern) {
  assert.equal(r.code, code, `exit code ${r.code} (want ${code}); stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `want one line of stderr, got: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace on stderr');
  if (pattern) assert.match(r.stderr, pattern);
}

/** Runs the sqlite3 CLI on a database (tampering tests); returns trimmed stdout, throws on failure. */
export function sql(db, query) {
  const r = spawnSync('sqlite3', [db, query], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs tvault in a new session (setsid): no controlling terminal, and stdin is a pipe. */
export function tvaultNoTty(args, opts = {}) {
  const r = spawnSync('setsid', ['-w', process.execPath, BIN, ...args], {
    env: baseEnv(opts.env),
    input: opts.input ?? '',
    cwd: opts.cwd,
    timeout: opts.timeout ?? 30_000,
    encoding: 'utf8',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts that the vault opens and that a project holds exactly `expected` ({KEY: value}). */
export function assertVaultIntact(assert, v, expected, project) {
  const r = v.run(['export', '--format', 'json', ...(project ? ['-p', project] : [])]);
  assert.equal(r.code, 0, `the vault no longer opens: ${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout), expected);
}

/** The directory holding the built `tvault` launcher: put it first on PATH for shell hooks. */
export const BIN_DIR = dirname(BIN);

/** True when CI says so (CI=true, as .ci/run sets it). */
export const IN_CI = !!process.env.CI && !/^(0|false|no)$/i.test(process.env.CI);

/**
 * Whether `name` is on PATH. When it is missing the test fails in CI, and is skipped (with the
 * reason) only outside CI; callers return when this returns false.
 */
export function requireCommand(t, name) {
  if (spawnSync('sh', ['-c', 'command -v "$1" >/dev/null', 'sh', name]).status === 0) return true;
  if (IN_CI) throw new Error(`${name} is not installed, and CI is set: install it (see .ci/run)`);
  t.skip(`${name} is not installed (set CI=true to make this a failure)`);
  return false;
}

/** Whether the test runs as root; tests that need it call requireRoot. */
export const IS_ROOT_USER = process.getuid?.() === 0;

/**
 * CI's unprivileged pass: .ci/run also runs the whole suite as an ordinary user (with
 * TVAULT_TEST_UNPRIVILEGED=1), after or beside a pass as root in which the root tests ran.
 */
export const UNPRIVILEGED_PASS = /^(1|true|yes)$/i.test(process.env.TVAULT_TEST_UNPRIVILEGED ?? '');

/**
 * For a test that needs root (chown to another uid, setpriv, tracing a non-dumpable process):
 * it fails in CI's root pass if it is not root, and is skipped, saying why, outside CI and in
 * CI's unprivileged pass; callers return when this returns false.
 */
export function requireRoot(t, why = 'needs root') {
  if (IS_ROOT_USER) return true;
  if (IN_CI && !UNPRIVILEGED_PASS) throw new Error(`this test ${why}, and CI is set (CI runs as root)`);
  t.skip(rootSkipReason(why));
  return false;
}

const rootSkipReason = (why) => `${why}: needs root (${UNPRIVILEGED_PASS ? "CI's root pass runs it" : 'set CI=true to make this a failure'})`;

/**
 * requireRoot for the options of test() or describe(): the reason to skip, or false to run (as
 * root, and in CI's root pass, where a test that is not root then fails as it should).
 */
export function rootOnly(why = 'needs root') {
  return !IS_ROOT_USER && (!IN_CI || UNPRIVILEGED_PASS) && rootSkipReason(why);
}

/**
 * Runs many `tvault` commands, `width` at a time, each like tvault() (opts: env, input,
 * encoding); resolves with their results in order. For tests that make many independent calls.
 */
export async function tvaultMany(calls, width = 4) {
  const results = new Array(calls.length);
  let next = 0;
  const one = ([args, opts = {}]) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(opts.env), cwd: opts.cwd });
      const out = [];
      const err = [];
      child.stdout.on('data', (d) => out.push(d));
      child.stderr.on('data', (d) => err.push(d));
      child.on('close', (code, signal) => {
        const enc = opts.encoding ?? 'utf8';
        const text = (chunks) => (enc === 'buffer' ? Buffer.concat(chunks) : Buffer.concat(chunks).toString(enc));
        resolve({ code, signal, stdout: text(out), stderr: text(err) });
      });
      child.stdin.end(opts.input ?? '');
    });
  const worker = async () => {
    while (next < calls.length) {
      const i = next++;
      results[i] = await one(calls[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, calls.length) }, worker));
  return results;
}

/**
 * Bundles TypeScript sources of this repo to CommonJS for an in-process test of a process-tier
 * file (the unit tier runs .ts directly through tsx). `entries` maps output names to paths
 * under the repo root. The bundle lives under node_modules so that its external requires
 * (SQLite, the KDFs, NaCl) resolve, and is removed when the test process exits. Returns the
 * directory and a require() for `./NAME.cjs` there.
 */
export async function bundleSources(name, entries) {
  const { build } = await import('esbuild');
  const out = mkdtempSync(join(ROOT, 'node_modules', `.tvault-${name}-test-`));
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([k, p]) => [k, join(ROOT, p)])),
    outdir: out,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['better-sqlite3', 'hash-wasm', 'argon2', 'tweetnacl', 'sodium-native', '@tvault/native'],
    logLevel: 'error',
  });
  return { dir: out, require: createRequire(join(out, 'entry.cjs')) };
}

/**
 * Runs a shell command line inside a pseudo-terminal (script(1)), answering prompts as they
 * appear: answers are [pattern, text] pairs, each written once its pattern matches the output
 * that came after the previous answer (so the same prompt twice takes two answers).
 */
export function inPty(cmdline, env, answers) {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', cmdline, '/dev/null'], { env: baseEnv(env) });
    let out = '';
    let from = 0;
    const pending = [...answers];
    child.stdout.on('data', (d) => {
      out += d;
      while (pending.length && pending[0][0].test(out.slice(from))) {
        from = out.length;
        child.stdin.write(pending.shift()[1]);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
