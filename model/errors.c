/* errors.c: the one way bertd fills an error message (see bertd.h). */
#include <stdarg.h>
#include <stdio.h>

#include "bertd.h"

int bertd_set_error(char *errstr, size_t errstr_size, const char *fmt, ...) {
  if (errstr && errstr_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}
