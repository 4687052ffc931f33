// The Argon2id implementations deriveKek (kdf.ts) can use, fastest first. All of them compute
// RFC 9106 Argon2id v1.3 and give identical keys for identical inputs (test/kdf-backends.test.mjs
// checks them against each other, the RFC's vector and the reference `argon2` CLI):
//
//   argon2       the npm package's native binding, loaded directly (below): the reference C
//                implementation, its lanes on threads of its own
//   node:crypto  Node's own (24.7+), OpenSSL's Argon2; ~1.1x the binding's CPU time at
//                64 MiB / 3 / 4 on 2 cores (docs/PERFORMANCE.md), so second
//   hash-wasm    WebAssembly, portable, runs the lanes one after another on the calling thread
//                (about 2.5x slower at 4 lanes on 2 cores); the fallback that always loads, and
//                the only one deriveKek runs in a worker thread (`blocking`)
//
// A native backend that fails to load (no binary for this platform, a broken install) is
// skipped, never fatal: the portable one derives the same key.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface Argon2Job {
  passphrase: Uint8Array;
  salt: Uint8Array;
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

export interface Argon2Backend {
  name: 'node:crypto' | 'argon2' | 'hash-wasm';
  /**
   * Whether derive() computes on the calling JS thread (hash-wasm), which would block the event
   * loop for the whole derivation: deriveKek runs such a backend in a worker thread. The native
   * ones compute on threads of their own and only start and finish on the caller's.
   */
  blocking: boolean;
  /** A fresh 32-byte key in its own ArrayBuffer (the worker transfers it). */
  derive(job: Argon2Job): Promise<Uint8Array>;
}

type NodeArgon2 = (
  alg: 'argon2id',
  p: { message: Uint8Array; nonce: Uint8Array; parallelism: number; tagLength: number; memory: number; passes: number },
  cb: (err: Error | null, key: Buffer) => void,
) => void;

function nodeCrypto(): Argon2Backend | null {
  const argon2 = (require('node:crypto') as { argon2?: NodeArgon2 }).argon2;
  if (typeof argon2 !== 'function') return null;
  return {
    name: 'node:crypto',
    blocking: false,
    derive: (j) =>
      new Promise((resolve, reject) =>
        argon2(
          'argon2id',
          { message: j.passphrase, nonce: j.salt, parallelism: j.parallelism, tagLength: 32, memory: j.memoryKiB, passes: j.passes },
          (err, key) => (err ? reject(err) : resolve(owned(key))),
        ),
      ),
  };
}

/** The native binding of the npm `argon2` package (argon2.cpp): one function, no JS wrapper. */
interface Argon2Binding {
  hash(args: {
    password: Buffer;
    salt: Buffer;
    secret: Buffer;
    data: Buffer;
    hashLength: number;
    m: number;
    t: number;
    p: number;
    version: number;
    type: number;
  }): Promise<Buffer>;
}

/**
 * The binding files to try, in order, for the package in `dir`: the one `npm ci` compiled
 * (build/Release), when it was built for an N-API version this Node has; then, on Node 24 and
 * later only, the prebuilt one shipped in the tarball. A binding that declares a newer N-API
 * version than the running Node's crashes Node 20 as it loads instead of being refused: the
 * prebuilt linux-x64 binary of argon2 0.45.1 declares N-API 10 and segfaults Node 20.20 (N-API 9)
 * in napi_module_register_by_symbol (docs/DEPENDENCIES.md), and a build/Release compiled by a
 * newer Node (after a switch of Node versions) would too. node-gyp records the version it built
 * for in build/config.gypi (`napi_build_version`); without that record the compiled binding is
 * trusted only on Node 24+ (N-API 10). A crash is worse than a slow KDF: whatever is refused
 * here, hash-wasm derives the same key. Exported for the tests.
 */
export function argon2BindingFiles(
  dir: string,
  nodeMajor = Number(process.versions.node.split('.')[0]),
  platform: string = process.platform,
  arch: string = process.arch,
  napi = Number(process.versions.napi),
): string[] {
  const files: string[] = [];
  const built = napiBuildVersion(join(dir, 'build', 'config.gypi'));
  if (built === null ? nodeMajor >= 24 : built <= napi) files.push(join(dir, 'build', 'Release', 'argon2.node'));
  if (nodeMajor >= 24) {
    const libc = platform === 'linux' && existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
    const pre = join(dir, 'prebuilds', `${platform}-${arch}`);
    try {
      for (const f of readdirSync(pre).sort()) if (f.startsWith('argon2.') && f.endsWith(`.${libc}.node`)) files.push(join(pre, f));
    } catch {
      // no prebuilt binary for this platform
    }
  }
  return files;
}

/** The N-API version node-gyp built for, from its build/config.gypi; null if not recorded. */
function napiBuildVersion(configGypi: string): number | null {
  let text: string;
  try {
    text = readFileSync(configGypi, 'utf8');
  } catch {
    return null;
  }
  const m = /"napi_build_version":\s*"(\d+)"/.exec(text);
  return m ? Number(m[1]) : null;
}

let binding: Argon2Binding | null | undefined;

/**
 * Loads the binding directly rather than through the package's argon2.cjs, which copies the
 * password into a fresh Buffer (`Buffer.from(password)`) that nobody zeroes, and loads
 * node-gyp-build and @phc/format besides. The binding itself copies the password into a C++
 * vector that libargon2 wipes (ARGON2_FLAG_CLEAR_PASSWORD) before the first pass.
 */
function argon2Binding(): Argon2Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  let dir: string;
  try {
    dir = dirname(require.resolve('argon2/package.json'));
  } catch {
    return null; // not installed: the portable backend takes over
  }
  for (const file of argon2BindingFiles(dir)) {
    if (!existsSync(file)) continue;
    try {
      const b = require(file) as Argon2Binding;
      if (typeof b?.hash === 'function') return (binding = b);
    } catch {
      // built for another platform or a broken install: try the next, then hash-wasm
    }
  }
  return null;
}

function argon2Package(): Argon2Backend | null {
  const lib = argon2Binding();
  if (!lib) return null;
  return {
    name: 'argon2',
    blocking: false,
    derive: async (j) =>
      owned(
        await lib.hash({
          // A view of the caller's bytes, not a copy: the binding copies them synchronously.
          password: Buffer.from(j.passphrase.buffer, j.passphrase.byteOffset, j.passphrase.byteLength),
          salt: Buffer.from(j.salt),
          secret: Buffer.alloc(0),
          data: Buffer.alloc(0),
          hashLength: 32,
          m: j.memoryKiB,
          t: j.passes,
          p: j.parallelism,
          version: 0x13,
          type: 2, // Argon2id
        }),
      ),
  };
}

function hashWasm(): Argon2Backend {
  return {
    name: 'hash-wasm',
    blocking: true,
    derive: async (j) => {
      const { argon2id } = require('hash-wasm') as typeof import('hash-wasm');
      const key = (await argon2id({
        password: j.passphrase,
        salt: j.salt,
        memorySize: j.memoryKiB,
        iterations: j.passes,
        parallelism: j.parallelism,
        hashLength: 32,
        outputType: 'binary',
      })) as Uint8Array;
      return key;
    },
  };
}

/** Copies a library's key into a buffer of its own and zeroes the library's copy. */
function owned(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length);
  out.set(key);
  key.fill(0);
  return out;
}

/** The backends that load here, fastest first; the last is always hash-wasm. */
export function argon2Backends(): Argon2Backend[] {
  return [argon2Package(), nodeCrypto(), hashWasm()].filter((b): b is Argon2Backend => b !== null);
}

/**
 * The backend called `name`, or the fastest that loads here; undefined if `name` does not load.
 * Asking for hash-wasm loads no native code (the KDF worker does, once the caller chose it).
 */
export function argon2Backend(name?: string): Argon2Backend | undefined {
  if (name === 'hash-wasm') return hashWasm();
  const all = argon2Backends();
  return name ? all.find((b) => b.name === name) : all[0];
}
