/*
 * tvault_native: the few OS primitives tvault needs that Node does not expose.
 *
 * Plain C against the stable Node-API (node_api.h), no node-addon-api.
 * Linux is the primary platform; macOS has its own branches; anything else
 * throws "unsupported" at call time (and still compiles).
 *
 * Conventions:
 *   - wrong argument type/shape       -> TypeError  (never crash the process)
 *   - right type, unusable value      -> RangeError (sdNotify address only)
 *   - a system call failed            -> Error with .code (e.g. "ENOTCONN"),
 *                                        .errno and .syscall, message has strerror
 */
#if defined(__linux__)
#define _GNU_SOURCE /* struct ucred, SOCK_CLOEXEC */
#endif

#include <node_api.h>
#include "napi_args.h"
#include "secretbox_rows.h"
#include <uv.h>

#include "agent_dial.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE on the socket instead */
#endif

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) || defined(__APPLE__)
#define TVAULT_POSIX 1
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#if defined(__APPLE__)
#include <sys/ptrace.h>
#endif

/* ---------- small helpers ---------------------------------------------- */

/* Bail out of a binding if a Node-API call failed (an exception is pending or the env is broken). */
#define NAPI_OK(call)                                                          \
  do {                                                                         \
    if ((call) != napi_ok) return NULL;                                        \
  } while (0)

/* Throw a TypeError and return NULL, so misuse is a JS exception, not a crash. */
napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* Throw a RangeError for values of the right type that cannot be used. */
napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_INVALID_ARG_VALUE", msg);
  return NULL;
}

#ifdef TVAULT_POSIX

/* errno -> short code string for the few errors callers may want to branch on. */
static const char *errno_code(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOENT: return "ENOENT";
    case ENOEXEC: return "ENOEXEC"; /* the exec errors (ptySpawn) that run maps to 126 */
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case ETXTBSY: return "ETXTBSY";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case ENOTCONN: return "ENOTCONN";
    case ENOTSOCK: return "ENOTSOCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPERM: return "EPERM";
    case EADDRINUSE: return "EADDRINUSE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EROFS: return "EROFS";
    case ENOSPC: return "ENOSPC";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    default: return "EUNKNOWN";
  }
}

/* Throw an Error carrying errno, so callers can log why they refused (fail closed). */
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char msg[256];
  napi_value js_msg, js_code, js_err, js_errno, js_syscall;
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  NAPI_OK(napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg));
  NAPI_OK(napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &js_code));
  NAPI_OK(napi_create_error(env, js_code, js_msg, &js_err));
  NAPI_OK(napi_create_int32(env, err, &js_errno));
  NAPI_OK(napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall));
  NAPI_OK(napi_set_named_property(env, js_err, "errno", js_errno));
  NAPI_OK(napi_set_named_property(env, js_err, "syscall", js_syscall));
  napi_throw(env, js_err);
  return NULL;
}
#else
/* Platforms other than Linux/macOS compile, but every primitive refuses loudly. */
static napi_value throw_unsupported(napi_env env) {
  napi_throw_error(env, "ERR_TVAULT_UNSUPPORTED", "tvault_native: unsupported platform");
  return NULL;
}
#endif

/* Fetch exactly `want` arguments (missing ones read as undefined and fail type checks). */
static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok;
}

/* A file descriptor must be an integral Number in [0, INT_MAX]: no coercion, no truncation. */
static int get_fd(napi_env env, napi_value v, int *fd) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= INT_MAX) || floor(d) != d) return 0; /* also rejects NaN */
  *fd = (int)d;
  return 1;
}

/* Only Uint8Array (Buffer is one) is accepted, so "bytes" always means bytes. */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  /* data is already adjusted by byteOffset; fetching it pins on-heap arrays off-heap. */
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok) return 0;
  return type == napi_uint8_array;
}

static napi_value make_bool(napi_env env, bool b) {
  napi_value r;
  NAPI_OK(napi_get_boolean(env, b, &r));
  return r;
}

/* ---------- peerCred ----------------------------------------------------- */

/* Kernel-attested identity of the process on the other end of a unix socket: the agent's authz check. */
static napi_value PeerCred(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "peerCred(fd): fd must be a non-negative integer");
#ifdef TVAULT_POSIX
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  uint32_t uid, gid;
  int32_t pid;
  memset(&ss, 0, sizeof ss);
  /* Refuse anything but a unix socket: other families have no kernel-attested peer. */
  if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) return throw_errno(env, errno, "getsockname");
  if (ss.ss_family != AF_UNIX) return throw_errno(env, EINVAL, "peerCred(not an AF_UNIX socket)");
#ifdef SO_ACCEPTCONN
  {
    /* A listening socket reports its *own* creds; passing the server fd by mistake must not pass authz. */
    int listening = 0;
    socklen_t l = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) != 0)
      return throw_errno(env, errno, "getsockopt(SO_ACCEPTCONN)");
    if (listening) return throw_errno(env, EINVAL, "peerCred(listening socket)");
  }
#endif
#if defined(__linux__)
  {
    struct ucred cred;
    socklen_t len = sizeof cred;
    memset(&cred, 0, sizeof cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
      return throw_errno(env, errno, "getsockopt(SO_PEERCRED)");
    if (len != sizeof cred) return throw_errno(env, EINVAL, "getsockopt(SO_PEERCRED) short read");
    /* The kernel reports uid/gid -1 when the socket has no peer (never connected). */
    if (cred.uid == (uid_t)-1 || cred.gid == (gid_t)-1) return throw_errno(env, ENOTCONN, "getsockopt(SO_PEERCRED)");
    uid = (uint32_t)cred.uid;
    gid = (uint32_t)cred.gid;
    pid = (int32_t)cred.pid; /* 0 if the peer lives in another pid namespace */
  }
#elif defined(__APPLE__)
  {
    uid_t u;
    gid_t g;
    pid_t p = -1;
    socklen_t len = sizeof p;
    if (getpeereid(fd, &u, &g) != 0) return throw_errno(env, errno, "getpeereid");
    /* LOCAL_PEERPID is informational (10.8+); uid/gid above are what authz uses. */
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) != 0 || len != sizeof p) p = -1;
    uid = (uint32_t)u;
    gid = (uint32_t)g;
    pid = (int32_t)p;
  }
#endif
  napi_value obj, v;
  NAPI_OK(napi_create_object(env, &obj));
  NAPI_OK(napi_create_uint32(env, uid, &v));
  NAPI_OK(napi_set_named_property(env, obj, "uid", v));
  NAPI_OK(napi_create_uint32(env, gid, &v));
  NAPI_OK(napi_set_named_property(env, obj, "gid", v));
  NAPI_OK(napi_create_int32(env, pid, &v));
  NAPI_OK(napi_set_named_property(env, obj, "pid", v));
  return obj;
#else
  (void)fd;
  return throw_unsupported(env);
#endif
}

/* ---------- flockExclusive ---------------------------------------------- */

/* Single-instance lock that the kernel drops when the process dies (no stale pid files). */
static napi_value FlockExclusive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "flockExclusive(fd): fd must be a non-negative integer");
#ifdef TVAULT_POSIX
  int rc;
  do rc = flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc == 0) return make_bool(env, true);
  if (errno == EWOULDBLOCK) return make_bool(env, false);
  return throw_errno(env, errno, "flock");
#else
  (void)fd;
  return throw_unsupported(env);
#endif
}

/* ---------- harden -------------------------------------------------------- */

#ifdef TVAULT_POSIX
/* An rlimit as a JS number: RLIM_INFINITY is Infinity. */
static napi_value rlim_value(napi_env env, rlim_t r) {
  napi_value v;
  NAPI_OK(napi_create_double(env, r == RLIM_INFINITY ? INFINITY : (double)r, &v));
  return v;
}
#endif

/*
 * Keep same-uid debuggers and core dumps away from key material held in memory.
 * harden(true) is the client's variant: the soft core limit becomes 0 but the hard limit stays,
 * so that a child started later (tvault run) can be given the caller's limit back (setCoreLimit).
 */
static napi_value Harden(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool soft_only = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_bool(env, argv[0], &soft_only) != napi_ok) soft_only = false; /* undefined: the agent's 0/0 */
#ifdef TVAULT_POSIX
  bool dumpable = false, core_limit = false, deny_attach = false;
  struct rlimit before = {0, 0}, core = {0, 0};
  if (getrlimit(RLIMIT_CORE, &before) != 0) before.rlim_cur = before.rlim_max = 0;
  if (soft_only) core.rlim_max = before.rlim_max;
  core_limit = setrlimit(RLIMIT_CORE, &core) == 0;
#if defined(__linux__)
  /* Non-dumpable: no same-uid ptrace or /proc/PID/mem; /proc/PID files owned by root. Verified, not assumed. */
  dumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0;
#elif defined(__APPLE__)
  /* macOS has no dumpable flag; PT_DENY_ATTACH makes later ptrace/debugger attaches fail. */
  deny_attach = ptrace(PT_DENY_ATTACH, 0, 0, 0) == 0;
#endif
  napi_value obj, was;
  NAPI_OK(napi_create_object(env, &obj));
  NAPI_OK(napi_set_named_property(env, obj, "dumpable", make_bool(env, dumpable)));
  NAPI_OK(napi_set_named_property(env, obj, "coreLimit", make_bool(env, core_limit)));
  NAPI_OK(napi_set_named_property(env, obj, "denyAttach", make_bool(env, deny_attach)));
  was = rlim_value(env, before.rlim_cur);
  if (was == NULL) return NULL;
  NAPI_OK(napi_set_named_property(env, obj, "coreSoftBefore", was));
  return obj;
#else
  return throw_unsupported(env);
#endif
}

/* Set the soft RLIMIT_CORE (Infinity = unlimited), within the hard limit; false if refused. */
static napi_value SetCoreLimit(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  double soft;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_double(env, argv[0], &soft) != napi_ok || !(soft >= 0)) return throw_type(env, "setCoreLimit(soft): soft must be a number >= 0 or Infinity");
#ifdef TVAULT_POSIX
  {
    struct rlimit r;
    if (getrlimit(RLIMIT_CORE, &r) != 0) return make_bool(env, false);
    r.rlim_cur = isinf(soft) ? RLIM_INFINITY : (rlim_t)soft;
    if (r.rlim_max != RLIM_INFINITY && (r.rlim_cur == RLIM_INFINITY || r.rlim_cur > r.rlim_max)) r.rlim_cur = r.rlim_max;
    return make_bool(env, setrlimit(RLIMIT_CORE, &r) == 0);
  }
#else
  return throw_unsupported(env);
#endif
}

/* ---------- mlock / munlock ------------------------------------------------ */

#ifdef TVAULT_POSIX
/* Widen [p, p+len) to whole pages: POSIX allows EINVAL for unaligned addresses. */
static void page_span(void *p, size_t len, void **start, size_t *span) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = (uintptr_t)p & ~(page - 1);
  uintptr_t b = ((uintptr_t)p + len + page - 1) & ~(page - 1);
  *start = (void *)a;
  *span = (size_t)(b - a);
}
#endif

/* Shared body: lock (or unlock) the pages under a Uint8Array; "refused" is false, not an exception. */
static napi_value lock_common(napi_env env, napi_callback_info info, int lock) {
  napi_value argv[1];
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_bytes(env, argv[0], &data, &len))
    return throw_type(env, lock ? "mlock(buf): buf must be a Buffer or Uint8Array"
                                : "munlock(buf): buf must be a Buffer or Uint8Array");
#ifdef TVAULT_POSIX
  void *start;
  size_t span;
  if (len == 0 || data == NULL) return make_bool(env, true); /* nothing to lock */
  page_span(data, len, &start, &span);
  if ((lock ? mlock(start, span) : munlock(start, span)) == 0) return make_bool(env, true);
  if (errno == EPERM || errno == ENOMEM || errno == EAGAIN) return make_bool(env, false);
  return throw_errno(env, errno, lock ? "mlock" : "munlock");
#else
  return throw_unsupported(env);
#endif
}

/* Keep secret bytes out of swap (best effort; see README for page-sharing caveats). */
static napi_value Mlock(napi_env env, napi_callback_info info) { return lock_common(env, info, 1); }

/* Undo mlock before a buffer is released. */
static napi_value Munlock(napi_env env, napi_callback_info info) { return lock_common(env, info, 0); }

/* ---------- zero ------------------------------------------------------------ */


/* Zeroing primitive for JS callers (belt and braces next to buf.fill(0)). */
static napi_value Zero(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_bytes(env, argv[0], &data, &len)) return throw_type(env, "zero(buf): buf must be a Buffer or Uint8Array");
  if (data != NULL && len > 0) tv_wipe(data, len);
  return NULL; /* undefined */
}

/* ---------- sdNotify -------------------------------------------------------- */

static bool is_string(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_string;
}

/* Copy a JS string into a malloc'd, NUL-terminated UTF-8 buffer with its exact byte length (caller frees). */
static char *get_utf8(napi_env env, napi_value v, size_t *len) {
  char *s;
  if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok) return NULL;
  s = malloc(*len + 1);
  if (s == NULL) return NULL;
  if (napi_get_value_string_utf8(env, v, s, *len + 1, len) != napi_ok) {
    free(s);
    return NULL;
  }
  return s;
}

#ifdef TVAULT_POSIX
/* Build the sockaddr for "/path" or "@abstract"; returns 0 and sets *why on a bad address. */
static int notify_addr(const char *a, size_t alen, struct sockaddr_un *sa, socklen_t *salen, const char **why) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (alen < 2 || (a[0] != '/' && a[0] != '@')) {
    *why = "sdNotify(address): must be an absolute path or an '@' abstract name";
    return 0;
  }
  if (memchr(a, '\0', alen) != NULL) {
    *why = "sdNotify(address): must not contain NUL bytes";
    return 0;
  }
  if (a[0] == '@') {
#if defined(__linux__)
    /* Abstract: leading NUL, then the name; the length is exact (no trailing NULs, they would be part of the name). */
    if (alen > sizeof sa->sun_path) {
      *why = "sdNotify(address): abstract name too long";
      return 0;
    }
    memcpy(sa->sun_path + 1, a + 1, alen - 1);
    *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
    return 1;
#else
    *why = "sdNotify(address): abstract sockets exist only on Linux";
    return 0;
#endif
  }
  if (alen >= sizeof sa->sun_path) { /* keep room for the terminating NUL */
    *why = "sdNotify(address): socket path too long";
    return 0;
  }
  memcpy(sa->sun_path, a, alen);
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen + 1);
  return 1;
}

/* One non-blocking datagram; false if nobody received it (systemd may not be listening). */
static int notify_send(const struct sockaddr_un *sa, socklen_t salen, const char *msg, size_t mlen, int *err) {
  ssize_t n;
#if defined(__linux__)
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd >= 0 && (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0)) {
    *err = errno;
    close(fd);
    return -1;
  }
#endif
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  do n = sendto(fd, msg, mlen, 0, (const struct sockaddr *)sa, salen);
  while (n < 0 && errno == EINTR);
  *err = n < 0 ? errno : 0;
  close(fd);
  return n >= 0 && (size_t)n == mlen;
}
#endif

/* systemd readiness/status (NOTIFY_SOCKET), including abstract '@' sockets that unix-dgram cannot reach. */
static napi_value SdNotify(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t alen = 0, mlen = 0;
  char *addr, *msg;
  napi_value result = NULL;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!is_string(env, argv[0])) return throw_type(env, "sdNotify(address, message): address must be a string");
  if (!is_string(env, argv[1])) return throw_type(env, "sdNotify(address, message): message must be a string");
  addr = get_utf8(env, argv[0], &alen);
  msg = addr ? get_utf8(env, argv[1], &mlen) : NULL;
  if (addr == NULL || msg == NULL) {
    free(addr);
    napi_throw_error(env, NULL, "sdNotify: out of memory");
    return NULL;
  }
#ifdef TVAULT_POSIX
  {
    struct sockaddr_un sa;
    socklen_t salen = 0;
    const char *why = NULL;
    int err = 0, sent;
    if (!notify_addr(addr, alen, &sa, &salen, &why)) {
      throw_range(env, why);
    } else {
      sent = notify_send(&sa, salen, msg, mlen, &err);
      if (sent < 0) throw_errno(env, err, "socket");
      else result = make_bool(env, sent == 1);
    }
  }
#else
  throw_unsupported(env);
#endif
  free(addr);
  free(msg);
  return result;
}

/* ---------- scrubEnv ------------------------------------------------------ */

#ifdef TVAULT_POSIX
extern char **environ;

static int env_entry_is(const char *entry, const char *name, size_t nlen) {
  return strncmp(entry, name, nlen) == 0 && entry[nlen] == '=';
}

#if defined(__linux__)
/* [env_start, env_end) of this process: the bytes /proc/PID/environ shows (fields 50 and 51 of /proc/self/stat). */
static int initial_env_block(char **start, char **end) {
  char buf[2048];
  ssize_t n;
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field = 2;
  unsigned long long a = 0, b = 0;
  char *p;
  if (fd < 0) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (p == NULL) return 0;
  for (p++; *p && field < 50; p++) if (*p == ' ') field++;
  if (sscanf(p, "%llu %llu", &a, &b) != 2 || a == 0 || b <= a) return 0;
  *start = (char *)(uintptr_t)a;
  *end = (char *)(uintptr_t)b;
  return 1;
}
#endif
#endif

/*
 * Move the named variables out of the process's initial environment block (what
 * /proc/PID/environ shows, to root too) into heap copies, and wipe the original value bytes.
 * getenv and process.env still see the values. Returns how many values were wiped.
 */
static napi_value ScrubEnv(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_array = false;
  uint32_t count = 0, i;
  char names[8][64];
  size_t lens[8];
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) return throw_type(env, "scrubEnv(names): names must be an array of strings");
  NAPI_OK(napi_get_array_length(env, argv[0], &count));
  if (count > 8) return throw_type(env, "scrubEnv(names): at most 8 names");
  for (i = 0; i < count; i++) {
    napi_value v;
    NAPI_OK(napi_get_element(env, argv[0], i, &v));
    if (!is_string(env, v) || napi_get_value_string_utf8(env, v, names[i], sizeof names[i], &lens[i]) != napi_ok || lens[i] == 0 ||
        lens[i] >= sizeof names[i] - 1 || strchr(names[i], '=') != NULL)
      return throw_type(env, "scrubEnv(names): each name must be a non-empty string of at most 62 bytes without '='");
  }
#ifdef TVAULT_POSIX
  {
    int wiped = 0;
    napi_value r;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
      for (i = 0; i < count; i++) {
        if (!env_entry_is(*e, names[i], lens[i])) continue;
        size_t len = strlen(*e);
        char *copy = malloc(len + 1), *orig = *e;
        if (copy == NULL) {
          napi_throw_error(env, NULL, "scrubEnv: out of memory");
          return NULL;
        }
        memcpy(copy, orig, len + 1);
        *e = copy; /* never freed: getenv's callers may hold it, as with putenv */
        tv_wipe(orig + lens[i] + 1, len - lens[i] - 1);
        wiped++;
        break;
      }
    }
#if defined(__linux__)
    {
      /* Entries environ no longer points to (a duplicate, one unset before now) are still shown. */
      char *p, *end;
      if (initial_env_block(&p, &end)) {
        while (p < end) {
          size_t len = strnlen(p, (size_t)(end - p));
          for (i = 0; i < count; i++) {
            if (len > lens[i] && env_entry_is(p, names[i], lens[i])) {
              char *v = p + lens[i] + 1;
              size_t vlen = len - lens[i] - 1, k;
              for (k = 0; k < vlen && v[k] == '\0'; k++) {}
              if (k < vlen) {
                tv_wipe(v, vlen);
                wiped++;
              }
            }
          }
          p += len + 1;
        }
      }
    }
#endif
    NAPI_OK(napi_create_int32(env, wiped, &r));
    return r;
  }
#else
  return throw_unsupported(env);
#endif
}

/* ---------- agentCall ------------------------------------------------------- */

#ifdef TVAULT_POSIX
/* A refusal of the socket's directory, thrown with a code (and the owner's uid) the client words. */
static napi_value throw_dir(napi_env env, const struct dial_refusal *why) {
  napi_value js_msg, js_code, js_err, js_uid;
  NAPI_OK(napi_create_string_utf8(env, why->msg, NAPI_AUTO_LENGTH, &js_msg));
  NAPI_OK(napi_create_string_utf8(env, why->code, NAPI_AUTO_LENGTH, &js_code));
  NAPI_OK(napi_create_error(env, js_code, js_msg, &js_err));
  NAPI_OK(napi_create_uint32(env, (uint32_t)why->uid, &js_uid));
  NAPI_OK(napi_set_named_property(env, js_err, "uid", js_uid));
  napi_throw(env, js_err);
  return NULL;
}

/* agent_dial's checked connect; -2 leaves the refusal thrown. */
static int connect_checked(napi_env env, const char *path, size_t plen, int any_owner, int64_t deadline) {
  struct dial_refusal why;
  int fd = tv_connect_checked(path, plen, any_owner, deadline, &why);
  if (fd == -2) throw_dir(env, &why);
  return fd;
}
#endif

/*
 * One synchronous request/answer on the agent's socket, for the client's hot path: a Node
 * client pays ~3 ms here for loading node:net and a few event-loop turns; this costs a dlopen.
 * null when nobody listens there, or the answer is larger than maxBytes.
 */
static napi_value AgentCall(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  void *req = NULL;
  size_t plen = 0, rlen = 0;
  double timeout_ms, max_bytes;
  char *path, check[8] = "";
  napi_valuetype t5;
  if (!get_args(env, info, 5, argv)) return NULL;
  if (napi_typeof(env, argv[4], &t5) != napi_ok) return NULL;
  if (t5 != napi_undefined) {
    size_t clen = 0;
    if (t5 != napi_string || napi_get_value_string_utf8(env, argv[4], check, sizeof check, &clen) != napi_ok ||
        (strcmp(check, "own") != 0 && strcmp(check, "any") != 0))
      return throw_type(env, "agentCall: checkDir must be 'own' or 'any'");
  }
  if (!is_string(env, argv[0])) return throw_type(env, "agentCall(path, request, timeoutMs, maxBytes): path must be a string");
  if (!get_bytes(env, argv[1], &req, &rlen)) return throw_type(env, "agentCall: request must be a Buffer or Uint8Array");
  if (napi_get_value_double(env, argv[2], &timeout_ms) != napi_ok || !(timeout_ms >= 1 && timeout_ms <= 3600000))
    return throw_type(env, "agentCall: timeoutMs must be a number from 1 to 3600000");
  if (napi_get_value_double(env, argv[3], &max_bytes) != napi_ok || !(max_bytes >= 1 && max_bytes <= (double)(1u << 30)))
    return throw_type(env, "agentCall: maxBytes must be a number from 1 to 2^30");
#ifdef TVAULT_POSIX
  {
    napi_value result = NULL;
    int64_t deadline = tv_now_ms() + (int64_t)timeout_ms;
    char *answer = NULL;
    ssize_t alen = -1;
    int fd;
    path = get_utf8(env, argv[0], &plen);
    if (path == NULL) {
      napi_throw_error(env, NULL, "agentCall: out of memory");
      return NULL;
    }
    fd = check[0] ? connect_checked(env, path, plen, check[0] == 'a', deadline) : tv_connect_unix(path, plen, deadline);
    free(path);
    if (fd == -2) return NULL; /* a refusal is pending */
    if (fd >= 0) {
      if (tv_send_all(fd, req, rlen, deadline) != 0) alen = tv_recv(fd, &answer, (size_t)max_bytes, deadline, 0);
      close(fd);
    }
    if (alen < 0) {
      NAPI_OK(napi_get_null(env, &result));
      return result;
    }
    if (napi_create_buffer_copy(env, (size_t)alen, answer, NULL, &result) != napi_ok) result = NULL;
    tv_wipe(answer, (size_t)alen);
    free(answer);
    return result;
  }
#else
  (void)path;
  return throw_unsupported(env);
#endif
}

/* ---------- agentConnect ------------------------------------------------------ */

/*
 * agentConnect(path, timeoutMs, checkDir): the connect of agentCall alone (the same directory
 * checks, the connect made through the open directory), for a client that keeps the connection:
 * brokered exec passes its descriptors over it. Returns the connected, non-blocking, close-on-exec
 * fd, or -1 when nobody listens there; a refusal of the directory throws as agentCall's.
 */
static napi_value AgentConnect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  double timeout_ms;
  char check[8] = "";
  size_t clen = 0, plen = 0;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!is_string(env, argv[0])) return throw_type(env, "agentConnect(path, timeoutMs, checkDir): path must be a string");
  if (napi_get_value_double(env, argv[1], &timeout_ms) != napi_ok || !(timeout_ms >= 1 && timeout_ms <= 3600000))
    return throw_type(env, "agentConnect: timeoutMs must be a number from 1 to 3600000");
  if (!is_string(env, argv[2]) || napi_get_value_string_utf8(env, argv[2], check, sizeof check, &clen) != napi_ok ||
      (strcmp(check, "own") != 0 && strcmp(check, "any") != 0))
    return throw_type(env, "agentConnect: checkDir must be 'own' or 'any'");
#ifdef TVAULT_POSIX
  {
    napi_value r;
    int fd;
    char *path = get_utf8(env, argv[0], &plen);
    if (path == NULL) {
      napi_throw_error(env, NULL, "agentConnect: out of memory");
      return NULL;
    }
    fd = connect_checked(env, path, plen, check[0] == 'a', tv_now_ms() + (int64_t)timeout_ms);
    free(path);
    if (fd == -2) return NULL; /* a refusal is pending */
    if (napi_create_int32(env, fd < 0 ? -1 : fd, &r) != napi_ok) {
      if (fd >= 0) close(fd);
      return NULL;
    }
    return r;
  }
#else
  (void)plen;
  return throw_unsupported(env);
#endif
}

/* ---------- sendFds / recvFds (SCM_RIGHTS) ----------------------------------- */

/*
 * Brokered exec (docs/PROTOCOL.md, "exec"): the client hands its stdin/stdout/stderr to the agent
 * over the unix socket. Node cannot: its reads use read(2), which drops ancillary data (the kernel
 * discards the descriptors). The agent accepts exec connections paused and reads them only here.
 */
#define MAX_PASSED_FDS 8

/* A fd list: a JS array of at most MAX_PASSED_FDS fds; 0 and sets n on success. */
static int get_fd_list(napi_env env, napi_value v, int *fds, uint32_t *n) {
  bool is_array = false;
  uint32_t i;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) return 0;
  if (napi_get_array_length(env, v, n) != napi_ok || *n > MAX_PASSED_FDS) return 0;
  for (i = 0; i < *n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_fd(env, e, &fds[i])) return 0;
  }
  return 1;
}

/*
 * sendFds(sock, fds, data): one sendmsg of data (at least one byte) with fds attached as
 * SCM_RIGHTS. Non-blocking; returns the bytes sent (the fds travel with the first of them;
 * the caller writes the rest without fds). Throws on EAGAIN and any other failure.
 */
static napi_value SendFds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int sock, fds[MAX_PASSED_FDS];
  uint32_t nfds = 0;
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_fd(env, argv[0], &sock)) return throw_type(env, "sendFds(sock, fds, data): sock must be a non-negative integer");
  if (!get_fd_list(env, argv[1], fds, &nfds)) return throw_type(env, "sendFds: fds must be an array of at most 8 fds");
  if (!get_bytes(env, argv[2], &data, &len) || len == 0) return throw_type(env, "sendFds: data must be a non-empty Buffer or Uint8Array");
#ifdef TVAULT_POSIX
  {
    struct msghdr msg;
    struct iovec iov;
    union {
      char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
      struct cmsghdr align;
    } ctl;
    ssize_t n;
    napi_value r;
    memset(&msg, 0, sizeof msg);
    memset(&ctl, 0, sizeof ctl);
    iov.iov_base = data;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
      struct cmsghdr *c;
      msg.msg_control = ctl.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) return throw_errno(env, errno, "sendmsg");
    NAPI_OK(napi_create_double(env, (double)n, &r));
    return r;
  }
#else
  (void)sock;
  return throw_unsupported(env);
#endif
}

#ifdef TVAULT_POSIX
static void close_all(const int *fds, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) close(fds[i]);
}

/* { data, fds, truncated } for recvFds; closes the fds when the object cannot be built. */
static napi_value recv_result(napi_env env, const char *buf, size_t len, const int *fds, size_t nfds, bool truncated) {
  napi_value obj, data, list, v;
  size_t i;
  if (napi_create_object(env, &obj) != napi_ok || napi_create_buffer_copy(env, len, buf, NULL, &data) != napi_ok ||
      napi_create_array_with_length(env, nfds, &list) != napi_ok) {
    close_all(fds, nfds);
    return NULL;
  }
  for (i = 0; i < nfds; i++) {
    if (napi_create_int32(env, fds[i], &v) != napi_ok || napi_set_element(env, list, (uint32_t)i, v) != napi_ok) {
      close_all(fds, nfds);
      return NULL;
    }
  }
  if (napi_set_named_property(env, obj, "data", data) != napi_ok || napi_set_named_property(env, obj, "fds", list) != napi_ok ||
      napi_set_named_property(env, obj, "truncated", make_bool(env, truncated)) != napi_ok) {
    close_all(fds, nfds);
    return NULL;
  }
  return obj;
}
#endif

/*
 * recvFds(sock, maxBytes, maxFds): one non-blocking recvmsg (MSG_CMSG_CLOEXEC). null when nothing
 * is there yet (EAGAIN); otherwise { data, fds, truncated }, data empty at end of input. At most
 * maxFds (<= 8) descriptors are kept: the control buffer has room for no more, and the kernel
 * closes what does not fit and sets MSG_CTRUNC (truncated: true). Descriptors in any other
 * control message are closed. The caller owns (and must close) the fds it gets.
 */
static napi_value RecvFds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int sock;
  double max_bytes, max_fds;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_fd(env, argv[0], &sock)) return throw_type(env, "recvFds(sock, maxBytes, maxFds): sock must be a non-negative integer");
  if (napi_get_value_double(env, argv[1], &max_bytes) != napi_ok || !(max_bytes >= 1 && max_bytes <= 1048576) || floor(max_bytes) != max_bytes)
    return throw_type(env, "recvFds: maxBytes must be an integer from 1 to 1048576");
  if (napi_get_value_double(env, argv[2], &max_fds) != napi_ok || !(max_fds >= 0 && max_fds <= MAX_PASSED_FDS) || floor(max_fds) != max_fds)
    return throw_type(env, "recvFds: maxFds must be an integer from 0 to 8");
#ifdef TVAULT_POSIX
  {
    struct msghdr msg;
    struct iovec iov;
    union {
      char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
      struct cmsghdr align;
    } ctl;
    struct cmsghdr *c;
    int got[MAX_PASSED_FDS];
    size_t ngot = 0, cap = (size_t)max_fds;
    bool truncated = false;
    ssize_t n;
    napi_value r;
    char *buf = malloc((size_t)max_bytes);
    if (buf == NULL) {
      napi_throw_error(env, NULL, "recvFds: out of memory");
      return NULL;
    }
    memset(&msg, 0, sizeof msg);
    memset(&ctl, 0, sizeof ctl);
    iov.iov_base = buf;
    iov.iov_len = (size_t)max_bytes;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    /* Room for cap descriptors only (at least one cmsg header, so an excess is seen as CTRUNC). */
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (cap ? cap : 1));
    do n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      free(buf);
      if (err == EAGAIN || err == EWOULDBLOCK) {
        NAPI_OK(napi_get_null(env, &r));
        return r;
      }
      return throw_errno(env, err, "recvmsg");
    }
    if (msg.msg_flags & MSG_CTRUNC) truncated = true;
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      size_t k, count;
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
      count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (k = 0; k < count; k++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
        if (ngot < cap) got[ngot++] = fd;
        else {
          close(fd); /* more than asked for: never handed on */
          truncated = true;
        }
      }
    }
    r = recv_result(env, buf, (size_t)n, got, ngot, truncated);
    tv_wipe(buf, (size_t)max_bytes);
    free(buf);
    return r;
  }
#else
  (void)sock;
  return throw_unsupported(env);
#endif
}

/* ---------- pipe ---------------------------------------------------------------- */

/*
 * pipe() -> [readFd, writeFd], both close-on-exec: Node has no pipe(2), and the client API
 * (packages/client) passes a pipe's write end to the agent as a brokered child's stdout.
 */
static napi_value Pipe(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef TVAULT_POSIX
  {
    int p[2];
    napi_value arr, v;
#if defined(__linux__)
    if (pipe2(p, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2");
#else
    if (pipe(p) != 0) return throw_errno(env, errno, "pipe");
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
      int err = errno;
      close(p[0]);
      close(p[1]);
      return throw_errno(env, err, "fcntl(FD_CLOEXEC)");
    }
#endif
    if (napi_create_array_with_length(env, 2, &arr) != napi_ok || napi_create_int32(env, p[0], &v) != napi_ok ||
        napi_set_element(env, arr, 0, v) != napi_ok || napi_create_int32(env, p[1], &v) != napi_ok || napi_set_element(env, arr, 1, v) != napi_ok) {
      close(p[0]);
      close(p[1]);
      return NULL;
    }
    return arr;
  }
#else
  return throw_unsupported(env);
#endif
}

/* ---------- pseudo-terminals (ptySpawn, ptyResize, ttySize, ttyRaw, ttySave, ttyRestore, waitPid) --- */

/*
 * Masking that keeps the terminal (docs/SECURITY.md, "Masking on a terminal"): a child whose
 * caller has a terminal gets a pseudo-terminal of its own, and tvault's masker sits between the
 * pty's master and the caller's terminal. Node cannot start a child on a pty as its session
 * leader (setsid + TIOCSCTTY must happen in the child, between fork and exec), so ptySpawn does
 * the fork and the execve itself, with only async-signal-safe calls in the child.
 */
#ifdef TVAULT_POSIX
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#if defined(__APPLE__)
#include <util.h>
#else
#include <pty.h>
#endif

/* A JS array of strings as a malloc'd, NULL-terminated char* vector (at most max); NULL on a bad shape. */
static char **get_string_vector(napi_env env, napi_value v, uint32_t max) {
  bool is_array = false;
  uint32_t n, i;
  char **vec;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) return NULL;
  if (napi_get_array_length(env, v, &n) != napi_ok || n > max) return NULL;
  vec = calloc((size_t)n + 1, sizeof *vec);
  if (vec == NULL) return NULL;
  for (i = 0; i < n; i++) {
    napi_value e;
    size_t len = 0;
    if (napi_get_element(env, v, i, &e) != napi_ok || !is_string(env, e) || (vec[i] = get_utf8(env, e, &len)) == NULL ||
        strlen(vec[i]) != len) { /* an embedded NUL would silently cut the string */
      if (vec[i] != NULL) free(vec[i]), vec[i] = NULL;
      break;
    }
  }
  if (i < n) {
    for (i = 0; vec[i] != NULL; i++) free(vec[i]);
    free(vec);
    return NULL;
  }
  return vec;
}

/* Frees a vector; wipe: the strings may be secrets (the child's environment). */
static void free_vector(char **vec, bool wipe_strings) {
  size_t i;
  if (vec == NULL) return;
  for (i = 0; vec[i] != NULL; i++) {
    if (wipe_strings) tv_wipe(vec[i], strlen(vec[i]));
    free(vec[i]);
  }
  free(vec);
}

/* What the child reports through its error pipe when it cannot exec: the step and errno. */
struct spawn_failure {
  int step; /* 0 setup (setsid, TIOCSCTTY, dup2), 1 chdir, 2 execve */
  int err;
};

/* The child's side of ptySpawn: async-signal-safe calls only (the parent has threads). Never returns. */
static void pty_child(int slave, const int *stdio, const char *cwd, const char *file, char *const *argv, char *const *envp, int report) {
  struct spawn_failure f = {0, 0};
  struct sigaction dfl;
  sigset_t none;
  int i, src[3];
  ssize_t ignored;
  /* Node ignores SIGPIPE, and an ignored signal stays ignored across execve: every signal
     gets its default action back, then the mask the parent blocked for the fork is cleared. */
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (i = 1; i < NSIG; i++) (void)sigaction(i, &dfl, NULL);
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) goto fail;
  if (ioctl(slave, TIOCSCTTY, 0) != 0) goto fail; /* the pty becomes the session's controlling terminal */
  /* Sources below 3 are moved out of the way first, so that no dup2 overwrites a later source. */
  for (i = 0; i < 3; i++) {
    src[i] = stdio[i] < 0 ? slave : stdio[i];
    if (src[i] < 3 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0) goto fail;
  }
  for (i = 0; i < 3; i++)
    if (dup2(src[i], i) < 0) goto fail; /* dup2 clears close-on-exec on 0..2 */
  f.step = 1;
  if (chdir(cwd) != 0) goto fail;
  f.step = 2;
  execve(file, argv, envp);
fail:
  f.err = errno;
  ignored = write(report, &f, sizeof f);
  (void)ignored;
  _exit(127);
}

/* Sets close-on-exec and, for the master, non-blocking mode (libuv reads it when it is readable). */
static int pty_fd_flags(int fd, bool nonblock) {
  int fl = fcntl(fd, F_GETFL);
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0) return -1;
  return nonblock ? fcntl(fd, F_SETFL, fl | O_NONBLOCK) : 0;
}

/* A window size argument: an integer from 1 to 65535. */
static int get_dim(napi_env env, napi_value v, unsigned short *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 1 && d <= 65535) || floor(d) != d) return 0;
  *out = (unsigned short)d;
  return 1;
}
#endif

/*
 * ptySpawn(file, argv, env, cwd, rows, cols, stdio) -> { pid, fd }: opens a pty of rows x cols,
 * forks, and in the child: default signal actions, setsid, the pty as controlling terminal, the
 * child's 0/1/2 from stdio (a descriptor, or -1 for the pty), chdir(cwd), execve(file) with the
 * given argv and env ("NAME=value" strings, built by the caller: no PATH search, no environ).
 * The parent waits on a close-on-exec pipe until the exec happened or failed; a failure throws
 * with .syscall "execve", "chdir" or "setsid" and its errno (the child is reaped). fd is the
 * master, non-blocking and close-on-exec; the caller reaps pid with waitPid.
 */
static napi_value PtySpawn(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  unsigned short rows, cols;
  int stdio[3];
  if (!get_args(env, info, 7, argv)) return NULL;
  if (!is_string(env, argv[0]) || !is_string(env, argv[3]))
    return throw_type(env, "ptySpawn(file, argv, env, cwd, rows, cols, stdio): file and cwd must be strings");
  if (!get_dim(env, argv[4], &rows) || !get_dim(env, argv[5], &cols)) return throw_type(env, "ptySpawn: rows and cols must be integers from 1 to 65535");
  {
    bool is_array = false;
    uint32_t i, n = 0;
    if (napi_is_array(env, argv[6], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[6], &n) != napi_ok || n != 3)
      return throw_type(env, "ptySpawn: stdio must be an array of three entries, each a fd or -1 (the pty)");
    for (i = 0; i < 3; i++) {
      napi_value e;
      double d = 0;
      if (napi_get_element(env, argv[6], i, &e) != napi_ok) return NULL;
      if (napi_get_value_double(env, e, &d) == napi_ok && d == -1) stdio[i] = -1;
      else if (!get_fd(env, e, &stdio[i])) return throw_type(env, "ptySpawn: stdio must be an array of three entries, each a fd or -1 (the pty)");
    }
  }
#ifdef TVAULT_POSIX
  {
    size_t flen = 0, clen = 0;
    char *file = NULL, *cwd = NULL, **args = NULL, **envp = NULL;
    int master = -1, slave = -1, report[2] = {-1, -1}, err = 0;
    const char *failed = NULL;
    struct winsize ws;
    struct spawn_failure f;
    sigset_t all, old;
    pid_t pid;
    ssize_t n;
    napi_value obj, v, result = NULL;
    file = get_utf8(env, argv[0], &flen);
    cwd = get_utf8(env, argv[3], &clen);
    args = get_string_vector(env, argv[1], 65536);
    envp = get_string_vector(env, argv[2], 65536);
    if (file == NULL || cwd == NULL || strlen(file) != flen || strlen(cwd) != clen || args == NULL || args[0] == NULL || envp == NULL) {
      throw_type(env, "ptySpawn: file, cwd, argv (at least one) and env must be strings without NUL");
      goto out;
    }
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (openpty(&master, &slave, NULL, NULL, &ws) != 0) {
      err = errno, failed = "openpty";
      goto out;
    }
    if (pty_fd_flags(master, true) != 0 || pty_fd_flags(slave, false) != 0) {
      err = errno, failed = "fcntl";
      goto out;
    }
#if defined(__linux__)
    if (pipe2(report, O_CLOEXEC) != 0) {
#else
    if (pipe(report) != 0 || pty_fd_flags(report[0], false) != 0 || pty_fd_flags(report[1], false) != 0) {
#endif
      err = errno, failed = "pipe";
      goto out;
    }
    /* No signal handler of the parent may run in the child before it resets them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) pty_child(slave, stdio, cwd, file, args, envp, report[1]);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
      failed = "fork";
      goto out;
    }
    close(report[1]);
    report[1] = -1;
    do n = read(report[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof f) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      err = f.err;
      failed = f.step == 2 ? "execve" : f.step == 1 ? "chdir" : "setsid";
      goto out;
    }
    if (napi_create_object(env, &obj) != napi_ok || napi_create_int32(env, (int32_t)pid, &v) != napi_ok ||
        napi_set_named_property(env, obj, "pid", v) != napi_ok || napi_create_int32(env, master, &v) != napi_ok ||
        napi_set_named_property(env, obj, "fd", v) != napi_ok) {
      kill(pid, SIGKILL); /* unreachable in practice; the caller reaps nothing it does not know */
      goto out;
    }
    result = obj;
    master = -1; /* the caller's now */
  out:
    if (failed != NULL) throw_errno(env, err, failed);
    if (master >= 0) close(master);
    if (slave >= 0) close(slave);
    if (report[0] >= 0) close(report[0]);
    if (report[1] >= 0) close(report[1]);
    free(file);
    free(cwd);
    free_vector(args, false);
    free_vector(envp, true);
    return result;
  }
#else
  (void)rows, (void)cols;
  return throw_unsupported(env);
#endif
}

/* ptyResize(fd, rows, cols): TIOCSWINSZ on a pty master; the kernel sends SIGWINCH to the child's foreground group. */
static napi_value PtyResize(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  unsigned short rows, cols;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "ptyResize(fd, rows, cols): fd must be a non-negative integer");
  if (!get_dim(env, argv[1], &rows) || !get_dim(env, argv[2], &cols)) return throw_type(env, "ptyResize: rows and cols must be integers from 1 to 65535");
#ifdef TVAULT_POSIX
  {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (ioctl(fd, TIOCSWINSZ, &ws) != 0) return throw_errno(env, errno, "ioctl(TIOCSWINSZ)");
    return NULL;
  }
#else
  return throw_unsupported(env);
#endif
}

/* ttySize(fd) -> { rows, cols } of the terminal on fd (TIOCGWINSZ), or null when fd is no terminal or reports 0x0. */
static napi_value TtySize(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "ttySize(fd): fd must be a non-negative integer");
#ifdef TVAULT_POSIX
  {
    struct winsize ws;
    napi_value v;
    memset(&ws, 0, sizeof ws);
    if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) {
      NAPI_OK(napi_get_null(env, &r));
      return r;
    }
    NAPI_OK(napi_create_object(env, &r));
    NAPI_OK(napi_create_uint32(env, ws.ws_row, &v));
    NAPI_OK(napi_set_named_property(env, r, "rows", v));
    NAPI_OK(napi_create_uint32(env, ws.ws_col, &v));
    NAPI_OK(napi_set_named_property(env, r, "cols", v));
    return r;
  }
#else
  (void)r;
  return throw_unsupported(env);
#endif
}

#ifdef TVAULT_POSIX
/* What ttySave and ttyRaw hand out (opaque to JS): the terminal's settings and the descriptor's O_NONBLOCK. */
struct tty_saved {
  struct termios t;
  int nonblock;
};

/* Fills *sv for fd; 0 when fd is no terminal. Zeroed first: padding too is handed out and compared. */
static int tty_save(int fd, struct tty_saved *sv) {
  int fl;
  memset(sv, 0, sizeof *sv);
  if (!isatty(fd) || tcgetattr(fd, &sv->t) != 0 || (fl = fcntl(fd, F_GETFL)) < 0) return 0;
  sv->nonblock = (fl & O_NONBLOCK) != 0;
  return 1;
}

static int set_nonblock(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}
#endif

/*
 * ttyRaw(fd, outputOnly) -> the terminal's settings before (an opaque Buffer for ttyRestore),
 * after putting it in raw mode (cfmakeraw: no echo, no line editing, no signals from keys: ^C
 * is a byte for the pty, whose own line discipline makes it the child's SIGINT) and making the
 * descriptor non-blocking (the agent reads a caller's terminal: a read that another reader of
 * the same terminal emptied first must not block the agent). With outputOnly, only output
 * processing is turned off (the pty already turned "\n" into "\r\n"), nothing else. null when
 * fd is no terminal.
 */
static napi_value TtyRaw(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int fd;
  bool output_only = false;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "ttyRaw(fd, outputOnly): fd must be a non-negative integer");
  if (napi_get_value_bool(env, argv[1], &output_only) != napi_ok) output_only = false; /* undefined: all of it */
#ifdef TVAULT_POSIX
  {
    struct tty_saved before;
    struct termios raw;
    if (!tty_save(fd, &before)) {
      NAPI_OK(napi_get_null(env, &r));
      return r;
    }
    raw = before.t;
    if (output_only) raw.c_oflag &= ~(tcflag_t)OPOST;
    else cfmakeraw(&raw);
    if (tcsetattr(fd, TCSADRAIN, &raw) != 0) return throw_errno(env, errno, "tcsetattr");
    if (!output_only && set_nonblock(fd, 1) != 0) {
      int err = errno;
      (void)tcsetattr(fd, TCSADRAIN, &before.t);
      return throw_errno(env, err, "fcntl(O_NONBLOCK)");
    }
    NAPI_OK(napi_create_buffer_copy(env, sizeof before, &before, NULL, &r));
    return r;
  }
#else
  (void)r;
  return throw_unsupported(env);
#endif
}

/* ttySave(fd) -> the terminal's settings (opaque, for ttyRestore), unchanged; null when fd is no terminal. */
static napi_value TtySave(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "ttySave(fd): fd must be a non-negative integer");
#ifdef TVAULT_POSIX
  {
    struct tty_saved sv;
    if (!tty_save(fd, &sv)) NAPI_OK(napi_get_null(env, &r));
    else NAPI_OK(napi_create_buffer_copy(env, sizeof sv, &sv, NULL, &r));
    return r;
  }
#else
  (void)r;
  return throw_unsupported(env);
#endif
}

/* ttyRestore(fd, saved): puts back what ttyRaw or ttySave returned (the settings and O_NONBLOCK); false when fd is no (longer a) terminal. */
static napi_value TtyRestore(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "ttyRestore(fd, saved): fd must be a non-negative integer");
  if (!get_bytes(env, argv[1], &data, &len)) return throw_type(env, "ttyRestore: saved must be what ttyRaw or ttySave returned");
#ifdef TVAULT_POSIX
  {
    struct tty_saved sv;
    if (len != sizeof sv) return throw_type(env, "ttyRestore: saved must be what ttyRaw or ttySave returned");
    memcpy(&sv, data, sizeof sv);
    if (!isatty(fd)) return make_bool(env, false);
    return make_bool(env, (tcsetattr(fd, TCSADRAIN, &sv.t) == 0) & (set_nonblock(fd, sv.nonblock) == 0));
  }
#else
  return throw_unsupported(env);
#endif
}

/*
 * waitPid(pid) -> null while the child runs, else { code, signal } (one of them null), reaped:
 * waitpid(pid, WNOHANG) for a child of ptySpawn (libuv reaps only the children it started).
 */
static napi_value WaitPid(napi_env env, napi_callback_info info) {
  napi_value argv[1], r, v;
  int32_t pid;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) return throw_type(env, "waitPid(pid): pid must be a positive integer");
#ifdef TVAULT_POSIX
  {
    int status = 0;
    pid_t got;
    do got = waitpid((pid_t)pid, &status, WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got < 0) return throw_errno(env, errno, "waitpid");
    if (got == 0 || !(WIFEXITED(status) || WIFSIGNALED(status))) {
      NAPI_OK(napi_get_null(env, &r));
      return r;
    }
    NAPI_OK(napi_create_object(env, &r));
    if (WIFEXITED(status)) NAPI_OK(napi_create_int32(env, WEXITSTATUS(status), &v));
    else NAPI_OK(napi_get_null(env, &v));
    NAPI_OK(napi_set_named_property(env, r, "code", v));
    if (WIFSIGNALED(status)) NAPI_OK(napi_create_int32(env, WTERMSIG(status), &v));
    else NAPI_OK(napi_get_null(env, &v));
    NAPI_OK(napi_set_named_property(env, r, "signal", v));
    return r;
  }
#else
  (void)r, (void)v;
  return throw_unsupported(env);
#endif
}

/* ---------- maskScan (the masker's hot loop) -------------------------------- */

/*
 * maskScan(delta, cls, dense, classes, warm, buf, from, state, out) -> index: the dense part of
 * the masker's Aho-Corasick automaton (packages/agent/src/masker.ts, Automaton.run) over
 * buf[from..], from dense state `state`, up to the first byte whose transition entry is negative
 * (a state that ends a pattern, or a deep one) or the end. out[0] gets the state reached (the
 * entry's target at a stop). The tables come from JS and are never trusted: their shapes are
 * checked once (delta.length == dense * classes, every cls entry < classes, state < dense) and
 * every entry used as a row offset is checked against the last row before it is followed, so a
 * hostile table or buffer can make the answer wrong but never read outside either array: an
 * entry that points past the table is a RangeError.
 *
 * A long stretch is run as MASK_LANES interleaved lanes (each step waits on the previous step's
 * load; independent chains fill the CPU): lane k>0 starts from the state rebuilt from the root
 * over the `warm` bytes before it (a state is the longest suffix that begins a pattern, never
 * longer than the longest pattern), and when any lane stops, the lanes are finished one after
 * another, in order, so the answer is exactly the one lane's.
 */
#ifndef MASK_LANES
#define MASK_LANES 4
#endif
#define MASK_LANES_MIN 4096

typedef struct {
  const int32_t *delta;
  const uint8_t *cls;
  uint32_t lim; /* the last row's offset: an entry above it (or negative) is not followed */
  uint32_t classes;
  uint32_t dense;
} mask_table;

/* One lane from i up to end, from row offset *p. Returns the stop index (end: none), *e the entry there. */
static size_t mask_lane(const mask_table *t, const uint8_t *buf, size_t i, size_t end, uint32_t *p, int32_t *e) {
  uint32_t q = *p;
  for (; i < end; i++) {
    int32_t x = t->delta[q + t->cls[buf[i]]];
    if ((uint32_t)x > t->lim) {
      *e = x;
      *p = q;
      return i;
    }
    q = (uint32_t)x;
  }
  *p = q;
  return end;
}

/* The row offset of the state after buf[from..to) from the root, through dense rows only; 0 if it leaves them. */
static int mask_warm(const mask_table *t, const uint8_t *buf, size_t from, size_t to, uint32_t *p) {
  uint32_t q = 0;
  for (size_t k = from; k < to; k++) {
    int32_t x = t->delta[q + t->cls[buf[k]]];
    if ((uint32_t)x <= t->lim) q = (uint32_t)x;
    else if (x < 0 && (uint32_t)(-1 - (int64_t)x) < t->dense) q = (uint32_t)(-1 - (int64_t)x) * t->classes;
    else return 0;
  }
  *p = q;
  return 1;
}

/*
 * The 4-gram filter (optional, from the masker): every pattern is at least MASK_GRAM_MIN bytes
 * long, and so is every state whose entry is negative, so a stop at byte i means that a pattern
 * prefix of at least MASK_GRAM_MIN bytes ends at i; it begins at some p, and the 4 bytes at the
 * first multiple of 4 at or after p are one of its pattern's 4-grams at offset 0..3. `grams` is
 * a bitmap of those 4-grams (hashed to MASK_GRAM_BITS bits), so where no 4-gram at a multiple of
 * 4 is in it, nothing can stop, and the state is only the last few bytes' (every prefix still
 * alive is shorter than MASK_GRAM_MIN): rebuilt from the root over them. Where one is, the
 * automaton runs byte by byte until its state is shallow again (`depth`: each dense state's
 * depth), then the filter resumes from the first multiple of 4 the state's prefix covers. The
 * answer is exactly the automaton's (a false hit of the bitmap costs time, not a miss); a wrong
 * bitmap or depth table makes it wrong, never reads outside an array (every index is bounded).
 */
#define MASK_GRAM_BITS 17
#define MASK_GRAM_BYTES (1u << (MASK_GRAM_BITS - 3))
#define MASK_GRAM_MIN 7
/* A state this shallow or less hands back to the filter. */
#define MASK_GRAM_SHALLOW 4
/* Exact bytes per depth check. */
#define MASK_GRAM_STRETCH 16

static inline uint32_t mask_gram(const uint8_t *b) {
  uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  return (v * 0x9E3779B1u) >> (32 - MASK_GRAM_BITS);
}

/*
 * The filtered scan from `from` in row offset *p up to n. Returns the stop index (n: none; *p
 * the row reached, *e the entry at a stop), or, with *gave set, the index from which the caller
 * runs the exact lanes instead (*p exact there): a bitmap that hits too often, or a state that
 * cannot be rebuilt through dense rows.
 */
static size_t mask_filtered(const mask_table *t, const uint8_t *grams, const uint8_t *depth, const uint8_t *buf, size_t from, size_t n,
                            uint32_t *p, int32_t *e, int *gave) {
  size_t x = from, exact = 0;
  uint32_t q = *p;
  *gave = 0;
  while (x < n) {
    uint32_t h = depth[q / t->classes];
    size_t end;
    if (h <= MASK_GRAM_SHALLOW && (size_t)h <= x) {
      /* Every prefix alive at x begins at x - h or later: check from its first multiple of 4. */
      size_t a = (x - h + 3) & ~(size_t)3;
      while (a + 4 <= n && !(grams[mask_gram(buf + a) >> 3] & (1u << (mask_gram(buf + a) & 7)))) a += 4;
      /*
       * A stop needs a hit at most 3 bytes before it, so nothing stops before a + 3 (or n), and
       * every prefix alive there is shorter than MASK_GRAM_MIN: the state is the last few
       * bytes' from the root.
       */
      size_t to = a + 4 <= n ? a + 3 : n;
      if (to > x) {
        size_t s0 = to >= MASK_GRAM_MIN - 1 && to - (MASK_GRAM_MIN - 1) > x - h ? to - (MASK_GRAM_MIN - 1) : x - h;
        if (!mask_warm(t, buf, s0, to, &q)) {
          *p = q; /* unchanged: still x's */
          *gave = 1;
          return x;
        }
        x = to;
      }
      if (x >= n) break;
    }
    /* Exact, a stretch at a time, until the state is shallow again. */
    end = x + MASK_GRAM_STRETCH < n ? x + MASK_GRAM_STRETCH : n;
    exact += end - x;
    {
      size_t stop = mask_lane(t, buf, x, end, &q, e);
      if (stop < end) {
        *p = q;
        return stop;
      }
    }
    x = end;
    /* Mostly exact anyway (text full of the values' 4-grams): the lanes are faster then, and never slower than without the filter. */
    if (x - from >= 2048 && exact * 4 > x - from) {
      *p = q;
      *gave = 1;
      return x;
    }
  }
  *p = q;
  return n;
}

int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

int get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= max) || floor(d) != d) return 0;
  *out = (uint32_t)d;
  return 1;
}

static napi_value MaskScan(napi_env env, napi_callback_info info) {
  napi_value argv[11], r;
  void *dp = NULL, *cp = NULL, *bp = NULL, *op = NULL, *gp = NULL, *hp = NULL;
  size_t dlen = 0, clen = 0, blen = 0, olen = 0, glen = 0, hlen = 0;
  uint32_t dense, classes, warm, from, state;
  napi_valuetype gt;
  mask_table t;
  if (!get_args(env, info, 11, argv)) return NULL;
  if (!get_typed(env, argv[0], napi_int32_array, &dp, &dlen)) return throw_type(env, "maskScan: delta must be an Int32Array");
  if (!get_typed(env, argv[1], napi_uint8_array, &cp, &clen)) return throw_type(env, "maskScan: cls must be a Uint8Array");
  if (!get_u32(env, argv[2], INT32_MAX, &dense) || !get_u32(env, argv[3], 256, &classes) || !get_u32(env, argv[4], INT32_MAX, &warm))
    return throw_type(env, "maskScan: dense, classes and warm must be non-negative integers");
  if (!get_bytes(env, argv[5], &bp, &blen)) return throw_type(env, "maskScan: buf must be a Buffer or Uint8Array");
  if (!get_u32(env, argv[6], UINT32_MAX, &from) || !get_u32(env, argv[7], INT32_MAX, &state)) return throw_type(env, "maskScan: from and state must be non-negative integers");
  if (!get_typed(env, argv[8], napi_int32_array, &op, &olen) || olen < 1) return throw_type(env, "maskScan: out must be an Int32Array of at least one element");
  /* The shapes, once: every later index is bounded by them. */
  if (clen != 256) return throw_range(env, "maskScan: cls must have 256 entries");
  if (dense < 1 || classes < 1 || dlen > INT32_MAX || (uint64_t)dense * classes != dlen) return throw_range(env, "maskScan: delta is not dense x classes entries");
  for (size_t k = 0; k < 256; k++)
    if (((const uint8_t *)cp)[k] >= classes) return throw_range(env, "maskScan: a byte class is out of range");
  if (state >= dense) return throw_range(env, "maskScan: state is out of range");
  if (from > blen) return throw_range(env, "maskScan: from is past the end of buf");
  /* The 4-gram filter: both tables, of their exact sizes, or neither. */
  if (napi_typeof(env, argv[9], &gt) != napi_ok) return NULL;
  if (gt != napi_undefined) {
    if (!get_typed(env, argv[9], napi_uint8_array, &gp, &glen) || !get_typed(env, argv[10], napi_uint8_array, &hp, &hlen))
      return throw_type(env, "maskScan: grams and depth must be Uint8Arrays");
    if (glen != MASK_GRAM_BYTES || hlen != dense) return throw_range(env, "maskScan: grams or depth has the wrong length");
  }
  t.delta = (const int32_t *)dp;
  t.cls = (const uint8_t *)cp;
  t.classes = classes;
  t.dense = dense;
  t.lim = (uint32_t)(dlen - classes);
  {
    const uint8_t *buf = (const uint8_t *)bp;
    size_t n = blen, stop = n, at = from;
    uint32_t p = state * classes;
    int32_t e = 0;
    size_t span;
    int done = 0;
    if (gp) {
      int gave = 0;
      stop = mask_filtered(&t, (const uint8_t *)gp, (const uint8_t *)hp, buf, at, n, &p, &e, &gave);
      if (!gave) done = 1;
      else at = stop; /* the lanes from here, in the exact state p */
    }
    span = n - at;
    if (!done && span >= MASK_LANES_MIN && span / MASK_LANES >= (size_t)warm * 4 + 1) {
      size_t seg = span / MASK_LANES, pos[MASK_LANES], end[MASK_LANES], j;
      uint32_t q[MASK_LANES];
      int ok = 1;
      for (int k = 0; k < MASK_LANES; k++) {
        pos[k] = at + (size_t)k * seg;
        end[k] = k == MASK_LANES - 1 ? n : pos[k] + seg;
      }
      q[0] = p;
      for (int k = 1; k < MASK_LANES && ok; k++) ok = mask_warm(&t, buf, pos[k] - warm, pos[k], &q[k]);
      if (ok) {
        const uint8_t *b[MASK_LANES];
        for (int k = 0; k < MASK_LANES; k++) b[k] = buf + pos[k];
        for (j = 0; j < seg; j++) {
          int32_t x[MASK_LANES];
          uint32_t bad = 0;
          for (int k = 0; k < MASK_LANES; k++) {
            x[k] = t.delta[q[k] + t.cls[b[k][j]]];
            bad |= (uint32_t)x[k] > t.lim;
          }
          if (bad) break;
          for (int k = 0; k < MASK_LANES; k++) q[k] = (uint32_t)x[k];
        }
        /* Every lane is at pos[k] + j with an exact state: finish them in order. */
        for (int k = 0; k < MASK_LANES; k++) {
          p = q[k];
          stop = mask_lane(&t, buf, pos[k] + j, end[k], &p, &e);
          if (stop < end[k]) break;
        }
        if (stop == end[MASK_LANES - 1]) stop = n;
        done = 1;
      }
    }
    if (!done) stop = mask_lane(&t, buf, at, n, &p, &e);
    if (stop < n) {
      if (e >= 0) return throw_range(env, "maskScan: a transition points past the table");
      ((int32_t *)op)[0] = (int32_t)(-1 - (int64_t)e);
    } else {
      ((int32_t *)op)[0] = (int32_t)(p / classes);
    }
    NAPI_OK(napi_create_double(env, (double)stop, &r));
    return r;
  }
}

/* ---------- pipes of the masked copy (pipeTune, fdPoll) ----------------------- */

/*
 * The masked copy's transport (packages/agent/src/masked-io.ts, maskedPump): the child writes
 * into a pipe the agent made, whose read end is the agent's own (non-blocking, so reads never
 * block the event loop), with a larger buffer, and read in large blocks into reused buffers.
 * Node has no readiness event for a bare descriptor; fdPoll is libuv's uv_poll on it.
 *
 * pipeTune(fd, size) -> the pipe's buffer size after (Linux: F_SETPIPE_SZ to size, silently
 * kept as it was when refused, e.g. over the per-user pipe quota; elsewhere -1), and fd set
 * O_NONBLOCK (its own open file description: the other end keeps its flags).
 */
static napi_value PipeTune(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int fd;
  uint32_t size;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_u32(env, argv[1], 1u << 30, &size)) return throw_type(env, "pipeTune(fd, size): integers");
#ifdef TVAULT_POSIX
  {
    int fl = fcntl(fd, F_GETFL), got = -1;
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return throw_errno(env, errno, "fcntl(O_NONBLOCK)");
#if defined(__linux__) && defined(F_SETPIPE_SZ)
    if (size > 0) (void)fcntl(fd, F_SETPIPE_SZ, (int)size);
    got = fcntl(fd, F_GETPIPE_SZ);
#endif
    NAPI_OK(napi_create_int32(env, got, &r));
    return r;
  }
#else
  (void)r;
  return throw_unsupported(env);
#endif
}

#ifdef TVAULT_POSIX
/*
 * A JS callback on the event loop for one fd (uv_poll): fdPoll's handles and the agent's acceptor
 * are both one of these, told apart by kind so that neither's functions take the other's handle.
 */
typedef enum { POLL_FD = 1, POLL_ACCEPT = 2 } js_poll_kind;

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  uv_poll_cb on_event;
  js_poll_kind kind;
  int fd;
  int events;
  int active;
  int closed;
} js_poll;

static void js_poll_freed(uv_handle_t *h) { free(h->data); }

/* A started poll of fd for events, calling on_event, as an external; NULL with an exception pending. */
static napi_value js_poll_new(napi_env env, js_poll_kind kind, int fd, int events, uv_poll_cb on_event, napi_value cb, const char *what) {
  uv_loop_t *loop;
  napi_value ext, name;
  char resource[32];
  int rc;
  js_poll *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, what);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(p);
    return NULL;
  }
  rc = uv_poll_init(loop, &p->handle, fd);
  if (rc != 0) {
    free(p);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  p->handle.data = p;
  p->env = env;
  p->kind = kind;
  p->fd = fd;
  p->events = events;
  p->on_event = on_event;
  snprintf(resource, sizeof resource, "tvault.%s", what);
  if (napi_create_reference(env, cb, 1, &p->cb) != napi_ok || napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, cb, name, &p->ctx) != napi_ok || napi_create_external(env, p, NULL, NULL, &ext) != napi_ok) {
    p->closed = 1;
    uv_close((uv_handle_t *)&p->handle, js_poll_freed);
    return NULL;
  }
  rc = uv_poll_start(&p->handle, p->events, p->on_event);
  if (rc != 0) {
    p->closed = 1;
    napi_delete_reference(env, p->cb);
    napi_async_destroy(env, p->ctx);
    uv_close((uv_handle_t *)&p->handle, js_poll_freed);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  p->active = 1;
  return ext;
}

/* Stops (on false) or restarts (on true) an open poll. */
static napi_value js_poll_set(napi_env env, js_poll *p, bool on) {
  if (on && !p->active) {
    int rc = uv_poll_start(&p->handle, p->events, p->on_event);
    if (rc != 0) return throw_errno(env, -rc, "uv_poll_start");
    p->active = 1;
  } else if (!on && p->active) {
    uv_poll_stop(&p->handle);
    p->active = 0;
  }
  return NULL;
}

/* Ends an open poll for good; its memory goes once libuv has closed the handle. */
static void js_poll_close(napi_env env, js_poll *p) {
  p->closed = 1;
  p->active = 0;
  uv_poll_stop(&p->handle);
  napi_delete_reference(env, p->cb);
  napi_async_destroy(env, p->ctx);
  uv_close((uv_handle_t *)&p->handle, js_poll_freed);
}

/* The poll of this kind that v is (closed or not); 0 for any other value. */
static int get_js_poll(napi_env env, napi_value v, js_poll_kind kind, js_poll **p) {
  void *d = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return 0;
  if (napi_get_value_external(env, v, &d) != napi_ok || d == NULL) return 0;
  *p = (js_poll *)d;
  return (*p)->kind == kind;
}

static void fd_poll_cb(uv_poll_t *h, int status, int events) {
  js_poll *p = (js_poll *)h->data;
  napi_handle_scope scope;
  napi_value fn, recv, arg, ignored;
  (void)events;
  if (p->closed) return;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  if (napi_get_reference_value(p->env, p->cb, &fn) == napi_ok && fn != NULL && napi_get_global(p->env, &recv) == napi_ok &&
      napi_create_int32(p->env, status, &arg) == napi_ok)
    (void)napi_make_callback(p->env, p->ctx, recv, fn, 1, &arg, &ignored);
  napi_close_handle_scope(p->env, scope);
}

/* An open fdPoll handle. */
static int get_poll(napi_env env, napi_value v, js_poll **p) { return get_js_poll(env, v, POLL_FD, p) && !(*p)->closed; }
#endif

/*
 * fdPoll(fd, writable, cb) -> handle: cb(status) runs on the event loop whenever fd is readable
 * (or writable), status 0 or a negative libuv error; level-triggered, started at once.
 * fdPollSet(handle, on) stops or restarts it; fdPollClose(handle) ends it for good (before fd is
 * closed). Any other value as handle is a TypeError.
 */
static napi_value FdPoll(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  bool writable;
  napi_valuetype t;
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd) || napi_get_value_bool(env, argv[1], &writable) != napi_ok || napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function)
    return throw_type(env, "fdPoll(fd, writable, cb)");
#ifdef TVAULT_POSIX
  return js_poll_new(env, POLL_FD, fd, writable ? UV_WRITABLE : UV_READABLE | UV_DISCONNECT, fd_poll_cb, argv[2], "fdPoll");
#else
  return throw_unsupported(env);
#endif
}

static napi_value FdPollSet(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool on;
  if (!get_args(env, info, 2, argv)) return NULL;
#ifdef TVAULT_POSIX
  {
    js_poll *p;
    if (!get_poll(env, argv[0], &p) || napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "fdPollSet(handle, on): an open fdPoll handle");
    return js_poll_set(env, p, on);
  }
#else
  (void)on;
  return throw_unsupported(env);
#endif
}

static napi_value FdPollClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
#ifdef TVAULT_POSIX
  {
    js_poll *p;
    if (!get_poll(env, argv[0], &p)) return NULL; /* closed already: nothing to do */
    js_poll_close(env, p);
    return NULL;
  }
#else
  return throw_unsupported(env);
#endif
}

/* ---------- the agent's listener: accept, peer check, read and answer natively ---------- */

/*
 * The agent's line sockets without a node:net object per connection (issue 11): unixListen binds
 * and listens; acceptor(fd, cb) accepts on the event loop (uv_poll on the listening fd) and calls
 * cb(fd, uid, gid, pid, err) for each connection, after SO_PEERCRED on the accepted fd (err is an
 * errno when the credentials could not be read: the caller refuses the peer), or cb(-errno, ...)
 * when accept itself fails (EMFILE...): the acceptor then stops until acceptorSet(handle, true),
 * so that a full descriptor table does not spin the loop. fdRecv and fdSendClose are the
 * non-blocking read and write (and close) of such a connection. Nothing is read before the
 * callback has seen the credentials: the caller calls fdRecv only for a peer it allows.
 */
#ifdef TVAULT_POSIX
#define ACCEPT_BATCH 64
#define FD_RECV_MAX (128 * 1024)

static unsigned char recv_scratch[FD_RECV_MAX];

static int accept_one(int lfd) {
#if defined(__linux__)
  return accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  int fd = accept(lfd, NULL, NULL);
  if (fd >= 0 && (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
#endif
}

/* The peer of an accepted connection; 0 or an errno. */
static int accepted_peer(int fd, int64_t *uid, int64_t *gid, int64_t *pid) {
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof cred;
  memset(&cred, 0, sizeof cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return errno;
  if (len != sizeof cred) return EINVAL;
  if (cred.uid == (uid_t)-1 || cred.gid == (gid_t)-1) return ENOTCONN;
  *uid = cred.uid;
  *gid = cred.gid;
  *pid = cred.pid;
  return 0;
#elif defined(__APPLE__)
  uid_t u;
  gid_t g;
  pid_t p = -1;
  socklen_t len = sizeof p;
  if (getpeereid(fd, &u, &g) != 0) return errno;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) != 0 || len != sizeof p) p = -1;
  *uid = u;
  *gid = g;
  *pid = p;
  return 0;
#else
  (void)fd, (void)uid, (void)gid, (void)pid;
  return ENOSYS;
#endif
}

/* 1: the callback ran; 0: it ran and threw; -1: it could not be called (the fd is still ours). */
static int acceptor_call(js_poll *p, int64_t fd, int64_t uid, int64_t gid, int64_t pid, int err) {
  napi_handle_scope scope;
  napi_value fn, recv, argv[5], ignored;
  int ok = -1;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return -1;
  if (napi_get_reference_value(p->env, p->cb, &fn) == napi_ok && fn != NULL && napi_get_global(p->env, &recv) == napi_ok &&
      napi_create_int64(p->env, fd, &argv[0]) == napi_ok && napi_create_int64(p->env, uid, &argv[1]) == napi_ok &&
      napi_create_int64(p->env, gid, &argv[2]) == napi_ok && napi_create_int64(p->env, pid, &argv[3]) == napi_ok &&
      napi_create_int32(p->env, err, &argv[4]) == napi_ok)
    ok = napi_make_callback(p->env, p->ctx, recv, fn, 5, argv, &ignored) == napi_ok ? 1 : 0;
  napi_close_handle_scope(p->env, scope);
  return ok;
}

static void acceptor_cb(uv_poll_t *h, int status, int events) {
  js_poll *p = (js_poll *)h->data;
  (void)events;
  if (p->closed || !p->active) return;
  if (status < 0) {
    uv_poll_stop(&p->handle);
    p->active = 0;
    (void)acceptor_call(p, status, -1, -1, -1, -status);
    return;
  }
  int accepted = 0;
  for (int i = 0; i < ACCEPT_BATCH && !p->closed && p->active; i++) {
    int fd = accept_one(p->fd);
    if (fd < 0) {
      int e = errno;
      if (e == EINTR || e == ECONNABORTED) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      uv_poll_stop(&p->handle); /* EMFILE and the like: the caller restarts it later */
      p->active = 0;
      (void)acceptor_call(p, -(int64_t)e, -1, -1, -1, e);
      break;
    }
    int64_t uid = -1, gid = -1, pid = -1;
    int err = accepted_peer(fd, &uid, &gid, &pid);
    int called = acceptor_call(p, fd, uid, gid, pid, err);
    if (called < 0) close(fd); /* no one saw it: never leak it */
    if (called <= 0) break;   /* a throw surfaces as Node surfaces one from any callback */
    accepted++;
  }
  /* The end of this wakeup's connections: cb(-1, -1, -1, -1, 0). */
  if (accepted && !p->closed) (void)acceptor_call(p, -1, -1, -1, -1, 0);
}

/* An acceptor handle, open or closed. */
static int get_acceptor(napi_env env, napi_value v, js_poll **p) { return get_js_poll(env, v, POLL_ACCEPT, p); }
#endif

/* unixListen(path, backlog) -> fd: a non-blocking, close-on-exec AF_UNIX stream socket bound at
   path (with the caller's umask) and listening. */
static napi_value UnixListen(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int32_t backlog;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!is_string(env, argv[0]) || napi_get_value_int32(env, argv[1], &backlog) != napi_ok || backlog < 1)
    return throw_type(env, "unixListen(path, backlog)");
#ifdef TVAULT_POSIX
  {
    size_t plen;
    char *path = get_utf8(env, argv[0], &plen);
    struct sockaddr_un sa;
    int fd, e;
    if (!path) return NULL;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (plen == 0 || plen >= sizeof sa.sun_path || memchr(path, 0, plen)) {
      free(path);
      return throw_errno(env, ENAMETOOLONG, "bind");
    }
    memcpy(sa.sun_path, path, plen);
    free(path);
#if defined(__linux__)
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)) {
      e = errno;
      close(fd);
      return throw_errno(env, e, "fcntl");
    }
#endif
    if (fd < 0) return throw_errno(env, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1)) != 0) {
      e = errno;
      close(fd);
      return throw_errno(env, e, "bind");
    }
    if (listen(fd, backlog) != 0) {
      e = errno;
      close(fd);
      return throw_errno(env, e, "listen");
    }
    NAPI_OK(napi_create_int32(env, fd, &r));
    return r;
  }
#else
  (void)r;
  return throw_unsupported(env);
#endif
}

/* acceptor(listenFd, cb) -> handle; started at once. */
static napi_value Acceptor(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  napi_valuetype t;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd) || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) return throw_type(env, "acceptor(fd, cb)");
#ifdef TVAULT_POSIX
  return js_poll_new(env, POLL_ACCEPT, fd, UV_READABLE, acceptor_cb, argv[1], "acceptor");
#else
  return throw_unsupported(env);
#endif
}

/* acceptorSet(handle, on): stops or restarts accepting. acceptorClose(handle): ends it (the
   listening fd stays the caller's to close). A closed handle is ignored; anything else throws. */
static napi_value AcceptorSet(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool on;
  if (!get_args(env, info, 2, argv)) return NULL;
#ifdef TVAULT_POSIX
  {
    js_poll *p;
    if (!get_acceptor(env, argv[0], &p) || napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "acceptorSet(handle, on)");
    return p->closed ? NULL : js_poll_set(env, p, on);
  }
#else
  (void)on;
  return throw_unsupported(env);
#endif
}

static napi_value AcceptorClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
#ifdef TVAULT_POSIX
  {
    js_poll *p;
    if (!get_acceptor(env, argv[0], &p)) return throw_type(env, "acceptorClose(handle)");
    if (!p->closed) js_poll_close(env, p);
    return NULL;
  }
#else
  return throw_unsupported(env);
#endif
}

/* fdRecv(fd, max) -> Buffer of what one non-blocking recv returned (empty at end of input), or
   null when nothing is there yet; max is at most 128 KiB. The scratch bytes are wiped. */
static napi_value FdRecv(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int fd;
  uint32_t max;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd) || napi_get_value_uint32(env, argv[1], &max) != napi_ok || max < 1) return throw_type(env, "fdRecv(fd, max)");
#ifdef TVAULT_POSIX
  {
    ssize_t n;
    void *data;
    if (max > FD_RECV_MAX) max = FD_RECV_MAX;
    do
      n = recv(fd, recv_scratch, max, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        NAPI_OK(napi_get_null(env, &r));
        return r;
      }
      return throw_errno(env, errno, "recv");
    }
    napi_status st = napi_create_buffer_copy(env, (size_t)n, recv_scratch, &data, &r);
    tv_wipe(recv_scratch, (size_t)n);
    NAPI_OK(st);
    return r;
  }
#else
  (void)r, (void)fd, (void)max;
  return throw_unsupported(env);
#endif
}

/* fdSendClose(fd, bytes) -> n: sends what the socket takes without blocking. All of it: the fd is
   closed and n is the length. Part of it (the socket is full): n bytes went, the fd stays open
   for the caller. A failed send (the peer is gone): the fd is closed and n is -1. */
static napi_value FdSendClose(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int fd;
  void *data;
  size_t len;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &len)) return throw_type(env, "fdSendClose(fd, bytes)");
#ifdef TVAULT_POSIX
  {
    size_t off = 0;
    double out;
    while (off < len) {
      ssize_t n = send(fd, (const char *)data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        off = (size_t)-1;
        break;
      }
      off += (size_t)n;
    }
    if (off == (size_t)-1) {
      close(fd);
      out = -1;
    } else {
      if (off == len) close(fd);
      out = (double)off;
    }
    NAPI_OK(napi_create_double(env, out, &r));
    return r;
  }
#else
  (void)r, (void)fd, (void)data, (void)len;
  return throw_unsupported(env);
#endif
}

/* fdClose(fd): closes a descriptor that fdSendClose left open, or one no one took. */
static napi_value FdClose(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (!get_fd(env, argv[0], &fd)) return throw_type(env, "fdClose(fd)");
#ifdef TVAULT_POSIX
  close(fd);
  return NULL;
#else
  return throw_unsupported(env);
#endif
}

/* ---------- module ---------------------------------------------------------- */

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"peerCred", NULL, PeerCred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flockExclusive", NULL, FlockExclusive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"harden", NULL, Harden, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setCoreLimit", NULL, SetCoreLimit, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scrubEnv", NULL, ScrubEnv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mlock", NULL, Mlock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"munlock", NULL, Munlock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"zero", NULL, Zero, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sdNotify", NULL, SdNotify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"agentCall", NULL, AgentCall, NULL, NULL, NULL, napi_enumerable, NULL},
      {"agentConnect", NULL, AgentConnect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, Pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFds", NULL, SendFds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvFds", NULL, RecvFds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ptySpawn", NULL, PtySpawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ptyResize", NULL, PtyResize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ttySize", NULL, TtySize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ttyRaw", NULL, TtyRaw, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ttySave", NULL, TtySave, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ttyRestore", NULL, TtyRestore, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitPid", NULL, WaitPid, NULL, NULL, NULL, napi_enumerable, NULL},
      {"maskScan", NULL, MaskScan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipeTune", NULL, PipeTune, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdPoll", NULL, FdPoll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdPollSet", NULL, FdPollSet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdPollClose", NULL, FdPollClose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unixListen", NULL, UnixListen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"acceptor", NULL, Acceptor, NULL, NULL, NULL, napi_enumerable, NULL},
      {"acceptorSet", NULL, AcceptorSet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"acceptorClose", NULL, AcceptorClose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdRecv", NULL, FdRecv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdSendClose", NULL, FdSendClose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fdClose", NULL, FdClose, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  tvault_secretbox_rows_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
