/* test_cli_kafka.c: what `bertd produce` / `bertd consume` decide before touching a broker:
 * with --strict, a bad JSONL line is reported as FILE:LINE: message with exit status 1 and
 * nothing sent (without it the good lines would be sent: produce_consume tests/cli/); option
 * errors exit 2. (Round trips against a real broker: produce_consume_roundtrip.sh.) */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>

#include "cli_consume.h"
#include "cli_produce.h"

#define SCHEMA BERTD_SOURCE_DIR "/schemas/utterance.avsc"

static int run(int (*main_fn)(int, char **), int argc, const char **argv) {
  return main_fn(argc, (char **)argv);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

Test(cli_produce, bad_line_is_file_colon_line, .init = cr_redirect_stderr) {
  const char *path = BERTD_BINARY_DIR "/test_cli_produce_bad.jsonl";
  write_file(path, "{\"id\":\"a\",\"text\":\"ok\"}\n\n{\"id\":\"b\",\"text\":7}\n");
  /* the broker address is never used: every line is converted before connecting */
  const char *argv[] = {"produce", "--brokers", "127.0.0.1:1", "--topic", "t", "--schema", SCHEMA,
                        "--input", path, "--strict"};
  cr_assert_eq(run(bertd_cli_produce_main, 10, argv), 1);
  fflush(stderr);
  char want[512];
  snprintf(want, sizeof want,
           "bertd produce: %s:3: text: expected string, got an integer\n"
           "bertd produce: 1 bad line (--strict: nothing sent)\n", path);
  cr_assert_stderr_eq_str(want);
  remove(path);
}

Test(cli_produce, not_json_is_file_colon_line, .init = cr_redirect_stderr) {
  const char *path = BERTD_BINARY_DIR "/test_cli_produce_notjson.jsonl";
  write_file(path, "{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\n");
  const char *argv[] = {"produce", "--brokers", "127.0.0.1:1", "--topic", "t", "--schema", SCHEMA,
                        "--input", path, "--key-field", "id", "--strict"};
  cr_assert_eq(run(bertd_cli_produce_main, 12, argv), 1);
  fflush(stderr);
  char want[512];
  snprintf(want, sizeof want, "bertd produce: %s:2: ", path);
  FILE *f = cr_get_redirected_stderr();
  char got[512] = "";
  fgets(got, sizeof got, f);
  cr_assert(!strncmp(got, want, strlen(want)), "%s", got);
  remove(path);
}

Test(cli_produce, option_errors_exit_2, .init = cr_redirect_stderr) {
  const char *a1[] = {"produce", "--topic", "t", "--schema", SCHEMA};
  cr_assert_eq(run(bertd_cli_produce_main, 5, a1), 2);
  const char *a2[] = {"produce", "--brokers", "b:1", "--topic", "t", "--schema", SCHEMA, "-X", "nonsense"};
  cr_assert_eq(run(bertd_cli_produce_main, 9, a2), 2);
  const char *a3[] = {"produce", "--brokers", "b:1", "--topic", "t", "--schema", SCHEMA,
                      "--registry", "http://r:8081"};
  cr_assert_eq(run(bertd_cli_produce_main, 9, a3), 2); /* --registry without --confluent */
  const char *a4[] = {"produce", "--brokers", "b:1", "--topic", "t", "--schema", "missing.avsc"};
  cr_assert_eq(run(bertd_cli_produce_main, 7, a4), 2);
  fflush(stderr);
  FILE *f = cr_get_redirected_stderr();
  char all[4096] = "";
  size_t n = fread(all, 1, sizeof all - 1, f);
  all[n] = 0;
  cr_assert(strstr(all, "--brokers HOST:PORT is required"), "%s", all);
  cr_assert(strstr(all, "-X nonsense: expected name=value"), "%s", all);
  cr_assert(strstr(all, "--schema missing.avsc: No such file or directory"), "%s", all);
}

Test(cli_consume, option_errors_exit_2, .init = cr_redirect_stderr) {
  const char *a1[] = {"consume", "--brokers", "b:1", "--topic", "t", "--schema", SCHEMA,
                      "--from-beginning", "--offset", "3"};
  cr_assert_eq(run(bertd_cli_consume_main, 10, a1), 2);
  const char *a2[] = {"consume", "--brokers", "b:1", "--topic", "t", "--schema", SCHEMA,
                      "--count", "2", "--until-eof"};
  cr_assert_eq(run(bertd_cli_consume_main, 10, a2), 2);
  const char *a3[] = {"consume", "--brokers", "b:1", "--topic", "t", "--schema", SCHEMA,
                      "--count", "0"};
  cr_assert_eq(run(bertd_cli_consume_main, 9, a3), 2);
}
