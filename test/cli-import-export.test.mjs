// import of .env files (literal, no shell expansion, all or nothing, --dry-run) and export in
// dotenv, json and yaml, parsed back with the real `dotenv` and `yaml` packages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, assertOneLineError, assertVaultIntact, makeVault, sql } from './helpers.mjs';

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
  // Every imported key has version 1 with op 'import'; a second import makes version 2.
  assert.equal(sql(join(v.vault, 'vault.db'), "SELECT COUNT(*) FROM secret_versions WHERE op = 'import'"), '13');
  assert.equal(v.run(['import', file, '-p', 'default']).code, 0);
  assert.equal(JSON.parse(v.run(['history', 'PLAIN', '--json']).stdout).versions.length, 2);
});

test('import --dry-run validates and writes nothing', (t) => {
  const v = makeVault(t);
  const file = join(v.dir, 'x.env');
  writeFileSync(file, 'A=1\nB=2\n');
  const before = auditCount(v);
  const r = v.run(['import', file, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'would set A\nwould set B\n');
  assert.equal(auditCount(v), before);
  assert.deepEqual(JSON.parse(v.run(['list', '--json']).stdout).secrets, []);
  // A dry run needs no passphrase at all.
  const noPass = v.run(['import', file, '--dry-run', '--json'], { env: { TVAULT_PASSPHRASE: undefined } });
  assert.deepEqual(JSON.parse(noPass.stdout), { dryRun: true, keys: ['A', 'B'] });
  writeFileSync(file, 'GOOD=1\nBAD.NAME=2\n');
  assertOneLineError(assert, v.run(['import', file, '--dry-run']), 2, /invalid key name "BAD.NAME"/);
});

test('import is all or nothing; unreadable or empty files are one-line errors', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'EXISTING', '--stdin'], { input: 'old' }).code, 0);
  const file = join(v.dir, 'bad.env');
  writeFileSync(file, 'EXISTING=new\nFRESH=1\n1BAD=2\n');
  assertOneLineError(assert, v.run(['import', file]), 2, /invalid key name "1BAD"/);
  writeFileSync(file, `EXISTING=new\nHUGE=${'x'.repeat(1024 * 1024 + 1)}\n`);
  assertOneLineError(assert, v.run(['import', file]), 2, /too large/);
  assertOneLineError(assert, v.run(['import', join(v.dir, 'missing.env')]), 1, /cannot read .*missing\.env: ENOENT/);
  const dir = join(v.dir, 'a-directory');
  mkdirSync(dir);
  assertOneLineError(assert, v.run(['import', dir]), 1, /cannot read .*a-directory: EISDIR/);
  writeFileSync(file, '# only a comment\n\n');
  assertOneLineError(assert, v.run(['import', file]), 2, /holds no KEY=value lines/);
  assertOneLineError(assert, v.run(['import', file], { env: { TVAULT_PASSPHRASE: 'wrong' } }), 2, /holds no KEY=value/);
  writeFileSync(file, 'FRESH=1\n');
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

test('export --format dotenv|json|yaml round-trips through the dotenv and yaml parsers', (t) => {
  const v = makeVault(t);
  for (const [k, val] of Object.entries(VALUES)) assert.equal(v.run(['set', k, '--stdin', '--keep-newline'], { input: val }).code, 0);
  assert.deepEqual(dotenv.parse(exported(v, 'dotenv')), VALUES);
  assert.deepEqual(dotenv.parse(exported(v)), VALUES, 'dotenv is the default');
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
  // What export writes, import reads back to the same values.
  const copy = makeVault(t);
  assert.equal(copy.run(['import', '-'], { input: exported(v, 'dotenv') }).code, 0);
  assertVaultIntact(assert, copy, VALUES);
});

test('a value dotenv cannot carry exactly makes export fail whole, not write something else', (t) => {
  const v = makeVault(t);
  const awkward = { FINE: 'fine', WIN_PATH: 'C:\\new\\dir\\' };
  for (const [k, val] of Object.entries(awkward)) assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  assert.deepEqual(dotenv.parse(exported(v, 'dotenv')), awkward);
  // All three quote characters and a newline: no dotenv quoting reads back the same.
  assert.equal(v.run(['set', 'IMPOSSIBLE', '--stdin'], { input: `'"\`\n` + 'x' }).code, 0);
  const r = v.run(['export', '--format', 'dotenv']);
  assertOneLineError(assert, r, 1, /IMPOSSIBLE cannot be written exactly in dotenv format.*--format json/);
  assert.equal(r.stdout, '');
  assert.deepEqual(JSON.parse(exported(v, 'json')), { ...awkward, IMPOSSIBLE: `'"\`\nx` });
});
