// The Argon2id implementations the KDF worker can use, fastest first. All of them compute
// RFC 9106 Argon2id v1.3 and give identical keys for identical inputs (test/kdf-backends.test.mjs
// checks them against each other, the RFC's vector and the reference `argon2` CLI):
//
//   node:crypto  Node's own (24.7+), OpenSSL's Argon2 with its lanes on threads
//   argon2       the npm package: the reference C implementation, lanes on threads, prebuilt
//   hash-wasm    WebAssembly, portable, runs the lanes one after another (about 2.5x slower at
//                4 lanes on 2 cores: docs/PERFORMANCE.md); the fallback that always loads
//
// A native backend that fails to load (no prebuilt binary for this platform, a broken install)
// is skipped, never fatal: the portable one derives the same key.

export interface Argon2Job {
  passphrase: Uint8Array;
  salt: Uint8Array;
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

export interface Argon2Backend {
  name: 'node:crypto' | 'argon2' | 'hash-wasm';
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

function argon2Package(): Argon2Backend | null {
  let lib: typeof import('argon2');
  try {
    lib = require('argon2');
  } catch {
    return null; // no binary for this platform: the portable backend takes over
  }
  return {
    name: 'argon2',
    derive: async (j) =>
      owned(
        await lib.hash(Buffer.from(j.passphrase.buffer, j.passphrase.byteOffset, j.passphrase.byteLength), {
          raw: true,
          type: lib.argon2id,
          salt: Buffer.from(j.salt),
          memoryCost: j.memoryKiB,
          timeCost: j.passes,
          parallelism: j.parallelism,
          hashLength: 32,
        }),
      ),
  };
}

function hashWasm(): Argon2Backend {
  return {
    name: 'hash-wasm',
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
  return [nodeCrypto(), argon2Package(), hashWasm()].filter((b): b is Argon2Backend => b !== null);
}
