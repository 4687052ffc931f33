/*
 * The argument checks and exceptions of the addon's bindings (defined in tvault_native.c), shared
 * with the other files of the addon (secretbox_rows.c). Hidden: not exported from the .node.
 */
#ifndef TVAULT_NAPI_ARGS_H
#define TVAULT_NAPI_ARGS_H
#include <node_api.h>
#include <stdint.h>

#define TV_INTERNAL __attribute__((visibility("hidden")))

/* Throw a TypeError (misuse) or a RangeError (a value of the right type that cannot be used); both return NULL. */
TV_INTERNAL napi_value throw_type(napi_env env, const char *msg);
TV_INTERNAL napi_value throw_range(napi_env env, const char *msg);
/* v is a typed array of type want: its data and length in elements. */
TV_INTERNAL int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len);
/* v is an integer number in [0, max]. */
TV_INTERNAL int get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out);
#endif
