// The agent's log: pino, one JSON line per event, in $XDG_STATE_HOME/tvault/agent.log
// (default ~/.local/state/tvault/agent.log), directory 0700 and file 0600. It records events,
// ops, project and key names, peers and result codes; never a value, passphrase, key or token.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pino, { type Logger } from 'pino';
import { TvaultError } from '@tvault/core';

export type { Logger };

export function logDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'tvault');
}

function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new TvaultError(`log directory ${dir} is not a directory`);
  if (st.uid !== process.getuid!()) throw new TvaultError(`log directory ${dir} is owned by uid ${st.uid}, not by you`);
  if (st.mode & 0o077) chmodSync(dir, 0o700);
}

/** Opens (appends to) the log file and returns a synchronous logger: no line is lost on exit. */
export function openLog(env: NodeJS.ProcessEnv = process.env): { log: Logger; path: string; fd: number } {
  const dir = logDir(env);
  const path = join(dir, 'agent.log');
  let fd: number;
  try {
    privateDir(dir);
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if (err instanceof TvaultError) throw err;
    throw new TvaultError(`cannot open the agent log ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const st = fstatSync(fd);
  if (st.uid !== process.getuid!()) {
    closeSync(fd);
    throw new TvaultError(`the agent log ${path} is owned by uid ${st.uid}, not by you`);
  }
  if (st.mode & 0o077) fchmodSync(fd, 0o600);
  const log = pino(
    { base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    pino.destination({ dest: fd, sync: true }),
  );
  return { log, path, fd };
}
