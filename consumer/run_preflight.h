/* run_preflight.h: config checks that need the Avro schemas (see run_preflight.c). */
#ifndef BERTD_RUN_PREFLIGHT_H
#define BERTD_RUN_PREFLIGHT_H

#include <stddef.h>

#include "bertd_config.h"

/* 0, or -1 with "file:line:column: key: message" in errstr. */
int bertd_run_preflight(const struct bertd_daemon_config *cfg, char *errstr, size_t errstr_size);

#endif
