// `tvault agent token create|list|revoke`: capability tokens for delegates (docs/PROTOCOL.md,
// "Capability tokens"). The token file gets only the SHA-256 of a token made here; the token
// itself is printed once, to a terminal (or with --force) and nowhere else. Every change is an
// atomic rewrite under a lock, is audited (token_id, never the token), and is followed by a
// reload signal to a running agent that uses tokens.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type Actor, TvaultError, Vault, directActor, notFound, resolveVaultDir, usageError } from '@tvault/core';
import {
  type TokenSpec,
  checkTokenFlag,
  checkTokenKeys,
  checkTokenName,
  checkTokenProject,
  describeScope,
  formatTokenLine,
  hashToken,
  openTokenFile,
  parseTokenFile,
  readTokenBytes,
  readTokenFile,
} from '@tvault/agent/src/tokens';
import { type Y, unknownCommand } from './argv';
import { parseDuration } from './agent';
import { TOKEN_ERRORS, isOwnAgent, probeAgent } from './agent-probe';
import { isoTime, printJson, printTable } from '../output';
import type { GlobalArgs } from '../session';

type A<T> = GlobalArgs & T & { tokenFile?: string };
const MAX_TTL = { ms: 3650 * 86_400_000, text: '3650d' };
const LOCK_WAIT_MS = 5000;

export const defaultTokenFile = (vaultDir: string) => join(vaultDir, 'agent-tokens');
const tokenFileOf = (a: A<object>, dir: string) => (a.tokenFile ? resolve(a.tokenFile) : defaultTokenFile(dir));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the file: locked, checked, rewritten atomically ---------------------------------------

/** Creates an empty 0600 token file if there is none. */
function ensureTokenFile(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new TvaultError(`cannot create token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Opens the token file with an exclusive flock on it. A rewrite replaces the file (rename), so
 * a lock won on a file that is no longer at the path is dropped and taken again on the new one.
 */
async function lockTokenFile(path: string): Promise<number> {
  const { flockExclusive } = require('@tvault/native') as typeof import('@tvault/native');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    const fd = openTokenFile(path);
    if (flockExclusive(fd)) {
      const held = fstatSync(fd);
      const now = statSync(path);
      if (held.ino === now.ino && held.dev === now.dev) return fd;
    }
    closeSync(fd);
    if (Date.now() > deadline) throw new TvaultError(`token file ${path} is locked by another tvault process; try again`);
    await sleep(20);
  }
}

/** Replaces the file's content in one rename: a reader sees the old file or the new one, never half. */
function writeAtomic(path: string, data: Buffer): void {
  const target = realpathSync(path); // a symlinked token file stays a symlink
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dirname(target), constants.O_RDONLY);
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* the rename is done; the directory's fsync only hardens it against a crash */
  }
}

/**
 * Runs edit on the file's bytes and tokens under the lock, and writes what it returns. A file
 * that does not parse is not edited: the agent would refuse it, so the error is shown instead.
 */
async function editTokenFile(path: string, edit: (buf: Buffer, tokens: TokenSpec[]) => Buffer): Promise<void> {
  const fd = await lockTokenFile(path);
  try {
    const buf = readTokenBytes(fd, path);
    let next: Buffer | undefined;
    try {
      next = edit(buf, parseTokenFile(buf, path));
      writeAtomic(path, next);
    } finally {
      buf.fill(0); // the file may hold raw tokens (the page's plain form)
      next?.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes without line n (1-based), newline included; a copy of them all for n = 0. */
function dropLine(buf: Buffer, n: number): Buffer {
  if (n < 1) return Buffer.from(buf);
  let start = 0;
  for (let i = 1; i < n; i++) start = buf.indexOf(0x0a, start) + 1;
  const nl = buf.indexOf(0x0a, start);
  const end = nl < 0 ? buf.length : nl + 1;
  return Buffer.concat([buf.subarray(0, start), buf.subarray(end)]);
}

// ---- telling a running agent ---------------------------------------------------------------

const samePath = (a: string, b: string) => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
};

/**
 * Sends SIGHUP to the vault's agent if it runs with tokens from this file (never to an agent
 * without tokens: SIGHUP stops that one). Returns a sentence for the user.
 */
async function reloadAgent(dir: string, file: string, newToken?: string): Promise<string> {
  const p = await probeAgent(dir);
  if (!p) return 'no agent is running for this vault; an agent started with --require-token --token-file on this file will read it';
  if (!isOwnAgent(p)) return `the process on ${dir}/agent.sock did not answer as your agent; reload the agent yourself (kill -HUP its pid)`;
  const a = p.answer!;
  if (a.ok && a.requireToken !== true) return `the running agent (pid ${p.pid}) does not use tokens; restart it with --require-token --token-file ${file}`;
  if (a.ok && typeof a.tokenFile === 'string' && !samePath(a.tokenFile, file)) return `the running agent (pid ${p.pid}) reads another token file (${a.tokenFile}); it was not signalled`;
  if (!a.ok && !TOKEN_ERRORS.has(a.error)) return `the running agent (pid ${p.pid}) answered "${a.message}"; it was not signalled`;
  process.kill(p.pid, 'SIGHUP');
  if (!newToken) {
    await probeAgent(dir); // answered after the signal was handled: a revoked token is refused from here on
    return `the agent (pid ${p.pid}) reloaded its tokens`;
  }
  for (const deadline = Date.now() + 2000; Date.now() < deadline; await sleep(20)) {
    if ((await probeAgent(dir, newToken))?.answer?.ok) return `the agent (pid ${p.pid}) reloaded its tokens and accepts the new one`;
  }
  return `signalled the agent (pid ${p.pid}), but it does not accept the new token; see its log`;
}

// ---- commands ------------------------------------------------------------------------------

const auditActor = (tokenId: string): Actor => ({ ...directActor(), tokenId });

async function create(a: A<{ keys?: string; ttl?: string; name?: string; force?: boolean }>) {
  const dir = resolveVaultDir(a.vault);
  const file = tokenFileOf(a, dir);
  const project = a.project !== undefined ? checkTokenFlag('--project', () => checkTokenProject(a.project!)) : undefined;
  const keys = a.keys !== undefined ? checkTokenFlag('--keys', () => checkTokenKeys(a.keys!)) : undefined;
  const name = a.name !== undefined ? checkTokenFlag('--name', () => checkTokenName(a.name!)) : undefined;
  const ttlMs = a.ttl !== undefined ? parseDuration(a.ttl, '--ttl', MAX_TTL) : 0;
  if (a.ttl !== undefined && !ttlMs) throw usageError('--ttl must be a positive duration, like 1h or 30d; leave it out for a token that does not expire');
  // Decided before anything is written: a token nobody could see must not be stored.
  if (!process.stdout.isTTY && !a.force) {
    throw usageError('stdout is not a terminal, and the token is shown only once: run this on a terminal, or add --force to print it to a pipe or file');
  }
  const vault = Vault.open(dir);
  try {
    if (project !== undefined) vault.project(project); // a typo would make a token that reads nothing
    const token = Buffer.from(`tvt_${randomBytes(32).toString('base64url')}`);
    try {
      const hash = hashToken(token);
      const id = hash.slice(0, 8);
      const now = Date.now();
      const expires = ttlMs ? isoTime(now + ttlMs) : undefined;
      const line = Buffer.from(formatTokenLine({ hash, name, project, keys, expires, created: isoTime(now) }));
      ensureTokenFile(file);
      await editTokenFile(file, (buf, tokens) => {
        if (name !== undefined && tokens.some((t) => t.name === name)) throw new TvaultError(`a token named '${name}' is already in ${file}; revoke it first, or choose another name`);
        const sep = buf.length && buf[buf.length - 1] !== 0x0a ? Buffer.from('\n') : Buffer.alloc(0);
        return Buffer.concat([buf, sep, line]);
      });
      const scope = describeScope({ project, keys });
      try {
        vault.audit({ op: 'token.create', project, keys, detail: [name && `name=${name}`, `scope=${scope}`, `expires=${expires ?? 'never'}`].filter(Boolean).join(' ') }, auditActor(id));
      } catch (err) {
        // No token without its audit row: take the line out again, and never print the token.
        await editTokenFile(file, (buf, tokens) => dropLine(buf, tokens.find((t) => t.hash === hash)?.line ?? 0));
        throw err;
      }
      if (a.json) printJson({ token: token.toString('utf8'), id, name: name ?? null, project: project ?? null, keys: keys ?? null, expires: expires ?? null, file });
      else process.stdout.write(Buffer.concat([token, Buffer.from('\n')]));
      process.stderr.write(`created token ${id}${name ? ` (${name})` : ''}: ${scope}, ${expires ? `expires ${expires}` : 'does not expire'}; its hash is in ${file}, the token is shown only now\n`);
      process.stderr.write(`${await reloadAgent(dir, file, token.toString('utf8'))}\n`);
    } finally {
      token.fill(0);
    }
  } finally {
    vault.close();
  }
}

function list(a: A<object>) {
  const file = tokenFileOf(a, resolveVaultDir(a.vault));
  let tokens: TokenSpec[] = [];
  try {
    tokens = readTokenFile(file, { allowEmpty: true });
  } catch (err) {
    if (!(err instanceof TvaultError && err.exitCode === 4)) throw err;
    process.stderr.write(`no token file at ${file}\n`);
  }
  const now = Date.now();
  const rows = tokens.map((t) => ({
    id: t.id,
    name: t.name ?? null,
    project: t.project ?? null,
    keys: t.keys ?? null,
    expires: t.expiresAt !== undefined ? isoTime(t.expiresAt) : null,
    expired: t.expiresAt !== undefined && now >= t.expiresAt,
    stored: t.stored,
    line: t.line,
  }));
  if (a.json) return printJson(rows);
  if (!rows.length) return void process.stderr.write(`no tokens in ${file}\n`);
  printTable(
    rows.map((r) => [r.id, r.name ?? '-', r.project ?? '(any)', r.keys?.join(',') ?? '(all)', r.expires ?? 'never', r.expired ? 'expired' : 'active', r.stored === 'raw' ? 'raw token in file' : 'hash']),
    ['ID', 'NAME', 'PROJECT', 'KEYS', 'EXPIRES', 'STATE', 'STORED'],
  );
  if (rows.some((r) => r.stored === 'raw')) {
    process.stderr.write(`tvault: warning: ${file} holds raw tokens (STORED "raw token in file"): anyone who reads the file can use them; prefer tokens made with tvault agent token create\n`);
  }
}

/** ID (8 or more hex digits of the hash) or NAME; exactly one token must match. */
function findToken(tokens: TokenSpec[], which: string, file: string): TokenSpec {
  const hex = /^[0-9a-f]{8,64}$/i.test(which) ? which.toLowerCase() : null;
  const hits = tokens.filter((t) => t.name === which || (hex !== null && t.hash.startsWith(hex)));
  if (!hits.length) throw notFound(`no token with id or name '${which.slice(0, 64)}' in ${file}; see tvault agent token list`);
  if (hits.length > 1) throw new TvaultError(`'${which}' matches ${hits.length} tokens (${hits.map((t) => t.id).join(', ')}); give more digits of the id`);
  return hits[0];
}

async function revoke(a: A<{ which: string }>) {
  const dir = resolveVaultDir(a.vault);
  const file = tokenFileOf(a, dir);
  const vault = Vault.open(dir);
  try {
    let gone: TokenSpec | undefined;
    await editTokenFile(file, (buf, tokens) => {
      gone = findToken(tokens, String(a.which), file);
      return dropLine(buf, gone.line);
    });
    const t = gone!;
    vault.audit({ op: 'token.revoke', project: t.project, keys: t.keys ? [...t.keys] : undefined, detail: [t.name && `name=${t.name}`, `scope=${describeScope(t)}`].filter(Boolean).join(' ') }, auditActor(t.id));
    const reload = await reloadAgent(dir, file);
    if (a.json) printJson({ revoked: t.id, name: t.name ?? null, file, agent: reload });
    process.stderr.write(`revoked token ${t.id}${t.name ? ` (${t.name})` : ''} from ${file}; ${reload}\n`);
  } finally {
    vault.close();
  }
}

const fileOption = (c: Y): Y => c.option('token-file', { type: 'string', describe: 'the token file (default: <vault>/agent-tokens)' });

export function tokenCommands(y: Y): Y {
  return y
    .command(
      'create',
      'make a token for a delegate (-p limits it to a project): prints it once, stores only its SHA-256 in the token file, reloads the agent',
      (c: Y): Y =>
        fileOption(c)
          .option('keys', { type: 'string', describe: 'the only keys it may read, comma-separated (default: all)' })
          .option('ttl', { type: 'string', describe: 'expire it after this long, like 1h or 30d (default: never)' })
          .option('name', { type: 'string', describe: 'a name to list and revoke it by' })
          .option('force', { type: 'boolean', describe: 'print the token even when stdout is not a terminal' })
          .example('tvault agent token create -p backend --keys DATABASE_URL --ttl 8h --name ci', 'a token that reads one key of backend for 8 hours')
          .example('TVAULT_AGENT_TOKEN="$(cat ~/.config/tvault/token)" tvault get DATABASE_URL', 'how the delegate uses it: from a 0600 file, never typed on a command line'),
      create,
    )
    .command(
      'list',
      'show the tokens in the token file (id, name, scope, expiry; never a token)',
      (c: Y): Y => fileOption(c).example('tvault agent token list', '').example('tvault agent token list --json', ''),
      list,
    )
    .command(
      'revoke <which>',
      'remove a token (by id or name) from the token file and reload the agent',
      (c: Y): Y =>
        fileOption(c)
          .positional('which', { type: 'string', describe: 'the token id (8+ hex digits) or name' })
          .example('tvault agent token revoke ci', '')
          .example('tvault agent token revoke 3f2a9c1b', ''),
      revoke,
    )
    .command(...unknownCommand(y, 'give a token subcommand: create, list or revoke', 'agent token'));
}
