// The pure parts of handoff: which programs are coding agents, E's name, where E may be made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODING_AGENTS, isCodingAgent } from './coding-agents';
import { chooseBase, isRamFs } from './ephemeral';
import { eName, idOfDir } from './session-file';

test('isCodingAgent: the program name, with a path or a script suffix, in any case', () => {
  const cases: Array<[string, boolean]> = [
    ['claude', true],
    ['/usr/local/bin/claude', true],
    ['CODEX', true],
    ['aider.py', true],
    ['cursor-agent', true],
    ['gemini.js', true],
    ['opencode', true],
    ['pytest', false],
    ['npm', false],
    ['claude-notes', false],
    ['', false],
  ];
  for (const [p, want] of cases) assert.equal(isCodingAgent(p), want, p);
  for (const name of ['claude', 'codex', 'aider', 'gemini', 'copilot', 'cursor-agent', 'opencode', 'goose', 'amp'])
    assert.ok(CODING_AGENTS.includes(name), name);
});

test("idOfDir: E's directory name carries its 32-hex session id, and nothing else is one", () => {
  const id = '0123456789abcdef0123456789abcdef';
  assert.equal(idOfDir(`/dev/shm/${eName(id)}`), id);
  assert.equal(idOfDir(`/run/user/1000/${eName(id)}/`), id);
  for (const bad of ['/home/me/.tvault', `/dev/shm/${eName(id)}x`, `/dev/shm/${eName(id.toUpperCase())}`, `/dev/shm/${eName('')}`, '/dev/shm/tvault-handoff-'])
    assert.equal(idOfDir(bad), null, bad);
});

test('chooseBase: a private tmpfs runtime dir, else /dev/shm, else disk only with --allow-disk', (t) => {
  const disk = mkdtempSync(join(tmpdir(), 'tvault-base-'));
  t.after(() => rmSync(disk, { recursive: true, force: true }));
  const onDisk = !isRamFs(disk);
  const shmOk = isRamFs('/dev/shm');
  if (onDisk) {
    // A private directory on disk is no runtime dir for E; nor is a missing /dev/shm.
    const runtime = join(disk, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    assert.throws(() => chooseBase([{ dir: runtime, kind: 'runtime' }], false), /no RAM-backed directory.*--allow-disk/);
    assert.deepEqual(
      chooseBase(
        [
          { dir: runtime, kind: 'runtime' },
          { dir: join(disk, 'no-shm'), kind: 'shm' },
        ],
        true,
        disk,
      ),
      { dir: disk, ram: false },
    );
  }
  if (shmOk) {
    const ram = mkdtempSync('/dev/shm/tvault-base-');
    t.after(() => rmSync(ram, { recursive: true, force: true }));
    assert.equal(statfsSync(ram).type, statfsSync('/dev/shm').type);
    assert.deepEqual(chooseBase([{ dir: ram, kind: 'runtime' }], false), { dir: ram, ram: true }, 'a private tmpfs dir');
    const open = join(ram, 'open');
    mkdirSync(open, { mode: 0o755 });
    const link = join(ram, 'link');
    symlinkSync(ram, link);
    for (const dir of [open, link])
      assert.deepEqual(
        chooseBase(
          [
            { dir, kind: 'runtime' },
            { dir: '/dev/shm', kind: 'shm' },
          ],
          false,
        ),
        { dir: '/dev/shm', ram: true },
        dir,
      );
  }
  assert.ok(onDisk || shmOk, 'neither case could be checked here');
});
