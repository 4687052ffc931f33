// `npm run pack:cli [-- --out DIR]`: one self-contained tarball of the tvault CLI that
// `npm install -g --prefix ~/.local FILE` installs offline, with no registry and no root.
//
// The workspace packages are already inside the esbuild bundles (packages/cli/dist); what the
// bundles require at run time (the externals of scripts/bundles.mjs, and what they require) is
// copied into the tarball's node_modules and listed in bundleDependencies, so npm fetches
// nothing. The native modules (better-sqlite3, argon2, @tvault/native) come with their sources
// and with the binaries built here; at install, install-native.cjs keeps a binary that loads
// under the installing Node and rebuilds the others from source against that Node's own
// headers (offline). Their own install scripts, and the install-only dependencies those need
// (prebuild-install goes to the network), are left out.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { external } from './bundles.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages/cli');

/** Native modules: where their binaries are, and the dependencies only their install scripts use. */
const NATIVE = {
  'better-sqlite3': { binaries: ['build/Release/better_sqlite3.node'], installOnly: ['prebuild-install'], gyp: ['rebuild', '--release'] },
  // argon2 ships N-API prebuilds (node-gyp-build loads build/Release first, then prebuilds/):
  // npm ci builds it only where no prebuild fits, so either may be what this machine has.
  argon2: {
    binaries: ['build/Release/argon2.node'],
    prebuilt: [`prebuilds/${process.platform}-${process.arch}/argon2.${process.platform === 'linux' ? 'glibc.' : ''}node`],
    installOnly: ['cross-env'],
    gyp: ['rebuild'],
  },
  // programs: built with the addon, copied like its binaries, but executables (not required):
  // the native front end, which install-native.cjs puts in place as bin/tvault.
  '@tvault/native': { binaries: ['build/Release/tvault_native.node'], programs: ['build/Release/tvault_front'], installOnly: [], gyp: ['rebuild'] },
};

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** Node's lookup: the directory of package `name` as required from `fromDir`, or null. */
function findPackage(name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Every package the bundles need at run time: [{ name, dir, pkg, parent }], starting from the
 * externals as required from packages/cli/dist. A name already placed with another version is
 * nested under the package that needs it (as npm would).
 */
function runtimeClosure() {
  const placed = new Map(); // stage-relative install path -> { name, dir, pkg }
  const walk = (name, fromDir, parentPath, optional) => {
    const dir = findPackage(name, fromDir);
    if (!dir) {
      if (optional) return;
      throw new Error(`pack-cli: ${name} (needed from ${relative(ROOT, fromDir)}) is not installed; run npm ci`);
    }
    const pkg = readJson(join(dir, 'package.json'));
    let at = join('node_modules', name);
    const top = placed.get(at);
    if (top && top.dir === dir) return;
    if (top) at = join(parentPath, 'node_modules', name);
    if (placed.has(at)) return;
    placed.set(at, { name, dir, pkg });
    const skip = new Set(NATIVE[name]?.installOnly ?? []);
    for (const [field, opt] of [
      ['dependencies', false],
      ['optionalDependencies', true],
    ]) {
      for (const dep of Object.keys(pkg[field] ?? {})) if (!skip.has(dep)) walk(dep, dir, at, opt);
    }
  };
  for (const name of external) walk(name, join(CLI, 'dist'), '', false);
  return placed;
}

/** The platforms the tarball installs on (its package.json's `os`). */
const PLATFORMS = ['linux', 'darwin'];

/**
 * Prebuilt binaries (sodium-native ships 13 platforms, ~18 MB): only those of the platforms we
 * install on, and only Node's (`.bare` files are for the Bare runtime).
 */
function keepPrebuild([, platformArch, file]) {
  if (!PLATFORMS.includes(platformArch.split('-')[0])) return false;
  return file === undefined || !file.endsWith('.bare');
}

/** Copies one package: its files, without its node_modules or build tree (only the binaries). */
function copyPackage(name, dir, pkg, to) {
  cpSync(dir, to, {
    recursive: true,
    filter: (src) => {
      const rel = relative(dir, src).split('/');
      if (rel[0] === 'prebuilds' && rel.length > 1 && !keepPrebuild(rel)) return false;
      return rel[0] !== 'node_modules' && rel[0] !== 'build' && rel[0] !== '.git';
    },
  });
  const native = NATIVE[name];
  const out = { ...pkg };
  delete out.files; // we chose the files; npm pack must not drop the binaries
  delete out.devDependencies;
  if (native) {
    // The binaries this machine has: the built ones, else the module's own prebuilds.
    const have = (list) => list?.every((bin) => existsSync(join(dir, bin)));
    if (!have(native.binaries) && have(native.prebuilt)) native.binaries = native.prebuilt;
    for (const bin of [...native.binaries, ...(native.programs ?? [])]) {
      if (!existsSync(join(dir, bin))) throw new Error(`pack-cli: ${name} is not built (${bin}); run npm ci`);
      mkdirSync(dirname(join(to, bin)), { recursive: true });
      cpSync(join(dir, bin), join(to, bin));
    }
    // node-gyp's record of the N-API version it built for: core's KDF loads argon2's compiled
    // binding below Node 24 only with it (kdf-backends.ts), so that one built for a newer Node is
    // never loaded (it would segfault Node 20).
    const record = join('build', 'config.gypi');
    if (native.binaries.some((b) => b.startsWith('build/')) && existsSync(join(dir, record))) cpSync(join(dir, record), join(to, record));
    out.scripts = {}; // install-native.cjs builds it, offline
    out.gypfile = false; // and npm must not run node-gyp on its own
    for (const dep of native.installOnly) delete out.dependencies?.[dep];
  }
  writeFileSync(join(to, 'package.json'), `${JSON.stringify(out, null, 2)}\n`);
}

/** Builds the tarball into outDir; returns its path. */
export function packCli(outDir = ROOT) {
  const cliPkg = readJson(join(CLI, 'package.json'));
  for (const f of ['tvault.cjs', 'cli.cjs', 'agent.cjs', 'kdf-worker.cjs', 'mcp.cjs']) {
    if (!existsSync(join(CLI, 'dist', f))) throw new Error(`pack-cli: packages/cli/dist/${f} is missing; run npm run build`);
  }
  const stage = mkdtempSync(join(tmpdir(), 'tvault-pack-'));
  try {
    cpSync(join(CLI, 'bin'), join(stage, 'bin'), { recursive: true });
    // The JS launcher also as tvault-node: the native front end, once install-native.cjs has put
    // it in place of bin/tvault, executes it for everything it does not answer itself.
    cpSync(join(CLI, 'bin/tvault'), join(stage, 'bin/tvault-node'));
    cpSync(join(CLI, 'dist'), join(stage, 'dist'), { recursive: true, filter: (src) => !src.startsWith(join(CLI, 'dist/front')) });
    cpSync(join(CLI, 'README.md'), join(stage, 'README.md'));
    cpSync(join(ROOT, 'scripts/install-native.cjs'), join(stage, 'install-native.cjs'));
    cpSync(join(ROOT, 'scripts/node-headers/index.cjs'), join(stage, 'node-headers.cjs'));
    const closure = runtimeClosure();
    const bundled = {};
    for (const [at, { name, dir, pkg }] of closure) {
      copyPackage(name, dir, pkg, join(stage, at));
      if (at === join('node_modules', name)) bundled[name] = pkg.version;
    }
    const native = Object.fromEntries(
      Object.entries(NATIVE).map(([name, n]) => [name, { binaries: n.binaries, gyp: n.gyp, ...(n.programs && { programs: n.programs }) }]),
    );
    writeFileSync(join(stage, 'native.json'), `${JSON.stringify(native, null, 2)}\n`);
    const pkg = {
      name: cliPkg.name,
      version: cliPkg.version,
      description: cliPkg.description,
      license: readJson(join(ROOT, 'package.json')).license,
      engines: readJson(join(ROOT, 'package.json')).engines,
      os: PLATFORMS,
      bin: cliPkg.bin,
      scripts: { install: 'node install-native.cjs' },
      dependencies: bundled,
      bundleDependencies: Object.keys(bundled),
    };
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    mkdirSync(outDir, { recursive: true });
    const r = spawnSync('npm', ['pack', '--json', '--pack-destination', resolve(outDir)], { cwd: stage, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pack-cli: npm pack failed: ${r.stderr}`);
    const [info] = JSON.parse(r.stdout);
    return join(resolve(outDir), info.filename);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--out');
  const file = packCli(i > 0 ? process.argv[i + 1] : ROOT);
  console.log(file);
}
