// Lock and unlock in place (issue 10, item 1): `agent start --locked`, `tvault unlock` (from the
// environment and from a prompt on the client's terminal), `tvault lock`, the rate limit on
// wrong passphrases, the refusal of tokens and other uids, --on-idle lock|exit, a read through a
// locked agent (one prompt at a terminal, exit 3 without one), the background-start check, and
// status. Real agents on temp vaults; real terminals through script(1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BIN, PASS, assertOneLineError, baseEnv, makeVault, requireCommand, requireRoot } from './helpers.mjs';
import {
  AGENT_ONLY,
  NOBODY,
  SETPRIV,
  agentLog,
  auditRows,
  exited,
  filesContaining,
  request,
  startAgent,
  tvaultNoTty,
  waitFor,
  writeTokens,
} from './agent-helpers.mjs';

const SECRET = 'unlock-test-secret-value';
const hex = (s) => Buffer.from(s, 'utf8').toString('hex');
const TVAULT = `${process.execPath} ${BIN}`;

/** A vault with one secret and an agent started --locked (plus args), with no passphrase in its environment. */
async function lockedAgent(t, args = [], opts = {}) {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: SECRET }).code, 0);
  const a = await startAgent(t, v, ['--locked', ...args], { ...opts, env: { TVAULT_PASSPHRASE: undefined, ...opts.env } });
  return { v, a };
}

/** `tvault ...args` for v through the agent only (no passphrase, no terminal). */
const agentOnly = (v, args, env = {}) => tvaultNoTty(args, { env: { ...v.env, ...AGENT_ONLY, ...env } });

/**
 * Runs a shell command line on a real terminal (script(1)), answering each prompt that shows up
 * with its line. Resolves { code, out } (out: everything the terminal showed).
 */
async function onTty(t, cmd, env, answers = []) {
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = exited(child);
  let seen = 0;
  for (const [prompt, line] of answers) {
    await waitFor(() => out.slice(seen).includes(prompt) || child.exitCode !== null, { what: `the prompt ${prompt} (terminal: ${JSON.stringify(out)})` });
    assert.ok(out.slice(seen).includes(prompt), `the prompt ${prompt}; the terminal showed: ${JSON.stringify(out)}`);
    seen = out.lastIndexOf(prompt) + prompt.length;
    child.stdin.write(`${line}\r`);
  }
  const r = await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve({ code: 'timeout' }), 30_000))]);
  child.stdin.end();
  return { code: r.code, out };
}

test('start --locked serves nothing until unlocked: a read exits 3 naming tvault unlock; unlock from the environment warms it; status says which', async (t) => {
  const { v, a } = await lockedAgent(t);
  assert.match(a.line, /listening on .* \(pid \d+, locked \(tvault unlock\), idle 15m/);
  let r = agentOnly(v, ['get', 'K']);
  assertOneLineError(assert, r, 3, /^tvault: the agent is locked: run tvault unlock/);
  r = agentOnly(v, ['env']);
  assertOneLineError(assert, r, 3, /tvault unlock/);
  const raw = await request(a.sock, { v: 1, op: 'get', key: 'K' });
  assert.deepEqual([raw.ok, raw.error, raw.unlock], [false, 'locked', true]);
  r = agentOnly(v, ['agent', 'status', '--json']);
  assert.equal(r.code, 3, 'status: running but locked');
  let s = JSON.parse(r.stdout);
  assert.deepEqual([s.running, s.locked, s.unlocked, s.onIdle, s.idleRemainingMs], [true, true, false, 'exit', null]);
  assert.match(agentOnly(v, ['agent', 'status']).stdout, /^agent {5}running \(pid \d+, locked: tvault unlock\)$/m);
  const doctor = v.run(['doctor']);
  assert.match(doctor.stdout + doctor.stderr, /agent.*running, locked \(tvault unlock\)/);

  r = agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `unlocked the agent (pid ${a.pid})\n`);
  r = agentOnly(v, ['get', 'K']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${SECRET}\n`);
  r = agentOnly(v, ['agent', 'status', '--json']);
  assert.equal(r.code, 0);
  s = JSON.parse(r.stdout);
  assert.deepEqual([s.locked, s.unlocked, s.served], [false, true, 1]);
  // Unlocking a warm agent asks for nothing and says so.
  r = agentOnly(v, ['unlock']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `the agent (pid ${a.pid}) is already unlocked\n`);
  // The passphrase file source works too.
  assert.equal(agentOnly(v, ['lock']).code, 0);
  const pw = join(v.dir, 'pw');
  writeTokens(pw, `${PASS}\n`);
  assert.equal(agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE_FILE: pw }).code, 0);
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  // Never in the log, the audit rows, or any file of the vault.
  assert.ok(!agentLog(v).text.includes(PASS) && !agentLog(v).text.includes(hex(PASS)));
  assert.deepEqual(
    filesContaining(v.dir, PASS).filter((f) => f !== pw),
    [],
  );
  const rows = auditRows(v.vault);
  const since = rows.findLastIndex((row) => row.op === 'agent.start');
  assert.deepEqual(
    rows
      .slice(since + 1)
      .filter((row) => row.op === 'unlock' || row.op === 'agent.lock')
      .map((row) => [row.op, row.ok, row.via]),
    [
      ['unlock', 1, 'agent'],
      ['agent.lock', 1, 'agent'],
      ['unlock', 1, 'agent'],
    ],
  );
});

test('a wrong passphrase exits 6 with one line; the next attempts wait, doubling; the right one then unlocks', async (t) => {
  const { v, a } = await lockedAgent(t);
  let r = agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: 'not the passphrase' });
  assertOneLineError(assert, r, 6, /^tvault: wrong passphrase \(the next unlock is accepted in 1 s\)\n$/);
  // At once: refused without a KDF run, even with the right passphrase.
  r = agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS });
  assertOneLineError(assert, r, 1, /1 wrong passphrase in a row: the next unlock is accepted in 1 s/);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  r = agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: 'still wrong' });
  assertOneLineError(assert, r, 6, /the next unlock is accepted in 2 s/);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  r = agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  // Audited (failed unlocks as failed rows) and logged, never with the passphrase.
  const unlocks = auditRows(v.vault)
    .filter((row) => row.op === 'unlock')
    .map((row) => row.ok);
  assert.deepEqual(unlocks.slice(-3), [0, 0, 1]);
  const ev = agentLog(v).events.filter((e) => e.ev === 'unlock');
  assert.deepEqual(
    ev.map((e) => [e.result, e.failures ?? null]),
    [
      ['wrong_passphrase', 1],
      ['backoff', 1],
      ['wrong_passphrase', 2],
      ['ok', null],
    ],
  );
  assert.ok(ev.every((e) => e.peer?.uid === process.getuid()));
  for (const p of [PASS, 'not the passphrase', 'still wrong']) assert.ok(!agentLog(v).text.includes(p) && !agentLog(v).text.includes(hex(p)), p);
  assert.equal(a.child.exitCode, null);
});

test('the unlock request: the passphrase only as hex in its own field, and only with op unlock', async (t) => {
  const { a } = await lockedAgent(t);
  const cases = [
    [{ v: 1, op: 'unlock' }, 'bad_request', /op unlock needs "passphrase"/],
    [{ v: 1, op: 'unlock', passphrase: 'not hex!' }, 'bad_request', /lowercase hex/],
    [{ v: 1, op: 'unlock', passphrase: 'abc' }, 'bad_request', /lowercase hex/],
    [{ v: 1, op: 'get', key: 'K', passphrase: hex(PASS) }, 'bad_request', /only valid with op unlock/],
  ];
  for (const [req, code, re] of cases) {
    const r = await request(a.sock, req);
    assert.equal(r.error, code, JSON.stringify(req));
    assert.match(r.message, re);
  }
  const ok = await request(a.sock, { v: 1, op: 'unlock', passphrase: hex(PASS) });
  assert.deepEqual(ok, { v: 1, ok: true, pid: a.pid, unlocked: true, already: false });
  assert.equal((await request(a.sock, { v: 1, op: 'get', key: 'K' })).value, SECRET);
  assert.deepEqual(await request(a.sock, { v: 1, op: 'lock' }), { v: 1, ok: true, pid: a.pid, unlocked: false, already: false });
  assert.deepEqual(await request(a.sock, { v: 1, op: 'lock' }), { v: 1, ok: true, pid: a.pid, unlocked: false, already: true });
});

test('lock wipes the key and keeps the agent running: reads exit 3, status says locked, unlock warms it again', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: SECRET }).code, 0);
  const a = await startAgent(t, v); // unlocked at start, from TVAULT_PASSPHRASE
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  let r = agentOnly(v, ['lock']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^locked the agent \(pid \d+\): its key is wiped; it keeps running \(tvault unlock\)\n$/);
  await waitFor(() => a.stderr().includes('locked (lock); the key is wiped'), { what: "the agent's line" });
  assert.equal(a.child.exitCode, null, 'still running');
  assertOneLineError(assert, agentOnly(v, ['get', 'K']), 3, /tvault unlock/);
  assert.equal(JSON.parse(agentOnly(v, ['agent', 'status', '--json']).stdout).locked, true);
  assert.equal(agentOnly(v, ['lock']).stderr, `the agent (pid ${a.pid}) is already locked\n`);
  assert.equal(agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS }).code, 0);
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  // With a passphrase in the environment a read through a locked agent unlocks directly, as
  // without an agent, and leaves the agent locked.
  assert.equal(agentOnly(v, ['lock']).code, 0);
  r = agentOnly(v, ['get', 'K'], { TVAULT_PASSPHRASE: PASS });
  assert.equal(r.stdout, `${SECRET}\n`, r.stderr);
  assert.equal(JSON.parse(agentOnly(v, ['agent', 'status', '--json']).stdout).locked, true);
  // No agent: unlock and lock say so.
  await request(a.sock, { v: 1, op: 'stop' });
  await a.done;
  assertOneLineError(
    assert,
    agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS }),
    1,
    /no agent is running for .*: start one with tvault agent start --locked/,
  );
  assertOneLineError(assert, agentOnly(v, ['lock']), 1, /no agent is running/);
});

test('a token cannot unlock or lock the agent, even an unrestricted one; the owner without a token can', async (t) => {
  const ALL = 'tokenUNLOCK-unrestricted-0123456789';
  const v0 = makeVault(t);
  const file = writeTokens(join(v0.dir, 'tokens'), `${ALL}\n`);
  const a = await startAgent(t, v0, ['--locked', '--require-token', '--token-file', file], { env: { TVAULT_PASSPHRASE: undefined } });
  for (const req of [
    { v: 1, op: 'unlock', passphrase: hex(PASS), token: ALL },
    { v: 1, op: 'lock', token: ALL },
  ]) {
    const r = await request(a.sock, req);
    assert.equal(r.error, 'permission_denied', JSON.stringify(req));
    assert.match(r.message, /a capability token cannot (un)?lock the agent/);
  }
  assert.equal((await request(a.sock, { v: 1, op: 'status', token: ALL })).locked, true, 'still locked');
  let r = agentOnly(v0, ['lock'], { TVAULT_AGENT_TOKEN: ALL });
  assertOneLineError(assert, r, 1, /the agent refused to lock: a capability token cannot lock the agent/);
  // The owner, by peer credentials and without a token, may.
  r = agentOnly(v0, ['unlock'], { TVAULT_PASSPHRASE: PASS });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await request(a.sock, { v: 1, op: 'status', token: ALL })).unlocked, true);
  assert.equal((await request(a.sock, { v: 1, op: 'lock', token: ALL })).error, 'permission_denied');
  assert.equal((await request(a.sock, { v: 1, op: 'status', token: ALL })).unlocked, true, 'a token did not lock it');
});

test('another uid let in with --allow-uid cannot unlock or lock, with or without a token', async (t) => {
  if (!requireRoot(t, 'needs another uid (setpriv)')) return;
  const ALL = 'tokenUNLOCK-other-uid-0123456789';
  const v = makeVault(t);
  const file = writeTokens(join(v.dir, 'tokens'), `${ALL}\n`);
  const { chmodSync, mkdirSync } = await import('node:fs');
  chmodSync(v.dir, 0o711);
  const share = join(v.dir, 'share');
  mkdirSync(share, { mode: 0o711 });
  const a = await startAgent(t, v, ['--locked', '--require-token', '--token-file', file, '--delegate-dir', share, '--allow-uid', String(NOBODY)], {
    env: { TVAULT_PASSPHRASE: undefined },
  });
  const script = `const net=require('net');const c=net.connect(process.argv[1]);let o='';c.on('data',d=>o+=d);c.on('close',()=>process.stdout.write(o));c.end(process.argv[2]+'\\n');`;
  for (const req of [
    { v: 1, op: 'unlock', passphrase: hex(PASS) },
    { v: 1, op: 'unlock', passphrase: hex(PASS), token: ALL },
    { v: 1, op: 'lock', token: ALL },
  ]) {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('setpriv', [...SETPRIV, process.execPath, '-e', script, join(share, 'agent.sock'), JSON.stringify(req)], { encoding: 'utf8' });
    const ans = JSON.parse(r.stdout.split('\n')[0]);
    assert.equal(ans.error, 'permission_denied', `${JSON.stringify(req)}: ${r.stdout}${r.stderr}`);
  }
  assert.equal((await request(a.sock, { v: 1, op: 'status', token: ALL })).locked, true);
});

test('--on-idle lock: the idle deadline wipes the key and the agent keeps running; --on-idle exit (the default) exits', async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: SECRET }).code, 0);
  const a = await startAgent(t, v, ['--idle', '1s', '--on-idle', 'lock']);
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  await waitFor(() => a.stderr().includes('locked (idle)'), { what: 'the idle lock' });
  assert.equal(a.child.exitCode, null, 'still running after the idle deadline');
  assertOneLineError(assert, agentOnly(v, ['get', 'K']), 3, /tvault unlock/);
  const s = JSON.parse(agentOnly(v, ['agent', 'status', '--json']).stdout);
  assert.deepEqual([s.locked, s.onIdle], [true, 'lock']);
  // Unlocked again, the idle deadline counts from the unlock and locks again.
  assert.equal(agentOnly(v, ['unlock'], { TVAULT_PASSPHRASE: PASS }).code, 0);
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  await waitFor(() => a.stderr().split('locked (idle)').length === 3, { what: 'the second idle lock' });
  assert.equal(a.child.exitCode, null);
  assert.deepEqual(
    auditRows(v.vault)
      .filter((r) => r.op === 'agent.lock')
      .map((r) => r.detail.split(' ')[0]),
    ['reason=idle', 'reason=idle'],
  );
  const verify = v.run(['audit', 'verify']);
  assert.equal(verify.code, 0, `the lock and unlock rows fit the chain and carry their MACs: ${verify.stdout}${verify.stderr}`);

  const w = makeVault(t);
  const b = await startAgent(t, w, ['--locked', '--idle', '1s'], { env: { TVAULT_PASSPHRASE: undefined } });
  // Locked, the deadline does not run: it waits for an unlock.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(b.child.exitCode, null, 'a locked agent waits for its unlock');
  assert.equal(agentOnly(w, ['unlock'], { TVAULT_PASSPHRASE: PASS }).code, 0);
  const r = await b.done;
  assert.equal(r.code, 0);
  assert.match(b.stderr(), /stopped \(idle\)/);
  assert.equal(startAgentUsage(w, ['--on-idle', 'sleep']).code, 2);
});

/** `agent start ...args` expected to fail at once. */
function startAgentUsage(v, args) {
  return tvaultNoTty(['agent', 'start', ...args], { env: { ...v.env } });
}

test('a read through a locked agent at a terminal asks once, unlocks the agent, and later reads are prompt-free', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const { v, a } = await lockedAgent(t);
  const env = { TVAULT_DIR: v.vault };
  let r = await onTty(t, `${TVAULT} get K`, env, [['Vault passphrase (unlocks the agent): ', PASS]]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`${SECRET}\\r?\\n`));
  assert.ok(!r.out.includes(PASS), 'not echoed');
  assert.equal(r.out.split('Vault passphrase').length, 2, 'one prompt');
  // Warm now, for every later command, with no prompt (and no terminal at all).
  r = await onTty(t, `${TVAULT} env --format dotenv`, env);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /passphrase/i);
  assert.match(r.out, new RegExp(`K='${SECRET}'`));
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  // A wrong passphrase at that prompt: exit 6, one line, the agent stays locked.
  assert.equal(agentOnly(v, ['lock']).code, 0);
  r = await onTty(t, `${TVAULT} get K`, env, [['Vault passphrase (unlocks the agent): ', 'wrong']]);
  assert.equal(r.code, 6, r.out);
  assert.match(r.out, /tvault: wrong passphrase \(the next unlock is accepted in 1 s\)/);
  assert.equal(JSON.parse(agentOnly(v, ['agent', 'status', '--json']).stdout).locked, true);
  assert.equal(a.child.exitCode, null);
});

test('tvault unlock prompts on the terminal of the client and hands the passphrase to the agent', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const { v, a } = await lockedAgent(t);
  const r = await onTty(t, `${TVAULT} unlock`, { TVAULT_DIR: v.vault }, [['Vault passphrase (unlocks the agent): ', PASS]]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`unlocked the agent \\(pid ${a.pid}\\)`));
  assert.ok(!r.out.includes(PASS));
  assert.equal(agentOnly(v, ['get', 'K']).stdout, `${SECRET}\n`);
  // Without a terminal and without a passphrase source: exit 3, saying what would work.
  assert.equal(agentOnly(v, ['lock']).code, 0);
  assertOneLineError(
    assert,
    agentOnly(v, ['unlock']),
    3,
    /no terminal to ask for the passphrase: run tvault unlock in a terminal, or set TVAULT_PASSPHRASE_FILE/,
  );
});

test('agent start & in an interactive shell with no passphrase source exits at once saying what to do; --locked & runs', async (t) => {
  if (!requireCommand(t, 'script') || !requireCommand(t, 'bash')) return;
  const v = makeVault(t);
  const env = { TVAULT_DIR: v.vault, XDG_STATE_HOME: join(v.dir, 'state'), HOME: v.dir, PS1: '$ ' };
  // An interactive bash with job control on a real terminal: `&` puts the agent in a background
  // process group, where a prompt would stop it (Stopped (tty output)).
  let r = await onTty(t, `bash --norc -ic '${TVAULT} agent start & wait $!; echo "exit=$?"'`, env);
  assert.match(r.out, /exit=2/, r.out);
  assert.match(
    r.out,
    /tvault: the agent is in the background \(&\) with no passphrase source, so it cannot prompt: start it with --locked, then run tvault unlock \(or set TVAULT_PASSPHRASE_FILE\)/,
  );
  assert.doesNotMatch(r.out, /Stopped/);
  // In the foreground of the same kind of shell it still prompts (the check is for the background only).
  r = await onTty(t, `bash --norc -ic '${TVAULT} agent start --idle 1s; echo "exit=$?"'`, env, [['Vault passphrase (agent): ', PASS]]);
  assert.match(r.out, /listening on/, r.out);
  assert.match(r.out, /exit=0/);
  // --locked in the background: listening, and unlocked from the same shell.
  r = await onTty(
    t,
    `bash --norc -ic '${TVAULT} agent start --locked --idle 1s & until [ -S ${v.vault}/agent.sock ]; do sleep 0.05; done; TVAULT_PASSPHRASE="${PASS}" ${TVAULT} unlock; wait $!; echo "exit=$?"'`,
    env,
  );
  assert.match(r.out, /unlocked the agent/, r.out);
  assert.match(r.out, /exit=0/);
});
