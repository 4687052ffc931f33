// @tvault/client as an orchestrator uses it (issue 15, the seed's exec.ts case): secret names in,
// the exit status and the masked output out, never a value; refusals as BrokerError codes.
// A real agent on a temp vault; the package bundled from its TypeScript source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bundleSources, makeVault } from './helpers.mjs';
import { startAgent, tokenHash, writeTokens } from './agent-helpers.mjs';

const SECRET = 'client-api-secret-9d2e71';
const TOKEN = 'tokenHHHH-client-exec-only-0123456789';

async function loadClient() {
  return (await bundleSources('client', { client: 'packages/client/src/index.ts' })).require('./client.cjs');
}

test('client API: names in, status and masked output out; an exec-only token that may not read', async (t) => {
  const client = await loadClient();
  const v = makeVault(t);
  assert.equal(v.run(['set', 'API_KEY', '--stdin'], { input: SECRET }).code, 0);
  assert.equal(v.run(['set', 'OTHER', '--stdin'], { input: 'other-value-123456' }).code, 0);
  const file = writeTokens(join(v.dir, 'tokens'), `sha256:${tokenHash(TOKEN)} exec=only keys=API_KEY\n`);
  await startAgent(t, v, ['--require-token', '--token-file', file]);
  const base = { vaultDir: v.vault, token: TOKEN, env: { PATH: process.env.PATH } };

  const r = await client.execWithSecrets({
    ...base,
    argv: ['sh', '-c', 'read line; echo "got $line"; echo "key=$API_KEY"; echo "$API_KEY" | base64 >&2; exit 3'],
    names: ['API_KEY'],
    input: 'hello\n',
  });
  assert.equal(r.status, 3);
  assert.deepEqual(r.exit, { code: 3, signal: null });
  assert.deepEqual(r.keys, ['API_KEY']);
  assert.equal(r.stdout.toString(), 'got hello\nkey=<masked:API_KEY>\n');
  assert.match(r.stderr.toString(), /<masked:API_KEY>/);
  assert.ok(!JSON.stringify(r).includes(SECRET) && !r.stderr.toString().includes(Buffer.from(SECRET).toString('base64').slice(0, 12)));

  await assert.rejects(
    client.execWithSecrets({ ...base, argv: ['true'], names: ['OTHER'] }),
    (e) => e instanceof client.BrokerError && e.code === 'token_scope',
  );
  const nf = await client.execWithSecrets({ ...base, argv: ['no-such-program-xyz'] });
  assert.deepEqual([nf.status, nf.message], [127, 'no-such-program-xyz: command not found']);
  await assert.rejects(
    client.execWithSecrets({ ...base, vaultDir: join(v.dir, 'nowhere'), argv: ['true'] }),
    (e) => e instanceof client.BrokerError && e.code === 'no_agent',
  );
});
