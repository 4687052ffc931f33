// `tvault agent token create|list|revoke`: a token is printed once (to a terminal, or with
// --force), only its hash is stored, list never shows it, create and revoke are audited and
// reach a running agent at once; and `agent stop` without an unrestricted token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault, tvaultMany } from './helpers.mjs';
import { agentLog, auditRows, filesContaining, gone, request, startAgent, tokenHash, tokenIdOf, waitFor, writeTokens } from './agent-helpers.mjs';

const TOKEN_RE = /tvt_[A-Za-z0-9_-]{43}/g;
const sh = (w) => `'${String(w).replace(/'/g, `'\\''`)}'`;

/** Runs tvault with stdout on a terminal (script(1) provides one). */
function onTty(v, args) {
  const cmd = [process.execPath, BIN, ...args].map(sh).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    env: baseEnv({ ...v.env, XDG_STATE_HOME: join(v.dir, 'state') }),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout.replace(/\r\n/g, '\n') };
}

function vaultWithProjects(t) {
  const v = makeVault(t);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['set', 'DATABASE_URL', '--stdin', '-p', 'backend'], { input: 'postgres://x' }).code, 0);
  assert.equal(v.run(['set', 'OTHER', '--stdin', '-p', 'backend'], { input: 'other-value' }).code, 0);
  return { v, file: join(v.vault, 'agent-tokens') };
}

test('create prints the token once on a terminal and stores only its sha256 line, 0600; list never shows it', (t) => {
  const { v, file } = vaultWithProjects(t);
  const r = onTty(v, ['agent', 'token', 'create', '-p', 'backend', '--keys', 'DATABASE_URL', '--ttl', '8h', '--name', 'ci']);
  assert.equal(r.code, 0, r.out);
  const tokens = r.out.match(TOKEN_RE);
  assert.equal(tokens.length, 1, `printed once: ${r.out}`);
  const [token] = tokens;
  const id = tokenIdOf(token);
  assert.match(
    r.out,
    new RegExp(`created token ${id} \\(ci\\): project backend, keys DATABASE_URL, expires \\d{4}-.*; its hash is in ${file}, the token is shown only now`),
  );
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.match(text, new RegExp(`^sha256:${tokenHash(token)}  name=ci  project=backend  keys=DATABASE_URL  expires=\\S+Z  created=\\S+Z\\n$`));
  const expires = Date.parse(/expires=(\S+)/.exec(text)[1]);
  assert.ok(Math.abs(expires - (Date.now() + 8 * 3600_000)) < 60_000, 'expires 8 h from now');
  const human = v.run(['agent', 'token', 'list']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^ID +NAME +PROJECT +KEYS +EXPIRES +STATE +STORED\n/);
  assert.match(human.stdout, new RegExp(`^${id} +ci +backend +DATABASE_URL +\\S+Z +active +hash$`, 'm'));
  const json = JSON.parse(v.run(['agent', 'token', 'list', '--json']).stdout);
  assert.deepEqual(json, [
    {
      id,
      name: 'ci',
      project: 'backend',
      keys: ['DATABASE_URL'],
      expires: json[0].expires,
      expired: false,
      execOnly: false,
      allowCmd: null,
      allowEnv: null,
      stored: 'hash',
      line: 1,
    },
  ]);
  // The token is in no file: not the token file, the vault, the audit table or anything else.
  assert.deepEqual(filesContaining(v.dir, token), []);
  assert.ok(!human.stdout.includes(token) && !JSON.stringify(json).includes(token));
  const row = auditRows(v.vault).find((x) => x.op === 'token.create');
  assert.deepEqual([row.via, row.token_id, row.project, row.keys], ['direct', id, 'backend', '["DATABASE_URL"]']);
  assert.match(row.detail, /^name=ci scope=project backend, keys DATABASE_URL expires=\S+Z$/);
  assert.ok(!JSON.stringify(auditRows(v.vault)).includes(token));
});

test('create refuses a non-terminal stdout without --force, before writing anything; --force prints it', (t) => {
  const { v, file } = vaultWithProjects(t);
  let r = v.run(['agent', 'token', 'create', '--name', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^tvault: stdout is not a terminal, and the token is shown only once: .* add --force/);
  assert.equal(r.stdout, '');
  assert.ok(gone(file), 'no token file was written');
  assert.equal(auditRows(v.vault).filter((x) => x.op === 'token.create').length, 0);
  r = v.run(['agent', 'token', 'create', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^tvt_[A-Za-z0-9_-]{43}\n$/);
  r = v.run(['agent', 'token', 'create', '--force', '--json', '--name', 'j']);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['token', 'id', 'name', 'project', 'keys', 'expires', 'file']);
  assert.equal(j.id, tokenIdOf(j.token));
  assert.equal(readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 2);
});

test('create and revoke: bad flags, an unknown project, a duplicate name, an unknown id, a broken file', (t) => {
  const { v, file } = vaultWithProjects(t);
  const cases = [
    [['--keys', 'A,1B'], 2, /^tvault: invalid --keys: /],
    [['--keys', 'A,,B'], 2, /^tvault: invalid --keys: /],
    [['--name', 'no spaces'], 2, /^tvault: invalid --name: /],
    [['-p', 'bad/name'], 2, /^tvault: invalid --project: /],
    [['--ttl', '0'], 2, /^tvault: --ttl must be a positive duration/],
    [['--ttl', 'soon'], 2, /^tvault: invalid --ttl "soon"/],
    [['-p', 'nope'], 4, /^tvault: project 'nope' does not exist/],
  ];
  for (const [args, code, re] of cases) {
    const r = v.run(['agent', 'token', 'create', '--force', ...args]);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
  assert.ok(gone(file));
  assert.equal(v.run(['agent', 'token', 'create', '--force', '--name', 'ci']).code, 0);
  let r = v.run(['agent', 'token', 'create', '--force', '--name', 'ci']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tvault: a token named 'ci' is already in .*; revoke it first, or choose another name\n$/);
  r = v.run(['agent', 'token', 'revoke', 'deadbeef']);
  assert.equal(r.code, 4);
  assert.match(r.stderr, /^tvault: no token with id or name 'deadbeef' in /);
  // A file the agent would refuse is not edited: the parse error is shown, the file left as it was.
  const broken = `${readFileSync(file, 'utf8')}tokenPLAIN  colour=red\n`;
  writeFileSync(file, broken);
  for (const args of [['create', '--force'], ['revoke', 'ci'], ['list']]) {
    r = v.run(['agent', 'token', ...args]);
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tvault: ${file}: line 2: unknown attribute "colour"`));
    assert.ok(!r.stderr.includes('tokenPLAIN'));
  }
  assert.equal(readFileSync(file, 'utf8'), broken);
  writeTokens(file, broken, 0o644);
  r = v.run(['agent', 'token', 'list']);
  assert.match(r.stderr, /has mode 0644; it must be 0600/);
});

test('revoke by name or id removes only that line (comments and raw lines kept) and is audited; list flags raw tokens', (t) => {
  const { v, file } = vaultWithProjects(t);
  writeTokens(file, '# my delegates\ntokenRAW-plain:backend   # the page form\n');
  const made = ['a', 'b', 'c'].map((name) => {
    const r = v.run(['agent', 'token', 'create', '--force', '--name', name]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  });
  let r = v.run(['agent', 'token', 'list']);
  assert.match(r.stdout, new RegExp(`^${tokenIdOf('tokenRAW-plain')} +- +backend +\\(all\\) +never +active +raw token in file$`, 'm'));
  assert.match(r.stderr, /holds raw tokens .*anyone who reads the file can use them/);
  r = v.run(['agent', 'token', 'revoke', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^revoked token ${tokenIdOf(made[1])} \\(b\\) from ${file}; no agent is running`));
  r = v.run(['agent', 'token', 'revoke', tokenHash(made[2]).slice(0, 12)]);
  assert.equal(r.code, 0, r.stderr);
  r = v.run(['agent', 'token', 'revoke', tokenIdOf('tokenRAW-plain')]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.deepEqual(
    lines.map((l) => l.replace(/^sha256:(\w{8})\w+.*$/, '$1')),
    ['# my delegates', tokenIdOf(made[0]), ''],
  );
  const rows = auditRows(v.vault).filter((x) => x.op === 'token.revoke');
  assert.deepEqual(
    rows.map((x) => [x.token_id, x.detail]),
    [
      [tokenIdOf(made[1]), 'name=b scope=unrestricted'],
      [tokenIdOf(made[2]), 'name=c scope=unrestricted'],
      [tokenIdOf('tokenRAW-plain'), 'scope=project backend, all keys'],
    ],
  );
});

test('concurrent creates under the file lock: none is lost', async (t) => {
  const { v, file } = vaultWithProjects(t);
  const n = 6;
  const results = await tvaultMany(
    Array.from({ length: n }, (_, i) => [['agent', 'token', 'create', '--force', '--name', `n${i}`], { env: v.env }]),
    n,
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const stored = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.slice(7, 71));
  assert.deepEqual(stored.sort(), results.map((r) => tokenHash(r.stdout.trim())).sort());
});

test('with a running token agent: a created token works as soon as create returns, a revoked one fails as soon as revoke returns', async (t) => {
  const { v, file } = vaultWithProjects(t);
  const first = v.run(['agent', 'token', 'create', '--force', '--name', 'owner']).stdout.trim();
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  const get = async (token) => {
    const r = await request(a.sock, { v: 1, op: 'get', project: 'backend', key: 'DATABASE_URL', token });
    return r.ok ? r.value : r.error;
  };
  let r = v.run(['agent', 'token', 'create', '--force', '-p', 'backend', '--keys', 'DATABASE_URL', '--name', 'ci']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the agent \\(pid ${a.pid}\\) reloaded its tokens and accepts the new one\\n$`));
  const ci = r.stdout.trim();
  assert.equal(await get(ci), 'postgres://x', 'no wait: the agent already has it');
  r = v.run(['agent', 'token', 'revoke', 'ci']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`; the agent \\(pid ${a.pid}\\) reloaded its tokens\\n$`));
  assert.equal(await get(ci), 'token_required', 'no wait: already revoked');
  assert.equal(await get(first), 'postgres://x');
  assert.equal(a.child.exitCode, null);
  const log = agentLog(v);
  assert.ok(!log.text.includes(ci) && !log.text.includes(first));
  assert.deepEqual(
    log.events.filter((e) => e.ev === 'tokens').map((e) => [e.action, e.added, e.removed]),
    [
      ['reloaded', [tokenIdOf(ci)], []],
      ['reloaded', [], [tokenIdOf(ci)]],
    ],
  );
});

test('create never signals an agent that does not use tokens (SIGHUP would stop it)', async (t) => {
  const { v } = vaultWithProjects(t);
  const a = await startAgent(t, v);
  const r = v.run(['agent', 'token', 'create', '--force']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the running agent \\(pid ${a.pid}\\) does not use tokens; restart it with --require-token --token-file `));
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).ok, true);
  assert.equal(a.child.exitCode, null);
});

test('agent stop: a token agent stops over its socket for an unrestricted token; its own user without one signals it', async (t) => {
  const { v, file } = vaultWithProjects(t);
  const owner = v.run(['agent', 'token', 'create', '--force']).stdout.trim();
  const scoped = v.run(['agent', 'token', 'create', '--force', '-p', 'backend']).stdout.trim();
  let a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  let r = v.run(['agent', 'stop'], { env: { TVAULT_AGENT_TOKEN: owner } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^stopped the agent/);
  assert.deepEqual(await a.done, { code: 0, signal: null });
  assert.match(a.stderr(), /stopped \(stop\)/);
  a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  r = v.run(['agent', 'stop'], { env: { TVAULT_AGENT_TOKEN: scoped } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /the agent wants an unrestricted token to stop over its socket \(not in scope: .*\); it runs as you, so it was sent SIGTERM\nstopped the agent/,
  );
  assert.deepEqual(await a.done, { code: 0, signal: null });
  assert.match(a.stderr(), /stopped \(SIGTERM\)/);
  assert.ok(gone(a.sock));
});

test('a token made with --ttl 2s works, then is refused with token_expired without any edit or reload', async (t) => {
  const { v, file } = vaultWithProjects(t);
  v.run(['agent', 'token', 'create', '--force', '--name', 'owner']);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  const r = v.run(['agent', 'token', 'create', '--force', '-p', 'backend', '--ttl', '2s']);
  assert.equal(r.code, 0, r.stderr);
  const token = r.stdout.trim();
  const expiresAt = Date.parse(/expires (\S+);/.exec(r.stderr)[1]);
  const get = () => request(a.sock, { v: 1, op: 'get', key: 'DATABASE_URL', token });
  assert.equal((await get()).value, 'postgres://x');
  const refused = await waitFor(async () => ((await get()).error === 'token_expired' ? Date.now() : 0), { timeout: 5000, what: 'token_expired' });
  assert.ok(refused >= expiresAt, `refused ${expiresAt - refused} ms before its expiry`);
  const answer = await get();
  assert.deepEqual(answer, {
    v: 1,
    ok: false,
    error: 'token_expired',
    message: `token expired at ${new Date(expiresAt).toISOString()} (token_id ${tokenIdOf(token)}); ask for a new one`,
  });
  assert.equal(JSON.parse(v.run(['agent', 'token', 'list', '--json']).stdout)[1].expired, true);
  assert.match(v.run(['agent', 'token', 'list']).stdout, new RegExp(`^${tokenIdOf(token)} .* expired +hash$`, 'm'));
});
