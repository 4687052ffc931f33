/* secretboxOpenRows and secretboxLib (secretbox_rows.c), registered on the addon's exports by Init. */
#ifndef TVAULT_SECRETBOX_ROWS_H
#define TVAULT_SECRETBOX_ROWS_H
#include <node_api.h>
void tvault_secretbox_rows_init(napi_env env, napi_value exports);
#endif
