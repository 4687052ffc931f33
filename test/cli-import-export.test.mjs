// import of .env files (literal, no shell expansion; every valid line imported and every line
// left out named by number; --dry-run and the summary say new/changed/unchanged) and export in
// dotenv, json and yaml, parsed back with the real readers (npm dotenv, python-dotenv, direnv, yaml).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, assertOneLineError, assertVaultIntact, makeVault, sql } from './helpers.mjs';
import { readers } from './dotenv-readers.mjs';

const require = createRequire(join(ROOT, 'packages/cli/package.json'));
const dotenv = require('dotenv');
const YAML = require('yaml');

const auditCount = (v) => sql(join(v.vault, 'vault.db'), 'SELECT COUNT(*) FROM audit');

test('import reads quotes, comments and export prefixes, and expands nothing', (t) => {
  const v = makeVault(t);
  const pwned = join(v.dir, 'pwned');
  const file = join(v.dir, '.env');
  writeFileSync(
    file,
    [
      '# a comment line',
      'PLAIN=hello',
      'export EXPORTED=yes',
      'SPACED = around equals   ',
      "SINGLE='single $HOME ${HOME}'",
      'DOUBLE="line1\\nline2"',
      'BACKTICK=`it\'s "both"`',
      'INLINE=value # a trailing comment',
      'HASH_IN_QUOTES="a # b"',
      `SUBST=$(touch ${pwned})`,
      'BRACES=${HOME}/x',
      `BACKQ_CMD="\`touch ${pwned}\`"`,
      'EMPTY=',
      'MULTI="first',
      'second"',
      '',
    ].join('\n'),
  );
  const r = v.run(['import', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).imported.length, 13);
  assert.equal(existsSync(pwned), false, 'import ran a command');
  assertVaultIntact(assert, v, {
    PLAIN: 'hello',
    EXPORTED: 'yes',
    SPACED: 'around equals',
    SINGLE: 'single $HOME ${HOME}',
    DOUBLE: 'line1\nline2',
    BACKTICK: 'it\'s "both"',
    INLINE: 'value',
    HASH_IN_QUOTES: 'a # b',
    SUBST: `$(touch ${pwned})`,
    BRACES: '${HOME}/x',
    BACKQ_CMD: `\`touch ${pwned}\``,
    EMPTY: '',
    MULTI: 'first\nsecond',
  });
  assert.equal(existsSync(pwned), false);
  // Every imported key has version 1 with op 'import'; importing the same file again writes
  // nothing new and says so; a changed value makes version 2.
  assert.equal(sql(join(v.vault, 'vault.db'), "SELECT COUNT(*) FROM secret_versions WHERE op = 'import'"), '13');
  const again = v.run(['import', file, '-p', 'default']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stderr, 'imported into default: 0 new, 0 changed, 13 unchanged\n');
  assert.equal(JSON.parse(v.run(['history', 'PLAIN', '--json']).stdout).versions.length, 1);
  const changed = v.run(['import', '-'], { input: 'PLAIN=changed\nNEWONE=1\nEMPTY=\n' });
  assert.equal(changed.stderr, 'imported into default: 1 new, 1 changed, 1 unchanged\n');
  assert.equal(JSON.parse(v.run(['history', 'PLAIN', '--json']).stdout).versions.length, 2);
});

test('import --dry-run shows each key as new, changed or unchanged (names only) and writes nothing', (t) => {
  const v = makeVault(t);
  for (const [k, val] of [
    ['SAME', 'same-value'],
    ['OTHER', 'old-value'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const file = join(v.dir, 'x.env');
  writeFileSync(file, 'SAME=same-value\nOTHER=new-value\nFRESH=fresh-value\n');
  const versions = () => sql(join(v.vault, 'vault.db'), 'SELECT COUNT(*) FROM secret_versions');
  const before = versions();
  const r = v.run(['import', file, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'unchanged SAME\nchanged   OTHER\nnew       FRESH\n');
  assert.equal(r.stderr, 'dry run for default: 1 new, 1 changed, 1 unchanged; nothing written\n');
  assert.doesNotMatch(r.stdout + r.stderr, /value/, 'a dry run must not show values');
  assert.equal(versions(), before);
  assert.equal(sql(join(v.vault, 'vault.db'), "SELECT COUNT(*) FROM audit WHERE op = 'import'"), '0');
  const json = JSON.parse(v.run(['import', file, '--dry-run', '--json']).stdout);
  assert.deepEqual(json, { project: 'default', dryRun: true, new: ['FRESH'], changed: ['OTHER'], unchanged: ['SAME'], skipped: [] });
  // A dotenv-legal name tvault cannot store is reported by line; the rest is still shown.
  writeFileSync(file, 'FRESH=1\nKEY.WITH.DOTS=2\n');
  const dots = v.run(['import', file, '--dry-run']);
  assert.equal(dots.code, 1);
  assert.equal(dots.stdout, 'new       FRESH\n');
  assert.match(dots.stderr, /^tvault: .*x\.env, line 2: KEY\.WITH\.DOTS is not a tvault key name \(letters, digits and _, not starting with a digit\)$/m);
  assert.match(dots.stderr, /^dry run for default: 1 new, 0 changed, 0 unchanged, 1 line left out; nothing written$/m);
});

test('import takes every valid line and names each line it leaves out, by number, never its text (exit 1)', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'EXISTING', '--stdin'], { input: 'old' }).code, 0);
  const file = join(v.dir, 'bad.env');
  writeFileSync(
    file,
    [
      'EXISTING=new',
      'FRESH=1',
      '1BAD=secret-one',
      'this line is not a binding secret-two',
      'KEY.WITH.DOTS=secret-three',
      `HUGE=${'x'.repeat(1024 * 1024 + 1)}`,
      'LAST=2',
      '',
    ].join('\n'),
  );
  const r = v.run(['import', file]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => /line (\d+):/.exec(l)?.[1] ?? l),
    ['3', '4', '5', '6', 'imported into default: 2 new, 1 changed, 0 unchanged; 4 lines left out (above)'],
  );
  assert.match(r.stderr, /line 4: not a KEY=value line$/m);
  assert.match(r.stderr, /line 6: the value of HUGE: value is too large/);
  assert.doesNotMatch(r.stderr, /secret-|xxxx/, 'a report must not show a value or the text of a line');
  assertVaultIntact(assert, v, { EXISTING: 'new', FRESH: '1', LAST: '2' });
  const json = JSON.parse(v.run(['import', file, '--json']).stdout);
  assert.deepEqual(
    json.skipped.map((x) => [x.line, x.name ?? null]),
    [
      [3, '1BAD'],
      [4, null],
      [5, 'KEY.WITH.DOTS'],
      [6, 'HUGE'],
    ],
  );
  assert.deepEqual([json.new, json.changed, json.unchanged.sort()], [[], [], ['EXISTING', 'FRESH', 'LAST']]);
});

test('import: unreadable or empty files are one-line errors; a wrong passphrase writes nothing', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'EXISTING', '--stdin'], { input: 'old' }).code, 0);
  const file = join(v.dir, 'bad.env');
  assertOneLineError(assert, v.run(['import', join(v.dir, 'missing.env')]), 1, /cannot read .*missing\.env: ENOENT/);
  const dir = join(v.dir, 'a-directory');
  mkdirSync(dir);
  assertOneLineError(assert, v.run(['import', dir]), 1, /cannot read .*a-directory: EISDIR/);
  writeFileSync(file, '# only a comment\n\n');
  assertOneLineError(assert, v.run(['import', file]), 2, /holds no KEY=value lines/);
  assertOneLineError(assert, v.run(['import', file], { env: { TVAULT_PASSPHRASE: 'wrong' } }), 2, /holds no KEY=value/);
  writeFileSync(file, 'FRESH=1\nEXISTING=new\n');
  assertOneLineError(assert, v.run(['import', file], { env: { TVAULT_PASSPHRASE: 'wrong' } }), 6, /wrong passphrase/);
  assertVaultIntact(assert, v, { EXISTING: 'old' });
  // Stdin works as `-`.
  assert.equal(v.run(['import', '-'], { input: 'FROM_STDIN=yes\n' }).code, 0);
  assertVaultIntact(assert, v, { EXISTING: 'old', FROM_STDIN: 'yes' });
});

const VALUES = {
  SINGLE_QUOTES: "it's 'quoted'",
  DOUBLE_QUOTES: 'say "hi"',
  BOTH_QUOTES: 'it\'s "both"',
  SUBST: '$(id) ${HOME} $HOME `id`',
  NEWLINES: 'line1\nline2\n\nline4',
  CR: 'a\rb\r\nc',
  UNICODE: 'päßwörd ✓ 日本語 🔑',
  SPACES: '  padded  ',
  HASH: 'a # not a comment',
  YAML_LIKE: '- item\nkey: value\n---\n&anchor *alias !!tag',
  NUMBERISH: '0123',
  BOOLISH: 'yes',
  NULLISH: 'null',
  EMPTY: '',
  PEM: '-----BEGIN KEY-----\nabc=\n-----END KEY-----',
};

function exported(v, format, extra = []) {
  const r = v.run(['export', ...(format ? ['--format', format] : []), ...extra]);
  assert.equal(r.code, 0, `${format}: ${r.stderr}`);
  return r.stdout;
}

/** Values with no portable dotenv form: `${...}` (python-dotenv expands it), both quotes and a space. */
const UNPORTABLE = ['SUBST', 'BOTH_QUOTES'];
const PORTABLE = Object.fromEntries(Object.entries(VALUES).filter(([k]) => !UNPORTABLE.includes(k)));

test('export --format dotenv|json|yaml round-trips through npm dotenv, python-dotenv, direnv and yaml', (t) => {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(VALUES)) assert.equal(v.run(['set', k, '--stdin', '--keep-newline'], { input: val }).code, 0);
  assert.deepEqual(JSON.parse(exported(v, 'json')), VALUES);
  assert.deepEqual(JSON.parse(v.run(['export', '--json']).stdout), VALUES);
  const yaml = exported(v, 'yaml');
  assert.deepEqual(YAML.parse(yaml), VALUES);
  for (const val of Object.values(YAML.parse(yaml))) assert.equal(typeof val, 'string', 'YAML keeps every value a string');
  // Selections apply to export too.
  assert.deepEqual(Object.keys(JSON.parse(exported(v, 'json', ['--prefix', 'SINGLE']))), ['SINGLE_QUOTES']);
  assert.deepEqual(JSON.parse(exported(v, 'json', ['--only', 'EMPTY,CR'])), { CR: VALUES.CR, EMPTY: '' });
  // An empty project exports as an empty document in every format.
  assert.equal(v.run(['projects', 'create', 'empty']).code, 0);
  assert.deepEqual(JSON.parse(exported(v, 'json', ['-p', 'empty'])), {});
  assert.deepEqual(YAML.parse(exported(v, 'yaml', ['-p', 'empty'])), {});
  assert.deepEqual(dotenv.parse(exported(v, 'dotenv', ['-p', 'empty'])), {});
  // dotenv: every portable value, read back alike by all three readers; dotenv is the default.
  const only = ['--only', Object.keys(PORTABLE).join(',')];
  const text = exported(v, 'dotenv', only);
  assert.equal(exported(v, undefined, only), text, 'dotenv is the default');
  const read = readers(t, v.dir);
  if (read) for (const [reader, parse] of Object.entries(read)) assert.deepEqual(parse(text), PORTABLE, reader);
  // What export writes, import reads back to the same values.
  const copy = makeVault(t);
  assert.equal(copy.run(['import', '-'], { input: text }).code, 0);
  assertVaultIntact(assert, copy, PORTABLE);
});

test('export leaves out a value with no portable dotenv form, naming it and why, writes the rest, exits 1', (t) => {
  const v = makeVault(t);
  const awkward = { FINE: 'fine', WIN_PATH: 'C:\\new\\dir\\' };
  for (const [k, val] of Object.entries(awkward)) assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  assert.deepEqual(dotenv.parse(exported(v, 'dotenv')), awkward);
  assert.equal(v.run(['set', 'IMPOSSIBLE', '--stdin'], { input: `it's "x"\nsecret-y` }).code, 0);
  assert.equal(v.run(['set', 'EXPANDS', '--stdin'], { input: 'a ${HOME} b' }).code, 0);
  const r = v.run(['export', '--format', 'dotenv']);
  assert.equal(r.code, 1);
  assert.deepEqual(dotenv.parse(r.stdout), awkward, 'every other key is written');
  assert.equal(
    r.stderr,
    [
      'tvault: left out EXPANDS: python-dotenv would expand its ${...}',
      `tvault: left out IMPOSSIBLE: no quoting reads back the same in npm dotenv, python-dotenv and direnv (it holds ', ", a line break)`,
      'tvault: 2 values left out of the dotenv output; --format json carries every value',
      '',
    ].join('\n'),
  );
  assert.deepEqual(JSON.parse(exported(v, 'json')), { ...awkward, IMPOSSIBLE: `it's "x"\nsecret-y`, EXPANDS: 'a ${HOME} b' });
});
