// A project's allowed names: the variable names that `tvault allow-name` lets `run` and the
// applied `env` formats pass on although they are in the dangerous class (dangerous-names.ts).
// Kept in the vault, one meta row per project (`allowed_names:<uid hex>`), and MACed under the
// KEK's manifest key with its own tag, bound to the project's uid: whoever can write vault.db
// but lacks the key cannot add a name (a forged or moved row is an integrity failure). Deleting
// the row only takes allowances away (fail closed). See docs/FORMAT.md, "Allowed names".
import { u16, u32 } from './bytes';
import { integrityError } from './errors';

const TAG = Buffer.from('tvault/allowed-names/v1\0');
const UID_BYTES = 16;
export const MAC_BYTES = 32;

export const allowedNamesKey = (uid: Uint8Array) => `allowed_names:${Buffer.from(uid).toString('hex')}`;

/** tag || uid (16) || u32 count || names sorted by their UTF-8 bytes, each u16 len || name. */
export function encodeAllowedNames(uid: Uint8Array, names: Iterable<string>): Buffer {
  const sorted = [...new Set(names)].map((n) => Buffer.from(n, 'utf8')).sort(Buffer.compare);
  return Buffer.concat([TAG, uid, u32(sorted.length), ...sorted.flatMap((n) => [u16(n.length), n])]);
}

/** Parses a body whose MAC has been checked; it must name this project's uid. */
export function decodeAllowedNames(body: Buffer, uid: Uint8Array, what: string): string[] {
  const bad = (why: string) => integrityError(`integrity check failed for the allowed names of ${what}: ${why}`);
  let at = 0;
  const take = (n: number) => {
    if (at + n > body.length) throw bad('the row is malformed');
    return body.subarray(at, (at += n));
  };
  if (!take(TAG.length).equals(TAG)) throw bad('the row is malformed');
  if (!take(UID_BYTES).equals(Buffer.from(uid))) throw bad('the row belongs to another project');
  const names: string[] = [];
  for (let n = take(4).readUInt32BE(0); n > 0; n--) names.push(take(take(2).readUInt16BE(0)).toString('utf8'));
  if (at !== body.length) throw bad('the row is malformed');
  return names;
}
