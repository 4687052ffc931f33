// The committable secrets file's cryptography (docs/FORMAT.md, "Committable secrets file"); the
// text form is commit-file-format.ts. A random 32-byte file key; from it, by HKDF-SHA256, a value
// key (ChaCha20-Poly1305, each value's key name as associated data) and a MAC key (HMAC-SHA256
// over the canonical content, in the header line). The file key is wrapped to each recipient as
// an ordinary age file (age.ts, the npm age-encryption library, loaded lazily).
// Everything here is node:crypto, which every implementation has; no new dependency.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkKeyName, checkValue } from './names';
import { ExitCode, TvaultError, integrityError } from './errors';
import { loadAge } from './lazy';
import { hmacSha256 } from './crypto';
import type * as Age from './age';

/** The age module (dist/age.cjs by default); a unit test passes the source module itself. */
type AgeModule = typeof Age;
import {
  COMMIT_FILE_VERSION,
  type CommitDoc,
  type CommitEntry,
  type CommitRecipient,
  SEALED_OVERHEAD,
  byteOrder,
  canonicalContent,
  serializeCommitFile,
} from './commit-file-format';

const NONCE = 12;
const TAG = 16;
export const FILE_KEY_BYTES = 32;

function subkey(fileKey: Uint8Array, purpose: 'value' | 'mac'): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), `tvault-file v${COMMIT_FILE_VERSION} ${purpose}`, 32));
}

/** The associated data that binds a value to its key name. */
const valueAad = (name: string) => Buffer.from(`tvault-file v${COMMIT_FILE_VERSION} value\0${name}`, 'utf8');

/** Seals one value under the value key, bound to `name`; a fresh random nonce. */
export function sealValue(valueKey: Uint8Array, name: string, value: Uint8Array, nonce: Buffer = randomBytes(NONCE)): Buffer {
  const c = createCipheriv('chacha20-poly1305', valueKey, nonce, { authTagLength: TAG });
  c.setAAD(valueAad(name), { plaintextLength: value.length });
  const body = Buffer.concat([c.update(value), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

/** Opens one value; an altered value, or one moved from another key name, is an integrity failure. */
export function openValue(valueKey: Uint8Array, name: string, sealed: Buffer): Buffer {
  if (sealed.length < SEALED_OVERHEAD) throw integrityError(`the value of ${name} is truncated`);
  const d = createDecipheriv('chacha20-poly1305', valueKey, sealed.subarray(0, NONCE), { authTagLength: TAG });
  d.setAAD(valueAad(name), { plaintextLength: sealed.length - SEALED_OVERHEAD });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const out = d.update(sealed.subarray(NONCE, sealed.length - TAG));
  try {
    d.final();
  } catch {
    out.fill(0);
    throw integrityError(`the value of ${name} does not open: it was altered, or moved from another key`);
  }
  return out;
}

export function computeMac(doc: CommitDoc, fileKey: Uint8Array): Buffer {
  const key = subkey(fileKey, 'mac');
  try {
    return hmacSha256(key, canonicalContent(doc));
  } finally {
    key.fill(0);
  }
}

/** Checks the header MAC: a deleted, added, reordered or older line, or a recipient added without the key, fails it. */
export function verifyMac(doc: CommitDoc, fileKey: Uint8Array): void {
  const want = computeMac(doc, fileKey);
  if (doc.mac.length !== want.length || !timingSafeEqual(doc.mac, want))
    throw integrityError(
      'the file does not authenticate (its header MAC): a line was changed, deleted, reordered or copied from another version, or a recipient was added without the key',
    );
}

/**
 * Unwraps the file key with an age identity (an `AGE-SECRET-KEY-1…` line; the caller zeroes it)
 * and checks the header MAC. The recipient written next to each wrap says which one to try.
 */
export async function unlockCommitFile(
  doc: CommitDoc,
  identity: Buffer,
  where = 'the file',
  age: AgeModule = loadAge(),
): Promise<{ fileKey: Buffer; recipient: string }> {
  const text = identity.toString('latin1');
  let recipient: string;
  try {
    recipient = await age.recipientOf(text);
  } catch (err) {
    throw new TvaultError(`the identity is refused: ${(err as Error).message}`, ExitCode.USAGE);
  }
  const row = doc.recipients.find((r) => r.recipient === recipient);
  if (!row)
    throw new TvaultError(
      `identity ${recipient} is not a recipient of ${where} (a recipient can add it: tvault recipients add ${recipient}, then tvault seal --update)`,
      ExitCode.LOCKED,
    );
  const res = await age.decrypt(text, row.wrap);
  if (!res.ok)
    throw integrityError(
      `the wrapped key for ${recipient} in ${where} ${res.reason === 'no-match' ? 'is not wrapped to it (a line swapped between recipients)' : 'is not a valid age file (truncated or altered)'}`,
    );
  if (res.payload.length !== FILE_KEY_BYTES) {
    res.payload.fill(0);
    throw integrityError(`the wrapped key for ${recipient} in ${where} is not a ${FILE_KEY_BYTES}-byte file key`);
  }
  try {
    verifyMac(doc, res.payload);
  } catch (err) {
    res.payload.fill(0);
    throw err;
  }
  return { fileKey: res.payload, recipient };
}

export interface PlainEntry {
  name: string;
  value: Buffer;
}

/** Opens the selected values (every one without `only`), in file order; the caller zeroes them. */
export function openEntries(doc: CommitDoc, fileKey: Uint8Array, only?: string[]): PlainEntry[] {
  const key = subkey(fileKey, 'value');
  const want = only ? new Set(only) : undefined;
  const out: PlainEntry[] = [];
  try {
    for (const e of doc.entries) if (!want || want.has(e.name)) out.push({ name: e.name, value: openValue(key, e.name, e.sealed) });
  } catch (err) {
    for (const x of out) x.value.fill(0);
    throw err;
  } finally {
    key.fill(0);
  }
  return out;
}

/** An opened earlier version: its lines are kept where nothing changed. */
export interface Previous {
  doc: CommitDoc;
  fileKey: Buffer;
}

export interface SealInput {
  secrets: PlainEntry[];
  recipients: string[];
  /**
   * Earlier versions (the file being updated first). With the same file key, an unchanged value
   * keeps its sealed bytes (its nonce) and an unchanged recipient its wrap, so the lines are
   * byte-identical. The first one's file key is reused unless `newKey` or a recipient of it is gone.
   */
  previous?: Previous[];
  /** Seal under a fresh file key (every line changes): after a recipient was removed. */
  newKey?: boolean;
}

/**
 * Seals a file. A recipient of the first previous version that is not in `recipients` forces a
 * new file key: the removed recipient must not be able to open what is written from now on.
 */
export async function sealCommitFile(input: SealInput, age: AgeModule = loadAge()): Promise<{ text: string; doc: CommitDoc; rekeyed: boolean }> {
  const recipients = [...new Set(input.recipients.map((r) => age.checkRecipient(r)))].sort(byteOrder);
  if (!recipients.length) throw new TvaultError('no recipients: nobody could open the file');
  const first = input.previous?.[0];
  const dropped = first ? first.doc.recipients.some((r) => !recipients.includes(r.recipient)) : false;
  const rekeyed = !first || !!input.newKey || dropped;
  const fileKey = rekeyed ? randomBytes(FILE_KEY_BYTES) : Buffer.from(first.fileKey);
  const keep = (rekeyed ? [] : (input.previous ?? []).filter((p) => p.fileKey.equals(fileKey))).map((p) => ({
    ...p,
    byName: new Map(p.doc.entries.map((e) => [e.name, e])),
  }));
  const valueKey = subkey(fileKey, 'value');
  try {
    const doc: CommitDoc = { version: COMMIT_FILE_VERSION, mac: Buffer.alloc(32), recipients: [], entries: [] };
    for (const r of recipients) {
      const kept = keep.map((p) => p.doc.recipients.find((x) => x.recipient === r)).find(Boolean);
      doc.recipients.push({ recipient: r, wrap: kept?.wrap ?? (await age.encrypt([r], fileKey)) });
    }
    const seen = new Set<string>();
    for (const s of [...input.secrets].sort((a, b) => byteOrder(a.name, b.name))) {
      checkKeyName(s.name);
      checkValue(s.value);
      if (seen.has(s.name)) throw new TvaultError(`key ${s.name} given twice`);
      seen.add(s.name);
      doc.entries.push({ name: s.name, sealed: keptSealed(keep, valueKey, s) ?? sealValue(valueKey, s.name, s.value) });
    }
    doc.mac = computeMac(doc, fileKey);
    return { text: serializeCommitFile(doc), doc, rekeyed };
  } finally {
    valueKey.fill(0);
    fileKey.fill(0);
  }
}

/** The sealed bytes of an earlier version of this key if its value is the same (same file key). */
function keptSealed(keep: (Previous & { byName: Map<string, CommitEntry> })[], valueKey: Buffer, s: PlainEntry): Buffer | undefined {
  for (const p of keep) {
    const old = p.byName.get(s.name);
    if (!old) continue;
    const plain = openValue(valueKey, old.name, old.sealed);
    const same = plain.equals(s.value);
    plain.fill(0);
    if (same) return old.sealed;
  }
  return undefined;
}

/** What a three-way merge of opened versions gives: the merged secrets and recipients, or the conflicting names. */
export interface MergeResult {
  secrets: PlainEntry[];
  recipients: string[];
  conflicts: string[];
}

/**
 * Three-way merge of plaintext versions (base, ours, theirs): a key (or recipient) changed on
 * one side only takes that side; changed the same way on both is fine; changed differently on
 * both is a conflict (ours is kept in `secrets`, and the name is listed).
 */
export function mergeEntries(
  base: { entries: PlainEntry[]; recipients: string[] },
  ours: { entries: PlainEntry[]; recipients: string[] },
  theirs: { entries: PlainEntry[]; recipients: string[] },
): MergeResult {
  const map = (es: PlainEntry[]) => new Map(es.map((e) => [e.name, e.value]));
  const [o, a, b] = [map(base.entries), map(ours.entries), map(theirs.entries)];
  const same = (x?: Buffer, y?: Buffer) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  const names = [...new Set([...o.keys(), ...a.keys(), ...b.keys()])].sort(byteOrder);
  const secrets: PlainEntry[] = [];
  const conflicts: string[] = [];
  for (const n of names) {
    const [vo, va, vb] = [o.get(n), a.get(n), b.get(n)];
    let pick: Buffer | undefined;
    if (same(va, vb) || same(vb, vo)) pick = va;
    else if (same(va, vo)) pick = vb;
    else {
      conflicts.push(n);
      pick = va ?? vb;
    }
    if (pick !== undefined) secrets.push({ name: n, value: pick });
  }
  const rs = (l: string[]) => new Set(l);
  const [ro, ra, rb] = [rs(base.recipients), rs(ours.recipients), rs(theirs.recipients)];
  const all = [...new Set([...ro, ...ra, ...rb])];
  // Membership is a yes/no per recipient, so it never conflicts: a side that changed it wins.
  const recipients = all.filter((r) => (ra.has(r) === ro.has(r) ? rb.has(r) : ra.has(r))).sort(byteOrder);
  return { secrets, recipients, conflicts };
}

export type { CommitDoc, CommitEntry, CommitRecipient };

/** An `age1…` X25519 recipient checked (checksum, length, not low-order) and in canonical form. */
export function checkAgeRecipient(text: string, age: AgeModule = loadAge()): string {
  return age.checkRecipient(text);
}
