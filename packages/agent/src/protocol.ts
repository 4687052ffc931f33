// The agent's side of the wire protocol (docs/PROTOCOL.md; its shapes and codes are in
// @tvault/protocol): parsing turns any bad input into a ProtocolError with a stable code;
// encoding builds the answer in Buffers so that secret values never become JS strings here.
import { checkKeyName, checkProjectName } from '@tvault/core';
import {
  type ErrorCode,
  type ExecRequest,
  type LockAnswer,
  MAX_EXEC_ARGS,
  MAX_EXEC_ENV,
  MAX_PASSPHRASE_BYTES,
  MAX_PREFIX,
  OPS,
  type Op,
  PROTOCOL_VERSION,
  type ParsedRequest,
  REPLY_FOR_OP,
  rawReplyHeader,
  type StatusAnswer,
  type NamesAnswer,
  type StopAnswer,
  TOOL_LABEL,
  UNLOCK_FIELD,
} from '@tvault/protocol';

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields of the error answer, e.g. `unlock: true` on a locked agent's refusal. */
    readonly fields?: Record<string, boolean>,
  ) {
    super(message);
  }
}

const KNOWN_OPS: ReadonlySet<string> = new Set<Op>(OPS);

const bad = (msg: string) => new ProtocolError('bad_request', msg);

/** Runs a core name check and turns its usage error into bad_request. */
function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw bad((err as Error).message);
  }
}

function projectField(o: Record<string, unknown>): string | null {
  const p = o.project;
  if (p === undefined || p === null) return null;
  if (typeof p !== 'string') throw bad('"project" must be a string or null');
  return checked(() => checkProjectName(p));
}

function keyList(v: unknown): string[] {
  if (!Array.isArray(v) || v.some((k) => typeof k !== 'string')) throw bad('"only" must be an array of key names');
  return v.map((k: string) => checked(() => checkKeyName(k)));
}

const FIELD = Buffer.from(UNLOCK_FIELD);

function hexNibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Takes an unlock's passphrase out of the request line before anything parses it: decodes the
 * hex of `"passphrase":"..."` into a Buffer of its own and overwrites the hex in the line with
 * `0`s, so that JSON.parse never sees it. Null when the line has no such field. Throws
 * bad_request (zeroing what it decoded) for a field that is not lowercase hex of a passphrase.
 */
export function takePassphrase(line: Buffer): Buffer | null {
  const at = line.indexOf(FIELD);
  if (at < 0) return null;
  const start = at + FIELD.length;
  const end = line.indexOf(0x22, start);
  const len = end - start;
  if (end < 0 || len % 2 !== 0 || len === 0 || len / 2 > MAX_PASSPHRASE_BYTES) {
    line.fill(0x30, start, end < 0 ? line.length : end);
    throw bad(`"passphrase" must be the passphrase (1 to ${MAX_PASSPHRASE_BYTES} bytes) in lowercase hex`);
  }
  const out = Buffer.allocUnsafeSlow(len / 2); // never pooled: zeroed by the caller
  let ok = true;
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(line[start + 2 * i]);
    const lo = hexNibble(line[start + 2 * i + 1]);
    if (hi < 0 || lo < 0) ok = false;
    out[i] = (hi << 4) | lo;
  }
  line.fill(0x30, start, end);
  if (!ok) {
    out.fill(0);
    throw bad('"passphrase" must be the passphrase in lowercase hex');
  }
  return out;
}

/** Parses one request line (without its newline). Throws ProtocolError. */
export function parseRequest(line: Buffer): ParsedRequest {
  const passphrase = takePassphrase(line);
  try {
    const req = parseJson(line, passphrase !== null);
    if (req.op === 'unlock') return { ...req, passphrase: passphrase! };
    if (passphrase) throw bad('"passphrase" is only valid with op unlock');
    return req;
  } catch (err) {
    passphrase?.fill(0);
    throw err;
  }
}

function parseJson(line: Buffer, hadPassphrase: boolean): Exclude<ParsedRequest, { op: 'unlock' }> | { op: 'unlock'; token?: string } {
  let o: unknown;
  try {
    o = JSON.parse(line.toString('utf8'));
  } catch {
    throw new ProtocolError('bad_json', 'the request is not valid JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('the request must be a JSON object');
  const r = o as Record<string, unknown>;
  if (r.v !== PROTOCOL_VERSION) {
    const got = r.v === undefined ? 'no "v" field' : `version ${JSON.stringify(r.v).slice(0, 20)}`;
    throw new ProtocolError('bad_version', `unsupported protocol version (${got}); this agent speaks v${PROTOCOL_VERSION}`);
  }
  if (typeof r.op !== 'string') throw bad('"op" is missing or not a string');
  if (!KNOWN_OPS.has(r.op)) throw new ProtocolError('unknown_op', `unknown op ${JSON.stringify(r.op.slice(0, 40))}; known ops: ${OPS.join(', ')}`);
  // The capability token: checked by the agent when it requires tokens, ignored otherwise, never logged.
  if (r.token !== undefined && typeof r.token !== 'string') throw bad('"token" must be a string');
  const token = r.token as string | undefined;
  const op = r.op as Op;
  if (op !== 'get' && r.key !== undefined) throw bad(`"key" is only valid with op get`);
  if (op !== 'getselected' && op !== 'exec' && op !== 'names' && (r.only !== undefined || r.prefix !== undefined))
    throw bad('"only" and "prefix" are only valid with op getselected, exec and names');
  if (op === 'names' && r.prefix !== undefined) throw bad('"prefix" is not valid with op names; name the keys in "only"');
  if (op !== 'exec' && op !== 'names' && r.tool !== undefined) throw bad('"tool" is only valid with op exec and names');
  // A raw reply (PROTOCOL.md, "Raw replies"): only the one form each of get and getall has.
  if (r.reply !== undefined && r.reply !== (op === 'get' || op === 'getall' ? REPLY_FOR_OP[op] : undefined))
    throw bad('"reply" is only valid as "value" with op get and as "shell" with op getall');
  if (op === 'unlock' && !hadPassphrase) throw bad(`op unlock needs ${UNLOCK_FIELD}...", the passphrase in lowercase hex`);
  switch (op) {
    case 'stop':
    case 'lock':
    case 'unlock':
      return { op, token };
    case 'status':
      return { op, project: projectField(r), token };
    case 'getall':
      return { op, project: projectField(r), token, ...(r.reply !== undefined && { reply: 'shell' as const }) };
    case 'get': {
      if (typeof r.key !== 'string') throw bad('op get needs "key", a key name');
      const key = r.key;
      return { op, project: projectField(r), key: checked(() => checkKeyName(key)), token, ...(r.reply !== undefined && { reply: 'value' as const }) };
    }
    case 'getselected': {
      const only = r.only === undefined ? undefined : keyList(r.only);
      if (r.prefix !== undefined && (typeof r.prefix !== 'string' || r.prefix.length > MAX_PREFIX))
        throw bad(`"prefix" must be a string of at most ${MAX_PREFIX} characters`);
      const prefix = r.prefix as string | undefined;
      if (!only && prefix === undefined) throw bad('op getselected needs "only" or "prefix"');
      return { op, project: projectField(r), only, prefix, token };
    }
    case 'exec':
      return { ...execFields(r), token };
    case 'names':
      return { op, project: projectField(r), only: r.only === undefined ? undefined : keyList(r.only), tool: toolField(r), token };
  }
}

/** The caller's audit label (TOOL_LABEL), or undefined. */
function toolField(r: Record<string, unknown>): string | undefined {
  if (r.tool === undefined) return undefined;
  if (typeof r.tool !== 'string' || !TOOL_LABEL.test(r.tool)) throw bad('"tool" must be a label of 1 to 40 characters: a-z first, then a-z, 0-9, _ . : -');
  return r.tool;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const hasNul = (s: string) => s.includes('\0');

/** The fields of an exec request: argv, cwd, the base env, the selection, tty. */
function execFields(r: Record<string, unknown>): ExecRequest {
  const { argv, cwd, env, tty } = r;
  if (!isStringList(argv) || !argv.length || argv.length > MAX_EXEC_ARGS || argv.some(hasNul) || !argv[0])
    throw bad(`op exec needs "argv", 1 to ${MAX_EXEC_ARGS} strings without NUL, the first not empty`);
  if (typeof cwd !== 'string' || !cwd.startsWith('/') || hasNul(cwd)) throw bad('op exec needs "cwd", an absolute path');
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw bad('op exec needs "env", an object of strings');
  const entries = Object.entries(env as Record<string, unknown>);
  if (entries.length > MAX_EXEC_ENV) throw bad(`"env" has more than ${MAX_EXEC_ENV} variables`);
  const base: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || !k || k.includes('=') || hasNul(k) || hasNul(v)) throw bad('"env" must map names (no "=", no NUL) to strings without NUL');
    base[k] = v;
  }
  if (tty !== undefined && typeof tty !== 'boolean') throw bad('"tty" must be a boolean');
  const only = r.only === undefined ? undefined : keyList(r.only);
  if (r.prefix !== undefined && (typeof r.prefix !== 'string' || r.prefix.length > MAX_PREFIX))
    throw bad(`"prefix" must be a string of at most ${MAX_PREFIX} characters`);
  const tool = toolField(r);
  return { op: 'exec', project: projectField(r), argv, cwd, env: base, only, prefix: r.prefix as string | undefined, tty: tty === true, ...(tool && { tool }) };
}

// ---- responses ---------------------------------------------------------------------------

const EMPTY = Buffer.alloc(0);
const CLOSE = Buffer.from('}}\n');

export function errorLine(code: ErrorCode, message: string, fields?: Record<string, boolean>): Buffer {
  return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ok: false, error: code, message: message.split('\n')[0], ...fields }) + '\n');
}

/** A success line without secret values (status, stop, lock, names). */
export function okLine(fields: StatusAnswer | StopAnswer | LockAnswer | NamesAnswer): Buffer {
  return Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, ok: true, ...fields }) + '\n');
}

const ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };
/** Each byte's escaped form (undefined: the byte itself), and its length in a JSON string. */
const ESCAPED: Array<Buffer | undefined> = Array.from({ length: 256 }, (_, b) =>
  ESCAPES[b] ? Buffer.from(ESCAPES[b], 'latin1') : b < 0x20 ? Buffer.from(`\\u00${b.toString(16).padStart(2, '0')}`, 'latin1') : undefined,
);
const WIDTH = Uint8Array.from(ESCAPED, (e) => e?.length ?? 1);

/** A key name that needs no JSON escaping (core allows only these on write). */
const PLAIN_NAME = /^[A-Za-z0-9_]+$/;

/** The length of a value as a JSON string literal (jsonStringBytes), quotes included. */
function jsonStringLength(value: Uint8Array): number {
  let len = 2;
  for (let i = 0; i < value.length; i++) len += WIDTH[value[i]];
  return len;
}

/** Writes a value as a JSON string literal at `at`; returns the offset after it. */
function writeJsonString(value: Uint8Array, out: Buffer, at: number): number {
  out[at++] = 0x22;
  for (let i = 0; i < value.length; i++) {
    const b = value[i];
    const esc = ESCAPED[b];
    if (esc === undefined) out[at++] = b;
    else at += esc.copy(out, at);
  }
  out[at++] = 0x22;
  return at;
}

/**
 * Encodes UTF-8 bytes as a JSON string literal, straight from Buffer to Buffer. Values are
 * valid UTF-8 without NUL (core checks that on write), so bytes >= 0x80 pass through as they are.
 */
export function jsonStringBytes(value: Uint8Array): Buffer {
  const out = Buffer.alloc(jsonStringLength(value)); // never pooled: it is zeroed after the write
  writeJsonString(value, out, 0);
  return out;
}

const head = (fields: Record<string, unknown>) => JSON.stringify({ v: PROTOCOL_VERSION, ok: true, ...fields }).slice(0, -1);

/** `{"v":1,"ok":true,"project":P,"key":K,"value":"..."}` — the caller zeroes the value and the line. */
export function valueLine(project: string, key: string, value: Uint8Array): Buffer {
  const h = Buffer.from(head({ project, key }) + ',"value":');
  const out = Buffer.alloc(h.length + jsonStringLength(value) + 2); // never pooled: zeroed after the write
  const at = writeJsonString(value, out, h.copy(out, 0));
  out[at] = 0x7d; // }
  out[at + 1] = 0x0a;
  return out;
}

/** A raw reply's header (`{"ok":true,"bytes":N}` and a newline), for N bytes that follow it. */
export function rawHeader(bytes: number): Buffer {
  return Buffer.from(rawReplyHeader(bytes), 'latin1');
}

/** `reply: "value"`: the header and the value's bytes in one Buffer; the caller zeroes the value and it. */
export function rawValue(value: Uint8Array): Buffer {
  const h = rawHeader(value.length);
  const out = Buffer.alloc(h.length + value.length); // never pooled: zeroed after the write
  h.copy(out, 0);
  out.set(value, h.length);
  return out;
}

/**
 * One part of a secrets line: `{"v":1,"ok":true,"project":P,"secrets":{` before the first
 * (first), `NAME:"value",...` for these secrets (comma-led unless first), `}}` and the newline
 * after the last (last), in one Buffer; the caller zeroes the values and the part. The first
 * part holds the line's first secret (it is empty only if the line has none): a later part's
 * secrets are all comma-led.
 */
export function secretsPart(
  project: string,
  secrets: Array<{ name: string; value: Uint8Array }>,
  first: boolean,
  last: boolean,
  allowed: string[] = [],
): Buffer {
  // `allowed`: the names among these the project allows although they are dangerous (names only).
  const open = first ? Buffer.from(head({ project, ...(allowed.length ? { allowed } : {}) }) + ',"secrets":{') : EMPTY;
  const close = last ? CLOSE : EMPTY;
  // Key names are letters, digits and _ (core checks them on write): written as they are, in
  // quotes; anything else (never seen) goes through JSON.stringify.
  const names = secrets.map((x) => (PLAIN_NAME.test(x.name) ? null : JSON.stringify(x.name)));
  const widths = new Array<number>(secrets.length);
  let total = open.length + close.length;
  for (let i = 0; i < secrets.length; i++) {
    widths[i] = jsonStringLength(secrets[i].value);
    total += (i || !first ? 1 : 0) + (names[i] === null ? secrets[i].name.length + 2 : Buffer.byteLength(names[i]!)) + 1 + widths[i];
  }
  const out = Buffer.alloc(total); // one allocation for the part, never pooled: zeroed after the write
  let at = open.copy(out, 0);
  for (let i = 0; i < secrets.length; i++) {
    if (i || !first) out[at++] = 0x2c;
    const name = names[i];
    if (name === null) {
      out[at++] = 0x22;
      at += out.write(secrets[i].name, at, 'latin1');
      out[at++] = 0x22;
    } else at += out.write(name, at);
    out[at++] = 0x3a;
    const value = secrets[i].value;
    if (widths[i] === value.length + 2) {
      // Nothing to escape: one copy.
      out[at] = 0x22;
      out.set(value, at + 1);
      at += value.length + 1;
      out[at++] = 0x22;
    } else at = writeJsonString(value, out, at);
  }
  close.copy(out, at);
  return out;
}

/** `{"v":1,"ok":true,"project":P,"secrets":{NAME:"value",...}}` — the caller zeroes values and line. */
export function secretsLine(project: string, secrets: Array<{ name: string; value: Uint8Array }>): Buffer {
  return secretsPart(project, secrets, true, true);
}
