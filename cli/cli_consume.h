/* cli_consume.h: `bertd consume`: a Kafka topic's Avro records -> JSONL. */
#ifndef BERTD_CLI_CONSUME_H
#define BERTD_CLI_CONSUME_H

/* argv[0] is "consume". Returns the process exit code. */
int bertd_cli_consume_main(int argc, char **argv);

#endif
