/*
 * Loop body of Winograd's F(m x m, r x r) correlation, instantiated by
 * simd_types.h once for each (element type, instruction-set path) pair;
 * winograd.c provides the plan and the transform matrices.
 *
 * Per call: the filter bank is transformed once (U = G g G^T for every
 * output and input channel, computed in double and rounded once), packed
 * as U[xi][block][c][ob] for the alpha^2 frequencies xi.  Per work item
 * (image n, band of tile rows), on one thread:
 *   1. input transform: each channel's input rows are copied, split into
 *      m column phases, with the fill value outside the image; then
 *      V = B^T d B for a vector of tile positions at a time, stored as
 *      V[xi][c][position];
 *   2. for each frequency, for each block of ob output channels, the
 *      product M[xi][o][position] = sum_c U[xi][o][c] * V[xi][c][position]
 *      in a register tile of ob channels x nv vectors of positions, summed
 *      over c in increasing order;
 *   3. output transform Y = A^T M A per channel and position vector, plus
 *      the bias, copied into the output.
 * Every number depends only on its tile, never on the band or the thread.
 */

/* Sum of COEF(k) * terms[k] over k < n with the zero coefficients left out
 * (they are constants after unrolling, so the branches disappear). */
#define GCNN_WINO_SUM(result, n, COEF, terms)                                  \
    do {                                                                       \
        int first_ = 1;                                                        \
        GCNN_UNROLL                                                            \
        for (int k_ = 0; k_ < (n); ++k_) {                                     \
            const double coef_ = COEF(k_);                                     \
            if (coef_ == 0.0)                                                  \
                continue;                                                      \
            if (first_)                                                        \
                (result) = (terms)[k_] * (GCNN_T)coef_;                        \
            else                                                               \
                (result) += (terms)[k_] * (GCNN_T)coef_;                       \
            first_ = 0;                                                        \
        }                                                                      \
    } while (0)

/* Filter transform of one block of output channels, in double:
 * u[(xi * ob_blocks + block) * C * ob + c * ob + j] = (G g G^T)[xi] of filter
 * (block * ob + j, c), zero for the channels that pad the last block.  The
 * ob filters of a channel are transformed together, so that each frequency
 * gets one contiguous run of ob values. */
static GCNN_INLINE void GCNN_NAME(wino_filters_tile)(const struct gcnn_wino_plan *plan,
                                                     const GCNN_T *restrict w,
                                                     GCNN_T *restrict u, ptrdiff_t block,
                                                     const int M, const int R)
{
    const int A = M + R - 1, OB = plan->ob;
    const ptrdiff_t C = plan->p.in_channels, O = plan->p.out_channels;
    const ptrdiff_t freq_stride = plan->ob_blocks * C * OB;
    for (ptrdiff_t c = 0; c < C; ++c) {
        double transformed[GCNN_WINO_MAX_ALPHA * GCNN_WINO_MAX_ALPHA][GCNN_WINO_MAX_OB];
        for (int j0 = 0; j0 < OB; ++j0) {
            const ptrdiff_t o = block * OB + j0;
            if (o >= O) {
                for (int xi = 0; xi < A * A; ++xi)
                    transformed[xi][j0] = 0.0;
                continue;
            }
            const GCNN_T *restrict g = w + (o * C + c) * R * R;
            double gt[GCNN_WINO_MAX_ALPHA][GCNN_WINO_MAX_KERNEL];
            GCNN_UNROLL
            for (int i = 0; i < A; ++i)
                for (int b = 0; b < R; ++b) {
                    double sum = 0.0;
                    for (int t = 0; t < R; ++t)
                        sum += GCNN_WINO_G(M, R, i, t) * (double)g[t * R + b];
                    gt[i][b] = sum;
                }
            for (int i = 0; i < A; ++i)
                GCNN_UNROLL
                for (int j = 0; j < A; ++j) {
                    double sum = 0.0;
                    for (int t = 0; t < R; ++t)
                        sum += gt[i][t] * GCNN_WINO_G(M, R, j, t);
                    transformed[i * A + j][j0] = sum;
                }
        }
        GCNN_T *restrict dst = u + (block * C + c) * OB;
        for (int xi = 0; xi < A * A; ++xi)
            for (int j0 = 0; j0 < OB; ++j0)
                dst[xi * freq_stride + j0] = (GCNN_T)transformed[xi][j0];
    }
}

/* Work item of the filter transform: one block of output channels. */
struct GCNN_NAME(wino_filter_work) {
    const struct gcnn_wino_plan *plan;
    const GCNN_T *w;
    GCNN_T *u;
};

static int GCNN_NAME(wino_filters)(void *arg, ptrdiff_t block, int worker)
{
    const struct GCNN_NAME(wino_filter_work) *work = arg;
    (void)worker;
    if (work->plan->tile == 4)
        GCNN_NAME(wino_filters_tile)(work->plan, work->w, work->u, block, 4, 3);
    else if (work->plan->kernel == 5)
        GCNN_NAME(wino_filters_tile)(work->plan, work->w, work->u, block, 2, 5);
    else
        GCNN_NAME(wino_filters_tile)(work->plan, work->w, work->u, block, 2, 3);
    return GCNN_OK;
}

/* Step 1 for one channel: buf[(i * m + phase) * phase_len + position] holds
 * input row i of the position's tile in that column phase; v_c is
 * V[0][c][0] (frequencies in_channels * positions apart). */
static GCNN_INLINE void GCNN_NAME(wino_input)(const struct gcnn_wino_plan *plan,
                                              const GCNN_T *restrict buf, GCNN_T *restrict v_c,
                                              const int M, const int R)
{
    const int A = M + R - 1;
    const ptrdiff_t P = plan->positions, S = plan->phase_len;
    const ptrdiff_t freq_stride = plan->v_freq_stride;
    for (ptrdiff_t q = 0; q < P; q += GCNN_LANES) {
        VEC rows_done[GCNN_WINO_MAX_ALPHA][GCNN_WINO_MAX_ALPHA];
        /* along each input row: t[i][j] = sum_k d[i][k] B^T[j][k] */
        GCNN_UNROLL
        for (int i = 0; i < A; ++i) {
            VEC d[GCNN_WINO_MAX_ALPHA];
            GCNN_UNROLL
            for (int k = 0; k < A; ++k)
                d[k] = VLOAD(buf + (i * M + k % M) * S + q + k / M);
            GCNN_UNROLL
            for (int j = 0; j < A; ++j) {
#define GCNN_COEF(k) GCNN_WINO_BT(M, R, j, k)
                GCNN_WINO_SUM(rows_done[i][j], A, GCNN_COEF, d);
#undef GCNN_COEF
            }
        }
        /* down each column: V[i][j] = sum_k B^T[i][k] t[k][j] */
        GCNN_UNROLL
        for (int j = 0; j < A; ++j) {
            VEC column[GCNN_WINO_MAX_ALPHA];
            GCNN_UNROLL
            for (int k = 0; k < A; ++k)
                column[k] = rows_done[k][j];
            GCNN_UNROLL
            for (int i = 0; i < A; ++i) {
                VEC v = (VEC){0};
#define GCNN_COEF(k) GCNN_WINO_BT(M, R, i, k)
                GCNN_WINO_SUM(v, A, GCNN_COEF, column);
#undef GCNN_COEF
                VSTORE(v_c + (i * A + j) * freq_stride + q, v);
            }
        }
    }
}

/* Step 2 for one frequency and NV vectors of positions: m[j * P + ...] =
 * sum_c u[c * OB + j] * v[c * P + ...]. */
static GCNN_INLINE void GCNN_NAME(wino_gemm)(const GCNN_T *restrict v, const GCNN_T *restrict u,
                                             ptrdiff_t channels, ptrdiff_t P,
                                             GCNN_T *restrict m, const int OB, const int NV)
{
    VEC acc[GCNN_WINO_MAX_OB][GCNN_WINO_MAX_NV];
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            acc[j][i] = (VEC){0};
    }
    for (ptrdiff_t c = 0; c < channels; ++c) {
        const GCNN_T *restrict vc = v + c * P;
        const GCNN_T *restrict uc = u + c * OB;
        VEC xv[GCNN_WINO_MAX_NV];
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            xv[i] = VLOAD(vc + i * GCNN_LANES);
        GCNN_UNROLL
        for (int j = 0; j < OB; ++j) {
            const GCNN_T weight = uc[j];
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i)
                acc[j][i] += xv[i] * weight;
        }
    }
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            VSTORE(m + j * P + i * GCNN_LANES, acc[j][i]);
    }
}

/* Step 2 for one frequency and one block of output channels: every
 * position, NV vectors at a time, then the remaining one or two vectors.
 * u_block is U[xi][block], m_block M[xi][o0]. */
static GCNN_INLINE void GCNN_NAME(wino_products)(const struct gcnn_wino_plan *plan,
                                                 const GCNN_T *restrict v_xi,
                                                 const GCNN_T *restrict u_block,
                                                 GCNN_T *restrict m_block, const int OB,
                                                 const int NV)
{
    const ptrdiff_t P = plan->positions, C = plan->p.in_channels;
    ptrdiff_t q = 0;
    for (; q + NV * GCNN_LANES <= P; q += NV * GCNN_LANES)
        GCNN_NAME(wino_gemm)(v_xi + q, u_block, C, P, m_block + q, OB, NV);
    if (NV > 2 && q + 2 * GCNN_LANES <= P) {
        GCNN_NAME(wino_gemm)(v_xi + q, u_block, C, P, m_block + q, OB, 2);
        q += 2 * GCNN_LANES;
    }
    for (; q < P; q += GCNN_LANES)
        GCNN_NAME(wino_gemm)(v_xi + q, u_block, C, P, m_block + q, OB, 1);
}

/* Step 3 for output channel j of a block: y[(r * m + s) * P + position] =
 * (A^T M A)[r][s] + bias. */
static GCNN_INLINE void GCNN_NAME(wino_output)(const struct gcnn_wino_plan *plan,
                                               const GCNN_T *restrict m_j, ptrdiff_t m_freq_stride,
                                               GCNN_T bias, GCNN_T *restrict y, const int M,
                                               const int R)
{
    const int A = M + R - 1;
    const ptrdiff_t P = plan->positions;
    const VEC b = (VEC){0} + bias;
    for (ptrdiff_t q = 0; q < P; q += GCNN_LANES) {
        VEC rows_done[GCNN_WINO_MAX_ALPHA][4];
        /* along each row: t[i][s] = sum_j M[i][j] A^T[s][j] */
        GCNN_UNROLL
        for (int i = 0; i < A; ++i) {
            VEC row[GCNN_WINO_MAX_ALPHA];
            GCNN_UNROLL
            for (int j = 0; j < A; ++j)
                row[j] = VLOAD(m_j + (i * A + j) * m_freq_stride + q);
            GCNN_UNROLL
            for (int s = 0; s < M; ++s) {
#define GCNN_COEF(k) GCNN_WINO_AT(M, R, s, k)
                GCNN_WINO_SUM(rows_done[i][s], A, GCNN_COEF, row);
#undef GCNN_COEF
            }
        }
        /* down each column: Y[r][s] = sum_i A^T[r][i] t[i][s] */
        GCNN_UNROLL
        for (int s = 0; s < M; ++s) {
            VEC column[GCNN_WINO_MAX_ALPHA];
            GCNN_UNROLL
            for (int i = 0; i < A; ++i)
                column[i] = rows_done[i][s];
            GCNN_UNROLL
            for (int r = 0; r < M; ++r) {
                VEC out = (VEC){0};
#define GCNN_COEF(k) GCNN_WINO_AT(M, R, r, k)
                GCNN_WINO_SUM(out, A, GCNN_COEF, column);
#undef GCNN_COEF
                VSTORE(y + (r * M + s) * P + q, out + b);
            }
        }
    }
}

/* One call's work, shared by its items. */
struct GCNN_NAME(wino_work) {
    const struct gcnn_wino_plan *plan;
    const GCNN_T *x, *u, *bias;
    GCNN_T fillvalue;
    GCNN_T *out;
    char **scratch; /* [worker]: allocated on the worker's first item */
};

static GCNN_INLINE int GCNN_NAME(wino_run)(const struct GCNN_NAME(wino_work) *work,
                                           ptrdiff_t item, GCNN_T *restrict buf,
                                           GCNN_T *restrict v, GCNN_T *restrict m,
                                           GCNN_T *restrict y, const int M, const int R)
{
    const struct gcnn_wino_plan *plan = work->plan;
    const ptrdiff_t C = plan->p.in_channels, H = plan->p.height, W = plan->p.width;
    const ptrdiff_t P = plan->positions, S = plan->phase_len, slots = plan->row_slots;
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w;
    const ptrdiff_t n = item / plan->bands;
    const ptrdiff_t ty0 = (item % plan->bands) * plan->band;
    const ptrdiff_t rows =
        plan->tiles_y - ty0 < plan->band ? plan->tiles_y - ty0 : plan->band;
    const ptrdiff_t used = rows * slots;
    const GCNN_T fill = work->fillvalue;

    /* 1. input transform, channel by channel: each input row a tile row
     * reads is copied once, with the fill value around it, into `padded`,
     * and split from there into the m column phases */
    const GCNN_T *restrict x_n = work->x + n * C * H * W;
    GCNN_T *restrict padded = y; /* y is free until step 3 */
    const ptrdiff_t pad_left = plan->p.pad_left;
    const ptrdiff_t padded_len = slots * M;
    /* image columns 0 .. copy - 1 land at pad_left ..; the row may be cut */
    const ptrdiff_t copy = W < padded_len - pad_left ? W : padded_len - pad_left;
    for (ptrdiff_t c = 0; c < C; ++c) {
        const GCNN_T *restrict x_c = x_n + c * H * W;
        for (ptrdiff_t r = 0; r < rows; ++r)
            for (int i = 0; i < M + R - 1; ++i) {
                const ptrdiff_t iy = (ty0 + r) * M + i - plan->p.pad_top;
                if (iy < 0 || iy >= H || copy <= 0) {
                    for (ptrdiff_t j = 0; j < padded_len; ++j)
                        padded[j] = fill;
                } else {
                    const ptrdiff_t left = pad_left < padded_len ? pad_left : padded_len;
                    for (ptrdiff_t j = 0; j < left; ++j)
                        padded[j] = fill;
                    memcpy(padded + left, x_c + iy * W, (size_t)copy * sizeof(GCNN_T));
                    for (ptrdiff_t j = left + copy; j < padded_len; ++j)
                        padded[j] = fill;
                }
                /* all phases in one loop: an interleaved group of loads
                 * that compilers vectorise with permutations */
                GCNN_T *restrict d = buf + i * M * S + r * slots;
                for (ptrdiff_t l = 0; l < slots; ++l) {
                    GCNN_UNROLL
                    for (int ph = 0; ph < M; ++ph)
                        d[ph * S + l] = padded[l * M + ph];
                }
            }
        /* positions past the band, read by its last vectors */
        for (int i = 0; i < M + R - 1; ++i)
            for (int ph = 0; ph < M; ++ph) {
                GCNN_T *restrict dst = buf + (i * M + ph) * S;
                for (ptrdiff_t s = used; s < S; ++s)
                    dst[s] = 0;
            }
        GCNN_NAME(wino_input)(plan, buf, v + c * P, M, R);
    }

    /* 2. products, frequency by frequency: V[xi] and U[xi] stay in cache
     * while every block of output channels uses them */
    const ptrdiff_t freqs = (ptrdiff_t)(M + R - 1) * (M + R - 1);
    for (ptrdiff_t xi = 0; xi < freqs; ++xi) {
        const GCNN_T *restrict v_xi = v + xi * plan->v_freq_stride;
        for (ptrdiff_t block = 0; block < plan->ob_blocks; ++block) {
            const GCNN_T *restrict u_block = work->u + (xi * plan->ob_blocks + block) * C * plan->ob;
            GCNN_T *restrict m_block = m + xi * plan->m_freq_stride + block * plan->ob * P;
            switch (plan->ob * 16 + plan->nv) {
#define GCNN_WINO_CASE(OB, NV)                                                 \
    case OB * 16 + NV:                                                         \
        GCNN_NAME(wino_products)(plan, v_xi, u_block, m_block, OB, NV);        \
        break;
                GCNN_WINO_CASE(8, 3)
                GCNN_WINO_CASE(4, 3)
                GCNN_WINO_CASE(4, 2)
                GCNN_WINO_CASE(2, 3)
                GCNN_WINO_CASE(1, 3)
#undef GCNN_WINO_CASE
            default: /* gcnn_wino_plan_make only produces the shapes above */
                return GCNN_EINTERNAL;
            }
        }
    }

    /* 3. output transform and bias, channel by channel (one output row is
     * assembled past the transformed tiles in y) */
    const ptrdiff_t y_row = (ptrdiff_t)M * M * P;
    GCNN_T *out_n = work->out + n * plan->p.out_channels * out_h * out_w;
    for (ptrdiff_t o = 0; o < plan->p.out_channels; ++o) {
        const GCNN_T b = work->bias ? work->bias[o] : 0;
        GCNN_NAME(wino_output)(plan, m + o * P, plan->m_freq_stride, b, y, M, R);
        GCNN_T *restrict out_o = out_n + o * out_h * out_w;
        for (ptrdiff_t r = 0; r < rows; ++r)
            for (int ry = 0; ry < M; ++ry) {
                const ptrdiff_t oy = (ty0 + r) * M + ry;
                if (oy >= out_h)
                    break;
                /* interleave the m column phases into a whole row, then
                 * keep its first out_w values */
                GCNN_T *restrict row = y + y_row;
                const GCNN_T *restrict src = y + ry * M * P + r * slots;
                for (ptrdiff_t l = 0; l < plan->tiles_x; ++l) {
                    GCNN_UNROLL
                    for (int s = 0; s < M; ++s)
                        row[l * M + s] = src[s * P + l];
                }
                memcpy(out_o + oy * out_w, row, (size_t)out_w * sizeof(GCNN_T));
            }
    }
    return GCNN_OK;
}

static int GCNN_NAME(wino_item)(void *arg, ptrdiff_t item, int worker)
{
    const struct GCNN_NAME(wino_work) *work = arg;
    const struct gcnn_wino_plan *plan = work->plan;
    /* each buffer starts on a cache line: the vector loads and stores are
     * then whole lines.  malloc, not calloc: every element is written
     * before it is read (the input phases past the band are zeroed), and
     * clearing megabytes per call showed in profiles. */
    const size_t pad = GCNN_ALIGN / sizeof(GCNN_T);
    const size_t buf_len = (plan->buf_elems + pad) / pad * pad;
    const size_t v_len = (plan->v_elems + pad) / pad * pad;
    const size_t m_len = (plan->m_elems + pad) / pad * pad;
    const size_t y_len = (plan->y_elems + pad) / pad * pad;
    if (work->scratch[worker] == NULL &&
        (work->scratch[worker] =
             malloc((buf_len + v_len + m_len + y_len) * sizeof(GCNN_T) + GCNN_ALIGN)) == NULL)
        return GCNN_ENOMEM;
    GCNN_T *buf = gcnn_aligned(work->scratch[worker]);
    GCNN_T *v = buf + buf_len, *m = v + v_len, *y = m + m_len;
    if (plan->tile == 4 && plan->kernel == 3)
        return GCNN_NAME(wino_run)(work, item, buf, v, m, y, 4, 3);
    if (plan->tile == 2 && plan->kernel == 3)
        return GCNN_NAME(wino_run)(work, item, buf, v, m, y, 2, 3);
    if (plan->tile == 2 && plan->kernel == 5)
        return GCNN_NAME(wino_run)(work, item, buf, v, m, y, 2, 5);
    return GCNN_EINTERNAL;
}

static int GCNN_NAME(winograd)(const gcnn_corr2d_params *params, const GCNN_T *x,
                               const GCNN_T *w, const GCNN_T *bias, GCNN_T fillvalue,
                               GCNN_T *out, int tile)
{
    struct gcnn_wino_plan plan;
    int status = gcnn_wino_plan_make(params, tile, sizeof(GCNN_T), GCNN_LANES, GCNN_ACC, &plan);
    if (status != GCNN_OK)
        return status;
    char *u_block = malloc(plan.u_elems * sizeof(GCNN_T) + GCNN_ALIGN);
    char **scratch = calloc((size_t)plan.threads, sizeof *scratch);
    if (u_block == NULL || scratch == NULL) {
        free(u_block);
        free(scratch);
        return GCNN_ENOMEM;
    }
    GCNN_T *u = gcnn_aligned(u_block);
    const gcnn_poll poll = {params->interrupted, params->interrupt_ctx};
    /* the filter transform on the same threads: each block by one of them */
    struct GCNN_NAME(wino_filter_work) filter_work = {&plan, w, u};
    status = gcnn_parallel_for(plan.ob_blocks, plan.threads, GCNN_NAME(wino_filters),
                               &filter_work, params->interrupted ? &poll : NULL);
    struct GCNN_NAME(wino_work) work = {&plan, x, u, bias, fillvalue, out, scratch};
    if (status == GCNN_OK)
        status = gcnn_parallel_for(plan.p.batch * plan.bands, plan.threads,
                                   GCNN_NAME(wino_item), &work,
                                   params->interrupted ? &poll : NULL);
    for (int t = 0; t < plan.threads; ++t)
        free(scratch[t]);
    free(scratch);
    free(u_block);
    return status;
}
