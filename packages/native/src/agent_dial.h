/*
 * agent_dial: the client's side of the agent's socket, in plain C with no Node-API, shared by the
 * addon (agentCall, agentConnect) and by the native front end (front.c). One copy of the checks
 * that decide whether a socket may be dialled, so that both clients refuse the same sockets.
 */
#ifndef TVAULT_AGENT_DIAL_H
#define TVAULT_AGENT_DIAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Why a socket's directory was refused: a code the clients word ("EDIRWRITABLE"...), and its owner. */
struct dial_refusal {
  const char *code;
  const char *msg;
  uid_t uid;
};

/* Wipe bytes through a volatile pointer so no optimiser can decide the store is dead. */
void tv_wipe(void *p, size_t n);

/* Milliseconds of the monotonic clock: deadlines below are in these. */
int64_t tv_now_ms(void);

/* A plain connect by path (no directory checks), non-blocking once connected; -1 when nobody listens. */
int tv_connect_unix(const char *path, size_t plen, int64_t deadline);

/*
 * The checked connect: the directory must be neither group- nor other-writable, and this euid's
 * or root's unless any_owner; the socket is reached through the open, checked directory.
 * The connected fd; -1 no agent there; -2 refused (*why says why).
 */
int tv_connect_checked(const char *path, size_t plen, int any_owner, int64_t deadline, struct dial_refusal *why);

/* Send all of req, then half-close: 1 sent, -1 the agent stopped reading, 0 timed out. */
int tv_send_all(int fd, const char *req, size_t len, int64_t deadline);

/*
 * Read up to and including the first newline (until_eof 0), or everything until the agent closes
 * (until_eof 1), at most max bytes, within the deadline. The count read into *out (malloc'd; the
 * caller wipes and frees it), or -1 (out of memory, more than max).
 */
ssize_t tv_recv(int fd, char **out, size_t max, int64_t deadline, int until_eof);

#endif
