/*
 * Instantiate a kernel file's loop bodies on every instruction-set path:
 * portable code, and on x86 with GCC or clang AVX2 and AVX-512 (chosen at
 * run time by GCNN_DISPATCH, never by -march=native).  Define GCNN_BODIES
 * (see simd_types.h) before including this file; GCNN_X86_PATHS must be
 * defined (1 or 0).  GCNN_TYPES names the header that instantiates the
 * bodies for each element type of a path: simd_types.h (float and double)
 * unless defined, e.g. int_types.h for the wrap-around integer kernels.
 */
#ifndef GCNN_TYPES
#define GCNN_TYPES "simd_types.h"
#define GCNN_TYPES_DEFAULTED
#endif

/* GCNN_ACC: accumulators of the direct forward tiles.  GCNN_ACC_PRODUCTS:
 * those of the tiles that load one vector per output channel or tap and
 * broadcast the rest (the Winograd products, the weight gradient's row
 * tiles): on AVX2 12 of the 16 registers, 4 x 3, which loads 7 values per
 * 12 multiply-adds instead of 6 per 8. */
#define GCNN_PATH generic
#define GCNN_ACC 8 /* 16 registers: 8 accumulators, loads and a weight */
#define GCNN_ACC_PRODUCTS 8
#define GCNN_VBYTES 16
#include GCNN_TYPES
#undef GCNN_PATH
#undef GCNN_ACC
#undef GCNN_ACC_PRODUCTS
#undef GCNN_VBYTES

#if GCNN_X86_PATHS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define GCNN_PATH avx2
#define GCNN_ACC 8
#define GCNN_ACC_PRODUCTS 12
#define GCNN_VBYTES 32
#include GCNN_TYPES
#undef GCNN_PATH
#undef GCNN_ACC
#undef GCNN_ACC_PRODUCTS
#undef GCNN_VBYTES
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(                                                  \
    __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))),    \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#endif
#define GCNN_PATH avx512
#define GCNN_ACC 24 /* 32 registers: 24 accumulators, loads and a weight */
#define GCNN_ACC_PRODUCTS 24
#define GCNN_VBYTES 64
#include GCNN_TYPES
#undef GCNN_PATH
#undef GCNN_ACC
#undef GCNN_ACC_PRODUCTS
#undef GCNN_VBYTES
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* GCNN_X86_PATHS */

#ifdef GCNN_TYPES_DEFAULTED
#undef GCNN_TYPES
#undef GCNN_TYPES_DEFAULTED
#endif

#ifndef GCNN_DISPATCH
/* Call NAME_<path>(ARGS) for the best path the request and the CPU allow. */
#if GCNN_X86_PATHS
#define GCNN_DISPATCH(simd, NAME, ARGS)                                        \
    switch (gcnn_simd_resolve(simd)) {                                         \
    case GCNN_SIMD_AVX512:                                                     \
        return NAME##_avx512 ARGS;                                             \
    case GCNN_SIMD_AVX2:                                                       \
        return NAME##_avx2 ARGS;                                               \
    default:                                                                   \
        return NAME##_generic ARGS;                                            \
    }
#else
#define GCNN_DISPATCH(simd, NAME, ARGS) return NAME##_generic ARGS;
#endif
#endif /* GCNN_DISPATCH */
