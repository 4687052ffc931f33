// Where a passphrase comes from: TVAULT_PASSPHRASE, TVAULT_PASSPHRASE_FILE (0600 only), or a
// hidden prompt on the terminal. Without any of them the vault is "locked" (exit 3).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { ExitCode, type PrivacyRule, TvaultError, checkPrivate, errnoText, isTvaultError, lockedError, usageError } from '@tvault/core';
import { refusePassphraseInSession } from './handoff/guard';
import { requireHardened } from './harden';
import { hasTty, readHidden } from './prompt';

const UNLOCK_HINT = 'start the agent (tvault agent start), run in a terminal, or set TVAULT_PASSPHRASE or TVAULT_PASSPHRASE_FILE';

/** A passphrase file: ours, and nobody else may even read it (0600; 0400 too). Any kind of file: a pipe from <(pass show x) passes. */
export const PASSPHRASE_FILE: PrivacyRule = { forbid: 0o077 };

/** Reads a passphrase file, refusing one that others can read. A single trailing newline is dropped. */
export function readPassphraseFile(path: string, name = 'TVAULT_PASSPHRASE_FILE'): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TvaultError(`cannot read ${name} ${path}: ${errnoText(err)}`);
  }
  try {
    checkPrivate(fstatSync(fd), { what: name, path, remedy: `it must be 0600 (chmod 600 ${path})` }, PASSPHRASE_FILE);
    const data = readFileSync(fd);
    let end = data.length;
    if (end && data[end - 1] === 0x0a) end--;
    if (end && data[end - 1] === 0x0d) end--;
    const out = Buffer.from(data.subarray(0, end));
    data.fill(0);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The passphrase from the environment, or null. Removes it from process.env once read. */
function fromEnv(name: 'TVAULT_PASSPHRASE' | 'TVAULT_NEW_PASSPHRASE'): Buffer | null {
  const v = process.env[name];
  if (v === undefined) return null;
  delete process.env[name];
  return Buffer.from(v, 'utf8');
}

/** How many times a passphrase is asked for at a terminal before a wrong one is final. */
export const PROMPT_TRIES = 3;

/** A passphrase and whether a person typed it (only then is a wrong or empty one asked again). */
interface Given {
  pass: Buffer;
  typed: boolean;
}

async function passphraseFrom(purpose: string): Promise<Given> {
  refusePassphraseInSession();
  requireHardened();
  const env = fromEnv('TVAULT_PASSPHRASE');
  if (env) return { pass: env, typed: false };
  const file = process.env.TVAULT_PASSPHRASE_FILE;
  if (file) return { pass: readPassphraseFile(file), typed: false };
  if (!hasTty()) throw lockedError(`the vault is locked and nothing can unlock it: ${UNLOCK_HINT}`);
  return { pass: await readHidden(purpose), typed: true };
}

export async function getPassphrase(purpose = 'Vault passphrase: '): Promise<Buffer> {
  return (await passphraseFrom(purpose)).pass;
}

/**
 * Unlocks with a passphrase from the environment, its file or the terminal. At the terminal a
 * wrong or empty one is asked again, PROMPT_TRIES times in all (as sudo does); from the
 * environment or a file it is final at once. The passphrase is zeroed after each try.
 */
export async function unlockWithPassphrase(unlock: (pass: Buffer) => Promise<Buffer>, purpose = 'Vault passphrase: '): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    const { pass, typed } = await passphraseFrom(purpose);
    const last = !typed || attempt >= PROMPT_TRIES;
    try {
      if (pass.length === 0) {
        if (last) throw new TvaultError('no passphrase was given', typed ? ExitCode.WRONG_PASSPHRASE : ExitCode.USAGE);
        process.stderr.write('tvault: the passphrase is empty; try again (Ctrl-C to cancel)\n');
        continue;
      }
      return await unlock(pass);
    } catch (err) {
      if (last || !isTvaultError(err) || err.exitCode !== ExitCode.WRONG_PASSPHRASE) throw err;
      process.stderr.write(`tvault: wrong passphrase; try again (${PROMPT_TRIES - attempt} left)\n`);
    } finally {
      pass.fill(0);
    }
  }
}

/** What a new passphrase is checked for before it is used; `--force` skips the strength check. */
export interface NewPassphraseCheck {
  /** Returns why the passphrase is too weak, or null. */
  weakness?: (pass: Buffer) => Promise<string | null>;
  force?: boolean;
}

/** A new passphrase and whether it was accepted weak (with --force). */
export interface NewPassphrase {
  pass: Buffer;
  weak: boolean;
}

/** One try at a new passphrase from the terminal: asked twice; the reason it is refused, or the passphrase. */
async function typedNewPassphrase(label: string): Promise<Buffer | string> {
  const a = await readHidden(`${label}: `);
  if (a.length === 0) return 'the passphrase is empty';
  const b = await readHidden(`Repeat ${label.toLowerCase()}: `);
  const same = a.equals(b);
  b.fill(0);
  if (same) return a;
  a.fill(0);
  return 'the passphrases do not match';
}

/**
 * A new passphrase: from the named variable, its _FILE (0600), or asked twice on the terminal.
 * At the terminal an empty, mismatched or weak one is asked again (PROMPT_TRIES in all); from
 * the environment or a file it is refused at once. A weak one passes only with `force`.
 */
export async function getNewPassphrase(
  envName: 'TVAULT_PASSPHRASE' | 'TVAULT_NEW_PASSPHRASE',
  label: string,
  check: NewPassphraseCheck = {},
): Promise<NewPassphrase> {
  refusePassphraseInSession();
  requireHardened();
  const env = fromEnv(envName);
  const file = process.env[`${envName}_FILE`];
  if (env || file) {
    const pass = env ?? readPassphraseFile(file!, `${envName}_FILE`);
    try {
      if (pass.length === 0) throw usageError(`the passphrase in ${env ? envName : `${envName}_FILE`} is empty`);
      return { pass, weak: await judged(pass, check, true) };
    } catch (err) {
      pass.fill(0);
      throw err;
    }
  }
  if (!hasTty()) throw lockedError(`no terminal to ask for the ${label}: set ${envName} or ${envName}_FILE`);
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= PROMPT_TRIES;
    const got = await typedNewPassphrase(label);
    if (typeof got === 'string') {
      if (last) throw usageError(got);
      process.stderr.write(`tvault: ${got}; try again\n`);
      continue;
    }
    try {
      return { pass: got, weak: await judged(got, check, last) };
    } catch (err) {
      got.fill(0);
      if (last || !(err instanceof WeakPassphrase)) throw err;
      process.stderr.write(`tvault: ${err.message}; try again\n`);
    }
  }
}

class WeakPassphrase extends TvaultError {}

/** Whether the passphrase is weak and accepted so (--force); throws WeakPassphrase when it is refused. */
async function judged(pass: Buffer, check: NewPassphraseCheck, final: boolean): Promise<boolean> {
  const why = check.weakness ? await check.weakness(pass) : null;
  if (!why) return false;
  if (check.force) {
    process.stderr.write(`tvault: warning: ${why}; accepted because of --force (tvault doctor will say so)\n`);
    return true;
  }
  throw new WeakPassphrase(`${why}${final ? '; choose a longer one, or add --force to accept it' : ''}`);
}
