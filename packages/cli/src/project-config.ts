// tvault.toml: a per-directory file that selects a project and lists the keys it expects.
// A cloned repository can carry one that points at your production project, so a file is
// used only after `tvault allow` recorded a hash of its absolute path and its content (as
// direnv does for .envrc): any edit or move makes it unknown again, and `tvault deny` forgets it.
import { type Stats, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { TvaultError, checkKeyName, checkPrivateDir, checkProjectName, errnoText, writeFileAtomic } from '@tvault/core';

export const CONFIG_NAME = 'tvault.toml';

export interface ProjectConfig {
  path: string;
  project?: string;
  /** Keys from [secrets] with `required = true`. */
  required: string[];
}

/** Without throwing on a missing file: this runs for every parent dir on `tvault get`'s hot path. */
function statOf(p: string): Stats | null {
  try {
    return statSync(p, { throwIfNoEntry: false }) ?? null;
  } catch {
    return null; // EACCES and the like: nothing we can use
  }
}

function isFile(p: string): boolean {
  return statOf(p)?.isFile() ?? false;
}

/**
 * Why a directory on the walk, or a tvault.toml in it, is not to be trusted, or null: another
 * user could have put the file there (/tmp/tvault.toml) or could change it. Like OpenSSH's
 * StrictModes: owned by you or root, and writable by neither group nor others.
 */
function untrusted(st: Stats): string | null {
  if (process.platform === 'win32') return null;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) return `owned by uid ${st.uid}`;
  if (st.mode & 0o022) return 'writable by group or others';
  return null;
}

/** One line on stderr per ignored file, however often the walk runs in this process. */
function noteIgnored(path: string, why: string): void {
  const memo = globalThis as { tvaultIgnoredConfigs?: Set<string> };
  const seen = (memo.tvaultIgnoredConfigs ??= new Set());
  if (seen.has(path)) return;
  seen.add(path);
  process.stderr.write(`tvault: ignoring ${path}: ${why}; only a ${CONFIG_NAME} that you or root own and no one else can write is used\n`);
}

/**
 * The nearest tvault.toml (a regular file) walking up from dir, or null. The walk ends at the
 * first directory that is not trusted (see untrusted), and at a file that is not: such a file
 * is ignored, with a note.
 */
export function findConfig(dir = process.cwd()): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const dst = statOf(d);
    const p = join(d, CONFIG_NAME);
    const dirWhy = dst ? untrusted(dst) : 'not readable';
    if (dirWhy) {
      if (isFile(p)) noteIgnored(p, `its directory ${d} is ${dirWhy}`);
      return null;
    }
    const st = statOf(p);
    if (st?.isFile()) {
      const why = untrusted(st);
      if (!why) return p;
      noteIgnored(p, `it is ${why}`);
      return null;
    }
    if (dirname(d) === d) return null;
  }
}

function readConfig(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TvaultError(`cannot read ${path}: ${errnoText(err)}`);
  }
}

/**
 * The allow record's name: sha256(absolute path as UTF-8, NUL, content), in hex. SHA-256 from
 * @noble/hashes (bundled), not node:crypto: loading node:crypto (it pulls in Node's streams)
 * cost `tvault get` ~4 ms under an allowed tvault.toml, more than the rest of the fast path's
 * own work. The same digest as createHash('sha256'), so records written before still match
 * (project-config.test.ts compares the two).
 */
export function allowId(path: string, content: Uint8Array): string {
  const name = Buffer.from(resolve(path), 'utf8');
  const msg = Buffer.alloc(name.length + 1 + content.length);
  name.copy(msg);
  msg.set(content, name.length + 1);
  return Buffer.from(sha256(msg)).toString('hex');
}

const allowDir = (vaultDir: string) => join(vaultDir, 'allow');

/** A path as a shell word, for the command we tell the user to run. */
const shellWord = (p: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

export function isAllowed(vaultDir: string, path: string, content: Buffer): boolean {
  const dir = allowDir(vaultDir);
  if (!existsSync(dir)) return false;
  checkPrivateDir(dir); // records others could write would be no proof of anything
  return existsSync(join(dir, allowId(path, content)));
}

/** Trusts the file as it is now, and forgets any earlier content of the same path. */
export function allow(vaultDir: string, path: string): string {
  const abs = resolve(path);
  if (!isFile(abs)) throw new TvaultError(`${abs} is not a file`);
  const why = untrusted(statSync(abs)) ?? untrusted(statSync(dirname(abs)));
  if (why) throw new TvaultError(`refusing to allow ${abs}: it or its directory is ${why}, so another user could change it`);
  const content = readConfig(abs);
  parseConfig(abs, content); // refuse to allow a file that does not parse
  deny(vaultDir, abs);
  mkdirSync(allowDir(vaultDir), { recursive: true, mode: 0o700 });
  writeFileAtomic(join(allowDir(vaultDir), allowId(abs, content)), abs + '\n');
  return abs;
}

/** Forgets every allowance of this path, whatever content it had. Returns how many. */
export function deny(vaultDir: string, path: string): number {
  const dir = allowDir(vaultDir);
  if (!existsSync(dir)) return 0;
  const target = resolve(path) + '\n';
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (readFileSync(join(dir, f), 'utf8') === target) {
      rmSync(join(dir, f));
      n++;
    }
  }
  return n;
}

/** The keys a tvault.toml may hold: a typo such as `projekt` is an error, never silently ignored. */
const TOP_KEYS = ['project', 'secrets'];
const SECRET_KEYS = ['required'];

/** The line (1-based) where `key` is first set or opened as a table in the text, for errors. */
function lineOf(text: string, key: string): number | undefined {
  const quoted = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^\\s*(\\[\\s*)?["']?${quoted}["']?\\s*[=\\].]`);
  const i = text.split('\n').findIndex((l) => re.test(l));
  return i < 0 ? undefined : i + 1;
}

export function parseConfig(path: string, content: Buffer): ProjectConfig {
  const text = content.toString('utf8');
  const at = (key: string) => {
    const line = lineOf(text, key);
    return line ? `${path}, line ${line}` : path;
  };
  let doc: Record<string, unknown>;
  try {
    doc = require('smol-toml').parse(text);
  } catch (err) {
    // smol-toml's message holds a code excerpt after its first line; the line number is enough.
    const e = err as { message?: string; line?: number };
    const why = String(e.message ?? err)
      .split('\n')[0]
      .replace(/^Invalid TOML document: /, '');
    throw new TvaultError(`${path}${typeof e.line === 'number' ? `, line ${e.line}` : ''}: invalid TOML: ${why}`);
  }
  for (const k of Object.keys(doc)) {
    if (!TOP_KEYS.includes(k)) throw new TvaultError(`${at(k)}: unknown key '${k}' (a tvault.toml holds: project = "NAME" and a [secrets] table)`);
  }
  const cfg: ProjectConfig = { path, required: [] };
  if (doc.project !== undefined) {
    if (typeof doc.project !== 'string') throw new TvaultError(`${at('project')}: 'project' must be a string`);
    cfg.project = checkProjectName(doc.project);
  }
  const secrets = doc.secrets;
  if (secrets !== undefined) {
    if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) throw new TvaultError(`${at('secrets')}: [secrets] must be a table`);
    for (const [k, v] of Object.entries(secrets)) {
      checkKeyName(k);
      const required = (v as { required?: unknown } | null)?.required;
      if (typeof v !== 'object' || v === null || Array.isArray(v) || (required !== undefined && typeof required !== 'boolean')) {
        throw new TvaultError(`${at(k)}: [secrets] ${k} must be a table such as { required = true }`);
      }
      const unknown = Object.keys(v).find((key) => !SECRET_KEYS.includes(key));
      if (unknown) throw new TvaultError(`${at(k)}: unknown key '${unknown}' in [secrets] ${k} (only: required = true or false)`);
      if (required) cfg.required.push(k);
    }
  }
  return cfg;
}

/** What status and doctor say about the tvault.toml here, without refusing anything. */
export interface ConfigState {
  path: string;
  allowed: boolean;
  /** The project it selects, when it is allowed and parses. */
  project?: string;
  /** Why it cannot be used, when it is allowed but does not parse. */
  problem?: string;
}

export function configState(vaultDir: string, cwd = process.cwd()): ConfigState | null {
  const path = findConfig(cwd);
  if (!path) return null;
  const content = readConfig(path);
  if (!isAllowed(vaultDir, path, content)) return { path, allowed: false };
  try {
    return { path, allowed: true, project: parseConfig(path, content).project };
  } catch (err) {
    return { path, allowed: true, problem: (err as Error).message };
  }
}

/** The command that allows a file, as the user would type it. */
export const allowCommand = (path: string) => `tvault allow ${shellWord(path)}`;

/** Loads the nearest config, refusing it unless it was allowed as it is now. */
export function loadConfig(vaultDir: string, cwd = process.cwd()): ProjectConfig | null {
  const path = findConfig(cwd);
  if (!path) return null;
  const content = readConfig(path);
  if (!isAllowed(vaultDir, path, content)) {
    throw new TvaultError(
      `${path} is not allowed (it is new, or was edited or moved since it was allowed); review it, then run: tvault allow ${shellWord(path)}`,
    );
  }
  return parseConfig(path, content);
}
