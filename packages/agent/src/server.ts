// The socket side of the agent: the peer check, framing (one line in, one line out, close),
// the 64 KiB limit and the per-connection deadline. What a request means is the caller's
// business (onRequest); this module only moves bytes and never looks inside a value.
import { type Server, Socket, createServer } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import {
  type AcceptorHandle,
  acceptor,
  acceptorClose,
  acceptorSet,
  fdClose,
  fdRecv,
  fdSendClose,
  peerCred,
  socketFd,
  type PeerCred,
  unixListen,
} from '@tvault/native';
import { TvaultError, errnoText } from '@tvault/core';
import { type ErrorCode, MAX_REQUEST_BYTES } from '@tvault/protocol';
import { errorLine } from './protocol';

export type Peer = PeerCred;

export interface Answer {
  /** One line, or one line in parts (a large getall), written with backpressure; zeroed after the close. */
  line: Buffer | Buffer[];
  /** Runs once the connection is closed (after the answer was written, or failed to be). */
  after?: () => void;
}

export interface ServerHooks {
  ioTimeoutMs: number;
  /** Who may talk to the agent: its own uid, and the --allow-uid uids (which then need a token). */
  allowPeer(peer: Peer): boolean;
  /**
   * Handles one complete request line; must not throw (nor reject). The line is zeroed once it
   * returns: an answer that takes time (a read waiting for its audit row) comes as a promise.
   * `arrived`: for requests read by the addon in one wakeup, a number shared by all of them,
   * which are handed over only once every one of them has been read (so a check of the vault
   * made for the first of them was made after the last had arrived: agent.ts, VaultHandle.get);
   * undefined for any other request.
   */
  onRequest(line: Buffer, peer: Peer, arrived?: number): Answer | Promise<Answer>;
  onRefused(peer: Peer | null, code: ErrorCode, reason: string): void;
  /** Called before every answer is written (the agent writes its queued log lines: log.ts). */
  beforeAnswer?(): void;
  /**
   * A connection on an exec socket (listen kind 'exec'), after the uid check, still paused: its
   * bytes must be read with the addon's recvFds, which keeps the descriptors (exec.ts).
   */
  onExec?(sock: Socket, peer: Peer): void;
}

// Connection limits (docs/PROTOCOL.md). Each uid may hold PER_UID connections, so that one
// uid's flood cannot take the slots of another (a delegate's those of the owner, or the
// reverse); MAX_CONNECTIONS bounds them all. A uid at its cap makes room by closing its own
// oldest connection that has not sent a complete request within EVICT_IDLE_MS (a client sends
// its request right after connecting, so such a connection is a stalled or hostile one); with
// none to close, the new connection is answered `busy` at once. Refused peers hold no slot.
export const PER_UID = 64;
export const MAX_CONNECTIONS = 256;
/** How long a refused peer's socket is drained before it is dropped (answerAndClose). */
const REFUSED_DRAIN_MS = 250;
const EVICT_IDLE_MS = 1000;
// DRAINING: closing a unix socket with unread data makes the peer's pending write fail (EPIPE or
// ECONNRESET), and a client that is still writing then loses the answer queued for it. So when
// the agent answers before it has read the whole request (too_large), it keeps reading and
// dropping bytes until the client's end-of-input, at most this many.
const MAX_DISCARD = MAX_REQUEST_BYTES * 16;

/** After accept fails (EMFILE: the descriptor table is full), accepting resumes this much later. */
const ACCEPT_RETRY_MS = 100;
/** listen(2)'s backlog, as node:net's default. */
const BACKLOG = 511;

/** A node:net socket over a descriptor the addon accepted (for everything but the one-line answer). */
const socketOn = (fd: number) => new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });

const zeroAnswer = (a: Answer) => (Array.isArray(a.line) ? a.line : [a.line]).forEach((b) => b.fill(0));

/**
 * One accepted, authorised connection, from its first byte to its close. Accepted by the addon
 * (AgentServer.listen, the line sockets), it starts as a bare descriptor: when the whole request
 * was there at accept (the common case: a client writes its line right after connecting) it is
 * answered with one send and closed by the addon, and no node:net socket is ever made for it.
 * Anything else (a request still on its way, larger than one read, a refusal that drains, a
 * large answer, a full socket buffer) goes through a node:net socket over the same descriptor,
 * from that point on, with the same deadline, limits and draining as any connection.
 */
class Connection {
  private chunks: Buffer[] = [];
  private size = 0;
  private discarded = 0;
  private answer: Answer | null = null;
  /** Until the request is complete: the deadline; while an answer is written: the stall limit. */
  private timer: NodeJS.Timeout | undefined;
  private requested = false;
  private closed = false;
  /** Answered before the whole request was read: reading and dropping until the client's end. */
  private draining = false;
  private sock: Socket | null = null;
  /** The descriptor while no socket owns it (-1 once closed or handed to one). */
  private fd = -1;
  /** See ServerHooks.onRequest. */
  private arrived: number | undefined;
  readonly openedAt = Date.now();

  constructor(
    transport: Socket | number,
    readonly peer: Peer,
    private readonly hooks: ServerHooks,
    private readonly release: (c: Connection) => void,
  ) {
    if (typeof transport === 'number') this.fd = transport;
    else this.attach(transport, true);
  }

  /** From here on a node:net socket carries the connection (and owns the descriptor). */
  private attach(sock: Socket, reading: boolean): void {
    this.sock = sock;
    this.fd = -1;
    if (!this.requested && !this.answer) this.timer = setTimeout(() => this.onDeadline(), this.hooks.ioTimeoutMs);
    sock.on('data', (c: Buffer) => this.onData(c));
    // The client's end of input: the end of its request; or, once answered, of what a refusal
    // drains. An answer still being written (a large getall) is not cut short by it.
    sock.on('end', () => (!this.answer ? this.complete() : this.draining ? sock.destroy() : undefined));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.onClose());
    if (reading) sock.resume();
    else sock.pause();
  }

  /**
   * A connection the addon accepted, with what one read of it returned (null: nothing yet; an
   * empty Buffer: end of input). A complete line is served without a socket; else one is made.
   */
  startNative(first: Buffer | null, arrived: number): void {
    if (first && first.length) {
      const nl = first.indexOf(0x0a);
      if (nl >= 0 && nl <= MAX_REQUEST_BYTES) {
        this.arrived = arrived;
        this.onData(first);
        return;
      }
    }
    this.attach(socketOn(this.fd), true);
    if (first && first.length) this.onData(first);
  }

  /** Still waiting for its request (the kind of connection a uid at its cap may lose). */
  get idle(): boolean {
    return !this.requested && !this.answer;
  }

  private onData(chunk: Buffer): void {
    if (this.answer || this.requested) {
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
    if (this.answer || this.requested) return;
    this.requested = true;
    clearTimeout(this.timer); // the deadline is for receiving the request, not for answering it
    this.sock?.pause();
    const line = Buffer.concat(this.chunks);
    this.chunks.forEach((c) => c.fill(0));
    this.chunks = [];
    let a: Answer | Promise<Answer>;
    try {
      a = this.hooks.onRequest(line, this.peer, this.arrived);
    } finally {
      line.fill(0);
    }
    // onRequest's promise settles with an answer; a rejection would be a bug, answered as one.
    if (a instanceof Promise)
      a.then(
        (x) => this.send(x),
        (err: unknown) => this.send({ line: errorLine('internal', String((err as Error)?.message ?? err)) }),
      );
    else this.send(a);
  }

  /** Bytes that arrive after the request are dropped unread, up to a limit. */
  private discard(chunk: Buffer): void {
    this.discarded += chunk.length;
    chunk.fill(0);
    if (this.discarded > MAX_DISCARD) this.sock?.destroy();
  }

  refuse(code: ErrorCode, reason: string, drain = false): void {
    if (this.answer) return;
    this.hooks.onRefused(this.peer, code, reason);
    this.send({ line: errorLine(code, reason) }, drain);
  }

  /**
   * Writes the answer and half-closes. With drain, the rest of the request is read and dropped
   * until the client's end (see DRAINING); otherwise the connection closes once the answer is out.
   * An answer that comes after the connection was closed or answered otherwise is only zeroed.
   */
  private send(a: Answer, drain = false): void {
    if (this.answer || this.closed) {
      zeroAnswer(a);
      return;
    }
    this.answer = a;
    clearTimeout(this.timer);
    this.hooks.beforeAnswer?.();
    let line = a.line;
    if (!this.sock) {
      if (!drain && !Array.isArray(line)) {
        // The answer and the close in one call; the rest through a socket if this one is full.
        const sent = fdSendClose(this.fd, line);
        if (sent < 0 || sent === line.length) {
          this.fd = -1;
          this.onClose();
          return;
        }
        line = line.subarray(sent);
      }
      this.attach(socketOn(this.fd), false);
    }
    const sock = this.sock!;
    this.draining = drain;
    if (drain) sock.resume();
    else sock.once('finish', () => sock.destroy());
    if (!Array.isArray(line)) {
      this.stallTimer();
      sock.end(line);
      return;
    }
    void this.writeParts(line);
  }

  /** Writes a large answer part by part, waiting for the client to read (backpressure). */
  private async writeParts(parts: Buffer[]): Promise<void> {
    const sock = this.sock!;
    for (const p of parts) {
      if (this.closed) return;
      if (!sock.write(p)) {
        this.stallTimer();
        await new Promise<void>((resolve) => {
          const done = () => {
            sock.off('drain', done);
            sock.off('close', done);
            resolve();
          };
          sock.on('drain', done);
          sock.on('close', done);
        });
      }
    }
    if (!this.closed) {
      this.stallTimer();
      sock.end();
    }
  }

  /** A client that reads nothing of its answer for the deadline is cut off. */
  private stallTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.sock?.destroy(), this.hooks.ioTimeoutMs);
  }

  private onDeadline(): void {
    if (this.answer) {
      this.sock?.destroy(); // the client stopped reading the answer
      return;
    }
    this.refuse('timeout', `no complete request within ${this.hooks.ioTimeoutMs} ms`);
    this.timer = setTimeout(() => this.sock?.destroy(), 1000);
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.release(this);
    this.chunks.forEach((c) => c.fill(0));
    const a = this.answer;
    if (!a) return;
    zeroAnswer(a);
    a.after?.();
  }
}

/**
 * Answers before reading a byte of the request and half-closes at once, so that a refused peer
 * holds no slot: its answer and EOF are sent, and whatever it still writes is read and dropped
 * until it closes, or for DRAIN_MS at most. Closing the read side too would make a client that
 * writes its request after connecting (any node:net client) fail with EPIPE and lose the
 * answer, which is already in its receive buffer.
 */
function answerAndClose(sock: Socket, line: Buffer): void {
  sock.on('error', () => sock.destroy());
  sock.on('data', () => undefined); // drained, never parsed
  sock.on('end', () => sock.destroy());
  sock.end(line);
  setTimeout(() => sock.destroy(), REFUSED_DRAIN_MS).unref(); // a peer that neither reads nor closes
}

/** A line socket accepted on by the addon: its listening descriptor and the file bound for it. */
interface Listener {
  fd: number;
  handle: AcceptorHandle;
  path: string;
  dev: number;
  ino: number;
}

export class AgentServer {
  /** The exec sockets (node:net: their requests are read with recvFds, see exec.ts). */
  private readonly servers: Server[] = [];
  /** The line sockets: the private one in the vault dir, and with --delegate-dir a second one. */
  private readonly listeners: Listener[] = [];
  private readonly live = new Set<Connection>();
  private readonly byUid = new Map<number, Set<Connection>>();
  /** Connections the addon accepted in the current wakeup, with what fdRecv read of them. */
  private arriving: Array<[Connection, Buffer | null]> = [];
  private wakeups = 0;

  constructor(private readonly hooks: ServerHooks) {}

  get inFlight(): number {
    return this.live.size;
  }

  /** Whether a connection was accepted whose request is not read yet (its read is on its way). */
  get requestsComing(): boolean {
    for (const c of this.live) if (c.idle) return true;
    return false;
  }

  private accept(sock: Socket, kind: 'line' | 'exec' = 'line'): void {
    let peer: Peer;
    try {
      peer = peerCred(socketFd(sock));
    } catch (err) {
      this.deny(sock, null, `cannot read the peer's credentials (${errnoText(err)})`);
      return;
    }
    if (!this.hooks.allowPeer(peer)) {
      this.deny(sock, peer, `peer uid ${peer.uid} is not allowed`);
      return;
    }
    if (kind === 'exec') {
      if (this.hooks.onExec) this.hooks.onExec(sock, peer);
      else sock.destroy();
      return;
    }
    if (!this.makeRoom(peer)) {
      const reason = `the agent is busy: ${PER_UID} connections of uid ${peer.uid} (or ${MAX_CONNECTIONS} in all) are in progress`;
      this.hooks.onRefused(peer, 'busy', reason);
      this.hooks.beforeAnswer?.();
      answerAndClose(sock, errorLine('busy', reason));
      return;
    }
    this.track(new Connection(sock, peer, this.hooks, (x) => this.release(x)));
  }

  private track(c: Connection): void {
    this.live.add(c);
    let mine = this.byUid.get(c.peer.uid);
    if (!mine) this.byUid.set(c.peer.uid, (mine = new Set()));
    mine.add(c);
  }

  /**
   * A connection the addon accepted on a line socket, with its peer's credentials as the kernel
   * gave them on the accepted descriptor (err: they could not be read). The same checks, in the
   * same order, as accept(); the request is read only once the peer is allowed and has a slot.
   */
  private acceptFd(l: Listener, fd: number, uid: number, gid: number, pid: number, err: number, onError: (err: Error) => void): void {
    if (fd < 0 && !err) {
      this.startArrived();
      return;
    }
    if (fd < 0) {
      // accept(2) failed (EMFILE...): the acceptor has stopped; it resumes a little later.
      onError(new TvaultError(`accept on ${l.path}: ${getSystemErrorName(-err)}`));
      setTimeout(() => acceptorSet(l.handle, true), ACCEPT_RETRY_MS);
      return;
    }
    let owned = false; // once a Connection or a socket has the descriptor, it closes it
    const take = () => ((owned = true), fd);
    try {
      if (err) {
        this.deny(socketOn(take()), null, `cannot read the peer's credentials (${getSystemErrorName(-err)})`);
        return;
      }
      const peer: Peer = { uid, gid, pid };
      if (!this.hooks.allowPeer(peer)) {
        this.deny(socketOn(take()), peer, `peer uid ${peer.uid} is not allowed`);
        return;
      }
      if (!this.makeRoom(peer)) {
        const reason = `the agent is busy: ${PER_UID} connections of uid ${peer.uid} (or ${MAX_CONNECTIONS} in all) are in progress`;
        this.hooks.onRefused(peer, 'busy', reason);
        this.hooks.beforeAnswer?.();
        answerAndClose(socketOn(take()), errorLine('busy', reason));
        return;
      }
      const c = new Connection(take(), peer, this.hooks, (x) => this.release(x));
      this.track(c);
      let first: Buffer | null;
      try {
        first = fdRecv(fd, MAX_REQUEST_BYTES + 1);
      } catch {
        first = null; // a reset: the socket made for it sees the error and closes
      }
      // Served once the wakeup's last connection is read (startArrived): see ServerHooks.onRequest.
      if (this.arriving.push([c, first]) === 1) setImmediate(() => this.startArrived());
    } catch (e) {
      if (!owned) fdClose(fd);
      onError(e as Error); // a bug: logged; the agent serves on
    }
  }

  /**
   * Serves the connections of one wakeup of the acceptor, every one of which has been read: at
   * the addon's end-of-wakeup call, or in the next turn should that not come (a bug elsewhere).
   */
  private startArrived(): void {
    const batch = this.arriving;
    if (!batch.length) return;
    this.arriving = [];
    const arrived = ++this.wakeups;
    for (const [c, first] of batch) {
      try {
        c.startNative(first, arrived);
      } catch {
        /* onRequest must not throw; a socket's error closes its connection */
      }
    }
  }

  /** Refused peers (wrong uid, unreadable credentials): answered and closed at once. */
  private deny(sock: Socket, peer: Peer | null, reason: string): void {
    this.hooks.onRefused(peer, 'permission_denied', reason);
    this.hooks.beforeAnswer?.();
    answerAndClose(sock, errorLine('permission_denied', 'permission denied: this agent serves only the user it runs as'));
  }

  /** Whether a connection of this peer's uid fits, after closing one of its stalled ones if need be. */
  private makeRoom(peer: Peer): boolean {
    const mine = this.byUid.get(peer.uid);
    if ((mine?.size ?? 0) < PER_UID && this.live.size < MAX_CONNECTIONS) return true;
    const now = Date.now();
    for (const c of mine ?? []) {
      // Sets iterate in insertion order: the first idle one is the oldest.
      if (c.idle && now - c.openedAt >= EVICT_IDLE_MS) {
        this.release(c);
        c.refuse('busy', `closed to make room: no complete request within ${now - c.openedAt} ms while uid ${peer.uid} is at its ${PER_UID} connections`);
        return true;
      }
    }
    return false;
  }

  private release(c: Connection): void {
    this.live.delete(c);
    const mine = this.byUid.get(c.peer.uid);
    mine?.delete(c);
    if (mine && !mine.size) this.byUid.delete(c.peer.uid);
  }

  /**
   * Listens on a unix socket that is born with `mode` (0600 unless a delegate socket): the umask
   * is set around bind(), so there is no moment when the socket exists with a looser mode (no
   * listen-then-chmod window). Errors after that go to onError.
   */
  listen(path: string, mode = 0o600, onError: (err: Error) => void = () => undefined, kind: 'line' | 'exec' = 'line'): Promise<void> {
    if (kind === 'line') return this.listenLine(path, mode, onError);
    // pauseOnConnect: nothing is read from a client before its credentials are checked (and on
    // an exec socket, nothing by Node at all until the request and its descriptors are in).
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => this.accept(sock, kind));
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

  /** A line socket: bound and accepted on by the addon (see Connection), with the same mode checks. */
  private async listenLine(path: string, mode: number, onError: (err: Error) => void): Promise<void> {
    const old = process.umask(0o777 & ~mode);
    let fd: number;
    try {
      fd = unixListen(path, BACKLOG);
    } catch (err) {
      throw new TvaultError(`cannot listen on ${path}: ${errnoText(err)}`);
    } finally {
      process.umask(old);
    }
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      fdClose(fd);
      throw new TvaultError(`cannot listen on ${path}: ${errnoText(err)}`);
    }
    if (!st.isSocket() || (st.mode & 0o777) !== mode || st.uid !== process.getuid!()) {
      fdClose(fd);
      throw new TvaultError(`${path} came out with mode ${(st.mode & 0o777).toString(8)}; refusing to serve on it`);
    }
    const l = { fd, path, dev: st.dev, ino: st.ino } as Listener;
    l.handle = acceptor(fd, (cfd, uid, gid, pid, err) => this.acceptFd(l, cfd, uid, gid, pid, err, onError));
    this.listeners.push(l);
  }

  /** Answers every connection still waiting for its answer (used when the agent locks). */
  refuseAll(code: ErrorCode, reason: string): void {
    for (const c of [...this.live]) c.refuse(code, reason);
  }

  /** Stops accepting; a line socket's file goes, as node:net's does (if it is still the one bound). */
  close(): void {
    for (const server of this.servers) server.close();
    for (const l of this.listeners.splice(0)) {
      acceptorClose(l.handle);
      fdClose(l.fd);
      try {
        const st = lstatSync(l.path);
        if (st.dev === l.dev && st.ino === l.ino) unlinkSync(l.path);
      } catch {
        /* gone already */
      }
    }
  }
}
