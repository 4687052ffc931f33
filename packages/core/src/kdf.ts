// Key derivation: KEK = Argon2id(passphrase, salt, params), never on the event loop: a native
// backend computes on threads of its own, hash-wasm in a worker thread.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { totalmem } from 'node:os';
import { TvaultError, usageError } from './errors';
import { type Argon2Backend, argon2Backend } from './kdf-backends';

export interface KdfParams {
  alg: 'argon2id';
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

/** The default; never weakened. Tests may choose cheaper parameters at init, and doctor flags them. */
export const DEFAULT_KDF: KdfParams = { alg: 'argon2id', memoryKiB: 64 * 1024, passes: 3, parallelism: 4 };

export function isWeak(p: KdfParams): boolean {
  return p.memoryKiB < DEFAULT_KDF.memoryKiB || p.passes < DEFAULT_KDF.passes;
}

export function checkKdfParams(p: KdfParams): KdfParams {
  const ok =
    p.alg === 'argon2id' &&
    Number.isInteger(p.memoryKiB) &&
    Number.isInteger(p.passes) &&
    Number.isInteger(p.parallelism) &&
    p.parallelism >= 1 &&
    p.parallelism <= 16 &&
    p.memoryKiB >= 8 * p.parallelism &&
    p.memoryKiB <= 4 * 1024 * 1024 &&
    p.passes >= 1 &&
    p.passes <= 64;
  if (!ok) throw new TvaultError('invalid Argon2id parameters (memory ≥ 8×lanes KiB, 1-64 passes, 1-16 lanes)');
  return p;
}

/**
 * The most memory hash-wasm's Argon2id can use: its WebAssembly module declares a maximum of
 * 32768 pages (2 GiB) for the block memory plus its own state, so a larger --kdf-memory would
 * fail mid-derivation. 1 MiB is left for that state.
 */
export const MAX_KDF_MEMORY_KIB = 2 * 1024 * 1024 - 1024;

/**
 * Parameters chosen for a new KEK (init, key rotate): valid, and memory the KDF can really get,
 * so that an impossible --kdf-memory is a usage error now rather than a failure mid-derivation
 * (or a vault that this machine cannot open): at most MAX_KDF_MEMORY_KIB, and at most half of
 * the machine's memory.
 */
export function checkNewKdfParams(p: KdfParams): KdfParams {
  try {
    checkKdfParams(p);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const limit = Math.min(MAX_KDF_MEMORY_KIB, Math.floor(totalmem() / 2 / 1024));
  if (p.memoryKiB > limit) throw usageError(`--kdf-memory ${p.memoryKiB} KiB is more than the KDF can allocate here (at most ${limit} KiB)`);
  return p;
}

/** The bundled worker sits next to the bundle that loads this module (dist/). */
function workerPath(): string {
  return join(__dirname, 'kdf-worker.cjs');
}

/**
 * Derives the 32-byte KEK with the fastest Argon2id backend that loads here (kdf-backends.ts);
 * `backend` picks one, for tests and benchmarks. A native backend derives from the caller's
 * thread (it computes on threads of its own and copies the passphrase synchronously, so no JS
 * copy of it is made): a worker's start cost ~150 M instructions (~30 ms of CPU) per unlock.
 * hash-wasm, which would block the event loop, runs in a worker thread (kdf-worker.cjs), which
 * gets a transferred copy of the passphrase and zeroes it. Either way the caller still owns
 * (and zeroes) its own buffer.
 */
export function deriveKek(passphrase: Uint8Array, salt: Uint8Array, p: KdfParams, backend?: Argon2Backend['name']): Promise<Buffer> {
  let chosen: Argon2Backend | undefined;
  try {
    chosen = argon2Backend(backend);
  } catch (err) {
    return Promise.reject(failure(err));
  }
  if (!chosen) return Promise.reject(failure(new Error(`the Argon2id backend '${backend}' is not available here`)));
  if (chosen.blocking) return deriveInWorker(passphrase, salt, p, chosen.name);
  const job = { passphrase, salt, memoryKiB: p.memoryKiB, passes: p.passes, parallelism: p.parallelism };
  return chosen.derive(job).then(
    (key) => Buffer.from(key.buffer, key.byteOffset, key.byteLength),
    (err: unknown) => Promise.reject(failure(err)),
  );
}

function failure(err: unknown): TvaultError {
  return err instanceof TvaultError ? err : new TvaultError(`key derivation failed: ${(err as Error)?.message ?? err}`);
}

function deriveInWorker(passphrase: Uint8Array, salt: Uint8Array, p: KdfParams, backend: Argon2Backend['name']): Promise<Buffer> {
  const pass = new Uint8Array(passphrase);
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerPath());
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      if (pass.byteLength) pass.fill(0); // once transferred to the worker it is detached: the worker zeroes it
      void worker.terminate();
      reject(failure(err));
    };
    worker.once('error', fail);
    // A worker that ends without answering (say, a kdf-worker.cjs caught half-written by an
    // upgrade) must fail the caller: a promise left pending would let the CLI exit 0 silently.
    worker.once('exit', (code) => fail(new Error(`the worker exited (code ${code}) without a key`)));
    worker.once('message', (msg: { key?: Uint8Array; error?: string }) => {
      if (!msg.key) return fail(new Error(msg.error ?? 'no key'));
      settled = true;
      void worker.terminate();
      const key = Buffer.from(msg.key);
      msg.key.fill(0);
      resolve(key);
    });
    worker.postMessage({ passphrase: pass, salt: new Uint8Array(salt), memoryKiB: p.memoryKiB, passes: p.passes, parallelism: p.parallelism, backend }, [
      pass.buffer,
    ]);
  });
}
