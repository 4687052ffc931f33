// Brokered exec benchmark (issue 15): a child that writes MB megabytes (default 100) with 50
// injected secrets, through `tvault run --broker` (masked) against `tvault run` (unmasked), as a
// throughput ratio (goal: masked >= 0.5x); and `tvault run --broker -- true` against
// `tvault run -- true` via the agent (goal <= 1.5x). Medians, ratios within this run.
// Floors beside the masked row: the same broker with one secret; the same bytes through the
// agent's own transport with a masker that masks nothing (masked-io.ts's childPipe and
// maskedPump: no masker can beat it); the older transport for reference (a Node pipe stream
// copied through a write stream); and the masker alone in-process over the same stream in 256
// KiB blocks (the addon's scan, and the JS loop it replaced). The agent's CPU time (user+sys,
// from /proc, the mean over the runs) per brokered run is shown beside its wall time: load does
// not change it.
// With BASELINE=/path/to/another/checkout (built), that checkout's agent and CLI run the same
// brokered rows in the same interleaved loop, for a before/after in one run.
// Usage: npm run build && [BASELINE=DIR] node scripts/bench/broker.mjs [MB] [RUNS]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, ROOT, cleanEnv, compare, fmt, median, ratio, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

/** Bundles made in the temp dir load the addon from this checkout. */
const NATIVE = { alias: { '@tvault/native': join(ROOT, 'packages/native/index.js') }, external: [join(ROOT, 'packages/native/index.js')] };
const BASELINE = process.env.BASELINE ? join(process.env.BASELINE, 'packages/cli/bin/tvault') : null;

const MB = Number(process.argv[2] ?? 100);
const RUNS = Number(process.argv[3] ?? 5);
const SECRETS = 50;
const node = process.execPath;
const PASS = 'bench-passphrase-42x';
const report = (name, value) => console.log(`${name.padEnd(58)} ${value}`);
const verdict = (met) => (met ? 'met' : 'MISSED');
const value = (i) => `bench-secret-${i}-${'s'.repeat(20)}`;

const { dir, cleanup } = tempDir();

/** A vault with the 50 secrets and its agent, from the CLI at bin; resolves once its exec socket is there. */
async function startAgent(bin, name) {
  const env = { TVAULT_DIR: join(dir, name), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  timeOnce(node, [bin, 'init', ...CHEAP_KDF], { env });
  timeOnce(node, [bin, 'import', file], { env });
  const proc = spawn(node, [bin, 'agent', 'start', '--idle', '0'], {
    env: cleanEnv({ TVAULT_DIR: env.TVAULT_DIR, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(dir, `state-${name}`) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sock = join(env.TVAULT_DIR, 'exec.sock');
  for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(sock)) throw new Error(`agent ${name} did not start`);
  return { proc, env: { TVAULT_DIR: env.TVAULT_DIR } };
}

/** A process's CPU time so far (user+sys), in ms, from /proc (clock ticks: 10 ms steps). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const file = join(dir, 'bulk.env');
writeFileSync(file, Array.from({ length: SECRETS }, (_, i) => `KEY_${i}=${value(i)}\n`).join(''));
const agent = await startAgent(BIN, 'v');
const old = BASELINE ? await startAgent(BASELINE, 'old') : null;

try {
  // Ordinary text (no secret in it): the masker's cost is the scan, which is what is measured.
  const writer = `const b=Buffer.alloc(1<<16,'lorem ipsum dolor sit amet, 0123456789\\n');let n=${MB}*16;const w=()=>{while(n-->0)if(!process.stdout.write(b))return process.stdout.once('drain',w)};w()`;
  const floor = await pumpScript(dir, writer);
  const rows = [
    { name: 'plain', cmd: node, args: tvaultArgs('run', '--', node, '-e', writer), env: agent.env },
    { name: 'masked', cmd: node, args: tvaultArgs('run', '--broker', '--', node, '-e', writer), env: agent.env, pid: agent.proc.pid },
    { name: 'one', cmd: node, args: tvaultArgs('run', '--broker', '--only', 'KEY_0', '--', node, '-e', writer), env: agent.env, pid: agent.proc.pid },
    { name: 'pump', cmd: node, args: [floor], env: {} },
    { name: 'hop', cmd: node, args: ['-e', pipeCopy(writer)], env: {} },
  ];
  if (old) {
    rows.push(
      { name: 'oldMasked', cmd: node, args: [BASELINE, 'run', '--broker', '--', node, '-e', writer], env: old.env, pid: old.proc.pid },
      { name: 'oldOne', cmd: node, args: [BASELINE, 'run', '--broker', '--only', 'KEY_0', '--', node, '-e', writer], env: old.env, pid: old.proc.pid },
    );
  }
  const wall = rows.map(() => []);
  const cpu = rows.map(() => []);
  for (let i = 0; i < RUNS + 1; i++) {
    rows.forEach((r, j) => {
      const c0 = r.pid ? cpuMs(r.pid) : 0;
      const ms = timeOnce(r.cmd, r.args, r);
      if (i === 0) return; // warm-up
      wall[j].push(ms);
      if (r.pid) cpu[j].push(cpuMs(r.pid) - c0);
    });
  }
  const t = Object.fromEntries(rows.map((r, j) => [r.name, median(wall[j])]));
  // The mean, not the median: /proc counts in 10 ms ticks, and the mean of RUNS samples resolves finer.
  const c = Object.fromEntries(rows.map((r, j) => [r.name, r.pid ? cpu[j].reduce((x, y) => x + y, 0) / cpu[j].length : 0]));
  const { plain, masked, one, pump, hop } = t;
  const mbps = (ms) => `${((MB * 1000) / ms).toFixed(1)} MB/s`;
  report(`${MB} MB, ${SECRETS} secrets: run (unmasked)`, `${fmt(plain)} (${mbps(plain)})`);
  report(`${MB} MB, ${SECRETS} secrets: run --broker (masked)`, `${fmt(masked)} (${mbps(masked)}; agent CPU ${fmt(c.masked)})`);
  report('masked throughput / unmasked (goal >= 0.50x)', `${ratio(plain, masked)} ${verdict(plain / masked >= 0.5)}`);
  report(`floor: ${MB} MB, 1 secret: run --broker`, `${fmt(one)} (${mbps(one)}, ${ratio(plain, one)} of unmasked; agent CPU ${fmt(c.one)})`);
  report(`floor: ${MB} MB through the agent's pump, no masking`, `${fmt(pump)} (${mbps(pump)}, ${ratio(plain, pump)} of unmasked)`);
  report(`reference: ${MB} MB through a Node pipe stream copy`, `${fmt(hop)} (${mbps(hop)}, ${ratio(plain, hop)} of unmasked)`);
  if (old) {
    const { oldMasked, oldOne } = t;
    report(`baseline: run --broker (masked)`, `${fmt(oldMasked)} (${ratio(plain, oldMasked)} of unmasked; agent CPU ${fmt(c.oldMasked)})`);
    report(`baseline: 1 secret: run --broker`, `${fmt(oldOne)} (${ratio(plain, oldOne)} of unmasked; agent CPU ${fmt(c.oldOne)})`);
  }
  const alone = await maskerAlone(dir);
  report(`masker alone, ${SECRETS} secrets, in-process (addon scan)`, `${fmt(alone.masked)} (${mbps(alone.masked)})`);
  report(`masker alone, ${SECRETS} secrets, in-process (JS loop)`, `${fmt(alone.js)} (${mbps(alone.js)})`);
  report('reference: a plain copy of each block, in-process', `${fmt(alone.copy)} (${mbps(alone.copy)})`);
  const [t0, t1] = compare(
    [
      { cmd: node, args: tvaultArgs('run', '--', 'true'), env: agent.env },
      { cmd: node, args: tvaultArgs('run', '--broker', '--', 'true'), env: agent.env },
    ],
    { runs: RUNS * 3, warmup: 2 },
  );
  report('run -- true via the agent', fmt(t0));
  report('run --broker -- true', fmt(t1));
  report('broker / run (goal <= 1.50x)', `${ratio(t1, t0)} ${verdict(t1 / t0 <= 1.5)}`);
} finally {
  agent.proc.kill('SIGTERM');
  old?.proc.kill('SIGTERM');
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
 * The agent's transport without a masker (the floor no masker can beat on it): the writer's
 * stdout is a childPipe that maskedPump copies to this process's stdout, through a masker of no
 * secrets (pushv hands the block on as it is). Bundled from masked-io.ts into the temp dir.
 */
async function pumpScript(tmp, writer) {
  const out = join(tmp, 'pump-floor.cjs');
  const entry = join(tmp, 'pump-floor-entry.ts');
  writeFileSync(
    entry,
    `import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { childPipe, maskedPump } from ${JSON.stringify(join(ROOT, 'packages/agent/src/masked-io.ts'))};
import { Masker } from ${JSON.stringify(join(ROOT, 'packages/agent/src/masker.ts'))};
const p = childPipe();
spawn(process.execPath, ['-e', ${JSON.stringify(writer)}], { stdio: ['ignore', p[1], 'inherit'] });
closeSync(p[1]);
void maskedPump(p[0], 1, new Masker([]), { autoClose: false });
`,
  );
  await build({ entryPoints: [entry], bundle: true, format: 'cjs', platform: 'node', outfile: out, logLevel: 'error', ...NATIVE });
  return out;
}

/**
 * The masker by itself (packages/agent/src/masker.ts, bundled here): the same MB of text in the
 * 256 KiB blocks the agent reads, with the 50 secrets, through pushv (what the pump calls: views
 * of the block, no copy), with the addon's scan and with the JS loop (a second copy of the
 * module, loaded with TVAULT_MASK_JS=1), against a copy of each block. Interleaved medians.
 */
async function maskerAlone(tmp) {
  const load = async (name) => {
    const out = join(tmp, name);
    await build({
      entryPoints: [join(ROOT, 'packages/agent/src/masker.ts')],
      bundle: true,
      format: 'cjs',
      platform: 'node',
      outfile: out,
      logLevel: 'error',
      ...NATIVE,
    });
    return createRequire(import.meta.url)(out);
  };
  const secrets = Array.from({ length: SECRETS }, (_, i) => ({ name: `KEY_${i}`, value: Buffer.from(value(i)) }));
  const native = await load('masker-native.cjs');
  const nset = new native.MaskSet(secrets);
  new native.Masker(nset).pushv(Buffer.alloc(1 << 16)); // the addon is loaded on first use: now, before the switch below
  process.env.TVAULT_MASK_JS = '1';
  const js = await load('masker-js.cjs');
  const jset = new js.MaskSet(secrets);
  const chunk = Buffer.alloc(1 << 18, 'lorem ipsum dolor sit amet, 0123456789\n');
  const once = (f) => {
    const t = process.hrtime.bigint();
    for (let n = MB * 4; n > 0; n--) f(chunk);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const masked = [];
  const jsl = [];
  const copy = [];
  for (let r = 0; r < RUNS + 1; r++) {
    const m = new native.Masker(nset);
    const a = once((c) => m.pushv(c));
    const mj = new js.Masker(jset);
    const b = once((c) => mj.pushv(c));
    const d = once((c) => Buffer.from(c));
    if (r > 0) (masked.push(a), jsl.push(b), copy.push(d));
  }
  return { masked: median(masked), js: median(jsl), copy: median(copy) };
}
