// Types for @tvault/native (CommonJS). See README.md for what each primitive is for.

/** Kernel-attested credentials of the peer of a connected AF_UNIX stream socket. */
export interface PeerCred {
  uid: number;
  gid: number;
  /** Linux: 0 if the peer is in another pid namespace. macOS: -1 if LOCAL_PEERPID is unavailable. */
  pid: number;
}

/** Which hardening steps took effect. `true` always means "the protection is now on". */
export interface HardenResult {
  /** Linux: PR_SET_DUMPABLE(0) succeeded and was verified, i.e. the process is now NOT dumpable. false on macOS. */
  dumpable: boolean;
  /** RLIMIT_CORE was set to {0, 0} (no core files). */
  coreLimit: boolean;
  /** macOS: ptrace(PT_DENY_ATTACH) succeeded. false on Linux (non-dumpable covers it there). */
  denyAttach: boolean;
  /** The soft RLIMIT_CORE before the call (Infinity = unlimited), for setCoreLimit. */
  coreSoftBefore: number;
}

/** An Error from a failed system call. */
export interface NativeSyscallError extends Error {
  /** e.g. "ENOTCONN", "EBADF"; "EUNKNOWN" for errnos without a mapped name. */
  code: string;
  errno: number;
  syscall: string;
}

/**
 * Peer uid/gid/pid of a connected unix socket (Linux SO_PEERCRED; macOS getpeereid + LOCAL_PEERPID).
 * Throws NativeSyscallError if fd is not a connected, non-listening AF_UNIX socket. Callers must fail closed.
 * @throws TypeError if fd is not a non-negative integer.
 */
export declare function peerCred(fd: number): PeerCred;

/**
 * flock(fd, LOCK_EX | LOCK_NB). true = acquired (or already held through this open file description),
 * false = held by another open file description (EWOULDBLOCK). Throws NativeSyscallError otherwise.
 */
export declare function flockExclusive(fd: number): boolean;

/**
 * Make this process non-dumpable / deny debugger attach, and disable core files (RLIMIT_CORE 0/0).
 * harden(true), the CLI's variant, sets only the soft limit to 0 and keeps the hard limit, so that a
 * child can be given the caller's limit back with setCoreLimit. Never throws on Linux/macOS.
 */
export declare function harden(softCoreLimitOnly?: boolean): HardenResult;

/** Set the soft RLIMIT_CORE (Infinity = unlimited), capped by the hard limit. false if refused. */
export declare function setCoreLimit(soft: number): boolean;

/**
 * Move the named variables (at most 8) out of the process's initial environment block, the bytes
 * that /proc/PID/environ shows (to root too), into heap copies, and wipe the original value bytes.
 * getenv and process.env still see the values. Returns how many values were wiped.
 */
export declare function scrubEnv(names: string[]): number;

/** Lock the pages under buf into RAM. false if the OS refuses (EPERM/ENOMEM/EAGAIN, e.g. RLIMIT_MEMLOCK). */
export declare function mlock(buf: Uint8Array): boolean;

/** Unlock the pages under buf (this also unlocks any other data sharing those pages). */
export declare function munlock(buf: Uint8Array): boolean;

/** Overwrite the bytes of buf (only its view: byteOffset..byteOffset+byteLength) with zeros. */
export declare function zero(buf: Uint8Array): void;

/**
 * Send one datagram `message` to the systemd notify socket `address` ("/path" or "@abstract", e.g.
 * process.env.NOTIFY_SOCKET). true = sent; false = not delivered (no listener, ENOENT, ECONNREFUSED,
 * receiver queue full, ...). Throws RangeError for a malformed/too-long address, TypeError for non-strings.
 */
export declare function sdNotify(address: string, message: string): boolean;

/**
 * One synchronous request on the agent's unix socket: connect, send `request`, half-close, and read
 * until the first newline or EOF, all within `timeoutMs`. Returns what arrived (possibly a partial
 * line after a timeout or reset: the caller parses it), or null when nothing listens at `path` or the
 * answer grows past `maxBytes`. The addon's copy of the answer is wiped before it is freed.
 *
 * With `checkDir`, the socket's directory is opened without following a link, checked on the open
 * directory (not group/other-writable; owned by this euid or root, or by anyone with 'any'), the
 * socket looked up in it without following a link, and the connect made through that same open
 * directory (Linux: /proc/self/fd/N/NAME). A refusal throws an Error whose code is EDIRWRITABLE or
 * EDIROWNER (with .uid, the directory's owner), EDIRLINK (a symlink with a socket behind it), or,
 * without /proc, EDIRSWAP (the listener is neither this user nor the directory's owner).
 */
export declare function agentCall(path: string, request: Uint8Array, timeoutMs: number, maxBytes: number, checkDir?: 'own' | 'any'): Buffer | null;

/**
 * The file descriptor under a connected node:net Socket (its internal `_handle.fd`: the one place
 * that reaches for it), or -1 when it has none, which peerCred refuses. Pure JS, no system call.
 */
export declare function socketFd(socket: import('node:net').Socket): number;

/**
 * One non-blocking sendmsg on a connected unix stream socket: `data` (at least one byte) with
 * `fds` (at most 8) attached as SCM_RIGHTS. Returns the bytes sent; the descriptors travel with
 * the first of them, and the caller writes the rest without. Throws NativeSyscallError (EAGAIN too).
 */
export declare function sendFds(sock: number, fds: number[], data: Uint8Array): number;

/** What one recvFds call got. The caller owns `fds` and must close them. */
export interface RecvFdsResult {
  /** The bytes read; empty at end of input. */
  data: Buffer;
  /** The descriptors received (close-on-exec), at most maxFds. */
  fds: number[];
  /** More descriptors were sent than maxFds: the extra ones were closed, never handed on. */
  truncated: boolean;
}

/**
 * One non-blocking recvmsg (MSG_CMSG_CLOEXEC) of at most `maxBytes` (1..2^20) keeping at most
 * `maxFds` (0..8) passed descriptors. null when nothing is there yet (EAGAIN).
 */
export declare function recvFds(sock: number, maxBytes: number, maxFds: number): RecvFdsResult | null;

/**
 * The connect of agentCall alone, with the same directory checks (`checkDir`), for a client that
 * keeps the connection (brokered exec). The connected fd (non-blocking, close-on-exec), or -1 when
 * nobody listens at `path`; a refused directory throws as agentCall does.
 */
export declare function agentConnect(path: string, timeoutMs: number, checkDir: 'own' | 'any'): number;

/** pipe(2): [readFd, writeFd], both close-on-exec (the client API passes a write end to the agent). */
export declare function pipe(): [number, number];

/** A child started on a new pseudo-terminal: its pid and the pty's master (non-blocking, close-on-exec). */
export interface PtyChildHandle {
  pid: number;
  fd: number;
}

/**
 * Opens a pty of rows x cols and starts `file` on it with exactly `argv` and `env` ("NAME=value"
 * strings; execve: no PATH search, nothing of this process's environment) in `cwd`. The child has
 * default signal actions and an empty mask, leads a new session with the pty as its controlling
 * terminal, and gets as 0, 1, 2 what `stdio` says: a descriptor of the caller, or -1 for the pty.
 * Returns once the child has exec'd; a failure throws NativeSyscallError with `syscall` "execve",
 * "chdir", "setsid", "openpty", "pipe" or "fork" (a child that failed is reaped). Reap `pid` with waitPid.
 */
export declare function ptySpawn(
  file: string,
  argv: string[],
  env: string[],
  cwd: string,
  rows: number,
  cols: number,
  stdio: [number, number, number],
): PtyChildHandle;

/** TIOCSWINSZ on a pty master: the child's foreground group gets SIGWINCH. */
export declare function ptyResize(fd: number, rows: number, cols: number): void;

/** The size of the terminal on fd (TIOCGWINSZ), or null when fd is no terminal or reports 0x0. */
export declare function ttySize(fd: number): { rows: number; cols: number } | null;

/**
 * Puts the terminal on fd in raw mode (cfmakeraw) and the descriptor in non-blocking mode, or
 * with outputOnly only turns its output processing off (OPOST: a pty's output already has its
 * "\r\n"), and returns the settings and mode before (opaque, for ttyRestore), or null when fd
 * is no terminal.
 */
export declare function ttyRaw(fd: number, outputOnly?: boolean): Buffer | null;

/** The settings of the terminal on fd, unchanged (opaque, for ttyRestore), or null when fd is no terminal. */
export declare function ttySave(fd: number): Buffer | null;

/** Restores what ttyRaw or ttySave returned (the settings and the descriptor's O_NONBLOCK); false when fd is no (longer a) terminal. */
export declare function ttyRestore(fd: number, saved: Uint8Array): boolean;

/**
 * waitpid(pid, WNOHANG) for a child of ptySpawn: null while it runs, else how it ended (reaped):
 * `code` for an exit, `signal` (its number) for a death by signal, the other null.
 */
export declare function waitPid(pid: number): { code: number | null; signal: number | null } | null;

/**
 * The masker's hot loop (packages/agent/src/masker.ts): the dense part of its Aho-Corasick
 * automaton (`delta`: dense x classes row offsets, negative -1 - target where something is to do;
 * `cls`: 256 byte classes; `warm`: the longest pattern's length) over buf from `from` in dense
 * state `state`, up to the first byte whose entry is negative, or buf.length. Returns that index;
 * out[0] gets the state reached there. The tables are checked, never trusted: a wrong shape, a
 * class or state out of range, or an entry that points past the table throws RangeError; no
 * input makes it read outside its arrays. With `grams` (a 2^17-bit bitmap of every pattern's
 * 4-grams at offsets 0..3, hashed as masker.ts's gramHash) and `depth` (each dense state's depth),
 * when every pattern and every stopping state is at least 7 bytes long, it skips the bytes where
 * no pattern can be under way, with the same answer; wrong tables give a wrong answer, never a
 * read outside them.
 */
export declare function maskScan(
  delta: Int32Array,
  cls: Uint8Array,
  dense: number,
  classes: number,
  warm: number,
  buf: Uint8Array,
  from: number,
  state: number,
  out: Int32Array,
  grams?: Uint8Array,
  depth?: Uint8Array,
): number;

/**
 * Sets fd (a pipe end of this process) O_NONBLOCK and, on Linux, asks for a pipe buffer of `size`
 * bytes (F_SETPIPE_SZ; a refusal, e.g. over the per-user quota, keeps the old size). Returns the
 * size after, or -1 where it cannot be known.
 */
export declare function pipeTune(fd: number, size: number): number;

/** An fdPoll handle (opaque). */
export type FdPollHandle = { readonly __fdPoll: unique symbol };

/**
 * libuv's uv_poll on fd: cb(status) on the event loop whenever fd is readable (or, with
 * `writable`, writable); status 0 or a negative libuv error. Level-triggered, started at once.
 * Throws (uv_poll_init) for a descriptor that cannot be polled (a regular file).
 */
export declare function fdPoll(fd: number, writable: boolean, cb: (status: number) => void): FdPollHandle;

/** Stops (false) or restarts (true) an fdPoll handle. */
export declare function fdPollSet(handle: FdPollHandle, on: boolean): void;

/** Ends an fdPoll handle for good (call it before closing its fd); again is a no-op. */
export declare function fdPollClose(handle: FdPollHandle): void;

/**
 * A non-blocking, close-on-exec AF_UNIX stream socket bound at `path` (with the caller's umask,
 * which gives the socket its mode) and listening with `backlog`. Throws NativeSyscallError
 * (EADDRINUSE, ENAMETOOLONG for a path longer than sun_path...).
 */
export declare function unixListen(path: string, backlog: number): number;

/** An acceptor handle (opaque). */
export type AcceptorHandle = { readonly __acceptor: unique symbol };

/**
 * Accepts on the listening socket `fd` on the event loop (uv_poll), up to 64 connections per
 * wakeup, and calls cb for each: cb(fd, uid, gid, pid, 0) with the peer's kernel-attested
 * credentials (SO_PEERCRED; macOS getpeereid); cb(fd, -1, -1, -1, errno) when they cannot be read
 * (the caller must refuse the peer, fail closed). The accepted fd is non-blocking and the
 * callback's to close. When accept itself fails (EMFILE...): cb(-errno, -1, -1, -1, errno) and the
 * acceptor stops until acceptorSet(handle, true). After the connections of one wakeup (at least
 * one), cb(-1, -1, -1, -1, 0): all of them were accepted before it. Nothing is read from a
 * connection.
 */
export declare function acceptor(fd: number, cb: (fd: number, uid: number, gid: number, pid: number, err: number) => void): AcceptorHandle;

/** Stops (false) or restarts (true) an acceptor; a closed one is ignored. */
export declare function acceptorSet(handle: AcceptorHandle, on: boolean): void;

/** Ends an acceptor for good (before its listening fd is closed); again is a no-op. */
export declare function acceptorClose(handle: AcceptorHandle): void;

/**
 * One non-blocking recv of at most `max` bytes (≤ 128 KiB): a Buffer of what arrived (empty at
 * end of input), or null when nothing is there yet. The addon's scratch copy is wiped.
 */
export declare function fdRecv(fd: number, max: number): Buffer | null;

/**
 * Sends `bytes` on a non-blocking socket as far as it takes them. Returns bytes.length when all
 * went (the fd is then closed); fewer when the socket is full (the fd stays open: the caller
 * writes the rest); -1 when the send failed (the peer is gone; the fd is closed).
 */
export declare function fdSendClose(fd: number, bytes: Uint8Array): number;

/** close(2) of a descriptor from acceptor that no one else owns. */
export declare function fdClose(fd: number): void;

/**
 * The libsodium secretboxOpenRows opens with (the system's, loaded with dlopen the first time:
 * `libsodium.so.23` on Linux), or null when there is none; then secretboxOpenRows throws and the
 * caller opens a value at a time.
 */
export declare function secretboxLib(): string | null;

/**
 * Opens rows [from, to) of `table` (4 u32 a row: envelope offset and length in `packed`, expected
 * header offset and length in `packed`) with crypto_secretbox_open_easy into `out`, which must be
 * exactly their plaintexts side by side (envelope length - 41 each, 0 for a shorter one), and
 * compares each plaintext's start with its header (constant time in the header's length). -1 when
 * all open; else 2 * i + kind for the first row i refused (0: malformed, wrong version or the MAC
 * fails; 1: another header), with `out` zeroed. An offset or length outside its Buffer, a table of
 * the wrong shape or an `out` of the wrong length is a RangeError (out zeroed), never a read or
 * write outside them.
 */
export declare function secretboxOpenRows(key: Uint8Array, packed: Uint8Array, table: Uint32Array, from: number, to: number, out: Uint8Array): number;

/**
 * The shell format's lines for a range of opened values, byte for byte core's shellLinesBytes:
 * `[export ]NAME='value'\n` a row, each ' of a value written '\''. `spans`: 2 u32 a row, the
 * value's offset and length in `plain`; row k's name is at nameSpans[2 * (first + k)] (offset,
 * length in `names`). A span outside its Buffer or a name that is not [A-Za-z_][A-Za-z0-9_]* is a
 * RangeError, before anything is written. Returns a new Buffer, which the caller zeroes.
 */
export declare function shellLines(plain: Uint8Array, spans: Uint32Array, names: Uint8Array, nameSpans: Uint32Array, first: number, exp: boolean): Buffer;
