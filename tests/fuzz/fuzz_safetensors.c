/* fuzz_safetensors.c: libFuzzer on the safetensors header parser (bertd_st_parse, the same code
 * the mmap path runs). A parse that succeeds must give ranges inside the buffer, so every tensor
 * is also converted to floats: ASan catches any read the validation let through. */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bertd_safetensors st;
  char err[256];
  if (bertd_st_parse(data, size, "fuzz", &st, err, sizeof err) != 0) return 0;
  for (int i = 0; i < st.num_tensors; i++) {
    const bertd_st_tensor *t = &st.tensors[i];
    if (t->numel > (1u << 20)) continue; /* valid but large: keep runs fast */
    float *out = malloc((size_t)t->numel * sizeof *out + 1);
    if (!out) continue;
    bertd_st_read_f32(&st, t, out, err, sizeof err);
    free(out);
  }
  bertd_st_close(&st);
  return 0;
}
