// The committable secrets file (docs/FORMAT.md, "Committable secrets file"): its text form only.
// Parsing and writing, no cryptography: commit-file.ts seals, opens and authenticates. A file is
// UTF-8 in dotenv shape, one line per fact, so that `git diff` shows one line per changed key:
//
//   #tvault-file v1 mac=<base64url, 32 bytes>
//   #recipient age1… <base64url of a binary age file holding the 32-byte file key>
//   NAME=<base64url of nonce(12) || ChaCha20-Poly1305 ciphertext and tag>
//
// The parser is strict: a line that is none of these, a duplicate, a bad encoding, a missing
// header is an integrity failure (exit 8), because a machine writes this file and anything else
// in it was put there by hand or by a broken merge.
import { KEY_NAME_RE, MAX_KEY_NAME } from './names';
import { ExitCode, TvaultError, integrityError } from './errors';

export const COMMIT_FILE_VERSION = 1;
/** The conventional name of a committable file (any name works; this one is what `seal` writes by default). */
export const COMMIT_FILE_NAME = 'secrets.tvault.env';

export interface CommitRecipient {
  /** The age X25519 recipient, age1… (lower case). */
  recipient: string;
  /** A complete binary age file (header and payload) whose payload is the file key. */
  wrap: Buffer;
}

export interface CommitEntry {
  name: string;
  /** nonce (12 bytes) || ciphertext || Poly1305 tag (16 bytes). */
  sealed: Buffer;
}

export interface CommitDoc {
  version: number;
  /** HMAC-SHA256 over canonicalContent(doc), 32 bytes. */
  mac: Buffer;
  recipients: CommitRecipient[];
  entries: CommitEntry[];
}

const HEADER_RE = /^#tvault-file v([0-9]{1,4}) mac=([A-Za-z0-9_-]{43})$/;
const ANY_HEADER_RE = /^#tvault-file v([0-9]{1,4})\b/;
const RECIPIENT_RE = /^#recipient (age1[02-9ac-hj-np-z]{58}) ([A-Za-z0-9_-]+)$/;
const ENTRY_RE = /^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_-]+)$/;
/** nonce + tag: the shortest sealed value (an empty plaintext). */
export const SEALED_OVERHEAD = 12 + 16;

/** Strict base64url without padding: the text must be exactly what encoding the bytes gives. */
export function fromB64u(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw integrityError(`${what} is not canonical base64url`);
  return bytes;
}

export const toB64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

/**
 * Splits the file into lines. LF endings are the format; a file whose every line ends in CRLF (a
 * Windows checkout with autocrlf) is read as the same lines, since the MAC covers the canonical
 * LF form; a mix of both is refused. The last line must end with a newline (a truncated file
 * usually does not).
 */
function splitLines(text: string): string[] {
  if (!text.length) throw integrityError('the file is empty (not a tvault committable file)');
  if (!text.endsWith('\n')) throw integrityError('the file does not end with a newline (truncated?)');
  let lines = text.slice(0, -1).split('\n');
  const crlf = lines.filter((l) => l.endsWith('\r')).length;
  if (crlf === lines.length) lines = lines.map((l) => l.slice(0, -1));
  else if (crlf) throw integrityError('the file mixes CRLF and LF line endings (check its .gitattributes: eol=lf)');
  return lines;
}

/** Parses a committable file's text. Throws a TvaultError (exit 8 for a malformed file). */
export function parseCommitFile(input: string | Buffer): CommitDoc {
  const text = typeof input === 'string' ? input : decodeUtf8(input);
  if (text.startsWith('\ufeff')) throw integrityError('the file starts with a byte-order mark (not written by tvault)');
  const lines = splitLines(text);
  const head = HEADER_RE.exec(lines[0]);
  if (!head) {
    const other = ANY_HEADER_RE.exec(lines[0]);
    if (other && Number(other[1]) > COMMIT_FILE_VERSION) throw newerVersion(Number(other[1]));
    throw integrityError('line 1 is not a tvault header (#tvault-file v1 mac=…): not a committable file, or altered');
  }
  const version = Number(head[1]);
  if (version > COMMIT_FILE_VERSION) throw newerVersion(version);
  if (version !== COMMIT_FILE_VERSION) throw integrityError(`unknown format version v${version}`);
  const doc: CommitDoc = { version, mac: fromB64u(head[2], 'the header MAC'), recipients: [], entries: [] };
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const at = `line ${i + 1}`;
    const r = RECIPIENT_RE.exec(line);
    if (r) {
      if (doc.entries.length) throw integrityError(`${at}: a recipient line after the values (lines out of order)`);
      if (seen.has(`#${r[1]}`)) throw integrityError(`${at}: recipient ${r[1]} appears twice`);
      seen.add(`#${r[1]}`);
      doc.recipients.push({ recipient: r[1], wrap: fromB64u(r[2], `${at} (the wrapped key)`) });
      continue;
    }
    const e = ENTRY_RE.exec(line);
    if (e) {
      if (e[1].length > MAX_KEY_NAME) throw integrityError(`${at}: the key name is longer than ${MAX_KEY_NAME} characters`);
      if (seen.has(e[1])) throw integrityError(`${at}: key ${e[1]} appears twice`);
      seen.add(e[1]);
      const sealed = fromB64u(e[2], `${at} (the value of ${e[1]})`);
      if (sealed.length < SEALED_OVERHEAD) throw integrityError(`${at}: the value of ${e[1]} is too short to be sealed (truncated?)`);
      doc.entries.push({ name: e[1], sealed });
      continue;
    }
    if (line.startsWith('#recipient')) throw integrityError(`${at}: the recipient line does not parse (want: #recipient age1… <wrapped key>)`);
    throw integrityError(`${at} is not a line of a tvault committable file (only #recipient and NAME=sealed lines; edit it with tvault)`);
  }
  if (!doc.recipients.length) throw integrityError('the file has no #recipient line, so nobody can open it');
  return doc;
}

function newerVersion(v: number): TvaultError {
  return new TvaultError(`the file is in format v${v}, newer than this tvault knows (v${COMMIT_FILE_VERSION}); upgrade tvault`, ExitCode.ERROR);
}

function decodeUtf8(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw integrityError('the file is not valid UTF-8');
  }
}

/**
 * The bytes the header MAC covers: `tvault-file v1\n`, then every line after the header exactly
 * as written (LF-terminated), in file order. Reordering, deleting, adding or changing any
 * line changes them.
 */
export function canonicalContent(doc: CommitDoc): Buffer {
  return Buffer.from(`tvault-file v${doc.version}\n${bodyLines(doc).join('')}`, 'utf8');
}

function bodyLines(doc: CommitDoc): string[] {
  return [...doc.recipients.map((r) => `#recipient ${r.recipient} ${toB64u(r.wrap)}\n`), ...doc.entries.map((e) => `${e.name}=${toB64u(e.sealed)}\n`)];
}

/** The file's text. Recipients and entries are written in the order given (the sealer sorts them). */
export function serializeCommitFile(doc: CommitDoc): string {
  if (doc.mac.length !== 32) throw new TvaultError('internal: a committable file needs a 32-byte MAC');
  for (const e of doc.entries) if (!KEY_NAME_RE.test(e.name)) throw new TvaultError(`internal: invalid key name ${JSON.stringify(e.name)}`);
  return `#tvault-file v${doc.version} mac=${toB64u(doc.mac)}\n${bodyLines(doc).join('')}`;
}

/** Byte order of names (what the sealer writes): stable, locale-free, the same in every implementation. */
export const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
