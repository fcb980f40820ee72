/* cli_schema.h: `bertd schema enrich FILE.avsc`: prints the enriched schema derived from an input
 * schema (how the .enriched.avsc files in schemas/ are made). */
#ifndef BERTD_CLI_SCHEMA_H
#define BERTD_CLI_SCHEMA_H

/* argv[0] is "schema". Returns the process exit code. */
int bertd_cli_schema_main(int argc, char **argv);

#endif
