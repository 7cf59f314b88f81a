/*
 * Which instruction-set path the kernels take on this CPU (see
 * gcnn_kernels.h).
 */
#include "gcnn_kernels.h"
#include "kernel_common.h"

static int gcnn_simd_best(void)
{
#if GCNN_X86_PATHS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return GCNN_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return GCNN_SIMD_AVX2;
#endif
    return GCNN_SIMD_GENERIC;
}

int gcnn_simd_resolve(int requested)
{
    const int best = gcnn_simd_best();
    if (requested <= GCNN_SIMD_AUTO || requested > best)
        return best;
    return requested;
}

const char *gcnn_simd_name(int simd)
{
    switch (simd) {
    case GCNN_SIMD_AVX512:
        return "avx512";
    case GCNN_SIMD_AVX2:
        return "avx2";
    case GCNN_SIMD_GENERIC:
        return "generic";
    default:
        return "auto";
    }
}
