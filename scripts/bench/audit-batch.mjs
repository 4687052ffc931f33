// What an audit commit costs the agent, per row, by the number of rows a transaction holds:
// the case for group commit (audit-queue.ts). In-process: core is bundled here (with its KDF
// worker beside it, under node_modules so that its externals resolve), the agent's key cache
// and libsodium on, as the agent runs it.
//
//   node scripts/bench/audit-batch.mjs [ROWS_PER_BATCH ...]      (CPU time per row)
//   node scripts/bench/instructions.mjs -- 'node scripts/bench/audit-batch.mjs 1' 'node scripts/bench/audit-batch.mjs 8'
//
// With sizes given, only those run (one size per process is what callgrind should count);
// rows in all: 2,400 per size, after 240 unmeasured.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './lib.mjs';
import { common } from '../bundles.mjs';

const out = mkdtempSync(join(ROOT, 'node_modules', '.tvault-bench-'));
await build({
  ...common,
  entryPoints: { core: join(ROOT, 'packages/core/src/index.ts'), 'kdf-worker': join(ROOT, 'packages/core/src/kdf-worker.ts') },
  outdir: out,
  outExtension: { '.js': '.cjs' },
});
const { Vault, useNativeSecretbox } = createRequire(join(out, 'x.cjs'))('./core.cjs');

const ROWS = 2400;
// --no-key-cache: the audit secret is unwrapped for every commit (as before the key cache kept it).
const keyCache = !process.argv.includes('--no-key-cache');
const sizes = process.argv
  .slice(2)
  .filter((a) => !a.startsWith('--'))
  .map(Number);
const dir = mkdtempSync(join(tmpdir(), 'tvault-audit-batch-'));
try {
  useNativeSecretbox();
  const pass = () => Buffer.from('bench-passphrase-42x');
  const v = await Vault.init(join(dir, 'v'), pass(), { alg: 'argon2id', memoryKiB: 256, passes: 1, parallelism: 1 });
  const kek = await v.unlock(pass());
  if (keyCache) v.enableKeyCache();
  const actor = { via: 'agent', uid: process.getuid(), pid: process.pid };
  const row = () => ({ ev: { op: 'get', project: 'default', keys: ['KEY_1'], ts: Date.now() }, actor });
  const run = (size, rows) => {
    for (let i = 0; i < rows / size; i++) if (!v.tryAuditBatch(Array.from({ length: size }, row), kek)) throw new Error('busy');
  };
  for (const size of sizes.length ? sizes : [1, 2, 4, 8, 1, 2, 4, 8]) {
    run(size, ROWS / 10);
    const t0 = process.cpuUsage();
    run(size, ROWS);
    const us = process.cpuUsage(t0);
    if (!sizes.length) console.log(`${size} row(s) a commit: ${((us.user + us.system) / ROWS).toFixed(1)} µs of CPU per row`);
  }
  v.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}
