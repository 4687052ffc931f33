// A delegate under another uid (65534, through setpriv) that runs the real CLI against the
// agent's delegate socket (--delegate-dir): refused by the uid check without --allow-uid even
// with a valid token, served with --allow-uid and a valid token, and refused with the token's
// own error otherwise. The delegate directory's checks. Real agents on temp vaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, baseEnv, makeVault, requireRoot } from './helpers.mjs';
import { NOBODY, SETPRIV, agentLog, auditRows, gone, request, startAgent, startAgentFails, tokenIdOf, writeTokens } from './agent-helpers.mjs';

const DELEGATE = 'tokenDELEGATE-backend-0123456789';
const OWNER = 'tokenOWNER-unrestricted-0123456789';

/** A vault, a token file, and a delegate directory that uid 65534 can reach (and not write). */
function setup(t) {
  const v = makeVault(t);
  assert.equal(v.run(['projects', 'create', 'backend']).code, 0);
  assert.equal(v.run(['set', 'DATABASE_URL', '--stdin', '-p', 'backend'], { input: 'postgres://delegate-secret' }).code, 0);
  assert.equal(v.run(['set', 'TOP', '--stdin'], { input: 'owner-only-secret' }).code, 0);
  const file = writeTokens(join(v.dir, 'tokens'), `${OWNER}\n${DELEGATE}:backend  name=sandbox\n`);
  chmodSync(v.dir, 0o711); // the temp dir: traversable, so that 65534 can reach share/ (the vault dir stays 0700)
  const share = join(v.dir, 'share');
  mkdirSync(share, { mode: 0o711 });
  return { v, file, share };
}

/** `tvault ...args` as uid 65534, with TVAULT_DIR at the delegate directory. */
function asDelegate(share, args, token) {
  const env = baseEnv({ TVAULT_DIR: share, HOME: share, ...(token === undefined ? {} : { TVAULT_AGENT_TOKEN: token }) });
  const r = spawnSync('setpriv', [...SETPRIV, process.execPath, BIN, ...args], { env, cwd: share, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('without --allow-uid a delegate under another uid is refused by the uid check, valid token or not', async (t) => {
  if (!requireRoot(t, 'runs a process as uid 65534 (setpriv)')) return;
  const { v, file, share } = setup(t);
  const a = await startAgent(t, v, ['--require-token', '--token-file', file, '--delegate-dir', share]);
  const dsock = join(share, 'agent.sock');
  assert.match(a.line, new RegExp(`listening on ${a.sock} and ${dsock} \\(pid`));
  assert.equal(lstatSync(a.sock).mode & 0o777, 0o600);
  assert.equal(lstatSync(dsock).mode & 0o777, 0o666, 'the delegate socket can be reached; the uid check and the token decide');
  const r = asDelegate(share, ['get', '-p', 'backend', 'DATABASE_URL'], DELEGATE);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'tvault: permission denied: this agent serves only the user it runs as\n');
  const refused = agentLog(v).events.filter((e) => e.ev === 'refused');
  assert.deepEqual(
    refused.map((e) => [e.peer.uid, e.result]),
    [[NOBODY, 'permission_denied']],
  );
  assert.equal(agentLog(v).events.filter((e) => e.ev === 'request').length, 0, 'the request was never read');
  // The owner still uses either socket with a token.
  assert.equal((await request(dsock, { v: 1, op: 'get', key: 'TOP', token: OWNER })).value, 'owner-only-secret');
  await request(a.sock, { v: 1, op: 'stop', token: OWNER });
  await a.done;
  assert.ok(gone(a.sock) && gone(dsock), 'both sockets removed');
});

test('with --allow-uid and a valid token the delegate is served; a bad, out-of-scope or missing token is refused', async (t) => {
  if (!requireRoot(t, 'runs a process as uid 65534 (setpriv)')) return;
  const { v, file, share } = setup(t);
  await startAgent(t, v, ['--require-token', '--token-file', file, '--delegate-dir', share, '--allow-uid', String(NOBODY)]);
  let r = asDelegate(share, ['get', 'DATABASE_URL'], DELEGATE);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'postgres://delegate-secret\n');
  r = asDelegate(share, ['env', '--format', 'dotenv'], DELEGATE);
  assert.equal(r.stdout, "DATABASE_URL='postgres://delegate-secret'\n", r.stderr);
  r = asDelegate(share, ['agent', 'status', '--json'], DELEGATE);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).token, { id: tokenIdOf(DELEGATE), name: 'sandbox', project: 'backend', keys: null, expiresAt: null });
  const refusals = [
    [['get', 'DATABASE_URL'], 'wrong-token', /^tvault: token required or invalid\n$/],
    [['get', '-p', 'default', 'TOP'], DELEGATE, /^tvault: not in scope: project 'default' \(this token is limited to project 'backend'\)\n$/],
    [['agent', 'stop'], DELEGATE, /^tvault: the agent refused to stop: not in scope: only an unrestricted token/],
  ];
  for (const [args, token, re] of refusals) {
    r = asDelegate(share, args, token);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
  // No token: not a delegate, so the client falls back to a direct unlock, which refuses a
  // directory that is not the delegate's own.
  r = asDelegate(share, ['get', 'DATABASE_URL'], undefined);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  // It says why it passed the agent over, then why the direct unlock failed.
  assert.match(
    r.stderr,
    /^tvault: the running agent requires a capability token \(set TVAULT_AGENT_TOKEN\); unlocking directly instead\ntvault: vault directory .*share is owned by uid \d+, not by you \(uid 65534\)/,
  );
  // The private socket stays out of reach (its directory is 0700): no agent there, the same fallback.
  r = asDelegate(share, ['get', 'DATABASE_URL', '--vault', v.vault], DELEGATE);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tvault: vault directory .*vault is owned by uid \d+, not by you/);
  const reads = auditRows(v.vault).filter((row) => row.via === 'agent' && row.uid === NOBODY);
  assert.deepEqual(
    reads.map((row) => [row.op, row.project, row.token_id]),
    [
      ['get', 'backend', tokenIdOf(DELEGATE)],
      ['getall', 'backend', tokenIdOf(DELEGATE)],
    ],
  );
});

test('the delegate directory must exist, be ours, writable by nobody else, not the vault dir, and used by one agent', async (t) => {
  if (!requireRoot(t, 'chowns a file to uid 65534')) return;
  const { v, file, share } = setup(t);
  const start = (dir) => startAgentFails(v, ['--require-token', '--token-file', file, '--delegate-dir', dir]);
  let r = start(join(v.dir, 'missing'));
  assert.match(r.stderr, /^tvault: delegate directory .*missing: it does not exist\n$/);
  for (const mode of [0o777, 0o1777, 0o730]) {
    chmodSync(share, mode);
    r = start(share);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`writable by group or others \\(mode ${mode.toString(8).padStart(4, '0')}\\), who could replace the socket`));
  }
  chmodSync(share, 0o711);
  chownSync(share, NOBODY, NOBODY);
  r = start(share);
  assert.match(r.stderr, /is owned by uid 65534, not by you/);
  chownSync(share, process.getuid(), process.getgid());
  r = start(v.vault);
  assert.match(r.stderr, /--delegate-dir must be another directory than the vault directory/);
  assert.ok(gone(join(v.vault, 'agent.sock')));
  // A second vault's agent cannot take over a delegate directory in use.
  const a = await startAgent(t, v, ['--require-token', '--token-file', file, '--delegate-dir', share]);
  const w = makeVault(t);
  const wfile = writeTokens(join(w.dir, 'tokens'), `${OWNER}\n`);
  r = startAgentFails(w, ['--require-token', '--token-file', wfile, '--delegate-dir', share]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /already running with the delegate directory/);
  assert.equal((await request(join(share, 'agent.sock'), { v: 1, op: 'status', token: OWNER })).pid, a.pid);
});
