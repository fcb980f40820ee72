/* test_safetensors.c: the safetensors parser on generated fixtures: the exact tensor table of a
 * good file, one exact error message per kind of damaged file, and exact F16/BF16 -> F32. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "loader_fixtures.h"
#include "safetensors.h"

static bertd_safetensors st;
static char err[512];

static void teardown(void) { bertd_st_close(&st); }

/* Opens bad/NAME.safetensors, asserts it fails with exactly want. */
static void expect_bad(const char *name, const char *want) {
  char path[1024];
  snprintf(path, sizeof path, "%s/bad/%s.safetensors", LOADER_DIR, name);
  err[0] = '\0';
  cr_assert_eq(bertd_st_open(path, &st, err, sizeof err), -1, "%s parsed", name);
  cr_assert_str_eq(err, want);
  cr_assert_null(st.tensors);
}

Test(safetensors, exact_table_of_values_file, .fini = teardown) {
  cr_assert_eq(bertd_st_open(LOADER_DIR "/values.safetensors", &st, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(st.label, "values.safetensors");
  cr_assert_eq(st.num_tensors, 5); /* __metadata__ is not a tensor */
  static const struct {
    const char *name;
    bertd_st_dtype dtype;
    int ndim;
    int64_t shape[2];
    uint64_t begin, end, numel;
  } want[] = {
      {"weight", BERTD_ST_F32, 2, {2, 3}, 0, 24, 6},
      {"half", BERTD_ST_F16, 1, {14, 0}, 24, 52, 14},
      {"brain", BERTD_ST_BF16, 1, {13, 0}, 52, 78, 13},
      {"position_ids", BERTD_ST_I64, 2, {1, 4}, 78, 110, 4},
      {"empty", BERTD_ST_F32, 2, {0, 5}, 110, 110, 0},
  };
  for (int i = 0; i < 5; i++) {
    const bertd_st_tensor *t = &st.tensors[i];
    cr_assert_str_eq(t->name, want[i].name);
    cr_assert_eq(t->dtype, want[i].dtype, "%s", t->name);
    cr_assert_eq(t->ndim, want[i].ndim, "%s", t->name);
    for (int d = 0; d < t->ndim; d++) cr_assert_eq(t->shape[d], want[i].shape[d], "%s", t->name);
    cr_assert_eq(t->begin, want[i].begin, "%s", t->name);
    cr_assert_eq(t->end, want[i].end, "%s", t->name);
    cr_assert_eq(t->numel, want[i].numel, "%s", t->name);
    cr_assert_eq(bertd_st_find(&st, want[i].name), t);
  }
  cr_assert_eq(st.data_size, 110);
  cr_assert_null(bertd_st_find(&st, "__metadata__"));
  cr_assert_null(bertd_st_find(&st, "missing"));
  /* the header length is odd on purpose: the data is misaligned and must still read */
  cr_assert_neq(((uintptr_t)st.data) % 4, 0);
}

Test(safetensors, reads_f32_f16_bf16_exactly, .fini = teardown) {
  cr_assert_eq(bertd_st_open(LOADER_DIR "/values.safetensors", &st, err, sizeof err), 0, "%s", err);
  json_t *expected = load_fixture_json("expected.json");
  const json_t *values = json_object_get(expected, "values");
  const char *names[] = {"weight", "half", "brain"};
  for (int k = 0; k < 3; k++) {
    const bertd_st_tensor *t = bertd_st_find(&st, names[k]);
    cr_assert_not_null(t);
    float out[16];
    cr_assert_eq(bertd_st_read_f32(&st, t, out, err, sizeof err), 0, "%s", err);
    const json_t *bits = json_object_get(values, names[k]);
    cr_assert_eq(json_array_size(bits), t->numel);
    for (size_t i = 0; i < t->numel; i++)
      cr_assert_eq(f32_bits(out[i]), json_u32_at(bits, i), "%s[%zu]: got %08x want %08x", names[k], i,
                   f32_bits(out[i]), json_u32_at(bits, i));
  }
  json_decref(expected);
}

Test(safetensors, integer_dtype_is_recognised_but_not_float, .fini = teardown) {
  cr_assert_eq(bertd_st_open(LOADER_DIR "/values.safetensors", &st, err, sizeof err), 0, "%s", err);
  float out[4];
  cr_assert_eq(bertd_st_read_f32(&st, bertd_st_find(&st, "position_ids"), out, err, sizeof err), -1);
  cr_assert_str_eq(err, "values.safetensors: tensor 'position_ids': dtype I64 does not convert to float");
}

/* Every binary16 against an independent definition: (-1)^s * 2^(e-15) * (1 + m/1024), or
 * 2^-14 * m/1024 for subnormals; ldexpf is exact for all of these. */
Test(safetensors, f16_every_value) {
  for (uint32_t h = 0; h < 0x10000; h++) {
    uint32_t s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float got = bertd_f16_to_f32((uint16_t)h);
    if (e == 0x1f && m) {
      cr_assert(isnan(got), "%04x", h);
      cr_assert_eq(f32_bits(got), (s << 31) | 0x7f800000u | (m << 13), "%04x: NaN payload", h);
      continue;
    }
    float want = e == 0x1f ? INFINITY : e ? ldexpf(1.0f + (float)m / 1024.0f, (int)e - 15) : ldexpf((float)m, -24);
    if (s) want = -want;
    cr_assert_eq(f32_bits(got), f32_bits(want), "%04x: got %08x want %08x", h, f32_bits(got), f32_bits(want));
  }
}

Test(safetensors, bf16_every_value) {
  for (uint32_t b = 0; b < 0x10000; b++) cr_assert_eq(f32_bits(bertd_bf16_to_f32((uint16_t)b)), b << 16);
}

Test(safetensors, parses_from_memory) {
  /* the buffer entry point the mmap path and the fuzzer share */
  static const char img[] = "\x10\x00\x00\x00\x00\x00\x00\x00{}              ";
  cr_assert_eq(bertd_st_parse(img, 8 + 16, "mem", &st, err, sizeof err), 0, "%s", err);
  cr_assert_eq(st.num_tensors, 0);
  bertd_st_close(&st);
  cr_assert_eq(bertd_st_parse(img, 0, "mem", &st, err, sizeof err), -1);
  cr_assert_str_eq(err, "mem: truncated: 0 bytes, shorter than the 8-byte header length");
}

Test(safetensors, bad_truncated, .fini = teardown) {
  expect_bad("truncated", "truncated.safetensors: truncated: 5 bytes, shorter than the 8-byte header length");
}

Test(safetensors, bad_header_past_eof, .fini = teardown) {
  expect_bad("header_past_eof",
             "header_past_eof.safetensors: header length 1000 past end of file (20 bytes follow it)");
}

Test(safetensors, bad_json, .fini = teardown) {
  expect_bad("bad_json", "bad_json.safetensors: header JSON: string or '}' expected near ',' at line 2 column 15");
}

Test(safetensors, bad_not_object, .fini = teardown) {
  expect_bad("not_object", "not_object.safetensors: header JSON is not an object");
}

Test(safetensors, bad_unknown_dtype, .fini = teardown) {
  expect_bad("unknown_dtype", "unknown_dtype.safetensors: tensor 'a': unknown dtype 'F12'");
}

Test(safetensors, bad_out_of_range, .fini = teardown) {
  expect_bad("out_of_range",
             "out_of_range.safetensors: tensor 'bert.encoder.layer.0.attention.self.query.weight': "
             "data_offsets [0, 100) past end of data (64 bytes)");
}

Test(safetensors, bad_overlap, .fini = teardown) {
  expect_bad("overlap", "overlap.safetensors: tensor 'b': data_offsets [8, 24) overlap tensor 'a' [0, 16)");
}

Test(safetensors, bad_size_mismatch, .fini = teardown) {
  expect_bad("size_mismatch",
             "size_mismatch.safetensors: tensor 'a': data_offsets [0, 20) hold 20 bytes but shape [2, 3] of "
             "F32 needs 24");
}

Test(safetensors, bad_metadata, .fini = teardown) {
  expect_bad("bad_metadata", "bad_metadata.safetensors: __metadata__: 'format': expected a string");
}

Test(safetensors, bad_negative_dim, .fini = teardown) {
  expect_bad("negative_dim", "negative_dim.safetensors: tensor 'a': shape[0]: expected a non-negative integer");
}

Test(safetensors, bad_begin_after_end, .fini = teardown) {
  expect_bad("begin_after_end", "begin_after_end.safetensors: tensor 'a': data_offsets [8, 4): begin after end");
}

Test(safetensors, bad_duplicate_name, .fini = teardown) {
  expect_bad("duplicate_name",
             "duplicate_name.safetensors: header JSON: duplicate object key near '\"a\"' at line 1 column 57");
}

Test(safetensors, bad_huge_shape, .fini = teardown) {
  /* 'a' has a zero dimension (empty, fine); 'b' would overflow numel * 8 */
  expect_bad("huge_shape", "huge_shape.safetensors: tensor 'b': shape [2305843009213693952, 4] is too large");
}

Test(safetensors, missing_file) {
  cr_assert_eq(bertd_st_open(LOADER_DIR "/nope.safetensors", &st, err, sizeof err), -1);
  cr_assert_str_eq(err, "nope.safetensors: No such file or directory");
  cr_assert_eq(bertd_st_open(LOADER_DIR, &st, err, sizeof err), -1);
  cr_assert_str_eq(err, "loader: not a regular file");
}
