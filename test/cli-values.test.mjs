// Values in and out: stdin, -f FILE, an argument, the hidden prompt; the size, NUL and UTF-8
// rules; and byte-exact round trips of hostile values through `get --raw` and `get --json`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, PASS, assertOneLineError, assertVaultIntact, inPty, makeVault, tvaultMany } from './helpers.mjs';

const MiB = 1024 * 1024;

/** `get --raw` as bytes. */
function getRaw(v, key) {
  const r = v.run(['get', key, '--raw'], { encoding: 'buffer' });
  assert.equal(r.code, 0, String(r.stderr));
  return r.stdout;
}

test('stdin: one trailing newline (LF or CRLF) is dropped; --keep-newline keeps it', (t) => {
  const v = makeVault(t);
  const cases = [
    ['value\n', 'value'],
    ['value\r\n', 'value'],
    ['value\n\n', 'value\n'],
    ['value', 'value'],
    ['value\r', 'value\r'],
    ['\n', ''],
    ['', ''],
  ];
  for (const [input, stored] of cases) {
    assert.equal(v.run(['set', 'K', '--stdin'], { input }).code, 0);
    assert.equal(getRaw(v, 'K').toString(), stored, JSON.stringify(input));
  }
  assert.equal(v.run(['set', 'K', '--stdin', '--keep-newline'], { input: 'value\n' }).code, 0);
  assert.equal(getRaw(v, 'K').toString(), 'value\n');
  // Without --stdin, piped input is not read silently: the user is told to add it.
  assertOneLineError(assert, v.run(['set', 'K2'], { input: 'piped' }), 2, /--stdin/);
});

test("-f FILE: the file's exact bytes, final newline included; a missing file or two sources are one-line errors", (t) => {
  const v = makeVault(t);
  const pem = '-----BEGIN KEY-----\nabc\n-----END KEY-----\n';
  const f = join(v.dir, 'key.pem');
  for (const content of [pem, 'value\r\n', 'value\n\n', 'no-newline', '\n', '']) {
    writeFileSync(f, content);
    assert.equal(v.run(['set', 'K', '-f', f]).code, 0);
    assert.equal(getRaw(v, 'K').toString(), content, JSON.stringify(content));
  }
  writeFileSync(f, pem);
  assert.equal(v.run(['set', 'TLS_KEY', '-f', f]).code, 0);
  assert.equal(getRaw(v, 'TLS_KEY').toString(), pem);
  assert.equal(v.run(['set', 'TLS_KEY', '--file', f, '--keep-newline']).code, 0, '--keep-newline is accepted and changes nothing');
  assert.equal(getRaw(v, 'TLS_KEY').toString(), pem);
  assertOneLineError(assert, v.run(['set', 'X', '-f', join(v.dir, 'missing')]), 1, /cannot read .*missing: ENOENT/);
  assertOneLineError(assert, v.run(['set', 'X', '-f', v.dir]), 1, /cannot read .*EISDIR/);
  assertOneLineError(assert, v.run(['set', 'X', '-f', f, '--stdin'], { input: 'x' }), 2, /give the value one way/);
  assertOneLineError(assert, v.run(['set', 'X', 'arg', '--stdin'], { input: 'x' }), 2, /give the value one way/);
  assertVaultIntact(assert, v, { K: '', TLS_KEY: pem });
});

test('a value given as an argument works but warns about shell history and ps', (t) => {
  const v = makeVault(t);
  const r = v.run(['set', 'TOKEN', 'from-argv']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^tvault: warning: .*shell history.*ps/m);
  assert.doesNotMatch(r.stderr, /from-argv/, 'the warning does not repeat the value');
  assert.equal(v.run(['get', 'TOKEN']).stdout, 'from-argv\n');
});

test('NUL, invalid UTF-8 and values over 1 MiB are refused (exit 2); exactly 1 MiB is accepted', (t) => {
  const v = makeVault(t);
  assert.equal(v.run(['set', 'KEEP', '--stdin'], { input: 'kept' }).code, 0);
  const nul = Buffer.from('before\0after');
  assertOneLineError(assert, v.run(['set', 'BAD', '--stdin'], { input: nul }), 2, /NUL byte/);
  const f = join(v.dir, 'nul.bin');
  writeFileSync(f, nul);
  assertOneLineError(assert, v.run(['set', 'BAD', '-f', f]), 2, /NUL byte/);
  for (const bytes of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x61, 0x80]]) {
    assertOneLineError(assert, v.run(['set', 'BAD', '--stdin'], { input: Buffer.from(bytes) }), 2, /not valid UTF-8/);
  }
  assertOneLineError(assert, v.run(['set', 'BAD', '--stdin'], { input: Buffer.alloc(MiB + 1, 'a') }), 2, /too large \(1048577 bytes; the limit is 1 MiB\)/);
  assertOneLineError(assert, v.run(['set', 'BAD', '--stdin', '--keep-newline'], { input: Buffer.alloc(MiB, 'a') + '\n' }), 2, /too large/);
  // The error never contains the value.
  const secretish = 'S3CRET-' + 'x'.repeat(MiB);
  const big = v.run(['set', 'BAD', '--stdin'], { input: secretish });
  assert.doesNotMatch(big.stderr, /S3CRET/);
  // Exactly 1 MiB (multi-byte characters included) goes in, and comes out whole; the trailing
  // newline of `echo`-style input does not count against the limit.
  const exact = 'é'.repeat(MiB / 2);
  assert.equal(Buffer.byteLength(exact), MiB);
  assert.equal(v.run(['set', 'BIG', '--stdin'], { input: exact + '\n' }).code, 0);
  assert.ok(getRaw(v, 'BIG').equals(Buffer.from(exact)));
  assertVaultIntact(assert, v, { BIG: exact, KEEP: 'kept' });
});

const HOSTILE = {
  SINGLE_QUOTES: "it's 'quoted'",
  DOUBLE_QUOTES: 'say "hi" \\"escaped\\"',
  COMMAND_SUBST: '$(touch /tmp/tvault-pwned) and ${HOME} and $HOME',
  BACKTICKS: '`id` and `rm -rf /`',
  NEWLINES: 'line1\nline2\n\nline4',
  CR: 'a\rb\r\nc',
  TRAILING_CR: 'ends with CR\r',
  UNICODE: 'päßwörd ✓ 日本語 🔑🎉 \u200b zero-width \u202e rtl',
  BACKSLASHES: 'C:\\path\\to\\n\\r\\t\\',
  SPACES: '  leading and trailing  ',
  TAB_ESC: 'tab\there \x1b[31mred\x1b[0m \x07bell',
  DASHES: '--not-a-flag -n -e',
  SHELL_META: '; | & > < * ? [a] ~ # ! %s %n {a,b}',
  JSON_LIKE: '{"a": [1, 2], "b": null}',
  YAML_LIKE: '- item\nkey: value\n---\n... &anchor *alias !!tag',
  DOTENV_LIKE: 'A=B # not a comment\nexport C=D',
  ONLY_NEWLINE_INSIDE: 'x\ny',
  EMPTY: '',
};

test('hostile values round-trip byte for byte through get --raw and get --json', async (t) => {
  const v = makeVault(t);
  const entries = Object.entries(HOSTILE);
  const sets = await tvaultMany(entries.map(([k, val]) => [['set', k, '--stdin', '--keep-newline'], { env: v.env, input: val }]));
  sets.forEach((r, i) => assert.equal(r.code, 0, `${entries[i][0]}: ${r.stderr}`));
  const raws = await tvaultMany(entries.map(([k]) => [['get', k, '--raw'], { env: v.env, encoding: 'buffer' }]));
  const jsons = await tvaultMany(entries.map(([k]) => [['get', k, '--json'], { env: v.env }]));
  entries.forEach(([k, val], i) => {
    assert.equal(raws[i].code, 0, String(raws[i].stderr));
    assert.ok(raws[i].stdout.equals(Buffer.from(val)), `${k}: --raw differs`);
    assert.equal(jsons[i].code, 0, jsons[i].stderr);
    assert.deepEqual(JSON.parse(jsons[i].stdout), { key: k, value: val });
  });
  // Without --raw, exactly one newline is added.
  for (const k of ['NEWLINES', 'TRAILING_CR', 'EMPTY']) assert.equal(v.run(['get', k]).stdout, HOSTILE[k] + '\n');
  assertVaultIntact(assert, v, HOSTILE);
});

test('the hidden prompt reads a value or a passphrase from the terminal without echoing it', async (t) => {
  const v = makeVault(t);
  const env = { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1' };
  const tv = `${process.execPath} ${BIN}`;
  // The value at a hidden prompt, the passphrase from the environment.
  let r = await inPty(`${tv} set TYPED`, { ...env, TVAULT_PASSPHRASE: PASS }, [[/Value for TYPED: /, 'typed-secret\r']]);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /typed-secret/, 'the value was echoed');
  // The value piped on stdin while the passphrase is typed on the terminal (not read from stdin).
  r = await inPty(`printf piped-value | ${tv} set PIPED --stdin`, env, [[/Vault passphrase: /, PASS + '\r']]);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, new RegExp(PASS), 'the passphrase was echoed');
  // Backspace edits; a wrong typed passphrase is asked again (prompts.test.mjs), Ctrl-C cancels with 130.
  r = await inPty(`${tv} get TYPED`, env, [[/Vault passphrase: /, PASS + 'xx\x7f\x7f\r']]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /typed-secret/);
  r = await inPty(`${tv} get TYPED`, env, [[/Vault passphrase: /, '\x03']]);
  assert.equal(r.code, 130, r.out);
  assert.match(r.out, /tvault: cancelled/);
  assertVaultIntact(assert, v, { PIPED: 'piped-value', TYPED: 'typed-secret' });
});
