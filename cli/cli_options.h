/* cli_options.h: what every command says about an option getopt could not take. */
#ifndef BERTD_CLI_OPTIONS_H
#define BERTD_CLI_OPTIONS_H

/* One line on stderr for getopt_long's answer c (':' a missing value, else an unknown option),
 * naming the command and the option as written (argv[optind - 1]); the optstring must start
 * with ':' so that getopt tells the two apart. */
void bertd_cli_option_error(const char *cmd, int c, char **argv, int optind);

#endif
