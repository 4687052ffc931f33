// What every command needs: the vault directory, the project, and a way to unlock.
// Reads try the agent first (unless --no-agent / TVAULT_NO_AGENT) and fall back to a direct
// unlock; writes always unlock directly. Core (SQLite, the KDF, NaCl) loads only on that path.
import { type Selection, Vault, checkProjectName, notFound, parseIdentityText, readIdentityFile, resolveVaultDir, usageError } from '@tvault/core';
import type { Answer } from '@tvault/protocol';
import { agentDisabledByEnv, agentRequest, answerAllowed, answerSecrets, explainFallback, finalRefusal, readRequest } from './agent-client';
import { checkSessionVault } from './handoff/guard';
import { unlockWithPassphrase } from './passphrase';
import { type ProjectConfig, loadConfig } from './project-config';

export interface GlobalArgs {
  vault?: string;
  project?: string;
  agent?: boolean;
  json?: boolean;
  /** --identity NAME|FILE of the read commands: read as that age identity (see readByIdentity). */
  identity?: string;
  /** What the agent told the fast path for this command (main.ts sets it; undefined: not asked). */
  fastPathAnswer?: Answer | null;
}

/** The --identity option of get, env, run and export. */
export const IDENTITY_OPTION = {
  type: 'string',
  describe: 'read as an age identity, without the passphrase: a key file (a path with a /) or an identity of this vault; or set TVAULT_IDENTITY_KEY',
} as const;

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
    checkSessionVault(this.dir); // inside a handoff: its own vault only (handoff/guard.ts)
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

  /**
   * Reading as a recipient is opt-in, never picked up by accident: --identity, or the variable
   * TVAULT_IDENTITY_KEY being set (empty is an error, not "unset": a CI secret that did not
   * resolve must not fall back to a passphrase prompt).
   */
  get byIdentity(): boolean {
    return this.args.identity !== undefined || process.env.TVAULT_IDENTITY_KEY !== undefined;
  }

  /**
   * The identity's key (the caller zeroes it): --identity FILE (a path: it has a '/'), or
   * --identity NAME (one of this vault's identities, unsealed with the passphrase: for checking
   * what a recipient sees), or TVAULT_IDENTITY_KEY. The key is never echoed in an error.
   */
  async identityKey(vault?: Vault): Promise<Buffer> {
    const given = this.args.identity;
    if (given === undefined) {
      const text = Buffer.from(process.env.TVAULT_IDENTITY_KEY ?? '', 'latin1');
      try {
        return parseIdentityText(text, 'TVAULT_IDENTITY_KEY');
      } finally {
        text.fill(0);
      }
    }
    if (given === '') throw usageError('--identity needs the name of an identity of this vault or the path of an identity file');
    if (given.includes('/')) {
      const { key, warning } = readIdentityFile(given);
      if (warning) process.stderr.write(`tvault: warning: ${warning}\n`);
      return key;
    }
    // Without a vault given (a committable file's reader), this one is opened for the name only.
    const v = vault ?? this.openVault();
    try {
      const kek = await unlockWithPassphrase((pass) => v.unlock(pass));
      try {
        return v.identityKey(kek, given);
      } finally {
        kek.fill(0);
      }
    } finally {
      if (!vault) v.close();
    }
  }

  /** Reads as a recipient: no agent, and no passphrase or KEK unless --identity names a vault identity. */
  private async readByIdentity(sel: Selection, op: string): Promise<ProjectSecrets> {
    const vault = this.openVault();
    try {
      const key = await this.identityKey(vault);
      try {
        const project = this.project(vault);
        const { secrets } = await vault.readAsRecipient(key, project, sel, op);
        // The allow list is MACed under the KEK, which a recipient does not have: none applies.
        return { project, secrets: secrets.map((x) => ({ name: x.name, value: drain(x.value) })), allowed: [] };
      } finally {
        key.fill(0);
      }
    } finally {
      vault.close();
    }
  }

  /** Reads the selected secrets of the project (agent first). */
  async readSecrets(sel: Selection, op: 'getall' | 'export' = 'getall'): Promise<ProjectSecrets> {
    if (this.byIdentity) return this.readByIdentity(sel, op);
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
    if (this.byIdentity) {
      const { project, secrets } = await this.readByIdentity({ only: [key] }, 'get');
      const found = secrets.find((x) => x.name === key);
      if (!found) throw notFound(`secret '${key}' not found in project '${project}'`);
      return found.value;
    }
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
