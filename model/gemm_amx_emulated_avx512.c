/* gemm_amx_emulated_avx512.c: the AMX kernels (gemm_amx.inc) on the C emulation of the tile
 * instructions, as gemm_amx_emulated.c, but built for AVX-512 F/BW/VL as gemm_amx.c is, so that
 * the epilogue is gemm_amx.c's vector one (gemm_amx.inc picks it by the build's __AVX512F__)
 * with the real kernel's quantiser. Never chosen to run a model; the tests run it on AVX-512 CPUs
 * against gemm_amx_emulated.c's scalar epilogue, bit for bit, so the epilogue an AMX CPU runs is
 * checked where there is no AMX. */
#define BERTD_AMX_EMULATED
#define AMX_BF16_SYMBOL bertd_kernel_bf16_amx_emulated_avx512
#define AMX_INT8_SYMBOL bertd_kernel_int8_amx_emulated_avx512
#define AMX_BF16_NAME "bf16 amx-emulated avx512"
#define AMX_INT8_NAME "int8 amx-emulated avx512"
#define AMX_QUANTIZE bertd_quantize_row_avx512
#include "gemm_amx.inc"
