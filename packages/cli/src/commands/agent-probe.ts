// Finding a running agent before signalling it. The pid comes from the kernel (SO_PEERCRED on
// our end of a connection to its socket, through @tvault/native), not from agent.pid, which a
// killed agent leaves behind and whose number may since belong to an unrelated process. The
// agent must also answer a status request, so the process is known to be an agent.
import { type Socket, connect } from 'node:net';
import type { PeerCred } from '@tvault/native';
import { TvaultError } from '@tvault/core';
import { type Answer, parseAnswer, requestLine } from '@tvault/protocol';
import { agentSocketPath } from '../agent-client';

export interface Probe {
  pid: number;
  uid: number;
  /** The answer to `status` (sent with `token`), or null if it gave none. */
  answer: Answer | null;
}

function peerCredOf(sock: Socket): PeerCred {
  let native: typeof import('@tvault/native');
  try {
    native = require('@tvault/native');
  } catch (err) {
    throw new TvaultError(`cannot identify the agent without the native addon: ${(err as Error).message.split('\n')[0]}`);
  }
  return native.peerCred(native.socketFd(sock));
}

/** Resolves null when nothing listens on the vault's agent socket. */
export function probeAgent(vaultDir: string, token: string | undefined = process.env.TVAULT_AGENT_TOKEN, timeoutMs = 3000): Promise<Probe | null> {
  return new Promise((resolve, reject) => {
    const sock = connect(agentSocketPath(vaultDir));
    let peer: PeerCred | null = null;
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err instanceof TvaultError) return reject(err);
      if (!peer) return resolve(null);
      resolve({ pid: peer.pid, uid: peer.uid, answer: parseAnswer(Buffer.concat(chunks).toString('utf8')) });
    };
    sock.setTimeout(timeoutMs, () => finish());
    sock.on('error', () => finish());
    sock.on('end', () => finish());
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('connect', () => {
      try {
        peer = peerCredOf(sock);
      } catch (err) {
        finish(err instanceof TvaultError ? err : undefined);
        return;
      }
      sock.end(requestLine({ op: 'status', project: null, ...(token ? { token } : {}) }));
    });
  });
}

/** Whether a probe shows an agent of this uid that can be signalled. */
export function isOwnAgent(p: Probe | null): p is Probe {
  return !!p && p.answer !== null && p.uid === process.getuid!() && p.pid > 0;
}
