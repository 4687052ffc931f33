// Runs a blocking Argon2id backend (hash-wasm, kdf-backends.ts) off the caller's thread; the
// native backends need no worker (deriveKek runs them where it is called). The passphrase
// arrives in a transferred buffer and is zeroed here; the key goes back transferred. The worker exits afterwards, which releases the
// KDF's 64 MiB instead of leaving it resident in the agent.
import { parentPort } from 'node:worker_threads';
import { type Argon2Job, argon2Backend } from './kdf-backends';

async function derive(job: Argon2Job & { backend?: string }): Promise<void> {
  try {
    const backend = argon2Backend(job.backend);
    if (!backend) throw new Error(`the Argon2id backend '${job.backend}' is not available here`);
    const key = await backend.derive(job);
    job.passphrase.fill(0);
    parentPort!.postMessage({ key, backend: backend.name }, [key.buffer as ArrayBuffer]);
  } catch (err) {
    job.passphrase.fill(0);
    parentPort!.postMessage({ error: String((err as Error)?.message ?? err) });
  }
}

// derive() answers every failure itself (above), so its promise never rejects.
parentPort!.once('message', (job: Argon2Job & { backend?: string }) => void derive(job));
