// Renders secrets for shells and tools. Every format must round-trip any stored value
// (UTF-8 without NUL) byte for byte, and `eval` of the shell formats must never run anything
// that came from a value. Where a format cannot carry a value exactly, we refuse instead of
// writing something that would be read back differently.
import { randomBytes } from 'node:crypto';
import { TvaultError, usageError } from '@tvault/core';

export const ENV_FORMATS = ['shell', 'fish', 'dotenv', 'json', 'yaml', 'github'] as const;
export type EnvFormat = (typeof ENV_FORMATS)[number];

export interface EnvEntry {
  name: string;
  value: string;
}

export interface FormatOptions {
  /** Prefix shell/dotenv lines with `export` (default true). */
  export?: boolean;
}

/** Characters that need no quoting in a POSIX shell word (no ~, no glob, no expansion). */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX sh/bash/zsh: single quotes make everything literal; a ' is written as '\''. */
export function shellQuote(value: string): string {
  if (SHELL_SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** fish: inside single quotes only \\ and \' are escapes. */
export function fishQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * dotenv (as the `dotenv` npm package parses it): single and backtick quotes are literal but
 * cannot hold their own quote, a CR (line endings are normalised) or a trailing backslash;
 * double quotes turn \n and \r into newline and CR but keep other backslashes and cannot hold ".
 */
export function dotenvQuote(name: string, value: string): string {
  const endsWithBackslash = value.endsWith('\\');
  if (!value.includes('\r') && !endsWithBackslash) {
    if (!value.includes("'")) return `'${value}'`;
    if (!value.includes('`')) return `\`${value}\``;
  }
  if (!value.includes('"') && !/\\[nr]/.test(value) && !endsWithBackslash) {
    return `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
  }
  throw new TvaultError(`the value of ${name} cannot be written exactly in dotenv format (it mixes quote characters); use --format json`);
}

/** GitHub Actions' $GITHUB_ENV multiline form with a random delimiter absent from the value. */
function githubEntry(e: EnvEntry): string {
  let delim: string;
  do delim = `TVAULT_EOF_${randomBytes(12).toString('hex')}`;
  while (e.value.includes(delim));
  return `${e.name}<<${delim}\n${e.value}\n${delim}\n`;
}

export function formatEnv(entries: EnvEntry[], format: string, opts: FormatOptions = {}): string {
  const exp = opts.export !== false;
  switch (format as EnvFormat) {
    case 'shell':
      return entries.map((e) => `${exp ? 'export ' : ''}${e.name}=${shellQuote(e.value)}\n`).join('');
    case 'fish':
      return entries.map((e) => `set ${exp ? '-gx' : '-g'} ${e.name} ${fishQuote(e.value)};\n`).join('');
    case 'dotenv':
      return entries.map((e) => `${exp ? 'export ' : ''}${e.name}=${dotenvQuote(e.name, e.value)}\n`).join('');
    case 'json':
      return JSON.stringify(Object.fromEntries(entries.map((e) => [e.name, e.value])), null, 2) + '\n';
    case 'yaml': {
      if (!entries.length) return '{}\n';
      const YAML = require('yaml') as typeof import('yaml');
      return YAML.stringify(Object.fromEntries(entries.map((e) => [e.name, e.value])), { lineWidth: 0 });
    }
    case 'github':
      return entries.map(githubEntry).join('');
    default:
      throw usageError(`unknown format '${format}'; use one of: ${ENV_FORMATS.join(', ')}`);
  }
}
