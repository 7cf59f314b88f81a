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

/* Rows to and from column phases, four tile positions at a time (float on
 * the AVX2 path; everywhere else, and for the ends of rows, the scalar loops
 * of the callers).  wino_split4 takes 4 * m consecutive values of a row,
 * positions l .. l + 3 with their m columns each, to phase ph at
 * dst[ph * S .. + 3]; wino_merge4 is its inverse, from src[ph * P ..] into
 * 4 * m consecutive values.  Two loads, two shuffles and four short stores
 * replace sixteen scalar moves for m = 4 (the P4CNN's 26x26 rows were
 * 20% of its Winograd forward time in these loops on an AMD EPYC, Zen 3).
 * The AVX-512 path moves rows sixteen positions at a time (wino_split16 and
 * wino_merge16 below). */
#undef GCNN_WINO_SHUFFLES
#if GCNN_X86_PATHS && GCNN_VECTORS && GCNN_VBYTES == 32
#define GCNN_WINO_SHUFFLES 1
static GCNN_INLINE void GCNN_NAME(wino_split4)(const GCNN_T *restrict src,
                                               GCNN_T *restrict dst, ptrdiff_t S, const int M)
{
    const float *in = (const float *)(const void *)src;
    float *out = (float *)(void *)dst;
    if (M == 4) {
        /* a0 = positions 0, 1; a1 = 2, 3; per 128-bit half the unpacks give
         * (p0 p2 p0 p2 | p1 p3 p1 p3) of two phases, the permute orders them */
        const __m256 a0 = _mm256_loadu_ps(in), a1 = _mm256_loadu_ps(in + 8);
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256 low = _mm256_permutevar8x32_ps(_mm256_unpacklo_ps(a0, a1), order);
        const __m256 high = _mm256_permutevar8x32_ps(_mm256_unpackhi_ps(a0, a1), order);
        _mm_storeu_ps(out, _mm256_castps256_ps128(low));
        _mm_storeu_ps(out + S, _mm256_extractf128_ps(low, 1));
        _mm_storeu_ps(out + 2 * S, _mm256_castps256_ps128(high));
        _mm_storeu_ps(out + 3 * S, _mm256_extractf128_ps(high, 1));
    } else { /* M == 2 */
        const __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(in),
                                                  _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        _mm_storeu_ps(out, _mm256_castps256_ps128(a));
        _mm_storeu_ps(out + S, _mm256_extractf128_ps(a, 1));
    }
}

static GCNN_INLINE void GCNN_NAME(wino_merge4)(const GCNN_T *restrict src, ptrdiff_t P,
                                               GCNN_T *restrict dst, const int M)
{
    const float *in = (const float *)(const void *)src;
    float *out = (float *)(void *)dst;
    if (M == 4) {
        const __m256 phase0 = _mm256_castps128_ps256(_mm_loadu_ps(in));
        const __m256 phase2 = _mm256_castps128_ps256(_mm_loadu_ps(in + 2 * P));
        const __m256 phases01 = _mm256_insertf128_ps(phase0, _mm_loadu_ps(in + P), 1);
        const __m256 phases23 = _mm256_insertf128_ps(phase2, _mm_loadu_ps(in + 3 * P), 1);
        const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
        const __m256 t0 = _mm256_permutevar8x32_ps(phases01, order);
        const __m256 t1 = _mm256_permutevar8x32_ps(phases23, order);
        _mm256_storeu_ps(out, _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)));
        _mm256_storeu_ps(out + 8, _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
    } else { /* M == 2 */
        const __m256 phase0 = _mm256_castps128_ps256(_mm_loadu_ps(in));
        const __m256 phases = _mm256_insertf128_ps(phase0, _mm_loadu_ps(in + P), 1);
        _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(
                                  phases, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
}
#else
#define GCNN_WINO_SHUFFLES 0
#endif

/* The weight gradient's input phases are channel-minor: 8 channels x 8
 * consecutive columns of one input row (rows chan_stride apart from src)
 * are transposed in registers, and column k goes to the 8 values at
 * dst + (k % m) * phase_stride + (k / m) * position_stride, its phase and
 * position (in place of 64 scalar moves, one lane at a time).  The
 * position stride is the path's lanes: AVX-512 fills a position's 16 lanes
 * with two calls (the same 256-bit instructions as on AVX2). */
#undef GCNN_WINO_TRANSPOSE8
#if GCNN_X86_PATHS && GCNN_VECTORS && (GCNN_VBYTES == 32 || GCNN_VBYTES == 64)
#define GCNN_WINO_TRANSPOSE8 1
static GCNN_INLINE void GCNN_NAME(wino_transpose8)(const GCNN_T *restrict src,
                                                   ptrdiff_t chan_stride, GCNN_T *restrict dst,
                                                   ptrdiff_t phase_stride,
                                                   ptrdiff_t position_stride, const int M)
{
    const float *in = (const float *)(const void *)src;
    float *out = (float *)(void *)dst;
    __m256 r[8], t[8], s[8];
    GCNN_UNROLL
    for (int k = 0; k < 8; ++k)
        r[k] = _mm256_loadu_ps(in + k * chan_stride);
    GCNN_UNROLL
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    GCNN_UNROLL
    for (int k = 0; k < 8; k += 4) { /* columns (0, 4), (1, 5), (2, 6), (3, 7) of 4 rows */
        s[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        s[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        s[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        s[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    GCNN_UNROLL
    for (int k = 0; k < 4; ++k) {
        const __m256 low = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);  /* column k */
        const __m256 high = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31); /* column k + 4 */
        _mm256_storeu_ps(out + (k % M) * phase_stride + (k / M) * position_stride, low);
        _mm256_storeu_ps(out + ((k + 4) % M) * phase_stride + ((k + 4) / M) * position_stride,
                         high);
    }
}
#else
#define GCNN_WINO_TRANSPOSE8 0
#endif

/* Rows to and from column phases sixteen tile positions at a time (float
 * on the AVX-512 path), with masks for the row ends and the pads, so no
 * position takes a scalar loop: wino_split16 writes positions 0 .. count - 1
 * of the m phases (dst[ph * S + l]) of a row whose padded column j is
 * src[j - pad_left] for pad_left <= j < pad_left + width and fill elsewhere;
 * wino_merge16 writes columns 0 .. width - 1 of a row from the m phases at
 * src[ph * P + l].  Sixteen positions of m = 4 are four loads, eight
 * two-source permutes and four stores, in place of 64 scalar moves (the
 * splits and merges were 28% of the P4CNN's Winograd items on an Intel
 * Xeon, AVX-512). */
#undef GCNN_WINO_ROWS16
#if GCNN_X86_PATHS && GCNN_VECTORS && GCNN_VBYTES == 64
#define GCNN_WINO_ROWS16 1
/* lanes lo .. hi - 1 of 16 (empty unless lo < hi) */
static GCNN_INLINE __mmask16 GCNN_NAME(wino_lanes)(ptrdiff_t lo, ptrdiff_t hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return lo >= hi ? (__mmask16)0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

static GCNN_INLINE void GCNN_NAME(wino_split16)(const GCNN_T *restrict src, ptrdiff_t width,
                                                ptrdiff_t pad_left, GCNN_T fill,
                                                ptrdiff_t count, GCNN_T *restrict dst,
                                                ptrdiff_t S, const int M)
{
    const float *in = (const float *)(const void *)src;
    float *out = (float *)(void *)dst;
    const __m512 fillv = _mm512_set1_ps((float)fill);
    const __m512i i01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i i23 = _mm512_add_epi32(i01, _mm512_set1_epi32(2));
    const __m512i lower = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i upper = _mm512_add_epi32(lower, _mm512_set1_epi32(8));
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (ptrdiff_t l0 = 0; l0 < count; l0 += 16) {
        __m512 a[4];
        GCNN_UNROLL
        for (int k = 0; k < M; ++k) {
            /* image columns first .. first + 15 */
            const ptrdiff_t first = l0 * M + 16 * k - pad_left;
            const __mmask16 inside = GCNN_NAME(wino_lanes)(-first, width - first);
            if (inside == 0)
                a[k] = fillv;
            else if (first >= 0)
                a[k] = _mm512_mask_loadu_ps(fillv, inside, in + first);
            else /* the left pad: the image's first columns go to lanes -first .. */
                a[k] = _mm512_mask_expandloadu_ps(fillv, inside, in);
        }
        const __mmask16 keep = GCNN_NAME(wino_lanes)(0, count - l0);
        if (M == 2) {
            _mm512_mask_storeu_ps(out + l0, keep, _mm512_permutex2var_ps(a[0], even, a[1]));
            _mm512_mask_storeu_ps(out + S + l0, keep, _mm512_permutex2var_ps(a[0], odd, a[1]));
        } else { /* M == 4: phases 0 and 1 (then 2 and 3) of positions 0-7, 8-15 */
            const __m512 b01 = _mm512_permutex2var_ps(a[0], i01, a[1]);
            const __m512 c01 = _mm512_permutex2var_ps(a[2], i01, a[3]);
            const __m512 b23 = _mm512_permutex2var_ps(a[0], i23, a[1]);
            const __m512 c23 = _mm512_permutex2var_ps(a[2], i23, a[3]);
            _mm512_mask_storeu_ps(out + l0, keep, _mm512_permutex2var_ps(b01, lower, c01));
            _mm512_mask_storeu_ps(out + S + l0, keep, _mm512_permutex2var_ps(b01, upper, c01));
            _mm512_mask_storeu_ps(out + 2 * S + l0, keep, _mm512_permutex2var_ps(b23, lower, c23));
            _mm512_mask_storeu_ps(out + 3 * S + l0, keep, _mm512_permutex2var_ps(b23, upper, c23));
        }
    }
}

static GCNN_INLINE void GCNN_NAME(wino_merge16)(const GCNN_T *restrict src, ptrdiff_t P,
                                                ptrdiff_t width, GCNN_T *restrict dst,
                                                const int M)
{
    const float *in = (const float *)(const void *)src;
    float *out = (float *)(void *)dst;
    const ptrdiff_t count = (width + M - 1) / M; /* positions with a column in the row */
    const __m512i zip_lo =
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i zip_hi = _mm512_add_epi32(zip_lo, _mm512_set1_epi32(8));
    const __m512i pairs_lo =
        _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i pairs_hi = _mm512_add_epi32(pairs_lo, _mm512_set1_epi32(8));
    for (ptrdiff_t l0 = 0; l0 < count; l0 += 16) {
        const __mmask16 take = GCNN_NAME(wino_lanes)(0, count - l0);
        __m512 ph[4], a[4];
        GCNN_UNROLL
        for (int k = 0; k < M; ++k)
            ph[k] = _mm512_maskz_loadu_ps(take, in + k * P + l0);
        if (M == 2) {
            a[0] = _mm512_permutex2var_ps(ph[0], zip_lo, ph[1]);
            a[1] = _mm512_permutex2var_ps(ph[0], zip_hi, ph[1]);
        } else { /* M == 4: columns of positions 0-3, 4-7, 8-11, 12-15 */
            const __m512 q01_lo = _mm512_permutex2var_ps(ph[0], zip_lo, ph[1]);
            const __m512 q01_hi = _mm512_permutex2var_ps(ph[0], zip_hi, ph[1]);
            const __m512 q23_lo = _mm512_permutex2var_ps(ph[2], zip_lo, ph[3]);
            const __m512 q23_hi = _mm512_permutex2var_ps(ph[2], zip_hi, ph[3]);
            a[0] = _mm512_permutex2var_ps(q01_lo, pairs_lo, q23_lo);
            a[1] = _mm512_permutex2var_ps(q01_lo, pairs_hi, q23_lo);
            a[2] = _mm512_permutex2var_ps(q01_hi, pairs_lo, q23_hi);
            a[3] = _mm512_permutex2var_ps(q01_hi, pairs_hi, q23_hi);
        }
        GCNN_UNROLL
        for (int k = 0; k < M; ++k) {
            const ptrdiff_t first = l0 * M + 16 * k;
            _mm512_mask_storeu_ps(out + first, GCNN_NAME(wino_lanes)(0, width - first), a[k]);
        }
    }
}
#else
#define GCNN_WINO_ROWS16 0
#endif

/* The input transform V = B^T d B of one vector of tiles, shared by the
 * forward pass (a vector of tile positions of one channel) and the weight
 * gradient (a vector of channels of one position).  Tap k of input row i of
 * the vector's tiles is the vector at src + ((i * m + k % m) * S + k / m) *
 * step (the column phases of the rows, `step` elements per position);
 * frequency xi = i * alpha + j goes to dst + xi * freq_step. */
static GCNN_INLINE void GCNN_NAME(wino_input_vector)(const GCNN_T *restrict src, ptrdiff_t S,
                                                     ptrdiff_t step, GCNN_T *restrict dst,
                                                     ptrdiff_t freq_step, const int M,
                                                     const int R)
{
    const int A = M + R - 1;
    VEC rows_done[GCNN_WINO_MAX_ALPHA][GCNN_WINO_MAX_ALPHA];
    /* along each input row: t[i][j] = sum_k d[i][k] B^T[j][k] */
    GCNN_UNROLL
    for (int i = 0; i < A; ++i) {
        VEC d[GCNN_WINO_MAX_ALPHA];
        GCNN_UNROLL
        for (int k = 0; k < A; ++k)
            d[k] = VLOAD(src + ((i * M + k % M) * S + k / M) * step);
        GCNN_UNROLL
        for (int j = 0; j < A; ++j) {
            rows_done[i][j] = (VEC){0};
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
            VSTORE(dst + (i * A + j) * freq_step, v);
        }
    }
}

/* Step 1 for one channel: buf[(i * m + phase) * phase_len + position] holds
 * input row i of the position's tile in that column phase; v_c is
 * V[0][c][0] (frequencies in_channels * positions apart). */
static GCNN_INLINE void GCNN_NAME(wino_input)(const struct gcnn_wino_plan *plan,
                                              const GCNN_T *restrict buf, GCNN_T *restrict v_c,
                                              const int M, const int R)
{
    const ptrdiff_t P = plan->positions, S = plan->phase_len;
    for (ptrdiff_t q = 0; q < P; q += GCNN_LANES)
        GCNN_NAME(wino_input_vector)(buf + q, S, 1, v_c + q, plan->v_freq_stride, M, R);
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
     * reads is split into the m column phases, with the fill value outside
     * the image (straight from the image: a copy of each short row first
     * cost a library call per row) */
    const GCNN_T *restrict x_n = work->x + n * C * H * W;
    const ptrdiff_t pad_left = plan->p.pad_left;
    /* tile positions whose m columns all lie in the image: l_lo .. l_hi - 1 */
    const ptrdiff_t l_lo = (pad_left + M - 1) / M;
    const ptrdiff_t l_hi = (pad_left + W) / M < slots ? (pad_left + W) / M : slots;
    for (ptrdiff_t c = 0; c < C; ++c) {
        const GCNN_T *restrict x_c = x_n + c * H * W;
        for (ptrdiff_t r = 0; r < rows; ++r)
            for (int i = 0; i < M + R - 1; ++i) {
                const ptrdiff_t iy = (ty0 + r) * M + i - plan->p.pad_top;
                GCNN_T *restrict d = buf + i * M * S + r * slots;
                if (iy < 0 || iy >= H) {
                    for (int ph = 0; ph < M; ++ph)
                        for (ptrdiff_t l = 0; l < slots; ++l)
                            d[ph * S + l] = fill;
                    continue;
                }
#if GCNN_WINO_ROWS16
                if (sizeof(GCNN_T) == 4) {
                    GCNN_NAME(wino_split16)(x_c + iy * W, W, pad_left, fill, slots, d, S, M);
                    continue;
                }
#endif
                /* padded column j is row[j] inside the image */
                const GCNN_T *restrict row = x_c + iy * W - pad_left;
                ptrdiff_t l = 0;
                for (; l < slots && l < l_lo; ++l)
                    for (int ph = 0; ph < M; ++ph) {
                        const ptrdiff_t j = l * M + ph;
                        d[ph * S + l] = j >= pad_left && j < pad_left + W ? row[j] : fill;
                    }
#if GCNN_WINO_SHUFFLES
                if (sizeof(GCNN_T) == 4)
                    for (; l + 4 <= l_hi; l += 4)
                        GCNN_NAME(wino_split4)(row + l * M, d + l, S, M);
#endif
                /* all phases in one loop: an interleaved group of loads */
                for (; l < l_hi; ++l) {
                    GCNN_UNROLL
                    for (int ph = 0; ph < M; ++ph)
                        d[ph * S + l] = row[l * M + ph];
                }
                for (; l < slots; ++l)
                    for (int ph = 0; ph < M; ++ph) {
                        const ptrdiff_t j = l * M + ph;
                        d[ph * S + l] = j >= pad_left && j < pad_left + W ? row[j] : fill;
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
                GCNN_WINO_TILES(GCNN_WINO_CASE)
#undef GCNN_WINO_CASE
            default: /* gcnn_wino_plan_make only produces GCNN_WINO_TILES */
                return GCNN_EINTERNAL;
            }
        }
    }

    /* 3. output transform and bias, channel by channel, the m column phases
     * interleaved straight into the output rows */
    GCNN_T *out_n = work->out + n * plan->p.out_channels * out_h * out_w;
    const ptrdiff_t whole = out_w / M; /* tiles with all m columns in the output */
    for (ptrdiff_t o = 0; o < plan->p.out_channels; ++o) {
        const GCNN_T b = work->bias ? work->bias[o] : 0;
        GCNN_NAME(wino_output)(plan, m + o * P, plan->m_freq_stride, b, y, M, R);
        GCNN_T *restrict out_o = out_n + o * out_h * out_w;
        for (ptrdiff_t r = 0; r < rows; ++r)
            for (int ry = 0; ry < M; ++ry) {
                const ptrdiff_t oy = (ty0 + r) * M + ry;
                if (oy >= out_h)
                    break;
                GCNN_T *restrict row = out_o + oy * out_w;
                const GCNN_T *restrict src = y + ry * M * P + r * slots;
#if GCNN_WINO_ROWS16
                if (sizeof(GCNN_T) == 4) {
                    GCNN_NAME(wino_merge16)(src, P, out_w, row, M);
                    continue;
                }
#endif
                ptrdiff_t l = 0;
#if GCNN_WINO_SHUFFLES
                if (sizeof(GCNN_T) == 4)
                    for (; l + 4 <= whole; l += 4)
                        GCNN_NAME(wino_merge4)(src + l, P, row + l * M, M);
#endif
                for (; l < whole; ++l) {
                    GCNN_UNROLL
                    for (int s = 0; s < M; ++s)
                        row[l * M + s] = src[s * P + l];
                }
                for (int s = 0; l * M + s < out_w; ++s)
                    row[l * M + s] = src[s * P + l];
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
    int status =
        gcnn_wino_plan_make(params, tile, sizeof(GCNN_T), GCNN_LANES, GCNN_ACC_PRODUCTS, 0, &plan);
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

/* ---- weight gradient ---------------------------------------------------
 *
 * grad_w[o][c] = G^T [ sum over tiles of (A dY A^T) . (B^T d B) ] G: the
 * transpose of the forward algorithm, exact in exact arithmetic because the
 * forward one is.  For each frequency xi the sum over tiles is a product of
 * matrices whose inner side is the tile positions: M[xi][o][c] = sum over
 * positions of W[xi][o][position] * V[xi][c][position].  Per unit (an
 * image and a band of tile rows):
 *   1. the input transform of every channel, vectorised over channels:
 *      Vt[xi][position][c] (the input phases are stored channel-minor, so
 *      no transpose is needed);
 *   2. the gradient transform W = A dY A^T of every output channel,
 *      vectorised over positions: W[xi][o][position];
 *   3. for each frequency, M[xi][o][c] += sum over positions, in increasing
 *      order, of W[o][position] * Vt[position][c], in a register tile of ob
 *      output channels x nv vectors of input channels, added to the chunk's
 *      partial sum once per unit.
 * A chunk is a fixed range of units (it depends on the sizes only); the
 * partials are added in chunk order, in double, and transformed by
 * G^T . G in double, so the result does not depend on the thread count.
 */

/* Step 1 for the GCNN_LANES channels from c0: xbuf[((i * m + phase) * S +
 * position) * LANES + lane] holds input row i of the position's tile in that
 * column phase (zero for channels past the last); then vt[(xi * P +
 * position) * cp + c0 + lane] = V[xi]. */
static GCNN_INLINE void GCNN_NAME(wino_gw_input)(const struct gcnn_wino_plan *plan,
                                                 const GCNN_T *restrict x_n, GCNN_T fill,
                                                 ptrdiff_t ty0, ptrdiff_t rows, ptrdiff_t c0,
                                                 GCNN_T *restrict xbuf, GCNN_T *restrict vt,
                                                 const int M, const int R)
{
    const int A = M + R - 1;
    const ptrdiff_t C = plan->p.in_channels, H = plan->p.height, W = plan->p.width;
    const ptrdiff_t P = plan->positions, S = plan->phase_len, slots = plan->row_slots;
    const ptrdiff_t used = rows * slots, CP = plan->cp, L = GCNN_LANES;
    const ptrdiff_t pad_left = plan->p.pad_left;
    /* tile positions whose M columns are all image columns: l_lo .. l_hi - 1 */
    const ptrdiff_t l_lo = (pad_left + M - 1) / M;
    ptrdiff_t l_hi = (pad_left + W) / M;
    if (l_hi > slots)
        l_hi = slots;
    /* the positions the transform reads past the band's tiles */
    const ptrdiff_t read_end = P + (A - 1) / M;
    const ptrdiff_t lanes = C - c0 < L ? C - c0 : L; /* the rest stay zero */
    /* row by row, all lanes of a row together: the row's M * slots cache
     * lines of xbuf stay in L1 while its lanes are written */
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (int i = 0; i < A; ++i) {
            const ptrdiff_t iy = (ty0 + r) * M + i - plan->p.pad_top;
            GCNN_T *restrict d = xbuf + ((ptrdiff_t)i * M * S + r * slots) * L;
            if (iy < 0 || iy >= H) {
                for (ptrdiff_t l = 0; l < slots; ++l)
                    for (int ph = 0; ph < M; ++ph)
                        for (ptrdiff_t lane = 0; lane < lanes; ++lane)
                            d[(ph * S + l) * L + lane] = fill;
                continue;
            }
            /* whole groups of 8 channels x 8 / m positions inside the image:
             * transposed in registers; the lanes below take the rest */
            ptrdiff_t l_mid = l_lo, covered = 0; /* lanes the transposes filled */
#if GCNN_WINO_TRANSPOSE8
            if (sizeof(GCNN_T) == 4 && lanes >= 8) {
                covered = lanes - lanes % 8;
                for (; l_mid + 8 / M <= l_hi; l_mid += 8 / M)
                    for (ptrdiff_t eight = 0; eight < covered; eight += 8)
                        GCNN_NAME(wino_transpose8)(
                            x_n + ((c0 + eight) * H + iy) * W - pad_left + l_mid * M, H * W,
                            d + l_mid * L + eight, S * L, L, M);
            }
#endif
            for (ptrdiff_t lane = 0; lane < lanes; ++lane) {
                /* column j of the padded row is row[j] inside the image */
                const GCNN_T *restrict row = x_n + ((c0 + lane) * H + iy) * W - pad_left;
                GCNN_T *restrict dl = d + lane;
                ptrdiff_t l = 0;
                for (; l < slots && l < l_lo; ++l)
                    for (int ph = 0; ph < M; ++ph) {
                        const ptrdiff_t j = l * M + ph;
                        dl[(ph * S + l) * L] = j >= pad_left && j < pad_left + W ? row[j] : fill;
                    }
                if (l < l_mid && lane < covered)
                    l = l_mid;
                for (; l < l_hi; ++l) {
                    GCNN_UNROLL
                    for (int ph = 0; ph < M; ++ph)
                        dl[(ph * S + l) * L] = row[l * M + ph];
                }
                for (; l < slots; ++l)
                    for (int ph = 0; ph < M; ++ph) {
                        const ptrdiff_t j = l * M + ph;
                        dl[(ph * S + l) * L] = j >= pad_left && j < pad_left + W ? row[j] : fill;
                    }
            }
        }
    for (ptrdiff_t k = 0; k < (ptrdiff_t)A * M; ++k)
        for (ptrdiff_t s = used; s < read_end; ++s)
            for (ptrdiff_t lane = 0; lane < lanes; ++lane)
                xbuf[(k * S + s) * L + lane] = 0;
    for (ptrdiff_t q = 0; q < P; ++q)
        GCNN_NAME(wino_input_vector)(xbuf + q * L, S, L, vt + q * CP + c0, P * CP, M, R);
}

/* Step 2 for output channel o: gbuf[(r * m + phase) * S + position] holds
 * gradient row r of the position's tile in that column phase (zero past
 * the output), then wt[((xi * opad) + o) * P + position] = (A dY A^T)[xi]. */
static GCNN_INLINE void GCNN_NAME(wino_gw_grad)(const struct gcnn_wino_plan *plan,
                                                const GCNN_T *restrict g_o, ptrdiff_t ty0,
                                                ptrdiff_t rows, ptrdiff_t o,
                                                GCNN_T *restrict gbuf, GCNN_T *restrict wt,
                                                const int M, const int R)
{
    const int A = M + R - 1;
    const ptrdiff_t P = plan->positions, S = plan->phase_len, slots = plan->row_slots;
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w, used = rows * slots;
    const ptrdiff_t opad = plan->opad;
    for (ptrdiff_t r = 0; r < rows; ++r)
        for (int ry = 0; ry < M; ++ry) {
            const ptrdiff_t oy = (ty0 + r) * M + ry;
            GCNN_T *restrict d = gbuf + (ptrdiff_t)ry * M * S + r * slots;
            const ptrdiff_t width = oy < out_h ? out_w : 0;
            const GCNN_T *restrict row = g_o + (oy < out_h ? oy : 0) * out_w;
#if GCNN_WINO_ROWS16
            if (sizeof(GCNN_T) == 4) {
                GCNN_NAME(wino_split16)(row, width, 0, 0, slots, d, S, M);
                continue;
            }
#endif
            /* whole tiles, then the last one's columns past the output */
            ptrdiff_t l = 0;
#if GCNN_WINO_SHUFFLES
            if (sizeof(GCNN_T) == 4)
                for (; (l + 4) * M <= width; l += 4)
                    GCNN_NAME(wino_split4)(row + l * M, d + l, S, M);
#endif
            for (; (l + 1) * M <= width; ++l) {
                GCNN_UNROLL
                for (int ph = 0; ph < M; ++ph)
                    d[ph * S + l] = row[l * M + ph];
            }
            for (; l < slots; ++l)
                for (int ph = 0; ph < M; ++ph)
                    d[ph * S + l] = l * M + ph < width ? row[l * M + ph] : 0;
        }
    for (ptrdiff_t k = 0; k < (ptrdiff_t)M * M; ++k)
        for (ptrdiff_t s = used; s < P; ++s)
            gbuf[k * S + s] = 0;
    for (ptrdiff_t q = 0; q < P; q += GCNN_LANES) {
        VEC rows_done[4][GCNN_WINO_MAX_ALPHA];
        /* along each row: t[r][j] = sum_s dY[r][s] A^T[s][j] */
        GCNN_UNROLL
        for (int r = 0; r < M; ++r) {
            VEC row[4];
            GCNN_UNROLL
            for (int s = 0; s < M; ++s)
                row[s] = VLOAD(gbuf + (r * M + s) * S + q);
            GCNN_UNROLL
            for (int j = 0; j < A; ++j) {
                rows_done[r][j] = (VEC){0};
#define GCNN_COEF(k) GCNN_WINO_AT(M, R, k, j)
                GCNN_WINO_SUM(rows_done[r][j], M, GCNN_COEF, row);
#undef GCNN_COEF
            }
        }
        /* down each column: W[i][j] = sum_r A^T[r][i] t[r][j] */
        GCNN_UNROLL
        for (int j = 0; j < A; ++j) {
            VEC column[4];
            GCNN_UNROLL
            for (int r = 0; r < M; ++r)
                column[r] = rows_done[r][j];
            GCNN_UNROLL
            for (int i = 0; i < A; ++i) {
                VEC w = (VEC){0};
#define GCNN_COEF(k) GCNN_WINO_AT(M, R, k, i)
                GCNN_WINO_SUM(w, M, GCNN_COEF, column);
#undef GCNN_COEF
                VSTORE(wt + ((i * A + j) * opad + o) * P + q, w);
            }
        }
    }
}

/* Step 3 for one frequency, OB output channels and NV vectors of input
 * channels: part[j * cp + i * LANES + lane] += sum over q < P of
 * w[j * P + q] * vt[q * cp + i * LANES + lane]. */
static GCNN_INLINE void GCNN_NAME(wino_gw_gemm)(const GCNN_T *restrict w,
                                                const GCNN_T *restrict vt, ptrdiff_t P,
                                                ptrdiff_t CP, GCNN_T *restrict part,
                                                const int OB, const int NV)
{
    VEC acc[GCNN_WINO_MAX_OB][GCNN_WINO_MAX_NV];
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            acc[j][i] = (VEC){0};
    }
    for (ptrdiff_t q = 0; q < P; ++q) {
        VEC xv[GCNN_WINO_MAX_NV];
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            xv[i] = VLOAD(vt + q * CP + i * GCNN_LANES);
        GCNN_UNROLL
        for (int j = 0; j < OB; ++j) {
            const GCNN_T weight = w[j * P + q];
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i)
                acc[j][i] += xv[i] * weight;
        }
    }
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i) {
            GCNN_T *restrict dst = part + j * CP + i * GCNN_LANES;
            VSTORE(dst, VLOAD(dst) + acc[j][i]);
        }
    }
}

static GCNN_INLINE void GCNN_NAME(wino_gw_products)(const struct gcnn_wino_plan *plan,
                                                    const GCNN_T *restrict wt,
                                                    const GCNN_T *restrict vt,
                                                    GCNN_T *restrict part, const int OB,
                                                    const int NV)
{
    const ptrdiff_t P = plan->positions, CP = plan->cp, opad = plan->opad;
    const ptrdiff_t A = plan->alpha, vectors = CP / GCNN_LANES;
    for (ptrdiff_t xi = 0; xi < A * A; ++xi)
        for (ptrdiff_t o0 = 0; o0 < opad; o0 += OB) {
            const GCNN_T *restrict w = wt + (xi * opad + o0) * P;
            const GCNN_T *restrict v = vt + xi * P * CP;
            GCNN_T *restrict dst = part + (xi * opad + o0) * CP;
            ptrdiff_t cv = 0;
            for (; cv + NV <= vectors; cv += NV)
                GCNN_NAME(wino_gw_gemm)(w, v + cv * GCNN_LANES, P, CP,
                                        dst + cv * GCNN_LANES, OB, NV);
            if (NV > 2 && cv + 2 <= vectors) {
                GCNN_NAME(wino_gw_gemm)(w, v + cv * GCNN_LANES, P, CP,
                                        dst + cv * GCNN_LANES, OB, 2);
                cv += 2;
            }
            for (; cv < vectors; ++cv)
                GCNN_NAME(wino_gw_gemm)(w, v + cv * GCNN_LANES, P, CP,
                                        dst + cv * GCNN_LANES, OB, 1);
        }
}

struct GCNN_NAME(wino_gw_work) {
    const struct gcnn_wino_plan *plan;
    const GCNN_T *x, *grad_out;
    GCNN_T fillvalue;
    GCNN_T *partials; /* [chunk][xi][opad][cp] */
    char **scratch;   /* [worker]: allocated on the worker's first chunk */
};

static GCNN_INLINE int GCNN_NAME(wino_gw_unit)(const struct GCNN_NAME(wino_gw_work) *work,
                                                ptrdiff_t unit, GCNN_T *restrict xbuf,
                                                GCNN_T *restrict vt, GCNN_T *restrict gbuf,
                                                GCNN_T *restrict wt, GCNN_T *restrict part,
                                                const int M, const int R)
{
    const struct gcnn_wino_plan *plan = work->plan;
    const ptrdiff_t C = plan->p.in_channels, O = plan->p.out_channels;
    const ptrdiff_t n = unit / plan->bands;
    const ptrdiff_t ty0 = (unit % plan->bands) * plan->band;
    const ptrdiff_t rows =
        plan->tiles_y - ty0 < plan->band ? plan->tiles_y - ty0 : plan->band;
    const GCNN_T *x_n = work->x + n * C * plan->p.height * plan->p.width;
    for (ptrdiff_t c0 = 0; c0 < plan->cp; c0 += GCNN_LANES)
        GCNN_NAME(wino_gw_input)(plan, x_n, work->fillvalue, ty0, rows, c0, xbuf, vt, M, R);
    const GCNN_T *g_n = work->grad_out + n * O * plan->out_h * plan->out_w;
    for (ptrdiff_t o = 0; o < O; ++o)
        GCNN_NAME(wino_gw_grad)(plan, g_n + o * plan->out_h * plan->out_w, ty0, rows, o, gbuf,
                                wt, M, R);
    switch (plan->ob * 16 + plan->nv) {
#define GCNN_WINO_GW_CASE(OB, NV)                                              \
    case OB * 16 + NV:                                                         \
        GCNN_NAME(wino_gw_products)(plan, wt, vt, part, OB, NV);               \
        break;
        GCNN_WINO_TILES(GCNN_WINO_GW_CASE)
#undef GCNN_WINO_GW_CASE
    default: /* gcnn_wino_plan_make only produces GCNN_WINO_TILES */
        return GCNN_EINTERNAL;
    }
    return GCNN_OK;
}

static int GCNN_NAME(wino_gw_chunk)(void *arg, ptrdiff_t chunk, int worker)
{
    const struct GCNN_NAME(wino_gw_work) *work = arg;
    const struct gcnn_wino_plan *plan = work->plan;
    const size_t pad = GCNN_ALIGN / sizeof(GCNN_T);
    const size_t xbuf_len = (plan->xbuf_elems + pad) / pad * pad;
    const size_t vt_len = (plan->vt_elems + pad) / pad * pad;
    const size_t gbuf_len = (plan->gbuf_elems + pad) / pad * pad;
    const size_t wt_len = (plan->wt_elems + pad) / pad * pad;
    const int first = work->scratch[worker] == NULL;
    if (first &&
        (work->scratch[worker] = malloc((xbuf_len + vt_len + gbuf_len + wt_len) *
                                            sizeof(GCNN_T) +
                                        GCNN_ALIGN)) == NULL)
        return GCNN_ENOMEM;
    GCNN_T *xbuf = gcnn_aligned(work->scratch[worker]);
    GCNN_T *vt = xbuf + xbuf_len, *gbuf = vt + vt_len, *wt = gbuf + gbuf_len;
    if (first) {
        /* the input lanes of channels past the last (never written after
         * this: they stay zero) and the rows of the output channels that
         * pad the last register tile */
        memset(xbuf, 0, xbuf_len * sizeof(GCNN_T));
        for (ptrdiff_t xi = 0; xi < (ptrdiff_t)plan->alpha * plan->alpha; ++xi)
            memset(wt + (xi * plan->opad + plan->p.out_channels) * plan->positions, 0,
                   (size_t)((plan->opad - plan->p.out_channels) * plan->positions) *
                       sizeof(GCNN_T));
    }
    GCNN_T *part = work->partials + chunk * (ptrdiff_t)plan->part_elems;
    memset(part, 0, plan->part_elems * sizeof(GCNN_T));
    const ptrdiff_t begin = chunk * plan->units / plan->chunks;
    const ptrdiff_t end = (chunk + 1) * plan->units / plan->chunks;
    for (ptrdiff_t unit = begin; unit < end; ++unit) {
        int status = GCNN_EINTERNAL;
        if (plan->tile == 4 && plan->kernel == 3)
            status = GCNN_NAME(wino_gw_unit)(work, unit, xbuf, vt, gbuf, wt, part, 4, 3);
        else if (plan->tile == 2 && plan->kernel == 3)
            status = GCNN_NAME(wino_gw_unit)(work, unit, xbuf, vt, gbuf, wt, part, 2, 3);
        else if (plan->tile == 2 && plan->kernel == 5)
            status = GCNN_NAME(wino_gw_unit)(work, unit, xbuf, vt, gbuf, wt, part, 2, 5);
        if (status != GCNN_OK)
            return status;
    }
    return GCNN_OK;
}

/* grad_w[o][c] = G^T M[.][o][c] G in double, M the sum of the chunks'
 * partials (in chunk order, in double: `sum`, part_elems of them). */
static void GCNN_NAME(wino_gw_finish)(const struct gcnn_wino_plan *plan,
                                      const GCNN_T *partials, double *restrict sum,
                                      GCNN_T *grad_w, const int M, const int R)
{
    const int A = M + R - 1;
    const ptrdiff_t C = plan->p.in_channels, O = plan->p.out_channels;
    const ptrdiff_t CP = plan->cp, opad = plan->opad, elems = (ptrdiff_t)plan->part_elems;
    for (ptrdiff_t i = 0; i < elems; ++i)
        sum[i] = (double)partials[i];
    for (ptrdiff_t chunk = 1; chunk < plan->chunks; ++chunk) {
        const GCNN_T *restrict part = partials + chunk * elems;
        for (ptrdiff_t i = 0; i < elems; ++i)
            sum[i] += (double)part[i];
    }
    for (ptrdiff_t o = 0; o < O; ++o)
        for (ptrdiff_t c = 0; c < C; ++c) {
            double m[GCNN_WINO_MAX_ALPHA][GCNN_WINO_MAX_ALPHA];
            for (int xi = 0; xi < A * A; ++xi)
                m[xi / A][xi % A] = sum[(xi * opad + o) * CP + c];
            /* t[a][j] = sum_i G[i][a] m[i][j]; grad[a][b] = sum_j t[a][j] G[j][b] */
            double t[GCNN_WINO_MAX_KERNEL][GCNN_WINO_MAX_ALPHA];
            for (int a = 0; a < R; ++a)
                for (int j = 0; j < A; ++j) {
                    double sum = 0.0;
                    for (int i = 0; i < A; ++i)
                        sum += GCNN_WINO_G(M, R, i, a) * m[i][j];
                    t[a][j] = sum;
                }
            GCNN_T *dst = grad_w + (o * C + c) * R * R;
            for (int a = 0; a < R; ++a)
                for (int b = 0; b < R; ++b) {
                    double sum = 0.0;
                    for (int j = 0; j < A; ++j)
                        sum += t[a][j] * GCNN_WINO_G(M, R, j, b);
                    dst[a * R + b] = (GCNN_T)sum;
                }
        }
}

static int GCNN_NAME(wino_grad_weight)(const gcnn_corr2d_params *params, const GCNN_T *x,
                                       const GCNN_T *grad_out, GCNN_T fillvalue,
                                       GCNN_T *grad_w, int tile)
{
    struct gcnn_wino_plan plan;
    int status =
        gcnn_wino_gw_plan_make(params, tile, sizeof(GCNN_T), GCNN_LANES, GCNN_ACC_PRODUCTS, &plan);
    if (status != GCNN_OK)
        return status;
    char *partial_block = malloc((size_t)plan.chunks * plan.part_elems * sizeof(GCNN_T) +
                                 GCNN_ALIGN);
    char **scratch = calloc((size_t)plan.threads, sizeof *scratch);
    double *sum = malloc(plan.part_elems * sizeof *sum);
    if (partial_block == NULL || scratch == NULL || sum == NULL) {
        free(partial_block);
        free(scratch);
        free(sum);
        return GCNN_ENOMEM;
    }
    GCNN_T *partials = gcnn_aligned(partial_block);
    const gcnn_poll poll = {params->interrupted, params->interrupt_ctx};
    struct GCNN_NAME(wino_gw_work) work = {&plan, x, grad_out, fillvalue, partials, scratch};
    status = gcnn_parallel_for(plan.chunks, plan.threads, GCNN_NAME(wino_gw_chunk), &work,
                               params->interrupted ? &poll : NULL);
    for (int t = 0; t < plan.threads; ++t)
        free(scratch[t]);
    free(scratch);
    if (status == GCNN_OK) {
        if (plan.tile == 4)
            GCNN_NAME(wino_gw_finish)(&plan, partials, sum, grad_w, 4, 3);
        else if (plan.kernel == 5)
            GCNN_NAME(wino_gw_finish)(&plan, partials, sum, grad_w, 2, 5);
        else
            GCNN_NAME(wino_gw_finish)(&plan, partials, sum, grad_w, 2, 3);
    }
    free(sum);
    free(partial_block);
    return status;
}
