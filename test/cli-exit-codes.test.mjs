// Exit codes as a user sees them: every bad input gets one line on stderr, the documented code,
// no stack trace, and leaves every committed value in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, assertOneLineError, assertVaultIntact, baseEnv, makeVault, sql, tempDir, tvault, tvaultNoTty } from './helpers.mjs';

const COMMITTED = { ALPHA: 'one', BETA: 'two words' };

function vaultWithValues(t) {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(COMMITTED)) assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  return v;
}

test('0: ordinary commands succeed', (t) => {
  const v = vaultWithValues(t);
  for (const args of [['get', 'ALPHA'], ['list'], ['status'], ['history', 'ALPHA'], ['projects', 'list'], ['doctor']]) {
    const r = v.run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
});

test('2: usage errors (bad flags, key names, project names)', (t) => {
  const v = vaultWithValues(t);
  const cases = [
    [['get', 'ALPHA', '--bogus'], /Unknown argument/],
    [['frobnicate'], /frobnicate|Did you mean|Unknown/],
    [['get'], /Not enough non-option arguments/],
    [['rollback', 'ALPHA'], /Missing required argument: to/],
    [['rollback', 'ALPHA', '--to', '0'], /--to must be a version number/],
    [['export', '--format', 'xml'], /Invalid values/],
    [['search'], /give a pattern .* or --prefix/],
    [['set', '1BAD', '--stdin'], /invalid key name "1BAD"/],
    [['set', 'A-B', 'value-as-argument'], /invalid key name "A-B"/],
    [['set', 'A'.repeat(256), '--stdin'], /invalid key name .*max 255/],
    [['get', 'A-B'], /invalid key name/],
    [['set', 'has space', '--stdin'], /invalid key name/],
    [['projects', 'create', 'bad/name'], /invalid project name/],
    [['projects', 'create', '-leading-dash'], /invalid project name|Unknown argument|Not enough non-option/],
    [['projects', 'create', 'p'.repeat(101)], /invalid project name/],
    [['projects', 'create', ''], /invalid project name/],
    [['projects', 'delete', 'default'], /--yes/],
  ];
  for (const [args, re] of cases) assertOneLineError(assert, v.run(args, { input: 'x' }), 2, re);
  assertVaultIntact(assert, v, COMMITTED);
});

test('names at the limits: a 255-character key and a 100-character project are accepted', (t) => {
  const v = makeVault(t);
  const key = 'K'.repeat(255);
  assert.equal(v.run(['set', key, '--stdin'], { input: 'v' }).code, 0);
  assert.equal(v.run(['get', key]).stdout, 'v\n');
  const project = 'p'.repeat(100);
  assert.equal(v.run(['projects', 'create', project]).code, 0);
  assert.equal(v.run(['set', '-p', project, '_x9', '--stdin'], { input: 'w' }).code, 0);
  assert.equal(v.run(['get', '-p', project, '_x9']).stdout, 'w\n');
});

test('3: locked when there is no passphrase and no terminal', (t) => {
  const v = vaultWithValues(t);
  const env = { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1' };
  for (const args of [['get', 'ALPHA'], ['env'], ['set', 'GAMMA', '--stdin'], ['key', 'rotate']]) {
    const r = tvaultNoTty(args, { env, input: 'x' });
    assertOneLineError(assert, r, 3, /locked.*TVAULT_PASSPHRASE/);
  }
  // init with no passphrase source cannot ask either.
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  assertOneLineError(assert, tvaultNoTty(['init'], { env: { TVAULT_DIR: join(dir, 'v') } }), 3, /TVAULT_PASSPHRASE/);
  assertVaultIntact(assert, v, COMMITTED);
});

test('4: not found (key, project, version)', (t) => {
  const v = vaultWithValues(t);
  const cases = [
    [['get', 'MISSING'], /secret 'MISSING' not found in project 'default'/],
    [['get', '-p', 'nope', 'ALPHA'], /project 'nope' does not exist.*tvault projects create nope/],
    [['rollback', 'ALPHA', '--to', '7'], /no version 7/],
    [['rollback', 'MISSING', '--to', '1'], /no version 1/],
    [['history', 'MISSING'], /no history/],
    [['delete', 'MISSING'], /not found/],
    [['use', 'nope'], /project 'nope' does not exist/],
    [['projects', 'delete', 'nope', '--yes'], /project 'nope' does not exist/],
  ];
  for (const [args, re] of cases) assertOneLineError(assert, v.run(args), 4, re);
  assertVaultIntact(assert, v, COMMITTED);
});

test('5: not initialized', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { TVAULT_DIR: join(dir, 'none'), TVAULT_PASSPHRASE: 'x', TVAULT_NO_AGENT: '1' };
  for (const args of [['get', 'A'], ['list'], ['set', 'A', '--stdin'], ['doctor'], ['env'], ['key', 'rotate'], ['backup', join(dir, 'b.db')]]) {
    assertOneLineError(assert, tvault(args, { env, input: 'v' }), 5, /no vault at .*tvault init/);
  }
  const st = tvault(['status', '--json'], { env });
  assert.equal(st.code, 5);
  assert.equal(JSON.parse(st.stdout).initialized, false);
});

test('6: a wrong passphrase fails distinctly, is audited, and changes nothing', (t) => {
  const v = vaultWithValues(t);
  for (const args of [
    ['get', 'ALPHA'],
    ['set', 'GAMMA', '--stdin'],
    ['delete', 'ALPHA'],
    ['key', 'rotate'],
  ]) {
    const r = v.run(args, { env: { TVAULT_PASSPHRASE: 'not the passphrase', TVAULT_NEW_PASSPHRASE: 'new one' }, input: 'x' });
    assertOneLineError(assert, r, 6, /^tvault: wrong passphrase$/m);
  }
  const db = join(v.vault, 'vault.db');
  assert.equal(sql(db, "SELECT COUNT(*) FROM audit WHERE op = 'unlock' AND ok = 0"), '4');
  assert.equal(sql(db, "SELECT COUNT(*) FROM audit WHERE op = 'unlock' AND ok = 0 AND (keys IS NOT NULL OR detail IS NOT NULL)"), '0');
  assertVaultIntact(assert, v, COMMITTED);
});

test('--help of every command shows an example; --version prints the version', () => {
  const commands = [
    ['init'],
    ['status'],
    ['doctor'],
    ['set'],
    ['get'],
    ['list'],
    ['delete'],
    ['history'],
    ['rollback'],
    ['search'],
    ['projects'],
    ['projects', 'create'],
    ['projects', 'list'],
    ['projects', 'use'],
    ['projects', 'delete'],
    ['use'],
    ['key'],
    ['key', 'rotate'],
    ['import'],
    ['export'],
    ['backup'],
    ['restore'],
    ['allow'],
    ['deny'],
    ['env'],
    ['run'],
  ];
  for (const c of commands) {
    const r = tvault([...c, '--help']);
    assert.equal(r.code, 0, `${c.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, /Examples:\n\s+(\S.*)?\btvault\b/, `${c.join(' ')} --help shows no example`);
  }
  const ver = tvault(['--version']);
  assert.equal(ver.code, 0);
  assert.match(ver.stdout, /^\d+\.\d+\.\d+\S*\n$/);
});

test('status --json describes the vault', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  const r = v.run(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.vault, v.vault);
  assert.equal(s.initialized, true);
  assert.equal(s.project, 'default');
  assert.equal(s.projects, 2);
  assert.equal(s.agent, 'not running');
  assert.deepEqual(s.kdf, { alg: 'argon2id', memoryKiB: 256, passes: 1, parallelism: 1 });
  assert.equal(v.run(['status', '--json', '-p', 'backend']).stdout.includes('"project": "backend"'), true);
});

test('a reader that stops early (| head -1) ends tvault quietly with the SIGPIPE status', (t) => {
  const v = makeVault(t);
  const lines = Array.from({ length: 3000 }, (_, i) => `KEY_${i}=${'v'.repeat(40)}`).join('\n');
  assert.equal(v.run(['import', '-'], { input: lines }).code, 0);
  for (const cmd of ['list', 'export --format json', 'env']) {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" ${cmd} 2>err | head -1 >/dev/null; echo $?; cat err`], {
      env: baseEnv(v.env),
      cwd: v.dir,
      encoding: 'utf8',
    });
    assert.equal(r.stdout, '141\n', `${cmd}: ${r.stdout}`);
  }
});

test('a broken KDF worker fails the command (exit 1) instead of a silent exit 0', (t) => {
  // A copy of the build whose kdf-worker.cjs is empty, as an upgrade can leave it for a moment.
  // Only hash-wasm runs in the worker, so the copy gets an `argon2` package without a binding
  // (node_modules beside it), as where argon2 has no binary: the native backend does not load.
  const copy = mkdtempSync(join(ROOT, 'node_modules', '.tvault-broken-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(ROOT, 'packages/cli/dist'), copy, { recursive: true });
  writeFileSync(join(copy, 'kdf-worker.cjs'), '');
  mkdirSync(join(copy, 'node_modules/argon2'), { recursive: true });
  writeFileSync(join(copy, 'node_modules/argon2/package.json'), '{"name":"argon2","version":"0.0.0"}');
  const v = vaultWithValues(t);
  const r = spawnSync(process.execPath, [join(copy, 'tvault.cjs'), 'set', 'GAMMA', '--stdin'], { env: baseEnv(v.env), input: 'lost?', encoding: 'utf8' });
  if (typeof nodeCrypto.argon2 === 'function') {
    // Node 24.7+: node:crypto's Argon2 is native too, and derives without the worker.
    assert.equal(r.status, 0, r.stderr);
    return;
  }
  assertOneLineError(assert, { code: r.status, stderr: r.stderr }, 1, /key derivation failed/);
  assertVaultIntact(assert, v, COMMITTED);
});
