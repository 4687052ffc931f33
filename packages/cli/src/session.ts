// What every command needs: the vault directory, the project, and a way to unlock.
// Reads try the agent first (unless --no-agent / TVAULT_NO_AGENT) and fall back to a direct
// unlock; writes always unlock directly. Core (SQLite, the KDF, NaCl) loads only on that path.
import { type Selection, Vault, checkProjectName, resolveVaultDir } from '@tvault/core';
import type { Answer } from '@tvault/protocol';
import { agentDisabledByEnv, agentRequest, answerAllowed, answerSecrets, explainFallback, finalRefusal, readRequest } from './agent-client';
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

/** A project's selected secrets, and which of their names it allows although they are dangerous. */
export interface ProjectSecrets {
  project: string;
  secrets: PlainSecret[];
  allowed: string[];
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
  private async viaAgent(q: { key?: string } & Selection): Promise<ProjectSecrets | null> {
    if (!this.useAgent || process.platform === 'win32') return null;
    const earlier = this.args.fastPathAnswer;
    this.args.fastPathAnswer = undefined; // used once
    const ask = () => agentRequest(this.dir, readRequest(this.explicitProject(), q));
    // The fast path's answer, if it has nothing to give: not asked twice (an `ok` one is asked again).
    const asked = earlier !== undefined && earlier?.ok !== true;
    let res = asked ? earlier : ask();
    if (res && !res.ok && res.error === 'locked' && res.unlock === true) {
      // A locked agent that `tvault unlock` warms: unlock.ts offers that, and loads only here.
      if (!(await (require('./commands/unlock') as typeof import('./commands/unlock')).offerUnlock(this.dir))) return null;
      res = ask();
    } else if (asked) {
      if (earlier && !earlier.ok) explainFallback(earlier);
      return null;
    }
    if (!res) return null;
    if (!res.ok) {
      const refusal = finalRefusal(res);
      if (refusal) throw refusal;
      explainFallback(res);
      return null;
    }
    const project = String(res.project);
    if (q.key !== undefined) return { project, secrets: [{ name: q.key, value: String(res.value) }], allowed: [] };
    return { project, secrets: answerSecrets(res), allowed: answerAllowed(res) };
  }

  /** Reads the selected secrets of the project (agent first). */
  async readSecrets(sel: Selection, op: 'getall' | 'export' = 'getall'): Promise<ProjectSecrets> {
    const agent = await this.viaAgent(sel);
    if (agent) return agent;
    return this.withUnlocked((vault, kek) => {
      const project = this.project(vault);
      // Checked first: a tampered allow list fails the read (exit 8) before a value is decrypted.
      const allowed = vault.allowedNames(kek, project);
      const secrets = vault.getSecrets(kek, project, sel, op);
      const have = new Set(secrets.map((s) => s.name));
      return { project, secrets: secrets.map((s) => ({ name: s.name, value: drain(s.value) })), allowed: allowed.filter((n) => have.has(n)) };
    });
  }

  async readSecret(key: string): Promise<string> {
    const agent = await this.viaAgent({ key });
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
