/* log.h: the daemon's log lines on stderr: "2026-11-25T21:00:00.123Z bertd[pid] LEVEL: msg". */
#ifndef BERTD_LOG_H
#define BERTD_LOG_H

typedef enum { BERTD_LOG_DEBUG = 0, BERTD_LOG_INFO, BERTD_LOG_WARN, BERTD_LOG_ERROR } bertd_log_level;

void bertd_log(bertd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
