// Prompts at a real terminal (script(1)): a wrong or empty passphrase is asked again, three
// tries in all; `set` asks for the passphrase before the value; `init` asks again after a
// mismatched repeat or a weak passphrase; a weak passphrase is refused unless --force, and
// doctor says when one was accepted so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, PASS, assertOneLineError, assertVaultIntact, inPty, makeVault, requireCommand, tempDir, tvault } from './helpers.mjs';

const tv = `${process.execPath} ${BIN}`;
const STRONG = 'a brand new passphrase';

function doctorCheck(env, name) {
  const r = tvault(['doctor', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).checks.find((c) => c.check === name);
}

test('a wrong or empty passphrase at the terminal is asked again, three tries in all; set asks for it before the value', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = makeVault(t);
  const env = { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1' };
  let r = await inPty(`${tv} set TYPED`, env, [
    [/Vault passphrase: /, 'nope\r'],
    [/Vault passphrase: /, '\r'],
    [/Vault passphrase: /, PASS + '\r'],
    [/Value for TYPED: /, 'typed-secret\r'],
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /wrong passphrase; try again \(2 left\)/);
  assert.match(r.out, /the passphrase is empty; try again/);
  assert.ok(r.out.indexOf('Vault passphrase: ') < r.out.indexOf('Value for TYPED: '), `the value was asked first: ${r.out}`);
  assert.doesNotMatch(r.out, /typed-secret|nope|internal error/);
  // Three wrong tries: exit 6, one line saying so, nothing asked a fourth time.
  r = await inPty(`${tv} get TYPED`, env, [
    [/Vault passphrase: /, 'one\r'],
    [/Vault passphrase: /, 'two\r'],
    [/Vault passphrase: /, 'three\r'],
  ]);
  assert.equal(r.code, 6, r.out);
  assert.equal(r.out.match(/Vault passphrase: /g).length, 3, r.out);
  assert.match(r.out, /tvault: wrong passphrase\r?\n$/);
  // Three empty tries: exit 6 with a one-line reason, not a library error.
  r = await inPty(`${tv} get TYPED`, env, [
    [/Vault passphrase: /, '\r'],
    [/Vault passphrase: /, '\r'],
    [/Vault passphrase: /, '\r'],
  ]);
  assert.equal(r.code, 6, r.out);
  assert.match(r.out, /tvault: no passphrase was given\r?\n$/);
  // From the environment a wrong passphrase is final at once (a script cannot type again).
  assertOneLineError(assert, v.run(['get', 'TYPED'], { env: { TVAULT_PASSPHRASE: 'nope' } }), 6, /wrong passphrase/);
  assertOneLineError(assert, v.run(['get', 'TYPED'], { env: { TVAULT_PASSPHRASE: '' } }), 2, /no passphrase was given/);
  // Every failed try is audited.
  const rows = v
    .run(['audit', '--json'])
    .stdout.trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const failed = rows.filter((row) => row.op === 'unlock' && row.ok === false).length;
  assert.ok(failed >= 4, `failed unlocks audited: ${failed}`);
  assertVaultIntact(assert, v, { TYPED: 'typed-secret' });
});

test('init at the terminal asks again after a mismatched repeat and after a weak passphrase', async (t) => {
  if (!requireCommand(t, 'script')) return;
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_NO_AGENT: '1' };
  const r = await inPty(`${tv} init ${CHEAP_KDF.join(' ')}`, env, [
    [/New vault passphrase: /, `${STRONG}\r`],
    [/Repeat new vault passphrase: /, 'a typo\r'],
    [/New vault passphrase: /, 'password1\r'],
    [/Repeat new vault passphrase: /, 'password1\r'],
    [/New vault passphrase: /, `${STRONG}\r`],
    [/Repeat new vault passphrase: /, `${STRONG}\r`],
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /the passphrases do not match; try again/);
  assert.match(r.out, /the passphrase is weak: .*; try again/);
  assert.match(r.out, /created vault/);
  assert.equal(tvault(['list'], { env: { ...env, TVAULT_PASSPHRASE: STRONG } }).code, 0);
  assert.equal(doctorCheck(env, 'passphrase').status, 'ok');
});

test('a weak passphrase is refused at init and key rotate unless --force, and doctor reports one accepted so', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_NO_AGENT: '1' };
  assertOneLineError(assert, tvault(['init', ...CHEAP_KDF], { env: { ...env, TVAULT_PASSPHRASE: 'password1' } }), 1, /weak.*--force/);
  assert.ok(!existsSync(join(dir, 'v', 'vault.db')), 'a refused init made a vault');
  let r = tvault(['init', ...CHEAP_KDF, '--force'], { env: { ...env, TVAULT_PASSPHRASE: 'password1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /weak.*accepted because of --force/);
  const weak = doctorCheck(env, 'passphrase');
  assert.equal(weak.status, 'warn');
  assert.match(weak.detail, /accepted weak with --force/);
  assert.doesNotMatch(JSON.stringify(tvault(['doctor', '--json'], { env }).stdout), /password1/);

  const v = makeVault(t);
  assertOneLineError(assert, v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: 'qwerty' } }), 1, /weak/);
  assert.equal(v.run(['list']).code, 0, 'the old passphrase still unlocks');
  assert.equal(doctorCheck(v.env, 'passphrase').status, 'ok');
  assert.equal(v.run(['key', 'rotate', '--force'], { env: { TVAULT_NEW_PASSPHRASE: 'qwerty' } }).code, 0);
  assert.equal(doctorCheck(v.env, 'passphrase').status, 'warn');
  // A rotation to a strong passphrase clears the note.
  assert.equal(v.run(['key', 'rotate'], { env: { TVAULT_PASSPHRASE: 'qwerty', TVAULT_NEW_PASSPHRASE: STRONG } }).code, 0);
  assert.equal(doctorCheck(v.env, 'passphrase').status, 'ok');
});
