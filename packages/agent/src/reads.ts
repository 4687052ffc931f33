// The read ops: decrypt through core (which writes the audit row with the peer as actor) and
// encode straight into the answer Buffer. Every decrypted value is zeroed before returning.
import { type Actor, type Vault, zero } from '@tvault/core';
import type { ReadRequest } from '@tvault/protocol';
import { secretsLine, valueLine } from './protocol';

export interface ReadResult {
  line: Buffer;
  project: string;
  keys: string[];
}

export function serveRead(vault: Vault, kek: Buffer, req: ReadRequest, actor: Actor): ReadResult {
  const project = req.project ?? vault.currentProject();
  if (req.op === 'get') {
    const value = vault.getSecret(kek, project, req.key, actor);
    try {
      return { line: valueLine(project, req.key, value), project, keys: [req.key] };
    } finally {
      zero(value);
    }
  }
  const sel = req.op === 'getselected' ? { only: req.only, prefix: req.prefix } : {};
  const secrets = vault.getSecrets(kek, project, sel, req.op, actor);
  try {
    return { line: secretsLine(project, secrets), project, keys: secrets.map((s) => s.name) };
  } finally {
    zero(...secrets.map((s) => s.value));
  }
}
