// `tvault run -- cmd`: start a child with secrets in its environment and get out of its way.
// stdio is inherited untouched (tvault never reads its own stdin here: a Node stream on fd 0
// would switch it to non-blocking mode under the child); the child's exit status is passed
// through (128+N for a signal); 125/126/127 are tvault's own failure, "not executable" and
// "not found", as with env(1), nice(1) and timeout(1).
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { isatty } from 'node:tty';
import { errnoText } from '@tvault/core';
import { type OutputMasker, childPipe, maskedPump } from '@tvault/agent/masked-io';
import { RESERVED_PREFIX } from '@tvault/core/env-format';
import { childCoreLimit } from './harden';
import { inspectHandoff } from './handoff/inspect';

export const RUN_FAILED = 125;
export const NOT_EXECUTABLE = 126;
export const NOT_FOUND = 127;
/** A child killed by signal N exits, for its caller, with 128 + N (as shells report it). */
const KILLED_BY_SIGNAL = 128;

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The PATH a --pristine child gets. */
export const PRISTINE_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Whether `tvault run` masks the injected values in the child's output: --mask or --no-mask when
 * given; otherwise on inside a live `tvault handoff` session (what was handed to a coding agent
 * stays off its screen and out of its transcript by default) and off in an ordinary run. The
 * handoff check is the ground-truth one (inspectHandoff), so a stale TVAULT_HANDOFF does not
 * change an ordinary run; without that variable it costs nothing.
 */
export function shouldMask(a: { mask?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (a.mask !== undefined) return a.mask;
  return inspectHandoff(env).handoff;
}

/** The child's environment: base without any TVAULT_* variable, plus the injected secrets. */
export function childEnv(base: NodeJS.ProcessEnv, inject: Record<string, string>): NodeJS.ProcessEnv {
  // No prototype: a secret named __proto__ is a valid key name and must become a variable,
  // not the object's prototype.
  const env = Object.create(null) as NodeJS.ProcessEnv;
  for (const [k, v] of Object.entries(base)) if (!k.startsWith(RESERVED_PREFIX)) env[k] = v;
  for (const [k, v] of Object.entries(inject)) env[k] = v;
  return env;
}

/** --pristine: only a minimal PATH, HOME and TERM (the secrets are added by childEnv). */
export function pristineBase(from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: PRISTINE_PATH };
  if (from.HOME) env.HOME = from.HOME;
  if (from.TERM) env.TERM = from.TERM;
  return env;
}

/**
 * The command as the caller's shell would find it. spawn() searches the *child's* PATH, which
 * --pristine replaces; the user typed the command in their own shell, so look it up there.
 * Returns the name unchanged when it has a slash or is not found (spawn then reports it).
 */
export function resolveCommand(cmd: string, path = process.env.PATH ?? ''): string {
  if (cmd.includes('/')) return cmd;
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir || '.', cmd);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return cmd;
}

/**
 * A terminal sends SIGINT/SIGQUIT/SIGWINCH to its whole foreground process group, which holds
 * the child too; forwarding those again would deliver them twice (a second Ctrl-C means "quit
 * now" to many programs). Any other signal, or one sent while we are not in the foreground
 * (kill from a script, a supervisor), is forwarded.
 */
const TERMINAL_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGQUIT', 'SIGWINCH']);

function inTerminalForeground(): boolean {
  try {
    // /proc/self/stat after "(comm) ": state ppid pgrp session tty_nr tpgid ...
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[4]) !== 0 && f[5] === f[2];
  } catch {
    return isatty(0) || isatty(2); // no procfs: assume an interactive terminal means foreground
  }
}

/** Runs the command and resolves with the exit code tvault should exit with. */
export function runChild(
  cmd: string[],
  env: NodeJS.ProcessEnv,
  opts: { lookupPath?: string; mask?: { out: OutputMasker; err: OutputMasker } } = {},
): Promise<number> {
  return new Promise((resolve) => {
    // Handlers first: a signal that arrives while spawn() runs is then delivered to the child
    // on the next turn of the loop, instead of killing tvault (or, for SIGUSR1, starting Node's
    // inspector) and leaving the child behind.
    let child: ChildProcess | undefined;
    const handlers = FORWARDED.map((sig) => {
      const h = () => {
        if (TERMINAL_SIGNALS.has(sig) && inTerminalForeground()) return;
        if (child?.pid) child.kill(sig);
      };
      process.on(sig, h);
      return [sig, h] as const;
    });
    const cleanup = () => handlers.forEach(([sig, h]) => process.off(sig, h));
    // An empty name is found nowhere (as in a shell: 127); spawn() would throw instead.
    if (cmd[0] === '') {
      cleanup();
      process.stderr.write(`tvault: '': command not found\n`);
      return resolve(NOT_FOUND);
    }
    const file = opts.lookupPath !== undefined ? resolveCommand(cmd[0], opts.lookupPath) : cmd[0];
    // The child starts with the caller's core limit (execve makes it dumpable again); tvault
    // itself stays non-dumpable, so no core of it is written meanwhile.
    const restoreLimit = childCoreLimit();
    const pipes: number[][] = [];
    try {
      // Masked (and no terminal: run-masked.ts has the pty), stdout and stderr are pipes through the masker.
      if (opts.mask) pipes.push(childPipe(), childPipe());
      child = spawn(file, cmd.slice(1), { stdio: opts.mask ? ['inherit', pipes[0][1], pipes[1][1]] : 'inherit', env, argv0: cmd[0] });
    } catch (err) {
      // spawn() refuses some arguments synchronously (e.g. a NUL byte): tvault's own failure.
      pipes.forEach((p) => p.forEach((fd) => closeSync(fd)));
      cleanup();
      process.stderr.write(`tvault: cannot run ${cmd[0]}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
      return resolve(RUN_FAILED);
    } finally {
      restoreLimit();
    }
    pipes.forEach((p) => closeSync(p[1])); // the child has its own copies
    const m = opts.mask;
    const written = m ? Promise.all([maskedPump(pipes[0][0], 1, m.out, { autoClose: false }), maskedPump(pipes[1][0], 2, m.err, { autoClose: false })]) : null;
    child.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      if (err.code === 'ENOENT') {
        process.stderr.write(`tvault: ${cmd[0]}: command not found\n`);
        resolve(NOT_FOUND);
      } else if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR' || err.code === 'EPERM') {
        process.stderr.write(`tvault: ${cmd[0]}: not executable (${err.code})\n`);
        resolve(NOT_EXECUTABLE);
      } else {
        process.stderr.write(`tvault: cannot run ${cmd[0]}: ${errnoText(err)}\n`);
        resolve(RUN_FAILED);
      }
    });
    child.on('exit', (code, signal) => {
      cleanup();
      const status = signal ? KILLED_BY_SIGNAL + (constants.signals[signal] ?? 0) : (code ?? RUN_FAILED);
      // With masking, the status waits until the masked output is out.
      if (written) void written.then(() => resolve(status));
      else resolve(status);
    });
  });
}
