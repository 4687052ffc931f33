// Running the agent under a service manager: the committed systemd unit and launchd plist,
// `tvault agent install|uninstall` (rendered from them), which start the agent --locked
// --on-idle lock (no passphrase at login, `tvault unlock` warms it), and the passphrase
// sources a unit may use instead (a 0600 file, systemd credentials), which never put the
// passphrase into the unit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, PASS, ROOT, makeVault, tempDir } from './helpers.mjs';
import { request, startAgent, startAgentFails } from './agent-helpers.mjs';

/** systemd's own parser: exit 0 and no warnings (unknown keys are only warnings). */
function systemdVerify(t, text) {
  const tmp = tempDir('tvault-unit-');
  t.after(tmp.cleanup);
  const file = join(tmp.dir, 'tvault-agent.service');
  writeFileSync(file, text);
  const r = spawnSync('systemd-analyze', ['verify', '--user', file], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: tmp.dir } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', `systemd-analyze warnings:\n${r.stderr}`);
}

function plist(text) {
  const r = spawnSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], {
    input: text,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** A throwaway HOME so that install writes nowhere real. */
function home(t, v) {
  const h = join(v.dir, 'home');
  mkdirSync(h, { recursive: true });
  return { HOME: h, XDG_CONFIG_HOME: undefined };
}

test('the committed systemd unit is valid as shipped: Type=notify, starts --locked --on-idle lock, no passphrase source at all', (t) => {
  const unit = readFileSync(join(ROOT, 'systemd/tvault-agent.service'), 'utf8');
  systemdVerify(t, unit);
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^ExecStart=\/usr\/bin\/env tvault agent start --locked --on-idle lock$/m);
  assert.doesNotMatch(unit, /^LoadCredential=/m);
  assert.doesNotMatch(unit, /^Environment=TVAULT_PASSPHRASE/m);
});

test('the committed launchd plist parses and starts the agent --locked --on-idle lock, without a passphrase file', () => {
  const p = plist(readFileSync(join(ROOT, 'launchd/dev.tvault.agent.plist'), 'utf8'));
  assert.equal(p.Label, 'dev.tvault.agent');
  assert.equal(p.ProgramArguments.at(-1), 'exec tvault agent start --locked --on-idle lock');
  assert.equal(p.EnvironmentVariables, undefined);
  assert.deepEqual(p.KeepAlive, { SuccessfulExit: false });
});

test('install --dry-run prints a systemd unit with absolute paths, the chosen flags and vault, and no passphrase', (t) => {
  const v = makeVault(t);
  const r = v.run(['agent', 'install', '--dry-run', '--idle', '1h', '--max-ttl', '8h'], { env: home(t, v) });
  assert.equal(r.code, 0, r.stderr);
  const unit = r.stdout;
  systemdVerify(t, unit);
  assert.ok(unit.includes(`\nExecStart=${process.execPath} ${BIN} agent start --locked --on-idle lock --idle 1h --max-ttl 8h\n`), unit);
  assert.ok(unit.includes(`\nEnvironment=TVAULT_DIR=${v.vault}\n`), 'a non-default vault is named');
  assert.doesNotMatch(unit, /^LoadCredential=/m, 'locked at login: no passphrase file');
  // With a passphrase file: unlocked at start from it, by credential; --on-idle as asked.
  const withFile = v.run(['agent', 'install', '--dry-run', '--passphrase-file', 'pw', '--on-idle', 'exit'], { env: home(t, v), cwd: v.dir }).stdout;
  systemdVerify(t, withFile);
  assert.ok(withFile.includes(`\nExecStart=${process.execPath} ${BIN} agent start --on-idle exit\n`), withFile);
  assert.ok(withFile.includes(`\nLoadCredential=tvault-passphrase:${join(v.dir, 'pw')}\n`), withFile);
  assert.equal(v.run(['agent', 'install', '--dry-run', '--on-idle', 'never'], { env: home(t, v) }).code, 2);
  assert.match(unit, /^Type=notify$/m);
  assert.doesNotMatch(unit, /ExecReload/, 'without a token file SIGHUP stops the agent: no reload that would');
  assert.ok(!unit.includes(PASS), 'the passphrase (set in the environment) is not in the unit');
  assert.match(r.stderr, /dry run: would write .*\/home\/\.config\/systemd\/user\/tvault-agent\.service/);
  assert.ok(!existsSync(join(v.dir, 'home/.config')), 'a dry run writes nothing');
  const bad = v.run(['agent', 'install', '--dry-run', '--idle', '15'], { env: home(t, v) });
  assert.equal(bad.code, 2);
  const sized = v.run(['agent', 'install', '--dry-run', '--log-max-size', '2M'], { env: home(t, v) });
  assert.ok(sized.stdout.includes(`\nExecStart=${process.execPath} ${BIN} agent start --locked --on-idle lock --log-max-size 2097152\n`), sized.stdout);
  assert.equal(v.run(['agent', 'install', '--dry-run', '--log-max-size', 'big'], { env: home(t, v) }).code, 2);
});

test('install --target launchd --dry-run prints a plist with absolute ProgramArguments and the passphrase file', (t) => {
  const v = makeVault(t);
  const r = v.run(['agent', 'install', '--dry-run', '--target', 'launchd', '--passphrase-file', join(v.dir, 'pw')], { env: home(t, v) });
  assert.equal(r.code, 0, r.stderr);
  const p = plist(r.stdout);
  assert.deepEqual(p.ProgramArguments, [process.execPath, BIN, 'agent', 'start', '--on-idle', 'lock']);
  assert.deepEqual(p.EnvironmentVariables, { TVAULT_PASSPHRASE_FILE: join(v.dir, 'pw'), TVAULT_DIR: v.vault });
  assert.equal(p.Label, 'dev.tvault.agent');
  assert.ok(!r.stdout.includes(PASS));
  // Without a passphrase file: locked at login, no passphrase in its environment.
  const locked = plist(v.run(['agent', 'install', '--dry-run', '--target', 'launchd'], { env: home(t, v) }).stdout);
  assert.deepEqual(locked.ProgramArguments, [process.execPath, BIN, 'agent', 'start', '--locked', '--on-idle', 'lock']);
  assert.deepEqual(locked.EnvironmentVariables, { TVAULT_DIR: v.vault });
});

test('install writes the unit under $HOME (and says to tvault unlock), warns about a missing passphrase file it was given; uninstall removes it', (t) => {
  const v = makeVault(t);
  const env = home(t, v);
  const dry = v.run(['agent', 'install', '--dry-run'], { env }).stdout;
  let r = v.run(['agent', 'install'], { env });
  assert.equal(r.code, 0, r.stderr);
  const path = join(env.HOME, '.config/systemd/user/tvault-agent.service');
  assert.equal(readFileSync(path, 'utf8'), dry, 'install writes what --dry-run prints');
  assert.match(r.stderr, /systemctl --user daemon-reload && systemctl --user enable --now tvault-agent, then tvault unlock\n$/);
  assert.doesNotMatch(r.stderr, /warning/, 'no passphrase file is needed');
  r = v.run(['agent', 'install', '--passphrase-file', join(v.dir, 'missing')], { env });
  assert.match(r.stderr, /warning: create the passphrase file first/);
  // XDG_CONFIG_HOME is honoured.
  r = v.run(['agent', 'install', '--dry-run'], { env: { ...env, XDG_CONFIG_HOME: join(v.dir, 'cfg') } });
  assert.match(r.stderr, new RegExp(`would write ${join(v.dir, 'cfg')}/systemd/user/tvault-agent.service`));
  r = v.run(['agent', 'uninstall', '--dry-run'], { env });
  assert.equal(r.stdout, `would remove ${path}\n`);
  assert.ok(existsSync(path));
  r = v.run(['agent', 'uninstall'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(path));
  r = v.run(['agent', 'uninstall'], { env });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /nothing to remove/);
});

test('under systemd the agent takes the passphrase from $CREDENTIALS_DIRECTORY; a passphrase file must be 0600', async (t) => {
  const v = makeVault(t);
  const creds = join(v.dir, 'creds');
  mkdirSync(creds, { mode: 0o700 });
  writeFileSync(join(creds, 'tvault-passphrase'), PASS, { mode: 0o400 });
  chmodSync(creds, 0o500); // as systemd leaves it (a 0500 dir cannot be written into but by root)
  const a = await startAgent(t, v, [], { env: { TVAULT_PASSPHRASE: undefined, CREDENTIALS_DIRECTORY: creds } });
  assert.equal((await request(a.sock, { v: 1, op: 'status' })).unlocked, true);
  await request(a.sock, { v: 1, op: 'stop' });
  await a.done;
  chmodSync(creds, 0o700); // so that the cleanup can remove it
  const file = join(v.dir, 'pw');
  writeFileSync(file, `${PASS}\n`, { mode: 0o600 });
  const b = await startAgent(t, v, [], { env: { TVAULT_PASSPHRASE: undefined, TVAULT_PASSPHRASE_FILE: file } });
  await request(b.sock, { v: 1, op: 'stop' });
  await b.done;
  chmodSync(file, 0o644);
  const r = startAgentFails(v, [], { env: { TVAULT_PASSPHRASE: undefined, TVAULT_PASSPHRASE_FILE: file } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /must be 0600/);
});

test('install passes the token flags, with absolute paths, and refuses other uids without a token file', (t) => {
  const v = makeVault(t);
  const r = v.run(['agent', 'install', '--dry-run', '--token-file', 'tokens', '--allow-uid', '1001', '--allow-uid', '1002', '--delegate-dir', 'share'], {
    env: home(t, v),
    cwd: v.dir,
  });
  assert.equal(r.code, 0, r.stderr);
  systemdVerify(t, r.stdout);
  const exec = r.stdout.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.equal(
    exec,
    `ExecStart=${process.execPath} ${BIN} agent start --locked --on-idle lock --require-token --token-file ${join(v.dir, 'tokens')} --allow-uid 1001 --allow-uid 1002 --delegate-dir ${join(v.dir, 'share')}`,
  );
  assert.match(r.stdout, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'systemctl reload re-reads the token file');
  for (const args of [
    ['--allow-uid', '1001'],
    ['--delegate-dir', 'share'],
    ['--token-file', 'tokens', '--allow-uid', 'bob'],
  ]) {
    const bad = v.run(['agent', 'install', '--dry-run', ...args], { env: home(t, v), cwd: v.dir });
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.equal(bad.stdout, '');
  }
});
