/* public_include.c: the control for the private-include probe (written by tests/CMakeLists.txt
 * into the build tree), compiled the same way: bertd.h is the
 * model's public header, so this compiles, and the other one fails only for the header it names. */
#include "bertd.h"

int bertd_layers_public_include(void) { return 0; }
