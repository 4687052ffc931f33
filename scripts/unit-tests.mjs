// The unit tier (`npm run test:fast`): every packages/*/src/**/*.test.ts, loaded into this one
// process (run it with `node --import tsx`), where node:test runs and reports them. One process
// instead of `node --test`'s one per file: each start of Node and the TypeScript loader costs
// more than most of these files take to run. Files given as arguments run alone.
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : find(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => join(process.cwd(), f)) : find(join(ROOT, 'packages')).sort();
if (!files.length) throw new Error('no unit test files found under packages/');
for (const f of files) {
  process.stderr.write(`# ${relative(ROOT, f)}\n`);
  await import(pathToFileURL(f).href);
}
