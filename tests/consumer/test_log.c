/* test_log.c: librdkafka's messages written as bertd's log lines, with levels. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "bertd_log.h"

Test(log, syslog_levels_map_to_bertd_levels) {
  /* librdkafka uses syslog's: 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice, 6 info,
   * 7 debug */
  const bertd_log_level want[8] = {BERTD_LOG_ERROR, BERTD_LOG_ERROR, BERTD_LOG_ERROR,
                                   BERTD_LOG_ERROR, BERTD_LOG_WARN,  BERTD_LOG_INFO,
                                   BERTD_LOG_INFO,  BERTD_LOG_DEBUG};
  for (int l = 0; l < 8; l++)
    cr_assert_eq(bertd_log_level_of_syslog(l), want[l], "syslog level %d", l);
}

Test(log, kafka_line_is_a_bertd_line, .init = cr_redirect_stderr) {
  bertd_log_kafka(NULL, 4, "COORD", "Coordinator load in progress");
  bertd_log_kafka(NULL, 7, "BROKER", "debug detail");
  fflush(stderr);
  char buf[1024] = {0};
  FILE *f = cr_get_redirected_stderr();
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  regex_t re;
  cr_assert_eq(regcomp(&re,
                       "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z bertd\\[[0-9]+\\] warn: kafka "
                       "COORD: Coordinator load in progress\n"
                       "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z bertd\\[[0-9]+\\] debug: kafka "
                       "BROKER: debug detail\n$",
                       REG_EXTENDED),
               0);
  cr_assert_eq(regexec(&re, buf, 0, NULL, 0), 0, "got: %s", buf);
  regfree(&re);
}
