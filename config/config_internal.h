// What the files of config/ share with one another; not part of the public API.
#ifndef BERTD_CONFIG_INTERNAL_H
#define BERTD_CONFIG_INTERNAL_H

#include <stddef.h>

#include "bertd_config.h"

// Writes "FILE:LINE:COLUMN: PATH: message" into errstr, at the key (at_value == 0) or the value
// (at_value == 1) recorded for path. Returns -1, so callers can `return bertd_dconf_fail(...)`.
int bertd_dconf_fail(const struct bertd_daemon_config *cfg, const char *path, int at_value,
                char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

// Replaces ${NAME} and ${NAME:-default} with environment variables, ${file:PATH} with the file's
// content (trailing newlines dropped; a relative PATH is resolved against dir) and $$ with $. On
// success *out is a new string; on error (unset variable, unreadable or empty file, unterminated
// ${) -1 and a message in why that names the variable or file, never a value.
int bertd_dconf_expand(const char *in, const char *dir, char **out, char *why, size_t why_size);

// The checks that need the whole file read: files exist, names unique, topics do not clash,
// values agree with one another.
int bertd_dconf_validate(const struct bertd_daemon_config *cfg, char *errstr, size_t errstr_size);

#endif
