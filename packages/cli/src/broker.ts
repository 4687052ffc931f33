// `tvault run --broker -- cmd`: the agent runs the command (docs/PROTOCOL.md, "exec"). This
// process sends the command, the secret names and its own stdin, stdout and stderr (as
// descriptors, over the exec socket) and waits for the exit status; it never holds a value.
// Signals it gets are forwarded as `{"signal":...}` lines; if it dies, the agent ends the child.
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { isatty } from 'node:tty';
import { TvaultError, vaultFiles } from '@tvault/core/base';
import { EXEC_SIGNALS, type ExecRequest, execSocketPath, parseAnswer, requestLine } from '@tvault/protocol';

export const RUN_FAILED = 125;

export interface BrokerRun {
  vaultDir: string;
  project: string | null;
  argv: string[];
  only?: string[];
  prefix?: string;
  /** The base environment sent: the caller's, without TVAULT_* (the agent filters it again). */
  env?: NodeJS.ProcessEnv;
}

/** The caller's environment minus tvault's own variables (the token above all). */
export function baseEnvForBroker(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('TVAULT_')) out[k] = v;
  return out;
}

/** Connects to the agent's exec socket with the same directory checks as every agent call. */
function connectExec(vaultDir: string): Socket {
  const native = require('@tvault/native') as typeof import('@tvault/native');
  const path = execSocketPath(vaultFiles(vaultDir).sock);
  let fd: number;
  try {
    fd = native.agentConnect(path, 5000, process.env.TVAULT_AGENT_TOKEN ? 'any' : 'own');
  } catch (err) {
    throw new TvaultError(`refusing the agent's exec socket in ${dirname(path)}: ${(err as Error).message}`);
  }
  if (fd < 0) throw new TvaultError(`no agent serves brokered exec at ${path}; start one with: tvault agent start`);
  return new Socket({ fd, readable: true, writable: true });
}

/**
 * Runs argv through the agent and resolves with the exit status to exit with: the child's own,
 * 128+N for a signal, 126/127 from the agent, 125 when the agent refused (its message on stderr).
 */
export function runBrokered(o: BrokerRun): Promise<number> {
  const native = require('@tvault/native') as typeof import('@tvault/native');
  const sock = connectExec(o.vaultDir);
  const token = process.env.TVAULT_AGENT_TOKEN;
  const req: ExecRequest & { token?: string } = {
    op: 'exec',
    project: o.project,
    argv: o.argv,
    cwd: process.cwd(),
    env: baseEnvForBroker(o.env),
    ...(o.only && { only: o.only }),
    ...(o.prefix !== undefined && { prefix: o.prefix }),
    tty: isatty(1),
    ...(token && { token }),
  };
  const body = Buffer.from(requestLine(req));
  return new Promise((resolve) => {
    let text = '';
    let status: number | null = null;
    const handlers = EXEC_SIGNALS.map((sig) => {
      const h = () => void (sock.writable && sock.write(`{"signal":"${sig}"}\n`));
      process.on(sig, h);
      return [sig, h] as const;
    });
    const finish = (code: number) => {
      handlers.forEach(([sig, h]) => process.off(sig, h));
      sock.destroy();
      resolve(code);
    };
    sock.on('error', (err) => {
      if (status === null) process.stderr.write(`tvault: the agent's exec socket failed: ${err.message}\n`);
    });
    sock.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      for (let nl; (nl = text.indexOf('\n')) >= 0;) {
        const a = parseAnswer(text.slice(0, nl + 1));
        text = text.slice(nl + 1);
        if (!a) continue;
        if (!a.ok) {
          process.stderr.write(`tvault: ${a.message}\n`);
          status = RUN_FAILED;
        } else if (a.started === true && Array.isArray(a.unmasked) && a.unmasked.length) {
          process.stderr.write(
            `tvault: warning: ${a.unmasked.join(', ')} ${a.unmasked.length > 1 ? 'are' : 'is'} shorter than 8 bytes and will not be masked in the output\n`,
          );
        } else if (typeof a.status === 'number') {
          if (typeof a.message === 'string') process.stderr.write(`tvault: ${a.message}\n`);
          status = a.status;
        }
      }
    });
    sock.on('close', () => {
      if (status === null) process.stderr.write('tvault: the agent closed the exec connection without an exit status\n');
      finish(status ?? RUN_FAILED);
    });
    try {
      // The descriptors travel with the first bytes; whatever sendmsg did not take follows plainly.
      const sent = native.sendFds(native.socketFd(sock), [0, 1, 2], body);
      if (sent < body.length) sock.write(body.subarray(sent));
      else body.fill(0); // it may carry the token
    } catch (err) {
      process.stderr.write(`tvault: cannot pass stdin/stdout/stderr to the agent: ${(err as Error).message}\n`);
      finish(RUN_FAILED);
    }
  });
}
