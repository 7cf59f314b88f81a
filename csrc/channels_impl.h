/*
 * Loop bodies of the per-channel kernels (batch normalisation), instantiated
 * by simd_types.h for each (element type, instruction-set path).  A channel
 * of x[n][c][s] is n runs of s contiguous values; a run is summed in
 * vectors of the element type (four independent accumulators, lanes then
 * added in order) and runs are added in double, always in the same order.
 */

/* Number of independent vector accumulators of a run sum. */
#define GCNN_RUN_ACC 4

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
    GCNN_T lanes_total = 0, lanes_squares = 0;
    GCNN_T spill[GCNN_VBYTES / sizeof(GCNN_T)];
    for (int a = 0; a < GCNN_RUN_ACC; ++a) {
        VSTORE(spill, total[a]);
        for (ptrdiff_t l = 0; l < GCNN_LANES; ++l)
            lanes_total += spill[l];
        VSTORE(spill, squares[a]);
        for (ptrdiff_t l = 0; l < GCNN_LANES; ++l)
            lanes_squares += spill[l];
    }
    double tail_total = 0, tail_squares = 0;
    for (; j < s; ++j) {
        const GCNN_T d = x[j] - m;
        tail_total += x[j];
        tail_squares += (double)d * d;
    }
    *sum += (double)lanes_total + tail_total;
    *centered_squares += (double)lanes_squares + tail_squares;
}

/* sum g[j] and sum g[j] * (x[j] - m) over one run. */
static void GCNN_NAME(run_grad_sums)(const GCNN_T *restrict g, const GCNN_T *restrict x,
                                     ptrdiff_t s, GCNN_T m, double *sum_g, double *sum_gx)
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
            const VEC gv = VLOAD(g + j + a * GCNN_LANES);
            total[a] += gv;
            dots[a] += gv * (VLOAD(x + j + a * GCNN_LANES) - mv);
        }
    }
    GCNN_T lanes_total = 0, lanes_dots = 0;
    GCNN_T spill[GCNN_VBYTES / sizeof(GCNN_T)];
    for (int a = 0; a < GCNN_RUN_ACC; ++a) {
        VSTORE(spill, total[a]);
        for (ptrdiff_t l = 0; l < GCNN_LANES; ++l)
            lanes_total += spill[l];
        VSTORE(spill, dots[a]);
        for (ptrdiff_t l = 0; l < GCNN_LANES; ++l)
            lanes_dots += spill[l];
    }
    double tail_total = 0, tail_dots = 0;
    for (; j < s; ++j) {
        tail_total += g[j];
        tail_dots += (double)g[j] * (x[j] - m);
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
    GCNN_T *out;
};

/* Item = channel k: its mean and centred variance. */
static int GCNN_NAME(moments_item)(void *arg, ptrdiff_t k, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const ptrdiff_t n = w->n, c = w->c, s = w->s;
    const double count = (double)n * (double)s;
    double total = 0, squares = 0, unused = 0;
    (void)worker;
    for (ptrdiff_t i = 0; i < n; ++i)
        GCNN_NAME(run_sums)(w->x + (i * c + k) * s, s, 0, &total, &unused);
    const double m = total / count;
    /* centred on the mean rounded to the element type; the rounding shift is
     * removed exactly below (var = E[(x - m')^2] - (m - m')^2) */
    const GCNN_T m_rounded = (GCNN_T)m;
    double shifted_total = 0;
    for (ptrdiff_t i = 0; i < n; ++i)
        GCNN_NAME(run_sums)(w->x + (i * c + k) * s, s, m_rounded, &shifted_total, &squares);
    const double offset = m - (double)m_rounded;
    const double v = squares / count - offset * offset;
    w->mean[k] = m;
    w->var[k] = v > 0 ? v : 0;
    return GCNN_OK;
}

static int GCNN_NAME(channel_moments)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                      double *mean, double *var, int threads)
{
    struct GCNN_NAME(channel_work) w = {x, NULL, NULL, NULL, NULL, n, c, s, NULL, NULL,
                                        mean, var, NULL, NULL, NULL};
    return gcnn_parallel_for(c, threads, GCNN_NAME(moments_item), &w, NULL);
}

/* Item = one run (image, channel): x * scale + shift. */
static int GCNN_NAME(affine_item)(void *arg, ptrdiff_t run, int worker)
{
    const struct GCNN_NAME(channel_work) *w = arg;
    const GCNN_T a = w->scale[run % w->c], b = w->shift[run % w->c];
    const GCNN_T *restrict src = w->x + run * w->s;
    GCNN_T *restrict dst = w->out + run * w->s;
    (void)worker;
    for (ptrdiff_t j = 0; j < w->s; ++j)
        dst[j] = src[j] * a + b;
    return GCNN_OK;
}

static int GCNN_NAME(channel_affine)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                     const GCNN_T *scale, const GCNN_T *shift, GCNN_T *out,
                                     int threads)
{
    struct GCNN_NAME(channel_work) w = {x, NULL, scale, shift, NULL, n, c, s, NULL, NULL,
                                        NULL, NULL, NULL, NULL, out};
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
        GCNN_NAME(run_grad_sums)(w->grad + (i * c + k) * s, w->x + (i * c + k) * s, s,
                                 (GCNN_T)w->mean_in[k], &sum_g, &sum_gx);
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
    const GCNN_T *restrict g = w->grad + run * w->s;
    const GCNN_T *restrict xs = w->x + run * w->s;
    GCNN_T *restrict dst = w->out + run * w->s;
    (void)worker;
    for (ptrdiff_t j = 0; j < w->s; ++j)
        dst[j] = A * g[j] + B * (xs[j] - m) + C;
    return GCNN_OK;
}

static int GCNN_NAME(batch_norm_backward)(const GCNN_T *grad, const GCNN_T *x, ptrdiff_t n,
                                          ptrdiff_t c, ptrdiff_t s, const double *mean,
                                          const double *inv_std, const GCNN_T *weight,
                                          GCNN_T *grad_x, double *grad_weight,
                                          double *grad_bias, int threads)
{
    struct GCNN_NAME(channel_work) w = {x,       grad,        NULL,        NULL,     weight,
                                        n,       c,           s,           mean,     inv_std,
                                        NULL,    NULL,        grad_weight, grad_bias, grad_x};
    const int status = gcnn_parallel_for(c, threads, GCNN_NAME(bn_sums_item), &w, NULL);
    if (status != GCNN_OK)
        return status;
    return gcnn_parallel_for(n * c, threads, GCNN_NAME(bn_grad_x_item), &w, NULL);
}

#undef GCNN_RUN_ACC
