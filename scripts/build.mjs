// Bundles the CLI, the agent and the KDF worker with esbuild.
// Heavy or native modules stay external and are require()d lazily where they are needed,
// so that the client's hot path (a Node start, a connect, one line of JSON) never loads them.
import { build } from 'esbuild';
import { chmodSync, readFileSync } from 'node:fs';

// smol-toml and dotenv are only needed by a few commands; keeping them out of the bundle
// keeps its parse time down.
const external = ['better-sqlite3', 'hash-wasm', 'argon2', 'tweetnacl', 'pino', '@tvault/native', 'smol-toml', 'dotenv'];
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external,
  logLevel: 'warning',
  legalComments: 'none',
  sourcemap: false,
  define: { TVAULT_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
};

await Promise.all([
  // The entry: a small fast path for agent reads, which loads cli.cjs for everything else.
  build({ ...common, entryPoints: ['packages/cli/src/fast.ts'], outfile: 'packages/cli/dist/tvault.cjs', external: [...external, './cli.cjs'] }),
  build({ ...common, entryPoints: ['packages/cli/src/main.ts'], outfile: 'packages/cli/dist/cli.cjs' }),
  build({ ...common, entryPoints: ['packages/core/src/kdf-worker.ts'], outfile: 'packages/cli/dist/kdf-worker.cjs' }),
  build({ ...common, entryPoints: ['packages/agent/src/index.ts'], outfile: 'packages/cli/dist/agent.cjs' }),
]);
chmodSync('packages/cli/bin/tvault', 0o755);
