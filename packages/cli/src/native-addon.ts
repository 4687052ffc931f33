// The native addon as the entry's hot path loads it: by its fixed place beside this bundle,
// without Node's node_modules walk. Resolving the package name costs a dozen stats up the tree,
// reading two package.json files, a realpath of the workspace symlink and compiling the
// package's index.js (~2 M instructions of `tvault get`, ~2 %). The addon itself is the same
// file either way (Node caches it by its real path, so a later require('@tvault/native') in
// the full CLI gets this very instance). Where the file is not at either place (another
// layout), or does not load, this is require('@tvault/native'), whose loader explains the
// failure and never falls back to anything else (fail closed).
import { statSync } from 'node:fs';
import { join } from 'node:path';

type Native = typeof import('@tvault/native');

/** Where the addon lies relative to this file: the packed CLI (dist/ beside node_modules/), then the repository (packages/cli/{dist,src}/ beside packages/native/). */
const PLACES = [join('..', 'node_modules', '@tvault', 'native'), join('..', '..', 'native')].map((pkg) =>
  join(__dirname, pkg, 'build', 'Release', 'tvault_native.node'),
);

let loaded: Native | undefined;

export function nativeAddon(): Native {
  if (loaded) return loaded;
  for (const file of PLACES) {
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
    try {
      loaded = require(file) as Native;
      return loaded;
    } catch {
      break; // the package's loader says why
    }
  }
  loaded = require('@tvault/native') as Native;
  return loaded;
}
