/* loader_fixtures.h: helpers the loader tests share for tests/fixtures/loader/ (written by
 * tools/reference/make_loader_fixtures.py). Header-only: each test file is its own executable. */
#ifndef BERTD_TESTS_LOADER_FIXTURES_H
#define BERTD_TESTS_LOADER_FIXTURES_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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


/* ---- scratch checkpoint directories (under the build tree), for config variations ---- */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static inline void scratch_new(char *dir, size_t size) {
  snprintf(dir, size, "%s/loader-scratch-XXXXXX", BERTD_BINARY_DIR);
  cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

static inline void scratch_write(const char *dir, const char *name, const char *text) {
  char path[1024];
  cr_assert_lt(snprintf(path, sizeof path, "%s/%s", dir, name), (int)sizeof path);
  char *slash = strrchr(path, '/');
  if (slash > path + strlen(dir)) { /* a subdirectory such as 1_Pooling/ */
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
  }
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

/* DIR/name -> the fixture file LOADER_DIR/target */
static inline void scratch_link(const char *dir, const char *name, const char *target) {
  char path[1024], to[1024];
  cr_assert_lt(snprintf(path, sizeof path, "%s/%s", dir, name), (int)sizeof path);
  cr_assert_lt(snprintf(to, sizeof to, "%s/%s", LOADER_DIR, target), (int)sizeof to);
  cr_assert_eq(symlink(to, path), 0, "symlink %s", path);
}

/* Removes dir and what scratch_* put in it (files, symlinks, one level of subdirectories). */
static inline void scratch_free(const char *dir) {
  if (!dir[0]) return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char path[1024];
      if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
      struct stat sb;
      if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) scratch_free(path);
      else remove(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

#endif
