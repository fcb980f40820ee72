/* cli_produce.h: `bertd produce`: JSONL records -> Avro -> a Kafka topic. */
#ifndef BERTD_CLI_PRODUCE_H
#define BERTD_CLI_PRODUCE_H

/* argv[0] is "produce". Returns the process exit code. */
int bertd_cli_produce_main(int argc, char **argv);

#endif
