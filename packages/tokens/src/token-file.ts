// Capability tokens: the token file (docs/PROTOCOL.md, "Capability tokens"), read with the same
// rules by the agent (at start and on SIGHUP) and by `tvault agent token create|list|revoke`.
// One token per line:
//
//   sha256:HEX      [attr=value ...]   the token's SHA-256 (what `token create` writes)
//   TOKEN[:project] [attr=value ...]   the raw token, the agent page's form; hashed on reading
//                                      ("=" in a raw token only as trailing base64 padding)
//
// Attributes: project=P, keys=K1,K2, expires=2026-12-01T00:00:00Z, name=N, created=TIME,
// exec=only (may run commands with the secrets, never read them), cmds=npm,test;pytest (the
// commands an exec may run: `;` between commands, `,` between words, each word URI-encoded),
// env=NAME1,NAME2 (what a delegate's own environment may pass into a brokered child, beyond
// LANG and TERM).
// `#` starts a comment (a whole line, or the rest of a line after a blank); blank lines are
// ignored. A raw token is hashed straight from the file's bytes and never becomes a JS string,
// and no error message quotes a field that could be a token: errors name the line number.
// This module loads nothing heavy. Editing the file is token-edit.ts.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  ExitCode,
  KEY_NAME_RE,
  MAX_KEY_NAME,
  type PrivacyRule,
  TvaultError,
  checkPrivate,
  checkProjectName,
  errnoCode,
  errnoText,
  usageError,
} from '@tvault/core';

export const MAX_TOKEN_FILE = 1024 * 1024;
/** Where `tvault agent token` keeps tokens unless told otherwise. */
export const defaultTokenFile = (vaultDir: string): string => join(vaultDir, 'agent-tokens');
/** A regular file of ours that nobody else may even read (0600; 0400 passes too). */
const TOKEN_FILE: PrivacyRule = { type: 'file', forbid: 0o077 };
const HASH_PREFIX = Buffer.from('sha256:');
const MAX_RAW_TOKEN = 512;
const ATTRS = ['project', 'keys', 'expires', 'name', 'created', 'exec', 'cmds', 'env'] as const;
type Attr = (typeof ATTRS)[number];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Raw tokens: base64, base64url, hex and the like. No ':' (it separates the project) and no '#'.
const TOKEN_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-') TOKEN_BYTE[c.charCodeAt(0)] = 1;

export interface TokenSpec {
  /** Hex SHA-256 of the token: all the agent keeps of it. */
  readonly hash: string;
  /** The first 8 hex digits of the hash: the token_id in the agent log and in audit rows. */
  readonly id: string;
  /** 1-based line number in the file. */
  readonly line: number;
  /** Whether the file holds the hash (as `token create` writes) or the raw token. */
  readonly stored: 'hash' | 'raw';
  readonly name?: string;
  readonly project?: string;
  /** The only keys the token may read; absent: every key of its project(s). */
  readonly keys?: readonly string[];
  /** Epoch ms after which the token is refused with token_expired. */
  readonly expiresAt?: number;
  readonly created?: string;
  /** exec=only: the token may run commands with the secrets (brokered exec) but never read them. */
  readonly execOnly?: true;
  /** cmds=: the only commands (argv prefixes) an exec may run; absent: any. */
  readonly allowCmd?: ReadonlyArray<readonly string[]>;
  /** env=: names a delegate's base environment may pass into a brokered child (beyond LANG and TERM). */
  readonly allowEnv?: readonly string[];
}

export const tokenId = (hash: string): string => hash.slice(0, 8);

export function hashToken(token: string | Uint8Array): string {
  return createHash('sha256').update(token).digest('hex');
}

export const isUnrestricted = (t: TokenSpec): boolean => t.project === undefined && t.keys === undefined && !t.execOnly && t.allowCmd === undefined;

/** A token's scope in words, everywhere it is shown: "project backend, keys A,B", "unrestricted". */
export function describeScope(t: {
  project?: string | null;
  keys?: readonly string[] | null;
  execOnly?: boolean;
  allowCmd?: ReadonlyArray<readonly string[]>;
  allowEnv?: readonly string[];
}): string {
  const parts = [t.project != null ? `project ${t.project}` : 'any project', t.keys ? `keys ${t.keys.join(',')}` : 'all keys'];
  const base = t.project == null && !t.keys ? 'unrestricted' : parts.join(', ');
  if (!t.execOnly && !t.allowCmd) return base;
  const cmds = t.allowCmd ? `commands: ${t.allowCmd.map((c) => c.join(' ')).join('; ')}` : 'any command';
  const env = t.allowEnv ? `, a delegate's child also gets its ${t.allowEnv.join(',')}` : '';
  return `${t.execOnly ? 'exec-only' : 'read and exec'} (${cmds}), ${t.execOnly && base === 'unrestricted' ? 'any project, all keys' : base}${env}`;
}

// ---- values -------------------------------------------------------------------------------

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 date-time with its zone (`2026-12-01T00:00:00Z`, `...+02:00`) to epoch ms;
 * null for anything else, including impossible dates (Feb 30) that Date.parse would roll over.
 */
export function parseTime(text: string): number | null {
  const m = TIME_RE.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1, 6).map(Number);
  const s = Number(m[6] ?? 0);
  const msec = Math.floor(Number(`0.${m[7] ?? 0}`) * 1000);
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59) return null;
  let offset = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const t = Date.UTC(y, mo - 1, d, h, mi, s, msec) - offset * 60_000;
  return Number.isFinite(t) ? t : null;
}

/** Problems with a value; the caller adds where (a line of the file, or a flag). */
class ValueError extends Error {}

export function checkTokenName(name: string): string {
  if (!NAME_RE.test(name)) throw new ValueError('a name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  return name;
}

export function checkTokenKeys(list: string): string[] {
  const keys = list.split(',');
  for (const k of keys) {
    if (!k || k.length > MAX_KEY_NAME || !KEY_NAME_RE.test(k))
      throw new ValueError('keys= is a comma-separated list of key names (letters, digits and _, not starting with a digit)');
  }
  if (new Set(keys).size !== keys.length) throw new ValueError('keys= lists a key twice');
  return keys;
}

export function checkTokenProject(name: string): string {
  try {
    return checkProjectName(name);
  } catch {
    throw new ValueError('invalid project name (1-100 letters, digits, ".", "_" or "-", starting with a letter or digit)');
  }
}

function checkTime(attr: string, text: string): number {
  const t = parseTime(text);
  if (t === null) throw new ValueError(`${attr}= is not a date-time with a zone, like 2026-12-01T00:00:00Z`);
  return t;
}

/** Validates --name/--keys/--project values for `token create`, with the file's rules. */
export function checkTokenFlag<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValueError) throw usageError(`invalid ${flag}: ${err.message}`);
    throw err;
  }
}

/** `cmds=` to argv prefixes: `;` between commands, `,` between words, words URI-encoded. */
export function parseAllowCmd(text: string): string[][] {
  const cmds = text.split(';').map((c) =>
    c.split(',').map((w) => {
      let word: string;
      try {
        word = decodeURIComponent(w);
      } catch {
        throw new ValueError('cmds= has a malformed %-escape');
      }
      if (!word || word.includes('\0')) throw new ValueError('cmds= has an empty word (commands are separated by ";", words by ",")');
      return word;
    }),
  );
  return cmds;
}

/** The names PATH and HOME are always the agent's in a delegate's child; TVAULT_* never passes. */
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** `env=` (or `--allow-env`) to names: comma-separated environment variable names. */
export function checkAllowEnv(text: string): string[] {
  const names = text.split(',');
  for (const n of names) {
    if (!ENV_NAME_RE.test(n)) throw new ValueError(`"${n.slice(0, 40)}" is not an environment variable name (letters, digits, _)`);
    if (n.startsWith('TVAULT_')) throw new ValueError(`${n}: TVAULT_* never passes into a brokered child`);
    if (n === 'PATH' || n === 'HOME') throw new ValueError(`${n} is always the agent's in a delegate's child (the child runs as the agent's user)`);
  }
  return [...new Set(names)];
}

/** The `cmds=` value for argv prefixes. */
export const formatAllowCmd = (cmds: ReadonlyArray<readonly string[]>): string => cmds.map((c) => c.map(encodeURIComponent).join(',')).join(';');

// ---- lines --------------------------------------------------------------------------------

const isBlank = (b: number) => b === 0x20 || b === 0x09;

/** The [start, end) byte ranges of a line's fields, up to a `#` that starts a field. */
function fieldsOf(buf: Buffer, start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = start;
  while (i < end) {
    while (i < end && isBlank(buf[i])) i++;
    if (i >= end || buf[i] === 0x23) break;
    const s = i;
    while (i < end && !isBlank(buf[i])) i++;
    out.push([s, i]);
  }
  return out;
}

/** Each line's [start, end) without its newline (and a CR before it). */
export function lineRanges(buf: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    const next = end < 0 ? buf.length : end + 1;
    if (end < 0) end = buf.length;
    out.push([start, end > start && buf[end - 1] === 0x0d ? end - 1 : end]);
    start = next;
  }
  return out;
}

/** The credential (first field): a sha256: hash, or a raw token hashed here, and an optional :project. */
function credential(field: Buffer): { hash: string; stored: 'hash' | 'raw'; project?: string } {
  if (field.subarray(0, HASH_PREFIX.length).equals(HASH_PREFIX)) {
    const m = /^([0-9a-fA-F]{64})(?::(.*))?$/.exec(field.toString('latin1', HASH_PREFIX.length));
    if (!m) throw new ValueError('"sha256:" must be followed by the 64 hex digits of a SHA-256');
    return { hash: m[1].toLowerCase(), stored: 'hash', project: m[2] };
  }
  const colon = field.indexOf(0x3a);
  const token = colon >= 0 ? field.subarray(0, colon) : field;
  if (token.length === 0) throw new ValueError('the token before ":" is empty');
  if (token.length > MAX_RAW_TOKEN) throw new ValueError(`a token is at most ${MAX_RAW_TOKEN} characters`);
  if (!token.every((b) => TOKEN_BYTE[b] === 1)) throw new ValueError('a token may hold only letters, digits and . _ ~ + / = -');
  // '=' only as base64 padding at the end: `project=backend keys=A` is a line whose token was
  // left out, and must not become a token that anyone can type.
  const eq = token.indexOf(0x3d);
  if (eq >= 0 && token.subarray(eq).some((b) => b !== 0x3d)) {
    throw new ValueError('the first field looks like an attribute (name=value), not a token: the line has no token (a token may end in "=" padding only)');
  }
  return { hash: hashToken(token), stored: 'raw', project: colon >= 0 ? field.toString('latin1', colon + 1) : undefined };
}

function attributes(buf: Buffer, fields: Array<[number, number]>, project: string | undefined): Map<Attr, string> {
  const attrs = new Map<Attr, string>();
  if (project !== undefined) attrs.set('project', project);
  fields.forEach(([a, b], i) => {
    const eq = buf.indexOf(0x3d, a);
    if (eq < 0 || eq >= b) throw new ValueError(`field ${i + 2} is not an attribute (name=value); a line holds one token`);
    const name = buf.toString('latin1', a, eq);
    if (!(ATTRS as readonly string[]).includes(name)) {
      throw new ValueError(
        `${/^[a-z_]{1,20}$/.test(name) ? `unknown attribute "${name}"` : `field ${i + 2} is an unknown attribute`} (known: ${ATTRS.join(', ')})`,
      );
    }
    if (attrs.has(name as Attr))
      throw new ValueError(`${name} is given twice${name === 'project' && project !== undefined ? ' (as :project and project=)' : ''}`);
    if (eq + 1 === b) throw new ValueError(`${name}= has no value`);
    attrs.set(name as Attr, buf.toString('utf8', eq + 1, b));
  });
  return attrs;
}

function parseLine(buf: Buffer, fields: Array<[number, number]>, line: number): TokenSpec {
  const [s, e] = fields[0];
  const cred = credential(buf.subarray(s, e));
  const attrs = attributes(buf, fields.slice(1), cred.project);
  const project = attrs.get('project');
  const keys = attrs.get('keys');
  const expires = attrs.get('expires');
  const name = attrs.get('name');
  const created = attrs.get('created');
  const exec = attrs.get('exec');
  const cmds = attrs.get('cmds');
  const env = attrs.get('env');
  if (created !== undefined) checkTime('created', created);
  if (exec !== undefined && exec !== 'only') throw new ValueError('exec= has one value: only');
  return {
    hash: cred.hash,
    id: tokenId(cred.hash),
    line,
    stored: cred.stored,
    ...(name !== undefined && { name: checkTokenName(name) }),
    ...(project !== undefined && { project: checkTokenProject(project) }),
    ...(keys !== undefined && { keys: checkTokenKeys(keys) }),
    ...(expires !== undefined && { expiresAt: checkTime('expires', expires) }),
    ...(created !== undefined && { created }),
    ...(exec === 'only' && { execOnly: true as const }),
    ...(cmds !== undefined && { allowCmd: parseAllowCmd(cmds) }),
    ...(env !== undefined && { allowEnv: checkAllowEnv(env) }),
  };
}

/**
 * Parses a token file's bytes. Throws a TvaultError naming `label` and the line for the first
 * problem: an unknown attribute, a bad date, key or project name, a duplicate name or token.
 */
export function parseTokenFile(buf: Buffer, label: string): TokenSpec[] {
  const specs: TokenSpec[] = [];
  const byHash = new Map<string, number>();
  const byName = new Map<string, number>();
  lineRanges(buf).forEach(([start, end], i) => {
    const line = i + 1;
    const fail = (why: string): never => {
      throw new TvaultError(`${label}: line ${line}: ${why}`);
    };
    for (let j = start; j < end; j++) if ((buf[j] < 0x20 && buf[j] !== 0x09) || buf[j] === 0x7f) fail('a control character');
    const fields = fieldsOf(buf, start, end);
    if (!fields.length) return;
    let spec: TokenSpec;
    try {
      spec = parseLine(buf, fields, line);
    } catch (err) {
      if (err instanceof ValueError) fail(err.message);
      throw err;
    }
    const sameToken = byHash.get(spec.hash);
    if (sameToken) fail(`the same token as line ${sameToken}`);
    const sameName = spec.name !== undefined ? byName.get(spec.name) : undefined;
    if (sameName) fail(`the name is already used on line ${sameName}`);
    byHash.set(spec.hash, line);
    if (spec.name !== undefined) byName.set(spec.name, line);
    specs.push(spec);
  });
  return specs;
}

/** The line `token create` appends: only the hash, then the attributes. */
export function formatTokenLine(t: Omit<TokenSpec, 'id' | 'line' | 'stored' | 'expiresAt'> & { expires?: string }): string {
  const attrs = [
    t.name !== undefined && `name=${t.name}`,
    t.project !== undefined && `project=${t.project}`,
    t.keys && `keys=${t.keys.join(',')}`,
    t.expires !== undefined && `expires=${t.expires}`,
    t.created !== undefined && `created=${t.created}`,
    t.execOnly && 'exec=only',
    t.allowCmd && `cmds=${formatAllowCmd(t.allowCmd)}`,
    t.allowEnv && `env=${t.allowEnv.join(',')}`,
  ].filter(Boolean);
  return [`sha256:${t.hash}`, ...attrs].join('  ') + '\n';
}

// ---- the file -----------------------------------------------------------------------------

/**
 * Checks an open token file: a regular file of ours that nobody else can read (the page: 0600).
 * Returns its size.
 */
export function checkTokenFd(fd: number, path: string): number {
  const st = fstatSync(fd);
  checkPrivate(st, { what: 'token file', path, remedy: `it must be 0600, readable by you alone (fix: chmod 600 ${path})` }, TOKEN_FILE);
  if (st.size > MAX_TOKEN_FILE) throw new TvaultError(`token file ${path} is larger than 1 MiB`);
  return st.size;
}

/** Reads an open, checked token file whole into a Buffer of its own; the caller zeroes it. */
export function readTokenBytes(fd: number, path: string): Buffer {
  const size = checkTokenFd(fd, path);
  const buf = Buffer.alloc(size + 1); // one more byte: notices a file that grew under us
  let got = 0;
  for (let n; got < buf.length && (n = readSync(fd, buf, got, buf.length - got, got)) > 0;) got += n;
  if (got > size) {
    buf.fill(0);
    throw new TvaultError(`token file ${path} changed while it was read; try again`);
  }
  return buf.subarray(0, got);
}

export function openTokenFile(path: string, flags = constants.O_RDONLY): number {
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the agent (checkTokenFd refuses it).
    return openSync(path, flags | constants.O_NONBLOCK);
  } catch (err) {
    const missing = errnoCode(err) === 'ENOENT';
    throw new TvaultError(`cannot read token file ${path}: ${errnoText(err, { sayMissing: true })}`, missing ? ExitCode.NOT_FOUND : ExitCode.ERROR);
  }
}

/**
 * Reads and parses a token file. A file with no token at all is refused unless allowEmpty
 * (the agent refuses one at start; on reload, an emptied file revokes every token).
 */
export function readTokenFile(path: string, { allowEmpty = false } = {}): TokenSpec[] {
  const fd = openTokenFile(path);
  let specs: TokenSpec[];
  try {
    const buf = readTokenBytes(fd, path);
    try {
      specs = parseTokenFile(buf, path);
    } finally {
      buf.fill(0);
    }
  } finally {
    closeSync(fd);
  }
  if (!specs.length && !allowEmpty) {
    throw new TvaultError(`token file ${path} holds no tokens (only comments and blank lines); add one with: tvault agent token create --token-file ${path}`);
  }
  return specs;
}
