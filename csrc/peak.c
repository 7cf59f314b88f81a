/*
 * A measurement of the machine, not a kernel of gcnn: chains of independent
 * vector fused multiply-adds with no memory traffic, so the benchmark can
 * report gcnn's GFLOP/s as a share of what the cores can do.
 */
#include "peak.h"

#include "gcnn_kernels.h"

#include <stddef.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_X86 1
#else
#define PEAK_X86 0
#endif

/* Enough independent chains to cover FMA latency (4 cycles) on two ports. */
#define PEAK_CHAINS 12

#if defined(__GNUC__) || defined(__clang__)
#define PEAK_BODY(NAME, T, VBYTES)                                             \
    static double NAME(long iterations, ptrdiff_t *lanes)                     \
    {                                                                          \
        typedef T vec __attribute__((vector_size(VBYTES)));                    \
        vec acc[PEAK_CHAINS];                                                  \
        const vec mul = (vec){0} + (T)0.999999, add = (vec){0} + (T)1e-7;      \
        for (int c = 0; c < PEAK_CHAINS; ++c)                                  \
            acc[c] = (vec){0} + (T)c;                                          \
        for (long i = 0; i < iterations; ++i)                                  \
            for (int c = 0; c < PEAK_CHAINS; ++c)                              \
                acc[c] = acc[c] * mul + add;                                   \
        double sum = 0;                                                        \
        for (int c = 0; c < PEAK_CHAINS; ++c)                                  \
            for (size_t l = 0; l < VBYTES / sizeof(T); ++l)                    \
                sum += (double)acc[c][l];                                      \
        *lanes = (ptrdiff_t)(VBYTES / sizeof(T));                              \
        return sum;                                                            \
    }
#else
#define PEAK_BODY(NAME, T, VBYTES)                                             \
    static double NAME(long iterations, ptrdiff_t *lanes)                     \
    {                                                                          \
        T acc[PEAK_CHAINS];                                                    \
        for (int c = 0; c < PEAK_CHAINS; ++c)                                  \
            acc[c] = (T)c;                                                     \
        for (long i = 0; i < iterations; ++i)                                  \
            for (int c = 0; c < PEAK_CHAINS; ++c)                              \
                acc[c] = acc[c] * (T)0.999999 + (T)1e-7;                       \
        double sum = 0;                                                        \
        for (int c = 0; c < PEAK_CHAINS; ++c)                                  \
            sum += (double)acc[c];                                             \
        *lanes = 1;                                                            \
        return sum;                                                            \
    }
#endif

PEAK_BODY(peak_f32_generic, float, 16)
PEAK_BODY(peak_f64_generic, double, 16)

#if PEAK_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
PEAK_BODY(peak_f32_avx2, float, 32)
PEAK_BODY(peak_f64_avx2, double, 32)
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#endif
PEAK_BODY(peak_f32_avx512, float, 64)
PEAK_BODY(peak_f64_avx512, double, 64)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

double gcnn_fma_probe(int simd, int is_double, long iterations, double *flops)
{
    ptrdiff_t lanes = 1;
    double checksum;
    switch (gcnn_simd_resolve(simd) * 2 + (is_double != 0)) {
#if PEAK_X86
    case GCNN_SIMD_AVX512 * 2:
        checksum = peak_f32_avx512(iterations, &lanes);
        break;
    case GCNN_SIMD_AVX512 * 2 + 1:
        checksum = peak_f64_avx512(iterations, &lanes);
        break;
    case GCNN_SIMD_AVX2 * 2:
        checksum = peak_f32_avx2(iterations, &lanes);
        break;
    case GCNN_SIMD_AVX2 * 2 + 1:
        checksum = peak_f64_avx2(iterations, &lanes);
        break;
#endif
    default:
        checksum = is_double ? peak_f64_generic(iterations, &lanes)
                             : peak_f32_generic(iterations, &lanes);
        break;
    }
    /* two flops (a multiply and an add) per lane per fused multiply-add */
    *flops = 2.0 * PEAK_CHAINS * (double)lanes * (double)(iterations > 0 ? iterations : 0);
    return checksum;
}
