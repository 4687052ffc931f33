// The native front end (packages/native/src/front.c, laid out by the build as
// packages/cli/dist/front/tvault beside tvault-node), as a user runs it, against real agents:
// - for every argv it serves, its stdout, stderr and exit code are exactly the JS CLI's;
// - it answers those itself (it works with no node on PATH), and hands every other argv,
//   environment and situation to the JS CLI (a fake `node` first on PATH says it was asked),
//   before printing anything: a tvault.toml on the way up, TVAULT_NO_AGENT, an identity, a
//   handoff, a token it cannot carry, a refusal, a socket whose directory others can write, an
//   old agent's JSON answer, a short raw body;
// - a reader that goes away ends it with 141, as the JS CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN, HOSTILE_VALUES as HOSTILE, ROOT, baseEnv, makeVault } from './helpers.mjs';
import { AGENT_ONLY, startAgent, tokenHash, writeTokens } from './agent-helpers.mjs';

const FRONT = join(ROOT, 'packages/cli/dist/front/tvault');
/** A directory holding a `node` that only says it was run: first on PATH, it shows a fallback. */
function fakeNodeDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-fake-node-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'node'), '#!/bin/sh\necho "FALLBACK $*" >&2\nexit 99\n', { mode: 0o755 });
  return dir;
}

// The default cwd is the temp dir: others can write it, so the tvault.toml walk ends there.
function runEnv(env, pathFirst) {
  const e = baseEnv({ ...AGENT_ONLY, ...env });
  e.PATH = pathFirst ? `${pathFirst}:${e.PATH}` : `${dirname(process.execPath)}:${e.PATH}`;
  return e;
}
function run(cmd, args, { env = {}, cwd = tmpdir(), pathFirst } = {}) {
  const r = spawnSync(cmd, args, { env: runEnv(env, pathFirst), cwd, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The front, without blocking this process's event loop (a fake agent in this process answers it). */
function frontAsync(args, { env = {}, pathFirst } = {}) {
  return new Promise((resolve) => {
    const c = spawn(FRONT, args, { env: runEnv(env, pathFirst), cwd: tmpdir() });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const front = (args, opts) => run(FRONT, args, opts);
const js = (args, opts) => run(process.execPath, [BIN, ...args], opts);

async function servedVault(t) {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(HOSTILE)) assert.equal(v.run(['set', k, '--stdin', '--keep-newline'], { input: val }).code, 0, k);
  assert.equal(v.run(['projects', 'create', 'web']).code, 0);
  assert.equal(v.run(['set', 'WEB_ONLY', '--stdin', '-p', 'web'], { input: "w'eb" }).code, 0);
  const agent = await startAgent(t, v);
  return { v, agent, env: { TVAULT_DIR: v.vault } };
}

const SERVED = [
  ['get', 'QUOTES'],
  ['get', 'NEWLINES', '--raw'],
  ['get', '--raw', 'SUBST'],
  ['get', 'UTF8'],
  ['get', 'EMPTY'],
  ['get', 'EMPTY', '--raw'],
  ['get', 'WEB_ONLY', '-p', 'web'],
  ['get', 'WEB_ONLY', '--project=web'],
  ['env'],
  ['env', '--format', 'shell'],
  ['env', '--format=shell', '--export'],
  ['env', '--export=true', '-p', 'web'],
  ['env', '--project', 'web'],
];
const HANDED_OVER = [
  ['get', 'QUOTES', '--json'],
  ['get', 'NOPE'],
  ['get', 'QUOTES', '-p', 'nope'],
  ['get', '1BAD'],
  ['get', 'QUOTES', 'SUBST'],
  ['get'],
  ['get', 'QUOTES', '--raw', '--raw'],
  ['get', 'QUOTES', '-p', 'web', '-p', 'web'],
  ['get', 'QUOTES', '-p', '-x'],
  ['get', 'QUOTES', '--project='],
  ['get', 'QUOTES', '-p=web'],
  ['env', '--format', 'dotenv'],
  ['env', '--no-export'],
  ['env', '--export=false'],
  ['env', '--only', 'QUOTES'],
  ['env', 'extra'],
  ['list'],
  [],
  ['--version'],
];

test('every argv it serves prints exactly what the JS CLI prints, with the same exit code, and needs no node', async (t) => {
  const { v, env } = await servedVault(t);
  const fake = fakeNodeDir(t);
  for (const args of SERVED) {
    const a = front(args, { env });
    assert.deepEqual(a, js(args, { env }), args.join(' '));
    assert.equal(a.code, 0, args.join(' '));
    assert.deepEqual(front(args, { env, pathFirst: fake }), a, `${args.join(' ')}: answered without node`);
  }
  // --vault, and a relative one resolved against the cwd, as the CLI resolves it.
  const rel = ['get', 'QUOTES', '--vault', 'vault'];
  assert.deepEqual(front(rel, { cwd: v.dir, pathFirst: fake }), js(rel, { cwd: v.dir }));
  assert.equal(front(['get', 'QUOTES', `--vault=${v.vault}/./x/..`], { pathFirst: fake }).stdout, `${HOSTILE.QUOTES}\n`);
  assert.equal(front(['env'], { env }).stdout.includes(`export QUOTES='it'\\''s "both" '\\'''\\'' \\'\\'' \\'`), true);
});

test('every other argv goes to the JS CLI, which answers as it always does', async (t) => {
  const { env } = await servedVault(t);
  const fake = fakeNodeDir(t);
  for (const args of HANDED_OVER) {
    const f = front(args, { env, pathFirst: fake });
    assert.equal(f.code, 99, `${args.join(' ')}: handed to node (${f.stderr})`);
    assert.equal(f.stdout, '', `${args.join(' ')}: nothing printed before the hand-over`);
    assert.match(f.stderr, /^FALLBACK \S*tvault-node/);
    assert.equal(f.stderr.trim(), `FALLBACK ${join(ROOT, 'packages/cli/dist/front/tvault-node')} ${args.join(' ')}`.trim());
    assert.deepEqual(front(args, { env }), js(args, { env }), args.join(' '));
  }
});

test('an environment or a cwd that changes the answer goes to the JS CLI', async (t) => {
  const { v, env } = await servedVault(t);
  const fake = fakeNodeDir(t);
  const handed = (args, opts) => assert.equal(front(args, { pathFirst: fake, ...opts }).code, 99, JSON.stringify(opts));
  for (const extra of [
    { TVAULT_NO_AGENT: '1' },
    { TVAULT_NO_AGENT: 'yes' },
    { TVAULT_IDENTITY_KEY: '' },
    { TVAULT_HANDOFF: 'x' },
    { TVAULT_AGENT_TOKEN: 'a"b' },
    { TVAULT_AGENT_TOKEN: 'é' },
  ]) {
    handed(['get', 'QUOTES'], { env: { ...env, ...extra } });
    handed(['env'], { env: { ...env, ...extra } });
  }
  for (const off of ['0', 'false', 'FALSE', ''])
    assert.equal(front(['get', 'QUOTES'], { env: { ...env, TVAULT_NO_AGENT: off }, pathFirst: fake }).code, 0, off);

  // A tvault.toml anywhere up the walk, allowed or not: the CLI checks and uses it.
  const tree = join(v.dir, 'repo');
  mkdirSync(join(tree, 'a/b/c'), { recursive: true, mode: 0o755 });
  writeFileSync(join(tree, 'tvault.toml'), 'project = "web"\n', { mode: 0o644 });
  handed(['env'], { env, cwd: join(tree, 'a/b/c') });
  handed(['get', 'WEB_ONLY'], { env, cwd: join(tree, 'a/b/c') });
  assert.equal(front(['get', 'WEB_ONLY', '-p', 'web'], { env, cwd: join(tree, 'a/b/c'), pathFirst: fake }).code, 0, '-p: no walk');
  assert.equal(js(['allow', join(tree, 'tvault.toml')], { env }).code, 0);
  assert.deepEqual(front(['get', 'WEB_ONLY'], { env, cwd: join(tree, 'a/b/c') }), js(['get', 'WEB_ONLY'], { env, cwd: join(tree, 'a/b/c') }));
  assert.equal(front(['get', 'WEB_ONLY'], { env, cwd: join(tree, 'a/b/c') }).stdout, "w'eb\n");
  // The walk ends at a directory others can write, as the CLI's; a tvault.toml there is the CLI's to report.
  const open = join(tree, 'open');
  mkdirSync(join(open, 'in'), { recursive: true });
  chmodSync(open, 0o777);
  assert.equal(front(['get', 'QUOTES'], { env, cwd: join(open, 'in'), pathFirst: fake }).code, 0, 'the walk stops at the open dir');
  writeFileSync(join(open, 'tvault.toml'), 'project = "web"\n');
  handed(['get', 'QUOTES'], { env, cwd: join(open, 'in') });
  assert.deepEqual(front(['get', 'QUOTES'], { env, cwd: join(open, 'in') }), js(['get', 'QUOTES'], { env, cwd: join(open, 'in') }));
});

test('no agent, a locked one, a socket directory others can write: the JS CLI decides and words it', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  const fake = fakeNodeDir(t);
  const env = { TVAULT_DIR: v.vault };
  assert.equal(front(['get', 'K'], { env, pathFirst: fake }).code, 99, 'no agent');
  assert.deepEqual(front(['get', 'K'], { env }), js(['get', 'K'], { env }));
  const agent = await startAgent(t, v);
  assert.equal(js(['lock'], { env }).code, 0);
  assert.equal(front(['get', 'K'], { env, pathFirst: fake }).code, 99, 'locked');
  assert.deepEqual(front(['get', 'K'], { env }), js(['get', 'K'], { env }));
  chmodSync(v.vault, 0o770);
  try {
    assert.equal(front(['get', 'K'], { env, pathFirst: fake }).code, 99, 'a refused directory');
    const f = front(['get', 'K'], { env });
    assert.deepEqual(f, js(['get', 'K'], { env }));
    assert.match(f.stderr, /writable by group or others/);
  } finally {
    chmodSync(v.vault, 0o700);
  }
  assert.ok(agent.pid > 0);
});

test('a token it can carry is sent; a scope refusal goes to the JS CLI', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'A', '--stdin'], { input: 'a' }).code, 0);
  assert.equal(v.run(['set', 'B', '--stdin'], { input: 'b' }).code, 0);
  const ONLY_A = 'tok-a-0123456789abcdef0123456789abcdef';
  const file = writeTokens(join(v.dir, 'tokens'), `sha256:${tokenHash(ONLY_A)} keys=A name=a\n`);
  await startAgent(t, v, ['--require-token', '--token-file', file]);
  const fake = fakeNodeDir(t);
  const env = { TVAULT_DIR: v.vault, TVAULT_AGENT_TOKEN: ONLY_A };
  assert.deepEqual(front(['get', 'A'], { env, pathFirst: fake }), { code: 0, stdout: 'a\n', stderr: '' });
  assert.equal(front(['get', 'B'], { env, pathFirst: fake }).code, 99);
  assert.deepEqual(front(['get', 'B'], { env }), js(['get', 'B'], { env }));
  assert.equal(front(['get', 'A'], { env: { TVAULT_DIR: v.vault }, pathFirst: fake }).code, 99, 'no token: token_required');
});

/** A fake agent at dir/agent.sock that answers every connection with `answer`. */
async function fakeAgent(t, answer) {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-fake-agent-'));
  chmodSync(dir, 0o700);
  const server = net.createServer((c) => c.end(answer));
  await new Promise((r) => server.listen(join(dir, 'agent.sock'), r));
  t.after(() => (server.close(), rmSync(dir, { recursive: true, force: true })));
  return dir;
}

test('only an exact raw reply whose every byte arrived is printed', async (t) => {
  const fake = fakeNodeDir(t);
  const answers = [
    '{"v":1,"ok":true,"value":"from an old agent"}\n',
    '{"ok":true,"bytes":10}\nshort',
    '{"ok":true,"bytes":2}\ntoo long',
    '{"ok":true,"bytes":02}\nab',
    '{"ok":true,"bytes": 2}\nab',
    '{"ok":true,"bytes":2,"x":1}\nab',
    '{"ok":true,"bytes":99999999999}\nab',
    '{"v":1,"ok":false,"error":"not_found","message":"no"}\n',
    '',
    'garbage',
  ];
  for (const answer of answers) {
    const dir = await fakeAgent(t, answer);
    const f = await frontAsync(['get', 'K'], { env: { TVAULT_DIR: dir }, pathFirst: fake });
    assert.equal(f.code, 99, JSON.stringify(answer));
    assert.equal(f.stdout, '', JSON.stringify(answer));
  }
  const ok = await fakeAgent(t, '{"ok":true,"bytes":2}\nab');
  assert.deepEqual(await frontAsync(['get', 'K'], { env: { TVAULT_DIR: ok }, pathFirst: fake }), { code: 0, stdout: 'ab\n', stderr: '' });
  assert.deepEqual(await frontAsync(['env'], { env: { TVAULT_DIR: ok }, pathFirst: fake }), { code: 0, stdout: 'ab', stderr: '' });
});

test('a reader that goes away ends it with 141, as the JS CLI', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'BIG', '--stdin'], { input: 'x'.repeat(1 << 20) }).code, 0);
  await startAgent(t, v);
  const env = baseEnv({ ...AGENT_ONLY, TVAULT_DIR: v.vault });
  // The largest value, in full through the agent (the agent once cut an answer off at the client's half-close).
  for (const r of [front(['get', 'BIG'], { env: { TVAULT_DIR: v.vault } }), js(['get', 'BIG'], { env: { TVAULT_DIR: v.vault } })])
    assert.equal(r.stdout, `${'x'.repeat(1 << 20)}\n`);
  for (const cmd of [FRONT, `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`]) {
    const r = spawnSync('bash', ['-c', `${cmd === FRONT ? JSON.stringify(FRONT) : cmd} get BIG | head -c1 >/dev/null; echo "\${PIPESTATUS[0]}"`], {
      env,
      encoding: 'utf8',
    });
    assert.equal(r.stdout.trim(), '141', cmd);
  }
});
