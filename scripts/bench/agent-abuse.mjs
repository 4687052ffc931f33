// Agent availability under abuse (issue 9): the latency of other clients' `get` (one client,
// 200 sequential requests, a connection each, as `tvault get` makes them) against a
// 3,000-secret project of 16 KB values, measured alone, while another client runs getall of
// the whole project in a loop (48 MB per answer), and while another process holds the vault's
// write lock (sqlite3 in BEGIN IMMEDIATE). Goal: p99 within a few ms of the quiet figure.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, ROOT, cleanEnv, percentile, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

const node = process.execPath;
const PASS = 'bench-passphrase';
const N = Number(process.env.BENCH_SECRETS ?? 3000);
const report = (name, value) => console.log(`${name.padEnd(58)} ${value}`);
const { agentCall } = createRequire(import.meta.url)(join(ROOT, 'packages/native'));

const { dir, cleanup } = tempDir();
const vault = join(dir, 'v');
const env = { TVAULT_DIR: vault, TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
let agent;
try {
  console.log(`tvault agent abuse benchmark — node ${process.version}, ${new Date().toISOString()}`);
  timeOnce(node, tvaultArgs('init', ...CHEAP_KDF), { env });
  const file = join(dir, 'big.env');
  writeFileSync(file, Array.from({ length: N }, (_, i) => `BIG_${i}=${String(i).padEnd(16 * 1024, 'x')}\n`).join(''));
  const t0 = performance.now();
  const imp = spawnSync(node, tvaultArgs('import', file), { env: cleanEnv(env), encoding: 'utf8' });
  if (imp.status !== 0) throw new Error(imp.stderr);
  report(`import of ${N} values of 16 KB`, `${((performance.now() - t0) / 1000).toFixed(1)} s`);
  agent = spawn(node, [BIN, 'agent', 'start', '--idle', '0'], {
    env: cleanEnv({ ...env, TVAULT_NO_AGENT: undefined, XDG_STATE_HOME: join(dir, 'state') }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((r) => agent.stdout.once('data', r));
  const sock = join(vault, 'agent.sock');
  const line = Buffer.from('{"v":1,"op":"get","key":"BIG_1","project":null}\n');

  /** 200 sequential gets, each on its own connection; yields between them so that the load can run. */
  async function gets(n = 200) {
    const lat = [];
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      const a = agentCall(sock, line, 30_000, 1 << 20);
      if (!a || a.toString('latin1', 0, 16) !== '{"v":1,"ok":true') throw new Error(`get failed: ${a}`);
      lat.push(performance.now() - s);
      await new Promise((r) => setTimeout(r, 2));
    }
    return `p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms, max ${Math.max(...lat).toFixed(1)} ms`;
  }

  report('get, quiet agent', await gets());

  // Another client (its own process): getall of the whole project, again and again, reading it.
  const loader = spawn(
    node,
    [
      '-e',
      `
    const net = require('net'); let n = 0;
    const once = () => { const c = net.connect(process.argv[1]); let bytes = 0;
      c.on('connect', () => c.end('{"v":1,"op":"getall","project":null}\\n'));
      c.on('data', (d) => (bytes += d.length));
      c.on('close', () => { if (bytes < ${N * 16 * 1024}) { console.error('short getall ' + bytes); process.exit(1); } n++; once(); }); };
    once(); process.on('SIGTERM', () => { console.log(n); process.exit(0); });`,
      sock,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let loaded = '';
  loader.stdout.on('data', (d) => (loaded += d));
  await new Promise((r) => setTimeout(r, 300));
  report(`get, while another client runs getall (${N} × 16 KB)`, await gets());
  loader.kill('SIGTERM');
  await new Promise((r) => loader.once('exit', r));
  report('  getalls completed meanwhile', loaded.trim());

  // Another process holds the write lock for the whole measurement.
  const holder = spawn('sqlite3', [join(vault, 'vault.db')], { stdio: ['pipe', 'pipe', 'inherit'] });
  holder.stdin.write("BEGIN IMMEDIATE;\nINSERT INTO meta (key, value) VALUES ('bench-lock', x'00');\nSELECT 'held';\n");
  await new Promise((r) => holder.stdout.once('data', r));
  report('get, while sqlite3 holds the write lock', await gets());
  holder.stdin.end('ROLLBACK;\n');
  await new Promise((r) => holder.once('exit', r));
  report('get, after the lock is released', await gets());
} finally {
  agent?.kill('SIGTERM');
  if (agent) await new Promise((r) => agent.once('exit', r));
  cleanup();
}
