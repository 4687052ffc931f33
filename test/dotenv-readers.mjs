// The three dotenv readers `export`/`env --format dotenv` must satisfy, run for real: the npm
// dotenv package, python-dotenv (every python3 here that has it: Debian's python3-dotenv in
// CI) with its defaults (interpolation on), and direnv's stdlib `dotenv` function in bash.
// Each returns the map of what it read; `readers(t)` skips, outside CI only, a missing one.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, requireCommand } from './helpers.mjs';

const dotenv = createRequire(join(ROOT, 'packages/cli/package.json'))('dotenv');

const PY = 'import json, sys\nfrom dotenv import dotenv_values\nsys.stdout.write(json.dumps(dotenv_values(sys.argv[1])))';

/** The distinct python3 interpreters here that can import dotenv. */
function pythons() {
  const found = new Map();
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import dotenv, sys; print(sys.executable)'], { encoding: 'utf8' });
    if (r.status === 0) found.set(r.stdout.trim(), py);
  }
  return [...found.values()];
}

/** Variables of a bash that ran direnv's stdlib, NUL-separated, minus those it has without a dotenv. */
function direnvRead(file, dir) {
  const script = (load) => `eval "$(direnv stdlib)"; ${load ? `dotenv ${JSON.stringify(file)} || exit 9;` : ''} env -0`;
  const run = (load) => {
    const r = spawnSync('bash', ['-c', script(load)], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`direnv's dotenv failed (${r.status}): ${r.stderr}`);
    return new Map(
      r.stdout
        .split('\0')
        .filter(Boolean)
        .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
  };
  const base = run(false);
  const after = run(true);
  return Object.fromEntries([...after].filter(([k, v]) => base.get(k) !== v && !k.startsWith('DIRENV_')));
}

/**
 * { name: (text) => parsed map } for every reader here; null (the test skipped) when direnv or
 * python-dotenv is missing outside CI. In CI a missing one fails the test.
 */
export function readers(t, dir) {
  if (!requireCommand(t, 'direnv')) return null;
  const pys = pythons();
  if (!pys.length && !requireCommand(t, 'python3-dotenv')) return null;
  const file = join(dir, 'readers.env');
  const out = { 'npm dotenv': (text) => dotenv.parse(Buffer.from(text)) };
  for (const py of pys)
    out[`python-dotenv (${py})`] = (text) => {
      writeFileSync(file, text);
      const r = spawnSync(py, ['-c', PY, file], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } });
      if (r.status !== 0) throw new Error(`python-dotenv failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
  out['direnv dotenv'] = (text) => {
    writeFileSync(file, text);
    return direnvRead(file, dir);
  };
  return out;
}
