// Rendering the login services from the committed templates: systemd's and launchd's quoting
// rules for every argument, and what each unit must (and must never) contain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, renderUnit, unitPath } from './agent-units';

const ROOT = join(__dirname, '..', '..', '..', '..');
const SYSTEMD = readFileSync(join(ROOT, 'systemd', 'tvault-agent.service'), 'utf8');
const LAUNCHD = readFileSync(join(ROOT, 'launchd', 'dev.tvault.agent.plist'), 'utf8');
const systemd = (o: Partial<Parameters<typeof renderUnit>[1]> = {}) =>
  renderUnit('systemd', { startArgs: [], passphraseFile: '/home/u/.config/tvault/passphrase', ...o }, SYSTEMD);
const launchd = (o: Partial<Parameters<typeof renderUnit>[1]> = {}) =>
  renderUnit('launchd', { startArgs: [], passphraseFile: '/home/u/.config/tvault/passphrase', ...o }, LAUNCHD);
const line = (text: string, key: string) => text.split('\n').filter((l) => l.startsWith(`${key}=`));

test('units: systemd ExecStart quotes each argument the way systemd splits and expands it', () => {
  const cases: Array<[string[], string]> = [
    [[], ''],
    [['--idle', '1h'], ' --idle 1h'],
    [['--token-file', '/a b/t'], ' --token-file "/a b/t"'],
    [['--x', '100%'], ' --x 100%%'],
    [['--x', '$HOME'], ' --x $$HOME'],
    [['--x', 'a"b'], ' --x "a\\"b"'],
    [['--x', "it's"], ` --x "it's"`],
    [['--x', 'a\\b'], ' --x "a\\\\b"'],
  ];
  for (const [args, tail] of cases) {
    const text = systemd({ startArgs: args });
    assert.deepEqual(line(text, 'ExecStart'), [`ExecStart=${process.execPath} ${BIN} agent start${tail}`], JSON.stringify(args));
  }
});

test('units: a control character in anything written into a unit is refused, naming the field', () => {
  for (const startArgs of [
    ['--token-file', '/t\nExecStartPre=/bin/sh'],
    ['--x', 'tab\there'],
  ]) {
    assert.throws(() => systemd({ startArgs }), /contains a control character/, JSON.stringify(startArgs));
  }
  assert.throws(() => systemd({ vaultDir: '/v\n[Service]' }), /the vault directory .* contains a control character/);
});

test('units: systemd reload, environment and credential lines', () => {
  const plain = systemd();
  assert.ok(plain.startsWith('# Written by `tvault agent install`'));
  assert.deepEqual(line(plain, 'ExecReload'), [], 'without a token file SIGHUP would stop the agent: no ExecReload');
  assert.deepEqual(line(plain, 'Environment'), []);
  assert.deepEqual(line(plain, 'LoadCredential'), ['LoadCredential=tvault-passphrase:/home/u/.config/tvault/passphrase']);
  const full = systemd({ startArgs: ['--require-token', '--token-file', '/t'], vaultDir: '/v 1/%x', passphraseFile: '/p/100%' });
  assert.deepEqual(line(full, 'ExecReload'), ['ExecReload=/bin/kill -HUP $MAINPID']);
  assert.deepEqual(line(full, 'Environment'), ['Environment="TVAULT_DIR=/v 1/%%x"']);
  assert.deepEqual(line(full, 'LoadCredential'), ['LoadCredential=tvault-passphrase:/p/100%%']);
  // Everything else of the template is kept.
  for (const keep of ['Type=notify', 'Restart=on-failure', 'RestartPreventExitStatus=2 5 6', 'UMask=0077', 'LimitCORE=0'])
    assert.ok(full.includes(`\n${keep}\n`), keep);
});

test('units: launchd escapes XML and passes the passphrase file by name only', () => {
  const text = launchd({ startArgs: ['--idle', '1h', '--x', '<a&b>"'], vaultDir: '/v&w' });
  assert.match(text, /<!DOCTYPE[^>]*>\n<!-- Written by `tvault agent install`/);
  const args = /<key>ProgramArguments<\/key>\n {2}<array>\n([\s\S]*?)\n {2}<\/array>/.exec(text)![1];
  assert.deepEqual(
    args.split('\n').map((l) => l.trim()),
    [process.execPath, BIN, 'agent', 'start', '--idle', '1h', '--x', '&lt;a&amp;b&gt;&quot;'].map((a) => `<string>${a}</string>`),
  );
  assert.match(text, /<key>TVAULT_PASSPHRASE_FILE<\/key>\n {4}<string>\/home\/u\/.config\/tvault\/passphrase<\/string>/);
  assert.match(text, /<key>TVAULT_DIR<\/key>\n {4}<string>\/v&amp;w<\/string>/);
  assert.doesNotMatch(text, /\/bin\/sh/, 'the login-shell form of the template is replaced');
  assert.doesNotMatch(launchd(), /TVAULT_DIR/);
});

test('units: where the unit goes', () => {
  assert.match(unitPath('systemd', { XDG_CONFIG_HOME: '/cfg' }), /^\/cfg\/systemd\/user\/tvault-agent\.service$/);
  assert.match(unitPath('systemd', { XDG_CONFIG_HOME: 'relative' }), /\/\.config\/systemd\/user\/tvault-agent\.service$/);
  assert.match(unitPath('launchd', {}), /\/Library\/LaunchAgents\/dev\.tvault\.agent\.plist$/);
});

test('units: without a passphrase file there is no passphrase source in either unit (the agent starts --locked)', () => {
  const s = renderUnit('systemd', { startArgs: ['--locked', '--on-idle', 'lock'] }, SYSTEMD);
  assert.deepEqual(line(s, 'ExecStart'), [`ExecStart=${process.execPath} ${BIN} agent start --locked --on-idle lock`]);
  assert.deepEqual(line(s, 'LoadCredential'), []);
  assert.doesNotMatch(s, /^Environment=/m);
  const l = renderUnit('launchd', { startArgs: ['--locked', '--on-idle', 'lock'] }, LAUNCHD);
  assert.doesNotMatch(l, /EnvironmentVariables|TVAULT_PASSPHRASE/);
  assert.match(l, /<string>--locked<\/string>\n {4}<string>--on-idle<\/string>\n {4}<string>lock<\/string>\n {2}<\/array>\n {2}<key>RunAtLoad<\/key>/);
});
