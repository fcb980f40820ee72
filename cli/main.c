/* main.c: the `bertd` command: dispatches subcommands. The only place that exits. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bertd.h"
#include "cli_consume.h"
#include "cli_infer.h"
#include "cli_produce.h"
#include "cli_replay.h"
#include "cli_run.h"
#include "cli_schema.h"
#include "cli_train.h"

/* The daemon's stop flag: the one piece of global state, set by SIGTERM/SIGINT. */
static volatile sig_atomic_t stop_requested;
/* ... and its reload flag, set by SIGHUP (`bertd run` reloads the config and models). */
static volatile sig_atomic_t reload_requested;

static void on_hup(int sig) {
  (void)sig;
  reload_requested = 1;
}

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "bertd %s: BERT text classification for Kafka pipelines\n"
          "usage: bertd COMMAND [options]\n"
          "  tokenize | classify | tag | joint | qa | embed | fill-mask | nsp\n"
          "        --model DIR [--strict]: JSONL {\"text\", \"text_pair\"} in, JSONL with results out;\n"
          "        a bad line is answered by {\"line\": N, \"error\": ...} and the exit status is 1\n"
          "  run -c CONFIG.yaml: the Kafka daemon\n"
          "  produce --brokers HOST:PORT --topic T --schema FILE.avsc [--input FILE.jsonl] ...\n"
          "        JSONL records in, Avro records to a topic\n"
          "  consume --brokers HOST:PORT --topic T --schema FILE.avsc [--until-eof] ...\n"
          "        a topic's Avro records out as JSONL\n"
          "  schema enrich FILE.avsc\n"
          "        prints the enriched schema bertd writes for records of FILE.avsc\n"
          "  train --task joint|classify|tag|mlm-nsp --model DIR --data PATH --out DIR ...\n"
          "        fine-tunes a checkpoint; dev-selected best checkpoint, test metrics as JSON\n"
          "  eval --task joint|classify|tag --model DIR --data PATH [--split test]\n"
          "        a fine-tuned checkpoint's metrics on a split, as JSON\n"
          "  replay --brokers HOST:PORT --topic T --schema FILE.avsc --model DIR --task T ...\n"
          "        a topic's range through a model, scored against gold labels; A/B, reports\n"
          "  version\n"
          "`bertd COMMAND --help` describes a command.\n",
          BERTD_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    printf("bertd %s\n", BERTD_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "run")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return bertd_cli_run_main(argc - 1, argv + 1, &stop_requested, &reload_requested);
  }
  if (!strcmp(argv[1], "produce")) return bertd_cli_produce_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "consume")) return bertd_cli_consume_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "train")) return bertd_cli_train_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "replay")) return bertd_cli_replay_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "eval")) return bertd_cli_eval_main(argc - 1, argv + 1);
  if (!strcmp(argv[1], "schema")) return bertd_cli_schema_main(argc - 1, argv + 1);
  return bertd_cli_infer_main(argc - 1, argv + 1);
}
