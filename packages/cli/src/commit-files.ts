// Committable secrets files (docs/FORMAT.md, "Committable secrets file") from the CLI's side:
// reading one from disk, finding an identity that opens it, the `.tvault-recipients` list, and
// writing one atomically. The format and its cryptography are core's (commit-file*.ts).
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type CommitDoc,
  ExitCode,
  type PlainEntry,
  type Selection,
  TvaultError,
  errnoCode,
  errnoText,
  notFound,
  openEntries,
  parseCommitFile,
  unlockCommitFile,
  usageError,
  writeFileAtomic,
  checkAgeRecipient,
} from '@tvault/core';
import type { PlainSecret, Session } from './session';

export const RECIPIENTS_FILE = '.tvault-recipients';
const MAX_FILE = 64 * 1024 * 1024;

/** The file's text ('-': stdin). A missing file is exit 4; nothing is created. */
export function readCommitText(path: string): Buffer {
  try {
    if (path !== '-' && statSync(path).size > MAX_FILE) throw usageError(`${path} is too large to be a committable secrets file`);
    return readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    if (errnoCode(err) === 'ENOENT') throw notFound(`${path} does not exist`);
    throw new TvaultError(`cannot read ${path}: ${errnoText(err)}`);
  }
}

/** Parses a file, naming it in the one-line error. */
export function parseAt(path: string, text: Buffer = readCommitText(path)): CommitDoc {
  try {
    return parseCommitFile(text);
  } catch (err) {
    if (err instanceof TvaultError) throw new TvaultError(`${path === '-' ? 'stdin' : path}: ${err.message}`, err.exitCode);
    throw err;
  }
}

const NO_IDENTITY =
  'set TVAULT_IDENTITY_KEY (AGE-SECRET-KEY-1…), give --identity FILE, or import your age key into the vault (tvault identity import NAME -f FILE)';

/**
 * The identity that opens doc (the caller zeroes it): --identity or TVAULT_IDENTITY_KEY when
 * given (Session.identityKey), else an identity of this vault whose recipient the file lists,
 * unsealed with the passphrase (never a prompt without a terminal: getPassphrase refuses).
 */
export async function identityFor(s: Session, doc: CommitDoc, where: string): Promise<Buffer> {
  if (s.byIdentity) return s.identityKey();
  const name = vaultIdentityFor(s, doc, where);
  return s.withUnlocked((vault, kek) => vault.identityKey(kek, name));
}

/** The name of this vault's identity whose recipient doc lists (no unlock needed); exit 3 if none. */
export function vaultIdentityFor(s: Session, doc: CommitDoc, where: string): string {
  let name: string | undefined;
  try {
    const vault = s.openVault();
    try {
      const mine = new Set(doc.recipients.map((r) => r.recipient));
      name = vault.listIdentities().find((i) => mine.has(i.recipient))?.name;
    } finally {
      vault.close();
    }
  } catch (err) {
    if (!(err instanceof TvaultError && err.exitCode === ExitCode.NOT_INITIALIZED)) throw err;
  }
  if (!name) throw new TvaultError(`no identity to open ${where}: ${NO_IDENTITY}`, ExitCode.LOCKED);
  return name;
}

export interface OpenedFile {
  doc: CommitDoc;
  fileKey: Buffer;
  recipient: string;
}

/** Parses and authenticates a file with whatever identity opens it; the caller zeroes fileKey. */
export async function unlockAt(s: Session, path: string, text?: Buffer, given?: Buffer): Promise<OpenedFile> {
  const doc = parseAt(path, text);
  const where = path === '-' ? 'stdin' : path;
  // One identity for several files (given, the caller zeroes it): the passphrase variable is
  // read once per process, so a second unlock would find nothing.
  const identity = given ?? (await identityFor(s, doc, where));
  try {
    const { fileKey, recipient } = await unlockCommitFile(doc, identity, where);
    return { doc, fileKey, recipient };
  } finally {
    if (!given) identity.fill(0);
  }
}

/** Picks --only / --prefix out of opened entries (zeroing the rest). */
function select(entries: PlainEntry[], sel: Selection): PlainEntry[] {
  const keep = entries.filter((e) => (!sel.only || sel.only.includes(e.name)) && (!sel.prefix || e.name.startsWith(sel.prefix)));
  for (const e of entries) if (!keep.includes(e)) e.value.fill(0);
  return keep;
}

/** `run --from`, `env --from`, `open`: the selected values of a file, as text. */
export async function readSecretsFrom(s: Session, path: string, sel: Selection = {}): Promise<{ project: string; secrets: PlainSecret[] }> {
  const { doc, fileKey } = await unlockAt(s, path);
  try {
    const entries = select(openEntries(doc, fileKey, sel.only), sel);
    return { project: path, secrets: entries.map((e) => ({ name: e.name, value: drainUtf8(e.value) })) };
  } finally {
    fileKey.fill(0);
  }
}

function drainUtf8(buf: Buffer): string {
  const s = buf.toString('utf8');
  buf.fill(0);
  return s;
}

/** The nearest `.tvault-recipients` walking up from dir, or null. */
export function findRecipientsFile(dir = process.cwd()): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const p = join(d, RECIPIENTS_FILE);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
    if (dirname(d) === d) return null;
  }
}

export interface RecipientLine {
  recipient: string;
  line: number;
}

/** `.tvault-recipients`: one age1… per line; blank lines and `#` comments (also after a key) are skipped. */
export function readRecipientsFile(path: string): RecipientLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TvaultError(`cannot read ${path}: ${errnoText(err, { sayMissing: true })}`);
  }
  const out: RecipientLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    try {
      out.push({ recipient: checkAgeRecipient(line), line: i + 1 });
    } catch (err) {
      throw usageError(`${path} line ${i + 1}: ${(err as Error).message}`);
    }
  });
  return out;
}

/** Writes a committable file in one rename (readable by the team: it is meant to be committed). */
export function writeCommitFile(path: string, text: string): void {
  try {
    writeFileAtomic(path, text, 0o644);
  } catch (err) {
    throw new TvaultError(`cannot write ${path}: ${errnoText(err)}`);
  }
}
