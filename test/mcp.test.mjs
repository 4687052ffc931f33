// `tvault mcp` (issue 16): the MCP server as a coding agent's client sees it. The SDK's own
// Client over stdio (StdioClientTransport) starts the built CLI against a real agent that
// requires tokens; the server holds only an exec-only token. Initialise, list the tools, call
// each; the run tool's answer never holds the value in any encoding the masker covers; scope
// refusals a model can act on; no start with a passphrase in the environment; the audit rows;
// a timeout, an output cap, and a client that goes away mid-run leave no child behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, ROOT, baseEnv, makeVault } from './helpers.mjs';
import { auditRows, request, startAgent, tokenHash, waitFor, writeTokens } from './agent-helpers.mjs';

// Characters that make every encoding differ from the value: '/', '+', '"', '&', '=', a space, non-ASCII.
const SECRET = 'Sup3r/secret+val "q"&k=v ünï';
const OTHER = 'other-secret-value-77c1';
const SHORT = 'abc12';
const EXEC = 'tokenMMMM-mcp-exec-only-0123456789'; // exec-only, API_KEY only
const EXEC_ALL = 'tokenNNNN-mcp-exec-all-0123456789'; // exec-only, every key
const CMD = 'tokenOOOO-mcp-exec-cmd-0123456789'; // exec-only, may run only `node`
const READER = 'tokenPPPP-mcp-reader-0123456789'; // can read values: the server refuses to use it
const TOOLS = ['check_secrets', 'list_secrets', 'run_with_secrets', 'session_scope'];

/** Every form of the value the masker looks for (packages/agent/src/masker.ts). */
function encodings(value) {
  const b = Buffer.from(value, 'utf8');
  const b64 = b.toString('base64');
  const url = (s) => s.replace(/\+/g, '-').replace(/\//g, '_');
  const uri = encodeURIComponent(value);
  return [
    value,
    b.toString('hex'),
    b.toString('hex').toUpperCase(),
    b64,
    b64.replace(/=+$/, ''),
    url(b64),
    url(b64.replace(/=+$/, '')),
    uri,
    uri.toLowerCase(),
    uri.replace(/%20/g, '+'),
    JSON.stringify(value).slice(1, -1),
  ];
}

/** A vault with three secrets, tokens for each case, and an agent that requires them. */
async function setup(t) {
  const v = makeVault(t);
  for (const [k, val] of [
    ['API_KEY', SECRET],
    ['OTHER', OTHER],
    ['SHORT', SHORT],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const file = writeTokens(
    join(v.dir, 'tokens'),
    [
      `sha256:${tokenHash(EXEC)} exec=only keys=API_KEY name=mcp`,
      `sha256:${tokenHash(EXEC_ALL)} exec=only name=all`,
      `sha256:${tokenHash(CMD)} exec=only keys=API_KEY cmds=node name=cmd`,
      `sha256:${tokenHash(READER)} name=reader`,
      '',
    ].join('\n'),
  );
  const agent = await startAgent(t, v, ['--require-token', '--token-file', file]);
  return { v, agent };
}

/** The server as an AI client starts it: the built CLI over stdio, with only a token in its env. */
async function connect(t, v, token, args = []) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', ...args],
    env: baseEnv({ TVAULT_DIR: v.vault, TVAULT_AGENT_TOKEN: token, TVAULT_PASSPHRASE: undefined, TVAULT_NO_AGENT: undefined }),
    stderr: 'pipe',
    cwd: v.dir,
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const client = new Client({ name: 'tvault-test', version: '1.0.0' });
  await client.connect(transport);
  t.after(() => client.close());
  return { client, transport, stderr: () => stderr };
}

const call = (client, name, args = {}) => client.callTool({ name, arguments: args });
const body = (r) => JSON.parse(r.content[0].text);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('mcp: initialise, list the tools (each says values are never returned), call each; nothing holds a value', async (t) => {
  const { v } = await setup(t);
  const { client } = await connect(t, v, EXEC);
  assert.equal(client.getServerVersion().name, 'tvault');
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((x) => x.name).sort(), TOOLS);
  for (const tool of tools) assert.match(tool.description, /No tool of this server ever returns a secret value\./, tool.name);

  const list = await call(client, 'list_secrets');
  assert.ok(!list.isError, list.content[0].text);
  const l = body(list);
  // A keys= token names only its keys; OTHER exists but is not this session's.
  assert.deepEqual(
    l.projects.map((p) => [p.name, p.keys.map((k) => k.name)]),
    [['default', ['API_KEY']]],
  );
  assert.equal(l.projects[0].keys[0].version, 1);

  const check = body(await call(client, 'check_secrets', { keys: ['API_KEY'] }));
  assert.deepEqual(check.projects, [{ project: 'default', present: ['API_KEY'], missing: [] }]);

  const scope = body(await call(client, 'session_scope'));
  assert.deepEqual(scope.handoff, { handoff: false });
  assert.deepEqual([scope.token.execOnly, scope.keys, scope.allowedCommands], [true, ['API_KEY'], 'any']);

  // The child prints the value in every encoding the masker covers, on both streams.
  const script = `const v = process.env.API_KEY; const b = Buffer.from(v);
    const forms = [v, b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url'), encodeURIComponent(v), JSON.stringify(v)];
    console.log(forms.join('\\n')); console.error(forms.join(' | ')); process.exit(3);`;
  const run = await call(client, 'run_with_secrets', { command: ['node', '-e', script], keys: ['API_KEY'] });
  assert.ok(!run.isError, run.content[0].text);
  const r = body(run);
  assert.deepEqual([r.exit_code, r.status, r.keys], [3, 3, ['API_KEY']]);
  assert.equal(r.stdout.split('\n').filter((x) => x.includes('<masked:API_KEY>')).length, 7, r.stdout);
  assert.match(r.stderr, /<masked:API_KEY>/);
  for (const result of [list, run, await call(client, 'session_scope')]) {
    const wire = JSON.stringify(result);
    for (const form of encodings(SECRET)) assert.ok(!result.content[0].text.includes(form) && !wire.includes(form), `found ${form}`);
  }
});

test('mcp: out-of-scope keys and commands are refused with a message a model can act on; a reader token is not used', async (t) => {
  const { v } = await setup(t);
  const { client } = await connect(t, v, EXEC);
  const key = await call(client, 'run_with_secrets', { command: ['true'], keys: ['OTHER'] });
  assert.equal(key.isError, true);
  assert.match(key.content[0].text, /^Refused \(token_scope\): not in scope: key 'OTHER' \(this token may read only: API_KEY\)\. Call list_secrets/);
  const chk = await call(client, 'check_secrets', { keys: ['OTHER'] });
  assert.equal(chk.isError, true);
  assert.match(chk.content[0].text, /token_scope.*OTHER/);

  const cmd = await connect(t, v, CMD);
  const sh = await call(cmd.client, 'run_with_secrets', { command: ['sh', '-c', 'echo $API_KEY'] });
  assert.equal(sh.isError, true);
  assert.match(sh.content[0].text, /Refused \(token_scope\): not in scope: this token may run only: node/);
  assert.equal(body(await call(cmd.client, 'list_secrets')).allowedCommands[0][0], 'node');
  const ok = body(await call(cmd.client, 'run_with_secrets', { command: ['node', '-e', 'process.exit(0)'] }));
  assert.equal(ok.status, 0);

  // A project-wide exec-only token: a missing key is reported as missing, not refused.
  const all = await connect(t, v, EXEC_ALL);
  const miss = body(await call(all.client, 'check_secrets', { keys: ['API_KEY', 'NOPE'] }));
  assert.deepEqual(miss.projects, [{ project: 'default', present: ['API_KEY'], missing: ['NOPE'] }]);
  // A value too short to mask: the output is withheld rather than shown.
  const short = body(await call(all.client, 'run_with_secrets', { command: ['sh', '-c', 'echo "$SHORT"'], keys: ['SHORT'] }));
  assert.deepEqual(short.unmasked, ['SHORT']);
  assert.ok(!JSON.stringify(short).includes(SHORT) && /withheld/.test(short.stdout));

  const reader = await connect(t, v, READER);
  const r = await call(reader.client, 'list_secrets');
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /can read values, not only run commands; ask the user for an exec-only one/);
});

test('mcp: refuses to start with a passphrase (or without a token) in its environment, and says why', (t) => {
  const v = makeVault(t);
  const cases = [
    [{ TVAULT_PASSPHRASE: 'x', TVAULT_AGENT_TOKEN: EXEC }, /TVAULT_PASSPHRASE is set; tvault mcp never unlocks the vault/],
    [{ TVAULT_PASSPHRASE: undefined, TVAULT_PASSPHRASE_FILE: '/dev/null', TVAULT_AGENT_TOKEN: EXEC }, /TVAULT_PASSPHRASE_FILE is set/],
    [{ TVAULT_PASSPHRASE: undefined, TVAULT_AGENT_TOKEN: undefined }, /TVAULT_AGENT_TOKEN is not set/],
  ];
  for (const [env, pattern] of cases) {
    const r = spawnSync(process.execPath, [BIN, 'mcp'], { env: baseEnv({ TVAULT_DIR: v.vault, ...env }), input: '', encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
});

test('mcp: every call is audited by the agent (tool, command hash, key names, exit status), never a value', async (t) => {
  const { v } = await setup(t);
  const { client } = await connect(t, v, EXEC);
  await call(client, 'list_secrets');
  await call(client, 'check_secrets', { keys: ['API_KEY'] });
  await call(client, 'session_scope');
  await call(client, 'run_with_secrets', { command: ['sh', '-c', 'exit 4'], keys: ['API_KEY'] });
  const rows = auditRows(v.vault).filter((r) => r.token_id);
  const tool = (r) => /tool=(\S+)/.exec(r.detail ?? '')?.[1];
  assert.deepEqual(
    rows.map((r) => [r.op, tool(r)]),
    [
      ['names', 'mcp.list_secrets'],
      ['names', 'mcp.check_secrets'],
      ['names', 'mcp.session_scope'],
      ['exec', 'mcp.run_with_secrets'],
      ['exec.exit', 'mcp.run_with_secrets'],
    ],
  );
  assert.equal(rows[1].keys, JSON.stringify(['API_KEY']));
  assert.match(rows[3].detail, /^argv0=sh argv_sha256=[0-9a-f]{16} tool=mcp.run_with_secrets$/);
  assert.equal(rows[3].keys, JSON.stringify(['API_KEY']));
  assert.match(rows[4].detail, / status=4 /);
  assert.equal(new Set(rows.map((r) => r.token_id)).size, 1);
  for (const form of encodings(SECRET)) assert.ok(!JSON.stringify(rows).includes(form));
});

test('mcp: the run tool kills a command at its timeout and cuts its output at the cap', async (t) => {
  const { v } = await setup(t);
  const { client } = await connect(t, v, EXEC, ['--max-output', '1024']);
  const slow = body(await call(client, 'run_with_secrets', { command: ['sh', '-c', 'echo started; exec sleep 300'], timeout_seconds: 1 }));
  assert.deepEqual([slow.ended, slow.signal, slow.status, slow.stdout], ['killed: timed out', 'SIGTERM', 143, 'started\n']);
  const big = body(await call(client, 'run_with_secrets', { command: ['node', '-e', 'process.stdout.write("x".repeat(100000))'] }));
  assert.deepEqual([big.status, big.stdout.length, big.truncated], [0, 1024, { stdout: true, stderr: false }]);
});

for (const how of ['closes its end', 'is killed', 'cancels the call']) {
  test(`mcp: a client that ${how} mid-run leaves no child behind`, async (t) => {
    const { v } = await setup(t);
    const { client, transport } = await connect(t, v, EXEC);
    const pidFile = join(v.dir, 'child.pid');
    const abort = new AbortController();
    const args = { command: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 300`], timeout_seconds: 600 };
    const pending = client.callTool({ name: 'run_with_secrets', arguments: args }, undefined, { signal: abort.signal }).catch(() => null);
    const pid = await waitFor(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()), { what: 'the child pid' });
    assert.ok(alive(pid));
    if (how === 'is killed') process.kill(transport.pid, 'SIGKILL');
    if (how === 'cancels the call') abort.abort();
    else await client.close();
    await pending;
    await waitFor(() => !alive(pid), { what: `child ${pid} to end` });
    // A cancelled call ends its child only: the session goes on.
    if (how === 'cancels the call') assert.equal(body(await call(client, 'run_with_secrets', { command: ['true'] })).status, 0);
  });
}

test('mcp install: prints each client its block with a new exec-only token, which the server then uses', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  const tokenFile = writeTokens(join(v.vault, 'agent-tokens'), `sha256:${tokenHash(READER)} name=reader\n`);
  await startAgent(t, v, ['--require-token', '--token-file', tokenFile]);
  const refused = v.run(['mcp', 'install', 'claude']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /stdout is not a terminal, and the token is shown only once/);
  assert.equal(v.run(['mcp', 'install', 'nope', '--force']).code, 2);

  const r = v.run(['mcp', 'install', 'claude', '--force', '-p', 'default', '--keys', 'API_KEY', '--allow-cmd', 'node', '--name', 'claude']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /created token [0-9a-f]{8} \(claude\): .*exec/);
  const server = JSON.parse(r.stdout).mcpServers.tvault;
  assert.deepEqual(server.args, ['mcp', '-p', 'default']);
  assert.equal(server.env.TVAULT_DIR, v.vault);
  assert.match(server.env.TVAULT_AGENT_TOKEN, /^tvt_/);
  assert.ok(!readFileSync(tokenFile, 'utf8').includes(server.env.TVAULT_AGENT_TOKEN), 'only its hash is stored');
  assert.match(readFileSync(tokenFile, 'utf8'), /exec=only/);

  const cursor = JSON.parse(v.run(['mcp', 'install', 'cursor', '--force']).stdout);
  assert.ok(cursor.mcpServers.tvault.env.TVAULT_AGENT_TOKEN);
  const codex = v.run(['mcp', 'install', 'codex', '--force']).stdout;
  assert.match(
    codex,
    /^\[mcp_servers\.tvault\]\ncommand = ".+"\nargs = \["mcp"\]\n\n\[mcp_servers\.tvault\.env\]\nTVAULT_DIR = ".+"\nTVAULT_AGENT_TOKEN = "tvt_/,
  );
  const vscode = JSON.parse(v.run(['mcp', 'install', 'vscode', '--force']).stdout);
  assert.equal(vscode.servers.tvault.type, 'stdio');

  // The block as a client would use it.
  const transport = new StdioClientTransport({ command: server.command, args: server.args, env: baseEnv({ TVAULT_PASSPHRASE: undefined, ...server.env }) });
  const client = new Client({ name: 'tvault-test', version: '1.0.0' });
  await client.connect(transport);
  t.after(() => client.close());
  const scope = body(await call(client, 'session_scope'));
  assert.deepEqual([scope.token.name, scope.keys, scope.allowedCommands], ['claude', ['API_KEY'], [['node']]]);
  const ok = body(await call(client, 'run_with_secrets', { command: ['node', '-e', 'console.log(process.env.API_KEY)'] }));
  assert.deepEqual([ok.status, ok.stdout], [0, '<masked:API_KEY>\n']);
  assert.equal((await call(client, 'run_with_secrets', { command: ['sh', '-c', 'true'] })).isError, true);
});

test('names op: names and metadata for an exec-only token, audited; refused while locked', async (t) => {
  const { v, agent } = await setup(t);
  const a = await request(agent.sock, { v: 1, op: 'names', token: EXEC_ALL, tool: 'test.names' });
  assert.equal(a.ok, true, a.message);
  assert.equal(a.current, 'default');
  assert.deepEqual(
    a.projects[0].keys.map((k) => k.name),
    ['API_KEY', 'OTHER', 'SHORT'],
  );
  assert.match(a.projects[0].keys[0].updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  for (const form of [SECRET, OTHER, SHORT]) assert.ok(!JSON.stringify(a).includes(form));
  const missing = await request(agent.sock, { v: 1, op: 'names', token: EXEC_ALL, only: ['API_KEY', 'NOPE'] });
  assert.deepEqual([missing.projects[0].keys.map((k) => k.name), missing.projects[0].missing], [['API_KEY'], ['NOPE']]);
  const unknown = await request(agent.sock, { v: 1, op: 'names', token: EXEC_ALL, project: 'nope' });
  assert.equal(unknown.error, 'not_found');
  const row = auditRows(v.vault).find((r) => r.op === 'names');
  assert.equal(row.detail, 'projects=1 keys=3 tool=test.names');
  assert.equal(v.run(['lock'], { env: { TVAULT_NO_AGENT: undefined } }).code, 0);
  const locked = await request(agent.sock, { v: 1, op: 'names', token: EXEC_ALL });
  assert.deepEqual([locked.error, locked.unlock], ['locked', true]);
});

// The MCP Inspector's CLI mode (@modelcontextprotocol/inspector-cli, a devDependency: the full
// inspector brings a web UI). Run from its build directory: it finds its own package.json by a
// path relative to the working directory.
const INSPECTOR = join(ROOT, 'node_modules/@modelcontextprotocol/inspector-cli/build');

function inspector(v, token, args) {
  const r = spawnSync(
    process.execPath,
    ['cli.js', '--cli', '-e', `TVAULT_DIR=${v.vault}`, '-e', `TVAULT_AGENT_TOKEN=${token}`, process.execPath, BIN, 'mcp', ...args],
    {
      cwd: INSPECTOR,
      env: baseEnv({ TVAULT_PASSPHRASE: undefined }),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('mcp: the MCP Inspector (CLI mode) lists the tools and calls them', async (t) => {
  const { v } = await setup(t);
  const list = inspector(v, EXEC, ['--method', 'tools/list']);
  assert.deepEqual(list.tools.map((x) => x.name).sort(), TOOLS);
  const run = inspector(v, EXEC, ['--method', 'tools/call', '--tool-name', 'run_with_secrets', '--tool-arg', 'command=["sh","-c","echo $API_KEY"]']);
  const r = JSON.parse(run.content[0].text);
  assert.deepEqual([r.status, r.stdout], [0, '<masked:API_KEY>\n']);
  for (const form of encodings(SECRET)) assert.ok(!JSON.stringify(run).includes(form));
  const check = inspector(v, EXEC, ['--method', 'tools/call', '--tool-name', 'check_secrets', '--tool-arg', 'keys=["OTHER"]']);
  assert.equal(check.isError, true);
  assert.match(check.content[0].text, /^Refused \(token_scope\)/);
});
