// How guessable a new passphrase is, by zxcvbn-ts (a port of Dropbox's zxcvbn: dictionaries of
// common passwords, names and words, keyboard patterns, dates, l33t). Loaded only by `init` and
// `key rotate` (about 70 ms and 4 MB of dictionaries; docs/DEPENDENCIES.md), never elsewhere.

/** zxcvbn's scores run 0-4; 3 is "safely unguessable" against an offline slow-hash attack. */
export const MIN_SCORE = 3;

/**
 * Why the passphrase is too weak, or null. zxcvbn takes a string: that one copy of the
 * passphrase cannot be zeroed and lives until the garbage collector reuses its memory (see
 * docs/SECURITY.md); the process exits soon after init or key rotate.
 */
export async function passphraseWeakness(pass: Buffer): Promise<string | null> {
  const { ZxcvbnFactory } = require('@zxcvbn-ts/core') as typeof import('@zxcvbn-ts/core');
  const common = require('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
  const zxcvbn = new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });
  const r = zxcvbn.check(pass.toString('utf8'));
  if (r.score >= MIN_SCORE) return null;
  return `the passphrase is weak: about 10^${Math.max(0, Math.floor(r.guessesLog10))} guesses would find it (strength ${r.score} of 4, ${MIN_SCORE} needed)`;
}
