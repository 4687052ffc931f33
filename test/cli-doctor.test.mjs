// doctor: what it checks and how it exits. A weak KDF (test vaults have one on purpose) and a
// stale agent socket are warnings (exit 0); loose permissions fail (1); tampering fails (8).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { makeVault } from './helpers.mjs';

const doctorJson = (v) => {
  const r = v.run(['doctor', '--json']);
  const doc = JSON.parse(r.stdout);
  return { code: r.code, doc, status: Object.fromEntries(doc.checks.map((c) => [c.check, c.status])) };
};

test('a fresh test vault passes, with a warning about its weak KDF', (t) => {
  const v = makeVault(t);
  const r = v.run(['doctor']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^ok\s+vault directory\s/m);
  assert.match(r.stdout, /^ok\s+vault\.db mode\s+0600$/m);
  assert.match(r.stdout, /^ok\s+database\s+SQLite integrity check ok$/m);
  assert.match(
    r.stdout,
    /^WARN\s+key derivation\s+Argon2id 256 KiB, 1 passes, 1 lanes: weaker than the default; raise it with: tvault key rotate --kdf-memory 65536 --kdf-passes 3 --kdf-parallelism 4$/m,
  );
  assert.match(r.stdout, /^ok\s+audit chain\s+1 rows, chain intact$/m);
  assert.match(r.stdout, /^ok\s+agent\s+not running$/m);
  assert.match(r.stdout, /^ok\s+handoff\s+no handoff holds this vault$/m);
  const { code, doc, status } = doctorJson(v);
  assert.equal(code, 0);
  assert.equal(doc.ok, true);
  assert.equal(doc.warnings, 1);
  assert.deepEqual(status, {
    'vault directory': 'ok',
    ancestors: 'ok',
    'vault.db mode': 'ok',
    database: 'ok',
    'key derivation': 'warn',
    passphrase: 'ok',
    'audit chain': 'ok',
    'tvault.toml': 'ok',
    agent: 'ok',
    handoff: 'ok',
  });
  for (const c of doc.checks) assert.equal(c.ok, c.status !== 'fail');
});

test('a vault.db readable by others fails with a chmod 600 hint (exit 1)', (t) => {
  const v = makeVault(t);
  chmodSync(join(v.vault, 'vault.db'), 0o644);
  const r = v.run(['doctor']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^FAIL\\s+vault\\.db mode\\s+vault\\.db has mode 644; fix it with: chmod 600 ${join(v.vault, 'vault.db')}$`, 'm'));
  const { doc } = doctorJson(v);
  assert.equal(doc.ok, false);
  chmodSync(join(v.vault, 'vault.db'), 0o600);
  assert.equal(v.run(['doctor']).code, 0);
});

test('a stale agent socket is a warning, not a failure', (t) => {
  const v = makeVault(t);
  // A socket file with nobody listening, as a SIGKILLed agent leaves it.
  const sock = join(v.vault, 'agent.sock');
  const py = spawnSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', sock]);
  assert.equal(py.status, 0, String(py.stderr));
  const { code, doc, status } = doctorJson(v);
  assert.equal(code, 0);
  assert.equal(status.agent, 'warn');
  assert.match(doc.checks.find((c) => c.check === 'agent').detail, /stale agent\.sock/);
  assert.equal(doc.warnings, 2);
});

test('an ancestor of the vault directory that others can write, or that another user owns, fails; a sticky one (/tmp) does not', (t) => {
  const v = makeVault(t); // <tmp>/tvault-test-XXXX/vault: /tmp is sticky and root's
  assert.equal(doctorJson(v).status.ancestors, 'ok');
  chmodSync(v.dir, 0o777);
  let r = v.run(['doctor']);
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stdout,
    new RegExp(`^FAIL  ancestors +${v.dir} is writable by group or others, who could replace the vault directory; fix it with: chmod go-w ${v.dir}$`, 'm'),
  );
  chmodSync(v.dir, 0o1777);
  assert.equal(doctorJson(v).status.ancestors, 'ok', 'sticky: only the entry owner can rename the vault directory');
  chmodSync(v.dir, 0o700);
  if (process.getuid() !== 0) return t.diagnostic('the chown case needs root');
  chownSync(v.dir, 65534, 65534);
  r = v.run(['doctor', '--json']);
  const c = JSON.parse(r.stdout).checks.find((x) => x.check === 'ancestors');
  assert.equal(c.status, 'fail');
  assert.equal(
    c.detail,
    `${v.dir} belongs to uid 65534, who could replace the vault directory; move the vault (--vault or TVAULT_DIR) under directories of yours`,
  );
  assert.equal(r.code, 1);
  chownSync(v.dir, 0, 0);
});
