// Runs Argon2id off the caller's thread. The passphrase arrives in a transferred buffer and is
// zeroed here; the key goes back transferred. The worker exits afterwards, which releases the
// KDF's 64 MiB of WebAssembly memory instead of leaving it resident in the agent.
import { parentPort } from 'node:worker_threads';
import { argon2id } from 'hash-wasm';

interface Job {
  passphrase: Uint8Array;
  salt: Uint8Array;
  memoryKiB: number;
  passes: number;
  parallelism: number;
}

parentPort!.once('message', async (job: Job) => {
  try {
    const key = (await argon2id({
      password: job.passphrase,
      salt: job.salt,
      memorySize: job.memoryKiB,
      iterations: job.passes,
      parallelism: job.parallelism,
      hashLength: 32,
      outputType: 'binary',
    })) as Uint8Array;
    job.passphrase.fill(0);
    parentPort!.postMessage({ key }, [key.buffer as ArrayBuffer]);
  } catch (err) {
    job.passphrase.fill(0);
    parentPort!.postMessage({ error: String((err as Error)?.message ?? err) });
  }
});
