// Two builds' agents side by side, in one run: for measuring what one change to the agent buys
// on a shared, noisy machine (docs/PERFORMANCE.md, "What each change bought"). Each build serves
// its own copy of one vault; requests alternate between them, so that the machine's noise hits
// both alike, and the figures are the agents' own times from their logs (the `us` of each
// request: parse, check, decrypt, audit row, answer), the CPU time each agent used for them
// (/proc/PID/stat, in ticks of 10 ms: summed over all rounds, so that a preempted agent is not
// charged for the wait), and, for `--load`, the 8-client throughput.
//
//   cp -r packages/cli packages/cli-before   # before the change (a scratch copy: never commit it)
//   ... change, npm run build ...
//   node scripts/bench/agent-ab.mjs [--n 1000] [--rounds 20] [--shell] [--gap MS] [--load [--load-rounds 3]] packages/cli-before packages/cli
//
// --shell asks for the getall in the shell reply, as the installed `tvault env` does (its lines
// are not read: the agent's own time ends before it writes them). --gap leaves the agents idle
// for MS between two getalls, as goals.mjs's getalls find them (caches cold after a command
// ran), instead of back to back.
//
// A copy of packages/cli inside the work tree resolves node_modules as the original does.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { CHEAP_KDF, ROOT, cleanEnv, median } from './lib.mjs';
import { PASS, load, logSize, makeVault, serviceTimes } from './agent-lib.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args.splice(at, 2)[1]) : dflt;
};
const N = opt('--n', 1000);
const ROUNDS = opt('--rounds', 20);
const LOAD = args.includes('--load') && args.splice(args.indexOf('--load'), 1);
const LOAD_ROUNDS = opt('--load-rounds', 3);
const GAP_MS = opt('--gap', 0);
const SHELL = args.includes('--shell') && args.splice(args.indexOf('--shell'), 1);
const builds = args.map((a) => resolve(a));
if (builds.length < 2)
  throw new Error('usage: agent-ab.mjs [--n N] [--rounds R] [--shell] [--gap MS] [--load [--load-rounds L]] CLI_DIR_BEFORE CLI_DIR_AFTER [MORE_CLI_DIRS...]');
const { agentCall } = createRequire(import.meta.url)(join(ROOT, 'packages/native'));

async function startAgent(cliDir, v) {
  const child = spawn(process.execPath, [join(cliDir, 'bin/tvault'), 'agent', 'start', '--idle', '0', '--log-max-size', '1G'], {
    env: cleanEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state') }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const sock = join(v.vault, 'agent.sock');
  for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(sock)) throw new Error(`the agent of ${cliDir} did not start`);
  return { sock, pid: child.pid, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

/** The floor of goals.mjs: a minimal Node server answering a fixed line (floor-server.mjs). */
function startFloor(sock) {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'floor-server.mjs'), sock], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve({ stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) }));
  });
}

/** User + system CPU time of a process so far, in ms (Linux; ticks of 10 ms). */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const call = (sock, req) => {
  const a = agentCall(sock, Buffer.from(JSON.stringify(req) + '\n'), 10000, 1 << 26);
  // A raw reply's header is {"ok":true,"bytes":N} (PROTOCOL.md, "Raw replies").
  const ok = req.reply ? '{"ok":true' : '{"v":1,"ok":true';
  if (!a || a.toString('latin1', 0, ok.length) !== ok) throw new Error(`${req.op}: ${a}`);
};

const base = makeVault(N, CHEAP_KDF);
const vaults = builds.map((_, i) => {
  if (i === 0) return base;
  const dir = `${base.dir}-${i}`;
  cpSync(base.dir, dir, { recursive: true });
  return { ...base, dir, vault: join(dir, 'v') };
});
const agents = [];
try {
  for (let i = 0; i < builds.length; i++) agents.push(await startAgent(builds[i], vaults[i]));
  const getall = { v: 1, op: 'getall', project: null, ...(SHELL && { reply: 'shell' }) };
  const get = { v: 1, op: 'get', key: 'KEY_1', project: null };
  for (const a of agents) for (let i = 0; i < 5; i++) (call(a.sock, getall), call(a.sock, get)); // warm-up
  const from = vaults.map(logSize);
  // Two phases, each interleaved request by request: getall, then get; CPU time per phase.
  const cpu = agents.map(() => ({ getall: 0, get: 0 }));
  const phase = async (name, req, times, gap = 0) => {
    for (let r = 0; r < times; r++)
      for (const [i, a] of agents.entries()) {
        if (gap) await new Promise((resolve) => setTimeout(resolve, gap));
        const c0 = cpuMs(a.pid);
        call(a.sock, req);
        cpu[i][name] += cpuMs(a.pid) - c0;
      }
  };
  await phase('getall', getall, ROUNDS, GAP_MS);
  await phase('get', get, ROUNDS * 20);
  builds.forEach((b, i) => {
    const all = serviceTimes(vaults[i], from[i], 'getall', SHELL ? 'shell' : null);
    const one = serviceTimes(vaults[i], from[i], 'get');
    console.log(
      `${b}: getall of ${N}: p50 ${all.p50.toFixed(3)} ms, CPU ${(cpu[i].getall / ROUNDS).toFixed(2)} ms (n ${all.n}); ` +
        `get: p50 ${(one.p50 * 1000).toFixed(0)} µs, p99 ${(one.p99 * 1000).toFixed(0)} µs, CPU ${((cpu[i].get / (ROUNDS * 20)) * 1000).toFixed(0)} µs (n ${one.n})`,
    );
  });
  if (LOAD) {
    // Throughput moves with whatever else the machine runs; the agent's CPU time per request
    // under the same load (its efficiency: what batching commits saves) moves much less. The
    // floor server (floor-server.mjs, as in goals.mjs) takes its turn in each round, so that
    // each build's throughput and p99 are also given as ratios to a floor of the same run.
    const rps = builds.map(() => []);
    const p99 = builds.map(() => []);
    const cpuPer = builds.map(() => []);
    const floor = [];
    const floorSock = join(base.dir, 'floor.sock');
    for (let r = 0; r < LOAD_ROUNDS; r++) {
      const f = await startFloor(floorSock);
      floor.push(load(floorSock, get, { seconds: 2, warmup: 0.5 }));
      await f.stop();
      agents.forEach((a, i) => {
        let c0 = 0;
        const out = load(a.sock, get, { seconds: 2, warmup: 0.5, mark: () => (c0 = cpuMs(a.pid)) });
        cpuPer[i].push(((cpuMs(a.pid) - c0) / out.requests) * 1000);
        rps[i].push(out.rps);
        p99[i].push(out.p99);
      });
    }
    const [fRps, fP99] = [median(floor.map((f) => f.rps)), median(floor.map((f) => f.p99))];
    console.log(`floor: 8 clients, fixed line: ${Math.round(fRps)} req/s [${floor.map((f) => Math.round(f.rps)).join(', ')}], p99 ${fP99.toFixed(2)} ms`);
    builds.forEach((b, i) =>
      console.log(
        `${b}: 8 clients, get: ${Math.round(median(rps[i]))} req/s [${rps[i].map(Math.round).join(', ')}] (${(median(rps[i]) / fRps).toFixed(2)}× the floor), ` +
          `p99 ${median(p99[i]).toFixed(2)} ms (${(median(p99[i]) / fP99).toFixed(2)}×), agent CPU per request ${Math.round(median(cpuPer[i]))} µs [${cpuPer[i].map(Math.round).join(', ')}]`,
      ),
    );
  }
} finally {
  for (const a of agents) await a.stop();
  base.cleanup();
  for (const v of vaults.slice(1)) (await import('node:fs')).rmSync(v.dir, { recursive: true, force: true });
}
