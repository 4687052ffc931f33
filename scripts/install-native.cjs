'use strict';
// The install script of the packed CLI (scripts/pack-cli.mjs puts it in the tarball): each native
// module arrives with its sources and with a binary built where the tarball was made. A binary
// that loads under the installing Node is kept; any other (another Node version, platform or
// libc), or every one with `npm install --build-from-source`, is rebuilt from source with npm's
// node-gyp against the installing Node's own headers, so nothing is downloaded. Needs a C/C++
// compiler, make and python3 only when it rebuilds.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { hasHeaders, localNodeDir } = require('./node-headers.cjs');

const native = JSON.parse(fs.readFileSync(path.join(__dirname, 'native.json'), 'utf8'));
const fromSource = /^(1|true)$/i.test(process.env.npm_config_build_from_source || '');

/** Whether every binary of a module loads in a fresh process of this Node. */
function loads(dir, binaries) {
  const code = 'for (const f of process.argv.slice(1)) require(f)';
  const files = binaries.map((b) => path.join(dir, b));
  if (!files.every((f) => fs.existsSync(f))) return false;
  return spawnSync(process.execPath, ['-e', code, ...files], { stdio: 'ignore' }).status === 0;
}

function rebuild(name, dir, gypArgs) {
  const nodeGyp = process.env.npm_config_node_gyp;
  if (!nodeGyp || !fs.existsSync(nodeGyp)) {
    throw new Error(`cannot rebuild ${name}: npm's node-gyp is not known (install this package with npm)`);
  }
  // A configured nodedir wins when it holds this Node's headers (a ~/.npmrc nodedir may be
  // another Node's); otherwise the installing Node's own; otherwise node-gyp downloads them.
  const configured = process.env.npm_config_nodedir;
  const nodedir = configured && hasHeaders(configured) ? configured : (localNodeDir() ?? configured);
  const args = [nodeGyp, ...gypArgs, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  console.log(`tvault: building ${name} from source${nodedir ? ` against the headers in ${nodedir}` : ''}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`building ${name} failed (node-gyp exited ${r.status}); it needs a C/C++ compiler, make and python3`);
}

/**
 * The native front end (packages/native/src/front.c) becomes bin/tvault, in front of the JS
 * launcher (bin/tvault-node), once a copy of it has run here: copied beside, run (`--version`, which
 * it hands to the JS CLI: the same answer as the launcher's), then renamed over bin/tvault. If any
 * step fails, bin/tvault stays the JS launcher, which does everything, only with a Node start.
 */
function installFront() {
  const front = native['@tvault/native']?.programs?.[0];
  const built = front && path.join(__dirname, 'node_modules', '@tvault/native', front);
  const bin = path.join(__dirname, 'bin');
  const tmp = path.join(bin, `.tvault-front-${process.pid}`);
  if (!built || !fs.existsSync(built) || !fs.existsSync(path.join(bin, 'tvault-node'))) return;
  try {
    fs.copyFileSync(built, tmp);
    fs.chmodSync(tmp, 0o755);
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
    const want = spawnSync(process.execPath, [path.join(bin, 'tvault-node'), '--version'], { encoding: 'utf8', env });
    const got = spawnSync(tmp, ['--version'], { encoding: 'utf8', env });
    if (got.status !== 0 || want.status !== 0 || got.stdout !== want.stdout)
      throw new Error(`it does not run here (${(got.error?.message ?? got.stderr).trim()})`);
    fs.renameSync(tmp, path.join(bin, 'tvault'));
    console.log('tvault: the native front end is bin/tvault (get and env through an agent need no Node start)');
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    console.log(`tvault: keeping the JS launcher as bin/tvault: the native front end ${err.message}`);
  }
}

try {
  for (const [name, { binaries, gyp }] of Object.entries(native)) {
    const dir = path.join(__dirname, 'node_modules', name);
    if (!fromSource && loads(dir, binaries)) {
      console.log(`tvault: ${name}: the prebuilt binary loads under Node ${process.version}`);
      continue;
    }
    rebuild(name, dir, gyp);
    if (!loads(dir, binaries)) throw new Error(`${name} was rebuilt but does not load under Node ${process.version}`);
  }
  installFront();
} catch (err) {
  console.error(`tvault: ${err.message}`);
  process.exit(1);
}
