// handoff and run at a real terminal (script(1)): Ctrl-C ends the session and tears E down; a
// command inside the session that would unlock the real vault fails closed without a prompt;
// `run -- claude` asks whether handoff was meant, and does not without a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BIN, inPty, requireCommand } from './helpers.mjs';
import { agentScript, handoffVault, parseReport } from './handoff-helpers.mjs';

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const tv = `${q(process.execPath)} ${q(BIN)}`;

test('Ctrl-C at the terminal ends the agent and the session: E is gone, the exit code is 130', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'waits', 'echo "dir=$TVAULT_DIR" >> "$REPORT"; echo READY; exec sleep 30');
  const r = await inPty(`${tv} handoff -- ${q(agent.path)}`, v.env, [[/READY/, '\x03']]);
  assert.equal(r.code, 130, r.out);
  const dir = parseReport(agent.report()).dir;
  assert.ok(dir && !existsSync(dir), 'E is gone after Ctrl-C');
});

test('inside the session at a terminal, --vault on the real vault fails closed with exit 3 and never prompts', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'tries', `$TV --vault ${q(v.vault)} --no-agent get A; echo "rc=$?"; $TV --vault ${q(v.vault)} unlock; echo "unlock=$?"`);
  // Only the builder has TVAULT_PASSPHRASE: the session's environment has none of it.
  const r = await inPty(`${tv} handoff -- ${q(agent.path)}`, v.env, []);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /rc=3/);
  assert.doesNotMatch(r.out, /passphrase:/i, 'no prompt');
  assert.match(r.out, /only its own vault can be used/);
});

test('a handoff at a terminal prompts for the passphrase in the builder (before the agent starts)', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'reads', 'echo "got=$($TV get A)"');
  const r = await inPty(`${tv} handoff -- ${q(agent.path)}`, { ...v.env, TVAULT_PASSPHRASE: undefined }, [
    [/Vault passphrase: /, `${v.env.TVAULT_PASSPHRASE}\r`],
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /got=value-a/);
});

test('run -- claude at a terminal asks whether handoff was meant (default no); --yes and a non-terminal run go ahead', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = handoffVault(t);
  const claude = agentScript(v.dir, 'claude', 'echo "CLAUDE RAN with A=$A"');
  const declined = await inPty(`${tv} run -- ${q(claude.path)}`, v.env, [[/\[y\/N\]/, '\r']]);
  assert.equal(declined.code, 125, declined.out);
  assert.match(declined.out, /claude is a coding agent/);
  assert.match(declined.out, /tvault handoff -- /);
  assert.doesNotMatch(declined.out, /CLAUDE RAN/);
  const accepted = await inPty(`${tv} run -- ${q(claude.path)}`, v.env, [[/\[y\/N\]/, 'y\r']]);
  assert.equal(accepted.code, 0, accepted.out);
  assert.match(accepted.out, /CLAUDE RAN with A=value-a/);
  const yes = await inPty(`${tv} run --yes -- ${q(claude.path)}`, v.env, []);
  assert.match(yes.out, /CLAUDE RAN/);
  assert.doesNotMatch(yes.out, /coding agent/);
  // Another program is not asked about.
  const other = agentScript(v.dir, 'pytest', 'echo "PYTEST RAN"');
  assert.doesNotMatch((await inPty(`${tv} run -- ${q(other.path)}`, v.env, [])).out, /coding agent/);
  // Without a terminal: unchanged.
  const r = v.run(['run', '--', claude.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CLAUDE RAN/);
  assert.equal(r.stderr, '');
  // Inside a handoff the question is not asked either: the agent is already scoped.
  const inner = agentScript(v.dir, 'outer', `$TV run -- ${q(claude.path)}`);
  const nested = await inPty(`${tv} handoff -- ${q(inner.path)}`, v.env, []);
  assert.match(nested.out, /CLAUDE RAN with A=value-a/);
  assert.doesNotMatch(nested.out, /\[y\/N\]/);
});
