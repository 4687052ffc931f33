// `tvault agent start|status|stop|install|uninstall`. Only `start` loads the agent bundle
// (dist/agent.cjs, with pino and the native addon); the others speak the protocol through
// agent-client like every read does.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ms from 'ms';
import type { AgentOptions } from '@tvault/agent';
import { ExitCode, type ExitCodeValue, TvaultError, resolveVaultDir, usageError, vaultFiles } from '@tvault/core';
import { type Y, unknownCommand } from './argv';
import { type AgentResponse, agentRequest, isSocket } from '../agent-client';
import { printJson } from '../output';
import { getPassphrase } from '../passphrase';
import type { GlobalArgs } from '../session';
import { type UnitTarget, defaultPassphraseFile, nextSteps, platformTarget, renderUnit, stopHint, unitPath } from './agent-units';
import { TOKEN_ERRORS, isOwnAgent, probeAgent } from './agent-probe';

type A<T> = GlobalArgs & T;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit, about 24.8 days

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

/** "10M", "512K", "4096": a byte count with an optional K, M or G (powers of 1024). */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*([KMG]?)i?B?$/i.exec(String(text).trim());
  const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase()) : NaN;
  if (!(n >= 1024 && n <= 2 ** 40)) throw usageError(`invalid ${flag} ${JSON.stringify(String(text).slice(0, 40))}: give a size from 1K up, like 512K or 10M`);
  return n;
}

function requireUnix(what: string): void {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new TvaultError(`${what} runs on Linux and macOS only (this is ${process.platform}); use direct unlocks here`);
  }
}

// ---- start ---------------------------------------------------------------------------------

/** The agent bundle has its own copy of core: turn its errors back into this one's. */
function asCliError(err: unknown): unknown {
  const e = err as { name?: string; message?: string; exitCode?: number };
  if (e?.name === 'TvaultError' && !(err instanceof TvaultError)) return new TvaultError(String(e.message), (e.exitCode ?? ExitCode.ERROR) as ExitCodeValue);
  return err;
}

function loadAgent(): typeof import('@tvault/agent') {
  try {
    return require(join(__dirname, 'agent.cjs'));
  } catch (err) {
    const code = String((err as NodeJS.ErrnoException)?.code ?? '');
    if (code.startsWith('ERR_TVAULT_NATIVE')) {
      // Fail closed: without the addon there is no peer-credential check, so no agent at all.
      throw new TvaultError(`the agent cannot start without its native addon (it checks every client's uid): ${(err as Error).message.split('\n')[0]}`);
    }
    throw err;
  }
}

/** Under systemd, LoadCredential= puts the passphrase in $CREDENTIALS_DIRECTORY. */
function useSystemdCredential(): void {
  const dir = process.env.CREDENTIALS_DIRECTORY;
  if (process.env.TVAULT_PASSPHRASE !== undefined || process.env.TVAULT_PASSPHRASE_FILE || !dir) return;
  const file = join(dir, 'tvault-passphrase');
  if (existsSync(file)) process.env.TVAULT_PASSPHRASE_FILE = file;
}

interface TokenFlags {
  requireToken?: boolean;
  tokenFile?: string;
  allowUid?: Array<string | number>;
  delegateDir?: string;
}

function parseUid(text: string | number): number {
  const t = String(text).trim();
  const n = Number(t);
  if (!/^\d+$/.test(t) || n > 4294967294) throw usageError(`invalid --allow-uid ${JSON.stringify(t.slice(0, 20))}: give a numeric uid`);
  return n;
}

/** --require-token needs --token-file, and another uid is never let in without tokens. */
function tokenOptions(a: TokenFlags): Pick<AgentOptions, 'tokenFile' | 'allowUids' | 'delegateDir'> {
  const allowUids = (a.allowUid ?? []).map(parseUid);
  if (a.requireToken && !a.tokenFile) throw usageError('--require-token needs --token-file PATH, a 0600 file of tokens (see: tvault agent token create)');
  if (!a.requireToken) {
    if (a.tokenFile !== undefined) throw usageError('--token-file is used with --require-token; add it to require tokens');
    if (allowUids.length) throw usageError('--allow-uid needs --require-token --token-file: another uid is never let in without a token');
    if (a.delegateDir !== undefined) throw usageError('--delegate-dir needs --require-token --token-file: another uid is never let in without a token');
    return {};
  }
  return { tokenFile: resolve(a.tokenFile!), allowUids, delegateDir: a.delegateDir ? resolve(a.delegateDir) : undefined };
}

async function start(a: A<{ idle: string; maxTtl?: string; ioTimeout: string; logMaxSize: string } & TokenFlags>) {
  requireUnix('the agent');
  const opts: AgentOptions = {
    dir: resolveVaultDir(a.vault),
    idleMs: parseDuration(a.idle, '--idle'),
    maxTtlMs: parseDuration(a.maxTtl, '--max-ttl'),
    ioTimeoutMs: parseDuration(a.ioTimeout, '--io-timeout') || 5000,
    logMaxBytes: parseSize(a.logMaxSize, '--log-max-size'),
    readPassphrase: () => (useSystemdCredential(), getPassphrase('Vault passphrase (agent): ')),
    ...tokenOptions(a),
  };
  const agent = loadAgent();
  try {
    await agent.startAgent(opts);
  } catch (err) {
    throw asCliError(err);
  }
}

// ---- status and stop -----------------------------------------------------------------------

const fmt = (n: unknown) => (typeof n === 'number' ? (n >= 1000 ? ms(Math.round(n / 1000) * 1000) : `${n}ms`) : '-');

async function status(a: GlobalArgs) {
  const dir = resolveVaultDir(a.vault);
  const files = vaultFiles(dir);
  let res: AgentResponse | null;
  try {
    res = agentRequest(dir, { op: 'status', project: null }, 2000);
  } catch (err) {
    throw new TvaultError((err as Error).message, 2); // status: 2 means "could not tell"
  }
  if (!res) {
    const staleSocket = isSocket(files.sock);
    if (a.json) printJson({ running: false, vault: dir, socket: files.sock, staleSocket });
    else {
      process.stdout.write(`agent     not running\nvault     ${dir}\n`);
      if (staleSocket) process.stdout.write(`socket    ${files.sock} is stale (left by an agent that was killed); the next agent start replaces it\n`);
    }
    process.exitCode = 1;
    return;
  }
  if (!res.ok) {
    const hint = TOKEN_ERRORS.has(res.error) ? ' (it requires a token: set TVAULT_AGENT_TOKEN)' : '';
    if (a.json) printJson({ running: true, vault: dir, socket: files.sock, error: res.error, message: res.message });
    else process.stderr.write(`tvault: the agent answered: ${res.message}${hint}\n`);
    process.exitCode = 2;
    return;
  }
  const { v: _v, ok: _ok, ...fields } = res;
  const healthy = fields.unlocked === true && fields.keyRotated !== true;
  if (a.json) printJson({ running: true, ...fields, staleSocket: false });
  else {
    const lines = [
      ['agent', `running (pid ${fields.pid}, ${healthy ? 'unlocked' : fields.keyRotated ? 'key rotated since it started: restart it' : 'locked'})`],
      ['socket', files.sock],
      ['vault', dir],
      ['project', String(fields.project)],
      ['uptime', fmt(fields.uptimeMs)],
      ['idle', fields.idleMs ? `${fmt(fields.idleMs)} (auto-lock in ${fmt(fields.idleRemainingMs)})` : 'off'],
      ['max-ttl', fields.maxTtlMs ? `${fmt(fields.maxTtlMs)} (expires in ${fmt(fields.maxTtlRemainingMs)})` : 'off'],
      ['served', String(fields.served)],
      ['version', String(fields.version)],
      ...(fields.requireToken ? [['tokens', `required${fields.tokenFile ? ` (${fields.tokens} from ${fields.tokenFile})` : ''}`], ['token', tokenLine(fields.token)]] : []),
    ];
    for (const [k, v] of lines) process.stdout.write(`${k.padEnd(9)} ${v}\n`);
  }
  process.exitCode = healthy ? 0 : 2;
}

/** "3f2a9c1b (ci): project backend, keys A,B; expires in 2h" for status. */
function tokenLine(t: unknown): string {
  const tok = (t ?? {}) as { id?: string; name?: string | null; project?: string | null; keys?: string[] | null; expiresAt?: string | null };
  const scope = !tok.project && !tok.keys ? 'unrestricted' : [tok.project && `project ${tok.project}`, tok.keys && `keys ${tok.keys.join(',')}`].filter(Boolean).join(', ');
  const left = tok.expiresAt ? Date.parse(tok.expiresAt) - Date.now() : null;
  return `${tok.id}${tok.name ? ` (${tok.name})` : ''}: ${scope}; ${left === null ? 'does not expire' : `expires in ${fmt(Math.max(0, left))}`}`;
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has exited
  } catch {
    return true;
  }
}

async function waitGone(pid: number, sock: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid) && !isSocket(sock)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * An agent that requires tokens stops over its socket only for an unrestricted token. Its own
 * user may signal it anyway, so `stop` does that for them: SIGTERM (which wipes the key like
 * `stop`) to the pid the kernel names for the socket, if that process runs as this user.
 */
async function stopBySignal(dir: string, refusal: string): Promise<number> {
  const p = await probeAgent(dir);
  if (!isOwnAgent(p)) throw new TvaultError(`the agent refused to stop: ${refusal}`);
  process.kill(p.pid, 'SIGTERM');
  process.stderr.write(`the agent wants an unrestricted token to stop over its socket (${refusal}); it runs as you, so it was sent SIGTERM\n`);
  return p.pid;
}

async function stop(a: GlobalArgs) {
  const dir = resolveVaultDir(a.vault);
  const res: AgentResponse | null = agentRequest(dir, { op: 'stop' }, 5000);
  if (!res) throw new TvaultError(`no agent is running for ${dir}`);
  if (!res.ok && !TOKEN_ERRORS.has(res.error)) throw new TvaultError(`the agent refused to stop: ${res.message}`);
  const pid = res.ok ? Number(res.pid) : await stopBySignal(dir, res.message);
  if (!(await waitGone(pid, vaultFiles(dir).sock, 10_000))) throw new TvaultError(`the agent (pid ${pid}) was asked to stop but is still running after 10 s`);
  if (a.json) printJson({ stopped: true, pid });
  else process.stderr.write(`stopped the agent (pid ${pid}); its key is wiped\n`);
}

// ---- install and uninstall -----------------------------------------------------------------

function target(a: { target?: string }): UnitTarget {
  const t = (a.target as UnitTarget | undefined) ?? platformTarget();
  if (!t) throw new TvaultError(`no service manager support on ${process.platform}; give --target systemd or --target launchd to print a unit`);
  return t;
}

function passphraseFileWarning(path: string): string | null {
  try {
    const st = statSync(path);
    if (st.mode & 0o077) return `${path} has mode ${(st.mode & 0o777).toString(8)}; the agent refuses it until: chmod 600 ${path}`;
    return null;
  } catch {
    return `create the passphrase file first: install -d -m 700 ${join(path, '..')} && install -m 600 /dev/null ${path}, then put the passphrase in it`;
  }
}

interface InstallArgs {
  target?: string;
  dryRun?: boolean;
  idle?: string;
  maxTtl?: string;
  logMaxSize?: string;
  passphraseFile?: string;
  tokenFile?: string;
  allowUid?: Array<number | string>;
  delegateDir?: string;
}

async function install(a: A<InstallArgs>) {
  const t = target(a);
  const dir = resolveVaultDir(a.vault);
  const startArgs: string[] = [];
  if (a.idle !== undefined) startArgs.push('--idle', formatFlag(a.idle, '--idle'));
  if (a.maxTtl !== undefined) startArgs.push('--max-ttl', formatFlag(a.maxTtl, '--max-ttl'));
  if (a.logMaxSize !== undefined) startArgs.push('--log-max-size', String(parseSize(a.logMaxSize, '--log-max-size')));
  startArgs.push(...tokenStartArgs(a));
  const passphraseFile = a.passphraseFile ? resolve(a.passphraseFile) : defaultPassphraseFile();
  const text = renderUnit(t, { vaultDir: dir === resolveVaultDir(undefined, {}) ? undefined : dir, startArgs, passphraseFile });
  const path = unitPath(t);
  if (a.dryRun) {
    process.stdout.write(text);
    process.stderr.write(`(dry run: would write ${path})\n`);
    return;
  }
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, { mode: 0o644 });
  if (a.json) printJson({ installed: path, target: t });
  else process.stderr.write(`wrote ${path}\nnext: ${nextSteps(t, path)}\n`);
  const warning = passphraseFileWarning(passphraseFile);
  if (warning) process.stderr.write(`tvault: warning: ${warning}\n`);
}

/**
 * The token flags for the unit's `agent start`, with absolute paths (a service has no working
 * directory of yours). The same rules as `agent start`: no other uid without tokens.
 */
function tokenStartArgs(a: InstallArgs): string[] {
  const others = (a.allowUid?.length ?? 0) > 0 || a.delegateDir !== undefined;
  if (!a.tokenFile) {
    if (others) throw usageError('--allow-uid and --delegate-dir need --token-file: another uid is never let in without a token');
    return [];
  }
  const args = ['--require-token', '--token-file', resolve(a.tokenFile)];
  for (const uid of a.allowUid ?? []) {
    if (!/^\d+$/.test(String(uid))) throw usageError(`--allow-uid: '${uid}' is not a numeric uid`);
    args.push('--allow-uid', String(uid));
  }
  if (a.delegateDir !== undefined) args.push('--delegate-dir', resolve(a.delegateDir));
  return args;
}

/** Checks a duration now, so that a typo fails here and not at login. */
function formatFlag(text: string, flag: string): string {
  parseDuration(text, flag);
  return String(text).trim();
}

async function uninstall(a: A<{ target?: string; dryRun?: boolean }>) {
  const t = target(a);
  const path = unitPath(t);
  if (!existsSync(path)) {
    process.stderr.write(`nothing to remove: ${path} does not exist\n`);
    return;
  }
  if (a.dryRun) {
    process.stdout.write(`would remove ${path}\n`);
    return;
  }
  rmSync(path);
  if (a.json) printJson({ removed: path, target: t });
  else process.stderr.write(`removed ${path}\nif it was running, stop it with: ${stopHint(t, path)}\n`);
}

// ---- commands ------------------------------------------------------------------------------

const targetOption = (c: Y): Y =>
  c
    .option('target', { choices: ['systemd', 'launchd'], describe: "service manager (default: this platform's)" })
    .option('dry-run', { type: 'boolean', describe: 'print instead of writing' });

export function agentCommands(y: Y): Y {
  return y
    .command(
      'start',
      'unlock once and serve reads over a private socket (foreground; Ctrl-C stops it)',
      (c: Y): Y =>
        c
          .option('idle', { type: 'string', default: '15m', describe: 'lock and exit after this long without a read (0: never)' })
          .option('max-ttl', { type: 'string', describe: 'lock and exit this long after unlocking, however busy (default: no limit)' })
          .option('io-timeout', { type: 'string', default: '5s', hidden: true, describe: 'per-connection deadline' })
          .option('log-max-size', { type: 'string', default: '10M', describe: 'rotate agent.log to agent.log.1 past this size' })
          .option('require-token', { type: 'boolean', describe: 'refuse every request without a valid capability token (needs --token-file)' })
          .option('token-file', { type: 'string', describe: 'the 0600 token file for --require-token (SIGHUP reloads it)' })
          .option('allow-uid', { type: 'string', array: true, describe: 'also let this uid connect (repeatable; needs --require-token)' })
          .option('delegate-dir', { type: 'string', describe: 'also listen on DIR/agent.sock for delegates of other uids (needs --require-token)' })
          .example('tvault agent start', 'prompts for the passphrase, then serves until 15 minutes without a read')
          .example('tvault agent start --idle 1h --max-ttl 8h &', 'in the background, for at most 8 hours')
          .example('TVAULT_PASSPHRASE_FILE=~/.config/tvault/passphrase tvault agent start', 'without a prompt')
          .example('tvault agent start --require-token --token-file ~/.tvault/agent-tokens --allow-uid 1001 --delegate-dir /srv/tvault', 'serve a delegate running as uid 1001'),
      start,
    )
    .command('token', 'capability tokens for delegates: create, list, revoke', (c: Y): Y => require('./agent-token').tokenCommands(c))
    .command(
      'status',
      'is an agent running? (exit 0 running and unlocked, 1 not running, 2 error)',
      (c: Y): Y => c.example('tvault agent status', '').example('tvault agent status --json', ''),
      status,
    )
    .command('stop', 'stop the agent (it wipes its key) and wait until it is gone', (c: Y): Y => c.example('tvault agent stop', ''), stop)
    .command(
      'install',
      'install a user service that starts the agent at login (systemd on Linux, launchd on macOS)',
      (c: Y): Y =>
        targetOption(c)
          .option('idle', { type: 'string', describe: 'pass --idle to the agent' })
          .option('max-ttl', { type: 'string', describe: 'pass --max-ttl to the agent' })
          .option('log-max-size', { type: 'string', describe: 'pass --log-max-size to the agent' })
          .option('passphrase-file', { type: 'string', describe: 'the 0600 file holding the passphrase (default: ~/.config/tvault/passphrase)' })
          .option('token-file', { type: 'string', describe: 'start it with --require-token --token-file PATH' })
          .option('allow-uid', { type: 'string', array: true, describe: 'pass --allow-uid UID (repeatable; needs --token-file)' })
          .option('delegate-dir', { type: 'string', describe: 'pass --delegate-dir DIR (needs --token-file)' })
          .example('tvault agent install --dry-run', 'print the unit')
          .example('tvault agent install --token-file ~/.tvault/agent-tokens --allow-uid 1001 --delegate-dir /srv/tvault', 'a unit that serves a delegate')
          .example('tvault agent install --idle 1h && systemctl --user daemon-reload && systemctl --user enable --now tvault-agent', ''),
      install,
    )
    .command(
      'uninstall',
      'remove the user service written by install',
      (c: Y): Y => targetOption(c).example('tvault agent uninstall', 'after: systemctl --user disable --now tvault-agent'),
      uninstall,
    )
    .command(...unknownCommand(y, 'give an agent subcommand: start, status, stop, token, install or uninstall', 'agent'));
}
