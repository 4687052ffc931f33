// Renders secrets for shells and tools. Every format must round-trip any stored value
// (UTF-8 without NUL) byte for byte, and `eval` of the shell formats must never run anything
// that came from a value. Where a format cannot carry a value exactly, we refuse instead of
// writing something that would be read back differently. Each rule below was checked against
// the real reader (bash 5, zsh 5.9, fish 3.6, dotenv 17, yaml 2, the GitHub runner's parser);
// the tests in test/formats-*.test.mjs and test/shell-*.test.mjs hold them to it.
//
// @tvault/core/env-format: this module, with the dangerous-name rule (dangerous-names.ts), is an
// entry of its own so that the agent (which answers `reply: "shell"` with these bytes, see
// docs/PROTOCOL.md) and the CLI's fast path load it without the rest of core. It loads nothing
// but errors.ts.
import { TvaultError, usageError } from './errors';
import { checkInjectable } from './dangerous-names';

export { RESERVED_PREFIX, isDangerous, DANGEROUS_NAMES, DANGEROUS_PREFIXES, allowHint, checkInjectable } from './dangerous-names';

export const ENV_FORMATS = ['shell', 'fish', 'dotenv', 'json', 'yaml', 'github'] as const;
export type EnvFormat = (typeof ENV_FORMATS)[number];

export interface EnvEntry {
  name: string;
  value: string;
}

export interface FormatOptions {
  /** shell: `export K=...` (default) or plain `K=...`; fish: `set -gx` (default) or `set -g`. */
  export?: boolean;
  /** Dangerous names (dangerous-names.ts) the project allows, or the user let through with --allow-dangerous. */
  allowDangerous?: readonly string[];
  /** The project, named in the refusal's `tvault allow-name -p P` hint. */
  project?: string;
  /**
   * dotenv: called for each value that has no portable form, which is then left out; without
   * it such a value is refused (a TvaultError naming the key, never the value).
   */
  onUnwritable?: (name: string, reason: string) => void;
  /**
   * dotenv: 'portable' (default) for a file other programs read; 'tvault' for one only tvault
   * reads back (`edit`'s file), in the npm dotenv grammar that tvault's import parser uses,
   * which carries far more values (backtick quoting).
   */
  reader?: 'portable' | 'tvault';
}

/**
 * The formats that apply variables to a process (eval'd by a shell, or by the Actions runner
 * into every later step): only these refuse dangerous and TVAULT_* names. dotenv, json and yaml
 * are data, read by a program that decides itself what to do with them.
 */
export const APPLIED_FORMATS: readonly EnvFormat[] = ['shell', 'fish', 'github'];

/**
 * Names bash or zsh do not take as a plain variable: read-only ones (an `export` fails half-way
 * through an eval, leaving a half-loaded shell), integer ones (bash evaluates `a[$(cmd)]` in an
 * assignment to RANDOM, OPTIND, HISTCMD or MAILCHECK, running cmd), arrays and hashes tied to
 * shell state, and ones the shell rewrites itself. Measured: each is a name for which
 * `export NAME='a[$(touch x)]x'; printf %s "$NAME"` does not give the value back in bash 5.2 or
 * zsh 5.9 (with or without -i); test/shell-reserved.test.mjs measures again on every run.
 * Loader/prompt/startup names are refused before this, by dangerous-names.ts.
 */
const SHELL_RESERVED = new Set([
  // bash
  'BASHOPTS',
  'BASHPID',
  'BASH_ALIASES',
  'BASH_ARGC',
  'BASH_ARGV',
  'BASH_ARGV0',
  'BASH_CMDS',
  'BASH_COMMAND',
  'BASH_LINENO',
  'BASH_REMATCH',
  'BASH_SOURCE',
  'BASH_SUBSHELL',
  'BASH_VERSINFO',
  'DIRSTACK',
  'EPOCHREALTIME',
  'EPOCHSECONDS',
  'FUNCNAME',
  'GROUPS',
  'HISTCMD',
  'MAILCHECK',
  'OPTIND',
  'PIPESTATUS',
  'RANDOM',
  'SRANDOM',
  'SHELLOPTS',
  'PPID',
  'UID',
  'EUID',
  '_',
  // zsh scalars and integers
  'ARGC',
  'COLUMNS',
  'LINES',
  'EGID',
  'GID',
  'FUNCNEST',
  'HISTCHARS',
  'HISTSIZE',
  'KEYBOARD_HACK',
  'KEYTIMEOUT',
  'LINENO',
  'LISTMAX',
  'SAVEHIST',
  'SECONDS',
  'SHLVL',
  'TRY_BLOCK_ERROR',
  'TRY_BLOCK_INTERRUPT',
  'TTYIDLE',
  'USERNAME',
  'ZLE_RPROMPT_INDENT',
  'ZSH_EVAL_CONTEXT',
  'ZSH_SUBSHELL',
  // zsh arrays and hashes (lower case)
  'aliases',
  'argv',
  'builtins',
  'cdpath',
  'commands',
  'dis_aliases',
  'dis_builtins',
  'dis_functions',
  'dis_functions_source',
  'dis_galiases',
  'dis_patchars',
  'dis_reswords',
  'dis_saliases',
  'fignore',
  'fpath',
  'funcfiletrace',
  'funcsourcetrace',
  'funcstack',
  'functions',
  'functions_source',
  'functrace',
  'galiases',
  'histchars',
  'history',
  'historywords',
  'jobdirs',
  'jobstates',
  'jobtexts',
  'keymaps',
  'mailpath',
  'manpath',
  'module_path',
  'modules',
  'nameddirs',
  'options',
  'parameters',
  'patchars',
  'path',
  'pipestatus',
  'psvar',
  'reswords',
  'saliases',
  'signals',
  'status',
  'termcap',
  'terminfo',
  'userdirs',
  'usergroups',
  'widgets',
  'zsh_eval_context',
  'zsh_scheduled_events',
  'watch',
  'dirstack',
]);

/** Names fish refuses to set globally (read-only in fish 3.6), or overwrites at once. */
const FISH_RESERVED = new Set([
  'FISH_VERSION',
  'PWD',
  'SHLVL',
  '_',
  'argv',
  'fish_kill_signal',
  'fish_killring',
  'fish_pid',
  'history',
  'hostname',
  'pipestatus',
  'status',
  'status_generation',
  'umask',
  'version',
  'CMD_DURATION',
]);

function refuseReserved(names: readonly string[], reserved: Set<string>, shell: string): void {
  const bad = names.filter((n) => reserved.has(n));
  if (bad.length)
    throw new TvaultError(
      `${bad.join(', ')} cannot be loaded into ${shell}: the shell reserves ${bad.length > 1 ? 'these names' : 'this name'}; rename the secret or use tvault run`,
    );
}

/**
 * POSIX sh/bash/zsh: single quotes make everything literal (newlines, CR, `!`, `$`, backslash);
 * a ' is written as '\''. Always quoted: an unquoted word can still expand (`K==ls` is
 * `K=/usr/bin/ls` in zsh, `a:~/x` tilde-expands in an assignment).
 */
export function shellQuote(value: string): string {
  // includes() first: most values hold no quote, and `env` of a large project quotes each once, cold
  return value.includes("'") ? `'${value.replace(/'/g, `'\\''`)}'` : `'${value}'`;
}

/**
 * The shell format's refusals, which look at names only: exactly what formatEnv(entries, 'shell',
 * opts) throws for these names (TVAULT_*, a dangerous name the project does not allow, a name
 * bash or zsh reserves), in the same order. The shell format refuses no value (every value
 * without NUL is carried), so a list that passes here is formatted.
 */
export function checkShellNames(names: readonly string[], opts: Pick<FormatOptions, 'allowDangerous' | 'project'> = {}): void {
  checkInjectable([...names], opts.allowDangerous, opts.project);
  refuseReserved(names, SHELL_RESERVED, 'bash or zsh');
}

const EXPORT = 'export ';
/** Values longer than this are scanned with indexOf rather than byte by byte (shellLinesBytes). */
const LONG = 256;

/** Writes '\'' (a ' inside single quotes: end them, an escaped ', open again) at `at`; returns the offset after it. */
function putQuoteEscape(out: Buffer, at: number): number {
  out[at] = 0x27;
  out[at + 1] = 0x5c;
  out[at + 2] = 0x27;
  out[at + 3] = 0x27;
  return at + 4;
}

/**
 * The shell format's text straight from value bytes into one Buffer, so that a value never
 * becomes a JS string (the agent's `reply: "shell"`, docs/PROTOCOL.md): byte for byte
 * `formatEnv(entries, 'shell', { export })` for names that passed checkShellNames (which this
 * does not call: a caller formatting in chunks checks every name first). The same quoting as
 * shellQuote, over bytes (a ' is 0x27 in UTF-8 and in no multibyte sequence); the unit tests
 * hold the two equal. Names are key names (ASCII, core checks them on write). The caller zeroes
 * the Buffer.
 */
export function shellLinesBytes(entries: ReadonlyArray<{ name: string; value: Uint8Array }>, exp = true): Buffer {
  // A short value is scanned by a plain loop (indexOf is a call into C++, which costs more than
  // the scan); a long one by indexOf (memchr) and copied in runs between its quotes.
  const quotes = new Array<number>(entries.length);
  let total = 0;
  for (let k = 0; k < entries.length; k++) {
    const v = entries[k].value;
    let q = 0;
    if (v.length > LONG) for (let i = v.indexOf(0x27); i >= 0; i = v.indexOf(0x27, i + 1)) q++;
    else for (let i = 0; i < v.length; i++) if (v[i] === 0x27) q++;
    quotes[k] = q;
    total += (exp ? EXPORT.length : 0) + entries[k].name.length + 1 + v.length + 2 + q * 3 + 1;
  }
  const out = Buffer.alloc(total); // never pooled: the caller zeroes it after the write
  let at = 0;
  for (let k = 0; k < entries.length; k++) {
    const { name, value: v } = entries[k];
    if (exp) for (let i = 0; i < EXPORT.length; i++) out[at++] = EXPORT.charCodeAt(i);
    for (let i = 0; i < name.length; i++) out[at++] = name.charCodeAt(i);
    out[at++] = 0x3d; // =
    out[at++] = 0x27;
    if (quotes[k] === 0) {
      out.set(v, at);
      at += v.length;
    } else if (v.length > LONG) {
      let from = 0;
      for (let i = v.indexOf(0x27); i >= 0; from = i + 1, i = v.indexOf(0x27, from)) {
        out.set(v.subarray(from, i), at);
        at += i - from;
        at = putQuoteEscape(out, at);
      }
      out.set(v.subarray(from), at);
      at += v.length - from;
    } else
      for (let i = 0; i < v.length; i++) {
        if (v[i] === 0x27) at = putQuoteEscape(out, at);
        else out[at++] = v[i];
      }
    out[at++] = 0x27;
    out[at++] = 0x0a;
  }
  return out;
}

/** fish: inside single quotes only \\ and \' are escapes; a newline is literal. */
export function fishQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** python-dotenv expands `${NAME}` and `${NAME:-default}` in every value, quoted or not (its _posix_variable). */
const PY_DOTENV_EXPANSION = /\$\{[^}:]*(?::-[^}]*)?\}/;

/**
 * A dotenv line's value that three real readers give back exactly: the npm dotenv package (17),
 * python-dotenv (0.21 to 1.x, with its default interpolation) and direnv's `dotenv` (2.32,
 * which splits the file at every CR and LF first, so no value may span lines). Measured by
 * test/formats-roundtrip.test.mjs against all three. The forms, in order:
 * - '…': literal in all three, when the value has no ', CR or LF (direnv), no \\ (python
 *   turns it into one backslash) and does not end in a backslash (npm and python read \' as
 *   an escaped quote and run on);
 * - "…" with \n and \r for LF and CR (all three decode them), when the value has no ", no
 *   backslash (npm keeps it, python and direnv drop or decode it) and no $ (direnv expands it);
 * - bare, when it is printable ASCII without space, #, $, and does not start with a quote.
 * Returns the form, or why there is none.
 */
export function dotenvForm(value: string): { text: string } | { reason: string } {
  if (PY_DOTENV_EXPANSION.test(value)) return { reason: 'python-dotenv would expand its ${...}' };
  if (!/[\r\n']/.test(value) && !value.includes('\\\\') && !value.endsWith('\\')) return { text: `'${value}'` };
  if (!/["\\$]/.test(value)) return { text: `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"` };
  if (/^[\x21-\x7e]+$/.test(value) && !/[#$]/.test(value) && !/^['"`]/.test(value)) return { text: value };
  const has = [
    [/'/, "'"],
    [/"/, '"'],
    [/\\/, 'a backslash'],
    [/\$/, '$'],
    [/[\r\n]/, 'a line break'],
  ]
    .filter(([re]) => (re as RegExp).test(value))
    .map(([, what]) => what);
  return { reason: `no quoting reads back the same in npm dotenv, python-dotenv and direnv (it holds ${has.join(', ')})` };
}

/**
 * A value in the npm dotenv grammar alone (dotenv 17, which tvault's import parser uses):
 * '…' and `…` are literal and may span lines but cannot hold their own quote or a CR, or end
 * in a backslash; "…" decodes \n and \r and keeps other backslashes; bare is one trimmed line
 * without # that does not start with a quote.
 */
export function npmDotenvForm(value: string): { text: string } | { reason: string } {
  const trailingBackslash = value.endsWith('\\');
  if (!value.includes('\r') && !trailingBackslash) {
    if (!value.includes("'")) return { text: `'${value}'` };
    if (!value.includes('`')) return { text: `\`${value}\`` };
  }
  if (!value.includes('"') && !/\\[nr]/.test(value) && !trailingBackslash) return { text: `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"` };
  if (value !== '' && !/[#\r\n]/.test(value) && value === value.trim() && !/^['"`]/.test(value)) return { text: value };
  return { reason: 'it mixes quote characters with a line break, #, or surrounding space' };
}

/** A dotenv value, or a refusal naming the key (never the value). */
export function dotenvQuote(name: string, value: string): string {
  const f = dotenvForm(value);
  if ('text' in f) return f.text;
  throw new TvaultError(`the value of ${name} cannot be written portably in dotenv format: ${f.reason}; use --format json`);
}

/** GitHub Actions' $GITHUB_ENV multiline form with a random delimiter absent from the value. */
function githubEntry(e: EnvEntry): string {
  let delim: string;
  // node:crypto is loaded here, not at the top: the agent fast path must not pay for it.
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  do delim = `TVAULT_EOF_${randomBytes(12).toString('hex')}`;
  while (e.value.includes(delim));
  return `${e.name}<<${delim}\n${e.value}\n${delim}\n`;
}

/** Words YAML 1.1 or 1.2 reads as a boolean or null when they are a plain key. */
const YAML_WORDS = /^(?:y|yes|n|no|true|false|on|off|null)$/i;

/**
 * A YAML double-quoted scalar on one line. Escaped: quote, backslash, every C0/C1 control and
 * DEL (not printable in YAML), and U+2028/U+2029/U+0085/U+FEFF/U+FFFE/U+FFFF (line breaks or
 * non-printable in YAML 1.1). Everything else, emoji included, stays as it is.
 */
function yamlQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp === 0x2028 || cp === 0x2029 || cp === 0xfeff || cp === 0xfffe || cp === 0xffff) out += '\\u' + cp.toString(16);
    else out += ch;
  }
  return out + '"';
}

/**
 * YAML, written by hand rather than by the yaml package, whose double-quoted output keeps
 * U+0085/U+2028 raw (line breaks to a YAML 1.1 reader) and folds newlines across lines: one
 * `KEY: "value"` line per secret, values always double-quoted, keys quoted when a YAML reader
 * would take them for a boolean or null (yes, on, NO, null...).
 */
function yaml(entries: EnvEntry[]): string {
  if (!entries.length) return '{}\n';
  return entries.map((e) => `${YAML_WORDS.test(e.name) ? `"${e.name}"` : e.name}: ${yamlQuote(e.value)}\n`).join('');
}

export function formatEnv(entries: EnvEntry[], format: string, opts: FormatOptions = {}): string {
  const exp = opts.export !== false;
  if (!ENV_FORMATS.includes(format as EnvFormat)) throw usageError(`unknown format '${format}'; use one of: ${ENV_FORMATS.join(', ')}`);
  if (APPLIED_FORMATS.includes(format as EnvFormat))
    checkInjectable(
      entries.map((e) => e.name),
      opts.allowDangerous,
      opts.project,
    );
  switch (format as EnvFormat) {
    case 'shell':
      refuseReserved(
        entries.map((e) => e.name),
        SHELL_RESERVED,
        'bash or zsh',
      );
      return entries.map((e) => `${exp ? 'export ' : ''}${e.name}=${shellQuote(e.value)}\n`).join('');
    case 'fish':
      refuseReserved(
        entries.map((e) => e.name),
        FISH_RESERVED,
        'fish',
      );
      // `--` so that nothing after the name is read as an option of `set`.
      return entries.map((e) => `set ${exp ? '-gx' : '-g'} -- ${e.name} ${fishQuote(e.value)}\n`).join('');
    case 'dotenv':
      // Never `export`: a dotenv file is not shell (its quoting is not safe to `source`).
      return entries
        .map((e) => {
          if (opts.reader === 'tvault') {
            const t = npmDotenvForm(e.value);
            if ('text' in t) return `${e.name}=${t.text}\n`;
            throw new TvaultError(`the value of ${e.name} cannot be written in dotenv format: ${t.reason}`);
          }
          const f = opts.onUnwritable ? dotenvForm(e.value) : { text: dotenvQuote(e.name, e.value) };
          if ('text' in f) return `${e.name}=${f.text}\n`;
          opts.onUnwritable!(e.name, f.reason);
          return '';
        })
        .join('');
    case 'json':
      return JSON.stringify(Object.fromEntries(entries.map((e) => [e.name, e.value])), null, 2) + '\n';
    case 'yaml':
      return yaml(entries);
    case 'github':
      return entries.map(githubEntry).join('');
    default:
      throw usageError(`unknown format '${format}'; use one of: ${ENV_FORMATS.join(', ')}`);
  }
}
