// Raw replies (docs/PROTOCOL.md, "Raw replies") against the JSON answer they stand in for: the
// agent's own time (its log's `us`) for a getall of 1,000 secrets, JSON and `reply: "shell"`,
// interleaved one request after the other, p50; then a getall of a large project (3,000 values
// of 16 KB, 48 MB) each way, wall time per answer, and the worst latency of a `get` from another
// client while it runs (how long the large read blocks others). `npm run build` first.
//   node scripts/bench/raw-reply.mjs [rounds]
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { median, percentile, tempDir, timeOnce, tvaultArgs } from './lib.mjs';
import { PASS, logSize, makeVault, startAgent } from './agent-lib.mjs';

const node = process.execPath;
const rounds = Number(process.argv[2] ?? 200);
const load = () =>
  execSync('uptime')
    .toString()
    .trim()
    .replace(/.*load average: /, 'load ');

/** One request; resolves with the answer's byte count and the wall milliseconds. */
function ask(sock, obj) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = net.connect(sock);
    let n = 0;
    let first = null;
    c.on('connect', () => c.end(JSON.stringify(obj) + '\n'));
    c.on('data', (d) => ((first ??= d.subarray(0, 40).toString()), (n += d.length)));
    c.on('error', reject);
    c.on('close', () =>
      first?.startsWith('{"ok":true,"bytes":') || first?.startsWith('{"v":1,"ok":true') ? resolve({ n, ms: performance.now() - t0 }) : reject(new Error(first)),
    );
  });
}

/** The agent's own time (ms) of the `op` lines after byte `from` in v's log, for one reply (null: JSON). */
function agentMs(v, from, reply, op = 'getall') {
  return readFileSync(join(v.dir, 'state/tvault/agent.log'))
    .subarray(from)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.ev === 'request' && e.op === op && (e.reply ?? null) === reply)
    .map((e) => e.us / 1000);
}

console.log(`raw replies — node ${process.version}, ${new Date().toISOString()}, ${load()}`);
{
  const v = makeVault(1000);
  const a = await startAgent(v);
  try {
    for (let i = 0; i < 20; i++) await ask(a.sock, { v: 1, op: 'getall', ...(i % 2 && { reply: 'shell' }) });
    const from = logSize(v);
    for (let i = 0; i < rounds; i++) {
      await ask(a.sock, { v: 1, op: 'getall' });
      await ask(a.sock, { v: 1, op: 'getall', reply: 'shell' });
      await ask(a.sock, { v: 1, op: 'get', key: 'KEY_1' });
    }
    const g = agentMs(v, from, null, 'get');
    const j = agentMs(v, from, null);
    const s = agentMs(v, from, 'shell');
    console.log(
      `getall of 1,000 secrets, agent's own time, ${rounds} each, interleaved: JSON p50 ${median(j).toFixed(3)} ms (p99 ${percentile(j, 99).toFixed(3)}), reply shell p50 ${median(s).toFixed(3)} ms (p99 ${percentile(s, 99).toFixed(3)}); a get between them p50 ${median(g).toFixed(3)} ms; ${load()}`,
    );
  } finally {
    await a.stop();
    v.cleanup();
  }
}
{
  // 3,000 values of 16 KB: imported from a dotenv file (printable, with a quote in each so that the shell form escapes).
  const { dir, cleanup } = tempDir();
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  timeOnce(node, tvaultArgs('init', '--kdf-memory', '256', '--kdf-passes', '1', '--kdf-parallelism', '1'), { env });
  const file = join(dir, 'big.env');
  const value = (i) => `"v${i} it's ${'x'.repeat(16 * 1024 - 20)}"`;
  writeFileSync(file, Array.from({ length: 3000 }, (_, i) => `BIG_${i}=${value(i)}\n`).join(''));
  timeOnce(node, tvaultArgs('import', file), { env });
  const v = { dir, vault: env.TVAULT_DIR };
  const a = await startAgent(v);
  try {
    const from = logSize(v);
    const wall = { json: [], shell: [] };
    const worstGet = { json: [], shell: [] };
    for (let i = 0; i < 6; i++) {
      for (const kind of ['json', 'shell']) {
        let done = false;
        const gets = [];
        const poll = (async () => {
          while (!done) gets.push((await ask(a.sock, { v: 1, op: 'get', key: 'BIG_1' })).ms);
        })();
        const r = await ask(a.sock, { v: 1, op: 'getall', ...(kind === 'shell' && { reply: 'shell' }) });
        done = true;
        await poll;
        if (i > 0) (wall[kind].push(r.ms), worstGet[kind].push(Math.max(...gets)));
      }
    }
    const us = (reply) => median(agentMs(v, from, reply));
    for (const kind of ['json', 'shell'])
      console.log(
        `getall of 3,000 × 16 KB, ${kind === 'json' ? 'JSON       ' : 'reply shell'}: wall p50 ${median(wall[kind]).toFixed(0)} ms, agent us p50 ${us(kind === 'json' ? null : 'shell').toFixed(0)} ms, worst concurrent get p50 ${median(worstGet[kind]).toFixed(1)} ms`,
      );
    console.log(load());
  } finally {
    await a.stop();
    cleanup();
  }
}
