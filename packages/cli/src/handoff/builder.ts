// The builder: the only process of a handoff that ever holds the real vault's KEK. The
// supervisor starts it (`tvault __handoff-build`, with the request as one line of JSON on
// stdin: paths, names and E's recipient, never a secret), it unlocks the real vault (prompt,
// TVAULT_PASSPHRASE, TVAULT_PASSPHRASE_FILE), copies the selection into E, zeroes every key and
// value, writes the handoff.start audit row, answers on stdout and exits: all before the
// coding agent starts, so no live process of the session ever held the KEK.
import { readFileSync } from 'node:fs';
import { type Secret, TvaultError, Vault, type Selection, zero } from '@tvault/core';
import { Session } from '../session';

/** The hidden argv[0] that runs the builder (main.ts). */
export const BUILDER_COMMAND = '__handoff-build';

export interface BuildRequest {
  /** The real vault's directory. */
  vault: string;
  /** -p, or null for tvault.toml / the current project (resolved here exactly as `run` does). */
  project: string | null;
  selection: Selection;
  /** E's directory (made by the supervisor) and the recipient of the session's fresh identity. */
  e: string;
  recipient: string;
  /** The session's id and the agent's program name, for the audit row. */
  id: string;
  agent: string;
}

export interface BuildAnswer {
  project: string;
  keys: string[];
  vaultId: string;
}

/**
 * Builds E: one project holding `secrets`, whose DEK is wrapped to `recipient`. E's KEK is random
 * (derived from no passphrase) and zeroed here, so E's passphrase slot (the format has one for
 * every project) opens for no one: the session identity is the only way in.
 */
export async function buildEphemeral(dir: string, project: string, secrets: Secret[], recipient: string): Promise<string> {
  const { vault, kek } = Vault.initUnderRandomKey(dir, project);
  try {
    if (secrets.length) vault.setSecrets(kek, project, secrets, 'handoff');
    await vault.share(kek, project, recipient);
    return vault.vaultId().toString('hex');
  } finally {
    kek.fill(0);
    vault.close();
  }
}

/** The builder process's body (main.ts runs it for BUILDER_COMMAND). */
export async function runBuilder(): Promise<void> {
  const line = readFileSync(0, 'utf8');
  // The supervisor writes the request only once its checks pass; none means it ended first.
  if (!line.trim()) throw new TvaultError('the handoff builder got no request: its supervisor ended before the checks passed');
  const req = JSON.parse(line) as BuildRequest;
  const s = new Session({ vault: req.vault, project: req.project ?? undefined, agent: false });
  const answer = await s.withUnlocked(async (vault, kek): Promise<BuildAnswer> => {
    const project = s.project(vault);
    const secrets = vault.readSecretsUnaudited(kek, project, req.selection);
    try {
      const keys = secrets.map((x) => x.name);
      const vaultId = await buildEphemeral(req.e, project, secrets, req.recipient);
      vault.audit({ op: 'handoff.start', project, keys, detail: `agent=${req.agent} session=${req.id}` }, vault.actor, kek);
      return { project, keys, vaultId };
    } finally {
      zero(...secrets.map((x) => x.value));
    }
  });
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
