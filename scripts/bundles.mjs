// The bundles esbuild makes (scripts/build.mjs) and the options they share; scripts/check-cycles.mjs
// walks the same entry points.
import { readFileSync } from 'node:fs';

// Heavy or native modules stay external and are require()d lazily where they are needed, so
// that the client's hot path (a Node start, a connect, one line of JSON) never loads them.
// smol-toml, dotenv and zxcvbn-ts (init and key rotate) are only needed by a few commands; keeping them out of the bundle keeps
// its parse time down.
export const external = [
  'better-sqlite3',
  'hash-wasm',
  'argon2',
  'tweetnacl',
  'sodium-native',
  'pino',
  '@tvault/native',
  'smol-toml',
  'dotenv',
  '@zxcvbn-ts/core',
  '@zxcvbn-ts/language-common',
];

export const common = {
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

export const bundles = [
  // The entry: a small fast path for agent reads, which loads cli.cjs for everything else.
  // smol-toml is bundled into it (esbuild wraps it: it runs only when a tvault.toml is found):
  // resolving the external package through node_modules and its `exports` cost ~2 ms per
  // `tvault get` under an allowed tvault.toml.
  {
    entryPoints: ['packages/cli/src/fast.ts'],
    outfile: 'packages/cli/dist/tvault.cjs',
    external: [...external.filter((m) => m !== 'smol-toml'), './cli.cjs'],
  },
  { entryPoints: ['packages/cli/src/main.ts'], outfile: 'packages/cli/dist/cli.cjs' },
  { entryPoints: ['packages/core/src/kdf-worker.ts'], outfile: 'packages/cli/dist/kdf-worker.cjs' },
  { entryPoints: ['packages/agent/src/index.ts'], outfile: 'packages/cli/dist/agent.cjs' },
  // The age format (npm age-encryption, ESM, bundled to CommonJS here): loaded by core's
  // loadAge() only for identities and reads by identity, never by the agent or the fast path.
  { entryPoints: ['packages/core/src/age.ts'], outfile: 'packages/cli/dist/age.cjs' },
  // The MCP server with the official SDK (and zod): loaded only by `tvault mcp`.
  { entryPoints: ['packages/cli/src/mcp/server.ts'], outfile: 'packages/cli/dist/mcp.cjs' },
];
