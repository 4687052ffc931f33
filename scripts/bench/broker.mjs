// Brokered exec benchmark (issue 15): a child that writes MB megabytes (default 100) with 50
// injected secrets, through `tvault run --broker` (masked) against `tvault run` (unmasked), as a
// throughput ratio (goal: masked >= 0.5x); and `tvault run --broker -- true` against
// `tvault run -- true` via the agent (goal <= 1.5x). Medians, ratios within this run.
// Floors beside the masked row: the same broker with one secret; the same bytes through a plain
// Node pipe copy (the agent's transport without a masker, which no masker can beat); and the
// masker alone in-process over the same stream in the same 64 KiB chunks (its own throughput,
// against a plain copy of each chunk).
// Usage: npm run build && node scripts/bench/broker.mjs [MB] [RUNS]
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, ROOT, cleanEnv, compare, fmt, median, ratio, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

const MB = Number(process.argv[2] ?? 100);
const RUNS = Number(process.argv[3] ?? 5);
const SECRETS = 50;
const node = process.execPath;
const PASS = 'bench-passphrase-42x';
const report = (name, value) => console.log(`${name.padEnd(58)} ${value}`);
const verdict = (met) => (met ? 'met' : 'MISSED');
const value = (i) => `bench-secret-${i}-${'s'.repeat(20)}`;

const { dir, cleanup } = tempDir();
const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
timeOnce(node, tvaultArgs('init', ...CHEAP_KDF), { env });
const file = join(dir, 'bulk.env');
writeFileSync(file, Array.from({ length: SECRETS }, (_, i) => `KEY_${i}=${value(i)}\n`).join(''));
timeOnce(node, tvaultArgs('import', file), { env });

const agent = spawn(node, [BIN, 'agent', 'start', '--idle', '0'], {
  env: cleanEnv({ TVAULT_DIR: env.TVAULT_DIR, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(dir, 'state') }),
  stdio: ['ignore', 'pipe', 'pipe'],
});
const sock = join(env.TVAULT_DIR, 'exec.sock');
for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
if (!existsSync(sock)) throw new Error('agent did not start');

try {
  // Ordinary text (no secret in it): the masker's cost is the scan, which is what is measured.
  const writer = `const b=Buffer.alloc(1<<16,'lorem ipsum dolor sit amet, 0123456789\\n');let n=${MB}*16;const w=()=>{while(n-->0)if(!process.stdout.write(b))return process.stdout.once('drain',w)};w()`;
  const agentEnv = { ...env, TVAULT_NO_AGENT: undefined, TVAULT_PASSPHRASE: undefined };
  const [plain, masked, one, hop] = compare(
    [
      { cmd: node, args: tvaultArgs('run', '--', node, '-e', writer), env: agentEnv },
      { cmd: node, args: tvaultArgs('run', '--broker', '--', node, '-e', writer), env: agentEnv },
      { cmd: node, args: tvaultArgs('run', '--broker', '--only', 'KEY_0', '--', node, '-e', writer), env: agentEnv },
      { cmd: node, args: ['-e', pipeCopy(writer)], env: {} },
    ],
    { runs: RUNS, warmup: 1 },
  );
  const mbps = (ms) => `${((MB * 1000) / ms).toFixed(1)} MB/s`;
  report(`${MB} MB, ${SECRETS} secrets: run (unmasked)`, `${fmt(plain)} (${mbps(plain)})`);
  report(`${MB} MB, ${SECRETS} secrets: run --broker (masked)`, `${fmt(masked)} (${mbps(masked)})`);
  report('masked throughput / unmasked (goal >= 0.50x)', `${ratio(plain, masked)} ${verdict(plain / masked >= 0.5)}`);
  report(`floor: ${MB} MB, 1 secret: run --broker`, `${fmt(one)} (${mbps(one)}, ${ratio(plain, one)} of unmasked)`);
  report(`floor: ${MB} MB through a Node pipe copy, no masker`, `${fmt(hop)} (${mbps(hop)}, ${ratio(plain, hop)} of unmasked)`);
  const alone = await maskerAlone(dir);
  report(`masker alone, ${SECRETS} secrets, in-process`, `${fmt(alone.masked)} (${mbps(alone.masked)})`);
  report('floor: a plain copy of each chunk, in-process', `${fmt(alone.copy)} (${mbps(alone.copy)})`);
  const [t0, t1] = compare(
    [
      { cmd: node, args: tvaultArgs('run', '--', 'true'), env: agentEnv },
      { cmd: node, args: tvaultArgs('run', '--broker', '--', 'true'), env: agentEnv },
    ],
    { runs: RUNS * 3, warmup: 2 },
  );
  report('run -- true via the agent', fmt(t0));
  report('run --broker -- true', fmt(t1));
  report('broker / run (goal <= 1.50x)', `${ratio(t1, t0)} ${verdict(t1 / t0 <= 1.5)}`);
} finally {
  agent.kill('SIGTERM');
  cleanup();
}

/**
 * The agent's copy path without the masker: the writer's stdout is a pipe that a Node process
 * reads and writes to its own stdout through a write stream, as exec.ts's maskedCopy does (a
 * fresh buffer per chunk, as the masker returns). Below it no masker can go on this transport.
 */
function pipeCopy(writer) {
  return `const{spawn}=require('child_process');const fs=require('fs');const c=spawn(process.execPath,['-e',${JSON.stringify(writer)}],{stdio:['ignore','pipe','inherit']});const o=fs.createWriteStream('',{fd:1});c.stdout.on('data',(b)=>{if(!o.write(Buffer.from(b))){c.stdout.pause();o.once('drain',()=>c.stdout.resume())}});c.stdout.on('close',()=>o.end())`;
}

/**
 * The masker by itself (packages/agent/src/masker.ts, bundled here): the same MB of text in the
 * 64 KiB chunks a pipe delivers, with the 50 secrets, against a copy of each chunk (the least
 * a masker that returns a fresh buffer must do). Interleaved medians.
 */
async function maskerAlone(tmp) {
  const out = join(tmp, 'masker.mjs');
  await build({ entryPoints: [join(ROOT, 'packages/agent/src/masker.ts')], bundle: true, format: 'esm', platform: 'node', outfile: out, logLevel: 'error' });
  const { MaskSet, Masker } = await import(pathToFileURL(out).href);
  const set = new MaskSet(Array.from({ length: SECRETS }, (_, i) => ({ name: `KEY_${i}`, value: Buffer.from(value(i)) })));
  const chunk = Buffer.alloc(1 << 16, 'lorem ipsum dolor sit amet, 0123456789\n');
  const once = (f) => {
    const t = process.hrtime.bigint();
    for (let n = MB * 16; n > 0; n--) f(chunk);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const masked = [];
  const copy = [];
  for (let r = 0; r < RUNS + 1; r++) {
    const m = new Masker(set);
    const a = once((c) => m.push(c));
    const b = once((c) => Buffer.from(c));
    if (r > 0) (masked.push(a), copy.push(b));
  }
  return { masked: median(masked), copy: median(copy) };
}
