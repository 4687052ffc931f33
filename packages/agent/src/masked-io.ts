// The child's output on its way to the caller, through the masker (docs/SECURITY.md, "Output
// masking"): one module for the broker (exec.ts, on the caller's passed descriptors) and for
// `tvault run --mask` (packages/cli/src/run-masked.ts, on its own 0/1/2).
//
// Without a terminal the output travels through pipes (maskedCopy). When the caller's stdout is
// a terminal the child gets a pseudo-terminal of its own (spawnOnPty): it is a session leader
// with the pty as its controlling terminal, so colours, line editing, progress bars and isatty
// behave as without tvault; the masker sits between the pty's master and the caller's terminal,
// which is in raw mode for the session (keys, ^C included, go to the pty as bytes, and the pty's
// own line discipline turns ^C into the child's SIGINT) and restored on every way out.
import { closeSync, fstatSync, readSync, writeSync, writev } from 'node:fs';
import type { Readable } from 'node:stream';
import { ReadStream, isatty } from 'node:tty';

type Native = typeof import('@tvault/native');
// Lazily: the CLI loads this module with `run`, and the addon only when it masks.
const native = (): Native => require('@tvault/native') as Native;

/** What a masker offers (packages/agent/src/masker.ts): chunks in, masked chunks out. */
export interface OutputMasker {
  /** The masked chunk as pieces, views of chunk among them (valid while chunk's bytes are). */
  pushv(chunk: Buffer): Buffer[];
  end(): Buffer;
}

/** The size a pty gets when the caller's terminal reports none. */
const DEFAULT_SIZE = { rows: 24, cols: 80 };
/** After the child exits, the pty's output is drained until it has been quiet this long (a grandchild may hold the pty open)... */
const DRAIN_IDLE_MS = 200;
/** ...or for this long at most (a grandchild that keeps writing). */
const DRAIN_MAX_MS = 2000;
/** A full pty input queue (a child that does not read) is retried this much later. */
const INPUT_RETRY_MS = 10;
/** The character a pty reads as end of input (VEOF). */
const EOF_BYTE = Buffer.from([4]);

/**
 * The buffer the agent asks for on a child's output pipe (F_SETPIPE_SZ; Linux's default is 64
 * KiB): the child writes on while the agent masks and writes out. 256 KiB, not the 1 MiB the
 * kernel allows: pipe buffers count against a per-user quota (fs.pipe-user-pages-soft, 64 MiB
 * by default), and 32 brokered children have two pipes each. Refused, the pipe keeps its size.
 */
export const PIPE_BYTES = 256 * 1024;
/** What one read takes from the pipe, into a reused block. */
const BLOCK_BYTES = 256 * 1024;
/** At most this much masked output waits for the caller's descriptor before reading pauses (back-pressure). */
const QUEUE_BYTES = 1024 * 1024;
/** At most this many blocks in use at once (the rest of the back-pressure: fully masked output is small). */
const MAX_BLOCKS = QUEUE_BYTES / BLOCK_BYTES + 1;
/** Pieces per writev (IOV_MAX is 1024). */
const MAX_IOV = 1024;
/** A masked block of more pieces than this is written as one copy. */
const MAX_PIECES = 64;
const EMPTY = Buffer.alloc(0);
/** A non-blocking descriptor that cannot be polled (EAGAIN) is retried this much later. */
const WRITE_RETRY_MS = 5;

/**
 * Writes pieces to a descriptor in order, with writev on libuv's thread pool (the descriptor
 * may be the caller's blocking terminal or pipe; it is never switched to non-blocking under the
 * caller; if it is non-blocking already, EAGAIN waits until it is writable). A piece's release
 * callback runs once everything before it is written (or dropped). Any other error (EPIPE: the
 * reader is gone) drops the queue and calls onGone once.
 */
class FdWriter {
  /** The queue, from q[head] on (an index, not shift(): a masked block can be thousands of pieces). */
  private q: Array<Buffer | (() => void)> = [];
  private head = 0;
  private bytes = 0;
  private busy = false;
  private waiting = false;
  private gone = false;
  private ending: (() => void) | null = null;

  constructor(
    private readonly fd: number,
    private readonly onGone: () => void,
    private readonly onProgress: () => void,
  ) {}

  /** Bytes waiting to be written. */
  get queued(): number {
    return this.bytes;
  }

  write(pieces: Buffer[], release?: () => void): void {
    if (this.gone) return release?.();
    if (pieces.length > MAX_PIECES) {
      // Many small pieces (output full of placeholders): one copy costs less than the iovecs.
      // The copy holds only what is released (no value), and the source is free at once.
      pieces = [Buffer.concat(pieces)];
      release?.();
      release = undefined;
    }
    for (const p of pieces) {
      if (!p.length) continue;
      this.q.push(p);
      this.bytes += p.length;
    }
    if (release) this.q.push(release);
    this.kick();
  }

  /** Calls done once everything written so far is out (or dropped). */
  end(done: () => void): void {
    this.ending = done;
    this.kick();
  }

  private kick(): void {
    if (this.busy || this.waiting) return;
    this.consume(0);
    if (this.head === this.q.length) {
      this.q = [];
      this.head = 0;
      const e = this.ending;
      this.ending = null;
      return e?.();
    }
    const list: Buffer[] = [];
    for (let k = this.head; k < this.q.length && list.length < MAX_IOV; k++) {
      const x = this.q[k];
      if (typeof x !== 'function') list.push(x);
    }
    this.busy = true;
    writev(this.fd, list, (err, n) => {
      this.busy = false;
      if (err) return err.code === 'EAGAIN' ? this.waitWritable() : this.fail();
      this.consume(n);
      this.onProgress();
      this.kick();
    });
  }

  /** Drops n written bytes from the head, running the release callbacks passed on the way. */
  private consume(n: number): void {
    const q = this.q;
    while (this.head < q.length) {
      const x = q[this.head];
      if (typeof x === 'function') {
        q[this.head++] = EMPTY;
        x();
        continue;
      }
      if (!n) break;
      const k = Math.min(n, x.length);
      n -= k;
      this.bytes -= k;
      if (k === x.length) q[this.head++] = EMPTY;
      else q[this.head] = x.subarray(k);
    }
    if (this.head > 4096 && this.head * 2 > q.length) {
      this.q = q.slice(this.head);
      this.head = 0;
    }
  }

  private waitWritable(): void {
    this.waiting = true;
    const go = () => {
      this.waiting = false;
      this.kick();
    };
    try {
      const n = native();
      const h = n.fdPoll(this.fd, true, () => {
        n.fdPollClose(h);
        go();
      });
    } catch {
      setTimeout(go, WRITE_RETRY_MS);
    }
  }

  private fail(): void {
    if (this.gone) return;
    this.gone = true;
    const q = this.q.slice(this.head);
    this.q = [];
    this.head = 0;
    this.bytes = 0;
    for (const x of q) if (typeof x === 'function') x();
    this.onGone();
    this.kick();
  }
}

/**
 * Copies a child's output (a stream: a pty's master) through its masker to a descriptor. Each
 * chunk is zeroed once its masked pieces are written. Backpressure pauses the source. If the
 * descriptor's reader is gone (EPIPE), the source is closed too, so the child sees the same
 * EPIPE. Resolves once everything is written (and, with autoClose, the descriptor closed).
 */
export function maskedCopy(from: Readable, fd: number, masker: OutputMasker, o: { autoClose?: boolean } = {}): Promise<void> {
  return new Promise((done) => {
    const autoClose = o.autoClose ?? true;
    const to = new FdWriter(
      fd,
      () => from.destroy(),
      () => {
        if (to.queued < QUEUE_BYTES && from.isPaused()) from.resume();
      },
    );
    from.on('data', (chunk: Buffer) => {
      to.write(masker.pushv(chunk), () => chunk.fill(0));
      if (to.queued >= QUEUE_BYTES) from.pause();
    });
    from.on('error', () => undefined); // a pty's master reads EIO once the child side is closed
    from.on('close', () => {
      to.write([masker.end()]);
      to.end(() => {
        if (autoClose) closeQuietly(fd);
        done();
      });
    });
  });
}

/**
 * A pipe for a child's stdout or stderr, made by the agent: [readFd, writeFd], close-on-exec,
 * the read end non-blocking (the agent's own open file description; the child's end keeps its
 * flags) and its buffer PIPE_BYTES when the kernel allows. Give writeFd to the child, close it
 * here, and pass readFd to maskedPump.
 */
export function childPipe(): [number, number] {
  const n = native();
  const p = n.pipe();
  try {
    n.pipeTune(p[0], PIPE_BYTES);
  } catch (err) {
    p.forEach((fd) => closeQuietly(fd));
    throw err;
  }
  return p;
}

/**
 * Copies what a child writes into a childPipe (its read end, `src`, owned and closed here)
 * through its masker to a descriptor: the pipe is read in BLOCK_BYTES blocks when libuv says it
 * is readable, into a few reused blocks, and the masked pieces (views of the block) are written
 * with writev while the next block is read; at QUEUE_BYTES waiting (or MAX_BLOCKS in use),
 * reading pauses until the caller's descriptor takes more. Whatever can no longer match is
 * written at once (a prompt without a newline appears). If the caller's reader is gone, the
 * pipe is closed, so the child gets EPIPE (SIGPIPE) as with a plain pipe. The blocks are zeroed
 * at the end. Resolves as maskedCopy.
 */
export function maskedPump(src: number, fd: number, masker: OutputMasker, o: { autoClose?: boolean } = {}): Promise<void> {
  const n = native();
  return new Promise((done) => {
    const autoClose = o.autoClose ?? true;
    const blocks: Buffer[] = [];
    const free: Buffer[] = [];
    let paused = false;
    let ended = false;
    let poll: ReturnType<Native['fdPoll']> | null = null;
    const finish = () => {
      if (ended) return;
      ended = true;
      if (poll) n.fdPollClose(poll);
      poll = null;
      closeQuietly(src);
      to.write([masker.end()]);
      to.end(() => {
        blocks.forEach((b) => b.fill(0));
        if (autoClose) closeQuietly(fd);
        done();
      });
    };
    const room = () => to.queued < QUEUE_BYTES && (free.length > 0 || blocks.length < MAX_BLOCKS);
    const to = new FdWriter(fd, finish, () => {
      if (paused && !ended && room()) {
        paused = false;
        n.fdPollSet(poll!, true);
      }
    });
    const readable = () => {
      while (!ended && room()) {
        let b = free.pop();
        if (!b) blocks.push((b = Buffer.allocUnsafeSlow(BLOCK_BYTES)));
        let got: number;
        try {
          got = readSync(src, b, 0, b.length, null);
        } catch (err) {
          free.push(b);
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
          return finish();
        }
        if (got === 0) {
          free.push(b);
          return finish();
        }
        const block = b;
        to.write(masker.pushv(block.subarray(0, got)), () => free.push(block));
        if (got < block.length) return; // the pipe is empty: wait for the next readable
      }
      if (!ended && !paused) {
        paused = true;
        n.fdPollSet(poll!, false);
      }
    };
    try {
      poll = n.fdPoll(src, false, readable);
    } catch {
      finish();
    }
  });
}

/** Whether fd is a terminal (for the caller's stdout: then the child gets a pty). */
export const isTerminal = (fd: number): boolean => isatty(fd);

/** How a child ended: one of code and signal is set. */
export interface ChildEnd {
  code: number | null;
  signal: number | null;
}

export interface PtyChildOptions {
  /** The program, resolved already (execve does no PATH search). */
  file: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** The caller's stdin, stdout (a terminal) and stderr. */
  stdio: [number, number, number];
  /** stdout's masker (everything the pty shows) and stderr's (used when stderr is no terminal). */
  masker: { out: OutputMasker; err: OutputMasker };
  /** Close the caller's descriptors when the session ends (the agent's copies; not the CLI's own 0/1/2). */
  closeCallerFds: boolean;
}

export interface PtyChild {
  pid: number;
  /** Settles once the child has ended and all its output is written. */
  done: Promise<ChildEnd>;
  /** Sets the pty to the caller's terminal's current size (after a SIGWINCH). */
  resize(): void;
  /** A signal to the child's process group (it leads its own session). */
  kill(sig: NodeJS.Signals): void;
}

/**
 * Starts the child on a new pty. Its stdout is the pty; so are its stdin and stderr when the
 * caller's are terminals, else they are the caller's stdin and a masked pipe to the caller's
 * stderr, as without tvault. Throws (the addon's error, with .code and .syscall "execve" or
 * "chdir") when it cannot start, before anything is changed on the caller's terminal.
 */
export function spawnOnPty(o: PtyChildOptions): PtyChild {
  const n = native();
  const [inFd, outFd, errFd] = o.stdio;
  const inTty = isatty(inFd);
  const errTty = isatty(errFd);
  const size = n.ttySize(outFd) ?? DEFAULT_SIZE;
  const errPipe = errTty ? null : childPipe();
  const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
  let pid: number;
  let master: number;
  try {
    ({ pid, fd: master } = n.ptySpawn(o.file, o.argv, env, o.cwd, size.rows, size.cols, [inTty ? -1 : inFd, -1, errTty ? -1 : errPipe![1]]));
  } catch (err) {
    if (errPipe) errPipe.forEach((fd) => closeQuietly(fd));
    throw err;
  } finally {
    env.fill('');
  }
  if (errPipe) closeQuietly(errPipe[1]);
  if (!inTty && o.closeCallerFds) closeQuietly(inFd); // the child has its own copy

  let masterOpen = true;
  const out = new ReadStream(master);
  out.on('close', () => (masterOpen = false));
  const written = [maskedCopy(out, outFd, o.masker.out, { autoClose: o.closeCallerFds })];
  if (errPipe) written.push(maskedPump(errPipe[0], errFd, o.masker.err, { autoClose: o.closeCallerFds }));
  else if (o.closeCallerFds) closeQuietly(errFd);

  const input = inTty ? forwardInput(inFd, master, () => masterOpen) : null;
  // The pty's output has its line ends already: a terminal that is not the raw input one must
  // not add a second "\r" to each (it keeps its line editing and ^C for the caller, though).
  const output = inTty && sameTerminal(inFd, outFd) ? null : rawTerminal(outFd, true);
  const exited = waitForExit(pid);
  // Once the child is gone, whatever it wrote is drained; a grandchild that keeps the pty open
  // does not keep the session open (it gets the hangup when the master closes).
  void exited.then(() => drainThenClose(out, master));
  const done = Promise.all([exited, ...written]).then(([end]) => end);
  void done.finally(() => {
    input?.stop();
    output?.restore();
  });

  return {
    pid,
    done,
    resize: () => {
      const s = masterOpen ? n.ttySize(outFd) : null;
      if (s) {
        try {
          n.ptyResize(master, s.rows, s.cols);
        } catch {
          /* the pty is gone */
        }
      }
    },
    kill: (sig) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* gone already */
      }
    },
  };
}

/** Whether two descriptors are the same terminal device. */
function sameTerminal(a: number, b: number): boolean {
  try {
    return fstatSync(a).rdev === fstatSync(b).rdev;
  } catch {
    return false;
  }
}

/** fd's terminal in raw mode (or only its output processing off) until restore(), or this process's exit. */
function rawTerminal(fd: number, outputOnly: boolean): { restore(): void } {
  const saved = native().ttyRaw(fd, outputOnly);
  const restore = () => {
    if (saved) native().ttyRestore(fd, saved);
    process.off('exit', restore);
  };
  process.on('exit', restore);
  return { restore };
}

/**
 * The caller's terminal, in raw mode, typed into the pty. It is read non-blocking (no read may
 * block the agent); libuv reopens the terminal by name (a new open file description, so the
 * caller's shell's own stays blocking) when it can, for another uid's terminal it cannot, and
 * the passed description is non-blocking for the session. stop() restores the terminal's
 * settings and the descriptor's mode, also if this process exits first.
 */
function forwardInput(inFd: number, master: number, masterOpen: () => boolean): { stop(): void } {
  const pending: Buffer[] = [];
  let retry: NodeJS.Timeout | undefined;
  const flush = () => {
    retry = undefined;
    while (pending.length && masterOpen()) {
      let n: number;
      try {
        n = writeSync(master, pending[0]);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') retry = setTimeout(flush, INPUT_RETRY_MS);
        else pending.length = 0;
        return;
      }
      if (n < pending[0].length) pending[0] = pending[0].subarray(n);
      else pending.shift()!.fill(0);
    }
  };
  const keys = new ReadStream(inFd);
  // After the stream exists: libuv may have put a reopened description of the terminal on inFd,
  // and raw mode's O_NONBLOCK (and its undoing) then applies to that one only.
  const term = rawTerminal(inFd, false);
  keys.on('data', (chunk: Buffer) => {
    pending.push(Buffer.from(chunk));
    chunk.fill(0);
    if (!retry) flush();
  });
  keys.on('error', () => undefined);
  keys.on('end', () => {
    pending.push(EOF_BYTE);
    if (!retry) flush();
  });
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(retry);
      term.restore();
      keys.destroy();
    },
  };
}

/**
 * Reads on until the pty has been quiet for DRAIN_IDLE_MS (at most DRAIN_MAX_MS), then ends it
 * (EIO ends it sooner). What the pty holds at that moment is read first, synchronously (the
 * master is non-blocking): a loop that lagged past the timer must not drop the child's last words.
 */
function drainThenClose(out: ReadStream, master: number): void {
  if (out.destroyed) return;
  const close = () => {
    if (out.destroyed) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(master, buf);
      } catch {
        break; // EAGAIN: nothing left; EIO: the child side is closed
      }
      if (n <= 0) break;
      out.push(Buffer.from(buf.subarray(0, n)));
    }
    buf.fill(0);
    out.push(null); // the end, after whatever was pushed: the stream closes once it is consumed
  };
  let idle = setTimeout(close, DRAIN_IDLE_MS);
  const cap = setTimeout(close, DRAIN_MAX_MS);
  out.on('data', () => {
    clearTimeout(idle);
    idle = setTimeout(close, DRAIN_IDLE_MS);
  });
  out.on('close', () => {
    clearTimeout(idle);
    clearTimeout(cap);
  });
}

/** Children of ptySpawn still running, by pid (libuv reaps only the children it started itself). */
const running = new Map<number, (end: ChildEnd) => void>();
/** A missed SIGCHLD (they coalesce) is caught this much later at the latest. */
const REAP_POLL_MS = 250;
let poll: NodeJS.Timeout | undefined;

function reap(): void {
  for (const [pid, settle] of running) {
    let end: ChildEnd | null;
    try {
      end = native().waitPid(pid);
    } catch {
      end = { code: null, signal: null }; // reaped elsewhere: the status is lost
    }
    if (end) {
      running.delete(pid);
      settle(end);
    }
  }
  if (!running.size) {
    process.off('SIGCHLD', reap);
    clearInterval(poll);
    poll = undefined;
  }
}

function waitForExit(pid: number): Promise<ChildEnd> {
  return new Promise((settle) => {
    if (!running.size) {
      process.on('SIGCHLD', reap);
      poll = setInterval(reap, REAP_POLL_MS); // not unref'd: a run must not end before its child
    }
    running.set(pid, settle);
    reap(); // it may have ended already
  });
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}
