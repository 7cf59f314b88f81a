/*
 * gcnn C kernels: plain C on contiguous buffers, no Python, no NumPy.
 *
 * One primitive serves every public function of gcnn: a batched,
 * multi-channel 2-D cross-correlation with a bank of filters,
 *
 *     out[n][o][y][x] = bias[o] + sum_{c, ky, kx}
 *                       xpad[n][c][y*stride_h + ky][x*stride_w + kx] * w[o][c][ky][kx]
 *
 * where xpad is x extended by pad_top/pad_bottom rows and pad_left/pad_right
 * columns according to `boundary` (see gcnn_boundary).  Convolution,
 * scipy-style "same"/"full"/"valid" modes, lifting and group convolution are
 * all this primitive with a transformed filter bank and suitable padding;
 * that preparation is done by the Python wrapper.
 *
 * Input dilation (dilate_h, dilate_w > 1, fill boundary only) first spreads
 * x out with dilate - 1 fill values between neighbouring pixels, so an axis
 * of n pixels becomes (n - 1) * dilate + 1 long.  With a transposed,
 * flipped filter bank this is the gradient of a strided correlation with
 * respect to its input, computed without materialising the dilated copy.
 *
 * The weight gradient of the same correlation has its own entry point,
 * gcnn_corr2d_grad_weight_*:
 *
 *     grad_w[o][c][ky][kx] = sum_{n, y, x} grad_out[n][o][y][x] *
 *                            xpad[n][c][y*stride_h + ky][x*stride_w + kx]
 *
 * Memory layout (all C-contiguous, aligned to the element type, native
 * byte order; the NumPy glue guarantees it):
 *     x    [batch][in_channels][height][width]
 *     w    [out_channels][in_channels][kernel_h][kernel_w]
 *     bias [out_channels] or NULL
 *     out  [batch][out_channels][out_h][out_w], out_h/out_w from
 *          gcnn_corr2d_out_shape; every element is written.
 *
 * Preconditions checked (GCNN_EINVAL otherwise): all sizes >= 1 except that
 * height/width may be 0 with GCNN_BOUNDARY_FILL; strides >= 1; pads >= 0;
 * dilations >= 0 (0 and 1 both mean none), above 1 only with the fill
 * boundary; the (dilated) padded input at least as large as the kernel; a
 * known boundary.  Sizes whose products overflow give GCNN_EOVERFLOW.
 * Scratch memory is one packed copy of the filter bank plus one input panel
 * per thread (a band of padded rows over all input channels); with
 * Winograd's algorithm, the transformed bank plus, per thread, the
 * transformed input tiles of a band and their products.  Failure to get it
 * is GCNN_ENOMEM.  GCNN_EINTERNAL reports a case the kernels were not
 * built for (a bug in gcnn, never the caller's mistake).
 *
 * The kernels never call into Python and may run with the GIL released.
 * They run on gcnn's own worker threads (a pool that a busy machine cannot
 * stall and that survives fork; see threads.h) when num_threads > 1 and the
 * work is large enough.
 * Results do not depend on num_threads: every forward output element is
 * computed by one thread, always in the same order of summation (with
 * Winograd's algorithm too: each tile is transformed, multiplied and
 * transformed back by one thread, whatever the band it falls in), and the
 * weight gradient sums fixed chunks of the batch in a fixed order.
 */
#ifndef GCNN_KERNELS_H
#define GCNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest thread team a call uses; larger num_threads are clamped. */
#define GCNN_MAX_THREADS 256

enum gcnn_status {
    GCNN_OK = 0,
    GCNN_EINVAL = 1,    /* invalid sizes or parameters */
    GCNN_ENOMEM = 2,    /* scratch allocation failed */
    GCNN_EOVERFLOW = 3, /* a size computation overflowed */
    GCNN_EINTERNAL = 4,   /* an unsupported case reached a kernel (a bug) */
    GCNN_EINTERRUPTED = 5 /* the interrupt callback asked to stop */
};

/* How xpad is defined outside the image; indices follow scipy.signal. */
enum gcnn_boundary {
    GCNN_BOUNDARY_FILL = 0, /* the constant fillvalue */
    GCNN_BOUNDARY_WRAP = 1, /* periodic: x[i mod n] */
    GCNN_BOUNDARY_SYMM = 2  /* mirror with the edge repeated, period 2n */
};

/* How gcnn_corr2d_f32/_f64 compute (the field `algorithm` of the params).
 * Winograd's minimal filtering (Lavin & Gray 2016) applies to 3x3 and 5x5
 * kernels at unit strides without dilation, with the fill boundary:
 * F(2x2,3x3) takes 16 multiplications per 2x2 output tile and input channel
 * where direct correlation takes 36, F(4x4,3x3) 36 per 4x4 tile where
 * direct takes 144, F(2x2,5x5) 36 per 2x2 tile where direct takes 100.
 * Its results differ from direct correlation by rounding only, but that
 * rounding is larger (the bound is in docs/design.md, section 9.1). */
enum gcnn_algorithm {
    GCNN_ALGORITHM_AUTO = 0,       /* Winograd for float where it applies and is
                                      expected to be faster; direct otherwise,
                                      and always for double */
    GCNN_ALGORITHM_DIRECT = 1,     /* direct correlation */
    GCNN_ALGORITHM_WINOGRAD = 2,   /* Winograd wherever it applies (float and
                                      double), the tile chosen by shape;
                                      direct elsewhere */
    GCNN_ALGORITHM_WINOGRAD_2 = 3, /* F(2x2,3x3) or F(2x2,5x5); GCNN_EINVAL
                                      where it does not apply */
    GCNN_ALGORITHM_WINOGRAD_4 = 4  /* F(4x4,3x3); GCNN_EINVAL where it does not apply */
};

/* Instruction-set paths; GCNN_SIMD_AUTO picks the best the CPU has. */
enum gcnn_simd {
    GCNN_SIMD_AUTO = 0,
    GCNN_SIMD_GENERIC = 1,
    GCNN_SIMD_AVX2 = 2,
    GCNN_SIMD_AVX512 = 3
};

typedef struct {
    ptrdiff_t batch, in_channels, height, width;
    ptrdiff_t out_channels, kernel_h, kernel_w;
    ptrdiff_t stride_h, stride_w;
    ptrdiff_t pad_top, pad_bottom, pad_left, pad_right;
    int boundary;    /* enum gcnn_boundary */
    int num_threads; /* <= 1: serial; at most GCNN_MAX_THREADS (256) are used */
    int simd;        /* enum gcnn_simd; an unavailable request falls back */
    ptrdiff_t dilate_h, dilate_w; /* input dilation; 0 or 1: none */
    /* Optional (NULL: never asked): called by the calling thread between
     * work items, at most every 50 ms; a nonzero answer stops the call,
     * which returns GCNN_EINTERRUPTED with the output partly written. */
    int (*interrupted)(void *ctx);
    void *interrupt_ctx;
    /* enum gcnn_algorithm (0, automatic, when zero-initialised).  The
     * integer kernels compute directly and accept only GCNN_ALGORITHM_AUTO
     * and GCNN_ALGORITHM_DIRECT; the weight gradient takes the transposed
     * Winograd algorithm with the same tiles. */
    int algorithm;
} gcnn_corr2d_params;

/* Output size for p; returns GCNN_OK or GCNN_EINVAL/GCNN_EOVERFLOW. */
int gcnn_corr2d_out_shape(const gcnn_corr2d_params *p, ptrdiff_t *out_h,
                          ptrdiff_t *out_w);

/* The algorithm gcnn_corr2d_f32 (is_double 0) or gcnn_corr2d_f64 (is_double
 * 1) takes for p: stores GCNN_ALGORITHM_DIRECT, GCNN_ALGORITHM_WINOGRAD_2 or
 * GCNN_ALGORITHM_WINOGRAD_4 in *algorithm.  Returns the status the call
 * would return for its parameters: GCNN_EINVAL for invalid sizes, an
 * unknown algorithm or a Winograd tile asked for where it does not apply. */
int gcnn_corr2d_algorithm(const gcnn_corr2d_params *p, int is_double, int *algorithm);

/* The same for gcnn_corr2d_grad_weight_f32/_f64 (its own automatic rule). */
int gcnn_corr2d_grad_weight_algorithm(const gcnn_corr2d_params *p, int is_double,
                                      int *algorithm);

int gcnn_corr2d_f32(const gcnn_corr2d_params *p, const float *x,
                    const float *w, const float *bias, float fillvalue,
                    float *out);
int gcnn_corr2d_f64(const gcnn_corr2d_params *p, const double *x,
                    const double *w, const double *bias, double fillvalue,
                    double *out);

/* Integer correlation in wrap-around arithmetic: the contract of
 * gcnn_corr2d_f64 (layout, parameters, padding, boundary, dilation, bias,
 * statuses) on unsigned integers of 32 or 64 bits.  Every product and
 * sum is taken modulo 2^bits, so each output is the exact integer sum
 * reduced modulo 2^bits, whatever the order of summation or the thread
 * count.  Reduction modulo 2^n is a ring homomorphism, so:
 *   - signed integers of the same width are passed as their two's-complement
 *     bits (the same bits give the same result bits);
 *   - narrower results (8 or 16 bits) are the low bits of a 32-bit call,
 *     with the inputs widened either way (zero- or sign-extended).
 * This is the wrap-around of scipy.signal.convolve2d on integer arrays. */
int gcnn_corr2d_u32(const gcnn_corr2d_params *p, const uint32_t *x, const uint32_t *w,
                    const uint32_t *bias, uint32_t fillvalue, uint32_t *out);
int gcnn_corr2d_u64(const gcnn_corr2d_params *p, const uint64_t *x, const uint64_t *w,
                    const uint64_t *bias, uint64_t fillvalue, uint64_t *out);

/* Weight gradient: grad_out [batch][out_channels][out_h][out_w] (the shape
 * gcnn_corr2d_out_shape gives), grad_w [out_channels][in_channels][kernel_h]
 * [kernel_w], every element written.  Same parameters as the forward call
 * (bias and dilation play no part; dilation must be 0 or 1). */
int gcnn_corr2d_grad_weight_f32(const gcnn_corr2d_params *p, const float *x,
                                const float *grad_out, float fillvalue,
                                float *grad_w);
int gcnn_corr2d_grad_weight_f64(const gcnn_corr2d_params *p, const double *x,
                                const double *grad_out, double fillvalue,
                                double *grad_w);

/* ---- per-channel work: batch normalisation and max pooling ---------------
 *
 * x[n][c][s]: n images, c channels, s values per channel and image (all of
 * a channel's spatial and group axes), C-contiguous like the rest.  Every
 * per-channel sum is computed by one thread in a fixed order, so results
 * do not depend on num_threads.  Sums are accumulated in double across
 * images (in the element type within one image's run of s values).
 */

/* mean[c] and the biased, centred variance var[c] over n and s (n*s >= 1). */
int gcnn_channel_moments_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                             double *mean, double *var, int num_threads, int simd);
int gcnn_channel_moments_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                             double *mean, double *var, int num_threads, int simd);

/* sum[c], x summed over n and s: each run of s values in vectors of the
 * element type, the runs added in double in order of n (the first pass of
 * the moments; the bias gradient of a convolution). */
int gcnn_channel_sums_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, double *sum,
                          int num_threads, int simd);
int gcnn_channel_sums_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, double *sum,
                          int num_threads, int simd);

/* out[i][k][j] = x[i][k][j] * scale[k] + shift[k]; out may be x.  With
 * positive not NULL, ReLU follows in the same pass: out = max(y, 0) (NaN
 * kept) and positive[i][k][j] = y > 0, the numbers of gcnn_relu_* on y. */
int gcnn_channel_affine_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                            const float *scale, const float *shift, float *out,
                            uint8_t *positive, int num_threads, int simd);
int gcnn_channel_affine_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                            const double *scale, const double *shift, double *out,
                            uint8_t *positive, int num_threads, int simd);

/* Training-mode batch normalisation, one channel per thread: the moments of
 * gcnn_channel_moments_*, inv_std = 1 / sqrt(var + eps), then
 *     out = x * (T)(inv_std * weight) + (T)(-mean * inv_std * weight + bias)
 * (weight and bias NULL mean 1 and 0; the two coefficients in double, without
 * a fused multiply-add, rounded to the element type) as
 * gcnn_channel_affine_* computes it, ReLU and its mask included when
 * positive is not NULL, on each channel while it is in the core's cache.
 * pooled not NULL: a 2x2, stride-2 max pool follows (gcnn_max_pool_* of the
 * map, without padding): each run of s values is s / (plane_h * plane_w)
 * planes, whose outputs go to pooled and the winners' positions to
 * pool_index ((plane_h / 2) * (plane_w / 2) per plane), and the map itself
 * is not written (out may be NULL). */
int gcnn_batch_norm_forward_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                double eps, const double *weight, const double *bias,
                                float *out, uint8_t *positive, ptrdiff_t plane_h,
                                ptrdiff_t plane_w, float *pooled, int32_t *pool_index,
                                double *mean, double *var, double *inv_std, int num_threads,
                                int simd);
int gcnn_batch_norm_forward_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                double eps, const double *weight, const double *bias,
                                double *out, uint8_t *positive, ptrdiff_t plane_h,
                                ptrdiff_t plane_w, double *pooled, int32_t *pool_index,
                                double *mean, double *var, double *inv_std, int num_threads,
                                int simd);

/* Batch normalisation backward.  With xhat = (x - mean[k]) * inv_std[k],
 * M = n * s and g = grad:
 *     grad_bias[k]   = sum g,   grad_weight[k] = sum g * xhat    (double)
 *     grad_x = weight[k] * inv_std[k] * (g - grad_bias[k] / M
 *                                          - xhat * grad_weight[k] / M)
 * weight NULL means 1.  grad_x may be grad.  positive not NULL: g is grad
 * where positive != 0 and 0 elsewhere (a ReLU after the batch norm,
 * gcnn_relu_backward_* folded in; the same numbers).  grad_x_sums not NULL:
 * the sums of grad_x per channel, as gcnn_channel_sums_* gives them (bit for
 * bit), read back while each run of grad_x is in the cache (the bias
 * gradient of a convolution before the batch norm).  pool_index not NULL:
 * grad is the gradient of a 2x2 max pool of the (ReLU'd) output, laid out as
 * gcnn_batch_norm_forward_* pooled it with these plane_h and plane_w; it is
 * spread back to the winners (gcnn_max_pool_backward_*) channel by channel. */
int gcnn_batch_norm_backward_f32(const float *grad, const uint8_t *positive, const float *x,
                                 ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, const double *mean,
                                 const double *inv_std, const float *weight, float *grad_x,
                                 double *grad_weight, double *grad_bias, double *grad_x_sums,
                                 const int32_t *pool_index, ptrdiff_t plane_h,
                                 ptrdiff_t plane_w, int num_threads, int simd);
int gcnn_batch_norm_backward_f64(const double *grad, const uint8_t *positive,
                                 const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, const double *mean,
                                 const double *inv_std, const double *weight, double *grad_x,
                                 double *grad_weight, double *grad_bias, double *grad_x_sums,
                                 const int32_t *pool_index, ptrdiff_t plane_h,
                                 ptrdiff_t plane_w, int num_threads, int simd);

/* Max pooling of planes x[plane][height][width] padded by pad_h rows and
 * pad_w columns of -infinity on each side: out[plane][oh][ow] is the
 * largest value of its kernel_h x kernel_w window (stride_h, stride_w
 * apart), NaN if the window holds one, and index[plane][oh][ow] the
 * position y * width + x of the first such value in row-major window order.
 * Preconditions (GCNN_EINVAL otherwise): sizes >= 1, strides >= 1,
 * 0 <= pad <= kernel / 2, padded size >= kernel; height * width must fit
 * int32 (GCNN_EOVERFLOW). */
typedef struct {
    ptrdiff_t planes, height, width;
    ptrdiff_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int num_threads;
} gcnn_pool_params;

int gcnn_pool_out_shape(const gcnn_pool_params *p, ptrdiff_t *out_h, ptrdiff_t *out_w);
int gcnn_max_pool_f32(const gcnn_pool_params *p, const float *x, float *out, int32_t *index);
int gcnn_max_pool_f64(const gcnn_pool_params *p, const double *x, double *out,
                      int32_t *index);
/* grad_x[plane] = sum of grad over the outputs whose index points there
 * (zero elsewhere); every element of grad_x is written. */
int gcnn_max_pool_backward_f32(const gcnn_pool_params *p, const float *grad,
                               const int32_t *index, float *grad_x);
int gcnn_max_pool_backward_f64(const gcnn_pool_params *p, const double *grad,
                               const int32_t *index, double *grad_x);

/* ReLU on `count` values: out = max(x, 0) (NaN stays NaN), positive[i] =
 * (x[i] > 0); backward: grad_x = positive ? grad : 0.  out may be x, grad_x
 * may be grad. */
int gcnn_relu_f32(const float *x, ptrdiff_t count, float *out, uint8_t *positive,
                  int num_threads);
int gcnn_relu_f64(const double *x, ptrdiff_t count, double *out, uint8_t *positive,
                  int num_threads);
int gcnn_relu_backward_f32(const float *grad, const uint8_t *positive, ptrdiff_t count,
                           float *grad_x, int num_threads);
int gcnn_relu_backward_f64(const double *grad, const uint8_t *positive, ptrdiff_t count,
                           double *grad_x, int num_threads);

/* The path gcnn_corr2d_* takes for a request (resolves GCNN_SIMD_AUTO). */
int gcnn_simd_resolve(int requested);
/* "generic", "avx2" or "avx512". */
const char *gcnn_simd_name(int simd);
/* Nonzero when the kernels have worker threads (POSIX threads). */
int gcnn_have_threads(void);
/* Static text for a status code. */
const char *gcnn_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif /* GCNN_KERNELS_H */
