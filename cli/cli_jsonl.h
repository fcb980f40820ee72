/* cli_jsonl.h: one JSONL input line as users write it -> a JSON object, or the reason it is not
 * one. Shared by the commands that read JSONL (inference, produce) so every command accepts the
 * same lines and words its errors the same way. */
#ifndef BERTD_CLI_JSONL_H
#define BERTD_CLI_JSONL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Parses line[0..len) (no newline). Any valid JSON is accepted, including strings that hold
 * escaped NULs ("\u0000"): the text is passed on with its full byte length. Returns the object
 * (new reference), or NULL with errstr saying why ("expected a JSON object", jansson's message
 * and column). */
json_t *bertd_cli_jsonl_parse(const char *line, size_t len, char *errstr, size_t errstr_size);

/* Looks up a required string field: 0 and *out set, or -1 with errstr naming the field and
 * saying whether it is missing or of another type. */
int bertd_cli_jsonl_string(const json_t *obj, const char *field, const json_t **out, char *errstr,
                     size_t errstr_size);

/* The error line written in place of a bad input line, so outputs stay aligned with inputs:
 * {"line": N, "error": "..."}. Returns 0, or -1 when it could not be written. */
int bertd_cli_jsonl_write_error(FILE *out, long line_no, const char *msg);

#endif
