/* loader_fixtures.h: helpers the loader tests share for tests/fixtures/loader/ (written by
 * tools/reference/make_loader_fixtures.py). Header-only: each test file is its own executable. */
#ifndef BERTD_TESTS_LOADER_FIXTURES_H
#define BERTD_TESTS_LOADER_FIXTURES_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LOADER_DIR BERTD_FIXTURES "/loader"

static inline uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* expected.json (or another JSON fixture) parsed; the caller json_decref's it. */
static inline json_t *load_fixture_json(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", LOADER_DIR, name);
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  cr_assert_not_null(root, "%s: %s", path, jerr.text);
  return root;
}

/* uint32 at arr[i] of a JSON array of integers */
static inline uint32_t json_u32_at(const json_t *arr, size_t i) {
  const json_t *v = json_array_get(arr, i);
  cr_assert(json_is_integer(v));
  return (uint32_t)json_integer_value(v);
}

#endif
