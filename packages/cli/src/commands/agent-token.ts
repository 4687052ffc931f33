// `tvault agent token create|list|revoke`: capability tokens for delegates (docs/PROTOCOL.md,
// "Capability tokens"). The token file gets only the SHA-256 of a token made here; the token
// itself is printed once, to a terminal (or with --force) and nowhere else. Every change is an
// atomic rewrite under a lock (@tvault/tokens), is audited (token_id, never the token), and is
// followed by a reload signal to a running agent that uses tokens.
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Actor, ExitCode, TvaultError, Vault, directActor, notFound, resolveVaultDir, usageError } from '@tvault/core';
import { TOKEN_ERRORS } from '@tvault/protocol';
import {
  type TokenSpec,
  checkAllowEnv,
  checkTokenFlag,
  checkTokenKeys,
  checkTokenName,
  checkTokenProject,
  defaultTokenFile,
  describeScope,
  dropLine,
  editTokenFile,
  ensureTokenFile,
  formatTokenLine,
  hashToken,
  readTokenFile,
  tokenId,
} from '@tvault/tokens';
import { type Y, unknownCommand } from './argv';
import { isOwnAgent, probeAgent } from './agent-probe';
import { isDangerous } from '@tvault/core/env-format';
import { parseDuration } from '../flags';
import { isoTime, printJson, printTable } from '../output';
import type { GlobalArgs } from '../session';

type A<T> = GlobalArgs & T & { tokenFile?: string };
const MAX_TTL = { ms: 3650 * 86_400_000, text: '3650d' };

const tokenFileOf = (a: A<object>, dir: string) => (a.tokenFile ? resolve(a.tokenFile) : defaultTokenFile(dir));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  if (a.ok && typeof a.tokenFile === 'string' && !samePath(a.tokenFile, file))
    return `the running agent (pid ${p.pid}) reads another token file (${a.tokenFile}); it was not signalled`;
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

/** --allow-cmd 'npm test' (repeatable): argv prefixes, split on blanks (no quoting: one word per blank-separated piece). */
function allowCmdFlag(list: string[] | undefined): string[][] | undefined {
  if (!list?.length) return undefined;
  return list.map((c) => {
    const words = String(c).trim().split(/\s+/).filter(Boolean);
    if (!words.length) throw usageError('--allow-cmd needs a command, like --allow-cmd "npm test"');
    return words;
  });
}

/** --allow-env NAME (repeatable, or comma-separated): names, none of them a loader or shell variable. */
function allowEnvFlag(list: string[] | undefined): string[] | undefined {
  if (!list?.length) return undefined;
  const names = checkTokenFlag('--allow-env', () => checkAllowEnv(list.map(String).join(',')));
  const bad = names.filter(isDangerous);
  if (bad.length) throw usageError(`--allow-env: ${bad.join(', ')} changes how programs load or shells start; the agent never passes it into a child`);
  return names;
}

/** What `agent token create` takes (also `tvault mcp install`, which always makes an exec-only token). */
export type CreateArgs = A<{ keys?: string; ttl?: string; name?: string; force?: boolean; execOnly?: boolean; allowCmd?: string[]; allowEnv?: string[] }>;

/** A token just made: `token` is shown once and zeroed by the caller. */
export interface MintedToken {
  token: Buffer;
  id: string;
  name?: string;
  project?: string;
  keys?: string[];
  expires?: string;
  file: string;
  scope: string;
}

/**
 * Makes a token, stores its hash, audits it and reloads the agent; `show` gets the token while it
 * exists (it is zeroed afterwards) and prints it. Refuses before anything is written when stdout
 * is not a terminal and --force was not given: a token nobody could see must not be stored.
 */
export async function mintToken(a: CreateArgs, show: (t: MintedToken) => void): Promise<void> {
  const dir = resolveVaultDir(a.vault);
  const file = tokenFileOf(a, dir);
  const project = a.project !== undefined ? checkTokenFlag('--project', () => checkTokenProject(a.project!)) : undefined;
  const keys = a.keys !== undefined ? checkTokenFlag('--keys', () => checkTokenKeys(a.keys!)) : undefined;
  const name = a.name !== undefined ? checkTokenFlag('--name', () => checkTokenName(a.name!)) : undefined;
  const ttlMs = a.ttl !== undefined ? parseDuration(a.ttl, '--ttl', MAX_TTL) : 0;
  const execOnly = a.execOnly ? (true as const) : undefined;
  const allowCmd = allowCmdFlag(a.allowCmd);
  const allowEnv = allowEnvFlag(a.allowEnv);
  if (a.ttl !== undefined && !ttlMs) throw usageError('--ttl must be a positive duration, like 1h or 30d; leave it out for a token that does not expire');
  if (!process.stdout.isTTY && !a.force) {
    throw usageError('stdout is not a terminal, and the token is shown only once: run this on a terminal, or add --force to print it to a pipe or file');
  }
  const vault = Vault.open(dir);
  try {
    if (project !== undefined) vault.project(project); // a typo would make a token that reads nothing
    const token = Buffer.from(`tvt_${randomBytes(32).toString('base64url')}`);
    try {
      const hash = hashToken(token);
      const id = tokenId(hash);
      const now = Date.now();
      const expires = ttlMs ? isoTime(now + ttlMs) : undefined;
      const line = Buffer.from(formatTokenLine({ hash, name, project, keys, expires, created: isoTime(now), execOnly, allowCmd, allowEnv }));
      ensureTokenFile(file);
      await editTokenFile(file, (buf, tokens) => {
        if (name !== undefined && tokens.some((t) => t.name === name))
          throw new TvaultError(`a token named '${name}' is already in ${file}; revoke it first, or choose another name`);
        const sep = buf.length && buf[buf.length - 1] !== 0x0a ? Buffer.from('\n') : Buffer.alloc(0);
        return Buffer.concat([buf, sep, line]);
      });
      const scope = describeScope({ project, keys, execOnly, allowCmd, allowEnv });
      try {
        vault.audit(
          { op: 'token.create', project, keys, detail: [name && `name=${name}`, `scope=${scope}`, `expires=${expires ?? 'never'}`].filter(Boolean).join(' ') },
          auditActor(id),
        );
      } catch (err) {
        // No token without its audit row: take the line out again, and never print the token.
        await editTokenFile(file, (buf, tokens) => dropLine(buf, tokens.find((t) => t.hash === hash)?.line ?? 0));
        throw err;
      }
      show({ token, id, name, project, keys, expires, file, scope });
      process.stderr.write(
        `created token ${id}${name ? ` (${name})` : ''}: ${scope}, ${expires ? `expires ${expires}` : 'does not expire'}; its hash is in ${file}, the token is shown only now\n`,
      );
      process.stderr.write(`${await reloadAgent(dir, file, token.toString('utf8'))}\n`);
    } finally {
      token.fill(0);
    }
  } finally {
    vault.close();
  }
}

function create(a: CreateArgs) {
  return mintToken(a, (t) => {
    if (a.json)
      printJson({
        token: t.token.toString('utf8'),
        id: t.id,
        name: t.name ?? null,
        project: t.project ?? null,
        keys: t.keys ?? null,
        expires: t.expires ?? null,
        file: t.file,
      });
    else process.stdout.write(Buffer.concat([t.token, Buffer.from('\n')]));
  });
}

function list(a: A<object>) {
  const file = tokenFileOf(a, resolveVaultDir(a.vault));
  let tokens: TokenSpec[] = [];
  try {
    tokens = readTokenFile(file, { allowEmpty: true });
  } catch (err) {
    if (!(err instanceof TvaultError && err.exitCode === ExitCode.NOT_FOUND)) throw err;
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
    execOnly: t.execOnly === true,
    allowCmd: t.allowCmd ?? null,
    allowEnv: t.allowEnv ?? null,
    stored: t.stored,
    line: t.line,
  }));
  if (a.json) return printJson(rows);
  if (!rows.length) return void process.stderr.write(`no tokens in ${file}\n`);
  // What a token may run is shown once a file holds an exec token (exec=only or cmds=).
  const exec = rows.some((r) => r.execOnly || r.allowCmd);
  printTable(
    rows.map((r) => [
      r.id,
      r.name ?? '-',
      r.project ?? '(any)',
      r.keys?.join(',') ?? '(all)',
      r.expires ?? 'never',
      r.expired ? 'expired' : 'active',
      ...(exec
        ? [
            r.execOnly ? 'exec-only' : 'read+exec',
            r.allowCmd ? r.allowCmd.map((c) => c.join(' ')).join('; ') : '(any command)',
            ['LANG', 'TERM', ...(r.allowEnv ?? [])].join(','),
          ]
        : []),
      r.stored === 'raw' ? 'raw token in file' : 'hash',
    ]),
    ['ID', 'NAME', 'PROJECT', 'KEYS', 'EXPIRES', 'STATE', ...(exec ? ['MAY', 'COMMANDS', 'DELEGATE ENV'] : []), 'STORED'],
  );
  if (rows.some((r) => r.stored === 'raw')) {
    process.stderr.write(
      `tvault: warning: ${file} holds raw tokens (STORED "raw token in file"): anyone who reads the file can use them; prefer tokens made with tvault agent token create\n`,
    );
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
    vault.audit(
      {
        op: 'token.revoke',
        project: t.project,
        keys: t.keys ? [...t.keys] : undefined,
        detail: [t.name && `name=${t.name}`, `scope=${describeScope(t)}`].filter(Boolean).join(' '),
      },
      auditActor(t.id),
    );
    const reload = await reloadAgent(dir, file);
    if (a.json) printJson({ revoked: t.id, name: t.name ?? null, file, agent: reload });
    process.stderr.write(`revoked token ${t.id}${t.name ? ` (${t.name})` : ''} from ${file}; ${reload}\n`);
  } finally {
    vault.close();
  }
}

export const fileOption = (c: Y): Y => c.option('token-file', { type: 'string', describe: 'the token file (default: <vault>/agent-tokens)' });

export function tokenCommands(y: Y): Y {
  return y
    .example('tvault agent token create -p backend --name ci --ttl 30d', 'a token for a delegate: give it to CI as TVAULT_AGENT_TOKEN')
    .example('tvault agent token list', '')
    .command(
      'create',
      'make a token for a delegate (-p limits it to a project): prints it once, stores only its SHA-256 in the token file, reloads the agent',
      (c: Y): Y =>
        fileOption(c)
          .option('keys', { type: 'string', describe: 'the only keys it may read, comma-separated (default: all)' })
          .option('ttl', { type: 'string', describe: 'expire it after this long, like 1h or 30d (default: never)' })
          .option('name', { type: 'string', describe: 'a name to list and revoke it by' })
          .option('exec-only', { type: 'boolean', describe: 'it may run commands with the secrets (tvault run --broker) but never read them' })
          .option('allow-cmd', {
            type: 'string',
            array: true,
            describe: "the only command (argv prefix) an exec may run, like 'npm test' (repeatable; default: any)",
          })
          .option('allow-env', {
            type: 'string',
            array: true,
            describe: "a variable of a delegate's own environment its brokered child may get, beyond LANG and TERM (repeatable; PATH and HOME are the agent's)",
          })
          .option('force', { type: 'boolean', describe: 'print the token even when stdout is not a terminal' })
          .example('tvault agent token create -p backend --keys DATABASE_URL --ttl 8h --name ci', 'a token that reads one key of backend for 8 hours')
          .example(
            'TVAULT_AGENT_TOKEN="$(cat ~/.config/tvault/token)" tvault get DATABASE_URL',
            'how the delegate uses it: from a 0600 file, never typed on a command line',
          ),
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
