// Shared by the identity tests: a vault whose default project (A: a1 then a2, B: b1) is shared
// with its identity ci, and ci's exported key, as a file and as a reader in TVAULT_IDENTITY_KEY.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeVault } from './helpers.mjs';

/** The environment of a reader by identity: no passphrase at all, no agent. */
export const NO_PASS = { TVAULT_PASSPHRASE: undefined, TVAULT_PASSPHRASE_FILE: undefined };

export function sharedVault(t) {
  const v = makeVault(t);
  for (const [k, val] of [
    ['A', 'a1'],
    ['A', 'a2'],
    ['B', 'b1'],
  ])
    assert.equal(v.run(['set', k, '--stdin'], { input: val }).code, 0);
  const made = v.run(['identity', 'new', 'ci']);
  assert.equal(made.code, 0, made.stderr);
  const recipient = made.stdout.trim();
  assert.match(recipient, /^age1[02-9ac-hj-np-z]{58}$/);
  assert.equal(v.run(['projects', 'share', 'ci']).code, 0);
  const exported = v.run(['identity', 'export', 'ci', '--force']);
  assert.equal(exported.code, 0, exported.stderr);
  const key = exported.stdout.trim();
  const keyFile = join(v.dir, 'ci.key');
  writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  const asCi = (args, opts = {}) => v.run(args, { ...opts, env: { ...NO_PASS, TVAULT_IDENTITY_KEY: key, ...opts.env } });
  return { ...v, recipient, key, keyFile, asCi, db: join(v.vault, 'vault.db') };
}
