// `tvault run -- cmd`: start a child with secrets in its environment and get out of its way.
// stdio is inherited untouched; the child's exit status is passed through (128+N for a
// signal); 125/126/127 are tvault's own failure, "not executable" and "not found".
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export const RUN_FAILED = 125;
export const NOT_EXECUTABLE = 126;
export const NOT_FOUND = 127;

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** The child's environment: ours without any TVAULT_* variable, plus the injected secrets. */
export function childEnv(base: NodeJS.ProcessEnv, inject: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('TVAULT_')) env[k] = v;
  return Object.assign(env, inject);
}

/** Runs the command and resolves with the exit code tvault should exit with. */
export function runChild(cmd: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
    // A terminal delivers SIGINT/SIGQUIT to the whole foreground group, child included;
    // forwarding those again would deliver them twice. Everything else is forwarded.
    const fromTerminal = new Set<NodeJS.Signals>(process.stdin.isTTY ? ['SIGINT', 'SIGQUIT', 'SIGWINCH'] : []);
    const handlers = FORWARDED.map((sig) => {
      const h = () => {
        if (!fromTerminal.has(sig) && child.pid) child.kill(sig);
      };
      process.on(sig, h);
      return [sig, h] as const;
    });
    const cleanup = () => handlers.forEach(([sig, h]) => process.off(sig, h));
    child.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      if (err.code === 'ENOENT') {
        process.stderr.write(`tvault: ${cmd[0]}: command not found\n`);
        resolve(NOT_FOUND);
      } else if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR') {
        process.stderr.write(`tvault: ${cmd[0]}: not executable (${err.code})\n`);
        resolve(NOT_EXECUTABLE);
      } else {
        process.stderr.write(`tvault: cannot run ${cmd[0]}: ${err.code ?? err.message}\n`);
        resolve(RUN_FAILED);
      }
    });
    child.on('exit', (code, signal) => {
      cleanup();
      if (signal) resolve(128 + (constants.signals[signal] ?? 0));
      else resolve(code ?? RUN_FAILED);
    });
  });
}
