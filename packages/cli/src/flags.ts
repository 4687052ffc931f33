// Flag values that are more than a string: durations, sizes, uids, and the agent's start
// options with its token rule. `agent start` and `agent install` (which writes the same flags
// into a service unit) check them here, the same way, so a unit never holds what start refuses.
import { resolve } from 'node:path';
import ms from 'ms';
import type { AgentOptions } from '@tvault/agent';
import { usageError } from '@tvault/core';

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit, about 24.8 days
const MAX_UID = 4294967294; // (uid_t)-1 means "no uid"

/** "15m", "1h30m"... via `ms`; "0" disables. A bare number other than 0 is refused: ms would read it as milliseconds. */
export function parseDuration(text: string | undefined, flag: string, max = { ms: MAX_TIMER_MS, text: '24d' }): number {
  if (text === undefined || text === '') return 0;
  const t = String(text).trim();
  if (/^0+(\.0*)?$/.test(t)) return 0;
  let n: number | undefined;
  try {
    n = /^\d+(\.\d+)?$/.test(t) ? undefined : ms(t as ms.StringValue);
  } catch {
    n = undefined;
  }
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 1) {
    throw usageError(`invalid ${flag} ${JSON.stringify(t.slice(0, 40))}: give a duration with a unit, like 30s, 15m or 2h (0 disables)`);
  }
  if (n > max.ms) throw usageError(`${flag} ${t} is too long: at most ${max.text}`);
  return Math.round(n);
}

/** --since takes a duration back from now (`1h`, `30m`, `7d`) or an ISO 8601 time. */
export function parseSince(since: string, now = Date.now()): number {
  const back = ms(since as ms.StringValue) as number | undefined;
  if (typeof back === 'number' && Number.isFinite(back) && back >= 0) return now - back;
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw usageError(`--since: '${since}' is neither a duration (1h, 7d) nor a time (2026-11-27T10:00:00Z)`);
  return t;
}

/** "10M", "512K", "4096": a byte count with an optional K, M or G (powers of 1024). */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*([KMG]?)i?B?$/i.exec(String(text).trim());
  const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : NaN;
  if (!(n >= 1024 && n <= 2 ** 40)) throw usageError(`invalid ${flag} ${JSON.stringify(String(text).slice(0, 40))}: give a size from 1K up, like 512K or 10M`);
  return n;
}

export function parseUid(text: string | number, flag: string): number {
  const t = String(text).trim();
  const n = Number(t);
  if (!/^\d+$/.test(t) || n > MAX_UID) throw usageError(`invalid ${flag} ${JSON.stringify(t.slice(0, 20))}: give a numeric uid`);
  return n;
}

// ---- the agent's start options -------------------------------------------------------------

/** The flags of `agent start` as yargs hands them over (install gives the same, as text). */
export interface AgentStartFlags {
  idle?: string;
  maxTtl?: string;
  ioTimeout?: string;
  logMaxSize?: string;
  requireToken?: boolean;
  tokenFile?: string;
  allowUid?: Array<string | number>;
  delegateDir?: string;
  locked?: boolean;
  onIdle?: string;
}

export type TokenOptions = Pick<AgentOptions, 'tokenFile' | 'allowUids' | 'delegateDir'>;

/**
 * The token rule: --require-token needs --token-file, and another uid (--allow-uid, a
 * --delegate-dir) is never let in without tokens. Paths come back absolute.
 */
export function tokenOptions(a: AgentStartFlags): TokenOptions {
  const allowUids = (a.allowUid ?? []).map((u) => parseUid(u, '--allow-uid'));
  if (a.requireToken && !a.tokenFile) throw usageError('--require-token needs --token-file PATH, a 0600 file of tokens (see: tvault agent token create)');
  if (!a.requireToken) {
    if (a.tokenFile !== undefined) throw usageError('--token-file is used with --require-token; add it to require tokens');
    if (allowUids.length) throw usageError('--allow-uid needs --require-token --token-file: another uid is never let in without a token');
    if (a.delegateDir !== undefined) throw usageError('--delegate-dir needs --require-token --token-file: another uid is never let in without a token');
    return {};
  }
  return { tokenFile: resolve(a.tokenFile!), allowUids, delegateDir: a.delegateDir ? resolve(a.delegateDir) : undefined };
}

/** The checked start options, less the vault directory and the passphrase source. */
export function startOptions(a: AgentStartFlags): Omit<AgentOptions, 'dir' | 'readPassphrase'> {
  return {
    idleMs: parseDuration(a.idle, '--idle'),
    maxTtlMs: parseDuration(a.maxTtl, '--max-ttl'),
    ioTimeoutMs: parseDuration(a.ioTimeout, '--io-timeout') || 5000,
    logMaxBytes: a.logMaxSize === undefined ? undefined : parseSize(a.logMaxSize, '--log-max-size'),
    locked: a.locked === true,
    onIdle: parseOnIdle(a.onIdle),
    ...tokenOptions(a),
  };
}

/** --on-idle lock|exit (exit when not given, as a hand-started agent always did). */
export function parseOnIdle(text: string | undefined): 'lock' | 'exit' {
  if (text === undefined || text === 'exit') return 'exit';
  if (text === 'lock') return 'lock';
  throw usageError(`invalid --on-idle ${JSON.stringify(String(text).slice(0, 20))}: give lock (wipe the key, keep running) or exit`);
}

/**
 * The `agent start` arguments for a service unit: checked with the rules of start itself (a
 * typo fails at install, not at login), durations as given, paths absolute, only what was set.
 */
export function startArgs(a: AgentStartFlags): string[] {
  const o = startOptions(a);
  const args: string[] = [];
  if (o.locked) args.push('--locked');
  if (a.onIdle !== undefined) args.push('--on-idle', o.onIdle!);
  if (a.idle !== undefined) args.push('--idle', String(a.idle).trim());
  if (a.maxTtl !== undefined) args.push('--max-ttl', String(a.maxTtl).trim());
  if (o.logMaxBytes !== undefined) args.push('--log-max-size', String(o.logMaxBytes));
  if (o.tokenFile) args.push('--require-token', '--token-file', o.tokenFile);
  for (const uid of o.allowUids ?? []) args.push('--allow-uid', String(uid));
  if (o.delegateDir) args.push('--delegate-dir', o.delegateDir);
  return args;
}
