/* gemm_amx_emulated.c: the same AMX kernels (gemm_amx.inc) on amx_tile.h's C emulation of the
 * tile instructions, built for baseline x86-64 like the rest of the library. Never chosen to
 * run a model (it is thousands of times slower than the instructions): the tests run it
 * against the AVX512-BF16 and VNNI kernels, on any CPU, so that the tile code gemm_amx.c runs
 * on an AMX CPU is checked where there is none. The epilogue is the one part written twice:
 * here in scalar C (GELU through gelu.c), there in AVX-512 vectors, the same operations in the
 * same order; test_amx_kernels.c holds the two equal bit for bit on AVX-512 CPUs (the vector
 * one built on these emulated tiles: gemm_amx_emulated_avx512.c), test_amx_hw.c on AMX CPUs. */
#define BERTD_AMX_EMULATED
#define AMX_BF16_SYMBOL bertd_kernel_bf16_amx_emulated
#define AMX_INT8_SYMBOL bertd_kernel_int8_amx_emulated
#define AMX_BF16_NAME "bf16 amx-emulated"
#define AMX_INT8_NAME "int8 amx-emulated"
#define AMX_QUANTIZE NULL /* runs on any CPU: the scalar quantiser */
#include "gemm_amx.inc"
