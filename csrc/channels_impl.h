/*
 * Loop bodies of the per-channel kernels (batch normalisation), instantiated
 * by simd_types.h for each (element type, instruction-set path).  A channel
 * of x[n][c][s] is n runs of s contiguous values; a run is summed in
 * vectors of the element type (four independent accumulators, added
 * pairwise, then the lanes by halves) and runs are added in double, always
 * in the same order.
 */

/* Number of independent vector accumulators of a run sum. */
#define GCNN_RUN_ACC 4

/* The sum of a run's accumulators: added pairwise, then the lanes by halves
 * (log2 of the lanes steps of independent adds).  Adding the 4 x lanes
 * values one after another was a chain of 64 dependent adds on AVX-512 float,
 * longer than the whole vector loop of a run of a few hundred values. */
static GCNN_INLINE GCNN_T GCNN_NAME(acc_total)(const VEC acc[GCNN_RUN_ACC])
{
    const VEC v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    GCNN_T lane[GCNN_VBYTES / sizeof(GCNN_T)];
    VSTORE(lane, v);
    for (ptrdiff_t width = GCNN_LANES / 2; width >= 1; width /= 2)
        for (ptrdiff_t l = 0; l < width; ++l)
            lane[l] += lane[l + width];
    return lane[0];
}

/* sum x[j] and sum (x[j] - m)^2 over one run, added to *sum and *centered_squares. */
static void GCNN_NAME(run_sums)(const GCNN_T *restrict x, ptrdiff_t s, GCNN_T m, double *sum,
                                double *centered_squares)
{
    VEC total[GCNN_RUN_ACC], squares[GCNN_RUN_ACC];
    GCNN_UNROLL
    for (int a = 0; a < GCNN_RUN_ACC; ++a)
        total[a] = squares[a] = (VEC){0};
    const VEC mv = (VEC){0} + m;
    ptrdiff_t j = 0;
    for (; j + GCNN_RUN_ACC * GCNN_LANES <= s; j += GCNN_RUN_ACC * GCNN_LANES) {
        GCNN_UNROLL
        for (int a = 0; a < GCNN_RUN_ACC; ++a) {
            const VEC v = VLOAD(x + j + a * GCNN_LANES);
            const VEC d = v - mv;
            total[a] += v;
            squares[a] += d * d;
        }
    }
    const GCNN_T lanes_total = GCNN_NAME(acc_total)(total);
    const GCNN_T lanes_squares = GCNN_NAME(acc_total)(squares);
    double tail_total = 0, tail_squares = 0;
    for (; j < s; ++j) {
        const GCNN_T d = x[j] - m;
        tail_total += x[j];
        tail_squares += (double)d * d;
    }
    *sum += (double)lanes_total + tail_total;
    *centered_squares += (double)lanes_squares + tail_squares;
}

static GCNN_INLINE GCNN_T GCNN_NAME(pass1)(GCNN_T v, uint8_t m)
{
    /* bits, not a select: the compiler must not fold the mask into the
     * products that follow (which changes their rounding under contraction) */
    GCNN_IT bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= -(GCNN_IT)(m != 0);
    memcpy(&v, &bits, sizeof v);
    return v;
}

#if GCNN_VECTORS
/* GCNN_LANES bytes of a ReLU mask, loaded and stored unaligned. */
typedef uint8_t GCNN_NAME(bvec)
    __attribute__((vector_size(GCNN_VBYTES / sizeof(GCNN_T)), aligned(1), may_alias));
#endif

/* v where m[lane] != 0, else +0 (ReLU's backward select, a bitwise and as in
 * relu_impl.h, so the numbers are those of relu_backward then the batch norm). */
static GCNN_INLINE VEC GCNN_NAME(pass)(VEC v, const uint8_t *restrict m)
{
#if GCNN_VECTORS
    /* the lanes' bytes, widened by one instruction on x86 (GCC 12 builds
     * __builtin_convertvector of bytes one lane at a time) */
#if GCNN_X86_PATHS && (GCNN_VBYTES == 64 || GCNN_VBYTES == 32)
    __m128i bytes;
    if (GCNN_LANES == 16) {
        bytes = _mm_loadu_si128((const __m128i *)m);
    } else if (GCNN_LANES == 8) {
        bytes = _mm_loadl_epi64((const __m128i *)m);
    } else {
        int32_t four;
        memcpy(&four, m, sizeof four);
        bytes = _mm_cvtsi32_si128(four);
    }
#if GCNN_VBYTES == 64
    const GCNN_NAME(ivec) lanes = (GCNN_NAME(ivec))(
        sizeof(GCNN_T) == 4 ? _mm512_cvtepu8_epi32(bytes) : _mm512_cvtepu8_epi64(bytes));
#else
    const GCNN_NAME(ivec) lanes = (GCNN_NAME(ivec))(
        sizeof(GCNN_T) == 4 ? _mm256_cvtepu8_epi32(bytes) : _mm256_cvtepu8_epi64(bytes));
#endif
#else
    const GCNN_NAME(ivec) lanes =
        __builtin_convertvector(*(const GCNN_NAME(bvec) *)m, GCNN_NAME(ivec));
#endif
    return (VEC)((GCNN_NAME(ivec))v & (lanes != 0));
#else
    return GCNN_NAME(pass1)(v, m[0]);
#endif
}

/* sum g[j] and sum g[j] * (x[j] - m) over one run; with a mask p, g[j] is
 * taken where p[j] != 0 and 0 elsewhere (the gradient through a ReLU). */
static void GCNN_NAME(run_grad_sums)(const GCNN_T *restrict g, const uint8_t *restrict p,
                                     const GCNN_T *restrict x, ptrdiff_t s, GCNN_T m,
                                     double *sum_g, double *sum_gx)
{
    VEC total[GCNN_RUN_ACC], dots[GCNN_RUN_ACC];
    GCNN_UNROLL
    for (int a = 0; a < GCNN_RUN_ACC; ++a)
        total[a] = dots[a] = (VEC){0};
    const VEC mv = (VEC){0} + m;
    ptrdiff_t j = 0;
    for (; j + GCNN_RUN_ACC * GCNN_LANES <= s; j += GCNN_RUN_ACC * GCNN_LANES) {
        GCNN_UNROLL
        for (int a = 0; a < GCNN_RUN_ACC; ++a) {
            VEC gv = VLOAD(g + j + a * GCNN_LANES);
            if (p)
                gv = GCNN_NAME(pass)(gv, p + j + a * GCNN_LANES);
            total[a] += gv;
            dots[a] += gv * (VLOAD(x + j + a * GCNN_LANES) - mv);
        }
    }
    const GCNN_T lanes_total = GCNN_NAME(acc_total)(total);
    const GCNN_T lanes_dots = GCNN_NAME(acc_total)(dots);
    /* the tail: one loop for both cases (the compiler may vectorise its
     * products, which rounds differently from a fused multiply-add) */
    double tail_total = 0, tail_dots = 0;
    GCNN_T masked[GCNN_RUN_ACC * GCNN_LANES];
    const GCNN_T *restrict gt = g + j;
    if (p) {
        for (ptrdiff_t t = 0; j + t < s; ++t)
            masked[t] = GCNN_NAME(pass1)(g[j + t], p[j + t]);
        gt = masked;
    }
    for (ptrdiff_t t = 0; j + t < s; ++t) {
        tail_total += gt[t];
        tail_dots += (double)gt[t] * (x[j + t] - m);
    }
    *sum_g += (double)lanes_total + tail_total;
    *sum_gx += (double)lanes_dots + tail_dots;
}

/* The arguments of one per-channel call, shared by its items. */
struct GCNN_NAME(channel_work) {
    const GCNN_T *x, *grad, *scale, *shift, *weight;
    ptrdiff_t n, c, s;
    const double *mean_in, *inv_std;
    double *mean, *var, *grad_weight, *grad_bias;
    double *out_sums; /* backward: the sums of grad_x per channel, or NULL */
    double eps;                 /* forward: added to the variance */
    const double *gamma, *beta; /* forward: the affine weight and bias, or NULL */
    double *inv_std_out;        /* forward: 1 / sqrt(var + eps) */
    ptrdiff_t grad_n, grad_k;   /* backward: run (i, k) of grad at i * grad_n + k * grad_k */
    /* a 2x2, stride-2 max pool after the batch norm (and ReLU): each run is
     * planes of plane_h x plane_w; pooled / pool_index (forward) and the
     * pooled gradient with pool_index_in (backward) hold (plane_h / 2) x
     * (plane_w / 2) values per plane */
    ptrdiff_t plane_h, plane_w;
    GCNN_T *pooled;
    int32_t *pool_index;
    const int32_t *pool_index_in;
    GCNN_T *out;
    uint8_t *positive;          /* affine + ReLU: where the output is > 0 */
    const uint8_t *positive_in; /* backward through a ReLU: where grad passes */
};

/* Item = channel k: its sum, the runs in order, each added in double. */
static int GCNN_NAME(sums_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    double total = 0, unused = 0;
    (void)worker;
    for (ptrdiff_t i = 0; i < w->n; ++i)
        GCNN_NAME(run_sums)(w->x + (i * w->c + k) * w->s, w->s, 0, &total, &unused);
    w->mean[k] = total;
    return GCNN_OK;
}

static int GCNN_NAME(channel_sums)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                   double *sum, int threads)
{
    struct GCNN_NAME(channel_work) w = {.x = x, .n = n, .c = c, .s = s, .mean = sum};
    return gcnn_parallel_for(c, threads, GCNN_NAME(sums_item), &w, NULL);
}

/* Values at the head of each run whose mean is the one-pass shift. */
#define GCNN_PILOT_HEAD 16

/* Item = channel k: its mean and centred variance.  One pass sums x and
 * (x - K)^2 about a shift K, the mean of the first values of every run
 * rounded to the element type; var = E[(x - K)^2] - (m - K)^2 exactly.
 * While (m - K)^2 <= var that subtraction at most doubles the relative
 * rounding of the squares; otherwise (a pilot far from the mean, or values
 * that are not finite) a second pass centres the squares on the rounded
 * mean itself, as two passes always did. */
static int GCNN_NAME(moments_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const ptrdiff_t n = w->n, c = w->c, s = w->s;
    const double count = (double)n * (double)s;
    const ptrdiff_t head = s < GCNN_PILOT_HEAD ? s : GCNN_PILOT_HEAD;
    (void)worker;
    double pilot = 0;
    for (ptrdiff_t i = 0; i < n; ++i)
        for (ptrdiff_t j = 0; j < head; ++j)
            pilot += w->x[(i * c + k) * s + j];
    GCNN_T shift = (GCNN_T)(pilot / ((double)n * (double)head));
    double total = 0, squares = 0;
    for (ptrdiff_t i = 0; i < n; ++i)
        GCNN_NAME(run_sums)(w->x + (i * c + k) * s, s, shift, &total, &squares);
    const double m = total / count;
    double offset = m - (double)shift;
    double v = squares / count - offset * offset;
    if (!(offset * offset <= v)) {
        shift = (GCNN_T)m;
        double unused = 0;
        squares = 0;
        for (ptrdiff_t i = 0; i < n; ++i)
            GCNN_NAME(run_sums)(w->x + (i * c + k) * s, s, shift, &unused, &squares);
        offset = m - (double)shift;
        v = squares / count - offset * offset;
    }
    w->mean[k] = m;
    w->var[k] = v > 0 ? v : 0;
    return GCNN_OK;
}

static int GCNN_NAME(channel_moments)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                      double *mean, double *var, int threads)
{
    struct GCNN_NAME(channel_work) w = {.x = x, .n = n, .c = c, .s = s, .mean = mean, .var = var};
    return gcnn_parallel_for(c, threads, GCNN_NAME(moments_item), &w, NULL);
}

/* One run (image, channel): x * a + b; with a mask to fill,
 * followed by ReLU as relu_impl.h computes it (max(y, 0) keeping NaN, the
 * mask y > 0), in the same pass.  Both cases run the same loops, so y
 * rounds the same way with and without the ReLU. */
static void GCNN_NAME(affine_run)(const GCNN_T *restrict src, GCNN_T *restrict dst,
                                  uint8_t *restrict positive, ptrdiff_t s, GCNN_T a, GCNN_T b)
{
    ptrdiff_t j = 0;
#if GCNN_VECTORS
    const VEC av = (VEC){0} + a, bv = (VEC){0} + b, zero = {0};
    for (; j + GCNN_LANES <= s; j += GCNN_LANES) {
        const VEC y = VLOAD(src + j) * av + bv;
        if (positive == NULL) {
            VSTORE(dst + j, y);
            continue;
        }
        /* y < 0 ? 0 : y (NaN and -0 kept), and the mask y > 0 as 0/1 bytes */
        VSTORE(dst + j, (VEC)((GCNN_NAME(ivec))y & ~(y < zero)));
        *(GCNN_NAME(bvec) *)(positive + j) =
            __builtin_convertvector((y > zero) & 1, GCNN_NAME(bvec));
    }
#endif
    for (; j < s; ++j) {
        const GCNN_T y = src[j] * a + b;
        if (positive == NULL) {
            dst[j] = y;
            continue;
        }
        dst[j] = y < 0 ? 0 : y;
        positive[j] = y > 0;
    }
}

static int GCNN_NAME(affine_item)(void *arg, ptrdiff_t run, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    (void)worker;
    GCNN_NAME(affine_run)(w->x + run * w->s, w->out + run * w->s,
                          w->positive ? w->positive + run * w->s : NULL, w->s,
                          w->scale[run % w->c], w->shift[run % w->c]);
    return GCNN_OK;
}

/* The max-pool kernels of pool_impl.h (one instance per element type,
 * outside the SIMD paths) for this path's element type. */
static GCNN_INLINE void GCNN_NAME(pool_2x2)(const GCNN_T *src, ptrdiff_t W, GCNN_T *dst,
                                            int32_t *where, ptrdiff_t oh, ptrdiff_t ow)
{
    if (sizeof(GCNN_T) == sizeof(float))
        max_pool_2x2_f32((const float *)src, W, (float *)dst, where, oh, ow);
    else
        max_pool_2x2_f64((const double *)src, W, (double *)dst, where, oh, ow);
}

static GCNN_INLINE int GCNN_NAME(pool_spread)(const GCNN_T *g, const int32_t *where,
                                              ptrdiff_t outputs, ptrdiff_t plane_size,
                                              GCNN_T *dst)
{
    if (sizeof(GCNN_T) == sizeof(float))
        return max_pool_spread_f32((const float *)g, where, outputs, plane_size, (float *)dst);
    return max_pool_spread_f64((const double *)g, where, outputs, plane_size, (double *)dst);
}

/* Item = channel k of a training-mode batch norm: its moments, then its n
 * runs of the affine map (and ReLU) while they are in the core's cache.
 * scale and shift are those gcnn.nn computed in NumPy from the moments, in
 * double and in the same order (no fused multiply-add: the product goes
 * through memory), then rounded to the element type. */
static int GCNN_NAME(bn_forward_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    GCNN_NAME(moments_item)(arg, k, worker);
    const double inv_std = 1.0 / sqrt(w->var[k] + w->eps);
    const double scale = w->gamma ? inv_std * w->gamma[k] : inv_std;
    volatile double product = -w->mean[k] * scale;
    const double shift = w->beta ? product + w->beta[k] : product;
    w->inv_std_out[k] = inv_std;
    const ptrdiff_t s = w->s;
    if (w->pooled == NULL) {
        for (ptrdiff_t i = 0; i < w->n; ++i) {
            const ptrdiff_t run = i * w->c + k;
            GCNN_NAME(affine_run)(w->x + run * s, w->out + run * s,
                                  w->positive ? w->positive + run * s : NULL, s,
                                  (GCNN_T)scale, (GCNN_T)shift);
        }
        return GCNN_OK;
    }
    /* each plane through the affine map (and ReLU) into a scratch plane, then
     * pooled by the max-pool kernel itself: the map is never written out */
    const ptrdiff_t H = w->plane_h, W = w->plane_w, plane = H * W;
    const ptrdiff_t oh = H / 2, ow = W / 2, planes = s / plane;
    GCNN_T *scratch = malloc((size_t)plane * sizeof *scratch);
    if (scratch == NULL)
        return GCNN_ENOMEM;
    for (ptrdiff_t i = 0; i < w->n; ++i) {
        const ptrdiff_t run = i * w->c + k;
        for (ptrdiff_t p = 0; p < planes; ++p) {
            const ptrdiff_t at = run * s + p * plane, to = (run * planes + p) * oh * ow;
            GCNN_NAME(affine_run)(w->x + at, scratch, w->positive ? w->positive + at : NULL,
                                  plane, (GCNN_T)scale, (GCNN_T)shift);
            GCNN_NAME(pool_2x2)(scratch, W, w->pooled + to, w->pool_index + to, oh, ow);
        }
    }
    free(scratch);
    return GCNN_OK;
}

static int GCNN_NAME(batch_norm_forward)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                         double eps, const double *gamma, const double *beta,
                                         GCNN_T *out, uint8_t *positive, ptrdiff_t plane_h,
                                         ptrdiff_t plane_w, GCNN_T *pooled,
                                         int32_t *pool_index, double *mean, double *var,
                                         double *inv_std, int threads)
{
    struct GCNN_NAME(channel_work) w = {.x = x,
                                        .n = n,
                                        .c = c,
                                        .s = s,
                                        .mean = mean,
                                        .var = var,
                                        .eps = eps,
                                        .gamma = gamma,
                                        .beta = beta,
                                        .inv_std_out = inv_std,
                                        .plane_h = plane_h,
                                        .plane_w = plane_w,
                                        .pooled = pooled,
                                        .pool_index = pool_index,
                                        .out = out,
                                        .positive = positive};
    return gcnn_parallel_for(c, threads, GCNN_NAME(bn_forward_item), &w, NULL);
}

static int GCNN_NAME(channel_affine)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                     const GCNN_T *scale, const GCNN_T *shift, GCNN_T *out,
                                     uint8_t *positive, int threads)
{
    struct GCNN_NAME(channel_work) w = {.x = x,           .scale = scale, .shift = shift,
                                        .n = n,           .c = c,         .s = s,
                                        .out = out,       .positive = positive};
    return gcnn_parallel_for(n * c, threads, GCNN_NAME(affine_item), &w, NULL);
}

/* Item = channel k: grad_bias[k] = sum g and grad_weight[k] = sum g * xhat. */
static int GCNN_NAME(bn_sums_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const ptrdiff_t n = w->n, c = w->c, s = w->s;
    double sum_g = 0, sum_gx = 0;
    (void)worker;
    for (ptrdiff_t i = 0; i < n; ++i)
        GCNN_NAME(run_grad_sums)(w->grad + i * w->grad_n + k * w->grad_k,
                                 w->positive_in ? w->positive_in + (i * c + k) * s : NULL,
                                 w->x + (i * c + k) * s, s, (GCNN_T)w->mean_in[k], &sum_g,
                                 &sum_gx);
    /* the run sums were centred on the rounded mean: shift to the exact one */
    sum_gx -= (w->mean_in[k] - (double)(GCNN_T)w->mean_in[k]) * sum_g;
    w->grad_bias[k] = sum_g;
    w->grad_weight[k] = sum_gx * w->inv_std[k];
    return GCNN_OK;
}

/* Item = one run: grad_x = A g + B (x - mean) + C, per channel. */
static int GCNN_NAME(bn_grad_x_item)(void *arg, ptrdiff_t run, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const ptrdiff_t k = run % w->c;
    const double count = (double)w->n * (double)w->s;
    const double r = w->inv_std[k], weight = w->weight ? (double)w->weight[k] : 1.0;
    const GCNN_T A = (GCNN_T)(weight * r);
    const GCNN_T B = (GCNN_T)(-weight * r * r * w->grad_weight[k] / count);
    const GCNN_T C = (GCNN_T)(-weight * r * w->grad_bias[k] / count);
    const GCNN_T m = (GCNN_T)w->mean_in[k];
    const GCNN_T *restrict g = w->grad + run / w->c * w->grad_n + k * w->grad_k;
    const GCNN_T *restrict xs = w->x + run * w->s;
    GCNN_T *restrict dst = w->out + run * w->s;
    const uint8_t *restrict p = w->positive_in ? w->positive_in + run * w->s : NULL;
    const ptrdiff_t s = w->s;
    (void)worker;
    /* one loop with and without the mask, so both round alike */
    ptrdiff_t j = 0;
#if GCNN_VECTORS
    const VEC Av = (VEC){0} + A, Bv = (VEC){0} + B, Cv = (VEC){0} + C, mv = (VEC){0} + m;
    for (; j + GCNN_LANES <= s; j += GCNN_LANES) {
        const VEC gv = p ? GCNN_NAME(pass)(VLOAD(g + j), p + j) : VLOAD(g + j);
        VSTORE(dst + j, Av * gv + Bv * (VLOAD(xs + j) - mv) + Cv);
    }
#endif
    for (; j < s; ++j) {
        const GCNN_T gj = p ? GCNN_NAME(pass1)(g[j], p[j]) : g[j];
        dst[j] = A * gj + B * (xs[j] - m) + C;
    }
    return GCNN_OK;
}

/* Item = channel k: its two sums, then its n runs of grad_x while the
 * channel's g, x and mask are still in the core's cache (a channel of a
 * P4CNN layer is a few hundred KiB; a second sweep over the whole map would
 * read them back from the shared cache or memory).  With out_sums, each run
 * of grad_x is summed as sums_item sums it, just after it is written. */
static int GCNN_NAME(bn_channel_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    GCNN_NAME(bn_sums_item)(arg, k, worker);
    double total = 0, unused = 0;
    for (ptrdiff_t i = 0; i < w->n; ++i) {
        GCNN_NAME(bn_grad_x_item)(arg, i * w->c + k, worker);
        if (w->out_sums)
            GCNN_NAME(run_sums)(w->out + (i * w->c + k) * w->s, w->s, 0, &total, &unused);
    }
    if (w->out_sums)
        w->out_sums[k] = total;
    return GCNN_OK;
}

/* Item = channel k when the gradient arrives pooled: each run's gradient is
 * first spread to its plane positions (zeros, then each window's gradient
 * added at its winner, as the max-pool backward does) in a scratch holding
 * the channel, which the item above then reads as grad. */
static int GCNN_NAME(bn_pooled_channel_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const ptrdiff_t n = w->n, c = w->c, s = w->s, plane = w->plane_h * w->plane_w;
    const ptrdiff_t windows = (w->plane_h / 2) * (w->plane_w / 2), planes = s / plane;
    GCNN_T *dense = malloc((size_t)(n * s) * sizeof *dense);
    if (dense == NULL)
        return GCNN_ENOMEM;
    for (ptrdiff_t i = 0; i < n; ++i)
        for (ptrdiff_t p = 0; p < planes; ++p) {
            const ptrdiff_t from = ((i * c + k) * planes + p) * windows;
            const int status = GCNN_NAME(pool_spread)(w->grad + from, w->pool_index_in + from,
                                                      windows, plane, dense + i * s + p * plane);
            if (status != GCNN_OK) {
                free(dense);
                return status;
            }
        }
    struct GCNN_NAME(channel_work) local = *w;
    local.grad = dense;
    local.grad_n = s;
    local.grad_k = 0;
    GCNN_NAME(bn_channel_item)(&local, k, worker);
    free(dense);
    return GCNN_OK;
}

static int GCNN_NAME(batch_norm_backward)(const GCNN_T *grad, const uint8_t *positive,
                                          const GCNN_T *x, ptrdiff_t n, ptrdiff_t c,
                                          ptrdiff_t s, const double *mean,
                                          const double *inv_std, const GCNN_T *weight,
                                          GCNN_T *grad_x, double *grad_weight,
                                          double *grad_bias, double *grad_x_sums,
                                          const int32_t *pool_index, ptrdiff_t plane_h,
                                          ptrdiff_t plane_w, int threads)
{
    struct GCNN_NAME(channel_work) w = {.x = x,
                                        .grad = grad,
                                        .weight = weight,
                                        .n = n,
                                        .c = c,
                                        .s = s,
                                        .mean_in = mean,
                                        .inv_std = inv_std,
                                        .grad_weight = grad_weight,
                                        .grad_bias = grad_bias,
                                        .out_sums = grad_x_sums,
                                        .grad_n = c * s,
                                        .grad_k = s,
                                        .plane_h = plane_h,
                                        .plane_w = plane_w,
                                        .pool_index_in = pool_index,
                                        .out = grad_x,
                                        .positive_in = positive};
    return gcnn_parallel_for(c, threads,
                             pool_index ? GCNN_NAME(bn_pooled_channel_item)
                                        : GCNN_NAME(bn_channel_item),
                             &w, NULL);
}

#undef GCNN_RUN_ACC
#undef GCNN_PILOT_HEAD
