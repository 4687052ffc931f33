// The committed vaults of test/vectors/, made by scripts/make-vectors.mjs: vault.db (schema 4,
// this format, with an identity and a shared project), vault-v3.db (schema 3, made by the tvault
// before identities) and vault-v2.db (schema 2, made by the tvault before the manifests): the
// migration vectors. Each opens through the built CLI with its known passphrase and holds
// exactly what its .json says, its audit chain included; the v2 vault is upgraded at its first
// unlock and reads the same afterwards. The built KDF worker derives binding.json's Argon2id
// KEK. A failure means that this tvault no longer reads vaults it wrote before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ROOT, assertOneLineError, sql, tempDir, tvault } from './helpers.mjs';
import { agentLog, request, startAgent } from './agent-helpers.mjs';

const VECTORS = join(ROOT, 'test/vectors');
const VAULTS = [
  ['vault.db', JSON.parse(readFileSync(join(VECTORS, 'vault.json'), 'utf8'))],
  ['vault-v3.db', JSON.parse(readFileSync(join(VECTORS, 'vault-v3.json'), 'utf8'))],
  ['vault-v2.db', JSON.parse(readFileSync(join(VECTORS, 'vault-v2.json'), 'utf8'))],
];
const binding = JSON.parse(readFileSync(join(VECTORS, 'binding.json'), 'utf8'));

/** A private copy of the committed vault: the tests unlock it, which appends audit rows. */
function committedVault(t, file, expected) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const vault = join(dir, 'vault');
  mkdirSync(vault, { mode: 0o700 });
  copyFileSync(join(VECTORS, file), join(vault, 'vault.db'));
  chmodSync(join(vault, 'vault.db'), 0o600);
  const run = (args, pass = expected.passphrase) => tvault(args, { env: { TVAULT_DIR: vault, TVAULT_PASSPHRASE: pass, TVAULT_NO_AGENT: '1' } });
  return { dir, vault, db: join(vault, 'vault.db'), run };
}

for (const [file, expected] of VAULTS) {
  test(`vectors: ${file}: has the expected audit head before anyone unlocks it`, (t) => {
    const v = committedVault(t, file, expected);
    assert.equal(sql(v.db, 'PRAGMA user_version'), String(expected.schemaVersion), 'as committed');
    const doctor = v.run(['doctor', '--json']);
    const checks = Object.fromEntries(JSON.parse(doctor.stdout).checks.map((c) => [c.check, c]));
    assert.equal(checks['audit chain'].detail, `${expected.audit.rows} rows, chain intact`);
    assert.equal(checks.database.status, 'ok');
    assert.match(
      checks['key derivation'].detail,
      new RegExp(`^Argon2id ${expected.kdf.memoryKiB} KiB, ${expected.kdf.passes} passes, ${expected.kdf.parallelism} lanes`),
    );
    assert.equal(sql(v.db, `SELECT lower(hex(hash)) FROM audit WHERE id = ${expected.audit.rows}`), expected.audit.headHash);
    assert.equal(`${expected.audit.rows}:${expected.audit.headHash.slice(0, 16)}`, expected.audit.head);
    assert.equal(sql(v.db, 'PRAGMA user_version'), '4', 'opened by this tvault: schema 4');
  });

  test(`vectors: ${file}: yields the expected values, history and current project`, (t) => {
    const v = committedVault(t, file, expected);
    for (const [project, values] of Object.entries(expected.values)) {
      const r = v.run(['export', '--format', 'json', '-p', project]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), values, project);
    }
    const get = v.run(['get', 'API_URL', '-p', 'default', '--raw']);
    assert.equal(get.stdout, expected.values.default.API_URL);
    for (const h of [expected.history, expected.deleted]) {
      const r = v.run(['history', h.key, '-p', h.project, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).versions.map((x) => [x.version, x.op]),
        h.versions,
      );
    }
    assertOneLineError(assert, v.run(['get', 'OLD', '-p', 'default']), 4);
    assert.equal(JSON.parse(v.run(['status', '--json']).stdout).project, expected.currentProject);
  });

  test(`vectors: ${file}: an agent, which opens values with libsodium, yields the same values`, async (t) => {
    const v = committedVault(t, file, expected);
    await startAgent(t, v, ['--idle', '0'], { env: { TVAULT_PASSPHRASE: expected.passphrase } });
    assert.equal(agentLog(v).events.find((e) => e.ev === 'start')?.secretbox, 'libsodium');
    for (const [project, values] of Object.entries(expected.values)) {
      const all = await request(join(v.vault, 'agent.sock'), { v: 1, op: 'getall', project });
      assert.deepEqual(all.secrets, values, project);
      for (const [key, value] of Object.entries(values))
        assert.equal((await request(join(v.vault, 'agent.sock'), { v: 1, op: 'get', key, project })).value, value);
    }
  });

  test(`vectors: ${file}: its identity reads the shared project without the passphrase; the others it cannot read`, (t) => {
    const v = committedVault(t, file, expected);
    if (!expected.identity) {
      // A vault from before identities: none after the migration, and the same recipients.
      assert.equal(v.run(['identity', 'list', '--json']).stdout.trim(), '[]');
      assert.deepEqual(
        JSON.parse(v.run(['projects', 'recipients', '-p', 'default', '--json']).stdout).recipients.map((r) => r.recipient),
        ['passphrase'],
      );
      return;
    }
    const id = expected.identity;
    const byId = (args) => tvault(args, { env: { TVAULT_DIR: v.vault, TVAULT_NO_AGENT: '1', TVAULT_IDENTITY_KEY: id.key } });
    for (const project of id.shared) {
      const r = byId(['export', '--format', 'json', '-p', project]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), expected.values[project]);
    }
    assertOneLineError(assert, byId(['export', '-p', 'default']), 3, /not a recipient of project 'default'/);
    assert.equal(v.run(['identity', 'show', id.name]).stdout.trim(), id.recipient);
  });

  test(`vectors: ${file}: every MAC verifies under its passphrase, and the chain goes on from its head`, (t) => {
    const v = committedVault(t, file, expected);
    const r = v.run(['audit', 'verify', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    // audit verify unlocks first, which appends one authenticated row after the committed head
    // (a v2 vault is upgraded by that unlock: a vault.upgrade row before it).
    const added = expected.schemaVersion === 2 ? 2 : 1;
    assert.equal(report.ok, true);
    assert.equal(report.rows, expected.audit.rows + added);
    assert.equal(report.unkeyed, expected.audit.unkeyed);
    assert.equal(sql(v.db, `SELECT lower(hex(prev_hash)) FROM audit WHERE id = ${expected.audit.rows + 1}`), expected.audit.headHash);
    assertOneLineError(assert, v.run(['get', 'API_URL', '-p', 'default'], 'wrong passphrase'), 6, /wrong passphrase/);
  });
}

test('vectors: the built KDF worker derives the Argon2id vector', async () => {
  const k = binding.kdf;
  const worker = new Worker(join(ROOT, 'packages/cli/dist/kdf-worker.cjs'));
  const pass = new Uint8Array(Buffer.from(k.passphrase, 'utf8'));
  const answer = new Promise((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject)));
  worker.postMessage(
    { passphrase: pass, salt: new Uint8Array(Buffer.from(k.salt, 'hex')), memoryKiB: k.memoryKiB, passes: k.passes, parallelism: k.parallelism },
    [pass.buffer],
  );
  const msg = await answer;
  await worker.terminate();
  assert.equal(Buffer.from(msg.key).toString('hex'), k.kek);
});
