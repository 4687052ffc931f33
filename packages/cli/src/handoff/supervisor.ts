// `tvault handoff -- AGENT`: the supervisor. It resolves nothing secret itself: it makes E in
// RAM, takes the no-cache lease on the real vault, has the builder (a short-lived subprocess,
// builder.ts) copy the selection into E under a fresh identity, then runs the agent with E and
// that identity only (run.ts's runChild: the same signals, the same exit codes), and tears E
// down on every way out. It never holds the real vault's KEK or a value.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { constants } from 'node:os';
import { TvaultError, Vault, generateIdentity, lockedError, markOf, noVaultError, releaseLease, resolveVaultDir, takeLease, usageError } from '@tvault/core';
import { agentRequest } from '../agent-client';
import { parseDuration } from '../flags';
import { RUN_FAILED, childEnv, runChild } from '../run';
import type { GlobalArgs } from '../session';
import { BUILDER_COMMAND, type BuildAnswer, type BuildRequest } from './builder';
import { chooseBase, createE, destroyE, destroyVaultFiles, ramCandidates, sweep } from './ephemeral';
import { inSession } from './guard';
import { SESSION_VAR, type SessionInfo, eName, writeSessionFile } from './session-file';

export interface HandoffArgs extends GlobalArgs {
  only?: string;
  prefix?: string;
  ttl?: string;
  allowDisk?: boolean;
  stopAgent?: boolean;
}

/** The signals that end a handoff; while the agent runs, runChild forwards them to it. */
const ENDING: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** tvault's own failure that has been reported already (by the builder, on its stderr). */
class Reported extends Error {
  constructor(readonly code: number) {
    super('reported');
  }
}

/** Ends the handoff as the first signal asked, before the agent runs. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(signal);
  }
}

function selection(a: HandoffArgs) {
  const only = a.only
    ?.split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  return { only: only?.length ? only : undefined, prefix: a.prefix || undefined };
}

/** Appends an audit row to the real vault without its key (the supervisor never has it). Best effort. */
export function auditEnd(vaultDir: string, info: Pick<SessionInfo, 'id' | 'project'>, how: string): void {
  try {
    const vault = Vault.open(vaultDir);
    try {
      vault.audit({ op: 'handoff.end', project: info.project, detail: `session=${info.id} how=${how}` });
    } finally {
      vault.close();
    }
  } catch (err) {
    process.stderr.write(`tvault: warning: the end of the handoff was not recorded in the audit trail: ${(err as Error).message}\n`);
  }
}

/** Refuses (or with --stop-agent stops) an unlock agent that serves the real vault: it caches the KEK for any process of this uid. */
async function ensureNoAgent(dir: string, stop: boolean): Promise<void> {
  if (!agentRequest(dir, { op: 'status', project: null }, 2000)) return;
  if (!stop)
    throw new TvaultError(
      `an unlock agent serves ${dir}: it holds your vault's key and would answer the coding agent too; stop it first (tvault agent stop) or add --stop-agent`,
    );
  const { stopRunningAgent } = require('../commands/agent') as typeof import('../commands/agent');
  const pid = await stopRunningAgent(dir);
  process.stderr.write(`tvault: stopped the unlock agent (pid ${pid}) for the handoff; start it again afterwards\n`);
}

/**
 * Runs the builder and resolves with its answer; `state.builder` lets a signal stop it. The
 * request is written once `req` resolves: the session identity is made while the builder starts.
 */
function runBuilderProcess(req: Promise<BuildRequest>, state: { builder?: ChildProcess }): Promise<BuildAnswer> {
  return new Promise((resolve, reject) => {
    // The builder is this same program (argv[1]: bin/tvault), so it starts hardened like any tvault.
    const child = spawn(process.execPath, [process.argv[1], BUILDER_COMMAND], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    state.builder = child;
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin!.on('error', () => undefined); // a builder that died early: its exit says why
    req.then(
      (r) => child.stdin!.end(`${JSON.stringify(r)}\n`),
      () => child.kill('SIGTERM'), // the caller reports why
    );
    child.on('error', (err) => reject(new TvaultError(`cannot start the handoff builder: ${err.message}`)));
    child.on('close', (code, signal) => {
      state.builder = undefined;
      if (code === 0) {
        try {
          return resolve(JSON.parse(out) as BuildAnswer);
        } catch {
          return reject(new TvaultError('the handoff builder gave no answer'));
        }
      }
      reject(new Reported(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? RUN_FAILED)));
    });
  });
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The whole handoff; resolves with the exit code (the agent's, or 125/126/127/128+N as `run`). */
export async function handoff(a: HandoffArgs, cmd: string[]): Promise<number> {
  if (!cmd.length) throw usageError('nothing to hand off to: tvault handoff [-p PROJECT] [--only K1,K2 | --prefix P] -- AGENT [ARGS...]');
  if (inSession()) throw lockedError('already inside a tvault handoff session: a handoff from inside one would need your real vault');
  if (a.only !== undefined && a.prefix !== undefined) throw usageError('give --only or --prefix, not both');
  const ttlMs = parseDuration(a.ttl, '--ttl');
  const realDir = resolveVaultDir(a.vault);
  const program = basename(cmd[0]);

  // One teardown for every way out: a normal end, a signal, an error, process.exit() elsewhere.
  const id = randomBytes(16).toString('hex');
  let e: string | undefined;
  let lease: string | undefined;
  let project: string | undefined;
  let started = false; // the handoff.start row is written (by the builder)
  let how = 'error';
  let tornDown = false;
  const teardown = () => {
    if (tornDown) return;
    tornDown = true;
    if (e) destroyE(e);
    if (lease) releaseLease(lease);
    if (started) auditEnd(realDir, { id, project }, how);
  };
  const state: { phase: 'build' | 'run' | 'end'; signal?: NodeJS.Signals; builder?: ChildProcess } = { phase: 'build' };
  const onSignal = (sig: NodeJS.Signals) => {
    // While the agent runs, runChild forwards it; before, it ends the handoff (the builder first).
    if (state.phase !== 'build' || state.signal) return;
    state.signal = sig;
    state.builder?.kill('SIGTERM');
  };
  const handlers = ENDING.map((sig) => [sig, () => onSignal(sig)] as const);
  handlers.forEach(([sig, h]) => process.on(sig, h));
  process.on('exit', teardown);
  const checkSignal = () => {
    if (state.signal) throw new Interrupted(state.signal);
  };

  try {
    if (!Vault.exists(realDir)) throw noVaultError(realDir);
    // The builder starts first, so that its Node start overlaps the checks below; it reads its
    // request before it opens any vault, and the request is written only once they have passed
    // and the session identity exists (if one fails, the builder is stopped unread).
    const prepared = (async () => {
      for (const s of sweep()) if (s.info) auditEnd(s.info.vault, s.info, 'supervisor killed (swept by the next handoff)');
      const base = chooseBase(ramCandidates(), !!a.allowDisk);
      // The lease first, then the agent check: an agent that starts after the check sees the lease.
      lease = takeLease(realDir, id, join(base.dir, eName(id)));
      await ensureNoAgent(realDir, !!a.stopAgent);
      checkSignal();
      e = createE(base.dir, id); // set here, so that teardown removes it whatever fails next
      const info: SessionInfo = { v: 1, id, ...markOf(), state: 'building', vault: realDir };
      writeSessionFile(e, info);
      return { base, e, info, identity: await generateIdentity() };
    })();
    const req = prepared.then((p): BuildRequest => ({
      vault: realDir,
      project: a.project ?? null,
      selection: selection(a),
      e: p.e,
      recipient: p.identity.recipient,
      id,
      agent: program,
    }));
    const building = runBuilderProcess(req, state);
    building.catch(() => undefined); // awaited below, after what prepared may throw
    const { base, e: eDir, info, identity } = await prepared;
    let code: number;
    try {
      const built = await building;
      started = true;
      project = built.project;
      checkSignal();
      await ensureNoAgent(realDir, false); // one may have started while the builder ran
      const expiresAt = ttlMs ? Date.now() + ttlMs : null;
      writeSessionFile(eDir, { ...info, state: 'live', project, keys: built.keys.length, vaultId: built.vaultId, expiresAt });
      process.stderr.write(
        `tvault: handed ${program} project '${project}' (${plural(built.keys.length, 'key')}) in a session vault${base.ram ? ' in RAM' : ' ON DISK (--allow-disk)'}` +
          `${ttlMs ? ` for ${a.ttl}` : ''}; your vault's key is out of its reach\n`,
      );
      let expired = false;
      const timer = ttlMs
        ? setTimeout(() => {
            expired = true;
            writeSessionFile(eDir, { ...info, state: 'expired', project, keys: built.keys.length, expiresAt });
            destroyVaultFiles(eDir);
          }, ttlMs)
        : undefined;
      const env = childEnv(process.env, { TVAULT_DIR: eDir, TVAULT_IDENTITY_KEY: identity.key.toString('latin1'), [SESSION_VAR]: id });
      identity.key.fill(0);
      const running = runChild(cmd, env); // its signal forwarding is in place from here
      state.phase = 'run';
      code = await running;
      if (timer) clearTimeout(timer);
      how = `${expired ? 'expired (--ttl), then ' : ''}${code > 128 && code < 160 ? `agent killed by signal ${code - 128}` : `agent exited ${code}`}`;
    } finally {
      identity.key.fill(0);
    }
    return code;
  } catch (err) {
    if (err instanceof Reported || err instanceof Interrupted || state.signal) {
      const sig = err instanceof Interrupted ? err.signal : state.signal;
      how = sig ? `interrupted by ${sig} before the agent started` : 'the builder failed';
      return sig ? 128 + (constants.signals[sig] ?? 0) : RUN_FAILED; // the builder said why on stderr
    }
    how = 'failed before the agent started';
    if (err instanceof TvaultError) {
      process.stderr.write(`tvault: ${err.message}\n`);
      return RUN_FAILED;
    }
    throw err;
  } finally {
    state.phase = 'end';
    teardown();
    handlers.forEach(([sig, h]) => process.off(sig, h));
    process.off('exit', teardown);
  }
}
