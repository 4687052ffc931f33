// Bundles the CLI, the agent and the KDF worker with esbuild (the list: scripts/bundles.mjs),
// then writes V8's code cache for the entry bundle (scripts/code-cache.mjs, read by bin/tvault),
// and lays out the native front end (packages/native/src/front.c) as an installed tvault has it.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
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

// The native front end, as installed: `tvault` beside `tvault-node` (the JS launcher), which it
// executes for every command it does not answer itself (packages/native/README.md).
const FRONT = 'packages/native/build/Release/tvault_front';
rmSync('packages/cli/dist/front', { recursive: true, force: true });
if (existsSync(FRONT)) {
  mkdirSync('packages/cli/dist/front');
  copyFileSync(FRONT, 'packages/cli/dist/front/tvault');
  chmodSync('packages/cli/dist/front/tvault', 0o755);
  symlinkSync('../../bin/tvault', 'packages/cli/dist/front/tvault-node');
} else console.warn(`warning: ${FRONT} is not built (npm ci builds it): no native front end`);
