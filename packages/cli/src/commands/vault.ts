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
  liveLeases,
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
import { allowCommand, configState } from '../project-config';
import { type GlobalArgs, Session } from '../session';

type A<T> = GlobalArgs & T;

/** init and key rotate say the same when they are asked for parameters below the default. */
function warnIfWeakKdf(kdf: KdfParams): void {
  if (isWeak(kdf))
    warn(`Argon2id parameters below the default (${DEFAULT_KDF.memoryKiB} KiB, ${DEFAULT_KDF.passes} passes): fine for tests, weak for real secrets`);
}

/** The strength check of a new passphrase (strength.ts loads zxcvbn-ts only when it runs). */
const strengthCheck = (force?: boolean) => ({
  force,
  weakness: (pass: Buffer) => (require('../strength') as typeof import('../strength')).passphraseWeakness(pass),
});

async function init(a: A<{ kdfMemory: number; kdfPasses: number; kdfParallelism: number; force?: boolean }>) {
  const s = new Session(a);
  if (Vault.exists(s.dir)) throw new TvaultError(`a vault already exists at ${s.dir}`);
  const kdf = { alg: 'argon2id' as const, memoryKiB: a.kdfMemory, passes: a.kdfPasses, parallelism: a.kdfParallelism };
  checkNewKdfParams(kdf); // refused before the passphrase is asked for
  const { pass, weak } = await getNewPassphrase('TVAULT_PASSPHRASE', 'New vault passphrase', strengthCheck(a.force));
  try {
    const vault = await Vault.init(s.dir, pass, kdf);
    try {
      if (weak) vault.markWeakPassphrase(true);
    } finally {
      vault.close();
    }
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
  // Beside a tvault.toml that is not allowed (or does not parse) status still answers, and says so.
  const cfg = a.project === undefined ? configState(s.dir) : null;
  if (cfg) out.config = cfg.allowed ? (cfg.problem ?? cfg.path) : `${cfg.path} is not allowed (review it, then: ${allowCommand(cfg.path)})`;
  if (initialized) {
    const vault = s.openVault();
    try {
      out.project = cfg ? (cfg.project ?? vault.currentProject()) : s.project(vault);
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
    attempt('passphrase', () => {
      if (v.weakPassphrase())
        throw new DoctorWarning('it was accepted weak with --force; change it with: tvault key rotate (the KDF slows guessing, it cannot stop it)');
      return 'not marked weak (a weak one is refused at init and key rotate unless --force)';
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
  attempt('tvault.toml', () => {
    const cfg = configState(s.dir);
    if (!cfg) return 'none here';
    if (!cfg.allowed) throw new DoctorWarning(`${cfg.path} is not allowed, so commands here refuse it; review it, then run: ${allowCommand(cfg.path)}`);
    if (cfg.problem) throw new Error(cfg.problem);
    return `${cfg.path} is allowed${cfg.project ? ` (project ${cfg.project})` : ''}`;
  });
  attempt('agent', () => {
    const agent = agentRequest(s.dir, { op: 'status' }, 1000); // throws for a socket in a loose directory
    if (agent?.ok) return agent.locked === true ? 'running, locked (tvault unlock)' : 'running';
    if (isSocket(vaultFiles(s.dir).sock)) throw new DoctorWarning('a stale agent.sock is left from a killed agent; the next agent start replaces it');
    return 'not running';
  });
  attempt('handoff', () => {
    // Session vaults of `tvault handoff`s that were killed (kill -9) are removed here too.
    const { sweep } = require('../handoff/ephemeral') as typeof import('../handoff/ephemeral');
    const { auditEnd } = require('../handoff/supervisor') as typeof import('../handoff/supervisor');
    const swept = sweep();
    for (const x of swept) if (x.info) auditEnd(x.info.vault, x.info, 'supervisor killed (swept by doctor)');
    const live = liveLeases(s.dir);
    const held = live.length
      ? `a handoff (pid ${live.map((l) => l.pid).join(', ')}) holds this vault: no agent may cache its key`
      : 'no handoff holds this vault';
    return swept.length ? `${held}; removed ${swept.length} session vault${swept.length > 1 ? 's' : ''} left by a killed handoff` : held;
  });
  const warnings = checks.filter((c) => c.status === 'warn').length;
  if (a.json) printJson({ ok: exitCode === ExitCode.OK, warnings, checks });
  else for (const c of checks) process.stdout.write(`${{ ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[c.status]}  ${c.check.padEnd(16)} ${c.detail}\n`);
  process.exitCode = exitCode;
}

async function rotate(a: A<{ kdfMemory?: number; kdfPasses?: number; kdfParallelism?: number; force?: boolean }>) {
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
    const { pass, weak } = await getNewPassphrase('TVAULT_NEW_PASSPHRASE', 'New passphrase', strengthCheck(a.force));
    try {
      await vault.rotate(kek, pass, kdf);
      vault.markWeakPassphrase(weak);
    } finally {
      pass.fill(0);
    }
    if (a.json) printJson({ rotated: true, kdf });
    else process.stderr.write('passphrase changed; every project key was re-wrapped (restart a running agent)\n');
  });
}

type Change = 'new' | 'changed' | 'unchanged';

/** Each entry's change against the project's current values (`current`: name to value). */
function classify(entries: Array<{ name: string; value: Buffer }>, current: Map<string, Buffer>): Record<Change, string[]> {
  const out: Record<Change, string[]> = { new: [], changed: [], unchanged: [] };
  for (const e of entries) {
    const now = current.get(e.name);
    out[!now ? 'new' : now.equals(e.value) ? 'unchanged' : 'changed'].push(e.name);
  }
  return out;
}

const counts = (c: Record<Change, string[]>) => `${c.new.length} new, ${c.changed.length} changed, ${c.unchanged.length} unchanged`;

/**
 * import: every valid KEY=value line is imported; each line left out (unparseable, a name
 * tvault cannot store such as KEY.WITH.DOTS, a value it refuses, bytes that are not UTF-8) is
 * named on stderr by its line number, never its text, and makes the exit status 1. Values
 * equal to the stored ones are not written again; the summary says how many were new,
 * changed and unchanged. --dry-run says the same per key and writes nothing.
 */
async function importFile(a: A<{ file: string; dryRun?: boolean }>) {
  const { readFileSync } = await import('node:fs');
  const { parseDotenvFile } = await import('../dotenv-import');
  const label = a.file === '-' || a.file === '' ? 'stdin' : a.file;
  let raw: Buffer;
  try {
    // yargs hands a lone '-' over as ''; no file has an empty name, so both mean stdin.
    raw = readFileSync(a.file === '-' || a.file === '' ? 0 : a.file);
  } catch (err) {
    throw new TvaultError(`cannot read ${a.file}: ${errnoText(err)}`);
  }
  let parsed: ReturnType<typeof parseDotenvFile>;
  try {
    parsed = parseDotenvFile(raw);
  } finally {
    raw.fill(0);
  }
  const skipped = parsed.problems.map((p) => ({ line: p.line, ...(p.name ? { name: p.name } : {}), reason: p.reason }));
  if (!a.json) {
    const left = new Set(parsed.problems);
    for (const p of [...parsed.problems, ...parsed.notes].sort((x, y) => x.line - y.line)) {
      if (left.has(p)) process.stderr.write(`tvault: ${label}, line ${p.line}: ${p.reason}\n`);
      else warn(`${label}, line ${p.line}: ${p.reason}`);
    }
  }
  if (!parsed.entries.length && !parsed.problems.length) throw usageError(`${a.file} holds no KEY=value lines`);
  const entries = parsed.entries.map((e) => ({ name: e.name, value: Buffer.from(e.value, 'utf8') }));
  entries.forEach((e) => warnIfDangerous(e.name));
  const s = new Session(a);
  const finish = (project: string, c: Record<Change, string[]>, dryRun: boolean) => {
    if (a.json) printJson({ project, ...(dryRun ? { dryRun: true } : { imported: [...c.new, ...c.changed] }), ...c, skipped });
    else if (dryRun) {
      const change = new Map(Object.entries(c).flatMap(([k, names]) => names.map((n) => [n, k])));
      process.stdout.write(entries.map((e) => `${change.get(e.name)!.padEnd(9)} ${e.name}\n`).join(''));
      process.stderr.write(
        `dry run for ${project}: ${counts(c)}${skipped.length ? `, ${skipped.length} line${skipped.length > 1 ? 's' : ''} left out` : ''}; nothing written\n`,
      );
    } else
      process.stderr.write(
        `imported into ${project}: ${counts(c)}${skipped.length ? `; ${skipped.length} line${skipped.length > 1 ? 's' : ''} left out (above)` : ''}\n`,
      );
    if (skipped.length) process.exitCode = ExitCode.ERROR;
  };
  try {
    const names = entries.map((e) => e.name);
    if (a.dryRun) {
      // Comparing needs the current values: read (and audited) like any read, agent first.
      // By name while the request stays small (the agent takes 64 KiB), else the whole project.
      const sel = names.length <= 500 ? { only: names } : {};
      const { project, secrets } = names.length ? await s.readSecrets(sel) : { project: s.explicitProject() ?? 'the current project', secrets: [] };
      const current = new Map(secrets.map((x) => [x.name, Buffer.from(x.value, 'utf8')]));
      try {
        finish(project, classify(entries, current), true);
      } finally {
        current.forEach((b) => b.fill(0));
      }
      return;
    }
    await s.withUnlocked((vault, kek) => {
      const project = s.project(vault);
      const current = new Map(names.length ? vault.getSecrets(kek, project, { only: names }, 'import.compare').map((x) => [x.name, x.value]) : []);
      try {
        const c = classify(entries, current);
        const write = entries.filter((e) => !c.unchanged.includes(e.name));
        if (write.length) vault.setSecrets(kek, project, write, 'import');
        finish(project, c, false);
      } finally {
        current.forEach((b) => b.fill(0));
      }
    });
  } finally {
    entries.forEach((e) => e.value.fill(0));
  }
}

const kdfOptions = (c: Y, defaults: boolean): Y =>
  c
    .option('force', { type: 'boolean', describe: 'accept a passphrase that the strength check finds weak (doctor will say so)' })
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
          .option('dry-run', { type: 'boolean', describe: 'show per key whether it is new, changed or unchanged; write nothing' })
          .example('tvault import .env --dry-run', '')
          .example('heroku config -s | tvault import -', '')
          .epilogue(
            'Every valid line is imported; a line that is left out (unparseable, a name such as KEY.WITH.DOTS that tvault ' +
              'cannot store, a value it refuses) is named by its line number on stderr, never its text, and the exit status is 1. ' +
              'Unchanged values are not written again; the summary counts new, changed and unchanged.',
          ),
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
