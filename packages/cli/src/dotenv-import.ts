// Reading a .env file for `tvault import`: the dotenv package's own grammar and values (no
// shell or variable expansion: `$(cmd)` and `${X}` stay literal), and, unlike dotenv, an
// account of every line it did not take. dotenv skips a line it cannot parse without a word;
// here each one is reported by number (never its text, which may hold a value), and so is a
// name tvault cannot store (KEY.WITH.DOTS is legal dotenv) or a value it refuses, so that the
// caller can import the rest and say what it left out.
import { checkKeyName, checkValue } from '@tvault/core';

export interface DotenvEntry {
  name: string;
  value: string;
  /** The 1-based line its key is on. */
  line: number;
}

export interface DotenvProblem {
  line: number;
  /** The key's name when the line had one (names are dotenv word characters, safe to print). */
  name?: string;
  reason: string;
}

/**
 * dotenv 17's LINE (lib/main.js), used only to find which lines it takes: each match is one
 * binding, whose value dotenv.parse then reads from the match's text, exactly as it would.
 */
const LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;

/**
 * Decodes the file line by line: a line that is not UTF-8 is reported and read as empty (where
 * decoding the whole would silently turn its bytes into U+FFFD). 0x0a never occurs inside a
 * multi-byte sequence, so bad bytes are always within one line.
 */
function decodeLines(raw: Buffer, problems: DotenvProblem[]): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(raw);
  } catch {
    const lines: string[] = [];
    let start = 0;
    for (let line = 1; start <= raw.length; line++) {
      const end = raw.indexOf(0x0a, start);
      const stop = end < 0 ? raw.length : end;
      try {
        lines.push(strict.decode(raw.subarray(start, stop)));
      } catch {
        problems.push({ line, reason: 'not valid UTF-8' });
        lines.push('');
      }
      if (end < 0) break;
      start = end + 1;
    }
    return lines.join('\n');
  }
}

const lineAt = (starts: number[], offset: number) => {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
};

/**
 * entries: what to import, in file order; problems: each line left out, by number; notes:
 * what is worth saying but loses nothing (a key set twice: the later value wins, as in dotenv).
 */
export function parseDotenvFile(raw: Buffer): { entries: DotenvEntry[]; problems: DotenvProblem[]; notes: DotenvProblem[] } {
  const problems: DotenvProblem[] = [];
  const notes: DotenvProblem[] = [];
  // As dotenv does: CRLF and lone CR are line breaks.
  let text = decodeLines(raw, problems).replace(/\r\n?/g, '\n');
  // A key `__proto__`, which dotenv's plain-object result drops (assigning it sets the
  // prototype), is kept: every `__proto__` in the text is swapped for a random word that the
  // text does not contain, and swapped back in names and values afterwards (a one-to-one
  // rewrite of word characters, which dotenv's grammar treats alike).
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  let word: string;
  do word = `x${randomBytes(16).toString('hex')}`;
  while (text.includes(word));
  const back = (s: string) => s.split(word).join('__proto__');
  text = text.split('__proto__').join(word);
  const dotenv = require('dotenv') as typeof import('dotenv');

  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const taken = new Set<number>();
  const byName = new Map<string, DotenvEntry>();
  for (const m of text.matchAll(LINE)) {
    const at = m.index + m[0].search(/\S|$/);
    const first = lineAt(starts, at);
    const last = lineAt(starts, Math.max(at, m.index + m[0].length - 1));
    for (let l = first; l <= last; l++) taken.add(l);
    const [[key, value]] = Object.entries(dotenv.parse(m[0]));
    const name = back(key);
    const entry = { name, value: back(value), line: first };
    try {
      checkKeyName(name);
    } catch {
      problems.push({ line: first, name, reason: `${name} is not a tvault key name (letters, digits and _, not starting with a digit)` });
      continue;
    }
    try {
      checkValue(Buffer.from(entry.value, 'utf8'));
    } catch (err) {
      problems.push({ line: first, name, reason: `the value of ${name}: ${(err as Error).message}` });
      continue;
    }
    const earlier = byName.get(name);
    if (earlier) notes.push({ line: earlier.line, name, reason: `${name} is set again on line ${first}; the later value is the one imported` });
    byName.set(name, entry);
  }
  text.split('\n').forEach((l, i) => {
    const line = i + 1;
    if (!taken.has(line) && l.trim() !== '' && !/^\s*#/.test(l) && !problems.some((p) => p.line === line))
      problems.push({ line, reason: 'not a KEY=value line' });
  });
  problems.sort((a, b) => a.line - b.line);
  return { entries: [...byName.values()].sort((a, b) => a.line - b.line), problems, notes };
}
