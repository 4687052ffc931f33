// The `names` op (docs/PROTOCOL.md, "names"): the projects and key names a caller may use, with
// their versions and times, for a client that runs commands by name (the MCP server, an
// orchestrator) and must know what exists. Never a value, nothing decrypted: names are checked
// against the project's authenticated manifest, as a read's would be.
import type { Vault } from '@tvault/core';
import type { NamesAnswer, NamesRequest } from '@tvault/protocol';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * What a names request is answered with. `within`: a keys= token's keys (the others are left
 * out). A project-scoped token's project is already in `req.project` (token-gate.ts).
 */
export function listNames(vault: Vault, kek: Uint8Array, req: NamesRequest, within: readonly string[] | undefined): NamesAnswer {
  const projects = req.project != null ? [vault.project(req.project).name] : vault.listProjects().map((p) => p.name);
  const sel = req.only ? { only: req.only } : {};
  const current = req.project ?? vault.currentProject();
  return {
    current: projects.includes(current) ? current : null,
    projects: projects.map((name) => {
      const verified = new Set(vault.verifiedNames(kek, name, sel));
      const keys = vault
        .list(name, sel)
        .filter((m) => verified.has(m.name) && (!within || within.includes(m.name)))
        .map((m) => ({ name: m.name, version: m.version, createdAt: iso(m.created_at), updatedAt: iso(m.updated_at) }));
      const missing = req.only?.filter((k) => !verified.has(k));
      return { name, keys, ...(missing && { missing }) };
    }),
  };
}
