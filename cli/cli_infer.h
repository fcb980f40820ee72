/* cli_infer.h: the JSONL inference subcommands (tokenize, classify, tag, joint, qa, embed,
 * fill-mask, nsp). */
#ifndef BERTD_CLI_INFER_H
#define BERTD_CLI_INFER_H

/* argv[0] is the subcommand. Returns the process exit code; errors go to stderr, one line. */
int bertd_cli_infer_main(int argc, char **argv);

#endif
