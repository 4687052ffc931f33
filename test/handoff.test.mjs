// tvault handoff, end to end: a real vault, the built CLI, and fake "agent" scripts that report
// what they can see and reach from inside the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { assertOneLineError, tvault, tvaultSpawn } from './helpers.mjs';
import { exited, waitFor } from './agent-helpers.mjs';
import { agentScript, handoffVault, parseReport } from './handoff-helpers.mjs';

const fsType = (path) => spawnSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).stdout.trim();

/** The script every session test uses to look around: what it sees goes to $REPORT as key=value lines. */
const LOOK_AROUND = `
{
  echo "vars=$(env | grep '^TVAULT_' | sed 's/=.*//' | sort | tr '\\n' ,)"
  echo "dir=$TVAULT_DIR"
  echo "fstype=$(stat -f -c %T "$TVAULT_DIR")"
  echo "get_a=$($TV get A 2>/dev/null) rc=$?"
  $TV get B >/dev/null 2>&1; echo "get_b_rc=$?"
  $TV get -p other OTHER >/dev/null 2>&1; echo "get_other_rc=$?"
  echo "run=$($TV run -- sh -c 'echo "$A|$B|$API_KEY"' 2>/dev/null)"
  echo "env=$($TV env --format json 2>/dev/null | tr -d ' \\n')"
  echo "inspect=$($TV handoff inspect --json | tr -d ' \\n') rc=$?"
  echo "list=$($TV projects list 2>/dev/null | tr '\\n' ' ')"
  $TV --vault "$REAL_VAULT" get A >/dev/null 2>"$REPORT.err1"; echo "real_vault_rc=$?"
  echo "real_vault_err=$(cat "$REPORT.err1")"
  TVAULT_PASSPHRASE="$REAL_PASS" $TV --vault "$REAL_VAULT" get A >/dev/null 2>&1; echo "hand_pass_rc=$?"
  echo x | TVAULT_PASSPHRASE="$REAL_PASS" $TV set C --stdin >/dev/null 2>"$REPORT.err2"; echo "set_in_e_rc=$?"
  echo "set_in_e_err=$(cat "$REPORT.err2")"
  $TV agent start --vault "$REAL_VAULT" >/dev/null 2>&1; echo "agent_start_rc=$?"
  $TV handoff -- true >/dev/null 2>&1; echo "nested_rc=$?"
} >> "$REPORT"
exit 7
`;

test('the agent gets E and its key and none of your credentials; it reads only the scoped keys, prompt-free; E is in RAM and gone afterwards', (t) => {
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'agent', LOOK_AROUND);
  const r = v.run(['handoff', '--only', 'A,B', '--', agent.path], {
    env: {
      TVAULT_AGENT_TOKEN: 'tvt_not-a-real-token',
      TVAULT_PASSPHRASE_FILE: join(v.dir, 'nope'),
      TVAULT_SOMETHING_ELSE: 'x',
      TVAULT_NO_AGENT: '1',
      REAL_VAULT: v.vault,
      REAL_PASS: v.env.TVAULT_PASSPHRASE,
    },
  });
  // TVAULT_PASSPHRASE_FILE points nowhere, but TVAULT_PASSPHRASE comes first for the builder.
  assert.equal(r.code, 7, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^tvault: handed agent project 'default' \(2 keys\) in a session vault in RAM; your vault's key is out of its reach$/);
  const seen = parseReport(agent.report());
  assert.equal(seen.vars, 'TVAULT_DIR,TVAULT_HANDOFF,TVAULT_IDENTITY_KEY,');
  assert.match(seen.dir, /\/tvault-handoff-[0-9a-f]{32}$/);
  assert.equal(seen.fstype, 'tmpfs');
  assert.equal(seen.get_a, 'value-a rc=0');
  assert.equal(seen.get_b_rc, '0');
  assert.equal(seen.get_other_rc, '4', 'another project is not found');
  assert.equal(seen.run, 'value-a|value-b|', 'run injects the scoped keys only');
  assert.deepEqual(JSON.parse(seen.env), { A: 'value-a', B: 'value-b' });
  assert.equal(seen.inspect, '{"handoff":true,"project":"default","keys":2} rc=0');
  assert.equal(
    seen.list
      .trim()
      .split(/\s+/)
      .filter((w) => w === 'other').length,
    0,
    `other projects are not even named: ${seen.list}`,
  );
  assert.equal(seen.real_vault_rc, '3', '--vault on the real vault fails closed');
  assert.match(seen.real_vault_err, /inside a tvault handoff session only its own vault can be used/);
  assert.equal(seen.hand_pass_rc, '3', 'a hand-set TVAULT_PASSPHRASE does not open the real vault');
  assert.equal(seen.set_in_e_rc, '3', 'no passphrase is read inside the session');
  assert.match(seen.set_in_e_err, /no passphrase is read or asked for/);
  assert.equal(seen.agent_start_rc, '3', 'no unlock agent from inside the session');
  assert.equal(seen.nested_rc, '3', 'no handoff from inside a handoff');
  assert.ok(!existsSync(seen.dir), 'E is gone after a normal exit');
  assert.ok(!existsSync(join(v.vault, 'handoff-leases', `${seen.dir.slice(-32)}.lease`)), 'the lease is released');
  // The audit trail of the real vault: the start (project, key names, program) and the end.
  const rows = v
    .run(['audit', '--json'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const start = rows.find((x) => x.op === 'handoff.start');
  const end = rows.find((x) => x.op === 'handoff.end');
  assert.deepEqual([start.project, start.keys], ['default', ['A', 'B']]);
  assert.match(start.detail, new RegExp(`^agent=agent session=${seen.dir.slice(-32)}$`));
  assert.match(end.detail, /how=agent exited 7$/);
  for (const row of rows) assert.doesNotMatch(JSON.stringify(row), /value-/, 'no value in the audit trail');
  // The keyed start and the unkeyed end (the supervisor has no key) verify with the key.
  const verify = v.run(['audit', 'verify']);
  assert.equal(verify.code, 0, verify.stderr);
});

test('inside a handoff, run masks the handed-off values by default; --no-mask shows them', (t) => {
  const v = handoffVault(t);
  const agent = agentScript(
    v.dir,
    'agent',
    `{
  echo "masked=$($TV run -- sh -c 'echo "$API_KEY"' 2>/dev/null)"
  echo "unmasked=$($TV run --no-mask -- sh -c 'echo "$API_KEY"' 2>/dev/null)"
} >> "$REPORT"`,
  );
  const r = v.run(['handoff', '--only', 'API_KEY', '--', agent.path]);
  assert.equal(r.code, 0, r.stderr);
  const seen = parseReport(agent.report());
  assert.equal(seen.masked, '<masked:API_KEY>');
  assert.equal(seen.unmasked, 'value-api');
  // Outside a handoff an ordinary run does not mask.
  const plain = v.run(['run', '--', 'sh', '-c', 'echo "$API_KEY"']);
  assert.equal(plain.stdout.trim(), 'value-api', plain.stderr);
});

test('--prefix and -p scope the session; out-of-scope keys are not found', (t) => {
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'scoped', `{ echo "env=$($TV env --format json | tr -d ' \\n')"; $TV get A >/dev/null 2>&1; echo "a_rc=$?"; } >> "$REPORT"`);
  assert.equal(v.run(['handoff', '--prefix', 'API_', '--', agent.path]).code, 0);
  assert.deepEqual(JSON.parse(parseReport(agent.report()).env), { API_KEY: 'value-api' });
  assert.equal(parseReport(agent.report()).a_rc, '4');
  rmSync(agent.reportFile);
  const r = v.run(['handoff', '-p', 'other', '--', agent.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /project 'other' \(1 key\)/);
  assert.deepEqual(JSON.parse(parseReport(agent.report()).env), { OTHER: 'value-other' });
});

test("exit codes are run's: the agent's own, 127 not found, 126 not executable, 128+N for its crash, 125 for tvault's own failure", (t) => {
  const v = handoffVault(t);
  const crash = agentScript(v.dir, 'crash', 'echo "dir=$TVAULT_DIR" >> "$REPORT"; kill -SEGV $$');
  const r = v.run(['handoff', '--', crash.path]);
  assert.equal(r.code, 128 + 11, r.stderr);
  assert.ok(!existsSync(parseReport(crash.report()).dir), "E is gone after the agent's crash");
  assert.equal(v.run(['handoff', '--', join(v.dir, 'no-such-agent')]).code, 127);
  assert.equal(v.run(['handoff', '--', v.dir]).code, 126);
  assertOneLineError(assert, v.run(['handoff', '--', 'true'], { env: { TVAULT_PASSPHRASE: 'a wrong passphrase here' } }), 125, /wrong passphrase/);
  assertOneLineError(assert, v.run(['handoff']), 2, /nothing to hand off to/);
  assertOneLineError(assert, tvault(['handoff', '--', 'true'], { env: { TVAULT_DIR: join(v.dir, 'none') } }), 125, /no vault at/);
  const rows = v.run(['audit', '--json']).stdout;
  assert.match(rows, /how=agent killed by signal 11/);
  // No E is left behind by any of them.
  assert.equal(leftovers(v.dir).length, 0, leftovers(v.dir).join(' '));
});

test('a builder whose supervisor ended before writing its request says so in one line, exit 1', (t) => {
  const v = handoffVault(t);
  const r = tvault(['__handoff-build'], { env: v.env, input: '' });
  assertOneLineError(assert, r, 1, /got no request: its supervisor ended/);
});

/**
 * E directories in /dev/shm left by a handoff of the vault under `root`. Other tests' sessions
 * run at the same time and may be mid-teardown (handoff.json being overwritten): not ours.
 */
function leftovers(root, base = '/dev/shm') {
  return (spawnSync('ls', [base], { encoding: 'utf8' }).stdout || '')
    .split('\n')
    .filter((n) => n.startsWith('tvault-handoff-'))
    .filter((n) => sessionVault(join(base, n))?.startsWith(root));
}

/** The real vault a session directory names, or undefined when its handoff.json is gone or unreadable. */
function sessionVault(e) {
  try {
    return JSON.parse(readFileSync(join(e, 'handoff.json'), 'utf8')).vault;
  } catch {
    return undefined;
  }
}

for (const [sig, n] of [
  ['SIGTERM', 15],
  ['SIGHUP', 1],
]) {
  test(`${sig} to the supervisor reaches the agent; E is torn down and the exit code is 128+${n}`, async (t) => {
    const v = handoffVault(t);
    const agent = agentScript(v.dir, 'sleeper', 'echo "dir=$TVAULT_DIR" >> "$REPORT"; exec sleep 30');
    const child = tvaultSpawn(['handoff', '--', agent.path], { env: v.env });
    const done = exited(child);
    const dir = await waitFor(() => parseReport(agent.report()).dir, { what: 'the agent to start' });
    assert.ok(existsSync(join(dir, 'vault.db')));
    child.kill(sig);
    const { code } = await done;
    assert.equal(code, 128 + n);
    assert.ok(!existsSync(dir), `E is gone after ${sig}`);
    assert.match(v.run(['audit', '--json']).stdout, new RegExp(`how=agent killed by signal ${n}`));
  });
}

test('XDG_RUNTIME_DIR is used only when it is a private tmpfs directory; else /dev/shm', (t) => {
  const v = handoffVault(t);
  const agent = agentScript(v.dir, 'where', 'echo "dir=$TVAULT_DIR" >> "$REPORT"; echo "fstype=$(stat -f -c %T "$TVAULT_DIR")" >> "$REPORT"');
  // On disk (not tmpfs): passed over.
  const disk = join(v.dir, 'runtime');
  mkdirSync(disk, { mode: 0o700 });
  assert.notEqual(fsType(disk), 'tmpfs', 'the test needs its temp dir on disk');
  assert.equal(v.run(['handoff', '--', agent.path], { env: { XDG_RUNTIME_DIR: disk } }).code, 0);
  assert.match(parseReport(agent.report()).dir, /^\/dev\/shm\//);
  // A private tmpfs directory of ours: used.
  const ram = mkdtempSync('/dev/shm/tvault-test-runtime-');
  t.after(() => rmSync(ram, { recursive: true, force: true }));
  assert.equal(v.run(['handoff', '--', agent.path], { env: { XDG_RUNTIME_DIR: ram } }).code, 0);
  const seen = parseReport(agent.report());
  assert.equal(seen.dir.startsWith(`${ram}/tvault-handoff-`), true, seen.dir);
  assert.equal(seen.fstype, 'tmpfs');
});
