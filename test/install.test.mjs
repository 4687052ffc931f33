// The packed CLI as a user installs it: `npm run pack:cli` makes one tarball, and
// `npm install -g --prefix DIR` installs it with no registry (a dead one, an empty cache,
// --offline) and no root; the installed `tvault` then runs from DIR/bin, away from the repo:
// init, set, get, and a read through the agent. Once with the binaries in the tarball, once with
// every native module rebuilt from source (what happens under another Node), which must find
// the installing Node's own headers instead of downloading them.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { CHEAP_KDF, PASS, ROOT, requireCommand, tempDir } from './helpers.mjs';
import { exited, waitFor } from './agent-helpers.mjs';

/**
 * An environment with nothing of the surrounding npm run (no npm_config_*, no root ~/.npmrc:
 * HOME is a fresh dir, so node-gyp's cache is empty too), this Node first on PATH, and a
 * registry that refuses every connection.
 */
function isolatedEnv(home, extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|TVAULT_|NODE_OPTIONS$|INIT_CWD$)/i.test(k)) env[k] = v;
  return {
    ...env,
    HOME: home,
    XDG_CACHE_HOME: join(home, '.cache'),
    PATH: [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)].join(delimiter),
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_cache: join(home, 'npm-cache'),
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024, ...opts });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

// The CLI is packed once for the file (what `npm run pack:cli` runs), into a temp dir.
let tarball;
const packDir = tempDir('tvault-pack-test-');
after(packDir.cleanup);
function packOnce() {
  if (tarball) return tarball;
  const r = run(process.execPath, [join(ROOT, 'scripts/pack-cli.mjs'), '--out', packDir.dir], { cwd: ROOT });
  assert.equal(r.code, 0, `pack-cli failed: ${r.stderr}`);
  tarball = r.stdout.trim().split('\n').pop();
  assert.ok(existsSync(tarball), `no tarball at ${tarball}`);
  return tarball;
}

/** Installs the tarball under a fresh prefix; returns { bin, env, install } for the installed CLI. */
function installTarball(t, extraEnv = {}) {
  const file = packOnce();
  const { dir, cleanup } = tempDir('tvault-install-test-');
  t.after(cleanup);
  const home = join(dir, 'home');
  mkdirSync(home);
  const env = isolatedEnv(home, extraEnv);
  const prefix = join(dir, 'prefix');
  const install = run('npm', ['install', '--global', '--prefix', prefix, '--foreground-scripts', file], { env, cwd: home });
  assert.equal(install.code, 0, `npm install -g failed (${install.code}):\n${install.stdout}\n${install.stderr}`);
  const bin = join(prefix, 'bin', 'tvault');
  assert.ok(lstatSync(bin).isSymbolicLink(), `${bin} is not npm's bin link`);
  return { bin, home, env: { ...env, TVAULT_DIR: join(home, 'vault') }, install };
}

/** init / set / get with the installed CLI, run from its home (not the repo). */
function assertWorks(cli) {
  const sh = (args, opts = {}) => run(cli.bin, args, { env: { ...cli.env, TVAULT_PASSPHRASE: PASS, ...opts.env }, cwd: cli.home, input: opts.input ?? '' });
  let r = sh(['init', ...CHEAP_KDF]);
  assert.equal(r.code, 0, `init: ${r.stderr}`);
  r = sh(['set', 'API_TOKEN', '--stdin'], { input: 'tok-123 with spaces' });
  assert.equal(r.code, 0, `set: ${r.stderr}`);
  r = sh(['get', 'API_TOKEN']);
  assert.equal(r.code, 0, `get: ${r.stderr}`);
  assert.equal(r.stdout, 'tok-123 with spaces\n');
  r = sh(['--version']);
  assert.equal(r.code, 0, `--version: ${r.stderr}`);
}

/** Starts the installed agent, reads through it with no passphrase, stops it. */
async function assertAgentWorks(t, cli) {
  const env = { ...cli.env, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(cli.home, 'state') };
  const agent = spawn(cli.bin, ['agent', 'start', '--idle', '2m'], { env, cwd: cli.home, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = exited(agent);
  t.after(() => agent.exitCode === null && agent.signalCode === null && agent.kill('SIGKILL'));
  let stderr = '';
  agent.stderr.on('data', (d) => (stderr += d));
  await waitFor(() => existsSync(join(cli.env.TVAULT_DIR, 'agent.sock')) || agent.exitCode !== null, { timeout: 30_000, what: 'the agent socket' });
  assert.equal(agent.exitCode, null, `the agent exited: ${stderr}`);
  const noPass = { ...cli.env };
  delete noPass.TVAULT_PASSPHRASE;
  const get = run(cli.bin, ['get', 'API_TOKEN'], { env: noPass, cwd: cli.home, input: '' });
  assert.equal(get.code, 0, `get through the agent: ${get.stderr}`);
  assert.equal(get.stdout, 'tok-123 with spaces\n');
  // bin/tvault is the native front end: it answered with no node on PATH at all.
  const noNode = run(cli.bin, ['get', 'API_TOKEN'], { env: { ...noPass, PATH: '/nonexistent' }, cwd: cli.home, input: '' });
  assert.deepEqual([noNode.code, noNode.stdout], [0, 'tok-123 with spaces\n'], noNode.stderr);
  // The JS CLI's fast path (bin/tvault-node) found the addon by its fixed place in the install
  // (src/native-addon.ts), with no node_modules walk for it (NODE_DEBUG=module logs each lookup of a package name).
  const launcher = join(dirname(realpathSync(cli.bin)), 'tvault-node');
  const traced = run(process.execPath, [launcher, 'get', 'API_TOKEN'], { env: { ...noPass, NODE_DEBUG: 'module' }, cwd: cli.home, input: '' });
  assert.equal(traced.stdout, 'tok-123 with spaces\n', traced.stderr);
  assert.match(traced.stderr, /tvault_native\.node/, 'the trace shows the addon being loaded');
  assert.doesNotMatch(traced.stderr, /REQUEST @tvault\/native /, 'the addon required by its package name');
  const stop = run(cli.bin, ['agent', 'stop'], { env: noPass, cwd: cli.home });
  assert.equal(stop.code, 0, `agent stop: ${stop.stderr}`);
  assert.equal((await done).code, 0, `the agent's exit (stderr: ${stderr})`);
}

test('the packed CLI installs offline with a user prefix, and init/set/get/agent work from it', async (t) => {
  if (!requireCommand(t, 'npm')) return;
  const cli = installTarball(t);
  assert.match(cli.install.stdout, /better-sqlite3: the prebuilt binary loads/);
  const installed = join(dirname(dirname(cli.bin)), 'lib', 'node_modules', '@tvault', 'cli');
  // Everything it runs is inside the install: the bundles and their bundled dependencies.
  for (const dep of ['better-sqlite3', '@tvault/native', 'tweetnacl']) assert.ok(existsSync(join(installed, 'node_modules', dep, 'package.json')), dep);
  assert.ok(!readdirSync(join(installed, 'dist')).some((f) => f.endsWith('.ts')), 'only built files');
  // Prebuilt binaries only for the platforms the package installs on, and only Node's.
  const prebuilds = join(installed, 'node_modules', 'sodium-native', 'prebuilds');
  const platforms = readdirSync(prebuilds);
  assert.ok(platforms.includes(`${process.platform}-${process.arch}`), `this platform's prebuild is kept: ${platforms}`);
  assert.deepEqual(
    platforms.filter((p) => !/^(linux|darwin)-/.test(p)),
    [],
    'no prebuilds for other systems',
  );
  for (const p of platforms)
    assert.deepEqual(
      readdirSync(join(prebuilds, p)).filter((f) => f.endsWith('.bare')),
      [],
      `no Bare runtime binaries in ${p}`,
    );
  // The native front end ran at install and took bin/tvault's place, before the JS launcher (tvault-node).
  assert.match(cli.install.stdout, /the native front end is bin\/tvault/);
  assert.equal(readFileSync(realpathSync(cli.bin)).subarray(0, 4).toString('latin1'), '\x7fELF', 'bin/tvault is a native program');
  assertWorks(cli);
  await assertAgentWorks(t, cli);
});

test('with --build-from-source every native module is rebuilt offline against this Node headers', async (t) => {
  if (!requireCommand(t, 'npm') || !requireCommand(t, 'make') || !requireCommand(t, 'g++') || !requireCommand(t, 'python3')) return;
  const cli = installTarball(t, { npm_config_build_from_source: 'true' });
  for (const name of ['better-sqlite3', 'argon2', '@tvault/native']) {
    assert.match(cli.install.stdout, new RegExp(`building ${name.replace('/', '\\/')} from source against the headers in `), name);
  }
  assert.doesNotMatch(cli.install.stdout + cli.install.stderr, /nodejs\.org|headers\.tar/);
  assert.ok(!existsSync(join(cli.home, '.cache', 'node-gyp')), 'node-gyp downloaded nothing into its cache');
  assertWorks(cli);
});

/** npm's own node-gyp, next to the npm on PATH. */
function npmNodeGyp() {
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  return join(dirname(realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
}

test("npm ci's native builds need no download: once tvault-node-headers has run, node-gyp builds with no nodedir and no network", (t) => {
  if (!requireCommand(t, 'npm') || !requireCommand(t, 'make') || !requireCommand(t, 'g++') || !requireCommand(t, 'python3')) return;
  const { dir, cleanup } = tempDir('tvault-headers-test-');
  t.after(cleanup);
  const home = join(dir, 'home');
  mkdirSync(home);
  const addon = join(dir, 'native');
  cpSync(join(ROOT, 'packages/native'), addon, { recursive: true, filter: (src) => !src.includes('/build') });
  // No nodedir, an empty node-gyp cache, and a download URL that refuses connections.
  const env = isolatedEnv(home, { npm_config_dist_url: 'http://127.0.0.1:9' });
  const gyp = () => run(process.execPath, [npmNodeGyp(), 'rebuild'], { env, cwd: addon });
  const before = gyp();
  assert.notEqual(before.code, 0, 'without the headers linked node-gyp needs a download');
  assert.match(before.stdout + before.stderr, /127\.0\.0\.1:9|ECONNREFUSED|fetch failed/);
  const link = run(process.execPath, [join(ROOT, 'scripts/node-headers/index.cjs')], { env });
  assert.equal(link.code, 0, link.stderr);
  assert.match(link.stdout, /^tvault-node-headers: linked .*node-gyp\/\d+\.\d+\.\d+\/include -> /);
  const after = gyp();
  assert.equal(after.code, 0, `node-gyp rebuild: ${after.stdout}\n${after.stderr}`);
  const load = run(process.execPath, ['-e', 'require(process.argv[1]).peerCred', join(addon, 'index.js')], { env });
  assert.equal(load.code, 0, load.stderr);
  // Run again, it keeps what is there (npm ci runs it on every install).
  assert.match(run(process.execPath, [join(ROOT, 'scripts/node-headers/index.cjs')], { env }).stdout, /already has/);
});
