// The client side against a real agent: reads go through the agent when one runs, fall back to
// a direct unlock when none does, and --no-agent / TVAULT_NO_AGENT=1 skip it. A read is proven
// to have gone through the agent by running the client with no passphrase and no terminal:
// a direct unlock would have to exit 3 ("locked").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT, baseEnv, makeVault, requireRoot } from './helpers.mjs';
import { AGENT_ONLY, auditRows, request, startAgent, tvaultNoTty, waitFor } from './agent-helpers.mjs';

function vaultWithSecrets(t) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: 'k-123' }).code, 0);
  assert.equal(v.run(['set', 'DB_URL', '--stdin'], { input: 'postgres://x' }).code, 0);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['set', 'B_ONLY', '--stdin', '-p', 'backend'], { input: 'bee' }).code, 0);
  // A client with the agent enabled and nothing else that could unlock.
  const client = (args, env = {}) => tvaultNoTty(args, { env: { ...v.env, ...AGENT_ONLY, ...env } });
  return { v, client };
}

test('get, env and run read through a running agent without a passphrase or a terminal', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  const a = await startAgent(t, v);
  let r = client(['get', 'API_KEY']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'k-123\n');
  r = client(['get', 'API_KEY', '--json']);
  assert.deepEqual(JSON.parse(r.stdout), { key: 'API_KEY', value: 'k-123' });
  r = client(['get', '-p', 'backend', 'B_ONLY']);
  assert.equal(r.stdout, 'bee\n', r.stderr);
  r = client(['env']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "export API_KEY='k-123'\nexport DB_URL='postgres://x'\n");
  r = client(['env', '--only', 'DB_URL', '--format', 'dotenv']);
  assert.equal(r.stdout.trim(), "DB_URL='postgres://x'", r.stderr);
  r = client(['run', '--', 'sh', '-c', 'printf "%s|%s" "$API_KEY" "$DB_URL"']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'k-123|postgres://x');
  // The agent served them (and audited them as its own reads).
  const served = (await request(a.sock, { v: 1, op: 'status' })).served;
  assert.ok(served >= 6, `agent served ${served} reads`);
  assert.ok(auditRows(v.vault).some((row) => row.via === 'agent' && row.op === 'get' && row.keys === '["API_KEY"]'));
});

test('--no-agent and TVAULT_NO_AGENT=1 skip a running agent (so, without a passphrase: locked)', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  await startAgent(t, v);
  const cases = [
    [['get', 'API_KEY', '--no-agent'], {}, 3],
    [['get', 'API_KEY'], { TVAULT_NO_AGENT: '1' }, 3],
    [['env', '--no-agent'], {}, 3],
    [['env'], { TVAULT_NO_AGENT: '1' }, 3],
    [['run', '--no-agent', '--', 'true'], {}, 125], // run's own failures are 125
  ];
  for (const [args, env, code] of cases) {
    const r = client(args, env);
    assert.equal(r.code, code, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, /locked/);
  }
  // With a passphrase, --no-agent reads directly.
  const r = client(['get', 'API_KEY', '--no-agent'], { TVAULT_PASSPHRASE: 'correct horse battery staple' });
  assert.equal(r.stdout, 'k-123\n', r.stderr);
});

test('no agent: reads fall back to a direct unlock silently, and exit 3 with nothing to unlock with', (t) => {
  const { client } = vaultWithSecrets(t);
  let r = client(['get', 'API_KEY'], { TVAULT_PASSPHRASE: 'correct horse battery staple' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'k-123\n');
  assert.equal(r.stderr, '');
  r = client(['get', 'API_KEY']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /tvault agent start/);
});

test("the agent's not_found and bad_request are final answers: no fallback", async (t) => {
  const { v, client } = vaultWithSecrets(t);
  await startAgent(t, v);
  // A wrong passphrase proves it: a fallback would exit 6, the agent's answer is 4.
  let r = client(['get', 'MISSING'], { TVAULT_PASSPHRASE: 'wrong' });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^tvault: secret 'MISSING' not found in project 'default'\n$/);
  r = client(['get', '-p', 'nope', 'API_KEY'], { TVAULT_PASSPHRASE: 'wrong' });
  assert.equal(r.code, 4, r.stderr);
});

test('after key rotate the client shows the restart hint and falls back to a direct unlock', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  await startAgent(t, v);
  assert.equal(v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: 'the next passphrase' } }).code, 0);
  let r = client(['get', 'API_KEY'], { TVAULT_PASSPHRASE: 'the next passphrase' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'k-123\n');
  assert.match(r.stderr, /restart the agent/);
  r = client(['get', 'API_KEY']);
  assert.equal(r.code, 3, 'no passphrase: the rotated agent cannot help');
  assert.match(r.stderr, /restart the agent/);
});

test('a stale socket (agent killed) means a silent fallback, not an error', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  const a = await startAgent(t, v);
  a.child.kill('SIGKILL');
  await a.done;
  const r = client(['get', 'API_KEY'], { TVAULT_PASSPHRASE: 'correct horse battery staple' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'k-123\n');
  assert.equal(r.stderr, '');
});

test('through the agent, output reaches a pipe whole even when it is full and non-blocking, and a reader that leaves early ends tvault with 141', async (t) => {
  const v = makeVault(t);
  const lines = Array.from({ length: 3000 }, (_, i) => `KEY_${String(i).padStart(4, '0')}=${'v'.repeat(40)}`);
  assert.equal(v.run(['import', '-'], { input: lines.join('\n') }).code, 0);
  const a = await startAgent(t, v);
  const env = baseEnv({ ...v.env, ...AGENT_ONLY });
  // ~150 KB into a 64 KiB pipe whose write end is O_NONBLOCK, read only after half a second.
  const py = [
    'import fcntl, os, subprocess, sys, time',
    'r, w = os.pipe()',
    'fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)',
    'p = subprocess.Popen(sys.argv[1:], stdout=w)',
    'os.close(w)',
    'time.sleep(0.5)',
    'data = b""',
    'while chunk := os.read(r, 65536): data += chunk',
    'sys.stdout.buffer.write(data)',
    'sys.exit(p.wait())',
  ].join('\n');
  const r = spawnSync('python3', ['-c', py, process.execPath, BIN, 'env', '--format', 'dotenv'], { env, encoding: 'utf8', maxBuffer: 8 << 20 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, lines.map((l) => l.replace('=', "='") + "'\n").join(''));
  for (const cmd of ['env', 'get KEY_0001']) {
    const early = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" ${cmd} 2>err | head -c 1 >/dev/null; echo $?; cat err`], {
      env,
      cwd: v.dir,
      encoding: 'utf8',
    });
    // get's 41 bytes fit in the pipe before head leaves: it ends 0; env's 150 KB cannot: 141.
    assert.equal(early.stdout, cmd === 'env' ? '141\n' : '0\n', `${cmd}: ${early.stdout}`);
  }
  assert.ok((await request(a.sock, { v: 1, op: 'status' })).served >= 3, 'the agent did not serve these reads');
});

test('a socket in a directory that others can write is refused (one line, exit 1; status exits 2), never dialled', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  const a = await startAgent(t, v);
  const served = async () => (await request(a.sock, { v: 1, op: 'status' })).served;
  const before = await served();
  chmodSync(v.vault, 0o777);
  const msg = `tvault: refusing the agent socket in ${v.vault}: the directory is writable by group or others (fix it with: chmod go-w ${v.vault})\n`;
  for (const args of [['get', 'API_KEY'], ['env'], ['run', '--', 'true']]) {
    const r = client(args);
    assert.equal(r.code, args[0] === 'run' ? 125 : 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
  const st = client(['agent', 'status']);
  assert.equal(st.code, 2, st.stderr);
  assert.equal(st.stderr, msg);
  const doc = client(['doctor']); // reports it as a failed check among the others
  assert.equal(doc.code, 1, doc.stderr);
  assert.match(doc.stdout, /^FAIL +agent +refusing the agent socket in .*: the directory is writable by group or others/m);
  assert.equal(await served(), before, 'a read reached the agent');
});

test("a socket in another user's directory is refused without a token (it could be planted), and dialled with one", async (t) => {
  if (!requireRoot(t, 'chowns a file to uid 65534')) return;
  const { v, client } = vaultWithSecrets(t);
  const a = await startAgent(t, v);
  chownSync(v.vault, 65534, 65534);
  let r = client(['get', 'API_KEY']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    `tvault: refusing the agent socket in ${v.vault}: the directory belongs to uid 65534, not to you (a delegate reaches another user's agent with TVAULT_AGENT_TOKEN)\n`,
  );
  assert.equal(r.stdout, '');
  // With a token the client dials it (this agent wants none and serves it).
  r = client(['get', 'API_KEY'], { TVAULT_AGENT_TOKEN: 'some-token' });
  assert.equal(r.stdout, 'k-123\n', r.stderr);
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).served, 1);
});

test('a socket that this install cannot dial (no native addon) is a one-line error, not a silent fallback', async (t) => {
  const { v, client } = vaultWithSecrets(t);
  await startAgent(t, v);
  // A copy of the built CLI where @tvault/native cannot be found.
  const copy = mkdtempSync(join(tmpdir(), 'tvault-noaddon-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(ROOT, 'packages/cli/dist'), copy, { recursive: true });
  const r = spawnSync(process.execPath, [join(copy, 'tvault.cjs'), 'get', 'API_KEY'], {
    env: baseEnv({ ...v.env, ...AGENT_ONLY, TVAULT_PASSPHRASE: 'correct horse battery staple' }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^tvault: cannot reach the agent at .*agent\.sock: Cannot find module '@tvault\/native'\n$/);
  assert.equal(r.stdout, '');
  assert.equal(client(['get', 'API_KEY']).stdout, 'k-123\n', 'the installed CLI still reads through the agent');
});

// A listener that answers every read with an injected value and reports what it was sent.
const FAKE_AGENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    print('GOT ' + data.decode(errors='replace').strip(), flush=True)
    c.sendall(b'{"v":1,"ok":true,"project":"default","value":"INJECTED"}\\n')
    c.close()
`;

test('a vault directory swapped for a symlink to a directory another user controls is refused, even for a delegate with a token (which that user would collect)', async (t) => {
  if (!requireRoot(t, 'chowns a file to uid 65534')) return;
  const { v, client } = vaultWithSecrets(t);
  const evil = mkdtempSync(join(tmpdir(), 'tvault-evil-'));
  t.after(() => rmSync(evil, { recursive: true, force: true }));
  chmodSync(evil, 0o755);
  chownSync(evil, 65534, 65534);
  const fake = spawn('python3', ['-c', FAKE_AGENT, join(evil, 'agent.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => fake.kill('SIGKILL'));
  let heard = '';
  fake.stdout.on('data', (d) => (heard += d));
  await waitFor(() => heard.startsWith('listening'), { what: 'the fake agent' });
  // Someone who can write the vault's parent replaces the vault directory with a link.
  renameSync(v.vault, `${v.vault}.real`);
  symlinkSync(evil, v.vault);
  const msg = `tvault: refusing the agent socket in ${v.vault}: the directory is a symbolic link (point --vault or TVAULT_DIR at the real directory)\n`;
  for (const env of [{}, { TVAULT_AGENT_TOKEN: 'tvt_delegate-secret-token' }]) {
    const r = client(['get', 'API_KEY'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
  assert.doesNotMatch(heard, /GOT/, 'the fake agent was dialled');
  // The real directory, named as such, is served as before (no agent there: locked).
  const real = client(['get', 'API_KEY'], { TVAULT_DIR: `${v.vault}.real` });
  assert.equal(real.code, 3, real.stderr);
});
