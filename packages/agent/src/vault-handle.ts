// How the agent holds the database: one connection for its whole life. SQLite in WAL mode lets
// other processes read and write meanwhile (set, delete, key rotate keep working); the agent
// holds no transaction between requests and writes only its own audit rows, each in a brief
// transaction. If vault.db is replaced (a restore that moved a damaged file aside), the
// connection is reopened on the next request, so the agent never serves from a stale file.
// The vault's read cache (Vault.enableReadCache: rows and checks, never values) is checked at
// each request against SQLite's data_version and vault.db's stat, and dropped on any change
// (once for the requests that arrived together in one wakeup of the accept loop: see get).
//
// Checkpoints: SQLite copies the WAL back into vault.db inside whichever commit crosses 1,000
// WAL pages, and that commit then takes a few ms; with 8 clients in flight all of them wait
// (most of the p99 in scripts/bench/agent.mjs). So the agent's connection does not checkpoint
// on commit: it checkpoints once it has been quiet for QUIET_MS, or inline after
// MAX_UNCHECKPOINTED commits of sustained load. Other processes keep SQLite's default.
import { statSync } from 'node:fs';
import { type Actor, TvaultError, Vault, vaultFiles } from '@tvault/core';
import { fileIdentity } from './files';

/** vault.db's identity (device and inode) and its signature for the read cache (see Vault.checkReadCache). */
function identity(path: string): { id: string; sig: string } {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new TvaultError(`the vault database ${path} is gone`);
  }
  const id = fileIdentity(st);
  return { id, sig: `${id}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` };
}

const QUIET_MS = 250;
const MAX_UNCHECKPOINTED = 4000;
const WAL_SIZE_LIMIT = 4 << 20; // what a checkpoint leaves of the -wal file

export class VaultHandle {
  private vault: Vault;
  private ident: string;
  private verifier: Buffer | null = null;
  private uncheckpointed = 0;
  /** The `arrived` of the requests get() last checked for (see get), undefined after anything else. */
  private checkedFor: number | undefined;
  private readonly dbPath: string;
  private readonly quiet = setTimeout(() => this.checkpoint(), QUIET_MS).unref();

  constructor(
    readonly dir: string,
    private readonly actor: Actor,
  ) {
    this.dbPath = vaultFiles(dir).db;
    this.ident = identity(this.dbPath).id;
    this.vault = this.open();
  }

  private open(): Vault {
    const v = Vault.open(this.dir, this.actor);
    v.deferCheckpoints(WAL_SIZE_LIMIT);
    v.enableKeyCache(); // the manifest key and the DEKs stay derived between reads: see wipeCaches
    v.enableReadCache(); // rows and checks, while vault.db is unchanged: see get()
    return v;
  }

  /**
   * Zeroes every key derived from the KEK that the open vault keeps between reads (the manifest
   * key, each project's DEK). Whoever wipes the KEK calls this too: the agent's stop, a rotated
   * key, and a lock.
   */
  wipeCaches(): void {
    this.checkedFor = undefined;
    this.vault.wipeKeyCache();
  }

  /** Call after each commit of the agent's own (a read's audit row). */
  wrote(): void {
    this.checkedFor = undefined;
    if (++this.uncheckpointed >= MAX_UNCHECKPOINTED) this.checkpoint();
    else this.quiet.refresh();
  }

  /** PASSIVE: never waits for another process; what it cannot copy now, a later one will. */
  checkpoint(): void {
    this.checkedFor = undefined;
    if (!this.uncheckpointed) return;
    this.uncheckpointed = 0;
    try {
      // The checkpoint writes vault.db, which changes its signature: the read cache is carried
      // over when the file was as the cache knew it just before (see Vault.renewReadCache).
      const before = identity(this.dbPath);
      this.vault.checkpoint();
      const after = identity(this.dbPath);
      if (after.id === before.id) this.vault.renewReadCache(before.sig, after.sig);
    } catch {
      /* the file is busy or gone: the next checkpoint, or another process's, does it */
    }
  }

  /**
   * The open vault, reopened first if vault.db is no longer the file it was; once per request.
   * Its read cache is checked here against vault.db's signature and SQLite's data_version, so
   * that nothing read before a change by anyone (another process, an edit of the file) is used.
   *
   * `arrived` (server.ts, ServerHooks.onRequest) names requests that the addon read in one
   * wakeup and that are served one after the other only once the last of them was read: a check
   * made for the first of them was made after every one of them had arrived, so it sees every
   * change that ended before any of them was sent, and it stands for the others (one `stat` and
   * one `PRAGMA data_version` for the lot). Anything in between (an own commit, a checkpoint, a
   * lock or unlock) and any other request checks again.
   */
  get(arrived?: number): Vault {
    if (arrived !== undefined && arrived === this.checkedFor) return this.vault;
    this.checkedFor = undefined;
    const sig = this.reopenIfReplaced();
    this.vault.checkReadCache(sig);
    this.checkedFor = arrived;
    return this.vault;
  }

  /**
   * The open vault for the agent's own audit commit: reopened first if vault.db is no longer
   * the file it was (a row must go into the vault at the path), without checking the read
   * cache, which a write does not read (its own commits do not invalidate it: see
   * Vault.checkReadCache). Spares a data_version query per commit.
   */
  forAudit(): Vault {
    this.checkedFor = undefined;
    this.reopenIfReplaced();
    return this.vault;
  }

  /** Reopens the vault if vault.db was replaced; returns the file's signature as it is now. */
  private reopenIfReplaced(): string {
    const now = identity(this.dbPath);
    if (now.id !== this.ident) {
      this.vault.close(); // wipes its key cache and its read cache
      this.vault = this.open();
      this.ident = now.id;
    }
    return now.sig;
  }

  /** Unlocks and remembers the verifier that the KEK matched. */
  async unlock(passphrase: Uint8Array): Promise<Buffer> {
    this.checkedFor = undefined;
    const v = this.get();
    const kek = await v.unlock(passphrase);
    this.checkedFor = undefined;
    this.verifier = v.verifier();
    return kek;
  }

  /**
   * Whether the KEK still opens the vault. The verifier only changes on `key rotate` or a
   * restore, so the common case is one small SELECT and a byte comparison.
   */
  kekStillMatches(kek: Buffer): boolean {
    const v = this.vault; // the caller has just had it from get(): one stat per request
    const current = v.verifier();
    if (this.verifier && current.equals(this.verifier)) return true;
    if (!v.kekMatches(kek)) return false;
    this.verifier = current;
    return true;
  }

  close(): void {
    clearTimeout(this.quiet);
    this.checkpoint();
    this.vault.close();
  }
}
