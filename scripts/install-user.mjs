// `npm run install:user [-- --prefix DIR]`: installs the built CLI for this user, without root:
// packs it (scripts/pack-cli.mjs) and runs `npm install --global --prefix DIR --offline` on the
// tarball, so `tvault` lands in DIR/bin (default ~/.local, whose bin most distributions put on
// PATH). Uninstall: `npm uninstall -g --prefix ~/.local @tvault/cli`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { packCli } from './pack-cli.mjs';

const i = process.argv.indexOf('--prefix');
const prefix = resolve(i > 0 ? process.argv[i + 1] : join(homedir(), '.local'));
const out = mkdtempSync(join(tmpdir(), 'tvault-install-'));
try {
  const tarball = packCli(out);
  const r = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--allow-scripts=@tvault/cli', tarball], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`install:user: npm install failed (exit ${r.status})`);
    process.exit(1);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
const bin = join(prefix, 'bin');
console.log(`installed ${join(bin, 'tvault')}`);
if (!(process.env.PATH ?? '').split(delimiter).includes(bin)) {
  console.log(`${bin} is not on your PATH; add it, e.g.: echo 'export PATH="${bin}:$PATH"' >> ~/.profile`);
}
