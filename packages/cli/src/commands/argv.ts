// yargs' inferred option types do not survive a chain of nested commands whose handlers
// declare their own argument interfaces; commands type their arguments themselves and
// build on a loosely typed yargs instance.
import { usageError } from '@tvault/core';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Y = any;

/**
 * The last command of a group (the top level, `projects`, `agent`, ...), as
 * `.command(...unknownCommand(y, 'give a ... subcommand: ...', 'projects'))`: a word that names
 * none of the group's commands is "unknown command 'X'" (with a suggestion when one is close),
 * and no word at all is `missing`. A hidden default command does it, because yargs' strict mode
 * reports an unknown command as "Unknown argument: X", or only as "Did you mean Y?". Register it
 * after the group's other commands: their names are read here, for the suggestion.
 */
export function unknownCommand(y: Y, missing: string, path = ''): [string, false, (c: Y) => Y, (a: { words?: string[] }) => never] {
  const help = `see tvault ${path ? `${path} ` : ''}--help`;
  const names = commandNames(y);
  const aliasOf = aliasMap(y);
  return [
    '$0 [words..]',
    false,
    (c: Y): Y => c,
    (a) => {
      const word = a.words?.[0];
      // A bare `tvault`: the short usage, with the commands by name (from the definitions).
      if (word === undefined && !path) throw usageError(`usage: tvault <command> [options]; commands: ${names.join(', ')} (${help})`);
      if (word === undefined) throw usageError(`${missing} (${help})`);
      const shown = JSON.stringify(word.length > 40 ? `${word.slice(0, 40)}...` : word).slice(1, -1);
      const near = closest(word, names, aliasOf);
      throw usageError(`unknown command '${shown}'${path ? ` for tvault ${path}` : ''}${near ? `; did you mean ${near}?` : ''} (${help})`);
    },
  ];
}

/** Alias to command (`ls` to `list`) on this level, so that a command and its alias never tie. */
function aliasMap(y: Y): Record<string, string> {
  try {
    return { ...(y.getInternalMethods().getCommandInstance().aliasMap as Record<string, string>) };
  } catch {
    return {};
  }
}

/** The commands registered so far on this level (yargs clears them before a handler runs). */
function commandNames(y: Y): string[] {
  try {
    return (y.getInternalMethods().getCommandInstance().getCommands() as string[]).filter((n) => !n.startsWith('$') && !n.startsWith('_'));
  } catch {
    return []; // yargs changed its internals: no suggestion, and the error stays right
  }
}

/**
 * The command `word` is most likely a typo of: the only command it is a prefix of, or the
 * closest within a threshold of edits (a third of its length, at least one), where swapping
 * two neighbours counts as one edit (`lsit`: list). A tie is no suggestion: a guess between two
 * commands helps nobody. `copy` is two or more edits from everything, so it gets none.
 */
export function closest(word: string, names: string[], aliasOf: Record<string, string> = {}): string | undefined {
  const canonical = (n: string) => aliasOf[n] ?? n;
  if (word.length >= 2) {
    const prefixed = [...new Set(names.filter((n) => n.startsWith(word)).map(canonical))];
    if (prefixed.length === 1) return prefixed[0];
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestD = limit + 1;
  let tie = false;
  for (const n of names) {
    const d = distance(word.toLowerCase(), n);
    if (d < bestD) [best, bestD, tie] = [canonical(n), d, false];
    else if (d === bestD && canonical(n) !== best) tie = true;
  }
  return tie ? undefined : best;
}

/** Optimal string alignment distance: Levenshtein plus the transposition of two neighbours. */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
