// Committable secrets: `seal` (a project into a file for git), `open` (the file back out),
// `recipients` (.tvault-recipients, re-sealing the repository's files), `git install|uninstall`
// (the merge driver and the diff textconv) with `merge-driver` and `git textconv` themselves,
// and `ci github` (GitHub Actions). The format is docs/FORMAT.md, "Committable secrets file".
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import {
  COMMIT_FILE_NAME,
  type CommitDoc,
  ExitCode,
  type PlainEntry,
  type Previous,
  TvaultError,
  checkAgeRecipient,
  errnoText,
  mergeEntries,
  openEntries,
  sealCommitFile,
  unlockCommitFile,
  usageError,
} from '@tvault/core';
import { type Y, unknownCommand } from './argv';
import { ENV_FORMATS, checkInjectable, formatEnv } from '@tvault/core/env-format';
import { warn } from '../output';
import { type GlobalArgs, IDENTITY_OPTION, type PlainSecret, Session, drain } from '../session';
import {
  RECIPIENTS_FILE,
  findRecipientsFile,
  identityFor,
  parseAt,
  readCommitText,
  readRecipientsFile,
  readSecretsFrom,
  unlockAt,
  vaultIdentityFor,
  writeCommitFile,
} from '../commit-files';

type A<T> = GlobalArgs & T;

const list = (s?: string) =>
  s
    ? s
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean)
    : undefined;

const toEntries = (secrets: { name: string; value: string }[]): PlainEntry[] => secrets.map((x) => ({ name: x.name, value: Buffer.from(x.value, 'utf8') }));
const zeroAll = (es: PlainEntry[]) => es.forEach((e) => e.value.fill(0));

/** -r values (age1… or an identity of this vault) plus .tvault-recipients near `dir`. */
function wantedRecipients(s: Session, given: string[] | undefined, dir: string): { recipients: string[]; from: string[] } {
  const out: string[] = [];
  const from: string[] = [];
  for (const r of (given ?? []).map(String)) {
    if (/^age1/i.test(r.trim())) {
      try {
        out.push(checkAgeRecipient(r));
      } catch (err) {
        throw usageError(`-r ${r.slice(0, 80)}: ${(err as Error).message}`);
      }
    } else {
      const vault = s.openVault();
      try {
        out.push(vault.resolveRecipient(r));
      } finally {
        vault.close();
      }
    }
  }
  if (out.length) from.push('-r');
  const file = findRecipientsFile(dir);
  if (file) {
    out.push(...readRecipientsFile(file).map((l) => l.recipient));
    from.push(file);
  }
  return { recipients: [...new Set(out)], from };
}

/**
 * seal reads the project as its owner (the agent or the passphrase) even when an identity is
 * given: that identity is for opening the file being updated, not for reading the vault.
 */
class OwnerSession extends Session {
  override get byIdentity(): boolean {
    return false;
  }
}

const NO_RECIPIENTS = `no recipients: give one with -r age1… (or an identity's name), or list them in ${RECIPIENTS_FILE} (tvault recipients add age1…)`;

interface SealArgs extends GlobalArgs {
  only?: string;
  prefix?: string;
  recipient?: string[];
  output?: string;
  update?: string;
}

async function seal(a: SealArgs): Promise<void> {
  if (a.update !== undefined && a.output !== undefined) throw usageError('give -o FILE or --update FILE, not both');
  const path = a.update ?? a.output ?? COMMIT_FILE_NAME;
  const s = new Session(a);
  const wanted = wantedRecipients(s, a.recipient, dirname(path));
  const sel = { only: list(a.only), prefix: a.prefix || undefined };
  const oldDoc = a.update !== undefined ? parseAt(path) : undefined;
  if (!wanted.recipients.length && !oldDoc) throw usageError(NO_RECIPIENTS);
  // The project is read as its owner (agent or passphrase), never by the identity, which is for
  // opening the file being updated. With the file opened by an identity of the vault, one unlock
  // serves both (the passphrase variable is read once per process).
  let identity: Buffer | undefined;
  let read: { project: string; secrets: PlainSecret[] };
  if (oldDoc && !s.byIdentity) {
    const name = vaultIdentityFor(s, oldDoc, path);
    read = await s.withUnlocked((vault, kek) => {
      identity = vault.identityKey(kek, name);
      const project = s.project(vault);
      return { project, secrets: vault.getSecrets(kek, project, sel, 'export').map((x) => ({ name: x.name, value: drain(x.value) })) };
    });
  } else {
    if (oldDoc) identity = await s.identityKey();
    read = await new OwnerSession(a).readSecrets(sel, 'export');
  }
  let previous: Previous | undefined;
  try {
    if (oldDoc && identity) previous = { doc: oldDoc, fileKey: (await unlockCommitFile(oldDoc, identity, path)).fileKey };
  } finally {
    identity?.fill(0);
  }
  try {
    const recipients = wanted.recipients.length ? wanted.recipients : (previous?.doc.recipients.map((r) => r.recipient) ?? []);
    const { project, secrets } = read;
    const entries = toEntries(secrets);
    try {
      const res = await sealCommitFile({ secrets: entries, recipients, previous: previous ? [previous] : undefined });
      writeCommitFile(path, res.text);
      const changed = previous ? diffCount(previous.doc, res.doc) : entries.length;
      process.stderr.write(
        `sealed ${entries.length} key${entries.length === 1 ? '' : 's'} of project ${project} for ${recipients.length} recipient${recipients.length === 1 ? '' : 's'} to ${path}` +
          (previous ? ` (${changed} line${changed === 1 ? '' : 's'} changed${res.rekeyed ? ', new file key' : ''})` : '') +
          '\n',
      );
    } finally {
      zeroAll(entries);
    }
  } finally {
    previous?.fileKey.fill(0);
  }
}

/** How many key lines differ between two versions (added, removed or re-sealed). */
function diffCount(a: CommitDoc, b: CommitDoc): number {
  const key = (d: CommitDoc) => new Set(d.entries.map((e) => `${e.name}=${e.sealed.toString('base64')}`));
  const [x, y] = [key(a), key(b)];
  return [...x].filter((l) => !y.has(l)).length + [...y].filter((l) => !x.has(l)).length;
}

async function openFile(a: A<{ file: string; format: string; only?: string; prefix?: string }>): Promise<void> {
  const format = a.json ? 'json' : a.format;
  if (!ENV_FORMATS.includes(format as never)) throw usageError(`unknown format '${format}'; use one of: ${ENV_FORMATS.join(', ')}`);
  const { secrets } = await readSecretsFrom(new Session(a), a.file, { only: list(a.only), prefix: a.prefix || undefined });
  // formatEnv refuses dangerous names in the formats that become an environment, not in data.
  process.stdout.write(formatEnv(secrets, format, { export: true }));
}

// ---- recipients -------------------------------------------------------------------------

/** Where .tvault-recipients is, or would be made: the nearest one, else the repository's top, else here. */
function recipientsPath(): string {
  return findRecipientsFile() ?? join(gitTop() ?? process.cwd(), RECIPIENTS_FILE);
}

function gitTop(cwd = process.cwd()): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Every committable file under dir: tracked and untracked-but-not-ignored files that start with the header. */
function committableFiles(dir: string): string[] {
  let names: string[];
  try {
    names = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\0')
      .filter(Boolean);
  } catch {
    throw new TvaultError(`${dir} is not in a git repository: tvault recipients re-seals the repository's committable files`);
  }
  const head = Buffer.from('#tvault-file v');
  return [...new Set(names)]
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        const b = readFileSync(p);
        return b.subarray(0, head.length).equals(head);
      } catch {
        return false;
      }
    });
}

/**
 * Re-seals every committable file of the repository for `recipients`: all are opened and sealed
 * in memory first, and only then written (each in one rename), so a file that does not open
 * leaves every file as it was.
 */
async function resealAll(s: Session, top: string, recipients: string[]): Promise<string[]> {
  const out: { path: string; text: string; rekeyed: boolean }[] = [];
  const files = committableFiles(top);
  if (!files.length) return [];
  // One identity for every file (one unlock at most).
  const identity = await identityFor(s, parseAt(files[0]), files[0]);
  try {
    for (const path of files) await resealOne(s, path, recipients, identity, out);
  } finally {
    identity.fill(0);
  }
  for (const f of out) writeCommitFile(f.path, f.text);
  return out.map((f) => `${relative(process.cwd(), f.path) || f.path}${f.rekeyed ? ' (new file key)' : ''}`);
}

/** Opens one file with the given identity and seals it again for recipients (into `out`, not yet written). */
async function resealOne(s: Session, path: string, recipients: string[], identity: Buffer, out: { path: string; text: string; rekeyed: boolean }[]) {
  const { doc, fileKey } = await unlockAt(s, path, undefined, identity);
  const entries = openEntries(doc, fileKey);
  try {
    const res = await sealCommitFile({ secrets: entries, recipients, previous: [{ doc, fileKey }] });
    out.push({ path, text: res.text, rekeyed: res.rekeyed });
  } finally {
    zeroAll(entries);
    fileKey.fill(0);
  }
}

async function recipientsEdit(a: A<{ recipient: string; noReseal?: boolean; reseal?: boolean }>, add: boolean): Promise<void> {
  const path = recipientsPath();
  let r: string;
  try {
    r = checkAgeRecipient(a.recipient);
  } catch (err) {
    throw usageError(`${a.recipient.slice(0, 80)}: ${(err as Error).message}`);
  }
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (!add || (err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TvaultError(`${r} is not in ${path} (it does not exist)`, ExitCode.NOT_FOUND);
      throw new TvaultError(`cannot read ${path}: ${errnoText(err)}`);
    }
  }
  const current = text ? readRecipientsFile(path).map((l) => l.recipient) : [];
  if (add && current.includes(r)) throw new TvaultError(`${r} is already in ${path}`);
  if (!add && !current.includes(r)) throw new TvaultError(`${r} is not in ${path}`, ExitCode.NOT_FOUND);
  const next = add ? [...current, r] : current.filter((x) => x !== r);
  const s = new Session(a);
  const top = dirname(path);
  // Re-seal first: if a file does not open, .tvault-recipients is not changed either.
  const resealed = a.reseal === false || !gitTop(top) ? [] : await resealAll(s, top, next);
  const lines = text.split('\n');
  if (text && !text.endsWith('\n')) lines.push('');
  const newText = add
    ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}${r}\n`
    : lines.filter((l) => l.replace(/#.*/, '').trim().toLowerCase() !== r).join('\n');
  writeFileSync(path, newText);
  process.stderr.write(`${add ? 'added' : 'removed'} ${r} ${add ? 'to' : 'from'} ${path}\n`);
  for (const f of resealed) process.stderr.write(`re-sealed ${f}\n`);
  if (!add)
    warn(`${r} can still read every committed version from before this one (git history): rotate the credentials those files hold, then tvault seal --update`);
}

function recipientsList(a: GlobalArgs): void {
  const path = findRecipientsFile();
  const rows = path ? readRecipientsFile(path) : [];
  if (a.json) process.stdout.write(`${JSON.stringify({ file: path, recipients: rows.map((l) => l.recipient) })}\n`);
  else if (!path) process.stderr.write(`no ${RECIPIENTS_FILE} here or above (tvault recipients add age1…)\n`);
  else for (const l of rows) process.stdout.write(`${l.recipient}\n`);
}

// ---- git ----------------------------------------------------------------------------------

/** The shell word for `s` in a git config command line (git runs it with sh). */
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** How git runs this tvault: the same node and script as now, so PATH does not matter. */
const self = () => `${shq(process.execPath)} ${shq(process.argv[1])}`;

export const GITATTRIBUTES_LINE = '*.tvault.env merge=tvault diff=tvault eol=lf';

function git(args: string[], cwd = process.cwd()): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? '').split('\n')[0] || errnoText(err);
    throw new TvaultError(`git ${args[0]} failed: ${msg}`);
  }
}

function gitInstall(a: A<{ values?: boolean; identity?: string }>): void {
  if (!gitTop()) throw usageError('not in a git repository (run tvault git install inside one)');
  const id = a.identity !== undefined ? ` --identity ${shq(a.identity)}` : '';
  git(['config', 'merge.tvault.name', 'tvault committable secrets (three-way by key, re-authenticated)']);
  git(['config', 'merge.tvault.driver', `${self()} merge-driver${id} %O %A %B %P`]);
  git(['config', 'diff.tvault.textconv', `${self()} git textconv${a.values ? ' --values' : ''}${id}`]);
  process.stderr.write('configured the merge driver and diff textconv "tvault" in this repository (.git/config)\n');
  process.stderr.write('add this line to .gitattributes and commit it:\n');
  process.stdout.write(`${GITATTRIBUTES_LINE}\n`);
}

function gitUninstall(): void {
  if (!gitTop()) throw usageError('not in a git repository');
  for (const section of ['merge.tvault', 'diff.tvault']) {
    try {
      execFileSync('git', ['config', '--remove-section', section], { stdio: 'ignore' });
    } catch {
      /* not configured */
    }
  }
  process.stderr.write('removed the tvault merge driver and diff textconv from .git/config (the .gitattributes line can stay or go)\n');
}

/**
 * What `git diff` shows: key names with a short fingerprint of each sealed value (it changes
 * exactly when the value changed, since unchanged values keep their bytes), and the recipients.
 * With --values and an identity (--identity, TVAULT_IDENTITY_KEY), the decrypted values instead.
 */
async function textconv(a: A<{ file: string; values?: boolean }>): Promise<void> {
  const text = readCommitText(a.file);
  let doc: CommitDoc;
  try {
    doc = parseAt(a.file, text);
  } catch (err) {
    // git shows the raw file rather than no diff at all; the note says why.
    process.stdout.write(`# not a valid tvault file: ${(err as Error).message}\n${text.toString('utf8')}`);
    return;
  }
  const s = new Session(a);
  if (a.values && s.byIdentity) {
    try {
      const { secrets } = await readSecretsFrom(s, a.file);
      process.stdout.write(`# tvault-file v${doc.version}, decrypted\n`);
      for (const r of doc.recipients) process.stdout.write(`# recipient ${r.recipient}\n`);
      // For a reader's eyes, in the dotenv grammar tvault reads back (no value is left out).
      process.stdout.write(formatEnv(secrets, 'dotenv', { reader: 'tvault' }));
      return;
    } catch (err) {
      process.stdout.write(`# cannot decrypt: ${(err as Error).message}\n`);
    }
  }
  process.stdout.write(`# tvault-file v${doc.version} (sealed: values not shown)\n`);
  for (const r of doc.recipients) process.stdout.write(`# recipient ${r.recipient}\n`);
  for (const e of doc.entries) process.stdout.write(`${e.name} = sealed:${createHash('sha256').update(e.sealed).digest('hex').slice(0, 12)}\n`);
}

/**
 * git's merge driver: `merge-driver %O %A %B %P`. Each version is opened (they may have
 * different file keys), merged key by key (mergeEntries), sealed again (keeping our lines and
 * their lines where the value is the same) and written over %A. Exit 0: merged, no conflict.
 * Exit 1: git reports a conflict; %A then holds a valid file with our value for each key changed
 * on both sides (listed on stderr), or, if a version could not be opened, ours untouched.
 */
async function mergeDriver(a: A<{ base: string; ours: string; theirs: string; path?: string }>): Promise<void> {
  const name = a.path ?? a.ours;
  const s = new Session(a);
  const opened: { doc: CommitDoc; fileKey: Buffer; entries: PlainEntry[] }[] = [];
  try {
    const docs = [a.base, a.ours, a.theirs].map((p) => readCommitText(p));
    const identity = await identityFor(s, parseAt(a.ours, docs[1]), name);
    try {
      for (const [i, text] of docs.entries()) {
        if (i === 0 && text.length === 0) {
          opened.push({ doc: { version: 1, mac: Buffer.alloc(32), recipients: [], entries: [] }, fileKey: Buffer.alloc(32), entries: [] });
          continue;
        }
        const doc = parseAt([`${name} (base)`, `${name} (ours)`, `${name} (theirs)`][i], text);
        const { fileKey } = await unlockCommitFile(doc, identity, `${name} (${['base', 'ours', 'theirs'][i]})`);
        opened.push({ doc, fileKey, entries: openEntries(doc, fileKey) });
      }
    } finally {
      identity.fill(0);
    }
    const [o, ours, theirs] = opened.map((x) => ({ entries: x.entries, recipients: x.doc.recipients.map((r) => r.recipient) }));
    const merged = mergeEntries(o, ours, theirs);
    const res = await sealCommitFile({ secrets: merged.secrets, recipients: merged.recipients, previous: [opened[1], opened[2]] });
    writeCommitFile(a.ours, res.text);
    if (merged.conflicts.length) {
      process.stderr.write(
        `tvault: ${name}: conflict: ${merged.conflicts.join(', ')} changed on both sides; the merged file keeps our value${merged.conflicts.length === 1 ? '' : 's'}: ` +
          `see theirs with git show MERGE_HEAD:${name} | tvault open -, set the right one, tvault seal --update ${name}, then git add ${name}\n`,
      );
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`tvault: ${name}: merged (${merged.secrets.length} keys, ${merged.recipients.length} recipients)\n`);
  } catch (err) {
    if (!(err instanceof TvaultError)) throw err;
    process.stderr.write(`tvault: ${name}: cannot merge, left as a conflict (ours kept): ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    for (const x of opened) {
      zeroAll(x.entries);
      x.fileKey.fill(0);
    }
  }
}

// ---- CI -----------------------------------------------------------------------------------

/**
 * GitHub Actions: every value into $GITHUB_ENV (the multiline-safe `NAME<<DELIM` form, env-format's
 * `github`) and, first, `::add-mask::` on stdout for each line of each value, so the runner
 * masks them in every later log line.
 */
async function ciGithub(a: A<{ from: string; only?: string; prefix?: string; allowDangerous?: string[] }>): Promise<void> {
  const target = process.env.GITHUB_ENV;
  if (!target) throw usageError('GITHUB_ENV is not set: run this in a GitHub Actions step (or use tvault open FILE --format github)');
  const { secrets } = await readSecretsFrom(new Session(a), a.from, { only: list(a.only), prefix: a.prefix || undefined });
  checkInjectable(
    secrets.map((x) => x.name),
    (a.allowDangerous ?? []).flatMap((n) => String(n).split(',')),
  );
  const body = formatEnv(secrets, 'github', {});
  let masks = '';
  for (const x of secrets) for (const line of x.value.split(/\r?\n/)) if (line.trim()) masks += `::add-mask::${line}\n`;
  process.stdout.write(masks);
  try {
    appendFileSync(target, body);
  } catch (err) {
    throw new TvaultError(`cannot append to $GITHUB_ENV (${target}): ${errnoText(err)}`);
  }
  process.stderr.write(`tvault: ${secrets.length} secrets from ${a.from} set for the next steps (masked)\n`);
}

const WORKFLOW = (file: string) => `# .github/workflows/deploy.yml: made by tvault ci init github
name: deploy
on: [push]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with: { node-version: 20 }
      - run: npm install -g tvault
      # The identity's private key (tvault identity export ci --force), stored as a repository secret.
      - run: tvault ci github --from ${file}
        env:
          TVAULT_IDENTITY_KEY: \${{ secrets.TVAULT_IDENTITY_KEY }}
      - run: ./deploy.sh   # the secrets are in this step's environment, masked in its log
      # Or, for one command only: tvault run --from ${file} -- ./deploy.sh
`;

export function commitCommands(y: Y): Y {
  return y
    .command(
      'seal',
      "write the project's secrets to a committable file (age recipients; see docs/FORMAT.md)",
      (c: Y): Y =>
        c
          .option('only', { type: 'string', describe: 'comma-separated key names' })
          .option('prefix', { type: 'string', describe: 'only keys starting with this' })
          .option('recipient', {
            alias: 'r',
            type: 'string',
            array: true,
            describe: `an age1… recipient or an identity's name (repeatable); also read from ${RECIPIENTS_FILE}`,
          })
          .option('output', { alias: 'o', type: 'string', describe: `the file to write (default ${COMMIT_FILE_NAME}; replaced in one rename)` })
          .option('update', { type: 'string', describe: 're-seal this file, keeping the lines of unchanged values (needs an identity that opens it)' })
          .option('identity', IDENTITY_OPTION)
          .example(`tvault seal -r age1… -o ${COMMIT_FILE_NAME}`, '')
          .example(`tvault seal --update ${COMMIT_FILE_NAME}`, ''),
      (a: SealArgs) => seal(a),
    )
    .command(
      'open <file>',
      'decrypt a committable file (with --identity, TVAULT_IDENTITY_KEY or an identity in the vault)',
      (c: Y): Y =>
        c
          .positional('file', { type: 'string', describe: "the file ('-': stdin)" })
          .option('format', { type: 'string', default: 'dotenv', describe: `one of ${ENV_FORMATS.join(', ')}` })
          .option('only', { type: 'string', describe: 'comma-separated key names' })
          .option('prefix', { type: 'string', describe: 'only keys starting with this' })
          .option('identity', IDENTITY_OPTION)
          .example(`TVAULT_IDENTITY_KEY=… tvault open ${COMMIT_FILE_NAME} --format json`, '')
          .example(`git show HEAD~3:${COMMIT_FILE_NAME} | tvault open -`, ''),
      // yargs turns the word '-' into ''; the raw argv says whether it was given.
      (a: A<{ file: string; format: string; only?: string; prefix?: string }>) =>
        openFile({ ...a, file: a.file === '' && process.argv.includes('-') ? '-' : a.file }),
    )
    .command('recipients', `edit ${RECIPIENTS_FILE} (and re-seal the repository's committable files)`, (c: Y): Y =>
      c
        .example('tvault recipients add age1… && git add .tvault-recipients secrets.tvault.env', '')
        .command(
          'add <recipient>',
          'add an age1… recipient and re-seal every committable file for it (the file key stays)',
          (d: Y): Y =>
            d
              .positional('recipient', { type: 'string' })
              .option('reseal', { type: 'boolean', default: true })
              .option('identity', IDENTITY_OPTION)
              .example('tvault recipients add age1…', ''),
          (a: A<{ recipient: string; reseal?: boolean }>) => recipientsEdit(a, true),
        )
        .command(
          'remove <recipient>',
          'remove a recipient and re-seal every committable file under a new file key',
          (d: Y): Y =>
            d
              .positional('recipient', { type: 'string' })
              .option('reseal', { type: 'boolean', default: true })
              .option('identity', IDENTITY_OPTION)
              .example('tvault recipients remove age1…', ''),
          (a: A<{ recipient: string; reseal?: boolean }>) => recipientsEdit(a, false),
        )
        .command(
          ['list', 'ls'],
          `print the recipients of the nearest ${RECIPIENTS_FILE}`,
          (d: Y): Y => d.example('tvault recipients list', ''),
          (a: GlobalArgs) => recipientsList(a),
        )
        .command(...unknownCommand(c, 'give a recipients subcommand: add, remove or list', 'recipients')),
    )
    .command('git', 'git integration for committable files: install, uninstall', (c: Y): Y =>
      c
        .example('tvault git install && echo "*.tvault.env merge=tvault diff=tvault eol=lf" >> .gitattributes', '')
        .command(
          'install',
          'configure the merge driver and diff textconv in this repository and print the .gitattributes line',
          (d: Y): Y =>
            d
              .option('values', { type: 'boolean', describe: 'git diff shows decrypted values (when an identity is given or TVAULT_IDENTITY_KEY is set)' })
              .option('identity', { type: 'string', describe: 'an identity file the driver and textconv use (its path is stored, never the key)' })
              .example('tvault git install --identity ~/.config/age/key.txt', ''),
          (a: A<{ values?: boolean; identity?: string }>) => gitInstall(a),
        )
        .command(
          'uninstall',
          'remove the merge driver and textconv from this repository',
          (d: Y): Y => d.example('tvault git uninstall', ''),
          () => gitUninstall(),
        )
        .command(
          'textconv <file>',
          false,
          (d: Y): Y => d.positional('file', { type: 'string' }).option('values', { type: 'boolean' }).option('identity', IDENTITY_OPTION),
          (a: A<{ file: string; values?: boolean }>) => textconv(a),
        )
        .command(...unknownCommand(c, 'give a git subcommand: install or uninstall', 'git')),
    )
    .command(
      'merge-driver <base> <ours> <theirs> [path]',
      false,
      (c: Y): Y => c.option('identity', IDENTITY_OPTION),
      (a: A<{ base: string; ours: string; theirs: string; path?: string }>) => mergeDriver(a),
    )
    .command('ci', 'CI helpers: github, init github', (c: Y): Y =>
      c
        .example('tvault ci init github > .github/workflows/test.yml', '')
        .command(
          'github',
          'GitHub Actions: add a committable file to $GITHUB_ENV and mask every value',
          (d: Y): Y =>
            d
              .option('from', { type: 'string', default: COMMIT_FILE_NAME, describe: 'the committable file' })
              .option('only', { type: 'string' })
              .option('prefix', { type: 'string' })
              .option('allow-dangerous', { type: 'string', array: true })
              .option('identity', IDENTITY_OPTION)
              .example('TVAULT_IDENTITY_KEY=… tvault ci github --from secrets.tvault.env', ''),
          (a: A<{ from: string; only?: string; prefix?: string; allowDangerous?: string[] }>) => ciGithub(a),
        )
        .command(
          'init <provider>',
          'print a ready workflow file (github)',
          (d: Y): Y =>
            d
              .positional('provider', { type: 'string', choices: ['github'] })
              .option('from', { type: 'string', default: COMMIT_FILE_NAME })
              .example('tvault ci init github', ''),
          (a: A<{ from: string }>) => void process.stdout.write(WORKFLOW(a.from)),
        )
        .command(...unknownCommand(c, 'give a ci subcommand: github or init github', 'ci')),
    );
}
