// Bundles the CLI, the agent and the KDF worker with esbuild (the list: scripts/bundles.mjs).
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { bundles, common } from './bundles.mjs';

await Promise.all(bundles.map((b) => build({ ...common, ...b })));
chmodSync('packages/cli/bin/tvault', 0o755);
