// The socket side of the agent: the peer check, framing (one line in, one line out, close),
// the 64 KiB limit and the per-connection deadline. What a request means is the caller's
// business (onRequest); this module only moves bytes and never looks inside a value.
import { type Server, type Socket, createServer } from 'node:net';
import { lstatSync } from 'node:fs';
import { peerCred, socketFd, type PeerCred } from '@tvault/native';
import { TvaultError, errnoText } from '@tvault/core';
import { type ErrorCode, MAX_REQUEST_BYTES } from '@tvault/protocol';
import { errorLine } from './protocol';

export type Peer = PeerCred;

export interface Answer {
  line: Buffer;
  /** Runs once the connection is closed (after the answer was written, or failed to be). */
  after?: () => void;
}

export interface ServerHooks {
  ioTimeoutMs: number;
  /** Who may talk to the agent: its own uid, and the --allow-uid uids (which then need a token). */
  allowPeer(peer: Peer): boolean;
  /** Handles one complete request line; must not throw. The line is zeroed afterwards. */
  onRequest(line: Buffer, peer: Peer): Answer;
  onRefused(peer: Peer | null, code: ErrorCode, reason: string): void;
}

const MAX_CONNECTIONS = 256;
// DRAINING: closing a unix socket with unread data makes the peer's pending write fail (EPIPE or
// ECONNRESET), and a client that is still writing then loses the answer queued for it. So when
// the agent answers before it has read the whole request (permission_denied, too_large), it
// keeps reading and dropping bytes until the client's end-of-input, at most this many.
const MAX_DISCARD = MAX_REQUEST_BYTES * 16;

/** One accepted, authorised connection, from its first byte to its close. */
class Connection {
  private chunks: Buffer[] = [];
  private size = 0;
  private discarded = 0;
  private answer: Answer | null = null;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly sock: Socket,
    private readonly peer: Peer,
    private readonly hooks: ServerHooks,
    private readonly live: Set<Connection>,
  ) {
    live.add(this);
    this.timer = setTimeout(() => this.onDeadline(), hooks.ioTimeoutMs);
    sock.on('data', (c: Buffer) => this.onData(c));
    sock.on('end', () => (this.answer ? sock.destroy() : this.complete()));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.onClose());
    sock.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.answer) {
      this.discard(chunk);
      return;
    }
    const nl = chunk.indexOf(0x0a);
    const part = nl >= 0 ? chunk.subarray(0, nl) : chunk;
    this.size += part.length;
    if (this.size > MAX_REQUEST_BYTES) {
      chunk.fill(0);
      this.refuse('too_large', `the request is larger than ${MAX_REQUEST_BYTES} bytes`, true);
      return;
    }
    this.chunks.push(part);
    if (nl >= 0) this.complete();
  }

  /** The request ends at the first newline, or at end of input when the client sends none. */
  private complete(): void {
    if (this.answer) return;
    this.sock.pause();
    const line = Buffer.concat(this.chunks);
    this.chunks.forEach((c) => c.fill(0));
    this.chunks = [];
    try {
      this.send(this.hooks.onRequest(line, this.peer));
    } finally {
      line.fill(0);
    }
  }

  /** Bytes that arrive after the answer are dropped unread, up to a limit. */
  private discard(chunk: Buffer): void {
    this.discarded += chunk.length;
    chunk.fill(0);
    if (this.discarded > MAX_DISCARD) this.sock.destroy();
  }

  refuse(code: ErrorCode, reason: string, drain = false): void {
    if (this.answer) return;
    this.hooks.onRefused(this.peer, code, reason);
    this.send({ line: errorLine(code, reason) }, drain);
  }

  /**
   * Writes the answer and half-closes. With drain, the rest of the request is read and dropped
   * until the client's end (see DRAINING); otherwise the connection closes once the answer is out.
   */
  private send(a: Answer, drain = false): void {
    this.answer = a;
    this.sock.end(a.line);
    if (drain) this.sock.resume();
    else this.sock.once('finish', () => this.sock.destroy());
  }

  private onDeadline(): void {
    if (this.answer) {
      this.sock.destroy(); // the client stopped reading the answer
      return;
    }
    this.refuse('timeout', `no complete request within ${this.hooks.ioTimeoutMs} ms`);
    this.timer = setTimeout(() => this.sock.destroy(), 1000);
  }

  private onClose(): void {
    clearTimeout(this.timer);
    this.live.delete(this);
    this.chunks.forEach((c) => c.fill(0));
    const a = this.answer;
    if (!a) return;
    a.line.fill(0);
    a.after?.();
  }
}

/**
 * Answers before reading a byte of the request, which is then never parsed: what the client
 * sends is dropped unread until its end (see DRAINING), or until the limit or the deadline.
 */
function deny(sock: Socket, hooks: ServerHooks, peer: Peer | null, reason: string): void {
  hooks.onRefused(peer, 'permission_denied', reason);
  sock.on('error', () => sock.destroy());
  sock.end(errorLine('permission_denied', 'permission denied: this agent serves only the user it runs as'));
  let dropped = 0;
  sock.on('data', (c: Buffer) => {
    dropped += c.length;
    c.fill(0);
    if (dropped > MAX_DISCARD) sock.destroy();
  });
  sock.on('end', () => sock.destroy());
  setTimeout(() => sock.destroy(), hooks.ioTimeoutMs).unref();
  sock.resume();
}

export class AgentServer {
  /** One per socket: the private one in the vault dir, and with --delegate-dir a second one. */
  private readonly servers: Server[] = [];
  private readonly live = new Set<Connection>();

  constructor(private readonly hooks: ServerHooks) {}

  get inFlight(): number {
    return this.live.size;
  }

  private accept(sock: Socket): void {
    let peer: Peer;
    try {
      peer = peerCred(socketFd(sock));
    } catch (err) {
      deny(sock, this.hooks, null, `cannot read the peer's credentials (${errnoText(err)})`);
      return;
    }
    if (!this.hooks.allowPeer(peer)) {
      deny(sock, this.hooks, peer, `peer uid ${peer.uid} is not allowed`);
      return;
    }
    new Connection(sock, peer, this.hooks, this.live);
  }

  /**
   * Listens on a unix socket that is born with `mode` (0600 unless a delegate socket): the umask
   * is set around bind(), so there is no moment when the socket exists with a looser mode (no
   * listen-then-chmod window). Errors after that go to onError.
   */
  listen(path: string, mode = 0o600, onError: (err: Error) => void = () => undefined): Promise<void> {
    // pauseOnConnect: nothing is read from a client before its credentials are checked.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.accept(sock));
    server.maxConnections = MAX_CONNECTIONS;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      const old = process.umask(0o777 & ~mode);
      let restored = false;
      const restore = () => {
        if (!restored) process.umask(old);
        restored = true;
      };
      const onListenError = (err: Error) => {
        restore();
        reject(new TvaultError(`cannot listen on ${path}: ${errnoText(err)}`));
      };
      server.once('error', onListenError);
      server.listen(path, () => {
        restore();
        server.off('error', onListenError);
        server.on('error', onError);
        const st = lstatSync(path);
        if (!st.isSocket() || (st.mode & 0o777) !== mode || st.uid !== process.getuid!()) {
          reject(new TvaultError(`${path} came out with mode ${(st.mode & 0o777).toString(8)}; refusing to serve on it`));
          return;
        }
        resolve();
      });
    });
  }

  /** Answers every connection still waiting for its answer (used when the agent locks). */
  refuseAll(code: ErrorCode, reason: string): void {
    for (const c of [...this.live]) c.refuse(code, reason);
  }

  close(): void {
    for (const server of this.servers) server.close();
  }
}
