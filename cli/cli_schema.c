/* cli_schema.c: `bertd schema enrich FILE.avsc` (see cli_schema.h). */
#include "cli_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertd_avro.h"

int bertd_cli_schema_main(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "enrich")) {
    fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
            "usage: bertd schema enrich FILE.avsc\n"
            "Prints the enriched schema bertd writes for records of FILE.avsc: its fields and a\n"
            "last field `bertd` with the model's results.\n");
    return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  char err[512];
  bertd_avro_schema *in = NULL, *en = NULL;
  if (bertd_avro_schema_load(argv[2], &in, err, sizeof err) ||
      bertd_avro_schema_enrich(in, &en, err, sizeof err)) {
    fprintf(stderr, "bertd schema: %s\n", err);
    bertd_avro_schema_free(in);
    return 2; /* the schema file given is unusable: a bad argument */
  }
  char *text = bertd_avro_schema_dump(en, 1);
  int rc = text && printf("%s\n", text) > 0 ? 0 : 1;
  free(text);
  bertd_avro_schema_free(en);
  bertd_avro_schema_free(in);
  return rc;
}
