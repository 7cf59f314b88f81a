/*
 * Winograd's minimal filtering for the correlation primitive (internal to
 * the kernel files; the contract is gcnn_corr2d_* in gcnn_kernels.h, which
 * call these when gcnn_corr2d_algorithm chooses a Winograd tile).
 *
 * Preconditions (the caller checked them): p valid for
 * gcnn_corr2d_out_shape and gcnn_winograd_applies(p, tile) with tile 2
 * (F(2x2,3x3) or F(2x2,5x5)) or 4 (F(4x4,3x3)).  Returns GCNN_OK,
 * GCNN_ENOMEM, GCNN_EOVERFLOW, GCNN_EINTERRUPTED or GCNN_EINTERNAL.
 */
#ifndef GCNN_WINOGRAD_H
#define GCNN_WINOGRAD_H

#include "gcnn_kernels.h"

/* Nonzero when Winograd's algorithm with output tile `tile` (2 or 4; 0: any
 * tile) computes p: a 3x3 kernel (F(2x2,3x3), F(4x4,3x3)) or a 5x5 one
 * (F(2x2,5x5)), unit strides, no dilation, the fill boundary. */
int gcnn_winograd_applies(const gcnn_corr2d_params *p, int tile);

/* The tile (2 or 4) that costs fewer multiplications for an out_h x out_w
 * output of a kernel x kernel filter, counting the tiles' slack past the
 * edges (2 for 5x5 filters, the only tile they have). */
int gcnn_winograd_best_tile(ptrdiff_t kernel, ptrdiff_t out_h, ptrdiff_t out_w);

/* The tile "auto" takes for p once Winograd pays: gcnn_winograd_best_tile,
 * or F(2x2,3x3) where the generic and AVX-512 rule takes it although
 * F(4x4,3x3) would cost fewer multiplications; the AVX2 path has its own
 * measured rule, with one for the weight gradient (nonzero weight_gradient)
 * (winograd.c). */
int gcnn_winograd_auto_tile(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w,
                            int weight_gradient);

/* Nonzero when Winograd's algorithm is expected to be faster than direct
 * correlation for p (float; the measurements are in winograd.c). */
int gcnn_winograd_pays(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w);

int gcnn_winograd_f32(const gcnn_corr2d_params *p, const float *x, const float *w,
                      const float *bias, float fillvalue, float *out, int tile);
int gcnn_winograd_f64(const gcnn_corr2d_params *p, const double *x, const double *w,
                      const double *bias, double fillvalue, double *out, int tile);

/* Nonzero when the weight gradient by Winograd's algorithm is expected to be
 * faster than the direct one for p (float). */
int gcnn_winograd_gw_pays(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w);

/* The weight gradient of gcnn_corr2d_grad_weight_* by the transposed
 * algorithm, G^T [sum over tiles (A dY A^T) . (B^T d B)] G; same
 * preconditions as gcnn_winograd_f32. */
int gcnn_winograd_grad_weight_f32(const gcnn_corr2d_params *p, const float *x,
                                  const float *grad_out, float fillvalue, float *grad_w,
                                  int tile);
int gcnn_winograd_grad_weight_f64(const gcnn_corr2d_params *p, const double *x,
                                  const double *grad_out, double fillvalue, double *grad_w,
                                  int tile);

#endif /* GCNN_WINOGRAD_H */
