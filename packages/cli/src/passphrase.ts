// Where a passphrase comes from: TVAULT_PASSPHRASE, TVAULT_PASSPHRASE_FILE (0600 only), or a
// hidden prompt on the terminal. Without any of them the vault is "locked" (exit 3).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { type PrivacyRule, TvaultError, checkPrivate, errnoText, lockedError } from '@tvault/core';
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

export async function getPassphrase(purpose = 'Vault passphrase: '): Promise<Buffer> {
  requireHardened();
  const env = fromEnv('TVAULT_PASSPHRASE');
  if (env) return env;
  const file = process.env.TVAULT_PASSPHRASE_FILE;
  if (file) return readPassphraseFile(file);
  if (!hasTty()) throw lockedError(`the vault is locked and nothing can unlock it: ${UNLOCK_HINT}`);
  return readHidden(purpose);
}

/** A new passphrase: from the named variable, its _FILE (0600), or asked twice on the terminal. */
export async function getNewPassphrase(envName: 'TVAULT_PASSPHRASE' | 'TVAULT_NEW_PASSPHRASE', label: string): Promise<Buffer> {
  requireHardened();
  const env = fromEnv(envName);
  if (env) return env;
  const file = process.env[`${envName}_FILE`];
  if (file) return readPassphraseFile(file, `${envName}_FILE`);
  if (!hasTty()) throw lockedError(`no terminal to ask for the ${label}: set ${envName} or ${envName}_FILE`);
  const a = await readHidden(`${label}: `);
  const b = await readHidden(`Repeat ${label.toLowerCase()}: `);
  const same = a.equals(b);
  b.fill(0);
  if (!same) {
    a.fill(0);
    throw new TvaultError('the passphrases do not match');
  }
  if (a.length === 0) throw new TvaultError('the passphrase is empty');
  return a;
}
