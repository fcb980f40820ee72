/* bertd_log.h: the daemon's log lines on stderr: "2026-11-25T21:00:00.123Z bertd[pid] LEVEL: msg". */
#ifndef BERTD_LOG_H
#define BERTD_LOG_H


typedef enum { BERTD_LOG_DEBUG = 0, BERTD_LOG_INFO, BERTD_LOG_WARN, BERTD_LOG_ERROR } bertd_log_level;

void bertd_log(bertd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* librdkafka's syslog level (0 emergency .. 7 debug) as bertd's: 0-3 error, 4 warn, 5-6 info,
 * 7 debug. */
bertd_log_level bertd_log_level_of_syslog(int level);

/* A librdkafka log callback (rd_kafka_conf_set_log_cb) writing bertd's lines instead of
 * librdkafka's own "%7|...|FAC|..." ones: "kafka FAC: message" at the mapped level. */
struct rd_kafka_s;
void bertd_log_kafka(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf);

#endif
