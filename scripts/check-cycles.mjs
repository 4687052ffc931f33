// Fails on any import cycle among tvault's own modules, over every bundle's entry point (the
// list in bundles.mjs). esbuild resolves the graph exactly as the build does, including the
// lazy require()s that keep heavy modules off the hot path, so a cycle through one of those
// (commands/agent.ts <-> commands/agent-token.ts, once) is caught too. Run by `npm test`.
import { build } from 'esbuild';
import { bundles, common } from './bundles.mjs';

const graph = new Map();
for (const b of bundles) {
  const { metafile } = await build({ ...common, ...b, write: false, metafile: true, logLevel: 'error' });
  for (const [file, input] of Object.entries(metafile.inputs)) {
    if (file.includes('node_modules/')) continue;
    const edges = graph.get(file) ?? new Set();
    for (const imp of input.imports) if (!imp.external && !imp.path.includes('node_modules/')) edges.add(imp.path);
    graph.set(file, edges);
  }
}

// Depth-first search; a back edge to a module on the current path is a cycle.
const cycles = [];
const state = new Map(); // file -> 'open' | 'done'
const path = [];
function visit(file) {
  state.set(file, 'open');
  path.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
    else if (!state.has(next)) visit(next);
  }
  path.pop();
  state.set(file, 'done');
}
for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);

if (cycles.length) {
  for (const c of cycles) console.error(`import cycle: ${c.join(' -> ')}`);
  process.exit(1);
}
console.log(`no import cycles among ${graph.size} modules`);
