/*
 * One instruction-set path of the wrap-around integer kernels: included by
 * simd_paths.h (with GCNN_TYPES "int_types.h") once per path, like
 * simd_types.h, and instantiates GCNN_BODIES for the unsigned integers of
 * 32 and 64 bits.  Unsigned arithmetic in C is arithmetic modulo 2^bits,
 * so the float loop bodies compute, unchanged, the exact integer sums
 * reduced modulo 2^bits (see gcnn_corr2d_u32 in gcnn_kernels.h).  No
 * narrower type: uint16_t operands would be promoted to int, whose
 * products can overflow, and each instantiation costs about 25 s of
 * compilation; 8- and 16-bit results are the low bits of a 32-bit call.
 * Expects GCNN_BODIES, GCNN_PATH, GCNN_VBYTES and GCNN_ACC as simd_types.h
 * does.
 */
#define GCNN_PASTE3(a, b, c) a##b##c
#define GCNN_XPASTE3(a, b, c) GCNN_PASTE3(a, b, c)

#define GCNN_T uint32_t
#define GCNN_IT uint32_t
#define GCNN_NAME(s) GCNN_XPASTE3(s, _u32_, GCNN_PATH)
#include "simd_vec.h"
#include GCNN_BODIES
#include "simd_vec_end.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#define GCNN_T uint64_t
#define GCNN_IT uint64_t
#define GCNN_NAME(s) GCNN_XPASTE3(s, _u64_, GCNN_PATH)
#include "simd_vec.h"
#include GCNN_BODIES
#include "simd_vec_end.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#undef GCNN_XPASTE3
#undef GCNN_PASTE3
