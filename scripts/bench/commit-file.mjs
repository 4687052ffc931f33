// Committable secrets files (issue 13): `open` and `run --from` of an N-key file by identity
// (TVAULT_IDENTITY_KEY, no vault), and `seal --update` after one change (a cheap-KDF vault, so
// the KDF is not what is measured), as ratios against `node -e 0` measured in the same run.
// Usage: node scripts/bench/commit-file.mjs [N=1000] [runs=11]. Figures go to docs/PERFORMANCE.md.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHEAP_KDF, compare, fmt, ratio, tempDir, timeOnce, tvaultArgs } from './lib.mjs';

const N = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 11);
const node = process.execPath;
const { dir, cleanup } = tempDir();
try {
  const vaultEnv = { TVAULT_DIR: join(dir, 'vault'), TVAULT_PASSPHRASE: 'bench-passphrase', TVAULT_NO_AGENT: '1' };
  timeOnce(node, tvaultArgs('init', ...CHEAP_KDF), { env: vaultEnv });
  const dotenv = join(dir, 'in.env');
  writeFileSync(dotenv, Array.from({ length: N }, (_, i) => `KEY_${i}=value-${i}-${'x'.repeat(40)}\n`).join(''));
  timeOnce(node, tvaultArgs('import', dotenv), { env: vaultEnv });
  execFileSync('age-keygen', ['-o', join(dir, 'id.key')], { stdio: 'ignore' });
  const key = readFileSync(join(dir, 'id.key'), 'utf8').trim().split('\n').pop();
  const recipient = execFileSync('age-keygen', ['-y', join(dir, 'id.key')], { encoding: 'utf8' }).trim();
  const file = join(dir, 'secrets.tvault.env');
  timeOnce(node, tvaultArgs('seal', '-r', recipient, '-o', file), { env: vaultEnv });
  const ciEnv = { TVAULT_IDENTITY_KEY: key, TVAULT_DIR: join(dir, 'none') };
  // seal --update after one change: each run changes KEY_0 first (the change is not timed).
  let n = 0;
  const update = () => {
    timeOnce(node, tvaultArgs('set', 'KEY_0', '--stdin'), { env: vaultEnv, input: `changed-${n++}` });
    return timeOnce(node, tvaultArgs('seal', '--update', file), { env: { ...vaultEnv, TVAULT_IDENTITY_KEY: key } });
  };
  const [base, open, run] = compare(
    [
      { cmd: node, args: ['-e', '0'] },
      { cmd: node, args: tvaultArgs('open', file), env: ciEnv },
      { cmd: node, args: tvaultArgs('run', '--from', file, '--', 'true'), env: ciEnv },
    ],
    { runs: RUNS, warmup: 1 },
  );
  const updates = Array.from({ length: RUNS }, update).sort((a, b) => a - b);
  const upd = updates[updates.length >> 1];
  console.log(`node -e 0                                   ${fmt(base)}`);
  console.log(`open, ${N} keys, by identity                ${fmt(open)}  ${ratio(open, base)}`);
  console.log(`run --from, ${N} keys, by identity          ${fmt(run)}  ${ratio(run, base)}`);
  console.log(`seal --update after one change, ${N} keys   ${fmt(upd)}  ${ratio(upd, base)} (cheap KDF; includes one unlock)`);
} finally {
  cleanup();
}
