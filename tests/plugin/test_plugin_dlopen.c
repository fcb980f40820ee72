/* test_plugin_dlopen.c: the shared object as a host sees it: dlopen libbertd_plugin.so (path
 * from BERTD_PLUGIN_SO, set by plugin/CMakeLists.txt), one dlsym for the function table, check
 * the ABI version, run one record. Also checks that the .so exports the ABI and nothing else. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bertd_plugin.h"

#ifndef BERTD_PLUGIN_SO
#error "BERTD_PLUGIN_SO (the path of libbertd_plugin.so) comes from plugin/CMakeLists.txt"
#endif

static void *so;

static void close_so(void) {
  if (so) dlclose(so);
  so = NULL;
}

TestSuite(plugin_dlopen, .fini = close_so);

static const bertd_plugin_api *load_api(void) {
  so = dlopen(BERTD_PLUGIN_SO, RTLD_NOW | RTLD_LOCAL);
  cr_assert_not_null(so, "dlopen: %s", dlerror());
  bertd_plugin_get_api_fn get = (bertd_plugin_get_api_fn)dlsym(so, "bertd_plugin_get_api");
  cr_assert_not_null(get, "dlsym bertd_plugin_get_api: %s", dlerror());
  return get();
}

Test(plugin_dlopen, abi_version_and_one_record) {
  const bertd_plugin_api *api = load_api();
  cr_assert_eq(api->abi_version, BERTD_PLUGIN_ABI_VERSION);
  cr_assert_geq(api->struct_size, sizeof(bertd_plugin_api));
  char err[512];
  cr_assert_eq(api->abi_check(BERTD_PLUGIN_ABI_VERSION, err, sizeof err), 0, "%s", err);
  cr_assert_eq(api->abi_check(BERTD_PLUGIN_ABI_VERSION + 1, err, sizeof err), -1);

  char json[1024];
  snprintf(json, sizeof json,
           "{\"model\":{\"dir\":\"%s/models/joint\",\"task\":\"joint\"},"
           "\"batching\":{\"max_wait_ms\":1}}",
           BERTD_FIXTURES);
  bertd_plugin *p = NULL;
  cr_assert_eq(api->create(json, &p, err, sizeof err), 0, "%s", err);
  const char *text = "show flights from boston to denver tomorrow morning";
  int ref = 42;
  cr_assert_eq(api->submit(p, text, strlen(text), NULL, 0, &ref, err, sizeof err), 0, "%s", err);
  cr_assert_eq(api->in_flight(p), 1);
  bertd_plugin_completion out[2];
  int n = api->poll(p, out, 2, 10000);
  cr_assert_eq(n, 1);
  cr_assert_eq(out[0].ref, &ref);
  cr_assert_eq(out[0].reason, BERTD_PLUGIN_OK, "%s: %s", api->reason_name(out[0].reason),
               out[0].error);
  cr_assert_str_eq(api->reason_name(out[0].reason), "ok");
  cr_assert_eq(out[0].tokens, 10, "[CLS] + 8 words + [SEP], every word in the fixture vocab");
  cr_assert(strstr(out[0].result, "\"intent\":{\"label\":"), "%s", out[0].result);
  cr_assert(strstr(out[0].result, "\"slots\":["), "%s", out[0].result);
  cr_assert_eq(api->in_flight(p), 0);
  cr_assert_eq(api->flush(p, 1000), 0);
  api->destroy(p);
}

/* -fvisibility=hidden and the version script: the model library linked inside stays private,
 * so a host with its own copy of it (or of jansson) cannot be interposed on. */
Test(plugin_dlopen, exports_only_the_abi) {
  load_api();
  cr_assert_not_null(dlsym(so, "bertd_plugin_create"));
  cr_assert_not_null(dlsym(so, "bertd_plugin_poll"));
  cr_assert_not_null(dlsym(so, "bertd_plugin_abi_version"));
  cr_assert_null(dlsym(so, "bertd_model_load"), "the model library leaks out of the .so");
  cr_assert_null(dlsym(so, "bertd_enricher_run"), "enrich.c leaks out of the .so");
  cr_assert_null(dlsym(so, "bertd_batcher_insert"), "batcher.c leaks out of the .so");
  int (*version)(void) = (int (*)(void))dlsym(so, "bertd_plugin_abi_version");
  cr_assert_eq(version(), BERTD_PLUGIN_ABI_VERSION);
}
