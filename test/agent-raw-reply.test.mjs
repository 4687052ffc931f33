// Raw replies (docs/PROTOCOL.md, "Raw replies"), against a real agent: `get` with
// `"reply":"value"` answers a header and exactly the value's bytes, `getall` with
// `"reply":"shell"` exactly what `tvault env --format shell` prints; names the shell format
// refuses give `unformattable` (no value in the message, no audit row); everything else (token
// scopes, not_found, locked, audit rows) is what the same op without `reply` gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { HOSTILE_VALUES as HOSTILE, makeVault } from './helpers.mjs';
import { AGENT_ON, agentLog, auditRows, request, startAgent, tokenHash, writeTokens } from './agent-helpers.mjs';

/** Sends one request line and collects every byte of the answer, as a Buffer. */
function rawBytes(sock, obj) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    const chunks = [];
    const timer = setTimeout(() => (c.destroy(), reject(new Error('no answer'))), 20_000);
    c.on('connect', () => c.end(JSON.stringify(obj) + '\n'));
    c.on('data', (d) => chunks.push(d));
    c.on('error', () => undefined);
    c.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(chunks))));
  });
}

/** A raw reply: checks the header's exact form and the length, returns the body. */
function rawBody(answer) {
  const nl = answer.indexOf(0x0a);
  const header = answer.subarray(0, nl).toString('latin1');
  const m = /^\{"ok":true,"bytes":(0|[1-9][0-9]*)\}$/.exec(header);
  assert.ok(m, `a raw header: ${JSON.stringify(answer.subarray(0, 200).toString())}`);
  const body = answer.subarray(nl + 1);
  assert.equal(body.length, Number(m[1]), 'exactly N bytes after the header, then the close');
  return body;
}

/** The error line of an answer, parsed (an error is never a raw reply). */
const errorOf = (answer) => {
  const a = JSON.parse(answer.toString('utf8').split('\n')[0]);
  assert.equal(a.ok, false);
  return a;
};

function hostileVault(t) {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(HOSTILE)) assert.equal(v.run(['set', k, '--stdin', '--keep-newline'], { input: val }).code, 0, k);
  assert.equal(v.run(['projects', 'create', 'web']).code, 0);
  assert.equal(v.run(['set', 'WEB_ONLY', '--stdin', '-p', 'web'], { input: "w'eb" }).code, 0);
  return v;
}

test('get with reply value: a header and exactly the value bytes, for every hostile value; audited like get', async (t) => {
  const v = hostileVault(t);
  const a = await startAgent(t, v);
  for (const [k, val] of Object.entries(HOSTILE)) {
    const body = rawBody(await rawBytes(a.sock, { v: 1, op: 'get', key: k, reply: 'value' }));
    assert.deepEqual(body, Buffer.from(val, 'utf8'), k);
    assert.equal((await request(a.sock, { v: 1, op: 'get', key: k })).value, val, `${k}: the JSON answer agrees`);
  }
  assert.deepEqual(rawBody(await rawBytes(a.sock, { v: 1, op: 'get', key: 'WEB_ONLY', project: 'web', reply: 'value' })), Buffer.from("w'eb"));
  const gets = auditRows(v.vault).filter((r) => r.op === 'get' && r.via === 'agent');
  assert.equal(gets.length, 2 * Object.keys(HOSTILE).length + 1, 'one row per read, raw or not');
  assert.ok(
    agentLog(v).events.some((e) => e.ev === 'request' && e.op === 'get' && e.reply === 'value' && e.result === 'ok' && typeof e.us === 'number'),
    'the log says which reply',
  );
});

test('getall with reply shell: exactly what tvault env --format shell prints, direct and through the agent', async (t) => {
  const v = hostileVault(t);
  const a = await startAgent(t, v);
  for (const project of [undefined, 'web']) {
    const p = project ? ['-p', project] : [];
    const direct = v.run(['env', '--format', 'shell', ...p], { encoding: 'buffer' });
    assert.equal(direct.code, 0, String(direct.stderr));
    const viaAgent = v.run(['env', '--format', 'shell', ...p], { encoding: 'buffer', env: AGENT_ON });
    assert.deepEqual(viaAgent.stdout, direct.stdout);
    const body = rawBody(await rawBytes(a.sock, { v: 1, op: 'getall', ...(project && { project }), reply: 'shell' }));
    assert.deepEqual(body, direct.stdout, `project ${project ?? 'current'}`);
  }
  const empty = makeVault(t);
  const b = await startAgent(t, empty);
  assert.deepEqual(rawBody(await rawBytes(b.sock, { v: 1, op: 'getall', reply: 'shell' })), Buffer.alloc(0), 'an empty project: bytes 0');
  // Two getall rows for the CLI's `env` through the agent, two for the raw replies.
  assert.equal(auditRows(v.vault).filter((r) => r.op === 'getall' && r.via === 'agent').length, 4, 'audited like getall');
});

test('getall with reply shell: a dangerous, TVAULT_ or reserved name is unformattable, with no value and no row; an allowed name passes', async (t) => {
  const v = makeVault(t);
  const SECRET = 'do-not-print-me $(id)';
  for (const k of ['APP_KEY', 'LD_PRELOAD']) assert.equal(v.run(['set', k, '--stdin'], { input: SECRET }).code, 0);
  const a = await startAgent(t, v);
  const rowsBefore = auditRows(v.vault).length;
  const refused = await rawBytes(a.sock, { v: 1, op: 'getall', reply: 'shell' });
  assert.ok(!refused.includes(Buffer.from('do-not-print')), 'no value anywhere in the answer');
  const err = errorOf(refused);
  assert.equal(err.error, 'unformattable');
  assert.match(err.message, /refusing to inject LD_PRELOAD.*tvault allow-name -p default LD_PRELOAD/);
  assert.equal(auditRows(v.vault).length, rowsBefore, 'nothing served, no row');
  // The JSON answer serves it (the client applies the allow list), as before.
  assert.equal((await request(a.sock, { v: 1, op: 'getall' })).secrets.LD_PRELOAD, SECRET);

  assert.equal(v.run(['allow-name', 'LD_PRELOAD']).code, 0);
  const direct = v.run(['env', '--format', 'shell'], { encoding: 'buffer' });
  assert.equal(direct.code, 0, String(direct.stderr));
  assert.deepEqual(rawBody(await rawBytes(a.sock, { v: 1, op: 'getall', reply: 'shell' })), direct.stdout, 'allowed: let through, the same bytes');
  // The agent remembers names that passed, never a pass under another allow list: refused again.
  assert.equal(v.run(['allow-name', '--remove', 'LD_PRELOAD']).code, 0);
  for (let i = 0; i < 2; i++) {
    const again = await rawBytes(a.sock, { v: 1, op: 'getall', reply: 'shell' });
    assert.ok(!again.includes(Buffer.from('do-not-print')), `no longer allowed, try ${i + 1}`);
    assert.equal(errorOf(again).error, 'unformattable', `no longer allowed, try ${i + 1}`);
  }

  for (const name of ['TVAULT_DIR', 'RANDOM']) {
    const w = makeVault(t);
    assert.equal(w.run(['set', name, '--stdin'], { input: SECRET }).code, 0);
    const b = await startAgent(t, w);
    const answer = await rawBytes(b.sock, { v: 1, op: 'getall', reply: 'shell' });
    assert.ok(!answer.includes(Buffer.from('do-not-print')), name);
    assert.equal(errorOf(answer).error, 'unformattable', name);
    assert.match(errorOf(answer).message, new RegExp(name));
  }
});

test('refusals are those of the same op without reply: not_found, locked, token scopes, bad_request', async (t) => {
  const v = hostileVault(t);
  const same = async (sock, req, code) => {
    const plain = errorOf(await rawBytes(sock, req));
    const raw = errorOf(await rawBytes(sock, { ...req, reply: req.op === 'get' ? 'value' : 'shell' }));
    assert.deepEqual(raw, plain, JSON.stringify(req));
    assert.equal(raw.error, code, JSON.stringify(req));
  };
  const a = await startAgent(t, v);
  await same(a.sock, { v: 1, op: 'get', key: 'NOPE' }, 'not_found');
  await same(a.sock, { v: 1, op: 'getall', project: 'nope' }, 'not_found');
  await same(a.sock, { v: 1, op: 'get', key: 'NOPE', project: 'nope' }, 'not_found');
  assert.equal(errorOf(await rawBytes(a.sock, { v: 1, op: 'get', key: 'QUOTES', reply: 'shell' })).error, 'bad_request');
  assert.equal(errorOf(await rawBytes(a.sock, { v: 1, op: 'getselected', only: ['QUOTES'], reply: 'shell' })).error, 'bad_request');
  a.child.kill('SIGTERM');
  await a.done;

  const l = await startAgent(t, v, ['--locked'], { env: { TVAULT_PASSPHRASE: undefined } });
  await same(l.sock, { v: 1, op: 'get', key: 'QUOTES' }, 'locked');
  await same(l.sock, { v: 1, op: 'getall' }, 'locked');
  l.child.kill('SIGTERM');
  await l.done;

  const KEYS = 'tok-keys-0123456789abcdef0123456789';
  const OTHER = 'tok-web-0123456789abcdef0123456789ab';
  const EXEC = 'tok-exec-0123456789abcdef0123456789a';
  const ALL = 'tok-all-0123456789abcdef0123456789abc';
  const file = writeTokens(
    join(v.dir, 'tokens'),
    [
      `sha256:${tokenHash(KEYS)} keys=QUOTES name=keys`,
      `sha256:${tokenHash(OTHER)} project=web name=web`,
      `sha256:${tokenHash(EXEC)} exec=only name=exec`,
      `sha256:${tokenHash(ALL)} name=all`,
      '',
    ].join('\n'),
  );
  const g = await startAgent(t, v, ['--require-token', '--token-file', file]);
  await same(g.sock, { v: 1, op: 'get', key: 'QUOTES' }, 'token_required');
  await same(g.sock, { v: 1, op: 'getall', token: 'wrong' }, 'token_required');
  await same(g.sock, { v: 1, op: 'get', key: 'SUBST', token: KEYS }, 'token_scope');
  await same(g.sock, { v: 1, op: 'getall', token: KEYS }, 'token_scope');
  await same(g.sock, { v: 1, op: 'getall', project: 'default', token: OTHER }, 'token_scope');
  await same(g.sock, { v: 1, op: 'get', key: 'QUOTES', token: EXEC }, 'exec_only');
  await same(g.sock, { v: 1, op: 'getall', token: EXEC }, 'exec_only');
  // What a token may read, it reads raw too.
  assert.deepEqual(rawBody(await rawBytes(g.sock, { v: 1, op: 'get', key: 'QUOTES', token: KEYS, reply: 'value' })), Buffer.from(HOSTILE.QUOTES));
  const web = v.run(['env', '--format', 'shell', '-p', 'web'], { encoding: 'buffer' }).stdout;
  assert.deepEqual(rawBody(await rawBytes(g.sock, { v: 1, op: 'getall', token: OTHER, reply: 'shell' })), web, 'a project token: its project');
  assert.deepEqual(
    rawBody(await rawBytes(g.sock, { v: 1, op: 'getall', token: ALL, reply: 'shell' })),
    v.run(['env', '--format', 'shell'], { encoding: 'buffer' }).stdout,
  );
});
