// @tvault/client as an orchestrator uses it (issue 15, the seed's exec.ts case): secret names in,
// the exit status and the masked output out, never a value; refusals as BrokerError codes.
// A real agent on a temp vault; the package bundled from its TypeScript source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, makeVault } from './helpers.mjs';
import { startAgent, tokenHash, writeTokens } from './agent-helpers.mjs';

const SECRET = 'client-api-secret-9d2e71';
const TOKEN = 'tokenHHHH-client-exec-only-0123456789';

async function loadClient() {
  const { build } = await import('esbuild');
  const out = mkdtempSync(join(ROOT, 'node_modules', '.tvault-client-test-'));
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  await build({
    entryPoints: { client: join(ROOT, 'packages/client/src/index.ts') },
    outdir: out,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['@tvault/native'],
    logLevel: 'error',
  });
  return createRequire(join(out, 'x.cjs'))('./client.cjs');
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
