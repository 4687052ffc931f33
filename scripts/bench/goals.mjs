// Every goal of issue 11 in one run, each a ratio against a floor measured in this same run,
// with the goal and a verdict: `npm run build && node scripts/bench/goals.mjs` (`--quick`: small
// sizes and few runs, a smoke check of the script, whose figures mean nothing).
//
// - `tvault get KEY` via a warm agent, stdout a pipe, the caller's full environment, cwd in a
//   deep project tree, against `node -e 0`. `tvault` is the installed command, the native front
//   end (packages/cli/dist/front/tvault, which executes the JS CLI for what it does not serve);
//   beside it, the JS CLI alone (`node bin/tvault`) and the bare native client in Node (the
//   least any Node client can do);
// - `tvault env` (getall) of 1,000 secrets via the agent, shell format, against `node -e 0`, and
//   the agent's own time for it (its log's `us`);
// - `tvault_load` in bash with the same agent (the hook end to end: bash, tvault, eval);
// - the direct unlock's Argon2id (64 MiB / 3 / 4) against the `argon2` CLI (cli.mjs's kdfFigures);
// - `get` under 8 clients, a connection per request, against a minimal Node unix-socket server
//   answering a fixed line (floor-server.mjs) to the same load generator, in alternating rounds.
//
// Commands take turns run by run (lib.mjs's compare), in blocks whose ratios are printed; the
// figure is the median of the blocks. NODE_EXTRA_CA_CERTS is removed from every command's
// environment (lib.mjs's cleanEnv); everything else of the caller's environment is kept.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BIN, CHEAP_KDF, ROOT, cleanEnv, compare, median, tvaultArgs } from './lib.mjs';
import { load, logSize, makeVault, serviceTimes, startAgent } from './agent-lib.mjs';
import { kdfFigures } from './cli.mjs';

const QUICK = process.argv.includes('--quick');
const N = QUICK ? 100 : 1000;
const size = QUICK
  ? { blocks: 1, runs: 5, warmup: 1, loadSeconds: 1, loadWarmup: 0.5, rounds: 1 }
  : // 7 load rounds: a round's p99 ratio ranged 1.0-3.0× on one quiet machine (2026-12-03), so a
    // median of 3 could land on either side of the goal by chance.
    { blocks: 3, runs: 41, warmup: 3, loadSeconds: 3, loadWarmup: 1, rounds: 7 };
const node = process.execPath;
const rows = [];

function row(measure, figure, goal = '', verdict = '') {
  rows.push([measure, figure, goal, verdict]);
  console.log(`${measure} — ${figure}${goal ? ` (goal ${goal}: ${verdict})` : ''}`);
}
const x = (r) => `${r.toFixed(2)}×`;
const ms = (m) => `${m.toFixed(1)} ms`;
const met = (ok) => (ok ? 'met' : 'MISSED');

/** Blocks of interleaved runs; returns each command's per-block ratio to the first command and the medians. */
function blocksOf(cmds, { runs = size.runs, warmup = size.warmup } = {}) {
  const blocks = Array.from({ length: size.blocks }, () => compare(cmds, { runs, warmup }));
  const ratios = cmds.map((_, i) => blocks.map((m) => m[i] / m[0]));
  return {
    ms: cmds.map((_, i) => median(blocks.map((m) => m[i]))),
    ratio: ratios.map(median),
    show: (i) => `${x(median(ratios[i]))} [${ratios[i].map((r) => r.toFixed(2)).join(', ')}]`,
  };
}

/**
 * A project tree of depth 10 under the home directory, as a user's checkout would be (a tree
 * under /tmp ends the tvault.toml walk early: /tmp is writable by others), and a second one with
 * an allowed tvault.toml at its root. Falls back to the temp dir when home is not writable.
 */
function projectTrees(v) {
  let base;
  try {
    base = mkdtempSync(join(homedir(), '.tvault-bench-'));
  } catch {
    base = mkdtempSync(join(v.dir, 'home-'));
  }
  const deep = (root) => join(root, 'src', 'app', 'module', 'a', 'b', 'c', 'd', 'e', 'f', 'g');
  const plain = deep(join(base, 'plain'));
  const withToml = deep(join(base, 'toml'));
  mkdirSync(plain, { recursive: true });
  mkdirSync(withToml, { recursive: true });
  writeFileSync(join(base, 'toml', 'tvault.toml'), 'project = "default"\n');
  const r = spawnSync(node, tvaultArgs('allow', join(base, 'toml', 'tvault.toml')), { env: cleanEnv(v.env), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tvault allow: ${r.stderr}`);
  return { plain, withToml, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** A PATH on which `tvault` is this build (the hook runs `command tvault`) and `node` this Node. */
const FRONT = join(ROOT, 'packages/cli/dist/front/tvault');

function pathWithTvault(dir) {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(FRONT, join(bin, 'tvault'));
  return `${bin}:${dirname(node)}:${process.env.PATH ?? ''}`;
}

function startFloor(sock) {
  const child = spawn(node, [join(import.meta.dirname, 'floor-server.mjs'), sock], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve({ stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) }));
  });
}

const v = makeVault(N, CHEAP_KDF); // the KDF does not matter to a warm agent; a cheap one keeps set-up short
let agent;
let trees;
try {
  console.log(`tvault goals (issue 11) — node ${process.version}, ${new Date().toISOString()}${QUICK ? ', --quick: figures mean nothing' : ''}`);
  agent = await startAgent(v);
  trees = projectTrees(v);
  const agentEnv = { TVAULT_DIR: v.vault, PATH: pathWithTvault(v.dir) };
  const piped = { stdout: 'pipe', env: agentEnv };
  const nodeE0 = { cmd: node, args: ['-e', '0'], ...piped };

  // 1. get: the floor beside it is the least a Node client can do (addon, one line, print).
  const line = '{"v":1,"op":"get","key":"KEY_1","project":null}\\n';
  const nativeClient = `const b=require(${JSON.stringify(join(ROOT, 'packages/native'))}).agentCall(${JSON.stringify(agent.sock)},Buffer.from('${line}'),5000,1<<20);require('fs').writeSync(1,JSON.parse(b).value+'\\n')`;
  const get = blocksOf([
    nodeE0,
    { cmd: node, args: ['-e', nativeClient], ...piped },
    { cmd: FRONT, args: ['get', 'KEY_1'], ...piped, cwd: trees.plain },
    { cmd: node, args: tvaultArgs('get', 'KEY_1'), ...piped, cwd: trees.plain },
    { cmd: FRONT, args: ['get', 'KEY_1'], ...piped, cwd: trees.withToml },
  ]);
  row('`node -e 0`', ms(get.ms[0]));
  row('bare native client in Node (agentCall, one line, print): the least a Node client can do', get.show(1));
  row('`tvault get KEY` via a warm agent, stdout a pipe, full environment, cwd 10 levels deep', get.show(2), '≤ 1.10× `node -e 0`', met(get.ratio[2] <= 1.1));
  row('  the JS CLI alone (`node bin/tvault get KEY`), the same cwd', get.show(3));
  row('  `tvault get KEY` with an allowed tvault.toml at the tree’s root (the front hands it to the JS CLI)', get.show(4));

  // 2. env of N secrets, shell format; the agent's own time from its log.
  const from = logSize(v);
  const env = blocksOf(
    [
      nodeE0,
      { cmd: FRONT, args: ['env', '--format', 'shell'], ...piped, cwd: trees.plain },
      { cmd: node, args: tvaultArgs('env', '--format', 'shell'), ...piped, cwd: trees.plain },
    ],
    { runs: Math.ceil(size.runs / 2) },
  );
  // The installed `tvault env` asks for the shell reply; the JS CLI beside it for JSON, which it formats itself.
  const own = serviceTimes(v, from, 'getall', 'shell');
  const ownJson = serviceTimes(v, from, 'getall', null);
  row(`\`tvault env\` (getall) of ${N} secrets via the agent, shell format`, env.show(1), '≤ 1.3× `node -e 0`', met(env.ratio[1] <= 1.3));
  row('  the JS CLI alone (`node bin/tvault env --format shell`)', env.show(2));
  row(
    `  the agent's own time for it (its log, ${own.n} requests, reply shell): p50 / p99`,
    `${own.p50.toFixed(2)} / ${own.p99.toFixed(2)} ms`,
    '≤ 2 ms',
    met(own.n > 0 && own.p50 <= 2),
  );
  row(`  the agent's own time for the JS CLI's (${ownJson.n} requests, JSON): p50 / p99`, `${ownJson.p50.toFixed(2)} / ${ownJson.p99.toFixed(2)} ms`);

  // 3. tvault_load in bash: the hook as a user's shell runs it (bash, `command tvault env`, eval).
  const hook = join(v.dir, 'hook.bash');
  const h = spawnSync(node, tvaultArgs('hook', 'bash'), { env: cleanEnv(agentEnv), encoding: 'utf8' });
  if (h.status !== 0) throw new Error(`tvault hook bash: ${h.stderr}`);
  writeFileSync(hook, h.stdout);
  const script = `. ${JSON.stringify(hook)} && tvault_load && [ -n "$KEY_1" ]`;
  const hookRun = blocksOf([nodeE0, { cmd: 'bash', args: ['--noprofile', '--norc', '-c', script], ...piped, cwd: trees.plain }], {
    runs: Math.ceil(size.runs / 2),
  });
  row(`\`tvault_load\` in bash with a warm agent (${N} secrets), end to end`, hookRun.show(1), '≤ 1.5× `node -e 0`', met(hookRun.ratio[1] <= 1.5));

  // 4. The KDF of a direct unlock (needs the argon2 CLI; cli.mjs installs it from Debian if missing).
  if (QUICK && spawnSync('argon2', ['-h']).error)
    row('direct unlock Argon2id 64 MiB / 3 / 4 vs the argon2 CLI', 'skipped (no argon2 CLI; --quick does not install it)');
  else {
    const k = kdfFigures(QUICK ? { runs: 1, warmup: 0 } : {});
    row(
      'direct unlock: Argon2id 64 MiB / 3 / 4, default backend (net of a Node start) / the argon2 CLI',
      `${x(k.dflt / k.ref)} (${ms(k.dflt)} / ${ms(k.ref)}; hash-wasm ${x(k.wasm / k.ref)})`,
      '≤ 1.2×',
      met(k.dflt / k.ref <= 1.2),
    );
  }

  // 5. 8 clients, a connection per request: the agent against the floor server, alternating rounds.
  const getReq = { v: 1, op: 'get', key: 'KEY_1', project: null };
  const floorSock = join(v.dir, 'floor.sock');
  const opts = { seconds: size.loadSeconds, warmup: size.loadWarmup };
  const floor = [];
  const agentRuns = [];
  let agentOwn = [];
  for (let i = 0; i < size.rounds; i++) {
    const f = await startFloor(floorSock);
    floor.push(load(floorSock, getReq, opts));
    await f.stop();
    const a = load(agent.sock, getReq, { ...opts, mark: () => logSize(v) });
    agentRuns.push(a);
    const us = serviceTimes(v, a.logFrom, 'get');
    agentOwn.push(us);
  }
  for (const r of [...floor, ...agentRuns]) if (r.errors) throw new Error(`the load generator saw ${r.errors} failed requests`);
  const [fRps, aRps] = [median(floor.map((r) => r.rps)), median(agentRuns.map((r) => r.rps))];
  const [fP99, aP99] = [median(floor.map((r) => r.p99)), median(agentRuns.map((r) => r.p99))];
  row(
    'floor: minimal Node unix-socket server, fixed line, 8 clients',
    `${Math.round(fRps)} req/s, p50 ${median(floor.map((r) => r.p50)).toFixed(2)} ms, p99 ${fP99.toFixed(2)} ms`,
  );
  row(
    'agent `get`, 8 clients, connection per request',
    `${Math.round(aRps)} req/s, p50 ${median(agentRuns.map((r) => r.p50)).toFixed(2)} ms, p99 ${aP99.toFixed(2)} ms`,
  );
  row(
    '  throughput, agent / floor',
    `${x(aRps / fRps)} [${agentRuns.map((r, i) => (r.rps / floor[i].rps).toFixed(2)).join(', ')}]`,
    '≥ 0.5×',
    met(aRps / fRps >= 0.5),
  );
  row('  p99, agent / floor', `${x(aP99 / fP99)} [${agentRuns.map((r, i) => (r.p99 / floor[i].p99).toFixed(2)).join(', ')}]`, '≤ 2×', met(aP99 / fP99 <= 2));
  agentOwn = agentOwn.filter((o) => o.n);
  row(
    "  the agent's own time per `get` (its log): p50 / p99",
    `${median(agentOwn.map((o) => o.p50)).toFixed(3)} / ${median(agentOwn.map((o) => o.p99)).toFixed(3)} ms`,
  );

  console.log('\n| measure | figure | goal | verdict |\n| --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} finally {
  await agent?.stop();
  trees?.cleanup();
  v.cleanup();
}
