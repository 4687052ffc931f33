// The envelope: XSalsa20-Poly1305 (NaCl secretbox) with a fresh 24-byte nonce per seal.
// Secretbox has no associated data, so every plaintext starts with a context header that
// names what it is and where it belongs (see docs/FORMAT.md, "Binding"). A ciphertext moved
// to another row opens under the right key but carries the wrong header: that is tampering.
import * as nodeCrypto from 'node:crypto';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { type TvaultError, integrityError } from './errors';
import { type Sodium, loadNacl, loadSodium } from './lazy';
import { u16, zero } from './bytes';

export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 24;
export const KEY_BYTES = 32;
const MAC_BYTES = 16;

/** version(1) || nonce(24) || secretbox(key, nonce, plaintext) */
export function seal(key: Uint8Array, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  if (sodium) {
    const out = Buffer.allocUnsafe(1 + NONCE_BYTES + MAC_BYTES + plaintext.length);
    out[0] = ENVELOPE_VERSION;
    nonce.copy(out, 1);
    sodium.crypto_secretbox_easy(out.subarray(1 + NONCE_BYTES), plaintext, nonce, key);
    return out;
  }
  const box = loadNacl().secretbox(plaintext, nonce, key);
  return Buffer.concat([Buffer.from([ENVELOPE_VERSION]), nonce, box]);
}

/** Returns the plaintext, or null when the MAC does not verify (wrong key or altered bytes). */
export function open(key: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < 1 + NONCE_BYTES + MAC_BYTES || sealed[0] !== ENVELOPE_VERSION) return null;
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const box = sealed.subarray(1 + NONCE_BYTES);
  if (sodium) {
    const out = Buffer.allocUnsafe(box.length - MAC_BYTES);
    if (sodium.crypto_secretbox_open_easy(out, box, nonce, key)) return out;
    out.fill(0);
    return null;
  }
  const plain = loadNacl().secretbox.open(box, nonce, key);
  if (!plain) return null;
  const out = Buffer.from(plain);
  zero(plain);
  return out;
}

/** An envelope's nonce and box as views of its bytes (null: too short, or another version). */
export interface SealedParts {
  nonce: Buffer;
  box: Buffer;
}

export function sealedParts(sealed: Buffer): SealedParts | null {
  if (sealed.length < 1 + NONCE_BYTES + MAC_BYTES || sealed[0] !== ENVELOPE_VERSION) return null;
  return { nonce: sealed.subarray(1, 1 + NONCE_BYTES), box: sealed.subarray(1 + NONCE_BYTES) };
}

/** The plaintext length of a box (sealedParts' `box`). */
export const openedLength = (parts: SealedParts): number => parts.box.length - MAC_BYTES;

/**
 * open() into `out`, which must be exactly openedLength(parts) bytes (a view of a larger
 * Buffer: a reader that opens many values puts them side by side in one allocation). false when
 * the MAC does not verify; out is then zeroed.
 */
export function openInto(key: Uint8Array, parts: SealedParts, out: Buffer): boolean {
  if (out.length !== parts.box.length - MAC_BYTES) throw new RangeError('openInto: out is not the length of the plaintext');
  if (sodium) {
    if (sodium.crypto_secretbox_open_easy(out, parts.box, parts.nonce, key)) return true;
    out.fill(0);
    return false;
  }
  const plain = loadNacl().secretbox.open(parts.box, parts.nonce, key);
  if (!plain) {
    out.fill(0);
    return false;
  }
  out.set(plain);
  zero(plain);
  return true;
}

// Two implementations of one function, NaCl's crypto_secretbox (XSalsa20-Poly1305), which
// produce and accept the same bytes (crypto-backends.test.ts checks them against each other
// and against test/vectors): tweetnacl (JavaScript, ~8 µs to open a short value here) by
// default, and libsodium (sodium-native's prebuilt binary, ~1.5 µs) for a reader that opens
// many values for a long time: the agent, whose getall of 1,000 values spent ~45 % of its time
// in tweetnacl. Loading libsodium costs ~25 ms, more than a one-shot CLI process would save.
let sodium: Sodium | null = null;

/** Seals and opens with libsodium from now on, where it loads; returns which backend is in use. */
export function useNativeSecretbox(on = true): SecretboxBackend {
  sodium = on ? loadSodium() : null;
  return secretboxBackend();
}

export type SecretboxBackend = 'libsodium' | 'tweetnacl';

export function secretboxBackend(): SecretboxBackend {
  return sodium ? 'libsodium' : 'tweetnacl';
}

export function randomKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

// ---- context headers ---------------------------------------------------------------------

const TAG_SECRET = Buffer.from('tvault/secret/v1\0');
const TAG_DEK = Buffer.from('tvault/dek/v1\0');
const TAG_VERIFIER_V1 = Buffer.from('tvault/verifier/v1\0');
const TAG_VERIFIER = Buffer.from('tvault/verifier/v2\0');
const TAG_HEADER = Buffer.from('tvault/header/v1\0');
const TAG_AUDIT_KEY = Buffer.from('tvault/audit-key/v1\0');
const TAG_IDENTITY = Buffer.from('tvault/identity/v1\0');
const TAG_SHARE = Buffer.from('tvault/share/v1\0');

/** tag || project uid || u16 byte length || UTF-8 name || u32 version; one allocation (one per value read). */
export function secretHeader(projectUid: Uint8Array, name: string, version: number): Buffer {
  const n = Buffer.byteLength(name, 'utf8');
  const out = Buffer.allocUnsafe(TAG_SECRET.length + projectUid.length + 2 + n + 4);
  let at = TAG_SECRET.copy(out, 0);
  out.set(projectUid, at);
  at = out.writeUInt16BE(n, at + projectUid.length);
  at += out.write(name, at, 'utf8');
  out.writeUInt32BE(version, at);
  return out;
}

export function dekHeader(projectUid: Uint8Array, recipient: string): Buffer {
  const r = Buffer.from(recipient, 'utf8');
  return Buffer.concat([TAG_DEK, projectUid, u16(r.length), r]);
}

export function auditKeyHeader(vaultId: Uint8Array): Buffer {
  return Buffer.concat([TAG_AUDIT_KEY, vaultId]);
}

/** The header of an identity's private key, sealed under the KEK in the identities table. */
export function identityHeader(vaultId: Uint8Array, name: string, recipient: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const r = Buffer.from(recipient, 'utf8');
  return Buffer.concat([TAG_IDENTITY, vaultId, u16(n.length), n, u16(r.length), r]);
}

// ---- what an age recipient receives (see docs/FORMAT.md, "Recipients") ---------------------

/**
 * The plaintext of a DEK wrapped to an age recipient: tag || project uid (16) || u16 len ||
 * recipient || DEK (32). The uid and recipient bind the wrap to its row: moved to another
 * project or another recipient's row, it is refused. The caller zeroes the result.
 */
export function sharePayload(projectUid: Uint8Array, recipient: string, dek: Uint8Array): Buffer {
  const r = Buffer.from(recipient, 'utf8');
  return Buffer.concat([TAG_SHARE, projectUid, u16(r.length), r, dek]);
}

/** The DEK from a share payload, which must name this project and recipient; null otherwise. */
export function openSharePayload(payload: Buffer, projectUid: Uint8Array, recipient: string): Buffer | null {
  const expected = Buffer.concat([TAG_SHARE, projectUid, u16(Buffer.byteLength(recipient)), Buffer.from(recipient, 'utf8')]);
  if (payload.length !== expected.length + KEY_BYTES || !timingSafeEqual(payload.subarray(0, expected.length), expected)) return null;
  return Buffer.from(payload.subarray(expected.length));
}

/**
 * The MAC of a shared project's manifest that a reader by identity can check: HMAC-SHA-256 under
 * HKDF-SHA-256(ikm = DEK, salt = empty, info = "tvault/share-manifest-key/v1"). Whoever holds
 * the DEK can make it, as they can seal values; the owner checks the KEK's MAC instead.
 */
export function shareManifestMac(dek: Uint8Array, body: Uint8Array): Buffer {
  const key = Buffer.from(hkdfSync('sha256', dek, Buffer.alloc(0), 'tvault/share-manifest-key/v1', KEY_BYTES));
  try {
    return hmacSha256(key, body);
  } finally {
    zero(key);
  }
}

/**
 * The verifier's plaintext. v2 says "this vault's structure is authenticated" (header MAC,
 * project manifests); a v1 verifier is a vault from before schema 3 that has not been unlocked
 * since, whose manifests are made at its next unlock. Only the KEK can write either.
 */
export function verifierPlaintext(vaultId: Uint8Array): Buffer {
  return Buffer.concat([TAG_VERIFIER, vaultId]);
}

export function legacyVerifierPlaintext(vaultId: Uint8Array): Buffer {
  return Buffer.concat([TAG_VERIFIER_V1, vaultId]);
}

// ---- keys derived from the KEK -----------------------------------------------------------

export type SubkeyPurpose = 'header' | 'manifest';

/** HKDF-SHA-256(ikm = KEK, salt = empty, info = "tvault/<purpose>-key/v1"), 32 bytes; the caller zeroes it. */
export function subkey(kek: Uint8Array, purpose: SubkeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), `tvault/${purpose}-key/v1`, KEY_BYTES));
}

/** HMAC-SHA-256 under a subkey of the KEK; the subkey is zeroed here. */
export function macUnder(kek: Uint8Array, purpose: SubkeyPurpose, data: Uint8Array): Buffer {
  const key = subkey(kek, purpose);
  try {
    return hmacSha256(key, data);
  } finally {
    zero(key);
  }
}

// ---- HMAC-SHA-256 --------------------------------------------------------------------------

/** crypto.hash, where this Node has it (20.12+, 21.7+): a digest without a Hash object. */
export const oneShotHash = typeof nodeCrypto.hash === 'function' ? nodeCrypto.hash : null;
const BLOCK = 64;
const SHORT = 64;
const innerScratch = Buffer.allocUnsafeSlow(BLOCK + SHORT);
const outerScratch = Buffer.allocUnsafeSlow(BLOCK + 32);

/**
 * HMAC-SHA-256 (RFC 2104): sha256((K ^ opad) || sha256((K ^ ipad) || data)), with Node's
 * one-shot hash where it has one (20.12+, 21.7+). The agent computes one per audit row, and
 * createHmac's Hmac object is a native object with a weak handle that every scavenge of the
 * young generation has to walk: under 8 clients that was ~0.6 ms of each 3 ms GC pause
 * (docs/PERFORMANCE.md). The padded keys are zeroed here; the pads of a short message are
 * reused, synchronously (a worker thread has its own). Keys longer than a block are
 * hashed first, as RFC 2104 says, by createHmac.
 */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  if (!oneShotHash || key.length > BLOCK) return createHmac('sha256', key).update(data).digest();
  const short = data.length <= SHORT;
  const inner = short ? innerScratch.subarray(0, BLOCK + data.length) : Buffer.allocUnsafeSlow(BLOCK + data.length);
  const outer = outerScratch;
  try {
    inner.fill(0x36, 0, BLOCK);
    outer.fill(0x5c, 0, BLOCK);
    for (let i = 0; i < key.length; i++) {
      inner[i] ^= key[i];
      outer[i] ^= key[i];
    }
    inner.set(data, BLOCK);
    outer.set(oneShotHash('sha256', inner, 'buffer') as Buffer, BLOCK);
    return oneShotHash('sha256', outer, 'buffer') as Buffer;
  } finally {
    zero(inner, outer);
  }
}

export function macEquals(a: Uint8Array | null | undefined, b: Uint8Array): boolean {
  return !!a && a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The bytes the header MAC covers: tag, vault_id (16), then the kdf meta value and the salt,
 * each as u16 length || bytes, exactly as stored.
 */
export function headerBytes(vaultId: Uint8Array, kdf: Uint8Array, salt: Uint8Array): Buffer {
  return Buffer.concat([TAG_HEADER, vaultId, u16(kdf.length), kdf, u16(salt.length), salt]);
}

/**
 * Why a bound envelope was refused: `altered` (malformed, or the MAC does not verify under this
 * key) or `moved` (it opens, to another row's header); `what` names the row.
 */
export function boundError(kind: 'altered' | 'moved', what: string | (() => string)): TvaultError {
  const row = typeof what === 'string' ? what : what();
  return integrityError(
    `integrity check failed for ${row}: ${kind === 'altered' ? 'the ciphertext was altered or is not from this vault' : 'the ciphertext belongs to another key or project'}`,
  );
}

/**
 * A native opener of a range of envelopes into one Buffer (@tvault/native's secretboxOpenRows,
 * libsodium's crypto_secretbox_open_easy and the header compare in C): -1, or 2 * row + kind
 * (0: altered, 1: moved) for the first row refused, with `out` zeroed. See Vault.sealedSnapshot.
 */
export type OpenRows = (key: Uint8Array, packed: Uint8Array, table: Uint32Array, from: number, to: number, out: Uint8Array) => number;

/**
 * A native writer of a range's opened values as the shell format's lines (@tvault/native's
 * shellLines: byte for byte env-format.ts's shellLinesBytes, in C). See SealedSnapshot.openShell.
 */
export type ShellRows = (plain: Uint8Array, spans: Uint32Array, names: Uint8Array, nameSpans: Uint32Array, first: number, exp: boolean) => Buffer;

/** The agent's native helpers for a getall: the opener, and the shell writer that goes with it. */
export interface NativeRows {
  open: OpenRows;
  /** Absent: a shell getall's lines are written by shellLinesBytes in JS. */
  shell?: ShellRows;
}

let nativeRowsOn: NativeRows | null = null;

/** Where the agent's addon has them (null: one open() a value and JS formatting, as before). */
export function useNativeRows(n: NativeRows | null): void {
  nativeRowsOn = n;
}

export function nativeRows(): NativeRows | null {
  return nativeRowsOn;
}

/** The bytes an envelope of `sealedLength` opens to (0 for one too short to be an envelope). */
export const plainLength = (sealedLength: number): number => Math.max(0, sealedLength - 1 - NONCE_BYTES - MAC_BYTES);

/**
 * openBound() into `out` (see openInto), from the envelope's parts (null: a malformed envelope,
 * the same integrity error as a failed MAC). Returns the body, a view of out after the header;
 * out is zeroed on any failure.
 */
export function openBoundInto(key: Uint8Array, header: Uint8Array, parts: SealedParts | null, out: Buffer, what: string | (() => string)): Buffer {
  if (!parts || !openInto(key, parts, out)) throw boundError('altered', what);
  if (!startsWith(out, header)) {
    zero(out);
    throw boundError('moved', what);
  }
  return out.subarray(header.length);
}

/** Seals header||body. The body is not zeroed here: the caller owns it. */
export function sealBound(key: Uint8Array, header: Buffer, body: Uint8Array): Buffer {
  const plain = Buffer.concat([header, body]);
  try {
    return seal(key, plain);
  } finally {
    zero(plain);
  }
}

/**
 * Whether `plain` starts with `header`, in time that depends only on the header's length (as
 * timingSafeEqual, without the two views it needs: ~0.1 µs of each value a getall opens).
 */
function startsWith(plain: Uint8Array, header: Uint8Array): boolean {
  if (plain.length < header.length) return false;
  let diff = 0;
  for (let i = 0; i < header.length; i++) diff |= plain[i] ^ header[i];
  return diff === 0;
}

/**
 * Opens a bound envelope and returns the body. A failed MAC or a header that does not match
 * the expected context is an integrity failure; `what` names the row for the error message.
 */
export function openBound(key: Uint8Array, header: Uint8Array, sealed: Uint8Array, what: string | (() => string)): Buffer {
  const plain = open(key, sealed);
  // The name is built only for a failure: a getall opens 1,000.
  if (!plain) throw boundError('altered', what);
  if (!startsWith(plain, header)) {
    zero(plain);
    throw boundError('moved', what);
  }
  // The body in place (no copy): the header before it in the same memory is public metadata
  // (tag, uid, name, version), so the caller's zeroing of the body wipes all that is secret.
  return plain.subarray(header.length);
}
