// What the agent benchmarks share (agent.mjs, goals.mjs): a vault of n secrets, an agent started
// on it with a log that does not rotate, the agent's own time per request from that log, and the
// 8-client load (agent-load.mjs) against any socket.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanEnv, percentile, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

const node = process.execPath;
export const PASS = 'bench-passphrase';

/** A vault with n secrets KEY_0..KEY_{n-1} in its default project; kdfArgs for `tvault init`. */
export function makeVault(n, kdfArgs = []) {
  const { dir, cleanup } = tempDir();
  const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
  timeOnce(node, tvaultArgs('init', ...kdfArgs), { env });
  const file = join(dir, 'bulk.env');
  writeFileSync(file, Array.from({ length: n }, (_, i) => `KEY_${i}=value-${i}-${'x'.repeat(40)}\n`).join(''));
  timeOnce(node, tvaultArgs('import', file), { env });
  return { dir, vault: env.TVAULT_DIR, env, cleanup };
}

export async function startAgent(v, extra = []) {
  // A log that does not rotate during the run: serviceTimes() reads the requests' durations from it.
  const child = spawn(node, [BIN, 'agent', 'start', '--idle', '0', '--log-max-size', '1G', ...extra], {
    env: cleanEnv({ TVAULT_DIR: v.vault, TVAULT_PASSPHRASE: PASS, XDG_STATE_HOME: join(v.dir, 'state') }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sock = join(v.vault, 'agent.sock');
  for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(sock)) throw new Error('agent did not start');
  await new Promise((r) => setTimeout(r, 200));
  return { child, sock, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

export function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const logPath = (v) => join(v.dir, 'state/tvault/agent.log');

/**
 * The agent's own time per request (the log's `us`: parse, check, decrypt, audit row, answer),
 * for the lines of op `op` written after byte `from` (and with `reply`, only the requests that
 * asked for that raw reply; `null`: only those that asked for none): what the agent costs, apart
 * from the load generator and the scheduling of both on 2 cores, which the end-to-end latency
 * includes.
 */
export function serviceTimes(v, from, op, reply) {
  const text = readFileSync(logPath(v)).subarray(from).toString('utf8');
  const us = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((e) => e.ev === 'request' && (!op || e.op === op) && (reply === undefined || (e.reply ?? null) === reply))
    .map((e) => e.us / 1000);
  return { n: us.length, p50: percentile(us, 50), p99: percentile(us, 99) };
}
export const logSize = (v) => statSync(logPath(v)).size;

/**
 * 8 clients (threads, a connection per request) for `seconds`, after 1 s of the same load
 * unmeasured (JIT, the WAL file's first growth). mark() is called between the two (a log offset).
 */
export function load(sock, req, { env = {}, mark = () => 0, seconds = 3, warmup = 1, clients = 8 } = {}) {
  const run = (s) =>
    spawnSync(node, [join(import.meta.dirname, 'agent-load.mjs'), sock, String(clients), String(s), JSON.stringify(req)], {
      env: cleanEnv(env),
      encoding: 'utf8',
    });
  if (warmup) run(warmup);
  const logFrom = mark();
  const r = run(seconds);
  if (r.status !== 0) throw new Error(r.stderr);
  const out = JSON.parse(r.stdout);
  if (!out.requests) throw new Error(`no request to ${sock} completed in ${seconds} s (${out.errors} failed)`);
  return { ...out, logFrom };
}
