// `tvault edit`: the project as dotenv in $EDITOR (here a sed script that changes one value,
// deletes one and adds one), from a 0600 file in a private directory on tmpfs that is gone
// afterwards however the edit ends; only the changes are written, audited like set/delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, assertOneLineError, assertVaultIntact, baseEnv, makeVault, requireCommand, requireRoot } from './helpers.mjs';

const START = { KEEP: 'kept value', CHANGE: 'old value', REMOVE: 'going', QUOTES: `it's "mixed" 'quotes' $HOME` };

/** A vault holding START, and an "editor" script that records where its file is, then runs `body`. */
function setup(t, body) {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(START)) assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const seen = join(v.dir, 'seen');
  const editor = join(v.dir, 'editor.sh');
  writeFileSync(editor, `#!/bin/sh\nstat -c '%a %n' "$1" "$(dirname "$1")" > '${seen}'\n${body}\n`);
  chmodSync(editor, 0o755);
  const edit = (args = [], env = {}) => v.run(['edit', ...args], { env: { EDITOR: editor, XDG_RUNTIME_DIR: '', ...env } });
  const where = () => {
    const [file, dir] = readFileSync(seen, 'utf8').trim().split('\n');
    return { fileMode: file.split(' ')[0], file: file.split(' ')[1], dirMode: dir.split(' ')[0], dir: dir.split(' ')[1] };
  };
  return { v, editor, edit, where };
}

const auditRows = (v) =>
  v
    .run(['audit', '--json'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l));

const SED = `sed -i -e "s/^CHANGE=.*/CHANGE='new value'/" -e '/^REMOVE=/d' "$1" && echo 'ADDED=added value' >> "$1"`;

test('edit applies only the changes, audited like set and delete, from a 0600 file on tmpfs that is gone afterwards', (t) => {
  const { v, edit, where } = setup(t, SED);
  const before = auditRows(v).length;
  const r = edit();
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'default: 1 added, 1 changed, 1 deleted\n');
  const w = where();
  assert.equal(w.fileMode, '600');
  assert.equal(w.dirMode, '700');
  assert.match(w.dir, /^\/dev\/shm\/tvault-edit-/);
  assert.ok(!existsSync(w.file) && !existsSync(w.dir), 'the file or its directory is left');
  assertVaultIntact(assert, v, { KEEP: START.KEEP, QUOTES: START.QUOTES, CHANGE: 'new value', ADDED: 'added value' });
  const rows = auditRows(v).slice(before);
  const set = rows.filter((row) => row.op === 'set');
  assert.deepEqual(
    set.map((row) => row.keys.sort()),
    [['ADDED', 'CHANGE']],
    'one set of exactly the changed keys',
  );
  assert.deepEqual(
    rows.filter((row) => row.op === 'delete').map((row) => row.keys),
    [['REMOVE']],
  );
  // Untouched values keep their version: nothing was rewritten.
  assert.equal(JSON.parse(v.run(['history', 'KEEP', '--json']).stdout).versions.length, 1);
  // Saved unchanged: nothing written.
  const same = edit([], { EDITOR: 'true' });
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stderr, /no changes/);
  assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes('tvault-edit-'));
});

test('a private tmpfs $XDG_RUNTIME_DIR is used; one that others can enter is not', (t) => {
  const { edit, where } = setup(t, 'true');
  const runtime = mkdtempSync('/dev/shm/tvault-test-runtime-');
  t.after(() => rmSync(runtime, { recursive: true, force: true }));
  assert.equal(edit([], { XDG_RUNTIME_DIR: runtime }).code, 0);
  assert.ok(where().dir.startsWith(`${runtime}/tvault-edit-`), where().dir);
  chmodSync(runtime, 0o755);
  assert.equal(edit([], { XDG_RUNTIME_DIR: runtime }).code, 0);
  assert.match(where().dir, /^\/dev\/shm\/tvault-edit-/);
});

test('an editor that fails, a file that does not parse, or Ctrl-C change nothing and leave no file', async (t) => {
  const { v, edit, where, editor } = setup(t, `${SED}; exit 3`);
  assertOneLineError(assert, edit(), 1, /the editor exited with status 3; nothing was changed/);
  assert.ok(!existsSync(where().dir));
  writeFileSync(editor, `#!/bin/sh\nstat -c '%a %n' "$1" "$(dirname "$1")" > '${join(v.dir, 'seen')}'\necho 'KEY.WITH.DOTS=1' >> "$1"\n`);
  assertOneLineError(assert, edit(), 2, /key name/);
  assert.ok(!existsSync(where().dir));
  // Ctrl-C: SIGINT to the whole process group (tvault, sh and the editor), as a terminal sends it.
  writeFileSync(editor, `#!/bin/sh\nstat -c '%a %n' "$1" "$(dirname "$1")" > '${join(v.dir, 'seen')}'\n${SED}\nkill -INT 0\nsleep 5\n`);
  const child = spawn(process.execPath, [BIN, 'edit'], {
    env: baseEnv({ ...v.env, EDITOR: editor, XDG_RUNTIME_DIR: '' }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /cancelled \(SIGINT\); nothing was changed/);
  assert.ok(!existsSync(where().file) && !existsSync(where().dir), 'the file is left after Ctrl-C');
  assertVaultIntact(assert, v, START);
});

test('without a RAM file system edit refuses, unless --allow-disk', (t) => {
  if (!requireRoot(t, 'needs a mount namespace to take /dev/shm away')) return;
  if (!requireCommand(t, 'unshare')) return;
  const { v, editor, where } = setup(t, SED);
  const disk = join(v.dir, 'disk');
  mkdirSync(disk);
  const inNs = (args) => {
    const script = `mount --bind "$DISK" /dev/shm && exec "$NODE" "$BIN" edit ${args}`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
      env: baseEnv({ ...v.env, EDITOR: editor, XDG_RUNTIME_DIR: '', DISK: disk, NODE: process.execPath, BIN, TMPDIR: disk }),
      encoding: 'utf8',
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  assertOneLineError(assert, inNs(''), 1, /no RAM file system .*--allow-disk/);
  assertVaultIntact(assert, v, START);
  const r = inNs('--allow-disk');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: no RAM file system/);
  assert.ok(where().dir.startsWith(`${disk}/tvault-edit-`), where().dir);
  assert.ok(!existsSync(where().dir));
});
