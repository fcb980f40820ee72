/* cli_options.c: see cli_options.h. */
#include "cli_options.h"

#include <stdio.h>

void bertd_cli_option_error(const char *cmd, int c, char **argv, int optind) {
  if (c == ':')
    fprintf(stderr, "bertd %s: %s needs a value\n", cmd, argv[optind - 1]);
  else
    fprintf(stderr, "bertd %s: unknown option '%s' (bertd %s --help lists them)\n", cmd,
            argv[optind - 1], cmd);
}
