/* cli_train.h: `bertd train` (fine-tune a checkpoint on a labelled dataset) and `bertd eval`
 * (a checkpoint's metrics on a split). */
#ifndef BERTD_CLI_TRAIN_H
#define BERTD_CLI_TRAIN_H

int bertd_cli_train_main(int argc, char **argv);
int bertd_cli_eval_main(int argc, char **argv);

#endif
