// Two builds' direct unlock side by side, in one run: what a change to the KDF path buys, on a
// shared, noisy machine (docs/PERFORMANCE.md, issue 11). For each build, `tvault get` with
// TVAULT_PASSPHRASE and TVAULT_NO_AGENT=1 on a vault with the default KDF (64 MiB / 3 / 4) and
// on one with a cheap KDF. The KDF as the CLI runs it (a worker's start included where the build
// starts one) is a build's default-KDF `get` less the last build's cheap-KDF `get`: the builds
// must differ only in the KDF path, and the last one (the change) must derive a cheap KDF
// without starting a worker, which a build that always starts one would hide in its own. Beside them, in the same rounds: the reference `argon2`
// CLI with the same parameters and `node -e 0`. Medians of wall time and of CPU time (user+sys of
// all threads, from `perf stat`'s task-clock when perf is there; /usr/bin/time's 10 ms ticks
// otherwise), commands interleaved round by round so that the machine's noise hits all alike.
// Also goals.mjs's own KDF figure (a script that derives once, less `node -e 0`) for the first
// build as main measured it before this change (its dist/kdf-worker.cjs started from a script,
// the default backend inside the worker) and for the sources as they are now (deriveKek, as
// cli.mjs's kdfFigures runs it).
//
//   cp -r packages/cli packages/cli-before   # before the change (a scratch copy: never commit it)
//   ... change, npm run build ...
//   node scripts/bench/kdf-ab.mjs [--runs 15] packages/cli-before packages/cli
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CHEAP_KDF, cleanEnv, median, tempDir } from './lib.mjs';
import { kdfScript } from './cli.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const RUNS = at >= 0 ? Number(args.splice(at, 2)[1]) : 15;
const builds = args.map((a) => resolve(a));
if (builds.length < 2) throw new Error('usage: kdf-ab.mjs [--runs N] CLI_DIR_BEFORE CLI_DIR_AFTER');

const node = process.execPath;
const PASS = 'bench-passphrase';
const PERF = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', 'true']).status === 0;
const { dir, cleanup } = tempDir();
process.on('exit', cleanup);
const cpuFile = join(dir, 'cpu');

/** Runs one command; returns [wall ms, CPU ms]. Throws on a non-zero exit. */
function run(cmd, argv, { env, input } = {}) {
  const wrapped = PERF
    ? ['perf', ['stat', '-x,', '-e', 'task-clock', '-o', cpuFile, cmd, ...argv]]
    : ['/usr/bin/time', ['-f', '%U %S', '-o', cpuFile, cmd, ...argv]];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(wrapped[0], wrapped[1], { env: cleanEnv(env), input, stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  const text = readFileSync(cpuFile, 'utf8');
  rmSync(cpuFile);
  const cpu = PERF
    ? Number(
        text
          .split('\n')
          .find((l) => l.includes('task-clock'))
          .split(',')[0],
      )
    : text
        .trim()
        .split(/\s+/)
        .reduce((a, b) => a + Number(b) * 1000, 0);
  return [wall, cpu];
}

function vault(kdfArgs) {
  const env = { TVAULT_DIR: join(dir, `v${kdfArgs.length ? 'cheap' : 'default'}`), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  run(node, [join(builds[1], 'bin/tvault'), 'init', ...kdfArgs], { env });
  run(node, [join(builds[1], 'bin/tvault'), 'set', 'KEY', '--stdin'], { env, input: 'value' });
  return env;
}
const dflt = vault([]);
const cheap = vault(CHEAP_KDF);

// The worker started from a script, as scripts/bench/cli.mjs measured the KDF before this change.
const workerScript = join(dir, 'kdf-worker-script.cjs');
writeFileSync(
  workerScript,
  `const { Worker } = require('node:worker_threads');
const w = new Worker(${JSON.stringify(join(builds[0], 'dist/kdf-worker.cjs'))});
w.once('message', (m) => { if (!m.key) { console.error(m.error); process.exit(1); } void w.terminate(); });
w.postMessage({ salt: Buffer.alloc(16, 1), memoryKiB: 65536, passes: 3, parallelism: 4, passphrase: new TextEncoder().encode(${JSON.stringify(PASS)}) });`,
);

const cmds = [
  { name: `${builds[0]}: KDF worker from a script (the old kdfFigures)`, cmd: node, args: [workerScript] },
  { name: 'the sources: deriveKek from a script (kdfFigures now)', cmd: node, args: [kdfScript(undefined)] },
  { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
  { name: 'argon2 CLI', cmd: 'argon2', args: ['saltsaltsaltsalt', '-id', '-m', '16', '-t', '3', '-p', '4', '-l', '32', '-r'], input: PASS },
  ...builds.flatMap((b) => [
    { name: `${b}: get, default KDF`, cmd: node, args: [join(b, 'bin/tvault'), 'get', 'KEY'], env: dflt },
    { name: `${b}: get, cheap KDF`, cmd: node, args: [join(b, 'bin/tvault'), 'get', 'KEY'], env: cheap },
  ]),
];
const wall = cmds.map(() => []);
const cpu = cmds.map(() => []);
const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (let i = 0; i < RUNS + 1; i++) {
  cmds.forEach((c, j) => {
    const [w, u] = run(c.cmd, c.args, c);
    if (i > 0) (wall[j].push(w), cpu[j].push(u)); // the first round warms the page cache
  });
}
const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const W = wall.map(median);
const C = cpu.map(median);
console.log(`node ${process.version}, ${RUNS} rounds, load average ${load0} → ${load1}, CPU from ${PERF ? 'perf stat task-clock' : '/usr/bin/time'}`);
cmds.forEach((c, j) => console.log(`${c.name.padEnd(70)} wall ${W[j].toFixed(1)} ms  CPU ${C[j].toFixed(1)} ms`));
const e0 = 2;
const ref = 3;
const base = cmds.length - 1; // the last build's cheap-KDF get
for (const j of [0, 1]) {
  const kw = W[j] - W[e0];
  const kc = C[j] - C[e0];
  console.log(
    `${cmds[j].name}, less node -e 0: wall ${kw.toFixed(1)} ms = ${(kw / W[ref]).toFixed(2)}× the argon2 CLI; CPU ${kc.toFixed(1)} ms = ${(kc / C[ref]).toFixed(2)}× its CPU`,
  );
}
builds.forEach((b, i) => {
  const d = 4 + 2 * i;
  const kw = W[d] - W[base];
  const kc = C[d] - C[base];
  console.log(
    `${b}: KDF (its default-KDF get − the last build's cheap-KDF get) wall ${kw.toFixed(1)} ms = ${(kw / W[ref]).toFixed(2)}× the argon2 CLI; CPU ${kc.toFixed(1)} ms = ${(kc / C[ref]).toFixed(2)}× its CPU`,
  );
});
