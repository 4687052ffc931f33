/*
 * front.c: the installed `tvault` command, a native front end to the JavaScript CLI.
 *
 * `tvault get KEY` and `tvault env --format shell` (what the shell hooks run) are the commands a
 * developer runs dozens of times an hour, and through a warm agent their work is one round trip
 * on a unix socket. A Node start costs more than that round trip many times over, so this small
 * program answers those two commands itself when an agent serves them as raw replies
 * (docs/PROTOCOL.md, "Raw replies": bytes ready to print, no JSON string to decode, no quoting
 * to do here). For everything else, and at the first doubt, it executes the JavaScript CLI
 * (`node <this program's directory>/tvault-node ARGS...`) with the same arguments, which
 * decides and reports as if this program did not exist.
 *
 * The rule that keeps this safe: it answers only an exact, strict subset of what the CLI's own
 * fast path (packages/cli/src/fast.ts, fast-args.ts) answers, in the same way: the same vault
 * directory, socket checks (agent_dial.c, shared with the addon), project resolution, request
 * and output. Anything it does not recognise exactly - another flag, a repeated one, an
 * environment that changes the answer (TVAULT_NO_AGENT, TVAULT_IDENTITY_KEY, TVAULT_HANDOFF), a
 * tvault.toml on the way up, a refusal, an error line, a short answer - goes to the full CLI
 * before anything is printed. docs/SECURITY.md says what it protects and what it does not.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "agent_dial.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__linux__) || defined(__APPLE__)
#include <poll.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#if defined(__APPLE__)
#include <mach-o/dyld.h>
#include <sys/ptrace.h>
#endif

/* As the JS client: the same deadline, the same bound on an answer (protocol's MAX_ANSWER_BYTES). */
#define DEADLINE_MS 5000
#define MAX_ANSWER_BYTES ((size_t)64 << 20)
#define MAX_KEY_NAME 255
#define MAX_PROJECT_NAME 100
#define MAX_TOKEN 4096
#define EXIT_ERROR 1
#define EXIT_STDOUT_CLOSED 141 /* 128 + SIGPIPE, as the JS CLI exits when its reader has gone */
#define EXIT_NO_NODE 127        /* what `#!/usr/bin/env node` gives when node is not found */
#define CONFIG_NAME "tvault.toml"

/* What the command line asks for: `get KEY` or `env`, with the few options the front serves. */
struct ask {
  int get;             /* 1: get KEY; 0: env */
  const char *key;     /* get's KEY */
  const char *vault;   /* --vault, or NULL */
  const char *project; /* -p/--project, or NULL */
  int raw;             /* get --raw: no newline after the value */
};

#if defined(__linux__) || defined(__APPLE__)

/* ---------- the command line ---------------------------------------------- */

static int key_name_ok(const char *s) {
  size_t n = strlen(s), i;
  if (n == 0 || n > MAX_KEY_NAME || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return 1;
}

static int project_name_ok(const char *s) {
  size_t n = strlen(s), i;
  if (n == 0 || n > MAX_PROJECT_NAME) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return 0;
  }
  return 1;
}

/*
 * An option's value, as fast-args.ts takes it: inline after "=", else the next word, which must
 * not start with "-" (yargs would take it for a flag); never empty, never given twice.
 */
static const char *option_value(int argc, char **argv, int *i, const char *inline_value, const char **slot) {
  const char *v = inline_value;
  if (*slot != NULL) return NULL;
  if (v == NULL) {
    if (*i + 1 >= argc) return NULL;
    v = argv[++*i];
    if (v[0] == '-') return NULL;
  }
  if (v[0] == '\0') return NULL;
  *slot = v;
  return v;
}

/*
 * 1 when argv is one of the shapes the front serves: `get KEY [--raw]` or
 * `env [--format shell] [--export[=true]]`, each with optional --vault DIR and -p/--project P.
 * 0 for anything else, which the full CLI decides.
 */
static int parse_ask(int argc, char **argv, struct ask *a) {
  int i, positional = 0, format = 0, exported = 0;
  memset(a, 0, sizeof *a);
  if (argc < 2) return 0;
  if (strcmp(argv[1], "get") == 0) a->get = 1;
  else if (strcmp(argv[1], "env") != 0) return 0;
  for (i = 2; i < argc; i++) {
    const char *tok = argv[i], *eq = strchr(tok, '='), *inl = NULL;
    char flag[16];
    if (tok[0] == '-' && tok[1] == '-' && eq != NULL && eq > tok) {
      if ((size_t)(eq - tok) >= sizeof flag) return 0;
      memcpy(flag, tok, (size_t)(eq - tok));
      flag[eq - tok] = '\0';
      inl = eq + 1;
    } else if (strlen(tok) < sizeof flag) strcpy(flag, tok);
    else flag[0] = '\0';
    if (strcmp(flag, "--vault") == 0) {
      if (!option_value(argc, argv, &i, inl, &a->vault)) return 0;
    } else if (strcmp(flag, "-p") == 0 || strcmp(flag, "--project") == 0) {
      if (!option_value(argc, argv, &i, inl, &a->project) || !project_name_ok(a->project)) return 0;
    } else if (strcmp(flag, "--raw") == 0) {
      if (!a->get || inl != NULL || a->raw) return 0;
      a->raw = 1;
    } else if (strcmp(flag, "--format") == 0) {
      const char *f = NULL;
      if (a->get || format++ || !option_value(argc, argv, &i, inl, &f) || strcmp(f, "shell") != 0) return 0;
    } else if (strcmp(flag, "--export") == 0) {
      if (a->get || exported++ || (inl != NULL && strcmp(inl, "true") != 0)) return 0;
    } else if (tok[0] == '-') {
      return 0;
    } else {
      if (!a->get || positional++) return 0;
      a->key = tok;
    }
  }
  if (a->get && (a->key == NULL || !key_name_ok(a->key))) return 0;
  return 1;
}

/* ---------- the environment ----------------------------------------------- */

/* TVAULT_NO_AGENT: anything but empty, "0" or "false" skips the agent (agent-client.ts). */
static int agent_disabled(void) {
  const char *v = getenv("TVAULT_NO_AGENT");
  return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

/* A token the request can carry as a JSON string without escaping; NULL for none, "" to refuse. */
static const char *agent_token(void) {
  const char *t = getenv("TVAULT_AGENT_TOKEN");
  size_t i;
  if (t == NULL || t[0] == '\0') return NULL;
  for (i = 0; t[i]; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || i >= MAX_TOKEN) return "";
  }
  return t;
}

/* ---------- paths ------------------------------------------------------------ */

/*
 * Node's path.resolve(base) for a base that is absolute or relative to cwd: "." and empty
 * segments dropped, ".." taken back (never above "/"). 0 when it does not fit.
 */
static int resolve_path(const char *cwd, const char *base, char *out, size_t cap) {
  char joined[PATH_MAX * 2];
  size_t len = 0;
  char *seg, *save = NULL;
  int n = base[0] == '/' ? snprintf(joined, sizeof joined, "%s", base) : snprintf(joined, sizeof joined, "%s/%s", cwd, base);
  if (n < 0 || (size_t)n >= sizeof joined || cap < 2) return 0;
  for (seg = strtok_r(joined, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save)) {
    size_t sl = strlen(seg);
    if (strcmp(seg, ".") == 0) continue;
    if (strcmp(seg, "..") == 0) {
      while (len > 0 && out[len] != '/') len--;
      continue;
    }
    if (len + 1 + sl >= cap) return 0;
    out[len++] = '/';
    memcpy(out + len, seg, sl);
    len += sl;
    out[len] = '\0';
  }
  if (len == 0) strcpy(out, "/");
  else out[len] = '\0';
  return 1;
}

/* The vault directory: --vault, else TVAULT_DIR, else ~/.tvault (core/paths.ts); 0: let Node decide. */
static int vault_dir(const struct ask *a, const char *cwd, char *out, size_t cap) {
  const char *base = a->vault, *env = getenv("TVAULT_DIR");
  char home[PATH_MAX];
  if (base == NULL && env != NULL && env[0] != '\0') base = env;
  if (base == NULL) {
    /* os.homedir(): $HOME, else the password database. An empty HOME is Node's to interpret. */
    const char *h = getenv("HOME");
    struct passwd *pw;
    if (h == NULL) {
      pw = getpwuid(getuid());
      h = pw != NULL ? pw->pw_dir : NULL;
    }
    if (h == NULL || h[0] == '\0' || snprintf(home, sizeof home, "%s/.tvault", h) >= (int)sizeof home) return 0;
    base = home;
  }
  return resolve_path(cwd, base, out, cap);
}

/* Another user could have written it, or could change it (project-config.ts's untrusted). */
static int untrusted(const struct stat *st) {
  return (st->st_uid != getuid() && st->st_uid != 0) || (st->st_mode & 022) != 0;
}

static int regular_file_at(const char *dir, const char *name) {
  char p[PATH_MAX];
  struct stat st;
  int n = snprintf(p, sizeof p, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
  return n > 0 && (size_t)n < sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Without -p, the project is a tvault.toml's, found by the CLI's walk up from cwd
 * (project-config.ts's findConfig). The front never reads one: 1 when the walk finds none (the
 * project is the vault's current one), 0 when it finds any file of that name, allowed or not,
 * trusted or not, which the full CLI checks, uses or reports.
 */
static int no_config_above(const char *cwd) {
  char d[PATH_MAX];
  struct stat st;
  if (strlen(cwd) >= sizeof d) return 0;
  strcpy(d, cwd);
  for (;;) {
    char *slash;
    if (regular_file_at(d, CONFIG_NAME)) return 0;
    /* The walk ends at the first directory another user could write (findConfig's dirWhy). */
    if (stat(d, &st) != 0 || untrusted(&st)) return 1;
    if (strcmp(d, "/") == 0) return 1;
    slash = strrchr(d, '/');
    if (slash == d) strcpy(d, "/");
    else *slash = '\0';
  }
}

/* ---------- hardening ---------------------------------------------------------- */

static struct rlimit core_before;
static int core_saved;

/*
 * As the CLI hardens itself before it handles a secret (cli/src/harden.ts): not dumpable (no
 * ptrace, no /proc/PID/mem for other processes of this user) and no core file. 0 when the OS
 * refuses, and the full CLI then decides (it refuses to handle secrets).
 */
static int harden(void) {
  struct rlimit none;
  if (getrlimit(RLIMIT_CORE, &core_before) != 0) return 0;
  core_saved = 1;
  none.rlim_cur = 0;
  none.rlim_max = core_before.rlim_max;
  if (setrlimit(RLIMIT_CORE, &none) != 0) return 0;
#if defined(__linux__)
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 0;
#elif defined(__APPLE__)
  if (ptrace(PT_DENY_ATTACH, 0, 0, 0) != 0) return 0;
#endif
  return 1;
}

/* ---------- the full CLI ------------------------------------------------------- */

/* The JavaScript launcher installed beside this program, by its real path. */
static int launcher_path(char *out, size_t cap) {
  char self[PATH_MAX], real[PATH_MAX], *slash;
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 0;
  self[n] = '\0';
#else
  uint32_t size = sizeof self;
  if (_NSGetExecutablePath(self, &size) != 0) return 0;
#endif
  if (realpath(self, real) == NULL || (slash = strrchr(real, '/')) == NULL) return 0;
  *slash = '\0';
  return snprintf(out, cap, "%s/tvault-node", real) < (int)cap;
}

/* Runs `node LAUNCHER ARGS...` in this process: the full CLI, as if the front were not there. */
static void full_cli(int argc, char **argv) {
  char launcher[PATH_MAX];
  char **args = calloc((size_t)argc + 2, sizeof *args);
  int i;
  if (core_saved) setrlimit(RLIMIT_CORE, &core_before); /* the caller's limit, which the CLI keeps for `run`'s child */
  if (args == NULL || !launcher_path(launcher, sizeof launcher)) {
    fprintf(stderr, "tvault: cannot find the JavaScript CLI beside this program (tvault-node)\n");
    exit(EXIT_ERROR);
  }
  args[0] = "node";
  args[1] = launcher;
  for (i = 1; i < argc; i++) args[i + 1] = argv[i];
  args[argc + 1] = NULL;
  execvp("node", args);
  fprintf(stderr, "tvault: cannot run node (needed for %s): %s\n", launcher, strerror(errno));
  exit(EXIT_NO_NODE);
}

/* ---------- the round trip ------------------------------------------------------ */

/* The request line, as agent-client.ts's readRequest would send it, with `reply`. NULL: out of memory. */
static char *request_line(const struct ask *a, const char *project, const char *token, size_t *len) {
  size_t cap = 256 + MAX_KEY_NAME + MAX_PROJECT_NAME + (token ? strlen(token) : 0);
  char *buf = malloc(cap), pj[MAX_PROJECT_NAME + 3];
  int n;
  if (buf == NULL) return NULL;
  if (project) snprintf(pj, sizeof pj, "\"%s\"", project);
  else strcpy(pj, "null");
  if (a->get) n = snprintf(buf, cap, "{\"v\":1,\"op\":\"get\",\"key\":\"%s\",\"project\":%s,\"reply\":\"value\"", a->key, pj);
  else n = snprintf(buf, cap, "{\"v\":1,\"op\":\"getall\",\"project\":%s,\"reply\":\"shell\"", pj);
  if (n > 0 && token) n += snprintf(buf + n, cap - (size_t)n, ",\"token\":\"%s\"", token);
  if (n > 0) n += snprintf(buf + n, cap - (size_t)n, "}\n");
  if (n <= 0 || (size_t)n >= cap) {
    tv_wipe(buf, cap);
    free(buf);
    return NULL;
  }
  *len = (size_t)n;
  return buf;
}

/*
 * The body of a raw reply: the answer must be exactly `{"ok":true,"bytes":N}\n` and N bytes.
 * The body's offset, or 0 for anything else (an error line, an old agent's JSON, a short body).
 */
static size_t raw_body(const char *ans, size_t len, size_t *body_len) {
  static const char head[] = "{\"ok\":true,\"bytes\":";
  size_t hl = sizeof head - 1, i = hl;
  uint64_t n = 0;
  if (len < hl + 3 || memcmp(ans, head, hl) != 0) return 0;
  if (ans[i] == '0' && ans[i + 1] != '}') return 0; /* no leading zeros */
  for (; i < len && ans[i] >= '0' && ans[i] <= '9'; i++) {
    if (i - hl >= 10) return 0;
    n = n * 10 + (uint64_t)(ans[i] - '0');
  }
  if (i == hl || i + 2 > len || ans[i] != '}' || ans[i + 1] != '\n' || n > MAX_ANSWER_BYTES) return 0;
  i += 2;
  if ((uint64_t)(len - i) != n) return 0;
  *body_len = (size_t)n;
  return i;
}

/* Asks the agent; the whole answer (the caller wipes and frees it), or NULL: the full CLI decides. */
static char *ask_agent(const char *sock, const char *req, size_t rlen, int delegate, size_t *alen) {
  struct dial_refusal why;
  int64_t deadline = tv_now_ms() + DEADLINE_MS;
  char *ans = NULL;
  ssize_t n = -1;
  int fd = tv_connect_checked(sock, strlen(sock), delegate, deadline, &why);
  if (fd < 0) return NULL; /* no agent, or a refusal the full CLI words */
  /* -1: the agent stopped reading, and may have answered (a refusal): read what it said */
  if (tv_send_all(fd, req, rlen, deadline) != 0) n = tv_recv(fd, &ans, MAX_ANSWER_BYTES + 64, deadline, 1);
  close(fd);
  if (n < 0) return NULL;
  *alen = (size_t)n;
  return ans;
}

/*
 * Writes all of it to fd 1 as writeStdoutSync does: a full non-blocking pipe is waited for, a
 * closed reader ends with 141, any other error with a one-line message and 1. 0 when written.
 */
static int write_out(const char *p, size_t n) {
  signal(SIGPIPE, SIG_IGN); /* EPIPE, not death: the exit status is then ours to give */
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) continue;
    else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = {1, POLLOUT, 0};
      poll(&pf, 1, -1);
    } else if (w < 0 && errno == EPIPE) return EXIT_STDOUT_CLOSED;
    else {
      fprintf(stderr, "tvault: cannot write to standard output: %s\n", strerror(w < 0 ? errno : EIO));
      return EXIT_ERROR;
    }
  }
  return 0;
}

/* Answers the command from the agent; returns its exit code, or -1: the full CLI decides. */
static int serve(const struct ask *a) {
  char cwd[PATH_MAX], dir[PATH_MAX], sock[PATH_MAX + 16];
  const char *token = agent_token(), *project = a->project;
  char *req, *ans;
  size_t rlen = 0, alen = 0, blen = 0, at;
  int rc;
  if (token != NULL && token[0] == '\0') return -1;
  if (getcwd(cwd, sizeof cwd) == NULL || cwd[0] != '/') return -1;
  if (!vault_dir(a, cwd, dir, sizeof dir)) return -1;
  if (snprintf(sock, sizeof sock, "%s%sagent.sock", dir, strcmp(dir, "/") == 0 ? "" : "/") >= (int)sizeof sock) return -1;
  if (project == NULL && !no_config_above(cwd)) return -1;
  if (!harden()) return -1;
  req = request_line(a, project, token, &rlen);
  if (req == NULL) return -1;
  ans = ask_agent(sock, req, rlen, token != NULL, &alen);
  tv_wipe(req, rlen); /* it may carry the token */
  free(req);
  if (ans == NULL) return -1;
  at = raw_body(ans, alen, &blen);
  if (at == 0) rc = -1;
  else {
    rc = write_out(ans + at, blen);
    if (rc == 0 && a->get && !a->raw) rc = write_out("\n", 1);
  }
  tv_wipe(ans, alen);
  free(ans);
  return rc;
}

int main(int argc, char **argv) {
  struct ask a;
  if (parse_ask(argc, argv, &a) && !agent_disabled() && getenv("TVAULT_IDENTITY_KEY") == NULL && getenv("TVAULT_HANDOFF") == NULL) {
    int rc = serve(&a);
    if (rc >= 0) return rc;
  }
  full_cli(argc, argv);
  return EXIT_ERROR; /* not reached */
}

#else /* neither Linux nor macOS: the front has nothing to serve */

int main(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "tvault: the native front end supports Linux and macOS only; run bin/tvault-node with node\n");
  return EXIT_ERROR;
}
#endif
