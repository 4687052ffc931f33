// A project's manifest: the authenticated record of what the project is and holds. Ciphertexts
// are bound to (project uid, key name, version), but which project a name means, which version
// of a key is current, and which keys exist or were deleted are plain columns anyone who can
// write vault.db can change. The manifest binds them: the project's uid and name, and for every
// key (deleted ones included) its current version and whether that version is a deletion,
// MACed under a key derived from the KEK. Every write updates it in the same transaction;
// every read checks the rows it serves against it. See docs/FORMAT.md, "Manifests".
import { u16, u32 } from './bytes';
import { integrityError } from './errors';

export interface ManifestEntry {
  version: number;
  /** false: the current version is a deletion (a tombstone). */
  live: boolean;
}

export interface Manifest {
  uid: Buffer;
  name: string;
  entries: Map<string, ManifestEntry>;
  /**
   * Who holds a wrapped copy of the DEK (the project_keys rows): 'passphrase' and age1…
   * recipients. Absent means the passphrase alone (a v1 manifest).
   */
  recipients?: string[];
}

const TAG = Buffer.from('tvault/manifest/v1\0');
const TAG_V2 = Buffer.from('tvault/manifest/v2\0');
export const PASSPHRASE_ONLY = ['passphrase'];

/** The recipients a manifest authenticates, sorted (the passphrase alone for a v1 manifest). */
export function manifestRecipients(m: Manifest): string[] {
  return [...(m.recipients ?? PASSPHRASE_ONLY)].sort();
}

/** Whether the project is shared with anyone beside the passphrase. */
export function isShared(m: Manifest): boolean {
  return manifestRecipients(m).some((r) => r !== 'passphrase');
}
const UID_BYTES = 16;

/**
 * tag || uid (16) || u16 len || project name || u32 count || entries, sorted by the UTF-8 bytes
 * of their names: u16 len || name || u32 version || u8 live (1) or deleted (0).
 */
export function encodeManifest(m: Manifest): Buffer {
  const name = Buffer.from(m.name, 'utf8');
  const entries = [...m.entries].map(([k, e]) => [Buffer.from(k, 'utf8'), e] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  // v1 while the passphrase is the only recipient (the bytes of schema 3, unchanged); v2 adds
  // the recipient list: u16 count || (u16 len || recipient), sorted by their bytes.
  const shared = isShared(m);
  const parts: Buffer[] = [shared ? TAG_V2 : TAG, m.uid, u16(name.length), name, u32(entries.length)];
  for (const [k, e] of entries) parts.push(u16(k.length), k, u32(e.version), Buffer.from([e.live ? 1 : 0]));
  if (shared) {
    const recipients = manifestRecipients(m).map((r) => Buffer.from(r, 'utf8'));
    parts.push(u16(recipients.length));
    for (const r of recipients) parts.push(u16(r.length), r);
  }
  return Buffer.concat(parts);
}

/** Parses a manifest whose MAC has been checked; anything malformed is an integrity failure. */
export function decodeManifest(body: Buffer, what: string): Manifest {
  const bad = () => integrityError(`the vault is damaged: the manifest of ${what} is malformed`);
  let at = 0;
  const take = (n: number) => {
    if (at + n > body.length) throw bad();
    const b = body.subarray(at, at + n);
    at += n;
    return b;
  };
  const tag = take(TAG.length);
  const v2 = tag.equals(TAG_V2);
  if (!v2 && !tag.equals(TAG)) throw bad();
  const uid = Buffer.from(take(UID_BYTES));
  const name = take(take(2).readUInt16BE(0)).toString('utf8');
  const count = take(4).readUInt32BE(0);
  const entries = new Map<string, ManifestEntry>();
  for (let i = 0; i < count; i++) {
    const key = take(take(2).readUInt16BE(0)).toString('utf8');
    const version = take(4).readUInt32BE(0);
    const live = take(1)[0];
    if (live > 1 || entries.has(key)) throw bad();
    entries.set(key, { version, live: live === 1 });
  }
  let recipients: string[] | undefined;
  if (v2) {
    const n = take(2).readUInt16BE(0);
    recipients = [];
    for (let i = 0; i < n; i++) recipients.push(take(take(2).readUInt16BE(0)).toString('utf8'));
    if (new Set(recipients).size !== n || !recipients.includes('passphrase')) throw bad();
  }
  if (at !== body.length) throw bad();
  return { uid, name, entries, recipients };
}
