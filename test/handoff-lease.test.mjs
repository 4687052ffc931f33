// No live cache of the real vault during a handoff: handoff refuses beside an unlock agent (or
// stops it), a live lease makes `agent start` refuse, a dead one (a kill -9ed supervisor) does
// not; the E of a killed supervisor is swept by the next handoff and by doctor; inspect says
// yes only with live ground truth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneLineError, tvault, tvaultSpawn } from './helpers.mjs';
import { exited, startAgent, startAgentFails, waitFor } from './agent-helpers.mjs';
import { agentScript, handoffVault, parseReport } from './handoff-helpers.mjs';

/** Starts `handoff -- sleeper` and waits until the agent runs; returns what it saw and the supervisor. */
async function liveHandoff(t, v, name = 'sleeper') {
  const agent = agentScript(v.dir, name, 'echo "dir=$TVAULT_DIR" >> "$REPORT"; echo "pid=$$" >> "$REPORT"; exec sleep 60');
  const child = tvaultSpawn(['handoff', '--', agent.path], { env: v.env });
  const done = exited(child);
  t.after(() => {
    const pid = Number(parseReport(agent.report()).pid);
    if (pid) process.kill(pid, 'SIGKILL');
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => parseReport(agent.report()).pid, { what: 'the agent to start', timeout: 20_000 });
  const seen = parseReport(agent.report());
  return { child, done, dir: seen.dir, agentPid: Number(seen.pid), id: seen.dir.slice(-32) };
}

const inspect = (env) => tvault(['handoff', 'inspect', '--json'], { env });

/**
 * Gives v's commands a private tmpfs $XDG_RUNTIME_DIR, so that its sessions' E live where no other
 * test file's handoff looks: a sweep removes every dead E of this user in the places it knows, and a
 * concurrent test's handoff would otherwise sweep (and audit in its own vault) the E this test left.
 */
function privateRuntime(t, v) {
  const dir = mkdtempSync('/dev/shm/tvault-test-runtime-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  v.env.XDG_RUNTIME_DIR = dir;
  return dir;
}

test('handoff refuses while an unlock agent serves the vault; --stop-agent stops it first', async (t) => {
  const v = handoffVault(t);
  const agent = await startAgent(t, v);
  const r = v.run(['handoff', '--', 'true']);
  assertOneLineError(assert, r, 125, /an unlock agent serves .*stop it first \(tvault agent stop\) or add --stop-agent/);
  assert.equal(agent.child.exitCode, null, 'the agent was left running');
  const stopped = v.run(['handoff', '--stop-agent', '--', 'true']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stderr, /stopped the unlock agent/);
  await agent.done;
  assert.equal(readdirSync(join(v.vault, 'handoff-leases')).length, 0, 'the lease is gone with the handoff');
});

test('agent start refuses while a live handoff holds the vault, and not once its supervisor is dead (kill -9); the next handoff sweeps its E', async (t) => {
  const v = handoffVault(t);
  const runtime = privateRuntime(t, v);
  const h = await liveHandoff(t, v);
  assert.ok(h.dir.startsWith(`${runtime}/`), h.dir);
  const lease = join(v.vault, 'handoff-leases', `${h.id}.lease`);
  assert.ok(existsSync(lease));
  const refused = startAgentFails(v);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /a tvault handoff \(pid \d+\) holds this vault: no agent may cache its key/);
  // inspect from the session's own environment says yes while everything is live...
  const sessionEnv = { TVAULT_DIR: h.dir, TVAULT_HANDOFF: h.id };
  assert.equal(inspect(sessionEnv).code, 0);
  // ...and no with a clobbered marker or a mismatched TVAULT_DIR.
  assert.equal(inspect({ ...sessionEnv, TVAULT_HANDOFF: 'f'.repeat(32) }).code, 1);
  assert.equal(inspect({ ...sessionEnv, TVAULT_DIR: v.vault }).code, 1);
  assert.equal(inspect({ TVAULT_DIR: h.dir }).code, 1, 'no marker');
  // kill -9: no teardown runs; E and the lease are left.
  h.child.kill('SIGKILL');
  await h.done;
  process.kill(h.agentPid, 'SIGKILL');
  assert.ok(existsSync(join(h.dir, 'vault.db')), 'kill -9 leaves E behind');
  const dead = inspect(sessionEnv);
  assert.equal(dead.code, 1, 'a dead supervisor: no');
  assert.deepEqual(JSON.parse(dead.stdout), { handoff: false });
  // The dead lease does not hold the vault: the agent starts, and the lease file is removed.
  const agent = await startAgent(t, v);
  assert.ok(!existsSync(lease), 'the dead lease was removed');
  agent.child.kill('SIGTERM');
  await agent.done;
  // The next handoff sweeps the dead supervisor's E.
  const r = v.run(['handoff', '--', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(h.dir), 'swept by the next handoff');
  assert.match(v.run(['audit', '--json']).stdout, new RegExp(`session=${h.id} how=supervisor killed \\(swept by the next handoff\\)`));
});

test('doctor sweeps the E of a kill -9ed supervisor and names a live lease', async (t) => {
  const v = handoffVault(t);
  const runtime = privateRuntime(t, v);
  const h = await liveHandoff(t, v);
  assert.ok(h.dir.startsWith(`${runtime}/`), h.dir);
  const live = v.run(['doctor', '--json']);
  assert.match(live.stdout, /a handoff \(pid \d+\) holds this vault/);
  assert.ok(existsSync(h.dir), 'a live session is never swept');
  h.child.kill('SIGKILL');
  await h.done;
  process.kill(h.agentPid, 'SIGKILL');
  const r = v.run(['doctor', '--json']);
  assert.match(r.stdout, /removed 1 session vault left by a killed handoff/);
  assert.ok(!existsSync(h.dir), 'swept by doctor');
});

test('inspect: outside a session no; a stale marker after the session no; a deleted E no', async (t) => {
  const v = handoffVault(t);
  const outside = inspect({});
  assert.equal(outside.code, 1);
  assert.deepEqual(JSON.parse(outside.stdout), { handoff: false });
  assert.equal(tvault(['handoff', 'inspect']).stdout, '', 'without --json it prints nothing');
  // Inside, the agent deletes E's vault.db: the claim is no longer backed.
  const agent = agentScript(
    v.dir,
    'deleter',
    `{ echo "dir=$TVAULT_DIR"; $TV handoff inspect >/dev/null; echo "before=$?"; rm "$TVAULT_DIR/vault.db"; $TV handoff inspect >/dev/null; echo "after=$?"; } >> "$REPORT"`,
  );
  assert.equal(v.run(['handoff', '--', agent.path]).code, 0);
  const seen = parseReport(agent.report());
  assert.equal(seen.before, '0');
  assert.equal(seen.after, '1');
  // The same variables after the session ended: stale.
  assert.equal(inspect({ TVAULT_DIR: seen.dir, TVAULT_HANDOFF: seen.dir.slice(-32) }).code, 1);
});

test('--ttl destroys E while the agent still runs (it waits for that, however long it takes); its next tvault call says the session expired', (t) => {
  const v = handoffVault(t);
  const agent = agentScript(
    v.dir,
    'outlives',
    `{ echo "dir=$TVAULT_DIR"; while [ -e "$TVAULT_DIR/vault.db" ]; do sleep 0.1; done; $TV get A 2>&1; echo "rc=$?"; $TV handoff inspect; echo "inspect=$?"; } >> "$REPORT"`,
  );
  const r = v.run(['handoff', '--ttl', '2s', '--', agent.path], { timeout: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /for 2s/);
  const text = agent.report();
  assert.match(text, /tvault: this tvault handoff session expired \(--ttl\)/);
  const seen = parseReport(text);
  assert.equal(seen.rc, '3');
  assert.equal(seen.inspect, '1');
  assert.ok(!existsSync(seen.dir));
  assert.match(v.run(['audit', '--json']).stdout, /how=expired \(--ttl\), then agent exited 0/);
  rmSync(agent.reportFile, { force: true });
});
