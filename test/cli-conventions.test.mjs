// The conventions a newcomer relies on: -h and -V, `tvault version`, a bare `tvault` that
// says how to use it once, "did you mean" only when it helps, an example in every command's
// help, global options only where they apply, errors as JSON under --json, and no escape
// codes, at a terminal or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BIN, assertOneLineError, inPty, makeVault, requireCommand, tempDir, tvault, tvaultNoTty } from './helpers.mjs';
import { AGENT_ONLY, startAgent } from './agent-helpers.mjs';

const VERSION = JSON.parse((await import('node:fs')).readFileSync(join(BIN, '../../../../package.json'), 'utf8')).version;

test('-h is --help, -V and tvault version print the version; a bare tvault prints its usage once', () => {
  const help = tvault(['--help']);
  assert.equal(help.code, 0);
  assert.equal(tvault(['-h']).stdout, help.stdout);
  assert.equal(tvault(['get', '-h']).stdout, tvault(['get', '--help']).stdout);
  for (const args of [['-V'], ['--version']]) assert.equal(tvault(args).stdout, `${VERSION}\n`, args.join(' '));
  assert.equal(tvault(['version']).stdout, `tvault ${VERSION}\n`);
  assert.deepEqual(JSON.parse(tvault(['version', '--json']).stdout), { version: VERSION });
  const bare = tvault([]);
  assertOneLineError(assert, bare, 2, /^tvault: usage: tvault <command> \[options\]; commands: init, .*\bget\b.*\(see tvault --help\)\n$/);
  assert.equal(bare.stderr.match(/--help/g).length, 1, 'the hint is given once');
});

test('did you mean: a typo gets its command, an unrelated word gets none', () => {
  assertOneLineError(assert, tvault(['lsit']), 2, /unknown command 'lsit'; did you mean list\?/);
  assertOneLineError(assert, tvault(['stauts']), 2, /did you mean status\?/);
  assertOneLineError(assert, tvault(['agent', 'stpo']), 2, /for tvault agent; did you mean stop\?/);
  for (const word of ['copy', 'xyzzy']) {
    const r = tvault([word]);
    assertOneLineError(assert, r, 2, new RegExp(`unknown command '${word}'`));
    assert.doesNotMatch(r.stderr, /did you mean/, word);
  }
});

/** Every command path, walked from the help's own command lists. */
function commandPaths() {
  const paths = [];
  const walk = (path) => {
    const text = tvault([...path, '--help']).stdout;
    if (path.length) paths.push({ path, text });
    const list = /\nCommands:\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? '';
    for (const line of list.split('\n')) {
      const words = line.match(/^ {2}tvault ((?:[a-z-]+ )*[a-z-]+)/)?.[1].split(' ');
      if (words?.length === path.length + 1) walk(words);
    }
  };
  walk([]);
  return paths;
}

test('every command, agent and agent token included, has a copy-pasteable example; global options show only where they apply', () => {
  const all = commandPaths();
  const names = all.map((c) => c.path.join(' '));
  for (const want of ['agent', 'agent token', 'agent token create', 'set', 'completion', 'edit', 'key rotate', 'projects create'])
    assert.ok(names.includes(want), want);
  for (const { path, text } of all) {
    const examples = /\nExamples:\n([\s\S]*?)(\n\n|$)/.exec(text)?.[1];
    assert.ok(examples, `tvault ${path.join(' ')} --help has no example`);
    assert.match(examples, /^ {2}(\S+=\S+ )*tvault /m, `tvault ${path.join(' ')}: an example starts with tvault`);
    assert.doesNotMatch(text, /--version/, `tvault ${path.join(' ')} shows --version`);
  }
  const help = (cmd) => all.find((c) => c.path.join(' ') === cmd).text;
  assert.match(help('get'), /--agent/);
  assert.match(help('get'), /--project/);
  assert.doesNotMatch(help('set'), /--agent/, 'set always unlocks directly');
  assert.doesNotMatch(help('init'), /--project/);
  assert.doesNotMatch(help('agent start'), /--project/);
  assert.doesNotMatch(help('hook'), /--vault/);
  assert.doesNotMatch(help('run'), /--json/);
  // Hidden, not removed: a script that passes them everywhere keeps working.
  const { dir, cleanup } = tempDir();
  try {
    assert.equal(
      tvault(['init', '--vault', join(dir, 'v'), '--no-agent', '-p', 'x', '--kdf-memory', '256', '--kdf-passes', '1', '--kdf-parallelism', '1'], {
        env: { TVAULT_PASSPHRASE: 'a brand new passphrase' },
      }).code,
      0,
    );
  } finally {
    cleanup();
  }
});

test('under --json an error is one JSON object on stderr with its exit code and message', (t) => {
  const v = makeVault(t);
  const cases = [
    [tvault(['frobnicate', '--json']), 2, /unknown command/],
    [tvault(['get', '--json']), 2, /arguments/],
    [tvault(['list', '--json'], { env: { TVAULT_DIR: join(v.dir, 'none') } }), 5, /no vault/],
    [v.run(['get', 'NOPE', '--json']), 4, /NOPE/],
    [v.run(['get', 'NOPE', '--json'], { env: { TVAULT_PASSPHRASE: 'wrong' } }), 6, /wrong passphrase/],
    [tvaultNoTty(['get', 'NOPE', '--json'], { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1' } }), 3, /locked/],
  ];
  for (const [r, code, pattern] of cases) {
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const doc = JSON.parse(r.stderr);
    assert.equal(doc.code, code);
    assert.match(doc.message, pattern);
    assert.equal(typeof doc.error, 'string');
  }
  // Without --json, and with --json only after `--` (a child's argument), errors stay text.
  assert.match(v.run(['get', 'NOPE']).stderr, /^tvault: /);
  assert.match(v.run(['run', '--', 'sh', '-c', 'exit 3', '--json']).stderr, /^$|^tvault: /);
});

test('under --json a refusal by the agent on the fast path is one JSON object too', async (t) => {
  const v = makeVault(t);
  await startAgent(t, v);
  const r = v.run(['get', 'NOPE', '--json'], { env: AGENT_ONLY });
  assert.equal(r.code, 4, r.stderr);
  const doc = JSON.parse(r.stderr);
  assert.equal(doc.code, 4);
  assert.equal(doc.error, 'not_found');
  assert.match(doc.message, /NOPE/);
});

test('no escape codes: not at a terminal, and not at one with NO_COLOR or without it', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = makeVault(t);
  for (const args of [['--help'], ['doctor'], ['lsit'], ['get', 'NOPE']]) {
    const r = v.run(args);
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b/, `${args.join(' ')} piped`);
  }
  const tv = `${process.execPath} ${BIN}`;
  for (const env of [{ NO_COLOR: '1' }, { TERM: 'xterm-256color', FORCE_COLOR: '1' }]) {
    const r = await inPty(`${tv} --help; ${tv} doctor; ${tv} lsit; ${tv} list`, { ...v.env, ...env }, []);
    assert.match(r.out, /Examples:/);
    assert.match(r.out, /did you mean list/);
    assert.doesNotMatch(r.out, /\x1b/, JSON.stringify(env));
  }
});
