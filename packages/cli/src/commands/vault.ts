// Whole-vault commands: init, status, doctor, key rotate, import, backup, restore.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Y, unknownCommand } from './argv';
import {
  DEFAULT_KDF,
  ExitCode,
  type KdfParams,
  type PrivacyRule,
  TvaultError,
  Vault,
  backup,
  checkNewKdfParams,
  checkPrivateDir,
  errnoText,
  integrityError,
  isWeak,
  noVaultError,
  privacyFinding,
  restore,
  usageError,
  vaultFiles,
} from '@tvault/core';
import { agentRequest, isSocket } from '../agent-client';
import { warnIfDangerous } from '../dangerous-env';
import { printJson, warn } from '../output';
import { getNewPassphrase } from '../passphrase';
import { type GlobalArgs, Session } from '../session';

type A<T> = GlobalArgs & T;

/** init and key rotate say the same when they are asked for parameters below the default. */
function warnIfWeakKdf(kdf: KdfParams): void {
  if (isWeak(kdf))
    warn(`Argon2id parameters below the default (${DEFAULT_KDF.memoryKiB} KiB, ${DEFAULT_KDF.passes} passes): fine for tests, weak for real secrets`);
}

async function init(a: A<{ kdfMemory: number; kdfPasses: number; kdfParallelism: number }>) {
  const s = new Session(a);
  if (Vault.exists(s.dir)) throw new TvaultError(`a vault already exists at ${s.dir}`);
  const kdf = { alg: 'argon2id' as const, memoryKiB: a.kdfMemory, passes: a.kdfPasses, parallelism: a.kdfParallelism };
  checkNewKdfParams(kdf); // refused before the passphrase is asked for
  const pass = await getNewPassphrase('TVAULT_PASSPHRASE', 'New vault passphrase');
  try {
    (await Vault.init(s.dir, pass, kdf)).close();
  } finally {
    pass.fill(0);
  }
  // After the vault exists, so that a refused init prints only its error.
  warnIfWeakKdf(kdf);
  if (a.json) printJson({ vault: s.dir, project: 'default' });
  else process.stderr.write(`created vault at ${s.dir} (project: default)\n`);
}

async function status(a: GlobalArgs) {
  const s = new Session(a);
  const initialized = Vault.exists(s.dir);
  const agent = agentRequest(s.dir, { op: 'status' }, 1000);
  const out: Record<string, unknown> = { vault: s.dir, initialized, agent: agent?.ok ? 'running' : 'not running' };
  if (initialized) {
    const vault = s.openVault();
    try {
      out.project = s.project(vault);
      out.projects = vault.listProjects().length;
      out.kdf = vault.kdfParams();
    } finally {
      vault.close();
    }
  }
  if (a.json) printJson(out);
  else for (const [k, v] of Object.entries(out)) process.stdout.write(`${k.padEnd(12)} ${typeof v === 'object' ? JSON.stringify(v) : v}\n`);
  if (!initialized) process.exitCode = ExitCode.NOT_INITIALIZED;
}

// A weak KDF (tests make such vaults on purpose) or a stale agent socket is a warning: doctor
// says so and exits 0. A failure exits 1, or 8 when data or the audit trail was tampered with.
type Level = 'ok' | 'warn' | 'fail';

interface Check {
  check: string;
  status: Level;
  ok: boolean;
  detail: string;
}

/** vault.db: readable by nobody else (SQLite's -wal and -shm files inherit its mode); its owner is the directory check's business. */
const VAULT_DB: PrivacyRule = { forbid: 0o077, anyOwner: true };

/** Thrown by a check that found something worth saying but nothing broken. */
class DoctorWarning extends Error {}

/**
 * Whoever can rename an entry in an ancestor of the vault directory can swap the directory for
 * one of theirs (the client's socket check holds the directory open, but a delegate's token, a
 * tvault.toml and the next command by path would still go there). As OpenSSH's StrictModes:
 * every ancestor up to / must be owned by you or root and writable by neither group nor others,
 * except a sticky directory of yours or root's (/tmp), where only an entry's owner can rename it.
 */
function checkAncestors(dir: string): string {
  const uid = process.getuid?.();
  const real = realpathSync(dir);
  for (let d = dirname(real); ; d = dirname(d)) {
    const st = statSync(d);
    const owned = uid === undefined || st.uid === uid || st.uid === 0;
    if (!owned)
      throw new Error(
        `${d} belongs to uid ${st.uid}, who could replace the vault directory; move the vault (--vault or TVAULT_DIR) under directories of yours`,
      );
    if (st.mode & 0o022 && !(st.mode & 0o1000))
      throw new Error(`${d} is writable by group or others, who could replace the vault directory; fix it with: chmod go-w ${d}`);
    if (dirname(d) === d) return `no one but you or root can replace ${real}`;
  }
}

async function doctor(a: GlobalArgs) {
  const s = new Session(a);
  if (!Vault.exists(s.dir)) {
    if (existsSync(s.dir)) checkPrivateDir(s.dir); // another user's 0700 directory hides vault.db: say so
    throw noVaultError(s.dir);
  }
  const checks: Check[] = [];
  let exitCode: number = ExitCode.OK;
  const add = (check: string, status: Level, detail: string) => checks.push({ check, status, ok: status !== 'fail', detail });
  const attempt = (check: string, fn: () => string) => {
    try {
      add(check, 'ok', fn());
    } catch (err) {
      if (err instanceof DoctorWarning) {
        add(check, 'warn', err.message);
        return;
      }
      add(check, 'fail', (err as Error).message);
      const code = err instanceof TvaultError && err.exitCode === ExitCode.INTEGRITY ? ExitCode.INTEGRITY : ExitCode.ERROR;
      exitCode = Math.max(exitCode, code);
    }
  };
  attempt('vault directory', () => (checkPrivateDir(s.dir), `${s.dir} is private (0700)`));
  attempt('ancestors', () => checkAncestors(s.dir));
  attempt('vault.db mode', () => {
    const db = vaultFiles(s.dir).db;
    const f = privacyFinding(statSync(db), VAULT_DB);
    // Worded as a doctor's line (test/cli-doctor.test.mjs), found by the one rule engine.
    if (f?.problem === 'mode') throw new Error(`vault.db has mode ${(f.mode & 0o777).toString(8)}; fix it with: chmod 600 ${db}`);
    return '0600';
  });
  let vault: Vault | undefined;
  attempt('database', () => {
    vault = s.openVault();
    const r = vault.integrityCheck();
    if (r !== 'ok') throw integrityError(`SQLite integrity check: ${String(r).split('\n')[0]}`);
    return 'SQLite integrity check ok';
  });
  if (vault) {
    const v = vault;
    attempt('key derivation', () => {
      const p = v.kdfParams();
      const desc = `Argon2id ${p.memoryKiB} KiB, ${p.passes} passes, ${p.parallelism} lanes`;
      if (isWeak(p))
        throw new DoctorWarning(
          `${desc}: weaker than the default; raise it with: tvault key rotate --kdf-memory ${DEFAULT_KDF.memoryKiB} --kdf-passes ${DEFAULT_KDF.passes} --kdf-parallelism ${DEFAULT_KDF.parallelism}`,
        );
      return desc;
    });
    attempt('audit chain', () => {
      const r = v.verifyAudit();
      if (!r.ok) throw integrityError(`broken at row ${r.id}: ${r.reason}`);
      return `${r.rows} rows, chain intact`;
    });
    // Who can read what without an identity of this vault: people and machines shared with
    // (a line only once something is shared).
    if (v.isShared())
      attempt('recipients', () => {
        const others = v.unmatchedRecipients();
        if (others.length)
          throw new DoctorWarning(
            `shared with recipients no identity in this vault matches (review them; revoke with tvault projects unshare): ${others.map((o) => `${o.project}: ${o.recipient}`).join(', ')}`,
          );
        return 'every recipient is an identity of this vault';
      });
    v.close();
  }
  attempt('agent', () => {
    const agent = agentRequest(s.dir, { op: 'status' }, 1000); // throws for a socket in a loose directory
    if (agent?.ok) return 'running';
    if (isSocket(vaultFiles(s.dir).sock)) throw new DoctorWarning('a stale agent.sock is left from a killed agent; the next agent start replaces it');
    return 'not running';
  });
  const warnings = checks.filter((c) => c.status === 'warn').length;
  if (a.json) printJson({ ok: exitCode === ExitCode.OK, warnings, checks });
  else for (const c of checks) process.stdout.write(`${{ ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[c.status]}  ${c.check.padEnd(16)} ${c.detail}\n`);
  process.exitCode = exitCode;
}

async function rotate(a: A<{ kdfMemory?: number; kdfPasses?: number; kdfParallelism?: number }>) {
  const s = new Session(a);
  await s.withUnlocked(async (vault, kek) => {
    const cur = vault.kdfParams();
    const kdf = {
      alg: 'argon2id' as const,
      memoryKiB: a.kdfMemory ?? cur.memoryKiB,
      passes: a.kdfPasses ?? cur.passes,
      parallelism: a.kdfParallelism ?? cur.parallelism,
    };
    checkNewKdfParams(kdf); // before the new passphrase is asked for
    // Keeping a vault's weak parameters is doctor's to flag; lowering them is warned about here.
    if (kdf.memoryKiB < cur.memoryKiB || kdf.passes < cur.passes || !isWeak(cur)) warnIfWeakKdf(kdf);
    const pass = await getNewPassphrase('TVAULT_NEW_PASSPHRASE', 'New passphrase');
    try {
      await vault.rotate(kek, pass, kdf);
    } finally {
      pass.fill(0);
    }
    if (a.json) printJson({ rotated: true, kdf });
    else process.stderr.write('passphrase changed; every project key was re-wrapped (restart a running agent)\n');
  });
}

/**
 * A .env file's KEY=value pairs, as dotenv parses them (no shell or variable expansion:
 * `$(cmd)` and `${X}` stay literal), with two repairs. Bytes that are not UTF-8 are refused,
 * naming the line (never its text), where decoding would silently turn them into U+FFFD. And a
 * key `__proto__`, which dotenv's plain-object result drops (assigning it sets the prototype),
 * is kept: every `__proto__` in the text is swapped for a random word that the text does not
 * contain, and swapped back in names and values afterwards; a one-to-one rewrite of word
 * characters, which dotenv's grammar treats alike.
 */
function parseDotenv(raw: Buffer, label: string): Array<[string, string]> {
  const strict = new TextDecoder('utf-8', { fatal: true });
  let text: string;
  try {
    text = strict.decode(raw);
  } catch {
    // 0x0a never occurs inside a multi-byte sequence, so the bad bytes are within one line.
    let start = 0;
    for (let line = 1; ; line++) {
      const end = raw.indexOf(0x0a, start);
      try {
        strict.decode(raw.subarray(start, end < 0 ? raw.length : end));
      } catch {
        throw usageError(`${label}: line ${line} is not valid UTF-8; nothing was imported`);
      }
      start = end + 1;
    }
  }
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  let word: string;
  do word = `x${randomBytes(16).toString('hex')}`;
  while (text.includes(word));
  const back = (s: string) => s.split(word).join('__proto__');
  const parsed = (require('dotenv') as typeof import('dotenv')).parse(text.split('__proto__').join(word));
  return Object.entries(parsed).map(([k, v]) => [back(k), back(v)]);
}

async function importFile(a: A<{ file: string; dryRun?: boolean }>) {
  const { readFileSync } = await import('node:fs');
  let raw: Buffer;
  try {
    // yargs hands a lone '-' over as ''; no file has an empty name, so both mean stdin.
    raw = readFileSync(a.file === '-' || a.file === '' ? 0 : a.file);
  } catch (err) {
    throw new TvaultError(`cannot read ${a.file}: ${errnoText(err)}`);
  }
  let parsed: Array<[string, string]>;
  try {
    parsed = parseDotenv(raw, a.file === '-' || a.file === '' ? 'stdin' : a.file);
  } finally {
    raw.fill(0);
  }
  const entries = parsed.map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8') }));
  if (!entries.length) throw usageError(`${a.file} holds no KEY=value lines`);
  entries.forEach((e) => warnIfDangerous(e.name));
  const s = new Session(a);
  try {
    if (a.dryRun) {
      const { checkKeyName, checkValue } = await import('@tvault/core');
      entries.forEach((e) => (checkKeyName(e.name), checkValue(e.value)));
      if (a.json) return printJson({ dryRun: true, keys: entries.map((e) => e.name) });
      process.stdout.write(entries.map((e) => `would set ${e.name}\n`).join(''));
      return;
    }
    await s.withUnlocked((vault, kek) => {
      const project = s.project(vault);
      vault.setSecrets(kek, project, entries, 'import');
      if (a.json) printJson({ project, imported: entries.map((e) => e.name) });
      else process.stderr.write(`imported ${entries.length} secret${entries.length === 1 ? '' : 's'} into ${project}\n`);
    });
  } finally {
    entries.forEach((e) => e.value.fill(0));
  }
}

const kdfOptions = (c: Y, defaults: boolean): Y =>
  c
    .option('kdf-memory', {
      type: 'number',
      ...(defaults ? { default: DEFAULT_KDF.memoryKiB } : {}),
      describe: 'Argon2id memory in KiB (lower only for tests)',
    })
    .option('kdf-passes', { type: 'number', ...(defaults ? { default: DEFAULT_KDF.passes } : {}), describe: 'Argon2id passes' })
    .option('kdf-parallelism', { type: 'number', ...(defaults ? { default: DEFAULT_KDF.parallelism } : {}), describe: 'Argon2id lanes' });

export function vaultCommands(y: Y): Y {
  return y
    .command(
      'init',
      'create a vault (TVAULT_PASSPHRASE makes it non-interactive)',
      (c: Y): Y =>
        kdfOptions(c, true)
          .example('tvault init', '')
          .example('TVAULT_PASSPHRASE_FILE=~/.config/tvault/passphrase tvault init', 'without a prompt: the passphrase from a 0600 file'),
      init,
    )
    .command('status', 'show the vault, current project and agent', (c: Y): Y => c.example('tvault status --json', ''), status)
    .command('doctor', 'check permissions, integrity and settings', (c: Y): Y => c.example('tvault doctor', ''), doctor)
    .command('key', 'manage the vault key', (k: Y): Y =>
      k
        .example('TVAULT_NEW_PASSPHRASE_FILE=~/new-passphrase tvault key rotate', 'without a prompt: the new passphrase from a 0600 file')
        .command(
          'rotate',
          'change the passphrase (TVAULT_NEW_PASSPHRASE or _FILE for scripts); values are untouched',
          (c: Y): Y => kdfOptions(c, false).example('tvault key rotate', ''),
          rotate,
        )
        .command(...unknownCommand(k, 'give a key subcommand: rotate', 'key')),
    )
    .command(
      'import <file>',
      'import KEY=value lines from a .env file (no shell expansion)',
      (c: Y): Y =>
        c
          .positional('file', { type: 'string', demandOption: true, describe: 'a .env file, or - for stdin' })
          .option('dry-run', { type: 'boolean', describe: 'show what would be imported, write nothing' })
          .example('tvault import .env --dry-run', '')
          .example('heroku config -s | tvault import -', ''),
      importFile,
    )
    .command(
      'backup <path>',
      'write a consistent copy of the vault (still encrypted) to PATH',
      (c: Y): Y => c.positional('path', { type: 'string', demandOption: true }).example('tvault backup ~/vault-$(date +%F).db', ''),
      async (a: A<{ path: string }>) => {
        const vault = new Session(a).openVault();
        try {
          await backup(vault, a.path);
        } finally {
          vault.close();
        }
        if (a.json) printJson({ backup: a.path });
        else process.stderr.write(`backed up to ${a.path}\n`);
      },
    )
    .command(
      'restore <path>',
      'replace the vault with a backup (the current vault is kept aside)',
      (c: Y): Y => c.positional('path', { type: 'string', demandOption: true }).example('tvault restore ~/vault-2026-11-27.db', ''),
      async (a: A<{ path: string }>) => {
        const s = new Session(a);
        const r = await restore(s.dir, a.path);
        if (a.json) printJson({ restored: a.path, previous: r.savedAs ?? null });
        else process.stderr.write(`restored from ${a.path}${r.savedAs ? `; the previous vault is kept at ${r.savedAs}` : ''}\n`);
      },
    );
}
