/* plugin_host.h: finds and dlopens libbertd_plugin.so and checks its ABI version. */
#ifndef BERTD_PLUGIN_HOST_H
#define BERTD_PLUGIN_HOST_H

#include <stddef.h>

#include "bertd_plugin.h"

typedef struct bertd_plugin_host {
  void *handle;
  const bertd_plugin_api *api;
  char path[1024];
} bertd_plugin_host;

/* path NULL: $BERTD_PLUGIN, else next to the executable (../plugin/ in the build tree,
 * ../lib/bertd/ when installed). */
int bertd_plugin_host_open(bertd_plugin_host *h, const char *path, char *errstr,
                           size_t errstr_size);
void bertd_plugin_host_close(bertd_plugin_host *h);

#endif
