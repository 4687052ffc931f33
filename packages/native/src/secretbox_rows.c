/*
 * secretboxOpenRows: the agent's getall opens a range of a project's values in one call (README.md,
 * NOTES.md "secretboxOpenRows"). The envelopes and their expected context headers are packed by
 * JS into one Buffer with a table of offsets; each value is opened with libsodium's
 * crypto_secretbox_open_easy (the system's libsodium, loaded with dlopen: sodium-native's copy
 * hides its symbols) into one output Buffer, and its header compared, exactly as
 * core/crypto.ts's openBound does. shellLines then writes a range's values as the shell format's
 * lines (`reply: "shell"`), byte for byte what core/env-format.ts's shellLinesBytes writes, in
 * one pass of memchr and memcpy instead of a JS loop per value. Nothing from JS is trusted: every
 * offset and length is checked against the Buffer it points into before it is followed.
 */
#include "secretbox_rows.h"

#include "agent_dial.h"
#include "napi_args.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SB_VERSION 1
#define SB_NONCE 24
#define SB_MAC 16
#define SB_KEY 32
#define SB_OVERHEAD (1 + SB_NONCE + SB_MAC)

typedef int (*sb_open_fn)(unsigned char *m, const unsigned char *c, unsigned long long clen, const unsigned char *n, const unsigned char *k);

static int sb_state; /* 0: not tried, 1: loaded, -1: unavailable */
static sb_open_fn sb_open;
static const char *sb_name;

#if defined(__APPLE__)
static const char *const SB_LIBS[] = {"libsodium.23.dylib", NULL};
#else
static const char *const SB_LIBS[] = {"libsodium.so.23", NULL};
#endif

static int sb_load(void) {
  if (sb_state) return sb_state > 0;
  sb_state = -1;
  for (int i = 0; SB_LIBS[i]; i++) {
    void *h = dlopen(SB_LIBS[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    int (*init)(void) = NULL;
    sb_open_fn openfn = NULL;
    size_t (*keybytes)(void) = NULL, (*noncebytes)(void) = NULL, (*macbytes)(void) = NULL;
    /* POSIX's way to get a function from dlsym without an object-to-function pointer cast. */
    *(void **)&init = dlsym(h, "sodium_init");
    *(void **)&openfn = dlsym(h, "crypto_secretbox_open_easy");
    *(void **)&keybytes = dlsym(h, "crypto_secretbox_keybytes");
    *(void **)&noncebytes = dlsym(h, "crypto_secretbox_noncebytes");
    *(void **)&macbytes = dlsym(h, "crypto_secretbox_macbytes");
    /* The same secretbox as ours, or none: XSalsa20-Poly1305, 32-byte key, 24-byte nonce, 16-byte MAC. */
    if (init && openfn && keybytes && noncebytes && macbytes && init() >= 0 && keybytes() == SB_KEY && noncebytes() == SB_NONCE &&
        macbytes() == SB_MAC) {
      sb_open = openfn;
      sb_name = SB_LIBS[i];
      sb_state = 1;
      return 1;
    }
    dlclose(h);
  }
  return 0;
}

/* secretboxLib() -> the name of the libsodium it loaded, or null (then secretboxOpenRows throws). */
static napi_value SecretboxLib(napi_env env, napi_callback_info info) {
  napi_value r;
  (void)info;
  if (!sb_load()) {
    napi_get_null(env, &r);
    return r;
  }
  napi_create_string_utf8(env, sb_name, NAPI_AUTO_LENGTH, &r);
  return r;
}

/*
 * secretboxOpenRows(key, packed, table, from, to, out) -> -1, or 2*i + kind for the first row i
 * that fails (kind 0: malformed or the MAC does not verify; 1: it opens to another header).
 * table is a Uint32Array of 4 entries a row: the envelope's offset and length in packed, then its
 * expected header's offset and length in packed. out must be exactly the rows' plaintexts
 * (envelope length - 41 each, 0 for a malformed one) side by side, in order; it is zeroed on any
 * failure (a RangeError too).
 */
static napi_value SecretboxOpenRows(napi_env env, napi_callback_info info) {
  napi_value argv[6], r;
  size_t argc = 6;
  void *kp = NULL, *pp = NULL, *tp = NULL, *op = NULL;
  size_t klen = 0, plen = 0, tlen = 0, olen = 0;
  uint32_t from = 0, to = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 6) return throw_type(env, "secretboxOpenRows: expected (key, packed, table, from, to, out)");
  if (!get_typed(env, argv[0], napi_uint8_array, &kp, &klen) || !get_typed(env, argv[1], napi_uint8_array, &pp, &plen) ||
      !get_typed(env, argv[5], napi_uint8_array, &op, &olen))
    return throw_type(env, "secretboxOpenRows: key, packed and out must be Uint8Arrays");
  if (!get_typed(env, argv[2], napi_uint32_array, &tp, &tlen)) return throw_type(env, "secretboxOpenRows: table must be a Uint32Array");
  if (!get_u32(env, argv[3], UINT32_MAX, &from) || !get_u32(env, argv[4], UINT32_MAX, &to)) return throw_type(env, "secretboxOpenRows: from and to must be non-negative integers");
  if (!sb_load()) return throw_range(env, "secretboxOpenRows: libsodium is not available (secretboxLib() is null)");
  if (klen != SB_KEY) return throw_range(env, "secretboxOpenRows: key must be 32 bytes");
  if (tlen % 4 || from > to || to > tlen / 4) return throw_range(env, "secretboxOpenRows: the table has no rows from..to");

  const uint8_t *packed = pp, *key = kp;
  const uint32_t *table = tp;
  uint8_t *out = op;
  size_t at = 0;
  int64_t failed = -1;
  const char *range = NULL;
  for (uint32_t i = from; i < to && failed < 0; i++) {
    const uint64_t so = table[4 * (size_t)i], sl = table[4 * (size_t)i + 1], ho = table[4 * (size_t)i + 2], hl = table[4 * (size_t)i + 3];
    if (so > plen || sl > plen - so || ho > plen || hl > plen - ho) {
      range = "secretboxOpenRows: a row points past packed";
      break;
    }
    const size_t n = sl >= SB_OVERHEAD ? (size_t)(sl - SB_OVERHEAD) : 0;
    if (n > olen - at) {
      range = "secretboxOpenRows: out is shorter than the rows' plaintexts";
      break;
    }
    const uint8_t *env_ = packed + so;
    uint8_t *m = out + at;
    at += n;
    if (sl < SB_OVERHEAD || env_[0] != SB_VERSION || sb_open(m, env_ + 1 + SB_NONCE, sl - 1 - SB_NONCE, env_ + 1, key) != 0) {
      failed = 2 * (int64_t)i;
      break;
    }
    /* openBound's startsWith: in time that depends only on the header's length. */
    if (hl > n) {
      failed = 2 * (int64_t)i + 1;
      break;
    }
    {
      const uint8_t *h = packed + ho;
      uint8_t diff = 0;
      for (size_t k = 0; k < hl; k++) diff |= (uint8_t)(m[k] ^ h[k]);
      if (diff) failed = 2 * (int64_t)i + 1;
    }
  }
  if (!range && failed < 0 && at != olen) range = "secretboxOpenRows: out is longer than the rows' plaintexts";
  if (range || failed >= 0) tv_wipe(out, olen);
  if (range) return throw_range(env, range);
  napi_create_double(env, (double)failed, &r);
  return r;
}

/* A key name as the shell format writes it unquoted: [A-Za-z_][A-Za-z0-9_]* (core checks names on
 * write; this refuses anything else rather than trust the caller). */
static int sb_shell_name(const uint8_t *p, size_t n) {
  if (n == 0 || (p[0] >= '0' && p[0] <= '9')) return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return 1;
}

static size_t sb_quotes(const uint8_t *v, size_t n) {
  size_t q = 0;
  for (const uint8_t *e = v + n; (v = memchr(v, '\'', (size_t)(e - v))) != NULL; v++) q++;
  return q;
}

#define SB_EXPORT "export "
#define SB_SHELL_MAX ((size_t)1 << 30)

/*
 * shellLines(plain, spans, names, nameSpans, first, exp) -> a new Buffer of the shell format's
 * lines, byte for byte core/env-format.ts's shellLinesBytes: `[export ]NAME='value'\n` a row,
 * each ' of the value written '\''. spans: 2 u32 a row, the value's offset and length in plain;
 * row k's name is nameSpans[2 * (first + k)], [...+1] in names. Every span is checked against its
 * Buffer and every name against the shell's name syntax before anything is written: a
 * RangeError, and nothing allocated, for any that fails. The caller zeroes the result.
 */
static napi_value ShellLines(napi_env env, napi_callback_info info) {
  napi_value argv[6], result;
  size_t argc = 6;
  void *pp = NULL, *sp = NULL, *np = NULL, *nsp = NULL;
  size_t plen = 0, slen = 0, nlen = 0, nslen = 0;
  uint32_t first = 0;
  bool exp = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 6) return throw_type(env, "shellLines: expected (plain, spans, names, nameSpans, first, exp)");
  if (!get_typed(env, argv[0], napi_uint8_array, &pp, &plen) || !get_typed(env, argv[2], napi_uint8_array, &np, &nlen))
    return throw_type(env, "shellLines: plain and names must be Uint8Arrays");
  if (!get_typed(env, argv[1], napi_uint32_array, &sp, &slen) || !get_typed(env, argv[3], napi_uint32_array, &nsp, &nslen))
    return throw_type(env, "shellLines: spans and nameSpans must be Uint32Arrays");
  if (!get_u32(env, argv[4], UINT32_MAX, &first)) return throw_type(env, "shellLines: first must be a non-negative integer");
  if (napi_get_value_bool(env, argv[5], &exp) != napi_ok) return throw_type(env, "shellLines: exp must be a boolean");
  if (slen % 2 || nslen % 2 || first > nslen / 2 || slen / 2 > nslen / 2 - first)
    return throw_range(env, "shellLines: spans and nameSpans do not have the same rows");

  const uint8_t *plain = pp, *names = np;
  const uint32_t *spans = sp, *nspans = (const uint32_t *)nsp + 2 * (size_t)first;
  const size_t rows = slen / 2, pre = exp ? sizeof SB_EXPORT - 1 : 0;
  size_t total = 0;
  for (size_t k = 0; k < rows; k++) {
    const size_t vo = spans[2 * k], vl = spans[2 * k + 1], no = nspans[2 * k], nl = nspans[2 * k + 1];
    if (vo > plen || vl > plen - vo || no > nlen || nl > nlen - no) return throw_range(env, "shellLines: a span points past its Buffer");
    if (!sb_shell_name(names + no, nl)) return throw_range(env, "shellLines: a name is not a shell variable name");
    total += pre + nl + 2 + vl + (vl ? 3 * sb_quotes(plain + vo, vl) : 0) + 2;
    if (total > SB_SHELL_MAX) return throw_range(env, "shellLines: the lines would pass 1 GiB");
  }
  void *data = NULL;
  if (napi_create_buffer(env, total, &data, &result) != napi_ok) return NULL;
  uint8_t *out = data;
  for (size_t k = 0; k < rows; k++) {
    const uint8_t *v = plain + spans[2 * k], *e = v + spans[2 * k + 1];
    memcpy(out, SB_EXPORT, pre);
    out += pre;
    memcpy(out, names + nspans[2 * k], nspans[2 * k + 1]);
    out += nspans[2 * k + 1];
    *out++ = '=';
    *out++ = '\'';
    if (v != e) {
      for (const uint8_t *q; (q = memchr(v, '\'', (size_t)(e - v))) != NULL; v = q + 1) {
        memcpy(out, v, (size_t)(q - v));
        out += q - v;
        memcpy(out, "'\\''", 4);
        out += 4;
      }
      memcpy(out, v, (size_t)(e - v));
      out += e - v;
    }
    *out++ = '\'';
    *out++ = '\n';
  }
  return result;
}

void tvault_secretbox_rows_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"secretboxLib", NULL, SecretboxLib, NULL, NULL, NULL, napi_enumerable, NULL},
      {"secretboxOpenRows", NULL, SecretboxOpenRows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"shellLines", NULL, ShellLines, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
