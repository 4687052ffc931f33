// `tvault agent start|status|stop` (install and uninstall: agent-service.ts; token: agent-token.ts;
// `tvault unlock` and `tvault lock`: unlock.ts).
// Only `start` loads the agent bundle (dist/agent.cjs, with pino and the native addon); the
// others speak the protocol through agent-client like every read does.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, TvaultError, errnoCode, formatDuration, lockedError, resolveVaultDir, vaultFiles } from '@tvault/core';
import { type Answer, type TokenInfo, TOKEN_ERRORS } from '@tvault/protocol';
import { describeScope } from '@tvault/tokens';
import { type Y, unknownCommand } from './argv';
import { agentRequest, isSocket } from '../agent-client';
import { type AgentStartFlags, startOptions } from '../flags';
import { printJson } from '../output';
import { inSession } from '../handoff/guard';
import { getPassphrase } from '../passphrase';
import { isDangerous } from '@tvault/core/env-format';
import type { GlobalArgs } from '../session';
import { isOwnAgent, probeAgent } from './agent-probe';
import { serviceCommands } from './agent-service';

type A<T> = GlobalArgs & T;

function requireUnix(what: string): void {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new TvaultError(`${what} runs on Linux and macOS only (this is ${process.platform}); use direct unlocks here`);
  }
}

// ---- start ---------------------------------------------------------------------------------

function loadAgent(): typeof import('@tvault/agent') {
  try {
    return require(join(__dirname, 'agent.cjs'));
  } catch (err) {
    if (String(errnoCode(err) ?? '').startsWith('ERR_TVAULT_NATIVE')) {
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

/**
 * Whether this process is in a background process group of its controlling terminal (Linux:
 * /proc/self/stat, where pgrp is field 5, tty_nr field 7 and tpgid field 8). Such a process
 * that opens the terminal to prompt is stopped by the shell (`Stopped (tty output)`), silently.
 * Elsewhere: false (not detected).
 */
export function inBackgroundOfTty(stat = readProcStat()): boolean {
  if (!stat) return false;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) ": state ppid pgrp session tty_nr tpgid
  const [pgrp, ttyNr, tpgid] = [Number(f[2]), Number(f[4]), Number(f[5])];
  return ttyNr !== 0 && tpgid > 0 && tpgid !== pgrp;
}

function readProcStat(): string | null {
  if (process.platform !== 'linux') return null;
  try {
    return readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return null;
  }
}

const hasPassphraseSource = () => process.env.TVAULT_PASSPHRASE !== undefined || !!process.env.TVAULT_PASSPHRASE_FILE;

/**
 * Errors of the agent bundle are TvaultErrors of its own copy of core: they pass as this one's
 * through their brand (core/src/errors.ts), and main.ts reports them like any other.
 */
async function start(a: A<AgentStartFlags>) {
  requireUnix('the agent');
  // Inside a handoff session no agent may cache a key (handoff/guard.ts); outside, the agent
  // itself refuses a vault that a handoff holds (its lease).
  if (inSession()) throw lockedError('inside a tvault handoff session no unlock agent may be started');
  const options = startOptions(a);
  if (options.locked) {
    // Never read: not left in the agent's environment either.
    delete process.env.TVAULT_PASSPHRASE;
    delete process.env.TVAULT_PASSPHRASE_FILE;
  } else {
    useSystemdCredential();
    if (!hasPassphraseSource() && inBackgroundOfTty()) {
      throw new TvaultError(
        'the agent is in the background (&) with no passphrase source, so it cannot prompt: start it with --locked, then run tvault unlock (or set TVAULT_PASSPHRASE_FILE)',
        ExitCode.USAGE,
      );
    }
  }
  const opts = {
    dir: resolveVaultDir(a.vault),
    readPassphrase: () => getPassphrase('Vault passphrase (agent): '),
    ...options,
    // Brokered exec filters the caller's environment with the same list as `run` (exec.ts).
    isDangerousName: isDangerous,
  };
  await loadAgent().startAgent(opts);
}

// ---- status and stop -----------------------------------------------------------------------

/** `agent status` exits 0 running and unlocked, 1 not running, 3 running but locked (tvault unlock), 2 when it cannot tell (or the agent is unwell). */
const STATUS_UNHEALTHY = ExitCode.USAGE;
const fmt = (n: unknown) => (typeof n === 'number' ? formatDuration(n, { approximate: true }) : '-');

async function status(a: GlobalArgs) {
  const dir = resolveVaultDir(a.vault);
  const files = vaultFiles(dir);
  let res: Answer | null;
  try {
    res = agentRequest(dir, { op: 'status', project: null }, 2000);
  } catch (err) {
    throw new TvaultError((err as Error).message, STATUS_UNHEALTHY);
  }
  if (!res) {
    const staleSocket = isSocket(files.sock);
    if (a.json) printJson({ running: false, vault: dir, socket: files.sock, staleSocket });
    else {
      process.stdout.write(`agent     not running\nvault     ${dir}\n`);
      if (staleSocket) process.stdout.write(`socket    ${files.sock} is stale (left by an agent that was killed); the next agent start replaces it\n`);
    }
    process.exitCode = ExitCode.ERROR;
    return;
  }
  if (!res.ok) {
    const hint = TOKEN_ERRORS.has(res.error) ? ' (it requires a token: set TVAULT_AGENT_TOKEN)' : '';
    if (a.json) printJson({ running: true, vault: dir, socket: files.sock, error: res.error, message: res.message });
    else process.stderr.write(`tvault: the agent answered: ${res.message}${hint}\n`);
    process.exitCode = STATUS_UNHEALTHY;
    return;
  }
  const { v: _v, ok: _ok, ...fields } = res;
  const healthy = fields.unlocked === true && fields.keyRotated !== true;
  // An agent from before lock in place has no `locked` field: not unlocked meant it was stopping.
  const locked = fields.locked === true;
  const state = healthy
    ? 'unlocked'
    : fields.keyRotated
      ? 'key rotated since it started: restart it or tvault unlock'
      : locked
        ? 'locked: tvault unlock'
        : 'locked';
  if (a.json) printJson({ running: true, ...fields, locked, staleSocket: false });
  else {
    const lines = [
      ['agent', `running (pid ${fields.pid}, ${state})`],
      ['socket', files.sock],
      ['vault', dir],
      ['project', String(fields.project)],
      ['uptime', fmt(fields.uptimeMs)],
      ['idle', fields.idleMs ? `${fmt(fields.idleMs)} (auto-lock in ${fmt(fields.idleRemainingMs)})` : 'off'],
      ['max-ttl', fields.maxTtlMs ? `${fmt(fields.maxTtlMs)} (expires in ${fmt(fields.maxTtlRemainingMs)})` : 'off'],
      ['on-idle', `${fields.onIdle ?? 'exit'} (what the idle and max-ttl deadlines do)`],
      ['served', String(fields.served)],
      ['version', String(fields.version)],
      ...(fields.requireToken
        ? [
            ['tokens', `required${fields.tokenFile ? ` (${fields.tokens} from ${fields.tokenFile})` : ''}`],
            ['token', tokenLine(fields.token as TokenInfo | undefined)],
          ]
        : []),
    ];
    for (const [k, v] of lines) process.stdout.write(`${k.padEnd(9)} ${v}\n`);
  }
  process.exitCode = healthy ? ExitCode.OK : locked ? ExitCode.LOCKED : STATUS_UNHEALTHY;
}

/** "3f2a9c1b (ci): project backend, keys A,B; expires in 2h" for status. */
function tokenLine(t: TokenInfo | undefined): string {
  const tok: Partial<TokenInfo> = t ?? {};
  const scope = describeScope(tok);
  const left = tok.expiresAt ? Date.parse(tok.expiresAt) - Date.now() : null;
  return `${tok.id}${tok.name ? ` (${tok.name})` : ''}: ${scope}; ${left === null ? 'does not expire' : `expires in ${fmt(Math.max(0, left))}`}`;
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoCode(err) === 'EPERM';
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

/** Stops the agent of dir and waits until it is gone (also for `handoff --stop-agent`); its pid. */
export async function stopRunningAgent(dir: string): Promise<number> {
  const res: Answer | null = agentRequest(dir, { op: 'stop' }, 5000);
  if (!res) throw new TvaultError(`no agent is running for ${dir}`);
  if (!res.ok && !TOKEN_ERRORS.has(res.error)) throw new TvaultError(`the agent refused to stop: ${res.message}`);
  const pid = res.ok ? Number(res.pid) : await stopBySignal(dir, res.message);
  if (!(await waitGone(pid, vaultFiles(dir).sock, 10_000))) throw new TvaultError(`the agent (pid ${pid}) was asked to stop but is still running after 10 s`);
  return pid;
}

async function stop(a: GlobalArgs) {
  const pid = await stopRunningAgent(resolveVaultDir(a.vault));
  if (a.json) printJson({ stopped: true, pid });
  else process.stderr.write(`stopped the agent (pid ${pid}); its key is wiped\n`);
}

// ---- commands ------------------------------------------------------------------------------

export function agentCommands(y: Y): Y {
  const own = y
    .command(
      'start',
      'serve reads over a private socket, unlocked at start or (--locked) by tvault unlock (foreground; Ctrl-C stops it)',
      (c: Y): Y =>
        c
          .option('locked', {
            type: 'boolean',
            describe: 'start without the passphrase and serve nothing until tvault unlock (no prompt: runs in the background)',
          })
          .option('on-idle', {
            choices: ['lock', 'exit'],
            describe: 'at the idle or max-ttl deadline: wipe the key and keep running (lock), or exit (default)',
          })
          .option('idle', { type: 'string', default: '15m', describe: 'lock after this long without a read (0: never); see --on-idle' })
          .option('max-ttl', { type: 'string', describe: 'lock this long after unlocking, however busy (default: no limit); see --on-idle' })
          .option('io-timeout', { type: 'string', default: '5s', hidden: true, describe: 'per-connection deadline' })
          .option('log-max-size', { type: 'string', default: '10M', describe: 'rotate agent.log to agent.log.1 past this size' })
          .option('require-token', { type: 'boolean', describe: 'refuse every request without a valid capability token (needs --token-file)' })
          .option('token-file', { type: 'string', describe: 'the 0600 token file for --require-token (SIGHUP reloads it)' })
          .option('allow-uid', { type: 'string', array: true, describe: 'also let this uid connect (repeatable; needs --require-token)' })
          .option('delegate-dir', { type: 'string', describe: 'also listen on DIR/agent.sock for delegates of other uids (needs --require-token)' })
          .example('tvault agent start', 'prompts for the passphrase, then serves until 15 minutes without a read')
          .example(
            'tvault agent start --locked --on-idle lock &',
            'in the background without a prompt; then tvault unlock (or the first read asks), tvault lock',
          )
          .example('tvault agent start --locked --idle 1h --max-ttl 8h &', 'in the background; exits after an hour without a read, or 8 hours')
          .example('TVAULT_PASSPHRASE_FILE=~/.config/tvault/passphrase tvault agent start', 'without a prompt')
          .example(
            'tvault agent start --require-token --token-file ~/.tvault/agent-tokens --allow-uid 1001 --delegate-dir /srv/tvault',
            'serve a delegate running as uid 1001',
          ),
      start,
    )
    .command('token', 'capability tokens for delegates: create, list, revoke', (c: Y): Y => require('./agent-token').tokenCommands(c))
    .command(
      'status',
      'is an agent running? (exit 0 running and unlocked, 1 not running, 3 running but locked, 2 error)',
      (c: Y): Y => c.example('tvault agent status', '').example('tvault agent status --json', ''),
      status,
    )
    .command('stop', 'stop the agent (it wipes its key) and wait until it is gone', (c: Y): Y => c.example('tvault agent stop', ''), stop);
  const all = serviceCommands(own);
  return all.command(...unknownCommand(all, 'give an agent subcommand: start, status, stop, token, install or uninstall', 'agent'));
}
