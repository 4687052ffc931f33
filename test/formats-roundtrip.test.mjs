// `tvault env --format X` for the tool formats: every hostile value is read back exactly by the
// real reader of that format (the dotenv and yaml packages, JSON.parse, the Actions runner's
// $GITHUB_ENV rules), no reader ever sees a key we did not write, and a value a format cannot
// carry is refused with one line on stderr and nothing on stdout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import YAML from 'yaml';
import { assertOneLineError, makeVault } from './helpers.mjs';
import { DOTENV_UNPORTABLE, hostileVault, parseGithubEnv } from './shell-fixtures.mjs';
import { readers } from './dotenv-readers.mjs';

let v;
let expected;
before(() => {
  v = hostileVault();
  expected = Object.fromEntries(v.secrets);
});
after(() => v?.cleanup());

/** Asserts that parsed holds exactly the expected entries, naming the first key that differs. */
function assertExact(parsed, want, reader = 'the reader') {
  assert.deepEqual(Object.keys(parsed).sort(), Object.keys(want).sort(), `${reader} saw other keys than the ones written`);
  for (const [k, val] of Object.entries(want)) assert.equal(parsed[k], val, `${k} did not round-trip through ${reader}`);
}

test('json: JSON.parse gives back every value', () => {
  const r = v.run(['env', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assertExact(JSON.parse(r.stdout), expected);
  const viaFlag = v.run(['env', '--json']);
  assert.deepEqual(JSON.parse(viaFlag.stdout), JSON.parse(r.stdout));
});

test('yaml: the yaml package (YAML 1.2 and 1.1) gives back every value; one line per key', () => {
  const r = v.run(['env', '--format', 'yaml']);
  assert.equal(r.code, 0, r.stderr);
  assertExact(YAML.parse(r.stdout), expected);
  assertExact(YAML.parse(r.stdout, { version: '1.1' }), expected);
  assert.equal(r.stdout.split('\n').length - 1, v.secrets.length, 'a value spilled onto another line');
  assert.doesNotMatch(r.stdout, /[\u0085\u2028\u2029\ufeff\x7f]/, 'a YAML 1.1 line break or a non-printable character was left raw');
});

test('yaml: keys a YAML reader would take for booleans or null are quoted', (t) => {
  const w = hostileVaultLite(t, { yes: 'y', NO: 'n', on: 'o', null: 'x', Y: 'true', plain: 'null' });
  const r = w.run(['env', '--format', 'yaml']);
  assert.equal(r.code, 0, r.stderr);
  for (const version of ['1.1', '1.2']) assertExact(YAML.parse(r.stdout, { version }), { yes: 'y', NO: 'n', on: 'o', null: 'x', Y: 'true', plain: 'null' });
  assert.match(r.stdout, /^plain: "null"$/m);
});

test('dotenv: npm dotenv, python-dotenv and direnv each read back every value that has a portable form', (t) => {
  const read = readers(t, v.dir);
  if (!read) return;
  const r = v.run(['env', '--format', 'dotenv']);
  const portable = Object.fromEntries(v.secrets.filter(([k]) => !DOTENV_UNPORTABLE.has(k)));
  for (const [reader, parse] of Object.entries(read)) assertExact(parse(r.stdout), portable, reader);
  // A dotenv file is not shell (its quoting is not safe to source): no export, even by default.
  assert.equal(v.run(['env', '--format', 'dotenv', '--only', 'SEMICOLON']).stdout, `SEMICOLON='a; touch ${v.canary}'\n`);
  assert.equal(existsSync(v.canary), false, 'a reader ran a command from a value');
});

test('dotenv: a value with no portable form is left out and named on stderr with the reason, never the value; exit 1', () => {
  const r = v.run(['env', '--format', 'dotenv']);
  assert.equal(r.code, 1);
  const named = [...r.stderr.matchAll(/^tvault: left out ([A-Z_]+): (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(named.sort(), [...DOTENV_UNPORTABLE].sort());
  assert.match(r.stderr, /^tvault: left out EXPANSIONS: python-dotenv would expand its \$\{\.\.\.\}$/m);
  assert.match(
    r.stderr,
    /^tvault: left out QUOTE_BREAKOUT: no quoting reads back the same in npm dotenv, python-dotenv and direnv \(it holds ', a backslash\)$/m,
  );
  assert.match(r.stderr, new RegExp(`^tvault: ${DOTENV_UNPORTABLE.size} values left out of the dotenv output; --format json carries every value$`, 'm'));
  assert.doesNotMatch(r.stderr, /touch/, 'the error must not show a value');
  for (const k of DOTENV_UNPORTABLE) assert.doesNotMatch(r.stdout, new RegExp(`^${k}=`, 'm'));
});

test('github: the $GITHUB_ENV heredoc form gives back every value; delimiters are random and absent from values', () => {
  const r = v.run(['env', '--format', 'github']);
  assert.equal(r.code, 0, r.stderr);
  const parsed = parseGithubEnv(r.stdout);
  assertExact(Object.fromEntries(parsed.map((e) => [e.name, e.value])), expected);
  const delims = parsed.map((e) => e.delimiter);
  assert.equal(new Set(delims).size, delims.length, 'delimiters repeat');
  for (const e of parsed) assert.ok(!e.value.includes(e.delimiter), `${e.name}'s value contains its delimiter`);
  const again = parseGithubEnv(v.run(['env', '--format', 'github', '--only', 'SEMICOLON']).stdout);
  assert.notEqual(again[0].delimiter, parsed.find((e) => e.name === 'SEMICOLON').delimiter, 'the delimiter is not random');
});

test("shell: every line is export NAME='...'; --export=false and --no-export drop export", () => {
  const r = v.run(['env', '--only', 'SEMICOLON,SINGLE_QUOTES']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `export SEMICOLON='a; touch ${v.canary}'\nexport SINGLE_QUOTES='it'\\''s '\\''quoted'\\'' '\\'''\\'''\n`);
  for (const flag of ['--export=false', '--no-export']) {
    const plain = v.run(['env', flag, '--only', 'SEMICOLON']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, `SEMICOLON='a; touch ${v.canary}'\n`);
  }
  const fish = v.run(['env', '--format', 'fish', '--export=false', '--only', 'SEMICOLON']);
  assert.equal(fish.stdout, `set -g -- SEMICOLON 'a; touch ${v.canary}'\n`);
});

test('env: an unknown format is a usage error listing the formats', () => {
  assertOneLineError(assert, v.run(['env', '--format', 'xml']), 2, /unknown format 'xml'; use one of: shell, fish, dotenv, json, yaml, github/);
});

test('env refuses dangerous and TVAULT_* names where they are applied (shell, fish, github), not in the data formats', (t) => {
  const w = hostileVaultLite(t, { LD_PRELOAD: '/tmp/evil.so', OK: 'fine' });
  for (const format of ['shell', 'fish', 'github']) {
    const r = w.run(['env', '--format', format]);
    assertOneLineError(
      assert,
      r,
      1,
      /refusing to inject LD_PRELOAD: it makes programs load code or configuration from the value .*tvault allow-name -p default LD_PRELOAD$/m,
    );
    assert.equal(r.stdout, '');
  }
  for (const format of ['dotenv', 'json', 'yaml']) assert.equal(w.run(['env', '--format', format]).code, 0, format);
  const allowed = w.run(['env', '--format', 'shell', '--allow-dangerous', 'LD_PRELOAD']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /^export LD_PRELOAD='\/tmp\/evil.so'$/m);
  const exported = w.run(['export', '--format', 'json']);
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(JSON.parse(exported.stdout), { LD_PRELOAD: '/tmp/evil.so', OK: 'fine' });

  const reserved = hostileVaultLite(t, { TVAULT_DIR: '/tmp/elsewhere' });
  const r = reserved.run(['env', '--allow-dangerous', 'TVAULT_DIR']);
  assertOneLineError(assert, r, 1, /refusing to pass on TVAULT_DIR: names starting with TVAULT_ are reserved/);
});

test('shell and fish formats refuse names the shell reserves (read-only, or assigned by arithmetic evaluation)', (t) => {
  const w = hostileVaultLite(t, { RANDOM: `a[$(touch ${t.name})]` });
  assertOneLineError(assert, w.run(['env']), 1, /RANDOM cannot be loaded into bash or zsh: the shell reserves this name/);
  assert.equal(w.run(['env', '--format', 'fish']).code, 0, 'RANDOM is an ordinary name in fish');
  assert.equal(w.run(['env', '--format', 'json']).code, 0);
  const f = hostileVaultLite(t, { umask: '000' });
  assertOneLineError(assert, f.run(['env', '--format', 'fish']), 1, /umask cannot be loaded into fish/);
});

/** A fresh vault holding exactly `values` (set with --keep-newline). */
function hostileVaultLite(t, values) {
  const w = makeVault(t);
  for (const [k, val] of Object.entries(values)) {
    const r = w.run(['set', k, '--stdin', '--keep-newline'], { input: val });
    assert.equal(r.code, 0, r.stderr);
  }
  return w;
}
