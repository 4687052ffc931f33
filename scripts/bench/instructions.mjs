// Instruction counts of short commands under valgrind's callgrind: a measure that a loaded
// machine does not move (wall time on 2 shared cores does, by 2× and more), for comparing two
// builds or two ways of doing one thing. Not a goal measure: the goals are wall-time ratios
// (goals.mjs), since a syscall or a page fault costs time and no instructions.
//
//   node scripts/bench/instructions.mjs [--runs N] -- 'node -e 0' 'node packages/cli/bin/tvault get KEY_1'
//
// Each command is a shell-free word list (split on spaces); the environment is the caller's
// without NODE_EXTRA_CA_CERTS, as in every benchmark here (TVAULT_* kept). Commands take turns, run by run.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cleanEnv, isMain, median } from './lib.mjs';

/** Instructions executed by one run of argv (all threads), from callgrind's summary line. */
export function instructions(argv, { env = {}, cwd } = {}) {
  const out = join(tmpdir(), `tvault-callgrind-${process.pid}.out`);
  const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, ...argv], {
    env: cleanEnv(env),
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  try {
    if (r.error) throw new Error(`valgrind: ${r.error.message} (apt-get install valgrind)`);
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.split('\n').slice(-5).join('\n')}`);
    const m = /^summary:\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
    if (!m) throw new Error('no summary in callgrind output');
    return Number(m[1]);
  } finally {
    rmSync(out, { force: true });
  }
}

/** Median instruction counts of several commands, interleaved run by run. */
export function compareInstructions(cmds, runs = 5) {
  const counts = cmds.map(() => []);
  for (let i = 0; i < runs; i++) cmds.forEach((c, j) => counts[j].push(instructions(c.argv, c)));
  return counts.map(median);
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args.splice(at, 2)[1]) : 5;
  // The caller's TVAULT_* settings are kept (cleanEnv drops those not passed explicitly).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('TVAULT_')));
  const cmds = args.filter((a) => a !== '--').map((s) => ({ label: s, argv: s.split(' '), env }));
  const counts = compareInstructions(cmds, runs);
  cmds.forEach((c, i) => console.log(`${(counts[i] / 1e6).toFixed(1).padStart(9)} M  ${(counts[i] / counts[0]).toFixed(3)}×  ${c.label}`));
}
