/* cli_run.c: parses `bertd run` options, loads the YAML config, runs the daemon. */
#include "cli_run.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_config.h"
#include "bertd_daemon.h"
#include "bertd_log.h"
#include "cli_options.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: bertd run -c CONFIG.yaml [--plugin PATH] [--max-in-flight N]\n"
          "                 [--stats-interval-ms N] [--drain-timeout-ms N] [--broker-wait-ms N]\n"
          "       bertd run -c CONFIG.yaml --check [--plugin PATH]\n"
          "Consumes the configured input topics, enriches every record with the model, and\n"
          "produces to the output (or dead-letter) topics, at least once. SIGTERM or SIGINT:\n"
          "stop fetching, finish in-flight records, commit, exit 0. SIGHUP: reload the config\n"
          "file and its models (a bad one is refused and the old one keeps serving).\n"
          "--broker-wait-ms: how long start-up waits for a broker to answer (default:\n"
          "broker_wait_ms in the file, 30000; 0: for ever) before it exits 1. --check: check\n"
          "the file as start-up does, print each pipeline's model and batching settings as\n"
          "they will run (defaults filled in, one JSON line each) and exit 0, without a broker\n"
          "or loading a model.\n");
}

int bertd_cli_run_main(int argc, char **argv, volatile sig_atomic_t *stop,
                       volatile sig_atomic_t *reload) {
  static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                           {"plugin", required_argument, 0, 'p'},
                                           {"max-in-flight", required_argument, 0, 'm'},
                                           {"stats-interval-ms", required_argument, 0, 's'},
                                           {"drain-timeout-ms", required_argument, 0, 'd'},
                                           {"broker-wait-ms", required_argument, 0, 'w'},
                                           {"check", no_argument, 0, 'k'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
  const char *config = NULL;
  long broker_wait_ms = -1; /* -1: the file's */
  int check = 0;
  bertd_daemon_opts o = {.stop = stop, .reload = reload};
  optind = 1;
  opterr = 0; /* getopt's own messages do not name the command; ours below do */
  int c;
  while ((c = getopt_long(argc, argv, ":c:p:m:s:d:w:kh", longopts, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
    case 'c': config = optarg; break;
    case 'p': o.plugin_path = optarg; break;
    case 'm': o.max_in_flight = (size_t)strtoul(optarg, &end, 10); break;
    case 's': o.stats_interval_ms = (int)strtol(optarg, &end, 10); break;
    case 'd': o.drain_timeout_ms = (int)strtol(optarg, &end, 10); break;
    case 'w':
      broker_wait_ms = strtol(optarg, &end, 10);
      if (!*end && (broker_wait_ms < 0 || broker_wait_ms > INT_MAX)) {
        fprintf(stderr, "bertd run: --broker-wait-ms: %s is not in 0..%d\n", optarg, INT_MAX);
        return 2;
      }
      break;
    case 'k': check = 1; break;
    case 'h': usage(stdout); return 0;
    default: /* ':' or '?' */
      bertd_cli_option_error("run", c, argv, optind);
      return 2;
    }
    if (end && (end == optarg || *end || optarg[0] == '-')) {
      fprintf(stderr, "bertd run: %s: '%s' is not a non-negative number\n", argv[optind - 2],
              optarg);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bertd run: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!config) {
    fprintf(stderr, "bertd run: -c CONFIG.yaml is required\n");
    return 2;
  }
  char err[1024];
  struct bertd_daemon_config *cfg = NULL;
  if (bertd_dconf_load(config, &cfg, err, sizeof err) ||
      bertd_run_preflight(cfg, o.plugin_path, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    bertd_dconf_destroy(cfg);
    return 2;
  }
  if (check) {
    int rc = bertd_run_print_settings(cfg, o.plugin_path, stdout, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    bertd_dconf_destroy(cfg);
    return rc ? 2 : 0;
  }
  if (broker_wait_ms >= 0) cfg->broker_wait_ms = (int)broker_wait_ms; /* the flag wins */
  int rc = bertd_daemon_run(cfg, &o, err, sizeof err);
  if (rc) bertd_log(BERTD_LOG_ERROR, "%s", err);
  bertd_dconf_destroy(cfg);
  return rc ? 1 : 0;
}
