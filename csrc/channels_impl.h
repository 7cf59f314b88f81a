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

static int GCNN_NAME(channel_moments)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                      double *mean, double *var, int threads)
{
    const double count = (double)n * (double)s;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (ptrdiff_t k = 0; k < c; ++k) {
        double total = 0, squares = 0, unused = 0;
        for (ptrdiff_t i = 0; i < n; ++i)
            GCNN_NAME(run_sums)(x + (i * c + k) * s, s, 0, &total, &unused);
        const double m = total / count;
        /* centred on the mean rounded to the element type; the rounding
         * shift is removed exactly below (var = E[(x-m')^2] - (m-m')^2) */
        const GCNN_T m_rounded = (GCNN_T)m;
        double shifted_total = 0;
        for (ptrdiff_t i = 0; i < n; ++i)
            GCNN_NAME(run_sums)(x + (i * c + k) * s, s, m_rounded, &shifted_total, &squares);
        const double offset = m - (double)m_rounded;
        double v = squares / count - offset * offset;
        mean[k] = m;
        var[k] = v > 0 ? v : 0;
        (void)shifted_total;
    }
    (void)threads;
    return GCNN_OK;
}

static int GCNN_NAME(channel_affine)(const GCNN_T *x, ptrdiff_t n, ptrdiff_t c, ptrdiff_t s,
                                     const GCNN_T *scale, const GCNN_T *shift, GCNN_T *out,
                                     int threads)
{
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (ptrdiff_t run = 0; run < n * c; ++run) {
        const GCNN_T a = scale[run % c], b = shift[run % c];
        const GCNN_T *restrict src = x + run * s;
        GCNN_T *restrict dst = out + run * s;
        for (ptrdiff_t j = 0; j < s; ++j)
            dst[j] = src[j] * a + b;
    }
    (void)threads;
    return GCNN_OK;
}

static int GCNN_NAME(batch_norm_backward)(const GCNN_T *grad, const GCNN_T *x, ptrdiff_t n,
                                          ptrdiff_t c, ptrdiff_t s, const double *mean,
                                          const double *inv_std, const GCNN_T *weight,
                                          GCNN_T *grad_x, double *grad_weight,
                                          double *grad_bias, int threads)
{
    const double count = (double)n * (double)s;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (ptrdiff_t k = 0; k < c; ++k) {
            double sum_g = 0, sum_gx = 0;
            for (ptrdiff_t i = 0; i < n; ++i)
                GCNN_NAME(run_grad_sums)(grad + (i * c + k) * s, x + (i * c + k) * s, s,
                                         (GCNN_T)mean[k], &sum_g, &sum_gx);
            /* the run sums were centred on the rounded mean: shift to the exact one */
            sum_gx -= (mean[k] - (double)(GCNN_T)mean[k]) * sum_g;
            grad_bias[k] = sum_g;
            grad_weight[k] = sum_gx * inv_std[k];
        }
        /* grad_x = A g + B (x - mean) + C, per channel */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (ptrdiff_t run = 0; run < n * c; ++run) {
            const ptrdiff_t k = run % c;
            const double r = inv_std[k], w = weight ? (double)weight[k] : 1.0;
            const GCNN_T A = (GCNN_T)(w * r);
            const GCNN_T B = (GCNN_T)(-w * r * r * grad_weight[k] / count);
            const GCNN_T C = (GCNN_T)(-w * r * grad_bias[k] / count);
            const GCNN_T m = (GCNN_T)mean[k];
            const GCNN_T *restrict g = grad + run * s;
            const GCNN_T *restrict xs = x + run * s;
            GCNN_T *restrict dst = grad_x + run * s;
            for (ptrdiff_t j = 0; j < s; ++j)
                dst[j] = A * g[j] + B * (xs[j] - m) + C;
        }
    }
    (void)threads;
    return GCNN_OK;
}

#undef GCNN_RUN_ACC
