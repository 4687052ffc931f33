// The session guard: inside a handoff session (TVAULT_HANDOFF is set, whatever its value), the
// only vault a command may use is the session's own E, read with its identity. Anything that
// would unlock another vault (a passphrase prompt, TVAULT_PASSPHRASE set by hand, --vault
// ~/.tvault) fails closed with exit 3: the coding agent's session never asks the user for the
// real passphrase, and never reads one from the environment. fs only: light.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isAlive, lockedError } from '@tvault/core/base';
import { SESSION_VAR, eName, idOfDir, readSessionFile } from './session-file';

/** Whether this process is inside a handoff session (a marker is a claim; a claim is enough to refuse). */
export function inSession(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[SESSION_VAR] !== undefined;
}

/** Called wherever a passphrase would be read or asked for. */
export function refusePassphraseInSession(): void {
  if (!inSession()) return;
  throw lockedError(
    'inside a tvault handoff session no passphrase is read or asked for: only the handed-off project is reachable, through its session key (TVAULT_IDENTITY_KEY)',
  );
}

/** Called for the vault directory of every command: inside a session it must be the session's live E. */
export function checkSessionVault(dir: string, env: NodeJS.ProcessEnv = process.env): void {
  if (!inSession(env)) return;
  const id = env[SESSION_VAR] ?? '';
  const d = resolve(dir);
  if (idOfDir(d) !== id)
    throw lockedError(`inside a tvault handoff session only its own vault can be used (${eName(id.slice(0, 32)) || 'TVAULT_DIR'}), not ${d}`);
  const info = readSessionFile(d);
  if (info?.state === 'expired') throw lockedError('this tvault handoff session expired (--ttl): its vault was destroyed; start a new one with tvault handoff');
  if (!info || !existsSync(d) || !isAlive(info)) throw lockedError('this tvault handoff session has ended: its vault is gone');
}
