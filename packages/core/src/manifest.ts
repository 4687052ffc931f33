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
}

const TAG = Buffer.from('tvault/manifest/v1\0');
const UID_BYTES = 16;

/**
 * tag || uid (16) || u16 len || project name || u32 count || entries, sorted by the UTF-8 bytes
 * of their names: u16 len || name || u32 version || u8 live (1) or deleted (0).
 */
export function encodeManifest(m: Manifest): Buffer {
  const name = Buffer.from(m.name, 'utf8');
  const entries = [...m.entries].map(([k, e]) => [Buffer.from(k, 'utf8'), e] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [TAG, m.uid, u16(name.length), name, u32(entries.length)];
  for (const [k, e] of entries) parts.push(u16(k.length), k, u32(e.version), Buffer.from([e.live ? 1 : 0]));
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
  if (!take(TAG.length).equals(TAG)) throw bad();
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
  if (at !== body.length) throw bad();
  return { uid, name, entries };
}
