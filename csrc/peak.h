/*
 * A measurement of the machine for the benchmark (peak.c), not a kernel of
 * gcnn: the kernels' contract (gcnn_kernels.h) does not include it.
 */
#ifndef GCNN_PEAK_H
#define GCNN_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Runs `iterations` rounds of independent vector fused multiply-adds on SIMD
 * path `simd` (GCNN_SIMD_* of gcnn_kernels.h), in float or double
 * (`is_double`), stores the flops done in *flops and returns a checksum (so
 * that the compiler keeps the work). */
double gcnn_fma_probe(int simd, int is_double, long iterations, double *flops);

#ifdef __cplusplus
}
#endif
#endif /* GCNN_PEAK_H */
