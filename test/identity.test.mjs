// Identities and recipients (issue 12), as a user runs them: identity new/import/list/show/
// export/delete, projects share/recipients/unshare, reads by --identity FILE|NAME and by
// TVAULT_IDENTITY_KEY with no passphrase anywhere in the environment, and the audit rows.
// Tampering, the age CLI and kill -9 are in identity-integrity.test.mjs and identity-age.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, assertOneLineError, baseEnv, makeVault, requireCommand, sql, tvault } from './helpers.mjs';
import { NO_PASS, sharedVault } from './identity-helpers.mjs';

test('identity new, list, show: the recipient in the clear, the private key sealed (never in list, show or the database in the clear)', (t) => {
  const v = sharedVault(t);
  const list = JSON.parse(v.run(['identity', 'list', '--json'], { env: NO_PASS }).stdout);
  assert.deepEqual(
    list.map((r) => [r.name, r.recipient]),
    [['ci', v.recipient]],
  );
  assert.match(list[0].created_at, /^\d{4}-\d\d-\d\dT/);
  assert.equal(v.run(['identity', 'show', 'ci'], { env: NO_PASS }).stdout.trim(), v.recipient);
  const everything = v.run(['identity', 'list']).stdout + v.run(['identity', 'show', 'ci']).stdout;
  assert.doesNotMatch(everything, /AGE-SECRET-KEY/);
  assert.ok(!readFileSync(v.db).includes(Buffer.from(v.key)), 'the private key is in vault.db in the clear');
  assert.equal(sql(v.db, "SELECT COUNT(*) FROM identities WHERE name = 'ci'"), '1');
  assertOneLineError(assert, v.run(['identity', 'new', 'ci']), 1, /already exists/);
  assertOneLineError(assert, v.run(['identity', 'new', '../x']), 2, /invalid identity name/);
  assertOneLineError(assert, v.run(['identity', 'show', 'nobody']), 4, /no identity named 'nobody'/);
});

test('identity export: only to a terminal or with --force; the key it prints is the one that reads', (t) => {
  const v = sharedVault(t);
  const r = v.run(['identity', 'export', 'ci']); // stdout is a pipe here
  assertOneLineError(assert, r, 2, /not a terminal, so add --force/);
  assert.equal(r.stdout, '');
  assert.match(v.key, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  const rows = sql(v.db, "SELECT op || ' ' || COALESCE(detail, '') FROM audit WHERE op LIKE 'identity.%' ORDER BY id");
  assert.equal(rows, `identity.new ci ${v.recipient}\nidentity.export ci ${v.recipient}`);
  assert.doesNotMatch(sql(v.db, "SELECT group_concat(COALESCE(detail, '')) FROM audit"), /AGE-SECRET-KEY/);
});

test('identity export to a terminal (script(1) gives one) prints the key without --force', (t) => {
  if (!requireCommand(t, 'script')) return;
  const v = sharedVault(t);
  const sh = (w) => `'${String(w).replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, BIN, 'identity', 'export', 'ci'].map(sh).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: baseEnv(v.env), encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout);
  assert.equal(r.stdout.replace(/\r\n/g, '\n').trim(), v.key);
});

test('reading by TVAULT_IDENTITY_KEY: get, env, export and run with no passphrase anywhere; audited with the recipient as actor', (t) => {
  const v = sharedVault(t);
  assert.equal(v.asCi(['get', 'A']).stdout, 'a2\n');
  assert.equal(v.asCi(['env', '--format', 'dotenv']).stdout, "A='a2'\nB='b1'\n");
  assert.deepEqual(JSON.parse(v.asCi(['export', '--format', 'json']).stdout), { A: 'a2', B: 'b1' });
  // run: the child gets the secrets and no TVAULT_* variable, the identity key least of all.
  const run = v.asCi(['run', '--', process.execPath, '-e', 'process.stdout.write(JSON.stringify(process.env))']);
  assert.equal(run.code, 0, run.stderr);
  const childEnv = JSON.parse(run.stdout);
  assert.equal(childEnv.A, 'a2');
  assert.deepEqual(
    Object.keys(childEnv).filter((k) => k.startsWith('TVAULT_')),
    [],
  );
  assert.ok(!run.stdout.includes(v.key));
  const rows = sql(v.db, "SELECT op || '|' || keys || '|' || via || '|' || (mac IS NULL) FROM audit WHERE via LIKE 'identity:%' ORDER BY id").split('\n');
  assert.deepEqual(rows, [
    `get|["A"]|identity:${v.recipient}|1`,
    `getall|["A","B"]|identity:${v.recipient}|1`,
    `export|["A","B"]|identity:${v.recipient}|1`,
    `getall|["A","B"]|identity:${v.recipient}|1`,
  ]);
  // The unkeyed reads by identity do not break the audit chain's authentication.
  const verify = v.run(['audit', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal(JSON.parse(verify.stdout).ok, true);
});

test('reading by --identity FILE (age-keygen layout, comments skipped) and --identity NAME (unsealed with the passphrase)', (t) => {
  const v = sharedVault(t);
  writeFileSync(v.keyFile, `# created: 2026-12-01T00:00:00Z\n# public key: ${v.recipient}\n${v.key}\n`);
  const r = v.run(['get', 'B', '--identity', v.keyFile], { env: NO_PASS });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'b1\n');
  assert.equal(r.stderr, '');
  // A key file others can read: a warning (it still reads), which names the file, not the key.
  chmodSync(v.keyFile, 0o644);
  const loose = v.run(['get', 'B', '--identity', v.keyFile], { env: NO_PASS });
  assert.equal(loose.code, 0);
  assert.match(loose.stderr, /warning: the identity file .*ci\.key is readable by others \(mode 0644\); chmod 600 it/);
  assert.ok(!loose.stderr.includes(v.key));
  // By name: the vault's own identity, which needs the passphrase to unseal.
  const byName = v.run(['env', '--format', 'dotenv', '--identity', 'ci']);
  assert.equal(byName.code, 0, byName.stderr);
  assert.equal(byName.stdout, "A='a2'\nB='b1'\n");
  assertOneLineError(assert, v.run(['get', 'A', '--identity', 'ci.key']), 4, /no identity named 'ci\.key'/);
  assertOneLineError(assert, v.run(['get', 'A', '--identity', join(v.dir, 'missing.key')], { env: NO_PASS }), 2, /it does not exist/);
});

test('a malformed identity is a one-line usage error that never echoes the key; an empty TVAULT_IDENTITY_KEY is one too', (t) => {
  const v = sharedVault(t);
  const broken = v.key.slice(0, -1) + (v.key.endsWith('Q') ? 'P' : 'Q'); // a bad Bech32 checksum
  for (const [value, pattern] of [
    [broken, /not valid Bech32/],
    [v.key.slice(0, 30), /not valid Bech32|not an age X25519 identity/],
    ['', /holds no age identity/],
    ['hunter2-not-a-key', /not an age identity/],
    [`${v.key}\n${v.key}`, /holds 2 keys/],
    ['AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQ', /post-quantum .* not supported/],
  ]) {
    const r = v.run(['get', 'A'], { env: { ...NO_PASS, TVAULT_IDENTITY_KEY: value } });
    assertOneLineError(assert, r, 2, pattern);
    if (value.length > 4) assert.ok(!r.stderr.includes(value.split('\n')[0]), `the key was echoed: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
});

test('an identity that is not a recipient: exit 3 naming the project, never a prompt; an unknown project is exit 4', (t) => {
  const v = sharedVault(t);
  assert.equal(v.run(['projects', 'create', 'other']).code, 0);
  assert.equal(v.run(['set', '-p', 'other', 'X', '--stdin'], { input: 'x' }).code, 0);
  const r = v.asCi(['get', '-p', 'other', 'X']);
  assertOneLineError(assert, r, 3, new RegExp(`identity ${v.recipient} is not a recipient of project 'other'`));
  assertOneLineError(assert, v.asCi(['env', '-p', 'nope']), 4, /project 'nope' does not exist/);
  assertOneLineError(assert, v.asCi(['get', 'NOPE']), 4, /secret 'NOPE' not found/);
});

test('projects share and recipients: by identity name or age1…, listed without unlocking; sharing twice is refused; audited', (t) => {
  const v = sharedVault(t);
  const other = tvault(['identity', 'new', 'x'], { env: { TVAULT_DIR: join(v.dir, 'v2') } }); // no vault there
  assert.equal(other.code, 5);
  const laptop = v.run(['identity', 'new', 'laptop']).stdout.trim();
  assert.equal(v.run(['identity', 'delete', 'laptop']).code, 0); // a recipient this vault has no identity for
  const shared = v.run(['projects', 'share', laptop]);
  assert.equal(shared.code, 0, shared.stderr);
  const list = JSON.parse(v.run(['projects', 'recipients', '--json'], { env: NO_PASS }).stdout);
  assert.equal(list.project, 'default');
  assert.deepEqual(
    list.recipients.map((r) => [r.recipient, r.identity]),
    [
      ['passphrase', null],
      ...[
        [v.recipient, 'ci'],
        [laptop, null],
      ].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    ],
  );
  assertOneLineError(assert, v.run(['projects', 'share', 'ci']), 1, /already shared with/);
  assertOneLineError(assert, v.run(['projects', 'share', 'nobody']), 4, /no identity named 'nobody'/);
  const shares = sql(v.db, "SELECT project || ' ' || detail FROM audit WHERE op = 'project.share' ORDER BY id");
  assert.equal(shares, `default recipient=${v.recipient}\ndefault recipient=${laptop}`);
  // doctor lists who can read what without an identity in this vault.
  const doctor = v.run(['doctor', '--json']);
  const check = JSON.parse(doctor.stdout).checks.find((c) => c.check === 'recipients');
  assert.ok(check, doctor.stdout);
  assert.equal(check.status, 'warn');
  assert.match(check.detail, new RegExp(`default: ${laptop}`));
});

test('projects unshare: new ciphertexts for every current and archived value; the removed identity cannot read, the others and the passphrase read every version', (t) => {
  const v = sharedVault(t);
  const ops = v.run(['identity', 'new', 'ops']);
  assert.equal(ops.code, 0);
  assert.equal(v.run(['projects', 'share', 'ops']).code, 0);
  const opsKey = v.run(['identity', 'export', 'ops', '--force']).stdout.trim();
  const before = sql(v.db, 'SELECT secret_id || ":" || version || ":" || hex(sealed) FROM secret_versions WHERE sealed IS NOT NULL ORDER BY 1').split('\n');
  const r = v.run(['projects', 'unshare', 'ci', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { project: 'default', unshared: v.recipient, reencrypted: 3 });
  const after = sql(v.db, 'SELECT secret_id || ":" || version || ":" || hex(sealed) FROM secret_versions WHERE sealed IS NOT NULL ORDER BY 1').split('\n');
  assert.equal(after.length, before.length);
  for (let i = 0; i < before.length; i++) {
    assert.equal(after[i].split(':').slice(0, 2).join(':'), before[i].split(':').slice(0, 2).join(':'));
    assert.notEqual(after[i], before[i], 'a version kept its old ciphertext');
  }
  assertOneLineError(assert, v.asCi(['get', 'A']), 3, /is not a recipient of project 'default'/);
  const asOps = (args) => v.run(args, { env: { ...NO_PASS, TVAULT_IDENTITY_KEY: opsKey } });
  assert.equal(asOps(['get', 'A']).stdout, 'a2\n');
  // The archived version 1 of A, made current again by the passphrase: every reader gets it.
  assert.equal(v.run(['rollback', 'A', '--to', '1']).code, 0);
  assert.equal(v.run(['get', 'A']).stdout, 'a1\n');
  assert.equal(asOps(['get', 'A']).stdout, 'a1\n');
  assert.deepEqual(
    JSON.parse(v.run(['projects', 'recipients', '--json']).stdout).recipients.map((x) => x.identity ?? x.recipient),
    ['passphrase', 'ops'],
  );
  assertOneLineError(assert, v.run(['projects', 'unshare', 'ci']), 4, /is not a recipient of project 'default'/);
  assertOneLineError(assert, v.run(['projects', 'unshare', 'passphrase']), 2, /the passphrase is not a recipient/);
  assert.equal(sql(v.db, "SELECT detail FROM audit WHERE op = 'project.unshare'"), `recipient=${v.recipient} versions=3`);
});

test('identity delete: the key leaves the vault, the projects stay shared (a warning says how to revoke)', (t) => {
  const v = sharedVault(t);
  const r = v.run(['identity', 'delete', 'ci']);
  assert.equal(r.code, 0);
  assert.match(r.stderr, new RegExp(`warning: ${v.recipient} can still read default; to revoke it: tvault projects unshare`));
  assert.equal(v.run(['identity', 'list', '--json']).stdout.trim(), '[]');
  assert.equal(v.asCi(['get', 'A']).stdout, 'a2\n', 'the exported key still reads: delete is not unshare');
  assertOneLineError(assert, v.run(['identity', 'delete', 'ci']), 4);
});

test('identity import: from a file and from stdin; a key already in the vault is refused', (t) => {
  const v = sharedVault(t);
  const fresh = makeVault(t);
  const r = fresh.run(['identity', 'import', 'ci', '-f', v.keyFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), v.recipient);
  assertOneLineError(assert, fresh.run(['identity', 'import', 'again', '--stdin'], { input: v.key + '\n' }), 1, /already in the vault as identity 'ci'/);
  assertOneLineError(assert, fresh.run(['identity', 'import', 'x']), 2, /give the identity one way/);
  assertOneLineError(assert, fresh.run(['identity', 'import', 'x', '--stdin'], { input: 'garbage\n' }), 2, /stdin is not an age identity/);
});

test('key rotate with a shared project and identities: the identities re-sealed, the recipients still read, share_mac still valid', (t) => {
  const v = sharedVault(t);
  const NEW = 'a new passphrase for rotate';
  const r = v.run(['key', 'rotate'], { env: { TVAULT_NEW_PASSPHRASE: NEW } });
  assert.equal(r.code, 0, r.stderr);
  const asNew = (args, opts = {}) => v.run(args, { ...opts, env: { TVAULT_PASSPHRASE: NEW } });
  assert.equal(asNew(['identity', 'export', 'ci', '--force']).stdout.trim(), v.key);
  assert.equal(v.asCi(['get', 'A']).stdout, 'a2\n');
  assert.equal(asNew(['set', 'C', '--stdin'], { input: 'c' }).code, 0);
  assert.deepEqual(JSON.parse(v.asCi(['export', '--format', 'json']).stdout), { A: 'a2', B: 'b1', C: 'c' });
  assert.equal(asNew(['projects', 'unshare', 'ci']).code, 0);
  assertOneLineError(assert, v.asCi(['get', 'A']), 3);
});
