// tvault.toml: a per-directory file that selects a project and lists the keys it expects.
// A cloned repository can carry one that points at your production project, so a file is
// used only after `tvault allow` recorded a hash of its absolute path and its content.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TvaultError, checkKeyName, checkProjectName } from '@tvault/core';

export const CONFIG_NAME = 'tvault.toml';

export interface ProjectConfig {
  path: string;
  project?: string;
  /** Keys from [secrets] with `required = true`. */
  required: string[];
}

/** The nearest tvault.toml walking up from dir, or null. */
export function findConfig(dir = process.cwd()): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const p = join(d, CONFIG_NAME);
    if (existsSync(p)) return p;
    if (dirname(d) === d) return null;
  }
}

function allowId(path: string, content: Buffer): string {
  return createHash('sha256').update(resolve(path)).update('\0').update(content).digest('hex');
}

const allowDir = (vaultDir: string) => join(vaultDir, 'allow');

export function isAllowed(vaultDir: string, path: string, content: Buffer): boolean {
  return existsSync(join(allowDir(vaultDir), allowId(path, content)));
}

export function allow(vaultDir: string, path: string): void {
  const content = readFileSync(path);
  parseConfig(path, content); // refuse to allow a file that does not parse
  mkdirSync(allowDir(vaultDir), { recursive: true, mode: 0o700 });
  writeFileSync(join(allowDir(vaultDir), allowId(path, content)), resolve(path) + '\n', { mode: 0o600 });
}

/** Forgets every allowance of this path, whatever content it had. */
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

export function parseConfig(path: string, content: Buffer): ProjectConfig {
  let doc: Record<string, unknown>;
  try {
    doc = require('smol-toml').parse(content.toString('utf8'));
  } catch (err) {
    throw new TvaultError(`${path}: invalid TOML: ${String((err as Error).message).split('\n')[0]}`);
  }
  const cfg: ProjectConfig = { path, required: [] };
  if (doc.project !== undefined) {
    if (typeof doc.project !== 'string') throw new TvaultError(`${path}: 'project' must be a string`);
    cfg.project = checkProjectName(doc.project);
  }
  const secrets = doc.secrets;
  if (secrets !== undefined) {
    if (typeof secrets !== 'object' || secrets === null) throw new TvaultError(`${path}: [secrets] must be a table`);
    for (const [k, v] of Object.entries(secrets)) {
      checkKeyName(k);
      if (v && typeof v === 'object' && (v as { required?: unknown }).required === true) cfg.required.push(k);
    }
  }
  return cfg;
}

/** Loads the nearest config, refusing it unless it was allowed as it is now. */
export function loadConfig(vaultDir: string, cwd = process.cwd()): ProjectConfig | null {
  const path = findConfig(cwd);
  if (!path) return null;
  const content = readFileSync(path);
  if (!isAllowed(vaultDir, path, content)) {
    throw new TvaultError(`${path} is not allowed (new, edited or moved); review it, then run: tvault allow ${path}`);
  }
  return parseConfig(path, content);
}
