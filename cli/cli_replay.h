/* cli_replay.h: `bertd replay`: a topic's range through a model, scored (eval/bertd_replay.h). */
#ifndef BERTD_CLI_REPLAY_H
#define BERTD_CLI_REPLAY_H

int bertd_cli_replay_main(int argc, char **argv);

#endif
