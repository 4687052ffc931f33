// `tvault handoff inspect`: is this process inside a live handoff session? The environment is
// only a claim (TVAULT_HANDOFF, TVAULT_DIR): a detached process can carry a stale marker, an
// export can clobber one variable and not the other. So "yes" needs live ground truth: E is
// where TVAULT_DIR points and carries that session's name, its handoff.json names the session
// as live, its supervisor (pid and start time) is still running, and its vault.db is the
// vault that session built (its vault id) and holds the project. Anything else is a safe "no".
// Nothing is unlocked, nothing is asked for, no value is read. Also imported by `run` (masking
// inside a handoff) and the MCP server.
import { resolve } from 'node:path';
import { Vault, isAlive } from '@tvault/core';
import { ID_RE, SESSION_VAR, idOfDir, readSessionFile } from './session-file';

export type HandoffState = { handoff: false } | { handoff: true; project: string; keys: number };

const NO: HandoffState = { handoff: false };

export function inspectHandoff(env: NodeJS.ProcessEnv = process.env): HandoffState {
  const id = env[SESSION_VAR];
  const dirVar = env.TVAULT_DIR;
  if (!id || !ID_RE.test(id) || !dirVar) return NO;
  const dir = resolve(dirVar);
  if (idOfDir(dir) !== id) return NO;
  const info = readSessionFile(dir);
  if (!info || info.state !== 'live' || !info.project || !info.vaultId || !isAlive(info)) return NO;
  try {
    const vault = Vault.open(dir);
    try {
      if (vault.vaultId().toString('hex') !== info.vaultId) return NO;
      const projects = vault.listProjects();
      if (projects.length !== 1 || projects[0].name !== info.project) return NO;
      return { handoff: true, project: info.project, keys: projects[0].secrets };
    } finally {
      vault.close();
    }
  } catch {
    return NO; // no vault.db (deleted, expired), or not one: not a live session
  }
}
