// What every command needs: the vault directory, the project, and a way to unlock.
// Reads try the agent first (unless --no-agent / TVAULT_NO_AGENT) and fall back to a direct
// unlock; writes always unlock directly. Core (SQLite, the KDF, NaCl) loads only on that path.
import { type Selection, Vault, checkProjectName, resolveVaultDir } from '@tvault/core';
import type { Answer } from '@tvault/protocol';
import { agentDisabledByEnv, agentRequest, answerSecrets, explainFallback, finalRefusal, readRequest } from './agent-client';
import { unlockWithPassphrase } from './passphrase';
import { type ProjectConfig, loadConfig } from './project-config';

export interface GlobalArgs {
  vault?: string;
  project?: string;
  agent?: boolean;
  json?: boolean;
  /** What the agent told the fast path for this command (main.ts sets it; undefined: not asked). */
  fastPathAnswer?: Answer | null;
}

export interface PlainSecret {
  name: string;
  value: string;
}

export class Session {
  readonly dir: string;
  private config: ProjectConfig | null | undefined;

  constructor(readonly args: GlobalArgs) {
    this.dir = resolveVaultDir(args.vault);
  }

  get useAgent(): boolean {
    return this.args.agent !== false && !agentDisabledByEnv();
  }

  /** The nearest allowed tvault.toml (loaded once). */
  projectConfig(): ProjectConfig | null {
    if (this.config === undefined) this.config = loadConfig(this.dir);
    return this.config;
  }

  /** -p/--project > tvault.toml; null means "the vault's current project". */
  explicitProject(): string | null {
    // `!== undefined`: an empty -p '' is refused (main.ts checks it too), never "the current project".
    if (this.args.project !== undefined) return checkProjectName(this.args.project);
    return this.projectConfig()?.project || null;
  }

  project(vault: Vault): string {
    return this.explicitProject() ?? vault.currentProject();
  }

  openVault(): Vault {
    return Vault.open(this.dir);
  }

  /** Opens the vault, unlocks it directly, runs fn, and zeroes the key whatever happens. */
  async withUnlocked<T>(fn: (vault: Vault, kek: Buffer) => Promise<T> | T): Promise<T> {
    const vault = this.openVault();
    try {
      const kek = await unlockWithPassphrase((pass) => vault.unlock(pass));
      try {
        return await fn(vault, kek);
      } finally {
        kek.fill(0);
      }
    } finally {
      vault.close();
    }
  }

  /** Asks the agent; returns null when the caller should unlock directly instead. */
  private viaAgent(q: { key?: string } & Selection): { project: string; secrets: PlainSecret[] } | null {
    if (!this.useAgent || process.platform === 'win32') return null;
    const earlier = this.args.fastPathAnswer;
    this.args.fastPathAnswer = undefined; // used once
    if (earlier !== undefined && earlier?.ok !== true) {
      // The fast path already asked and got no usable answer: don't ask twice.
      if (earlier && !earlier.ok) explainFallback(earlier);
      return null;
    }
    const res = agentRequest(this.dir, readRequest(this.explicitProject(), q));
    if (!res) return null;
    if (!res.ok) {
      const refusal = finalRefusal(res);
      if (refusal) throw refusal;
      explainFallback(res);
      return null;
    }
    const project = String(res.project);
    if (q.key !== undefined) return { project, secrets: [{ name: q.key, value: String(res.value) }] };
    return { project, secrets: answerSecrets(res) };
  }

  /** Reads the selected secrets of the project (agent first). */
  async readSecrets(sel: Selection, op: 'getall' | 'export' = 'getall'): Promise<{ project: string; secrets: PlainSecret[] }> {
    const agent = this.viaAgent(sel);
    if (agent) return agent;
    return this.withUnlocked((vault, kek) => {
      const project = this.project(vault);
      const secrets = vault.getSecrets(kek, project, sel, op);
      return { project, secrets: secrets.map((s) => ({ name: s.name, value: drain(s.value) })) };
    });
  }

  async readSecret(key: string): Promise<string> {
    const agent = this.viaAgent({ key });
    if (agent) return agent.secrets[0].value;
    return this.withUnlocked((vault, kek) => drain(vault.getSecret(kek, this.project(vault), key)));
  }
}

/** Turns a value buffer into text for output or a child's environment, and zeroes the buffer. */
export function drain(buf: Buffer): string {
  const s = buf.toString('utf8');
  buf.fill(0);
  return s;
}
