// Projects: each its own key and secrets; create, list, use and delete; and which project a
// command acts on: -p > an allowed tvault.toml (walking up) > `use` > default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, assertVaultIntact, makeVault, sql } from './helpers.mjs';

const set = (v, args, val) => assert.equal(v.run(['set', ...args, '--stdin'], { input: val }).code, 0);
const projects = (v) => JSON.parse(v.run(['projects', 'list', '--json']).stdout).map((p) => [p.name, p.secrets, p.current]);

test('projects create, list, use and delete (--yes required)', (t) => {
  const v = makeVault(t);
  assert.deepEqual(projects(v), [['default', 0, true]]);
  const c = v.run(['projects', 'create', 'backend']);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /created project backend/);
  assertOneLineError(assert, v.run(['projects', 'create', 'backend']), 1, /project 'backend' already exists/);
  assert.equal(v.run(['projects', 'create', 'web.front-end_2']).code, 0);
  set(v, ['-p', 'backend', 'SAME'], 'backend-value');
  set(v, ['SAME'], 'default-value');
  set(v, ['-p', 'backend', 'ONLY_BACKEND'], 'x');
  assert.deepEqual(projects(v), [
    ['backend', 2, false],
    ['default', 1, true],
    ['web.front-end_2', 0, false],
  ]);
  // Same key, separate values: every project has its own data key.
  assert.equal(v.run(['get', 'SAME']).stdout, 'default-value\n');
  assert.equal(v.run(['get', '-p', 'backend', 'SAME']).stdout, 'backend-value\n');
  const db = join(v.vault, 'vault.db');
  assert.equal(sql(db, 'SELECT COUNT(DISTINCT wrapped) FROM project_keys'), '3');

  const u = v.run(['use', 'backend']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(v.run(['get', 'SAME']).stdout, 'backend-value\n');
  assert.equal(JSON.parse(v.run(['status', '--json']).stdout).project, 'backend');
  assert.equal(v.run(['projects', 'use', 'default', '--json']).stdout.trim(), JSON.stringify({ current: 'default' }, null, 2));
  assert.equal(v.run(['get', 'SAME']).stdout, 'default-value\n');
  const listed = v.run(['projects', 'list']).stdout;
  assert.match(listed, /^\s+NAME\s+SECRETS\s+CREATED\n\s+backend\s+2\s/);
  assert.match(listed, /\n\* default\s+1\s/);

  // Delete needs --yes; the current project cannot be deleted (see the next test).
  assert.equal(v.run(['use', 'backend']).code, 0);
  assertOneLineError(assert, v.run(['projects', 'delete', 'backend']), 2, /erases all its secrets; add --yes/);
  assert.equal(v.run(['get', 'SAME']).stdout, 'backend-value\n', 'nothing deleted without --yes');
  assert.equal(v.run(['use', 'default']).code, 0);
  const d = v.run(['projects', 'delete', 'backend', '--yes']);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(projects(v), [
    ['default', 1, true],
    ['web.front-end_2', 0, false],
  ]);
  assertOneLineError(assert, v.run(['get', '-p', 'backend', 'SAME']), 4, /project 'backend' does not exist/);
  // Its key and secrets are gone from the database, not just hidden.
  assert.equal(sql(db, 'SELECT COUNT(*) FROM project_keys'), '2');
  assert.equal(sql(db, "SELECT COUNT(*) FROM secrets WHERE name = 'ONLY_BACKEND'"), '0');
  // A project of the same name later is a new project with a new key.
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assertOneLineError(assert, v.run(['get', '-p', 'backend', 'SAME']), 4, /not found/);
  assertVaultIntact(assert, v, { SAME: 'default-value' });
});

test('the current project cannot be deleted; once another is current, deleting default leaves every command working', (t) => {
  const v = makeVault(t);
  set(v, ['K'], 'v');
  for (const name of ['default', 'backend']) {
    if (name === 'backend') {
      assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
      assert.equal(v.run(['use', 'backend']).code, 0);
    }
    const r = v.run(['projects', 'delete', name, '--yes']);
    assertOneLineError(
      assert,
      r,
      1,
      new RegExp(`project '${name}' is the current project; make another one current first \\(tvault use OTHER\\), then delete it`),
    );
  }
  assertVaultIntact(assert, v, { K: 'v' }, 'default');
  // backend is current: default can go, and every command still works without -p.
  assert.equal(v.run(['projects', 'delete', 'default', '--yes']).code, 0);
  set(v, ['B'], 'backend-value');
  assert.equal(v.run(['get', 'B']).stdout, 'backend-value\n');
  for (const args of [['list'], ['env'], ['export', '--format', 'json'], ['history', 'B'], ['status'], ['doctor'], ['projects', 'list'], ['audit', 'verify']]) {
    const r = v.run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal(JSON.parse(v.run(['status', '--json']).stdout).project, 'backend');
  assert.deepEqual(projects(v), [['backend', 1, true]]);
  // The last project is the current one: it stays.
  assertOneLineError(assert, v.run(['projects', 'delete', 'backend', '--yes']), 1, /is the current project/);
});

test('project resolution: -p > allowed tvault.toml (walking up) > use > default', (t) => {
  const v = makeVault(t);
  for (const p of ['flag', 'toml', 'used']) assert.equal(v.run(['projects', 'create', p]).code, 0);
  for (const p of ['default', 'flag', 'toml', 'used']) set(v, ['-p', p, 'WHO'], p);
  const repo = join(v.dir, 'repo');
  const sub = join(repo, 'src', 'deep');
  mkdirSync(sub, { recursive: true });
  const who = (args = [], cwd = sub) => v.run(['get', 'WHO', ...args], { cwd });

  assert.equal(who([], v.dir).stdout, 'default\n');
  assert.equal(v.run(['use', 'used']).code, 0);
  assert.equal(who([], v.dir).stdout, 'used\n');

  const toml = join(repo, 'tvault.toml');
  writeFileSync(toml, 'project = "toml"\n');
  // Not allowed yet: refused, naming the file and the command that allows it.
  for (const cwd of [repo, sub]) {
    assertOneLineError(assert, who([], cwd), 1, new RegExp(`${toml} is not allowed .*tvault allow`));
  }
  assert.equal(who(['-p', 'flag']).stdout, 'flag\n', '-p does not need the file');
  const a = v.run(['allow'], { cwd: sub });
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, new RegExp(`allowed ${toml}`));
  assert.equal(who([], repo).stdout, 'toml\n');
  assert.equal(who([], sub).stdout, 'toml\n');
  assert.equal(who(['-p', 'flag']).stdout, 'flag\n', '-p wins over tvault.toml');
  assert.equal(who(['--project', 'flag']).stdout, 'flag\n');
  // An edited file must be allowed again.
  writeFileSync(toml, 'project = "flag"\n');
  assertOneLineError(assert, who(), 1, /is not allowed .*edited.*tvault allow/);
  assert.equal(v.run(['allow', toml]).code, 0);
  assert.equal(who().stdout, 'flag\n');
  assert.equal(v.run(['deny'], { cwd: sub }).code, 0);
  assertOneLineError(assert, who(), 1, /is not allowed/);
  // Without the file, `use` applies again; a file naming a missing project is a clear error.
  rmSync(toml);
  assert.equal(who().stdout, 'used\n');
  writeFileSync(toml, 'project = "nope"\n');
  assert.equal(v.run(['allow', toml]).code, 0);
  assertOneLineError(assert, who(), 4, /project 'nope' does not exist/);
  assertVaultIntact(assert, v, { WHO: 'default' }, 'default');
});
