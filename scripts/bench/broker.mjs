// Brokered exec benchmark (issue 15): a child that writes MB megabytes (default 100) with 50
// injected secrets, through `tvault run --broker` (masked) against `tvault run` (unmasked), as a
// throughput ratio (goal: masked >= 0.5x); and `tvault run --broker -- true` against
// `tvault run -- true` via the agent (goal <= 1.5x). Medians, ratios within this run.
// Usage: npm run build && node scripts/bench/broker.mjs [MB] [RUNS]
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, CHEAP_KDF, cleanEnv, compare, fmt, ratio, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

const MB = Number(process.argv[2] ?? 100);
const RUNS = Number(process.argv[3] ?? 5);
const SECRETS = 50;
const node = process.execPath;
const PASS = 'bench-passphrase';
const report = (name, value) => console.log(`${name.padEnd(58)} ${value}`);

const { dir, cleanup } = tempDir();
const env = { TVAULT_DIR: join(dir, 'v'), TVAULT_PASSPHRASE: PASS, TVAULT_NO_AGENT: '1' };
timeOnce(node, tvaultArgs('init', ...CHEAP_KDF), { env });
const file = join(dir, 'bulk.env');
writeFileSync(file, Array.from({ length: SECRETS }, (_, i) => `KEY_${i}=bench-secret-${i}-${'s'.repeat(20)}\n`).join(''));
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
  const [plain, masked] = compare(
    [
      { cmd: node, args: tvaultArgs('run', '--', node, '-e', writer), env: agentEnv },
      { cmd: node, args: tvaultArgs('run', '--broker', '--', node, '-e', writer), env: agentEnv },
    ],
    { runs: RUNS, warmup: 1 },
  );
  report(`${MB} MB, ${SECRETS} secrets: run (unmasked)`, `${fmt(plain)} (${((MB * 1000) / plain).toFixed(1)} MB/s)`);
  report(`${MB} MB, ${SECRETS} secrets: run --broker (masked)`, `${fmt(masked)} (${((MB * 1000) / masked).toFixed(1)} MB/s)`);
  report('masked throughput / unmasked (goal >= 0.50x)', ratio(plain, masked));
  const [t0, t1] = compare(
    [
      { cmd: node, args: tvaultArgs('run', '--', 'true'), env: agentEnv },
      { cmd: node, args: tvaultArgs('run', '--broker', '--', 'true'), env: agentEnv },
    ],
    { runs: RUNS * 3, warmup: 2 },
  );
  report('run -- true via the agent', fmt(t0));
  report('run --broker -- true', fmt(t1));
  report('broker / run (goal <= 1.50x)', ratio(t1, t0));
} finally {
  agent.kill('SIGTERM');
  cleanup();
}
