// Auto-load (`eval "$(tvault hook bash --auto)"`) with a warm agent, in one bash process:
// - a prompt where the directory did not change: _tvault_auto against an empty function (the
//   floor); it must start nothing, so the goal is a few microseconds, not milliseconds;
// - entering a project's tree (one `tvault hook bash --load`) and leaving it, against
//   `node -e 0` and the fast path's `tvault env` (the floors a start of tvault cannot beat).
// RUNS=N entries of the tree (default 15) and 13×N prompts. Figures: docs/PERFORMANCE.md.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, CHEAP_KDF, cleanEnv, fmt, ratio, tempDir, timeMedian, timeOnce, tvaultArgs } from './lib.mjs';

const node = process.execPath;
const runs = Number(process.env.RUNS ?? 15);
const prompts = runs * 13;
const { dir, cleanup } = tempDir();
const vault = join(dir, 'v');
const env = cleanEnv({ TVAULT_DIR: vault, TVAULT_PASSPHRASE: 'bench passphrase, long enough', TVAULT_NO_AGENT: '1' });
let agent;
try {
  timeOnce(node, tvaultArgs('init', ...CHEAP_KDF), { env });
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, 'sub'), { recursive: true });
  writeFileSync(join(repo, 'tvault.toml'), 'project = "default"\n');
  for (let i = 0; i < 20; i++) spawnSync(node, tvaultArgs('set', `KEY_${i}`, '--stdin'), { env, input: `value-${i}` });
  spawnSync(node, tvaultArgs('allow', join(repo, 'tvault.toml')), { env });
  agent = spawn(node, tvaultArgs('agent', 'start', '--idle', '0'), {
    env: cleanEnv({ TVAULT_DIR: vault, TVAULT_PASSPHRASE: env.TVAULT_PASSPHRASE }),
    stdio: 'pipe',
  });
  await new Promise((resolve) => agent.stdout.once('data', resolve));
  const warm = cleanEnv({ TVAULT_DIR: vault, PATH: `${dirname(BIN)}:${process.env.PATH}` });

  const script = `
eval "$(tvault hook bash --auto 2>/dev/null)"
_tvault_none() { :; }
t() { local s=$EPOCHREALTIME; for ((i = 0; i < $2; i++)); do $1; done; echo "$(( (\${EPOCHREALTIME/./} - \${s/./}) / $2 ))"; }
cd '${repo}/sub'; _tvault_auto
echo "prompt $(t _tvault_auto ${prompts}) $(t _tvault_none ${prompts})"
enter() { cd '${repo}/sub'; _tvault_auto; cd '${dir}'; _tvault_auto; }
enter
echo "enter $(t enter ${runs})"
[ -n "\${KEY_3-}" ] && echo "leaked: KEY_3 still set after leaving"
cd '${repo}'; _tvault_auto; echo "loaded \${KEY_3-none}"
`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { env: warm, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash: ${r.stderr}`);
  const got = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], l.split(' ').slice(1).map(Number)]),
  );
  if (!/loaded value-3/.test(r.stdout)) throw new Error(`the project was not loaded: ${r.stdout}${r.stderr}`);
  const [promptUs, noneUs] = got.prompt;
  const enterMs = got.enter[0] / 1000;
  const nodeMs = timeMedian(node, ['-e', '0'], { runs });
  const envMs = timeMedian(node, tvaultArgs('env'), { runs, env: warm });
  console.log(`${'a prompt, same directory: _tvault_auto'.padEnd(58)} ${promptUs} µs (empty function: ${noneUs} µs)`);
  console.log(`${'entering and leaving the tree (one tvault start)'.padEnd(58)} ${fmt(enterMs)}`);
  console.log(`${'  tvault env through the fast path (warm agent)'.padEnd(58)} ${fmt(envMs)}`);
  console.log(`${'  node -e 0'.padEnd(58)} ${fmt(nodeMs)}`);
  console.log(`${'  entering / node -e 0'.padEnd(58)} ${ratio(enterMs, nodeMs)}`);
  console.log(`${'  a prompt starts nothing (goal < 1 ms)'.padEnd(58)} ${promptUs < 1000 ? 'met' : 'MISSED'}`);
} finally {
  agent?.kill('SIGTERM');
  cleanup();
}
