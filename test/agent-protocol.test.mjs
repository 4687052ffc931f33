// The wire protocol as docs/PROTOCOL.md describes it, against a real agent: every bad input
// gets its own error code and the agent keeps serving; values survive the JSON encoding
// byte for byte; a client of another uid is refused before a byte of its request is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { makeVault, requireRoot } from './helpers.mjs';
import { SETPRIV, auditRows, rawRequest, request, startAgent } from './agent-helpers.mjs';

const TRICKY = 'quote " backslash \\ tab \t cr \r nl \n ctl \u0001\u001f del \u007f é ✓ 𝄞 \u2028 end';

async function servingAgent(t) {
  const v = makeVault(t);
  const set = (k, val) => assert.equal(v.run(['set', k, '--stdin', '--keep-newline'], { input: val }).code, 0);
  set('DB_URL', 'postgres://u:p@h/db');
  set('DB_USER', 'admin');
  set('API_KEY', 'k-123');
  set('TRICKY', TRICKY);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['set', 'ONLY_BACKEND', '--stdin', '-p', 'backend'], { input: 'b' }).code, 0);
  const a = await startAgent(t, v);
  const stillServing = async () => assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'API_KEY' })).value, 'k-123');
  return { v, a, stillServing };
}

test('reads: get, getall, getselected (only, prefix), explicit project and the current project', async (t) => {
  const { a } = await servingAgent(t);
  assert.deepEqual(await request(a.sock, { v: 1, op: 'get', project: null, key: 'DB_URL' }), {
    v: 1,
    ok: true,
    project: 'default',
    key: 'DB_URL',
    value: 'postgres://u:p@h/db',
  });
  const all = await request(a.sock, { v: 1, op: 'getall' });
  assert.equal(all.project, 'default');
  assert.deepEqual(Object.keys(all.secrets), ['API_KEY', 'DB_URL', 'DB_USER', 'TRICKY']);
  assert.deepEqual((await request(a.sock, { v: 1, op: 'getselected', prefix: 'DB_' })).secrets, { DB_URL: 'postgres://u:p@h/db', DB_USER: 'admin' });
  assert.deepEqual((await request(a.sock, { v: 1, op: 'getselected', only: ['API_KEY', 'MISSING'] })).secrets, { API_KEY: 'k-123' });
  assert.deepEqual(await request(a.sock, { v: 1, op: 'getall', project: 'backend' }), { v: 1, ok: true, project: 'backend', secrets: { ONLY_BACKEND: 'b' } });
});

test('values with quotes, backslashes, control characters and non-ASCII come back byte for byte', async (t) => {
  const { a } = await servingAgent(t);
  const raw = await rawRequest(a.sock, '{"v":1,"op":"get","key":"TRICKY"}\n');
  assert.equal(raw.text.split('\n').length, 2, 'exactly one line, newline-terminated');
  assert.equal(JSON.parse(raw.text).value, TRICKY);
  assert.equal((await request(a.sock, { v: 1, op: 'getall' })).secrets.TRICKY, TRICKY);
});

test('every bad request gets its own error code, and the agent still serves afterwards', async (t) => {
  const { a, stillServing } = await servingAgent(t);
  const cases = [
    ['oversize', 'x'.repeat(64 * 1024 + 1), 'too_large'],
    ['oversize by far (1 MiB)', Buffer.alloc(1024 * 1024, 0x61), 'too_large'],
    ['oversize, even with a newline later', JSON.stringify({ v: 1, op: 'get', key: 'A', pad: 'y'.repeat(70_000) }) + '\n', 'too_large'],
    ['garbage', 'this is not json\n', 'bad_json'],
    ['binary garbage', Buffer.from([0xff, 0x00, 0xfe, 0x0a]), 'bad_json'],
    ['empty', '', 'bad_json'],
    ['not an object', '[1,2,3]\n', 'bad_request'],
    ['wrong version', '{"v":2,"op":"get","key":"API_KEY"}\n', 'bad_version'],
    ['no version', '{"op":"get","key":"API_KEY"}\n', 'bad_version'],
    ['unknown op', '{"v":1,"op":"set","key":"API_KEY","value":"x"}\n', 'unknown_op'],
    ['op that returns the key', '{"v":1,"op":"getkey"}\n', 'unknown_op'],
    ['no op', '{"v":1}\n', 'bad_request'],
    ['get without key', '{"v":1,"op":"get"}\n', 'bad_request'],
    ['invalid key name', '{"v":1,"op":"get","key":"../etc"}\n', 'bad_request'],
    ['invalid project name', '{"v":1,"op":"getall","project":"a/b"}\n', 'bad_request'],
    ['project of the wrong type', '{"v":1,"op":"getall","project":7}\n', 'bad_request'],
    ['getselected without a selection', '{"v":1,"op":"getselected"}\n', 'bad_request'],
    ['only with a bad name', '{"v":1,"op":"getselected","only":["OK","no way"]}\n', 'bad_request'],
    ['only on getall', '{"v":1,"op":"getall","only":["API_KEY"]}\n', 'bad_request'],
    ['token of the wrong type', '{"v":1,"op":"status","token":1}\n', 'bad_request'],
    ['missing key', '{"v":1,"op":"get","key":"NOPE"}\n', 'not_found'],
    ['missing project', '{"v":1,"op":"get","project":"nope","key":"A"}\n', 'not_found'],
  ];
  for (const [what, payload, code] of cases) {
    const r = await rawRequest(a.sock, payload);
    assert.ok(r.json, `${what}: not a JSON answer: ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.deepEqual(Object.keys(r.json), ['v', 'ok', 'error', 'message'], what);
    assert.equal(r.json.ok, false, what);
    assert.equal(r.json.error, code, `${what}: ${r.json.message}`);
    assert.doesNotMatch(r.json.message, /\n/);
    assert.equal(r.text.split('\n').length, 2, `${what}: one line`);
    await stillServing();
  }
  assert.equal(a.child.exitCode, null);
});

test('a request without a trailing newline is read to end of input; bytes after the newline are ignored', async (t) => {
  const { a } = await servingAgent(t);
  assert.equal((await rawRequest(a.sock, '{"v":1,"op":"get","key":"API_KEY"}')).json.value, 'k-123');
  assert.equal((await rawRequest(a.sock, '{"v":1,"op":"get","key":"API_KEY"}\nGARBAGE')).json.value, 'k-123');
  // Fields a newer client may add are ignored within v1.
  assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'API_KEY', newField: true })).value, 'k-123');
});

test('a request in pieces is read whole, the same bytes answered as one sent at once (the addon reads a complete line at accept; anything else goes through a socket)', async (t) => {
  const { a } = await servingAgent(t);
  const line = '{"v":1,"op":"get","key":"API_KEY"}\n';
  const whole = (await rawRequest(a.sock, line)).text;
  assert.equal(JSON.parse(whole).value, 'k-123');
  const pieces = await new Promise((resolve, reject) => {
    const c = net.connect(a.sock);
    let out = '';
    c.on('connect', async () => {
      c.write(line.slice(0, 10)); // the rest comes after the agent has looked at the connection
      await new Promise((r) => setTimeout(r, 100));
      c.write(line.slice(10, 20));
      await new Promise((r) => setTimeout(r, 50));
      c.end(line.slice(20));
    });
    c.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', () => resolve(out));
  });
  assert.equal(pieces, whole, 'byte for byte');
  // Connected, then silent for a while, then the whole line: answered too.
  const late = await new Promise((resolve, reject) => {
    const c = net.connect(a.sock);
    let out = '';
    c.on('connect', () => setTimeout(() => c.end(line), 100));
    c.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', () => resolve(out));
  });
  assert.equal(late, whole);
});

test('many concurrent clients are all answered, and each read has its own audit row (batched commits lose none)', async (t) => {
  const { v, a } = await servingAgent(t);
  const before = auditRows(v.vault).length;
  const rs = await Promise.all(Array.from({ length: 64 }, (_, i) => request(a.sock, i % 2 ? { v: 1, op: 'get', key: 'DB_USER' } : { v: 1, op: 'getall' })));
  for (const [i, r] of rs.entries()) assert.equal(i % 2 ? r.value : r.secrets.DB_USER, 'admin');
  // Every answer came after its row was committed: all 64 are there now, once each, in the chain.
  const rows = auditRows(v.vault).slice(before);
  assert.equal(rows.length, 64);
  assert.equal(rows.filter((r) => r.op === 'get' && r.keys === '["DB_USER"]' && r.via === 'agent').length, 32);
  assert.equal(rows.filter((r) => r.op === 'getall' && JSON.parse(r.keys).includes('DB_USER')).length, 32);
  const verify = v.run(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
});

const RAW_CLIENT = `
const c = require('net').connect(process.argv[1]);
let out = '';
c.on('connect', () => c.end(JSON.stringify({ v: 1, op: 'getall', project: null }) + '\\n'));
c.on('data', (d) => (out += d));
c.on('error', (e) => (out += '\\nERROR ' + e.code));
c.on('close', () => process.stdout.write(out));
`;

test('a client running as another uid is refused with permission_denied, even with the socket mode wide open', async (t) => {
  if (!requireRoot(t, 'runs a process as uid 65534 (setpriv)')) return;
  const { v, a } = await servingAgent(t);
  // Open every door the file system has, so that only the peer-credential check stands.
  chmodSync(v.dir, 0o755);
  chmodSync(v.vault, 0o755);
  chmodSync(a.sock, 0o666);
  const asNobody = spawnSync('setpriv', [...SETPRIV, process.execPath, '-e', RAW_CLIENT, a.sock], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(asNobody.status, 0, asNobody.stderr);
  assert.ok(asNobody.stdout, `no output; stderr: ${asNobody.stderr}`);
  const answer = JSON.parse(asNobody.stdout.split('\n')[0]);
  assert.equal(answer.ok, false);
  assert.equal(answer.error, 'permission_denied');
  assert.doesNotMatch(asNobody.stdout, /admin|k-123|postgres/);
  // Control: the same client as the agent's own uid gets the secrets through the same socket.
  const asMe = spawnSync(process.execPath, ['-e', RAW_CLIENT, a.sock], { encoding: 'utf8', timeout: 10_000 });
  assert.ok(asMe.stdout, `no output; stderr: ${asMe.stderr} ${asMe.error}`);
  assert.equal(JSON.parse(asMe.stdout.split('\n')[0]).secrets.DB_USER, 'admin');
  await request(a.sock, { v: 1, op: 'status' });
  // The refusal is logged with the peer's uid.
  const { readFileSync } = await import('node:fs');
  const log = readFileSync(`${v.dir}/state/tvault/agent.log`, 'utf8');
  assert.match(log, /"ev":"refused","peer":\{"uid":65534,"pid":\d+\},"result":"permission_denied"/);
  chmodSync(v.vault, 0o700);
});
