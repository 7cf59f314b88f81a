/*
 * Per-channel kernels (see gcnn_kernels.h): batch-normalisation statistics,
 * affine maps and gradients on the SIMD paths of simd_paths.h, and max
 * pooling with the index of each window's winner for the backward pass.
 */
#include "gcnn_kernels.h"
#include "kernel_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if GCNN_X86_PATHS
#include <immintrin.h> /* the ReLU mask's widening loads (channels_impl.h) */
#endif

/* Below this many values a call runs on one thread. */
#define GCNN_CHANNELS_PARALLEL_MIN ((ptrdiff_t)1 << 16)

/* Max pooling and ReLU (before the batch-norm bodies, whose training
 * forward and backward can pool a channel's planes as they go). */
/* Values per work item of the ReLU loops. */
#define GCNN_RELU_CHUNK ((ptrdiff_t)1 << 15)

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
/* Four float outputs of a 2x2, stride-2 max pool at a time (pool_impl.h):
 * the even and odd columns of both rows are the four candidates, in the
 * row-major order of the window; a later candidate wins where it is larger,
 * or NaN while the best is not.  Returns the outputs done. */
typedef float gcnn_pool_v4 __attribute__((vector_size(16)));
typedef int32_t gcnn_pool_i4 __attribute__((vector_size(16)));
static ptrdiff_t gcnn_max_pool_2x2_row_f32(const float *restrict r0, const float *restrict r1,
                                           float *restrict d, int32_t *restrict at,
                                           ptrdiff_t out_w, int32_t base, int32_t below)
{
    const gcnn_pool_i4 lane = {0, 2, 4, 6};
    const int32_t offset[4] = {0, 1, below, below + 1};
    ptrdiff_t ox = 0;
    for (; ox + 4 <= out_w; ox += 4) {
        gcnn_pool_v4 a0, a1, b0, b1;
        memcpy(&a0, r0 + 2 * ox, sizeof a0);
        memcpy(&a1, r0 + 2 * ox + 4, sizeof a1);
        memcpy(&b0, r1 + 2 * ox, sizeof b0);
        memcpy(&b1, r1 + 2 * ox + 4, sizeof b1);
        const gcnn_pool_v4 candidate[4] = {
            __builtin_shufflevector(a0, a1, 0, 2, 4, 6),
            __builtin_shufflevector(a0, a1, 1, 3, 5, 7),
            __builtin_shufflevector(b0, b1, 0, 2, 4, 6),
            __builtin_shufflevector(b0, b1, 1, 3, 5, 7)};
        gcnn_pool_v4 best = candidate[0];
        gcnn_pool_i4 chosen = {0, 0, 0, 0};
        for (int k = 1; k < 4; ++k) {
            const gcnn_pool_v4 v = candidate[k];
            const gcnn_pool_i4 take = (best == best) & ((v > best) | (v != v));
            best = (gcnn_pool_v4)(((gcnn_pool_i4)v & take) | ((gcnn_pool_i4)best & ~take));
            chosen = (take & offset[k]) | (~take & chosen);
        }
        const gcnn_pool_i4 index = base + 2 * (int32_t)ox + lane + chosen;
        memcpy(d + ox, &best, sizeof best);
        memcpy(at + ox, &index, sizeof index);
    }
    return ox;
}
#define GCNN_POOL_2X2_ROW gcnn_max_pool_2x2_row_f32
#endif

#define GCNN_T float
#define GCNN_UINT uint32_t
#define GCNN_NAME(s) s##_f32
#include "pool_impl.h"
#include "relu_impl.h"
#undef GCNN_NAME
#undef GCNN_UINT
#undef GCNN_T
#undef GCNN_POOL_2X2_ROW
#define GCNN_T double
#define GCNN_UINT uint64_t
#define GCNN_NAME(s) s##_f64
#include "pool_impl.h"
#include "relu_impl.h"
#undef GCNN_NAME
#undef GCNN_UINT
#undef GCNN_T

#define GCNN_BODIES "channels_impl.h"
#include "simd_paths.h"
#undef GCNN_BODIES

/* Sizes of x[n][c][s]: all >= 1 and their product representable. */
static int gcnn_channel_sizes_ok(ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, ptrdiff_t *total)
{
    if (n < 1 || c < 1 || s < 1)
        return GCNN_EINVAL;
    if (!mul_ok(n, c, total) || !mul_ok(*total, s, total))
        return GCNN_EOVERFLOW;
    return GCNN_OK;
}

static int gcnn_channel_threads(ptrdiff_t total, int num_threads)
{
    return total >= GCNN_CHANNELS_PARALLEL_MIN && num_threads > 1 ? num_threads : 1;
}

/* A pooled batch norm's planes: none (pooled NULL), or runs of whole
 * plane_h x plane_w planes, at least 2 x 2, with an index array. */
static int gcnn_pool_planes_ok(ptrdiff_t s, const void *pooled, const int32_t *index,
                               ptrdiff_t plane_h, ptrdiff_t plane_w)
{
    if (pooled == NULL)
        return 1;
    return index != NULL && plane_h >= 2 && plane_w >= 2 && plane_h <= s / plane_w &&
           s % (plane_h * plane_w) == 0;
}

#define GCNN_CHANNEL_ENTRY_CHECKS(...)                                         \
    ptrdiff_t total;                                                           \
    if (__VA_ARGS__)                                                           \
        return GCNN_EINVAL;                                                    \
    int status = gcnn_channel_sizes_ok(n, c, s, &total);                       \
    if (status != GCNN_OK)                                                     \
        return status;                                                         \
    const int threads = gcnn_channel_threads(total, num_threads);

int gcnn_channel_moments_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                             double *mean, double *var, int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || mean == NULL || var == NULL)
    GCNN_DISPATCH(simd, channel_moments_f32, (x, n, c, s, mean, var, threads))
}

int gcnn_channel_moments_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                             double *mean, double *var, int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || mean == NULL || var == NULL)
    GCNN_DISPATCH(simd, channel_moments_f64, (x, n, c, s, mean, var, threads))
}

int gcnn_channel_sums_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, double *sum,
                          int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || sum == NULL)
    GCNN_DISPATCH(simd, channel_sums_f32, (x, n, c, s, sum, threads))
}

int gcnn_channel_sums_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, double *sum,
                          int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || sum == NULL)
    GCNN_DISPATCH(simd, channel_sums_f64, (x, n, c, s, sum, threads))
}

int gcnn_channel_affine_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                            const float *scale, const float *shift, float *out, uint8_t *positive,
                            int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || scale == NULL || shift == NULL || out == NULL)
    GCNN_DISPATCH(simd, channel_affine_f32, (x, n, c, s, scale, shift, out, positive, threads))
}

int gcnn_channel_affine_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                            const double *scale, const double *shift, double *out,
                            uint8_t *positive, int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || scale == NULL || shift == NULL || out == NULL)
    GCNN_DISPATCH(simd, channel_affine_f64, (x, n, c, s, scale, shift, out, positive, threads))
}

int gcnn_batch_norm_forward_f32(const float *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                double eps, const double *weight, const double *bias,
                                float *out, uint8_t *positive, ptrdiff_t plane_h,
                                ptrdiff_t plane_w, float *pooled, int32_t *pool_index,
                                double *mean, double *var, double *inv_std, int num_threads,
                                int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || (out == NULL && pooled == NULL) || mean == NULL ||
                              var == NULL || inv_std == NULL ||
                              !gcnn_pool_planes_ok(s, pooled, pool_index, plane_h, plane_w))
    GCNN_DISPATCH(simd, batch_norm_forward_f32,
                  (x, n, c, s, eps, weight, bias, out, positive, plane_h, plane_w, pooled,
                   pool_index, mean, var, inv_std, threads))
}

int gcnn_batch_norm_forward_f64(const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                double eps, const double *weight, const double *bias,
                                double *out, uint8_t *positive, ptrdiff_t plane_h,
                                ptrdiff_t plane_w, double *pooled, int32_t *pool_index,
                                double *mean, double *var, double *inv_std, int num_threads,
                                int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(x == NULL || (out == NULL && pooled == NULL) || mean == NULL ||
                              var == NULL || inv_std == NULL ||
                              !gcnn_pool_planes_ok(s, pooled, pool_index, plane_h, plane_w))
    GCNN_DISPATCH(simd, batch_norm_forward_f64,
                  (x, n, c, s, eps, weight, bias, out, positive, plane_h, plane_w, pooled,
                   pool_index, mean, var, inv_std, threads))
}

int gcnn_batch_norm_backward_f32(const float *grad, const uint8_t *positive, const float *x,
                                 ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, const double *mean,
                                 const double *inv_std, const float *weight, float *grad_x,
                                 double *grad_weight, double *grad_bias, double *grad_x_sums,
                                 const int32_t *pool_index, ptrdiff_t plane_h,
                                 ptrdiff_t plane_w, int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(grad == NULL || x == NULL || mean == NULL || inv_std == NULL ||
                              grad_x == NULL || grad_weight == NULL || grad_bias == NULL ||
                              !gcnn_pool_planes_ok(s, pool_index, pool_index, plane_h, plane_w))
    GCNN_DISPATCH(simd, batch_norm_backward_f32,
                  (grad, positive, x, n, c, s, mean, inv_std, weight, grad_x, grad_weight,
                   grad_bias, grad_x_sums, pool_index, plane_h, plane_w, threads))
}

int gcnn_batch_norm_backward_f64(const double *grad, const uint8_t *positive,
                                 const double *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s, const double *mean,
                                 const double *inv_std, const double *weight, double *grad_x,
                                 double *grad_weight, double *grad_bias, double *grad_x_sums,
                                 const int32_t *pool_index, ptrdiff_t plane_h,
                                 ptrdiff_t plane_w, int num_threads, int simd)
{
    GCNN_CHANNEL_ENTRY_CHECKS(grad == NULL || x == NULL || mean == NULL || inv_std == NULL ||
                              grad_x == NULL || grad_weight == NULL || grad_bias == NULL ||
                              !gcnn_pool_planes_ok(s, pool_index, pool_index, plane_h, plane_w))
    GCNN_DISPATCH(simd, batch_norm_backward_f64,
                  (grad, positive, x, n, c, s, mean, inv_std, weight, grad_x, grad_weight,
                   grad_bias, grad_x_sums, pool_index, plane_h, plane_w, threads))
}

int gcnn_pool_out_shape(const gcnn_pool_params *p, ptrdiff_t *out_h, ptrdiff_t *out_w)
{
    if (p == NULL || out_h == NULL || out_w == NULL)
        return GCNN_EINVAL;
    if (p->planes < 1 || p->height < 1 || p->width < 1 || p->kernel_h < 1 || p->kernel_w < 1 ||
        p->stride_h < 1 || p->stride_w < 1 || p->pad_h < 0 || p->pad_w < 0 ||
        2 * p->pad_h > p->kernel_h || 2 * p->pad_w > p->kernel_w)
        return GCNN_EINVAL;
    /* (2 * pad <= kernel, so the doubling cannot overflow) */
    ptrdiff_t plane, padded_h, padded_w;
    if (!mul_ok(p->height, p->width, &plane) || plane > INT32_MAX ||
        !add_ok(p->height, 2 * p->pad_h, &padded_h) || !add_ok(p->width, 2 * p->pad_w, &padded_w))
        return GCNN_EOVERFLOW;
    if (padded_h < p->kernel_h || padded_w < p->kernel_w)
        return GCNN_EINVAL;
    *out_h = (padded_h - p->kernel_h) / p->stride_h + 1;
    *out_w = (padded_w - p->kernel_w) / p->stride_w + 1;
    return GCNN_OK;
}

/* Checks, then `p` with the thread count the size deserves as `q`. */
#define GCNN_POOL_ENTRY(...)                                                   \
    ptrdiff_t out_h, out_w;                                                    \
    if (__VA_ARGS__)                                                           \
        return GCNN_EINVAL;                                                    \
    int status = gcnn_pool_out_shape(p, &out_h, &out_w);                       \
    if (status != GCNN_OK)                                                     \
        return status;                                                         \
    gcnn_pool_params q = *p;                                                   \
    q.num_threads = p->planes * p->height * p->width >= GCNN_CHANNELS_PARALLEL_MIN \
                        ? p->num_threads                                       \
                        : 1;

int gcnn_max_pool_f32(const gcnn_pool_params *p, const float *x, float *out, int32_t *index)
{
    GCNN_POOL_ENTRY(x == NULL || out == NULL || index == NULL)
    return max_pool_f32(&q, x, out, index, out_h, out_w);
}

int gcnn_max_pool_f64(const gcnn_pool_params *p, const double *x, double *out, int32_t *index)
{
    GCNN_POOL_ENTRY(x == NULL || out == NULL || index == NULL)
    return max_pool_f64(&q, x, out, index, out_h, out_w);
}

int gcnn_max_pool_backward_f32(const gcnn_pool_params *p, const float *grad,
                               const int32_t *index, float *grad_x)
{
    GCNN_POOL_ENTRY(grad == NULL || index == NULL || grad_x == NULL)
    return max_pool_backward_f32(&q, grad, index, grad_x, out_h, out_w);
}

int gcnn_max_pool_backward_f64(const gcnn_pool_params *p, const double *grad,
                               const int32_t *index, double *grad_x)
{
    GCNN_POOL_ENTRY(grad == NULL || index == NULL || grad_x == NULL)
    return max_pool_backward_f64(&q, grad, index, grad_x, out_h, out_w);
}

#define GCNN_RELU_ENTRY(...)                                                   \
    if (count < 0 || (count > 0 && (__VA_ARGS__)))                             \
        return GCNN_EINVAL;                                                    \
    const int threads = gcnn_channel_threads(count, num_threads);

int gcnn_relu_f32(const float *x, ptrdiff_t count, float *out, uint8_t *positive,
                  int num_threads)
{
    GCNN_RELU_ENTRY(x == NULL || out == NULL || positive == NULL)
    return relu_f32(x, count, out, positive, threads);
}

int gcnn_relu_f64(const double *x, ptrdiff_t count, double *out, uint8_t *positive,
                  int num_threads)
{
    GCNN_RELU_ENTRY(x == NULL || out == NULL || positive == NULL)
    return relu_f64(x, count, out, positive, threads);
}

int gcnn_relu_backward_f32(const float *grad, const uint8_t *positive, ptrdiff_t count,
                           float *grad_x, int num_threads)
{
    GCNN_RELU_ENTRY(grad == NULL || positive == NULL || grad_x == NULL)
    return relu_backward_f32(grad, positive, count, grad_x, threads);
}

int gcnn_relu_backward_f64(const double *grad, const uint8_t *positive, ptrdiff_t count,
                           double *grad_x, int num_threads)
{
    GCNN_RELU_ENTRY(grad == NULL || positive == NULL || grad_x == NULL)
    return relu_backward_f64(grad, positive, count, grad_x, threads);
}
