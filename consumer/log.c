/* log.c: one line per event, UTC timestamps, written with a single write so lines from the
 * daemon's threads (librdkafka callbacks) never interleave. */
#include "bertd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void bertd_log(bertd_log_level level, const char *fmt, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ bertd[%d] %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(), names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(2, line, len);
  (void)w;
}

bertd_log_level bertd_log_level_of_syslog(int level) {
  return level <= 3 ? BERTD_LOG_ERROR
         : level == 4 ? BERTD_LOG_WARN
         : level <= 6 ? BERTD_LOG_INFO
                      : BERTD_LOG_DEBUG;
}

void bertd_log_kafka(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  bertd_log(bertd_log_level_of_syslog(level), "kafka %s: %s", fac, buf);
}
