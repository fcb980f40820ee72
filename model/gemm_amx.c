/* gemm_amx.c: the AMX kernels (gemm_amx.inc) on the instructions: tileloadd, tdpbf16ps,
 * tdpbusd. Built with -mamx-tile -mamx-bf16 -mamx-int8 and AVX-512 F/BW/VL (every AMX CPU has
 * them: the epilogue, GELU included, is written in their 16-lane vectors, and the bf16
 * rounding vectorises with them) and called only after cpuid, XCR0, the Linux tile permission
 * and a self-check said yes (lowp_amx_check.c). */
#define AMX_BF16_SYMBOL bertd_kernel_bf16_amx
#define AMX_INT8_SYMBOL bertd_kernel_int8_amx
#define AMX_BF16_NAME "bf16 amx"
#define AMX_INT8_NAME "int8 amx"
#define AMX_QUANTIZE bertd_quantize_row_avx512 /* every AMX CPU has AVX-512F */
#include "gemm_amx.inc"
