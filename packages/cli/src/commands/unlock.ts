// `tvault unlock` and `tvault lock`: warm a running agent with the passphrase, or wipe its key,
// while it keeps running (docs/PROTOCOL.md, "Unlock and lock"). offerUnlock is what a read
// through a locked agent loads (session.ts), and only then: the warm fast path never does.
//
// The passphrase is read into a Buffer (prompt.ts, passphrase.ts), hex-encoded byte by byte into
// the request Buffer (@tvault/protocol unlockRequestLine), and both are zeroed once the agent
// has answered. It goes only to an agent of this user: the addon dials the socket with its
// `own` check (a directory of this user's, a listener of this uid), and never with a token.
import { ExitCode, TvaultError, lockedError, resolveVaultDir } from '@tvault/core';
import { type Answer, type ErrorAnswer, unlockRequestLine } from '@tvault/protocol';
import { agentCallBytes, agentRequest } from '../agent-client';
import { printJson } from '../output';
import { getPassphrase } from '../passphrase';
import { hasTty } from '../prompt';
import type { GlobalArgs } from '../session';
import type { Y } from './argv';

/** The KDF runs in the agent: wait for it (default parameters take a second or two, more on a busy machine). */
const UNLOCK_TIMEOUT_MS = 120_000;

const noAgent = (dir: string) => new TvaultError(`no agent is running for ${dir}: start one with tvault agent start --locked`);

/** The exit code and words for an agent's refusal of unlock or lock. */
function refused(res: ErrorAnswer, op: 'unlock' | 'lock'): TvaultError {
  switch (res.error) {
    case 'wrong_passphrase':
      return new TvaultError(res.message, ExitCode.WRONG_PASSPHRASE);
    case 'integrity':
      return new TvaultError(res.message, ExitCode.INTEGRITY);
    case 'unknown_op':
      return new TvaultError(`this agent is older than ${op} in place; restart it: tvault agent stop && tvault agent start --locked`);
    default:
      return new TvaultError(`the agent refused to ${op}: ${res.message}`);
  }
}

/** Hands the passphrase to the agent (and zeroes it); the agent's answer, or a thrown refusal. */
export function sendUnlock(dir: string, pass: Buffer): Answer & { ok: true } {
  const line = unlockRequestLine(pass);
  pass.fill(0);
  const body = Buffer.from(line.buffer, line.byteOffset, line.byteLength); // the same memory, zeroed below
  let res: Answer | null;
  try {
    res = agentCallBytes(dir, body, UNLOCK_TIMEOUT_MS);
  } finally {
    body.fill(0);
  }
  if (!res) throw noAgent(dir);
  if (!res.ok) throw refused(res, 'unlock');
  return res;
}

/** Whether TVAULT_PASSPHRASE or TVAULT_PASSPHRASE_FILE gives a passphrase without asking. */
const passphraseInEnv = () => process.env.TVAULT_PASSPHRASE !== undefined || !!process.env.TVAULT_PASSPHRASE_FILE;

/**
 * A read found the agent locked in place. At a terminal: one prompt, the passphrase goes to the
 * agent, and the caller asks it again (true); the agent stays warm for every later command.
 * With a passphrase in the environment: false, the caller unlocks directly, as without an agent
 * (a script's passphrase does not change the agent's state). Otherwise: exit 3, saying how.
 */
export async function offerUnlock(dir: string): Promise<boolean> {
  if (process.env.TVAULT_AGENT_TOKEN) throw lockedError('the agent is locked: its user must run tvault unlock');
  if (passphraseInEnv()) return false;
  if (!hasTty()) throw lockedError('the agent is locked: run tvault unlock (or set TVAULT_PASSPHRASE or TVAULT_PASSPHRASE_FILE)');
  sendUnlock(dir, await getPassphrase('Vault passphrase (unlocks the agent): '));
  return true;
}

async function unlock(a: GlobalArgs) {
  const dir = resolveVaultDir(a.vault);
  const status = agentRequest(dir, { op: 'status', project: null }, 5000);
  if (!status) throw noAgent(dir);
  let res: Answer & { ok: true };
  if (status.ok && status.unlocked === true) res = { ...status, already: true };
  else {
    if (!passphraseInEnv() && !hasTty())
      throw lockedError('no terminal to ask for the passphrase: run tvault unlock in a terminal, or set TVAULT_PASSPHRASE_FILE');
    res = sendUnlock(dir, await getPassphrase('Vault passphrase (unlocks the agent): '));
  }
  if (a.json) printJson({ unlocked: true, already: res.already === true, pid: res.pid });
  else process.stderr.write(res.already ? `the agent (pid ${res.pid}) is already unlocked\n` : `unlocked the agent (pid ${res.pid})\n`);
}

async function lock(a: GlobalArgs) {
  const dir = resolveVaultDir(a.vault);
  const res = agentRequest(dir, { op: 'lock' }, 10_000);
  if (!res) throw noAgent(dir);
  if (!res.ok) throw refused(res, 'lock');
  if (a.json) printJson({ locked: true, already: res.already === true, pid: res.pid });
  else
    process.stderr.write(
      res.already
        ? `the agent (pid ${res.pid}) is already locked\n`
        : `locked the agent (pid ${res.pid}): its key is wiped; it keeps running (tvault unlock)\n`,
    );
}

export function unlockCommand(y: Y): Y {
  return y
    .example('tvault unlock', 'asks for the passphrase on this terminal and hands it to the running agent')
    .example('TVAULT_PASSPHRASE_FILE=~/.config/tvault/passphrase tvault unlock', 'without a prompt');
}

export function lockCommand(y: Y): Y {
  return y.example('tvault lock', 'the agent wipes its key and keeps running; tvault unlock warms it again');
}

export const unlockHandler = unlock;
export const lockHandler = lock;
