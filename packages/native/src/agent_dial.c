/*
 * agent_dial: the client's side of the agent's socket (see agent_dial.h). Plain POSIX C, no
 * Node-API: the addon and the native front end link the same object, so they refuse the same
 * sockets and bound every step by the same kind of deadline.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "agent_dial.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) || defined(__APPLE__)
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

void tv_wipe(void *p, size_t n) {
  volatile unsigned char *v = (volatile unsigned char *)p;
  while (n--) *v++ = 0;
}

int64_t tv_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events` or the deadline passes; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - tv_now_ms();
    struct pollfd p = {fd, events, 0};
    int n;
    if (left <= 0) return 0;
    n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (n > 0) return 1;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

/* Bound a blocking connect by the time left (SO_SNDTIMEO, honoured on Linux); 0 when none is left. */
static int set_connect_timeout(int fd, int64_t deadline) {
  int64_t left = deadline - tv_now_ms();
  struct timeval tv;
  if (left <= 0) return 0;
  tv.tv_sec = (time_t)(left / 1000);
  tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
  return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
}

int tv_connect_unix(const char *path, size_t plen, int64_t deadline) {
  struct sockaddr_un sa;
  int fd, flags, rc;
  if (plen == 0 || plen >= sizeof sa.sun_path || memchr(path, '\0', plen) != NULL) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, plen);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    close(fd);
    return -1;
  }
  /* A signal (Node's own SIGUSR1 handler, a SIGWINCH) interrupts only a connect that waits for
     a full backlog; try again with the time left, and a retry that finds the connection made
     is a success. */
  do {
    if (!set_connect_timeout(fd, deadline)) {
      close(fd);
      return -1;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EISCONN) {
    close(fd);
    return -1;
  }
  /* Reads and writes below are non-blocking, each bounded by the one deadline. */
  flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
#ifdef SO_NOSIGPIPE
  {
    int one = 1; /* macOS has no MSG_NOSIGNAL */
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  }
#endif
  return fd;
}

static int refuse(struct dial_refusal *why, const char *code, const char *msg, uid_t uid) {
  why->code = code;
  why->msg = msg;
  why->uid = uid;
  return -2;
}

/*
 * Checks the socket's directory and connects through the same open directory, so that nobody who
 * can rename an ancestor can swap the directory between the check and the connect. The directory
 * is opened without following a link; it must be neither group- nor other-writable, and owned by
 * this euid or root unless any_owner (a delegate with a token); the socket is looked up in it
 * without following a link.
 */
int tv_connect_checked(const char *path, size_t plen, int any_owner, int64_t deadline, struct dial_refusal *why) {
  char dir[PATH_MAX], via[128];
  const char *slash = NULL, *name;
  struct stat dst, sst;
  int dfd, fd;
  size_t k;
  for (k = 0; k < plen; k++) if (path[k] == '/') slash = path + k;
  if (slash == NULL || (size_t)(slash - path) >= sizeof dir || slash[1] == '\0' || memchr(path, '\0', plen) != NULL) return -1;
  name = slash + 1;
  if (slash == path) strcpy(dir, "/");
  else {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
  }
#if defined(__linux__)
  /* O_PATH: a delegate may traverse the agent's directory without being able to list it. */
  dfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
#else
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
#endif
  if (dfd < 0) {
    /* A link where the directory should be: an error if an agent socket is behind it, else no agent. */
    if ((errno == ELOOP || errno == ENOTDIR) && stat(path, &sst) == 0 && S_ISSOCK(sst.st_mode))
      return refuse(why, "EDIRLINK", "the socket's directory is a symbolic link", 0);
    return -1;
  }
  if (fstat(dfd, &dst) != 0 || !S_ISDIR(dst.st_mode) || fstatat(dfd, name, &sst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(sst.st_mode)) {
    close(dfd);
    return -1;
  }
  if (dst.st_mode & 022) {
    close(dfd);
    return refuse(why, "EDIRWRITABLE", "the socket's directory is writable by group or others", dst.st_uid);
  }
  if (!any_owner && dst.st_uid != geteuid() && dst.st_uid != 0) {
    close(dfd);
    return refuse(why, "EDIROWNER", "the socket's directory belongs to another user", dst.st_uid);
  }
#if defined(__linux__)
  /* connect() has no *at form; the magic link of the open directory is the same object. */
  snprintf(via, sizeof via, "/proc/self/fd/%d/%s", dfd, name);
  fd = strlen(via) < sizeof via - 1 ? tv_connect_unix(via, strlen(via), deadline) : -1;
  close(dfd);
  return fd;
#else
  /* Fallback without /proc: connect by path, then require the listener to be this user or the
     checked directory's owner, which a swapped-in directory's listener is not. */
  (void)via;
  fd = tv_connect_unix(path, plen, deadline);
  close(dfd);
  if (fd >= 0) {
    uid_t u;
    gid_t g;
    if (getpeereid(fd, &u, &g) != 0 || (u != geteuid() && u != dst.st_uid)) {
      close(fd);
      return refuse(why, "EDIRSWAP", "the socket's directory changed while it was checked", dst.st_uid);
    }
  }
  return fd;
#endif
}

int tv_send_all(int fd, const char *req, size_t len, int64_t deadline) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
    if (n > 0) off += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_fd(fd, POLLOUT, deadline) != 1) return 0;
    } else return -1;
  }
  shutdown(fd, SHUT_WR);
  return 1;
}

/* The answer is secret: grow the buffer by copying and wiping, never by realloc (which may leave copies). */
static char *grow(char *buf, size_t len, size_t *cap, size_t max) {
  size_t ncap = *cap * 2 > max ? max : *cap * 2;
  char *n = malloc(ncap);
  if (n == NULL) return NULL;
  memcpy(n, buf, len);
  tv_wipe(buf, *cap);
  free(buf);
  *cap = ncap;
  return n;
}

ssize_t tv_recv(int fd, char **out, size_t max, int64_t deadline, int until_eof) {
  size_t cap = max < 65536 ? max : 65536, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return -1;
  for (;;) {
    ssize_t n;
    if (len == cap) {
      char *bigger = len >= max ? NULL : grow(buf, len, &cap, max);
      if (bigger == NULL) {
        tv_wipe(buf, cap);
        free(buf);
        return -1;
      }
      buf = bigger;
    }
    n = recv(fd, buf + len, cap - len, 0);
    if (n > 0) {
      int done = !until_eof && memchr(buf + len, '\n', (size_t)n) != NULL;
      len += (size_t)n;
      if (done) break;
    } else if (n == 0) break;
    else if (errno == EINTR) continue;
    else if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLIN, deadline) == 1) continue;
    else break; /* timeout or reset: the caller judges what arrived */
  }
  *out = buf;
  return (ssize_t)len;
}

#else /* neither Linux nor macOS: nothing to dial */

void tv_wipe(void *p, size_t n) {
  volatile unsigned char *v = (volatile unsigned char *)p;
  while (n--) *v++ = 0;
}
int64_t tv_now_ms(void) { return 0; }
int tv_connect_unix(const char *path, size_t plen, int64_t deadline) { (void)path, (void)plen, (void)deadline; return -1; }
int tv_connect_checked(const char *path, size_t plen, int any_owner, int64_t deadline, struct dial_refusal *why) {
  (void)path, (void)plen, (void)any_owner, (void)deadline, (void)why;
  return -1;
}
int tv_send_all(int fd, const char *req, size_t len, int64_t deadline) { (void)fd, (void)req, (void)len, (void)deadline; return -1; }
ssize_t tv_recv(int fd, char **out, size_t max, int64_t deadline, int until_eof) {
  (void)fd, (void)out, (void)max, (void)deadline, (void)until_eof;
  return -1;
}
#endif
