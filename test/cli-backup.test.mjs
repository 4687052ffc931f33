// backup and restore: consistent copies even while another process writes; a restore keeps the
// vault it replaces; a bad backup is refused before anything is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  BIN,
  PASS,
  assertOneLineError,
  assertVaultIntact,
  baseEnv,
  makeVault,
  requireCommand,
  requireRoot,
  sql,
  tempDir,
  tvault,
  tvaultMany,
} from './helpers.mjs';

/** A throwaway vault directory holding a copy of `file` as its vault.db, with a run() like makeVault's. */
function vaultFrom(t, file) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vault = join(dir, 'vault');
  mkdirSync(vault, { mode: 0o700 });
  copyFileSync(file, join(vault, 'vault.db'));
  const env = { TVAULT_DIR: vault, TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  return { vault, env, run: (args, o = {}) => tvault(args, { ...o, env: { ...env, ...o.env } }) };
}

const json = (v, project) => JSON.parse(v.run(['export', '--format', 'json', ...(project ? ['-p', project] : [])]).stdout);

test('backup writes a private, complete copy that opens as a vault', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['import', '-'], { input: 'A=1\nB=two\n' }).code, 0);
  assert.equal(v.run(['set', '-p', 'backend', 'C', '--stdin'], { input: 'three' }).code, 0);
  const file = join(v.dir, 'backup.db');
  const r = v.run(['backup', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { backup: file });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(
    readdirSync(v.dir).filter((f) => f.startsWith('backup.db')),
    ['backup.db'],
    'no temporary file left',
  );
  assert.equal(sql(file, 'PRAGMA integrity_check'), 'ok');
  const copy = vaultFrom(t, file);
  assertVaultIntact(assert, copy, { A: '1', B: 'two' });
  assertVaultIntact(assert, copy, { C: 'three' }, 'backend');
  // The copy needs the same passphrase: it is the same encrypted vault.
  assertOneLineError(assert, copy.run(['get', 'A'], { env: { TVAULT_PASSPHRASE: 'other' } }), 6, /wrong passphrase/);
  // A backup to a place that cannot be written is one line, and leaves nothing behind.
  const bad = join(v.dir, 'no-such-dir', 'b.db');
  assertOneLineError(assert, v.run(['backup', bad]), 1, /backup to .*no-such-dir\/b\.db failed/);
  assert.equal(existsSync(join(v.dir, 'no-such-dir')), false);
});

test('a backup taken while another process writes is a consistent vault', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'W0', '--stdin'], { input: 'value-0' }).code, 0);
  // A writer: 15 sets in a row, each a separate tvault process.
  const writer = spawn(
    'bash',
    ['-c', `for i in $(seq 1 15); do printf "value-$i" | "${process.execPath}" "${BIN}" set "W$i" --stdin 2>/dev/null || exit 1; done`],
    {
      env: baseEnv(v.env),
      stdio: 'ignore',
    },
  );
  t.after(() => writer.kill('SIGKILL'));
  let writing = true;
  const writerDone = new Promise((resolve) => writer.on('exit', (code) => ((writing = false), resolve(code))));
  const backups = [];
  while (writing && backups.length < 20) {
    const file = join(v.dir, `live-${backups.length}.db`);
    const r = await tvaultMany([[['backup', file], { env: v.env }]]);
    assert.equal(r[0].code, 0, r[0].stderr);
    backups.push(file);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await writerDone, 0, 'every write succeeded while backups were taken');
  const counts = [];
  for (const file of backups) {
    assert.equal(sql(file, 'PRAGMA integrity_check'), 'ok');
    const values = json(vaultFrom(t, file));
    const n = Object.keys(values).length;
    // A prefix of the writes, each value whole: W0..W(n-1).
    assert.deepEqual(values, Object.fromEntries(Array.from({ length: n }, (_, i) => [`W${i}`, `value-${i}`])));
    counts.push(n);
  }
  assert.deepEqual(
    [...counts].sort((a, b) => a - b),
    counts,
    'later backups hold at least as much',
  );
  assert.ok(counts[0] < 16, `the first backup was taken while the writer was still writing: ${counts}`);
  assert.equal(Object.keys(json(v)).length, 16);
});

test('restore replaces the vault and keeps the previous one aside', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'at-backup' }).code, 0);
  const file = join(v.dir, 'b.db');
  assert.equal(v.run(['backup', file]).code, 0);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'after-backup' }).code, 0);
  assert.equal(v.run(['set', 'B', '--stdin'], { input: 'new' }).code, 0);
  const r = v.run(['restore', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { restored, previous } = JSON.parse(r.stdout);
  assert.equal(restored, file);
  assert.match(previous, /vault\.db\.before-restore-/);
  assertVaultIntact(assert, v, { A: 'at-backup' });
  assert.equal(statSync(join(v.vault, 'vault.db')).mode & 0o777, 0o600);
  assert.equal(statSync(previous).mode & 0o777, 0o600);
  assertVaultIntact(assert, vaultFrom(t, previous), { A: 'after-backup', B: 'new' });
  // The restore is in the audit trail and the chain holds.
  assert.equal(sql(join(v.vault, 'vault.db'), "SELECT COUNT(*) FROM audit WHERE op = 'restore'"), '1');
  assert.equal(v.run(['doctor']).code, 0);
});

test('restore into an empty place creates the vault', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'x' }).code, 0);
  const file = join(v.dir, 'b.db');
  assert.equal(v.run(['backup', file]).code, 0);
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const fresh = { env: { TVAULT_DIR: join(dir, 'new'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' } };
  const r = tvault(['restore', file], fresh);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(join(dir, 'new')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'new', 'vault.db')).mode & 0o777, 0o600);
  assert.equal(tvault(['get', 'A'], fresh).stdout, 'x\n');
});

test('a garbage, foreign, truncated or missing backup is refused and the vault is untouched', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'keep me' }).code, 0);
  const garbage = join(v.dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a database at all, just some text that is long enough to look like a header\n'.repeat(100));
  const foreign = join(v.dir, 'foreign.db');
  sql(foreign, 'PRAGMA user_version = 1; CREATE TABLE t (x); INSERT INTO t VALUES (1);');
  const truncated = join(v.dir, 'truncated.db');
  assert.equal(v.run(['backup', truncated]).code, 0);
  truncateSync(truncated, 5000);
  const empty = join(v.dir, 'empty.db');
  writeFileSync(empty, '');
  for (const file of [garbage, foreign, truncated, empty]) {
    assertOneLineError(assert, v.run(['restore', file]), 8, /is not a valid tvault backup .*nothing was restored/);
  }
  assertOneLineError(assert, v.run(['restore', join(v.dir, 'missing.db')]), 4, /no backup at/);
  assert.deepEqual(
    readdirSync(v.vault).filter((f) => f.includes('before-restore')),
    [],
    'nothing was set aside',
  );
  assertVaultIntact(assert, v, { A: 'keep me' });
});

test('restore repairs a vault too damaged to open, keeping the damaged file aside', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'saved' }).code, 0);
  const file = join(v.dir, 'b.db');
  assert.equal(v.run(['backup', file]).code, 0);
  const db = join(v.vault, 'vault.db');
  writeFileSync(db, 'garbage where the vault was');
  assertOneLineError(assert, v.run(['get', 'A']), 8, /restore it from a backup with: tvault restore PATH/);
  const r = v.run(['restore', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { previous } = JSON.parse(r.stdout);
  assert.equal(readFileSync(previous, 'utf8'), 'garbage where the vault was');
  assertVaultIntact(assert, v, { A: 'saved' });
  assert.equal(v.run(['doctor']).code, 0);
});

test('a backup from schema 1 restores and is migrated, values and audit chain intact', (t) => {
  const v = makeVault(t, { pass: 'fixture passphrase' });
  // The schema-2 vault made by tvault 39d2cd6 (test/fixtures), taken back to what schema 1
  // wrote: no audit MACs, no audit key.
  const backup = join(v.dir, 'v1.db');
  copyFileSync(join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'fixtures', 'schema2-vault.db'), backup);
  sql(backup, "ALTER TABLE audit DROP COLUMN mac; DELETE FROM meta WHERE key = 'audit_key'; PRAGMA user_version = 1;");
  const r = v.run(['restore', backup]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sql(join(v.vault, 'vault.db'), 'PRAGMA user_version'), '4');
  assert.equal(v.run(['get', 'A']).stdout, 'alpha\n');
  const verify = v.run(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /carry no MAC/);
});

/**
 * Runs `tvault backup dest` in a process whose pid is known before tvault starts (bash execs
 * it once told to), so a test can plant files at the name an old tvault would have used.
 */
async function backupWithKnownPid(v, dest, plant) {
  const child = spawn('bash', ['-c', 'read -r go; exec "$0" "$@"', process.execPath, BIN, 'backup', dest], {
    env: baseEnv(v.env),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const err = [];
  child.stderr.on('data', (d) => err.push(d));
  plant(child.pid);
  child.stdin.end('go\n');
  const code = await new Promise((resolve) => child.on('exit', resolve));
  return { code, stderr: Buffer.concat(err).toString() };
}

test('backup never writes through a file or link planted at a predictable temp name', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'the secret' }).code, 0);
  const dest = join(v.dir, 'out.db');
  // The attacker's side: a link at the name to a file of theirs, and (second run) a file they keep open.
  const theirs = join(v.dir, 'attacker-copy');
  writeFileSync(theirs, '');
  let r = await backupWithKnownPid(v, dest, (pid) => symlinkSync(theirs, `${dest}.tmp-${pid}`));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(theirs).size, 0, 'the backup went through the planted link');
  assert.equal(lstatSync(dest).isFile(), true, 'dest is the backup itself, not the planted link');
  assert.equal(sql(dest, 'PRAGMA integrity_check'), 'ok');
  let held;
  r = await backupWithKnownPid(v, dest, (pid) => {
    const planted = `${dest}.tmp-${pid}`;
    writeFileSync(planted, '', { mode: 0o666 });
    held = openSync(planted, 'r');
  });
  assert.equal(r.code, 0, r.stderr);
  t.after(() => closeSync(held));
  assert.equal(fstatSync(held).size, 0, 'the planted file received the backup (its owner reads it through the open fd)');
  assert.equal(lstatSync(dest).isFile(), true);
  assertVaultIntact(assert, vaultFrom(t, dest), { A: 'the secret' });
});

test('the backup file is created exclusively, 0600, not following a link, under an unguessable name', (t) => {
  if (!requireRoot(t, 'traces the hardened (non-dumpable) CLI, which takes CAP_SYS_PTRACE')) return;
  if (!requireCommand(t, 'strace')) return;
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'x' }).code, 0);
  const dest = join(v.dir, 'traced.db');
  const log = join(v.dir, 'strace.log');
  // strace sees the mode each file is created with: no window in which another user could read it.
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=open,openat,creat', '-o', log, process.execPath, BIN, 'backup', dest], {
    env: baseEnv(v.env),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const creates = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes(dest) && /O_CREAT/.test(l));
  assert.ok(creates.length >= 1, `no file created under ${dest}: ${creates}`);
  const first = creates[0];
  assert.match(first, /O_EXCL/, first);
  assert.match(first, /O_NOFOLLOW/, first);
  assert.match(first, /traced\.db\.tmp-[0-9a-f]{16}"/, `an unpredictable name: ${first}`);
  // Every other create is either of a file made exclusively before (SQLite reopening the temp
  // file; its mode argument does not apply to an existing file) or itself 0600 (the -journal).
  const made = new Set();
  for (const line of creates) {
    const path = line.match(/"([^"]+)"/)[1];
    if (/O_EXCL/.test(line)) made.add(path);
    else if (!made.has(path)) assert.match(line, /, 0600\) = \d+$/, `created 0600: ${line}`);
  }
  assert.equal(statSync(dest).mode & 0o777, 0o600);
});

test('restoring something that is not a backup says so in one line', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'keep me' }).code, 0);
  const text = join(v.dir, 'notes.txt');
  writeFileSync(text, 'A=1\nB=2\n');
  const dir = join(v.dir, 'a-directory');
  mkdirSync(dir);
  for (const src of [text, dir]) assertOneLineError(assert, v.run(['restore', src]), 8, /is not a valid tvault backup .*nothing was restored/);
  assertVaultIntact(assert, v, { A: 'keep me' });
});
