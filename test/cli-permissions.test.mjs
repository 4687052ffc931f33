// File-system trust: the vault directory and files are private, a passphrase file must be 0600,
// and anything looser or owned by someone else is refused with a one-line hint, losing nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, closeSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BIN,
  CHEAP_KDF,
  PASS,
  assertOneLineError,
  assertVaultIntact,
  baseEnv,
  makeVault,
  requireCommand,
  requireRoot,
  tempDir,
  tvault,
  tvaultNoTty,
  tvaultSpawn,
} from './helpers.mjs';

const mode = (p) => statSync(p).mode & 0o777;

function passFile(dir, content, fileMode = 0o600) {
  const p = join(dir, `pass-${fileMode.toString(8)}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(p, content, { mode: fileMode });
  chmodSync(p, fileMode);
  return p;
}

test('TVAULT_PASSPHRASE_FILE: 0600 works with or without a trailing newline', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value' }).code, 0);
  for (const content of [PASS, PASS + '\n', PASS + '\r\n']) {
    const r = tvaultNoTty(['get', 'K'], { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1', TVAULT_PASSPHRASE_FILE: passFile(v.dir, content) } });
    assert.equal(r.code, 0, `${JSON.stringify(content)}: ${r.stderr}`);
    assert.equal(r.stdout, 'value\n');
  }
  // Only one newline is dropped: a passphrase that really ends in a newline is another passphrase.
  const two = tvaultNoTty(['get', 'K'], { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1', TVAULT_PASSPHRASE_FILE: passFile(v.dir, PASS + '\n\n') } });
  assertOneLineError(assert, two, 6, /wrong passphrase/);
});

test('TVAULT_PASSPHRASE_FILE: loose modes, another owner and a missing file are refused', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value' }).code, 0);
  const env = (file) => ({ env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1', TVAULT_PASSPHRASE_FILE: file } });
  for (const m of [0o644, 0o640, 0o604]) {
    const f = passFile(v.dir, PASS, m);
    assertOneLineError(assert, tvaultNoTty(['get', 'K'], env(f)), 1, new RegExp(`mode 0${m.toString(8)}; it must be 0600 \\(chmod 600 ${f}\\)`));
  }
  const missing = join(v.dir, 'no-such-file');
  assertOneLineError(assert, tvaultNoTty(['get', 'K'], env(missing)), 1, /cannot read TVAULT_PASSPHRASE_FILE .*no-such-file: ENOENT/);
  assertOneLineError(assert, tvaultNoTty(['get', 'K'], env(passFile(v.dir, 'wrong'))), 6, /wrong passphrase/);
  assertVaultIntact(assert, v, { K: 'value' });
  if (!requireRoot(t, 'then chowns a file to uid 65534')) return;
  const theirs = passFile(v.dir, PASS);
  chownSync(theirs, 65534, 65534);
  assertOneLineError(assert, tvaultNoTty(['get', 'K'], env(theirs)), 1, /owned by uid 65534, not by you/);
});

test('init creates the vault directory 0700 and vault.db 0600', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vault = join(dir, 'a', 'b', 'vault');
  const r = tvault(['init', ...CHEAP_KDF], { env: { TVAULT_DIR: vault, TVAULT_PASSPHRASE: PASS } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(mode(vault), 0o700);
  assert.equal(mode(join(vault, 'vault.db')), 0o600);
  // No temporary file of the init is left behind.
  assert.deepEqual(spawnSync('ls', ['-A', vault], { encoding: 'utf8' }).stdout.trim().split('\n'), ['vault.db']);
});

test('-wal and -shm files of an open vault are not readable by others', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value' }).code, 0);
  // A FIFO as the passphrase file holds `get` with the vault open until we write the passphrase.
  const fifo = join(v.dir, 'pass.fifo');
  assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0);
  const child = tvaultSpawn(['get', 'K'], { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1', TVAULT_PASSPHRASE_FILE: fifo } });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('exit', resolve));
  const db = join(v.vault, 'vault.db');
  for (let i = 0; i < 1000 && !existsSync(db + '-shm'); i++) await sleep(10);
  for (const f of [db, db + '-wal', db + '-shm']) {
    assert.ok(existsSync(f), `${f} exists while the vault is open`);
    assert.equal(mode(f) & 0o077, 0, `${f} has mode ${mode(f).toString(8)}`);
  }
  const fd = openSync(fifo, 'w');
  writeSync(fd, PASS + '\n');
  closeSync(fd);
  assert.equal(await done, 0);
  assert.equal(out, 'value\n');
});

test('a vault directory open to group or others is refused with a chmod 700 hint', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value' }).code, 0);
  for (const m of [0o755, 0o750, 0o701, 0o770]) {
    chmodSync(v.vault, m);
    for (const args of [['get', 'K'], ['set', 'K2', '--stdin'], ['list']]) {
      assertOneLineError(
        assert,
        v.run(args, { input: 'x' }),
        1,
        new RegExp(`accessible by group or others \\(mode 0${m.toString(8)}\\); fix it with: chmod 700 ${v.vault}$`, 'm'),
      );
    }
  }
  chmodSync(v.vault, 0o700);
  assertVaultIntact(assert, v, { K: 'value' });
  // init refuses a loose directory before it creates anything, with a single line.
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const loose = join(dir, 'loose');
  mkdirSync(loose, { mode: 0o755 });
  chmodSync(loose, 0o755);
  const r = tvault(['init', ...CHEAP_KDF], { env: { TVAULT_DIR: loose, TVAULT_PASSPHRASE: PASS } });
  assertOneLineError(assert, r, 1, /chmod 700/);
  assert.equal(existsSync(join(loose, 'vault.db')), false);
});

test('a vault directory owned by another uid is refused, by us and by them', (t) => {
  if (!requireRoot(t, 'chowns a file to uid 65534')) return;
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'value' }).code, 0);
  chownSync(v.vault, 65534, 65534);
  for (const args of [['get', 'K'], ['set', 'K', '--stdin'], ['list']]) {
    assertOneLineError(assert, v.run(args, { input: 'x' }), 1, /owned by uid 65534, not by you \(uid 0\); refusing to use it/);
  }
  const doc = v.run(['doctor']);
  assert.equal(doc.code, 1);
  assert.match(doc.stdout, /FAIL\s+vault directory\s+vault directory .* is owned by uid 65534/);
  chownSync(v.vault, 0, 0);
  assertVaultIntact(assert, v, { K: 'value' });
  // Another user pointed at our vault gets a plain refusal, not "no vault here".
  chmodSync(v.dir, 0o711);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'get', 'K'], {
    env: baseEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1', HOME: '/tmp' }),
    encoding: 'utf8',
  });
  assertOneLineError(assert, { code: r.status, stderr: r.stderr }, 1, /owned by uid 0, not by you \(uid 65534\)/);
});

test('a vault directory that is a symbolic link is refused, and messages name the path the user gave', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'x' }).code, 0);
  // The directory is opened without following a link at its last component, then checked
  // through that descriptor: a link there could be re-pointed between the check and the open.
  const link = join(v.dir, 'link');
  symlinkSync(v.vault, link);
  assertOneLineError(assert, v.run(['get', 'A'], { env: { TVAULT_DIR: link } }), 1, /vault directory .*\/link is a symbolic link; refusing to follow it/);
  writeFileSync(join(v.vault, 'vault.db'), 'garbage');
  const r = v.run(['get', 'A']);
  assertOneLineError(assert, r, 8, /is corrupt or not a tvault vault/);
  assert.ok(r.stderr.includes(join(v.vault, 'vault.db')) && !r.stderr.includes('/proc/'), r.stderr);
});

/**
 * Runs `tvault get A` under gdb, stopped at `breakAt` in SQLite (inside better-sqlite3) while it
 * opens vault.db; there the vault directory is swapped for another vault (same passphrase, so
 * that which one answered is visible), as someone who can write its parent could do.
 */
function getWithSwapAt(t, breakAt) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const make = (name, value) => {
    const env = { TVAULT_DIR: join(dir, name), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
    assert.equal(tvault(['init', ...CHEAP_KDF], { env }).code, 0);
    assert.equal(tvault(['set', 'A', '--stdin'], { env, input: value }).code, 0);
  };
  make('vault', 'the real value');
  make('evil', 'the planted value');
  const swap = `mv ${dir}/vault ${dir}/real && mv ${dir}/evil ${dir}/vault`;
  // No debuginfod lookups and no gdbinit: gdb must only stop and resume tvault, quickly.
  const gdb = [
    '-q',
    '-nx',
    '-batch',
    '-iex',
    'set debuginfod enabled off',
    '-iex',
    'set auto-load off',
    '-ex',
    'set breakpoint pending on',
    '-ex',
    `break ${breakAt}`,
    '-ex',
    'run',
    '-ex',
    `shell ${swap}`,
    '-ex',
    'delete',
    '-ex',
    'continue',
  ];
  const r = spawnSync('gdb', [...gdb, '--args', process.execPath, BIN, 'get', 'A'], {
    env: baseEnv({ TVAULT_DIR: join(dir, 'vault'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' }),
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.ok(existsSync(join(dir, 'real')), `gdb stopped tvault and the swap happened: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

test('a vault directory swapped before SQLite resolves its name: the checked directory is still the one used', (t) => {
  if (!requireCommand(t, 'gdb')) return;
  // Stopped on entry to SQLite's open: it is given /proc/self/fd/N/vault.db, and resolves that
  // link to wherever the directory we checked is now.
  const out = getWithSwapAt(t, 'openDatabase');
  assert.match(out, /^the real value$/m, out);
  assert.doesNotMatch(out, /planted/);
});

test('a vault directory swapped after SQLite resolved its name is refused', (t) => {
  if (!requireRoot(t, 'breaks into the hardened (non-dumpable) CLI with gdb, which takes CAP_SYS_PTRACE')) return;
  if (!requireCommand(t, 'gdb')) return;
  // Stopped in SQLite's file open, after it resolved the name to a path: the swap redirects the
  // open, and the check after it (is the file open the vault.db of the checked directory?) refuses.
  const out = getWithSwapAt(t, 'unixOpen');
  assert.match(out, /tvault: vault directory .* was replaced while it was being opened; refusing to use it/, out);
  assert.doesNotMatch(out, /planted/);
});
