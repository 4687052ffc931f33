// The age format (https://age-encryption.org/v1), through FiloSottile's TypeScript implementation
// (npm age-encryption). This module is the entry of its own bundle, dist/age.cjs (see
// scripts/bundles.mjs): the library is ESM and costs tens of milliseconds to load, so core
// loads it only when an identity is used (lazy.ts, loadAge), never on the agent's read path.
// Only X25519 keys are accepted: the post-quantum hybrid type the library can also generate is
// refused by the age 1.1 that Debian ships, so a key made here would not interoperate.
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { bech32 } from '@scure/base';
import { x25519 } from '@noble/curves/ed25519.js';

/** Why a key was refused, without ever repeating the key itself. */
export class AgeInputError extends Error {}

const RECIPIENT_RE = /^age1[02-9ac-hj-np-z]+$/;
const IDENTITY_RE = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]+$/;

/**
 * Checks an `age1…` X25519 recipient: its Bech32 checksum, its length and that the point is not
 * of low order (a recipient whose shared secret would be all zeros, which age must refuse).
 * Returns it in its canonical (lower-case) form.
 */
export function checkRecipient(text: string): string {
  const s = text.trim();
  if (/^age1pq1/i.test(s)) throw new AgeInputError('post-quantum (age1pq1…) recipients are not supported: use an X25519 key (age1…)');
  if (!RECIPIENT_RE.test(s.toLowerCase()) || s !== s.toLowerCase()) throw new AgeInputError('not an age X25519 recipient (age1…)');
  let bytes: Uint8Array;
  try {
    const res = bech32.decodeToBytes(s as `${string}1${string}`);
    if (res.prefix !== 'age') throw new Error('prefix');
    bytes = res.bytes;
  } catch {
    throw new AgeInputError('the recipient is not valid Bech32 (a bad checksum or a typo)');
  }
  if (bytes.length !== 32) throw new AgeInputError('the recipient is not a 32-byte X25519 key');
  if (isLowOrder(bytes)) throw new AgeInputError('the recipient is a low-order point (no key can be agreed with it)');
  return s;
}

/** A point of low order gives an all-zero shared secret for every scalar; 8 (the cofactor) is enough. */
function isLowOrder(point: Uint8Array): boolean {
  const scalar = new Uint8Array(32);
  scalar[0] = 8;
  try {
    const out = x25519.scalarMult(scalar, point);
    return out.every((b) => b === 0);
  } catch {
    return true; // noble refuses an all-zero result
  }
}

/** Checks an `AGE-SECRET-KEY-1…` identity (X25519 only) and returns its recipient. */
export async function recipientOf(identity: string): Promise<string> {
  if (/^AGE-SECRET-KEY-PQ-1/i.test(identity)) throw new AgeInputError('post-quantum (AGE-SECRET-KEY-PQ-1…) identities are not supported: use an X25519 key');
  if (!IDENTITY_RE.test(identity)) throw new AgeInputError('not an age X25519 identity (AGE-SECRET-KEY-1…)');
  try {
    const res = bech32.decodeToBytes(identity as `${string}1${string}`);
    if (res.prefix.toUpperCase() !== 'AGE-SECRET-KEY-' || res.bytes.length !== 32) throw new Error('shape');
    res.bytes.fill(0);
    return await identityToRecipient(identity);
  } catch {
    throw new AgeInputError('the identity is not valid Bech32 (a bad checksum, a typo or a truncated key)');
  }
}

/** A new X25519 identity, `AGE-SECRET-KEY-1…`. */
export function generate(): Promise<string> {
  return generateX25519Identity();
}

/** An ordinary (binary, not armored) age file of `payload` for the given recipients. */
export async function encrypt(recipients: string[], payload: Uint8Array): Promise<Buffer> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(checkRecipient(r));
  return Buffer.from(await e.encrypt(payload));
}

export type DecryptResult = { ok: true; payload: Buffer } | { ok: false; reason: 'no-match' | 'malformed' };

/**
 * Decrypts an age file with one X25519 identity. `no-match`: no stanza is for this identity;
 * `malformed`: the header, its MAC or the payload is bad (truncated, altered). Never throws for
 * a bad file.
 */
export async function decrypt(identity: string, file: Uint8Array): Promise<DecryptResult> {
  await recipientOf(identity); // X25519 only, checked before the library sees it
  const d = new Decrypter();
  d.addIdentity(identity);
  try {
    return { ok: true, payload: Buffer.from(await d.decrypt(file)) };
  } catch (err) {
    return { ok: false, reason: /no identity matched/i.test(String((err as Error)?.message)) ? 'no-match' : 'malformed' };
  }
}
