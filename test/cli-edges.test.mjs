// Edge cases of names and input that once did something surprising (issue 9, "Files and
// names"): each is a clear one-line error with the documented exit code, or exact bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, assertOneLineError, makeVault, requireCommand, tvault } from './helpers.mjs';
import { startAgent } from './agent-helpers.mjs';

test("an empty -p '' (or a bare -p, --project=) is a usage error, not the current project", (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'current-project-value' }).code, 0);
  for (const p of [['-p', ''], ['-p'], ['--project='], ['--project', '']]) {
    for (const cmd of [['get', 'K'], ['list'], ['env'], ['audit'], ['set', 'K2', '--stdin']]) {
      const r = v.run([...cmd, ...p], { input: 'x' });
      assertOneLineError(assert, r, 2, /-p\/--project needs a project name/);
      assert.equal(r.stdout, '', `${cmd.join(' ')} ${p.join(' ')} printed something`);
    }
  }
  assert.equal(v.run(['get', 'K2']).code, 4, 'nothing was written');
});

test("-p '' through a running agent: the fast path hands over and the full CLI refuses it (2)", async (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'current-project-value' }).code, 0);
  await startAgent(t, v);
  const env = { TVAULT_NO_AGENT: '', TVAULT_PASSPHRASE: '' }; // only the agent can answer
  assert.equal(v.run(['get', 'K'], { env }).stdout, 'current-project-value\n', 'the agent answers');
  for (const args of [
    ['get', 'K', '-p', ''],
    ['get', 'K', '-p'],
    ['get', 'K', '--project='],
    ['env', '-p', ''],
    ['env', '--format', 'json', '--project='],
  ]) {
    const r = v.run(args, { env });
    assertOneLineError(assert, r, 2, /-p\/--project needs a project name/);
    assert.equal(r.stdout, '');
  }
});

test("run -- '' is 'command not found' (127) in one line, with and without --pristine, and through env --", (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  for (const args of [
    ['run', '--', ''],
    ['run', '--pristine', '--', '', 'arg'],
    ['env', '--', ''],
  ]) {
    assertOneLineError(assert, v.run(args), 127, /^tvault: '': command not found$/m);
  }
});

test('an unknown command says "unknown command" first, at every level, with a suggestion only when one is close', () => {
  const cases = [
    [['frobnicate'], /^tvault: unknown command 'frobnicate' \(see tvault --help\)$/m],
    [['lst'], /^tvault: unknown command 'lst'; did you mean list\? \(see tvault --help\)$/m],
    [['-p', 'backend', 'lst'], /^tvault: unknown command 'lst'; did you mean list\?/],
    [['projects', 'frob'], /^tvault: unknown command 'frob' for tvault projects \(see tvault projects --help\)$/m],
    [['agent', 'stat'], /^tvault: unknown command 'stat' for tvault agent; did you mean status\?/],
    [['agent', 'token', 'crate'], /^tvault: unknown command 'crate' for tvault agent token; did you mean create\?/],
    [['key', 'rot'], /^tvault: unknown command 'rot' for tvault key; did you mean rotate\?/],
    [['copy'], /^tvault: unknown command 'copy' \(see tvault --help\)$/m],
    [['$(id)\n'], /^tvault: unknown command '\$\(id\)\\n' \(see tvault --help\)$/m],
    [[], /^tvault: usage: tvault <command> \[options\]; commands: init, .* \(see tvault --help\)$/m],
    [['projects'], /^tvault: give a projects subcommand: create, list, use, delete, share, recipients or unshare \(see tvault projects --help\)$/m],
    // not commands: an extra argument of a command stays what it is
    [['list', 'extra'], /^tvault: Unknown argument: extra/],
  ];
  for (const [args, re] of cases) {
    const r = tvault(args, { env: { TVAULT_DIR: '/nonexistent/tvault-test' } });
    assertOneLineError(assert, r, 2, re);
  }
  const help = tvault(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^tvault <command> \[options\]\n/);
  assert.doesNotMatch(help.stdout, /words/, 'the hidden fallback shows in help');
});

test('import keeps __proto__ and constructor as names, and leaves out a line that is not UTF-8, naming the line, never the value', (t) => {
  const v = makeVault(t);
  const file = join(v.dir, 'in.env');
  writeFileSync(file, '__proto__=p1\nconstructor=c1\nMULTI="first\n__proto__=not-a-key"\nX__proto__Y=z\nPLAIN=has __proto__ inside\n');
  const r = v.run(['import', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /imported into default: 5 new, 0 changed, 0 unchanged/);
  assert.equal(v.run(['get', '__proto__', '--raw']).stdout, 'p1');
  assert.equal(v.run(['get', 'constructor', '--raw']).stdout, 'c1');
  assert.equal(v.run(['get', 'MULTI', '--raw']).stdout, 'first\n__proto__=not-a-key');
  assert.equal(v.run(['get', 'X__proto__Y', '--raw']).stdout, 'z');
  assert.equal(v.run(['get', 'PLAIN', '--raw']).stdout, 'has __proto__ inside');

  const bad = join(v.dir, 'bad.env');
  writeFileSync(bad, Buffer.concat([Buffer.from('GOOD=fine\n# comment\nBAD=secret-'), Buffer.from([0xff, 0xfe]), Buffer.from('-tail\nAFTER=x\n')]));
  const dry = v.run(['import', '--dry-run', bad]);
  assert.equal(dry.code, 1, dry.stderr);
  assert.equal(dry.stdout, 'new       GOOD\nnew       AFTER\n');
  assert.match(dry.stderr, /^tvault: .*bad\.env, line 3: not valid UTF-8$/m);
  assert.equal(v.run(['get', 'GOOD']).code, 4, 'a dry run imports nothing');
  for (const args of [
    ['import', bad],
    ['import', '-'],
  ]) {
    const res = v.run(args, { input: readFileSync(bad) });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /^tvault: (.*bad\.env|stdin), line 3: not valid UTF-8$/m);
    assert.doesNotMatch(res.stderr, /secret|tail|BAD/, 'the line is named, not quoted');
  }
  assert.equal(v.run(['get', 'GOOD', '--raw']).stdout, 'fine', 'the valid lines are imported');
  assert.equal(v.run(['get', 'AFTER', '--raw']).stdout, 'x');
  assert.equal(v.run(['get', 'BAD']).code, 4);
});

test('agent install: a control character in a path is a usage error, never a line of the unit', (t) => {
  const v = makeVault(t);
  const env = { HOME: join(v.dir, 'home'), XDG_CONFIG_HOME: '' };
  const evil = (p) => `${join(v.dir, p)}\nExecStartPre=/bin/touch ${join(v.dir, 'PWNED')}`;
  const cases = [
    [['--passphrase-file', evil('pass')], /--passphrase-file contains a control character/],
    [['--token-file', evil('tokens')], /--token-file contains a control character/],
    [['--token-file', join(v.dir, 'tokens'), '--delegate-dir', evil('d')], /--delegate-dir contains a control character/],
    [['--vault', evil('vault')], /the vault directory \(--vault or TVAULT_DIR\) contains a control character/],
    [['--passphrase-file', `${join(v.dir, 'p')}\r`], /--passphrase-file contains a control character/],
  ];
  for (const target of ['systemd', 'launchd']) {
    for (const [args, re] of cases) {
      const r = v.run(['agent', 'install', '--dry-run', '--target', target, ...args], { env });
      assertOneLineError(assert, r, 2, re);
      assert.equal(r.stdout, '', `${target} ${args.join(' ')}: a unit was printed`);
    }
    // The environment's TVAULT_DIR reaches the unit too.
    const r = v.run(['agent', 'install', '--dry-run', '--target', target], { env: { ...env, TVAULT_DIR: evil('vault') } });
    assertOneLineError(assert, r, 2, /the vault directory .* contains a control character/);
    assert.equal(r.stdout, '');
  }
  // And without --dry-run nothing is written.
  const r = v.run(['agent', 'install', '--target', 'systemd', '--passphrase-file', evil('pass')], { env });
  assert.equal(r.code, 2);
  assert.ok(!existsSync(join(v.dir, 'home', '.config', 'systemd')), 'a unit was written');
});

/** A literal passphrase or token put on a command line: `VAR=value cmd`, unless the value is read from somewhere. */
const SECRET_ON_COMMAND_LINE = /\b(TVAULT_(?:NEW_)?PASSPHRASE|TVAULT_AGENT_TOKEN)=(?!"?\$\()\S/;

test('no help text or README example puts a passphrase or token on a command line', () => {
  const seen = new Set();
  const walk = (path) => {
    const r = tvault([...path, '--help']);
    assert.equal(r.code, 0, `${path.join(' ')} --help: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, SECRET_ON_COMMAND_LINE, `tvault ${path.join(' ')} --help`);
    const commands = r.stdout
      .split('\nOptions:')[0]
      .split('\n')
      .map((l) => new RegExp(`^  tvault ${path.map((p) => `${p} `).join('')}([a-z]+)\\b`).exec(l)?.[1])
      .filter(Boolean);
    for (const c of commands) {
      const next = [...path, c];
      if (!seen.has(next.join(' '))) (seen.add(next.join(' ')), walk(next));
    }
  };
  walk([]);
  for (const c of ['init', 'key rotate', 'agent token create', 'agent start', 'set', 'run']) assert.ok(seen.has(c), `${c} was not checked`);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const bad = readme.split('\n').filter((l) => SECRET_ON_COMMAND_LINE.test(l));
  assert.deepEqual(bad, [], 'README lines with a secret on a command line');
});

test('TVAULT_NEW_PASSPHRASE_FILE gives key rotate its new passphrase from a 0600 file (the help example)', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'K', '--stdin'], { input: 'v' }).code, 0);
  const file = join(v.dir, 'new-pass');
  writeFileSync(file, 'the new passphrase\n', { mode: 0o644 });
  assertOneLineError(
    assert,
    v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE_FILE: file } }),
    1,
    /TVAULT_NEW_PASSPHRASE_FILE .* has mode 0644; it must be 0600/,
  );
  chmodSync(file, 0o600);
  const r = v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE_FILE: file } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(v.run(['get', 'K'], { env: { TVAULT_PASSPHRASE: 'the new passphrase' } }).stdout, 'v\n');
});

test('an OpenSSH private key stored with -f comes back byte for byte and still loads', (t) => {
  if (!requireCommand(t, 'ssh-keygen')) return;
  const v = makeVault(t);
  const key = join(v.dir, 'id_ed25519');
  const gen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tvault-test', '-f', key]);
  assert.equal(gen.status, 0, String(gen.stderr));
  assert.equal(v.run(['set', 'SSH_KEY', '-f', key]).code, 0);
  const back = v.run(['get', 'SSH_KEY', '--raw'], { encoding: 'buffer' });
  assert.equal(back.code, 0);
  assert.ok(back.stdout.equals(readFileSync(key)), 'the key changed on the way through the vault');
  const copy = join(v.dir, 'copy');
  writeFileSync(copy, back.stdout, { mode: 0o600 });
  const pub = spawnSync('ssh-keygen', ['-y', '-f', copy], { encoding: 'utf8' });
  assert.equal(pub.status, 0, `ssh-keygen cannot load the key read back: ${pub.stderr}`);
  assert.equal(pub.stdout.trim(), readFileSync(`${key}.pub`, 'utf8').trim());
});
