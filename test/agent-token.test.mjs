// Capability tokens at the agent (issue 4): what `agent start --require-token` refuses, the
// token file's line format, and the gate every request passes: token_required, token_scope,
// token_expired, each with its own code and message, over the raw protocol and through the
// real CLI. Real agents on temp vaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASS, makeVault, requireRoot } from './helpers.mjs';
import {
  AGENT_ONLY,
  agentLog,
  auditRows,
  filesContaining,
  gone,
  request,
  startAgent,
  startAgentFails,
  tokenHash,
  tokenIdOf,
  tvaultNoTty,
  waitFor,
  writeTokens,
} from './agent-helpers.mjs';

const ALL = 'tokenAAAA-unrestricted-0123456789';
const BACKEND = 'tokenBBBB-backend-0123456789';
const KEYS = 'tokenCCCC-two-keys-0123456789';
const OLD = 'tokenDDDD-expired-0123456789';

/** A vault with secrets in two projects and a token file with one token of each kind. */
function setup(t) {
  const v = makeVault(t);
  const set = (k, val, p = 'default') => assert.equal(v.run(['set', k, '--stdin', '-p', p], { input: val }).code, 0);
  set('TOP', 'top-secret-value');
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  set('DATABASE_URL', 'postgres://db-secret', 'backend');
  set('REDIS_URL', 'redis://redis-secret', 'backend');
  set('STRIPE_KEY', 'sk_live_stripe_secret', 'backend');
  set('OTHER_KEY', 'other-secret', 'other');
  const file = writeTokens(
    join(v.dir, 'tokens'),
    [
      '# the page form, a plain token and a token scoped to a project:',
      ALL,
      `${BACKEND}:backend`,
      `sha256:${tokenHash(KEYS)}  project=backend  keys=DATABASE_URL,REDIS_URL  name=ci  # hashed, limited to two keys`,
      `sha256:${tokenHash(OLD)}  expires=2020-01-01T00:00:00Z  name=old`,
      '',
    ].join('\n'),
  );
  return { v, file };
}

const req = (a, token, fields) => request(a.sock, { v: 1, ...fields, ...(token === undefined ? {} : { token }) });

test('start: --require-token needs --token-file; --token-file, --allow-uid and --delegate-dir need --require-token (usage, exit 2)', (t) => {
  const { v, file } = setup(t);
  const cases = [
    [['--require-token'], /--require-token needs --token-file/],
    [['--token-file', file], /--token-file is used with --require-token/],
    [['--allow-uid', '65534'], /--allow-uid needs --require-token/],
    [['--delegate-dir', v.dir], /--delegate-dir needs --require-token/],
    [['--require-token', '--token-file', file, '--allow-uid', 'nobody'], /invalid --allow-uid "nobody"/],
  ];
  for (const [args, re] of cases) {
    const r = startAgentFails(v, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tvault: ${re.source}.*\\n$`));
    assert.ok(gone(join(v.vault, 'agent.sock')));
  }
});

test('start: a token file that is not 0600 (mode named), not ours, missing or empty is refused before the passphrase is asked', (t) => {
  const { v, file } = setup(t);
  const start = () => startAgentFails(v, ['--require-token', '--token-file', file], { env: { TVAULT_PASSPHRASE: undefined } });
  for (const mode of [0o644, 0o640, 0o604]) {
    writeTokens(file, `${ALL}\n`, mode);
    const r = start();
    assert.equal(r.code, 1, r.stderr);
    const m = mode.toString(8).padStart(4, '0');
    assert.equal(r.stderr, `tvault: token file ${file} has mode ${m}; it must be 0600, readable by you alone (fix: chmod 600 ${file})\n`);
  }
  writeTokens(file, '# nothing but comments\n\n   \n# and blanks\n');
  let r = start();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tvault: token file .* holds no tokens \(only comments and blank lines\)/);
  r = startAgentFails(v, ['--require-token', '--token-file', join(v.dir, 'missing')]);
  assert.match(r.stderr, /^tvault: cannot read token file .*missing: it does not exist\n$/);
  // Exit 1, not 3: the token file failed before any passphrase was wanted.
  assert.ok(gone(join(v.vault, 'agent.sock')) && gone(join(v.vault, 'agent.pid')));
  if (!requireRoot(t, 'then chowns a file to uid 65534')) return;
  writeTokens(file, `${ALL}\n`);
  chownSync(file, 65534, 65534);
  r = start();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tvault: token file .* is owned by uid 65534, not by you/);
  assert.ok(gone(join(v.vault, 'agent.sock')) && gone(join(v.vault, 'agent.pid')));
});

test('start: a malformed token file is refused naming the line, and never echoes a token', (t) => {
  const { v, file } = setup(t);
  const SECRET = 'tokenZZZZ-must-never-be-echoed';
  const cases = [
    [`${SECRET}  colour=blue`, 2, /line 2: unknown attribute "colour" \(known: project, keys, expires, name, created, exec, cmds, env\)/],
    [`${SECRET}  expires=2026-02-30T00:00:00Z`, 2, /line 2: expires= is not a date-time with a zone/],
    [`${SECRET}  expires=2026-12-01`, 2, /line 2: expires= is not a date-time with a zone/],
    [`${SECRET}  keys=GOOD,1BAD`, 2, /line 2: keys= is a comma-separated list of key names/],
    [`${SECRET}  name=a  name=b`, 2, /line 2: name is given twice/],
    [`${SECRET}:backend  project=other`, 2, /line 2: project is given twice \(as :project and project=\)/],
    [`${SECRET}:bad/project`, 2, /line 2: invalid project name/],
    [`${SECRET}  tokenYYYY`, 2, /line 2: field 2 is not an attribute \(name=value\); a line holds one token/],
    [`${SECRET}  name=ci\nsha256:${tokenHash('x')}  name=ci`, 3, /line 3: the name is already used on line 2/],
    [`${SECRET}\nsha256:${tokenHash(SECRET).toUpperCase()}`, 3, /line 3: the same token as line 2/],
    [`sha256:abc123`, 2, /line 2: "sha256:" must be followed by the 64 hex digits/],
    [`${SECRET}!`, 2, /line 2: a token may hold only letters, digits and \. _ ~ \+ \/ = -/],
    // A line whose token was left out: its first attribute must not become a raw token.
    [`project=backend  keys=STRIPE_KEY`, 2, /line 2: the first field looks like an attribute \(name=value\), not a token: the line has no token/],
    [`name=ci:backend`, 2, /line 2: the first field looks like an attribute/],
  ];
  for (const [line, n, re] of cases) {
    writeTokens(file, `# header\n${line}\n`);
    const r = startAgentFails(v, ['--require-token', '--token-file', file]);
    assert.equal(r.code, 1, `${line}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tvault: ${file}: line ${n}: `), line);
    assert.match(r.stderr, re, line);
    assert.ok(!r.stderr.includes(SECRET) && !r.stderr.includes('tokenYYYY'), `a token echoed: ${r.stderr}`);
    assert.ok(!r.stderr.includes(line.split(/\s/)[0]), `the first field echoed: ${r.stderr}`);
  }
  assert.ok(!agentLog(v).text.includes(SECRET), 'the log holds a token');
});

test('the line format: plain token[:project] and sha256: lines with attributes, comments and CRLF', async (t) => {
  const { v, file } = setup(t);
  const PLAIN_ATTR = 'tokenEEEE-plain-with-attrs';
  writeTokens(
    file,
    readFileSync(file, 'utf8') +
      `${PLAIN_ATTR}  keys=STRIPE_KEY  name=plain-attrs  expires=2999-01-01T00:00:00+02:00   # trailing comment\r\n` +
      '\t  # an indented comment\n',
  );
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  assert.match(a.line, /tokens required \(5 from .*tokens\)\)$/);
  const status = async (token) => (await req(a, token, { op: 'status' })).token;
  assert.deepEqual(await status(ALL), { id: tokenIdOf(ALL), name: null, project: null, keys: null, expiresAt: null });
  assert.deepEqual(await status(BACKEND), { id: tokenIdOf(BACKEND), name: null, project: 'backend', keys: null, expiresAt: null });
  assert.deepEqual(await status(KEYS), { id: tokenIdOf(KEYS), name: 'ci', project: 'backend', keys: ['DATABASE_URL', 'REDIS_URL'], expiresAt: null });
  assert.deepEqual(await status(PLAIN_ATTR), {
    id: tokenIdOf(PLAIN_ATTR),
    name: 'plain-attrs',
    project: null,
    keys: ['STRIPE_KEY'],
    expiresAt: '2998-12-31T22:00:00.000Z',
  });
  // Only an unrestricted token is told the file and the count.
  const full = await req(a, ALL, { op: 'status' });
  assert.equal(full.requireToken, true);
  assert.equal(full.tokenFile, file);
  assert.equal(full.tokens, 5);
  const scoped = await req(a, BACKEND, { op: 'status' });
  assert.equal(scoped.tokenFile, undefined);
  assert.equal(scoped.project, 'backend', 'status of a scoped token reports its project');
  const plain = await req(a, PLAIN_ATTR, { op: 'get', project: 'backend', key: 'STRIPE_KEY' });
  assert.equal(plain.value, 'sk_live_stripe_secret');
  const log = agentLog(v).events.find((e) => e.ev === 'start');
  assert.deepEqual(log.tokens.sort(), [ALL, BACKEND, KEYS, OLD, PLAIN_ATTR].map(tokenIdOf).sort());
});

test('no token, an unknown or empty token: token_required, "token required or invalid", for every op', async (t) => {
  const { v, file } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  const ops = [{ op: 'get', key: 'TOP' }, { op: 'getall' }, { op: 'getselected', prefix: 'T' }, { op: 'status' }, { op: 'stop' }];
  for (const token of [undefined, '', 'not-a-token', `${ALL}x`, tokenHash(ALL), `sha256:${tokenHash(ALL)}`]) {
    for (const fields of ops) {
      const r = await req(a, token, fields);
      assert.deepEqual(r, { v: 1, ok: false, error: 'token_required', message: 'token required or invalid' }, `${fields.op} with ${JSON.stringify(token)}`);
    }
  }
  // Protocol errors are still told apart before the token is looked at.
  assert.equal((await request(a.sock, { v: 1, op: 'fly' })).error, 'unknown_op');
  assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'X', token: 5 })).error, 'bad_request');
  assert.equal(a.child.exitCode, null, 'no token, no stop');
  // Refusals are logged as such, without a token_id (there is none to name).
  const refused = agentLog(v).events.filter((e) => e.result === 'token_required');
  assert.equal(refused.length, 30);
  assert.ok(refused.every((e) => e.token === undefined));
  assert.equal(auditRows(v.vault).filter((r) => r.op === 'get' || r.op === 'getall' || r.op === 'getselected').length, 0, 'nothing was read');
});

test('scope: a project token is refused on another project, resolves a null project to its own, and may not stop', async (t) => {
  const { v, file } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  let r = await req(a, BACKEND, { op: 'get', project: 'other', key: 'OTHER_KEY' });
  assert.deepEqual(r, { v: 1, ok: false, error: 'token_scope', message: "not in scope: project 'other' (this token is limited to project 'backend')" });
  r = await req(a, BACKEND, { op: 'getall', project: 'default' });
  assert.equal(r.error, 'token_scope');
  r = await req(a, BACKEND, { op: 'status', project: 'other' });
  assert.equal(r.error, 'token_scope');
  // project: null means the token's project, not the vault's current one (default).
  r = await req(a, BACKEND, { op: 'get', project: null, key: 'DATABASE_URL' });
  assert.deepEqual(r, { v: 1, ok: true, project: 'backend', key: 'DATABASE_URL', value: 'postgres://db-secret' });
  r = await req(a, BACKEND, { op: 'getall' });
  assert.deepEqual(Object.keys(r.secrets), ['DATABASE_URL', 'REDIS_URL', 'STRIPE_KEY']);
  r = await req(a, BACKEND, { op: 'stop' });
  assert.deepEqual(r, { v: 1, ok: false, error: 'token_scope', message: 'not in scope: only an unrestricted token (no project, no keys) may stop the agent' });
  // The unrestricted token reads any project (null: the current one) and may stop the agent.
  assert.equal((await req(a, ALL, { op: 'get', key: 'TOP' })).value, 'top-secret-value');
  assert.equal((await req(a, ALL, { op: 'get', project: 'other', key: 'OTHER_KEY' })).value, 'other-secret');
  assert.equal(a.child.exitCode, null);
  assert.deepEqual(await req(a, ALL, { op: 'stop' }), { v: 1, ok: true, pid: a.pid, stopping: true });
  assert.deepEqual(await a.done, { code: 0, signal: null });
  // Reads are audited with the token's id (and never the token).
  const reads = auditRows(v.vault).filter((row) => row.via === 'agent' && ['get', 'getall'].includes(row.op));
  assert.deepEqual(
    reads.map((row) => [row.op, row.project, row.token_id]),
    [
      ['get', 'backend', tokenIdOf(BACKEND)],
      ['getall', 'backend', tokenIdOf(BACKEND)],
      ['get', 'default', tokenIdOf(ALL)],
      ['get', 'other', tokenIdOf(ALL)],
    ],
  );
});

test('scope: a token limited to keys reads those, is refused any other key, getall, and a prefix without --only', async (t) => {
  const { v, file } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  let r = await req(a, KEYS, { op: 'get', key: 'DATABASE_URL' });
  assert.equal(r.value, 'postgres://db-secret');
  r = await req(a, KEYS, { op: 'get', key: 'STRIPE_KEY' });
  assert.deepEqual(r, { v: 1, ok: false, error: 'token_scope', message: "not in scope: key 'STRIPE_KEY' (this token may read only: DATABASE_URL, REDIS_URL)" });
  r = await req(a, KEYS, { op: 'getall' });
  assert.equal(r.error, 'token_scope');
  assert.match(r.message, /^not in scope: this token may read only named keys \(DATABASE_URL, REDIS_URL\)/);
  r = await req(a, KEYS, { op: 'getselected', prefix: 'DATA' });
  assert.equal(r.error, 'token_scope');
  r = await req(a, KEYS, { op: 'getselected', only: ['DATABASE_URL', 'STRIPE_KEY'] });
  assert.equal(r.error, 'token_scope');
  assert.match(r.message, /key 'STRIPE_KEY'/);
  r = await req(a, KEYS, { op: 'getselected', only: ['REDIS_URL', 'DATABASE_URL'], prefix: 'RED' });
  assert.deepEqual(r.secrets, { REDIS_URL: 'redis://redis-secret' });
  r = await req(a, KEYS, { op: 'get', project: 'other', key: 'DATABASE_URL' });
  assert.equal(r.error, 'token_scope', 'still limited to its project');
  const audited = auditRows(v.vault).filter((row) => row.token_id === tokenIdOf(KEYS));
  assert.deepEqual(
    audited.map((row) => [row.op, row.keys]),
    [
      ['get', '["DATABASE_URL"]'],
      ['getselected', '["REDIS_URL"]'],
    ],
  );
});

test('an expired token is refused with token_expired at request time; the raw token is nowhere on disk', async (t) => {
  const { v, file } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file]);
  for (const fields of [{ op: 'get', key: 'TOP' }, { op: 'status' }, { op: 'stop' }]) {
    const r = await req(a, OLD, fields);
    assert.deepEqual(r, {
      v: 1,
      ok: false,
      error: 'token_expired',
      message: `token expired at 2020-01-01T00:00:00.000Z (token_id ${tokenIdOf(OLD)}); ask for a new one`,
    });
  }
  await req(a, BACKEND, { op: 'get', key: 'DATABASE_URL' });
  await req(a, ALL, { op: 'stop' });
  await a.done;
  // The log names requests by token_id; no token (raw, or as sent) is in any file but the
  // token file, which holds the plain ones because the test wrote them there.
  const log = agentLog(v);
  assert.ok(log.events.some((e) => e.result === 'token_expired' && e.token === tokenIdOf(OLD)));
  for (const token of [ALL, BACKEND, KEYS, OLD]) {
    assert.deepEqual(filesContaining(v.vault, token), [], `${token} in the vault dir`);
    assert.ok(!log.text.includes(token), `${token} in agent.log`);
    assert.ok(!JSON.stringify(auditRows(v.vault)).includes(token), `${token} in the audit table`);
  }
  assert.deepEqual(filesContaining(v.dir, ALL), [file]);
  assert.deepEqual(filesContaining(v.dir, KEYS), [], 'a hashed token is in no file at all');
});

test('refused requests do not keep the agent unlocked: only a valid token resets the idle timer', async (t) => {
  const { v, file } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file, '--idle', '1s']);
  const t0 = Date.now();
  let last = 0;
  while (a.child.exitCode === null && Date.now() - t0 < 3000) {
    await req(a, 'wrong-token', { op: 'get', key: 'TOP' }).catch(() => null);
    last = Date.now();
    await new Promise((r) => setTimeout(r, 150));
  }
  const r = await a.done;
  assert.deepEqual(r, { code: 0, signal: null });
  assert.ok(last - t0 < 2000, `kept alive for ${last - t0} ms by refused requests`);
  assert.match(a.stderr(), /stopped \(idle\)/);
});

test('the CLI: a client that sends a token gets the refusal as its answer (exit 1); without one it falls back', async (t) => {
  const { v, file } = setup(t);
  await startAgent(t, v, ['--require-token', '--token-file', file]);
  const client = (args, token) => tvaultNoTty(args, { env: { ...v.env, ...AGENT_ONLY, TVAULT_AGENT_TOKEN: token } });
  let r = client(['get', 'DATABASE_URL'], BACKEND);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'postgres://db-secret\n');
  r = client(['env', '--only', 'REDIS_URL', '--format', 'dotenv'], KEYS);
  assert.equal(r.stdout, "REDIS_URL='redis://redis-secret'\n", r.stderr);
  const final = [
    [['get', 'TOP'], 'bogus-token', /^tvault: token required or invalid\n$/],
    [['get', '-p', 'other', 'OTHER_KEY'], BACKEND, /^tvault: not in scope: project 'other'/],
    [['get', 'STRIPE_KEY'], KEYS, /^tvault: not in scope: key 'STRIPE_KEY'/],
    [['env'], KEYS, /^tvault: not in scope: this token may read only named keys/],
    [['get', 'TOP'], OLD, /^tvault: token expired at 2020-01-01/],
  ];
  for (const [args, token, re] of final) {
    // The fast path, and the full CLI (session.ts): the fast path hands over on a flag it does not know.
    for (const a of [args, [...args, '--agent']]) {
      r = client(a, token);
      assert.equal(r.code, 1, `${a.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
  }
  // No token: not a delegate. The owner falls back to a direct unlock, which here has nothing
  // to unlock with (exit 3), and with the passphrase reads directly.
  r = client(['get', 'TOP'], undefined);
  assert.equal(r.code, 3, r.stderr);
  r = tvaultNoTty(['get', 'TOP'], { env: { ...v.env, TVAULT_NO_AGENT: undefined, TVAULT_PASSPHRASE: PASS } });
  assert.equal(r.stdout, 'top-secret-value\n', r.stderr);
  await waitFor(() => agentLog(v).events.some((e) => e.result === 'token_expired'), { what: 'the expired request in the log' });
});
