// Bundles the CLI, the agent and the KDF worker with esbuild (the list: scripts/bundles.mjs),
// then writes V8's code cache for the entry bundle (scripts/code-cache.mjs, read by bin/tvault).
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { bundles, common } from './bundles.mjs';
import { writeCodeCache } from './code-cache.mjs';

const ENTRY = 'packages/cli/dist/tvault.cjs';
rmSync(`${ENTRY}.cache`, { force: true }); // never a cache of the previous build beside the new one
await Promise.all(bundles.map((b) => build({ ...common, ...b })));
chmodSync('packages/cli/bin/tvault', 0o755);
try {
  writeCodeCache(ENTRY);
} catch (err) {
  // tvault works without it, only starts a little slower (test/code-cache.test.mjs fails, though)
  console.warn(`warning: ${err.message}`);
}
