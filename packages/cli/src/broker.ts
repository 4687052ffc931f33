// `tvault run --broker -- cmd`: the agent runs the command (docs/PROTOCOL.md, "exec"). This
// process sends the command, the secret names and its own stdin, stdout and stderr (as
// descriptors, over the exec socket) and waits for the exit status; it never holds a value.
// Signals it gets are forwarded; if it dies, the agent ends the child. The conversation is
// @tvault/client's, the API orchestrators use.
import { isatty } from 'node:tty';
import { ExitCode, TvaultError, vaultFiles } from '@tvault/core/base';
import { EXEC_SIGNALS, execSocketPath } from '@tvault/protocol';
import { BrokerError, baseEnv, connectExec, converse } from '@tvault/client';
import { unmaskedWarning } from './run-masked';

export const RUN_FAILED = 125;

export interface BrokerRun {
  vaultDir: string;
  project: string | null;
  argv: string[];
  only?: string[];
  prefix?: string;
}

/**
 * Runs argv through the agent and resolves with the exit status to exit with: the child's own,
 * 128+N for a signal, 126/127 from the agent, 3 when the agent is locked (it says to run
 * `tvault unlock`), 125 when it refused otherwise (its message on stderr).
 */
export async function runBrokered(o: BrokerRun): Promise<number> {
  const token = process.env.TVAULT_AGENT_TOKEN;
  let sock;
  try {
    sock = connectExec(execSocketPath(vaultFiles(o.vaultDir).sock), token ? 'any' : 'own');
  } catch (err) {
    throw err instanceof BrokerError ? new TvaultError(err.message) : err;
  }
  const conv = converse(
    sock,
    {
      op: 'exec',
      project: o.project,
      argv: o.argv,
      cwd: process.cwd(),
      env: baseEnv(),
      ...(o.only && { only: o.only }),
      ...(o.prefix !== undefined && { prefix: o.prefix }),
      tty: isatty(1),
      ...(token && { token }),
    },
    [0, 1, 2],
  );
  // The agent puts this terminal in raw mode for a pty session and restores it; should the agent
  // die first, the settings from before are put back here (on every way out of this process).
  const term = restoreTerminalLater([0, 1]);
  const handlers = EXEC_SIGNALS.map((sig) => {
    const h = () => conv.signal(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    const r = await conv.done;
    term.restore();
    if (r.unmasked.length) process.stderr.write(unmaskedWarning(r.unmasked));
    if (r.message) process.stderr.write(`tvault: ${r.message}\n`);
    return r.status;
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    process.stderr.write(`tvault: ${err.message}\n`);
    return err.code === 'locked' ? ExitCode.LOCKED : RUN_FAILED;
  } finally {
    term.restore();
    handlers.forEach(([sig, h]) => process.off(sig, h));
  }
}

/** Saves the settings of the terminals among fds now (a pty session: stdout is one); restore() (or this process's exit) puts them back. */
function restoreTerminalLater(fds: number[]): { restore(): void } {
  if (!isatty(1)) return { restore: () => undefined };
  const native = require('@tvault/native') as typeof import('@tvault/native');
  const saved = fds.filter((fd) => isatty(fd)).map((fd) => [fd, native.ttySave(fd)] as const);
  const restore = () => {
    for (const [fd, s] of saved) if (s) native.ttyRestore(fd, s);
    process.off('exit', restore);
  };
  process.on('exit', restore);
  return { restore };
}
