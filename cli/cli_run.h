/* cli_run.h: `bertd run -c config.yaml`: the daemon's command line. */
#ifndef BERTD_CLI_RUN_H
#define BERTD_CLI_RUN_H

#include <signal.h>

/* argv[0] is "run". stop is the top level's signal flag. Exit codes: 0 clean stop, 1 runtime
 * failure, 2 bad command line or config. */
int bertd_cli_run_main(int argc, char **argv, volatile sig_atomic_t *stop,
                       volatile sig_atomic_t *reload);

#endif
