// How the agent holds the database: one connection for its whole life. SQLite in WAL mode lets
// other processes read and write meanwhile (set, delete, key rotate keep working); the agent
// holds no transaction between requests and writes only its own audit rows, each in a brief
// transaction. If vault.db is replaced (a restore that moved a damaged file aside), the
// connection is reopened on the next request, so the agent never serves from a stale file.
import { statSync } from 'node:fs';
import { type Actor, TvaultError, Vault, vaultFiles } from '@tvault/core';

function identity(path: string): string {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    throw new TvaultError(`the vault database ${path} is gone`);
  }
}

export class VaultHandle {
  private vault: Vault;
  private ident: string;
  private verifier: Buffer | null = null;

  constructor(
    readonly dir: string,
    private readonly actor: Actor,
  ) {
    this.ident = identity(vaultFiles(dir).db);
    this.vault = Vault.open(dir, actor);
  }

  /** The open vault, reopened first if vault.db is no longer the file it was. */
  get(): Vault {
    const now = identity(vaultFiles(this.dir).db);
    if (now !== this.ident) {
      this.vault.close();
      this.vault = Vault.open(this.dir, this.actor);
      this.ident = now;
    }
    return this.vault;
  }

  /** Unlocks and remembers the verifier that the KEK matched. */
  async unlock(passphrase: Uint8Array): Promise<Buffer> {
    const v = this.get();
    const kek = await v.unlock(passphrase);
    this.verifier = v.verifier();
    return kek;
  }

  /**
   * Whether the KEK still opens the vault. The verifier only changes on `key rotate` or a
   * restore, so the common case is one small SELECT and a byte comparison.
   */
  kekStillMatches(kek: Buffer): boolean {
    const v = this.get();
    const current = v.verifier();
    if (this.verifier && current.equals(this.verifier)) return true;
    if (!v.kekMatches(kek)) return false;
    this.verifier = current;
    return true;
  }

  close(): void {
    this.vault.close();
  }
}
