// An age identity as text: the `AGE-SECRET-KEY-1…` line of a key file (what age-keygen writes,
// with its `# created` and `# public key` comments), of stdin, or of TVAULT_IDENTITY_KEY. The key
// stays in a Buffer; a message about it never repeats it.
import { fstatSync, openSync, closeSync, readFileSync } from 'node:fs';
import { usageError, errnoText } from './errors';
import { loadAge } from './lazy';

/**
 * The one identity in `text`: blank lines and `#` comments are skipped, and exactly one key line
 * must remain. `where` names the source for the error message.
 */
export function parseIdentityText(text: Buffer, where: string): Buffer {
  const keys: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && text[i] !== 0x0a) continue;
    let line = text.subarray(start, i);
    start = i + 1;
    if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    // Trim spaces and tabs at both ends without making a string of the line.
    let a = 0;
    let b = line.length;
    while (a < b && (line[a] === 0x20 || line[a] === 0x09)) a++;
    while (b > a && (line[b - 1] === 0x20 || line[b - 1] === 0x09)) b--;
    line = line.subarray(a, b);
    if (!line.length || line[0] === 0x23 /* # */) continue;
    keys.push(line);
  }
  if (keys.length !== 1) {
    throw usageError(
      keys.length ? `${where} holds ${keys.length} keys; give a file with one age identity` : `${where} holds no age identity (AGE-SECRET-KEY-1…)`,
    );
  }
  const line = keys[0];
  // The shape is checked on the bytes (ASCII only), so the line never becomes a string here.
  let ok = line.length < 200;
  const head = Buffer.from('AGE-SECRET-KEY-');
  if (ok && (line.length <= head.length || !line.subarray(0, head.length).equals(head))) ok = false;
  for (let i = 0; ok && i < line.length; i++) {
    const c = line[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x2d)) ok = false;
  }
  // Its Bech32 checksum and key type are age.ts's to check (recipientOf).
  if (!ok) throw usageError(`${where} is not an age identity (AGE-SECRET-KEY-1…)`);
  return Buffer.from(line);
}

/**
 * Reads an identity file. Group or other permissions on it are a warning, not a refusal: age's
 * own files are made 0600 by age-keygen, but a key in a CI checkout may be 0644, and refusing
 * it would only move the key somewhere worse.
 */
export function readIdentityFile(path: string): { key: Buffer; warning?: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw usageError(`cannot read the identity file ${path}: ${errnoText(err, { sayMissing: true })}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw usageError(`the identity file ${path} is not a regular file`);
    if (st.size > 64 * 1024) throw usageError(`the identity file ${path} is too large to be an age identity`);
    const text = readFileSync(fd);
    try {
      const key = parseIdentityText(text, `the identity file ${path}`);
      const loose = st.mode & 0o077;
      const warning = loose
        ? `the identity file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`
        : undefined;
      return { key, warning };
    } finally {
      text.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** A fresh X25519 identity (the caller zeroes `key`) and its recipient: a handoff's session key. */
export async function generateIdentity(): Promise<{ key: Buffer; recipient: string }> {
  const age = loadAge();
  const text = await age.generate();
  return { key: Buffer.from(text, 'latin1'), recipient: await age.recipientOf(text) };
}
