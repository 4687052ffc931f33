// Benchmark helpers: run commands many times, report medians and ratios against a baseline
// measured in the same run. NODE_EXTRA_CA_CERTS adds ~50 ms to every Node start on some
// machines, so it is removed from every command's environment.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'packages/cli/bin/tvault');
export const CHEAP_KDF = ['--kdf-memory', '256', '--kdf-passes', '1', '--kdf-parallelism', '1'];

export function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  for (const k of Object.keys(env)) if (k.startsWith('TVAULT_') && !(k in extra)) delete env[k];
  return env;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Runs cmd once and returns wall milliseconds; throws on a non-zero exit. opts: env, input, stdout, cwd. */
export function timeOnce(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  // stdout: 'pipe' reads it as `$(tvault get KEY)` would; the default discards it (/dev/null).
  const stdio = [opts.input ? 'pipe' : 'ignore', opts.stdout ?? 'ignore', 'pipe'];
  const r = spawnSync(cmd, args, { env: cleanEnv(opts.env), cwd: opts.cwd, input: opts.input, stdio, maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** Median wall time of `runs` runs after `warmup` unmeasured ones. */
export function timeMedian(cmd, args, { runs = 15, warmup = 2, ...opts } = {}) {
  for (let i = 0; i < warmup; i++) timeOnce(cmd, args, opts);
  const xs = [];
  for (let i = 0; i < runs; i++) xs.push(timeOnce(cmd, args, opts));
  return median(xs);
}

/** Interleaves the commands run by run, so that machine noise hits all of them alike. */
export function compare(cmds, { runs = 21, warmup = 3 } = {}) {
  const times = cmds.map(() => []);
  for (let i = 0; i < warmup + runs; i++) {
    cmds.forEach((c, j) => {
      const ms = timeOnce(c.cmd, c.args, c);
      if (i >= warmup) times[j].push(ms);
    });
  }
  return times.map(median);
}

export function tvaultArgs(...args) {
  return [BIN, ...args];
}

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tvault-bench-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`;
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

/** Whether the module at url is the script node was started with (not imported by another). */
export const isMain = (url) => fileURLToPath(url) === resolve(process.argv[1] ?? '');
