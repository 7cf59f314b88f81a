/*
 * What the kernel files (corr2d.c, channels.c, simd.c) share: compiler
 * hints, the instruction-set paths this build has, alignment and
 * overflow-checked size arithmetic, and the worker threads (threads.h).
 * Internal: not part of the kernels' contract.
 */
#ifndef GCNN_KERNEL_COMMON_H
#define GCNN_KERNEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "threads.h"

#if defined(__GNUC__) || defined(__clang__)
#define GCNN_INLINE inline __attribute__((always_inline))
#define GCNN_NOINLINE __attribute__((noinline))
#else
#define GCNN_INLINE inline
#define GCNN_NOINLINE
#endif
#if defined(__clang__)
#define GCNN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define GCNN_UNROLL _Pragma("GCC unroll 16")
#else
#define GCNN_UNROLL
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define GCNN_X86_PATHS 1
#else
#define GCNN_X86_PATHS 0
#endif

#define GCNN_ALIGN 64 /* bytes: a cache line and an AVX-512 vector */
#define GCNN_MAX_VECTOR_BYTES 64 /* the widest vector of any path (AVX-512) */

/* One switch key for a pair of small tile parameters (each 0 to 15), so that
 * a dispatch switch lists the instantiated tile shapes as its cases. */
#define GCNN_TILE_KEY(A, B) ((A) * 16 + (B))

/* The first GCNN_ALIGN-aligned byte of a block allocated GCNN_ALIGN bytes
 * larger than needed (NULL for NULL). */
static inline void *gcnn_aligned(char *block)
{
    return block ? block + (GCNN_ALIGN - (uintptr_t)block % GCNN_ALIGN) : NULL;
}

/* Overflow-checked size arithmetic on nonnegative values. */
static inline int mul_ok(ptrdiff_t a, ptrdiff_t b, ptrdiff_t *r)
{
    if (a != 0 && b > PTRDIFF_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

static inline int add_ok(ptrdiff_t a, ptrdiff_t b, ptrdiff_t *r)
{
    if (b > PTRDIFF_MAX - a)
        return 0;
    *r = a + b;
    return 1;
}

#endif /* GCNN_KERNEL_COMMON_H */
