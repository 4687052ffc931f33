// Shared by the shell, format and run tests: a set of hostile secret values, a vault holding
// them, and readers for formats no package parses (GitHub's $GITHUB_ENV).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN_DIR, makeVault } from './helpers.mjs';

export const sha256 = (s) =>
  createHash('sha256')
    .update(typeof s === 'string' ? Buffer.from(s, 'utf8') : s)
    .digest('hex');

/**
 * Values that break naive quoting. Every payload that could run a command would create
 * `canary`, so a test proves that nothing ran by checking that the file never appears.
 */
export function hostileSecrets(canary) {
  const touch = `touch ${canary}`;
  const combo = `'"\`$(${touch})\`${touch}\`;${touch}|${touch}&${touch}>${canary}<*~#!\n\t\r -=\\é😀\\`;
  const big = toSize(combo, 65536);
  const bigNoQuote = toSize(`line "with" \\ $(${touch}) \`${touch}\`\n\t`, 65536);
  return [
    ['SINGLE_QUOTES', `it's 'quoted' ''`],
    ['DOUBLE_QUOTES', `say "hi" "" "`],
    ['BACKSLASHES', `back\\slash \\\\ \\n \\t \\' \\" \\$HOME end\\`],
    // Output is sorted by name: a dotenv quote that a trailing backslash fails to close would
    // swallow the next entry, whose value then has the quote at the end of a line.
    ['BACKSLASH_END', `ends with a backslash\\`],
    ['BACKSLASH_END_NEXT', `it'\nnext`],
    ['CMD_SUBST', `$(${touch})`],
    ['BACKTICKS', `\`${touch}\``],
    ['EXPANSIONS', `$HOME \${HOME} $((1+1)) $'\\x41' \${X:-$(${touch})} $$ $? $0 $@`],
    ['SEMICOLON', `a; ${touch}`],
    ['PIPE', `a | ${touch}`],
    ['AMPERSAND', `a & ${touch} & a && ${touch}`],
    ['REDIRECTS', `a > ${canary} < /etc/passwd >> ${canary} 2>&1`],
    ['GLOB', `* ? [a-z] **/* /*`],
    ['TILDE', `~ ~root ~/x a=~/x :~`],
    ['HASH', `# not a comment #`],
    ['HASH_MID', `a #b`],
    ['BANG', `!! !$ !-1 hi! !${touch}`],
    ['NEWLINES', `line1\nline2\n\nline4`],
    ['TAB', `a\tb\t`],
    ['TRAILING_NEWLINE', `value\n`],
    ['ONLY_NEWLINES', `\n\n`],
    ['CARRIAGE_RETURN', `a\rb\r\nc\r`],
    ['LEADING_DASH', `-n -e --help -- -`],
    ['EQUALS', `==a=b=`],
    ['UNICODE', `é ü ß 日本語 Ω ﬁ`],
    ['EMOJI', `😀👍🏽👨‍👩‍👧 🏳️‍🌈`],
    ['EMPTY', ``],
    ['SPACES', `  lead and trail  `],
    ['CONTROL', `\x01\x1b[31mred\x1b[0m\x7f\x08`],
    ['UNICODE_BREAKS', `a\u0085b\u2028c\u2029d\ufeffe`],
    ['QUOTE_BREAKOUT', `'\\''; ${touch}; echo '`],
    ['FISH_BREAKOUT', `\\'; ${touch}; echo \\'\\\\'`],
    ['DOTENV_LOOKALIKE', `A=1\nexport B=2\n'C'="3"\nD=4 # comment\n`],
    ['DELIMITER_LOOKALIKE', `EOF\nTVAULT_EOF_0\nDELIM<<X\n`],
    ['PERCENT', `%s %n %% %d \\0 \\x00`],
    ['SOME_PATH', `/a:/b::c:`],
    ['COMBO', combo],
    ['BIG', big],
    ['BIG_NO_SINGLE_QUOTE', bigNoQuote],
  ];
}

/** `unit` repeated, then padded with x, to exactly `bytes` bytes of UTF-8. */
function toSize(unit, bytes) {
  const s = unit.repeat(Math.floor(bytes / Buffer.byteLength(unit)));
  return s + 'x'.repeat(bytes - Buffer.byteLength(s));
}

/**
 * Values with no dotenv form that npm dotenv, python-dotenv and direnv all read back the same
 * (env-format.ts, dotenvForm): a ${...} (python-dotenv expands it in every quoting), or a ' or
 * line break together with a backslash, " or $ (and a space or # that rules out a bare word).
 */
export const DOTENV_UNPORTABLE = new Set([
  'BACKSLASHES',
  'BACKSLASH_END',
  'EXPANSIONS',
  'QUOTE_BREAKOUT',
  'FISH_BREAKOUT',
  'DOTENV_LOOKALIKE',
  'COMBO',
  'BIG',
  'BIG_NO_SINGLE_QUOTE',
]);

/** A vault (helpers.makeVault) whose default project holds hostileSecrets(canary), byte for byte. */
export function hostileVault(t) {
  const v = makeVault(t);
  const canary = join(v.dir, 'CANARY');
  const secrets = hostileSecrets(canary);
  for (const [name, value] of secrets) {
    const r = v.run(['set', name, '--stdin', '--keep-newline'], { input: value });
    assert.equal(r.code, 0, `set ${name}: ${r.stderr}`);
  }
  return { ...v, canary, secrets };
}

/** An environment for a real shell: tvault on PATH, HOME and XDG dirs inside the test dir. */
export function shellEnv(v, extra = {}) {
  const home = join(v.dir, 'home');
  for (const d of ['', '.config', '.local/share', '.cache']) mkdirSync(join(home, d), { recursive: true });
  return {
    ...v.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    PATH: `${BIN_DIR}:${process.env.PATH}`,
    ...extra,
  };
}

/**
 * Parses a $GITHUB_ENV file as the Actions runner does on Linux (SetEnvFileCommand): lines end
 * at LF; NAME=VALUE, or NAME<<DELIM followed by the value's lines up to a line equal to DELIM,
 * the value being the exact text in between. Returns [{name, value, delimiter}].
 */
export function parseGithubEnv(text) {
  const out = [];
  let i = 0;
  const readLine = () => {
    if (i >= text.length) return null;
    const lf = text.indexOf('\n', i);
    const start = i;
    if (lf < 0) {
      i = text.length;
      return { line: text.slice(start), nl: 0 };
    }
    i = lf + 1;
    return { line: text.slice(start, lf), nl: 1 };
  };
  for (let l = readLine(); l; l = readLine()) {
    if (!l.line) continue;
    const eq = l.line.indexOf('=');
    const hd = l.line.indexOf('<<');
    if (eq >= 0 && (hd < 0 || eq < hd)) {
      out.push({ name: l.line.slice(0, eq), value: l.line.slice(eq + 1) });
      continue;
    }
    assert.ok(hd > 0, `malformed line ${JSON.stringify(l.line)}`);
    const [name, delimiter] = [l.line.slice(0, hd), l.line.slice(hd + 2)];
    assert.ok(delimiter, 'empty delimiter');
    const start = i;
    let end = i;
    for (let v = readLine(); ; v = readLine()) {
      assert.ok(v, `delimiter ${delimiter} not found`);
      if (v.line === delimiter) break;
      end = i - v.nl;
    }
    out.push({ name, value: end > start ? text.slice(start, end) : '', delimiter });
  }
  return out;
}
