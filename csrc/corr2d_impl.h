/*
 * Loop body of the batched correlation, instantiated by simd_types.h once
 * for each (element type, instruction set) pair (see there for the macros
 * it may use).  corr2d.c provides the shared, type-free helpers (plan, index
 * maps); grad_impl.h, included after this file, reuses its panels for the
 * weight gradient.
 *
 * Strategy: each thread takes (image n, band of output rows) work items.
 * For an item it copies the input rows the band needs, over all channels,
 * into a panel with the boundary already applied and each row split into
 * stride_w phases, so the inner loop always reads contiguous memory.  A
 * register tile of OB output channels x NV vectors of output pixels is then
 * accumulated over (c, ky, kx): every input vector loaded is shared by the
 * OB filters, every filter weight by the NV vectors.
 */

/* Accumulate one OB x NV register tile over all channels and taps.
 * `in` points at the tile's first pixel in channel 0, tap row 0, phase 0;
 * tap t = (c * kernel_h + ky) * kernel_w + kx reads in[tap_offset[t]].
 * One flat loop over all taps keeps the loop long even for 3x3 kernels.
 * KW > 0 (unit horizontal stride only) unrolls each kernel row of KW taps:
 * the kx shifts become constant displacements and one offset load serves
 * the whole row. */
static GCNN_INLINE void GCNN_NAME(tile)(const GCNN_T *restrict in,
                                        const ptrdiff_t *restrict tap_offset,
                                        const GCNN_T *restrict wpk, ptrdiff_t taps,
                                        const int OB, const int NV, const int KW,
                                        VEC acc[GCNN_MAX_OB][GCNN_MAX_NV])
{
    const int step = KW > 0 ? KW : 1;
    for (ptrdiff_t t = 0; t < taps; t += step) {
        const GCNN_T *restrict row = in + tap_offset[t];
        GCNN_UNROLL
        for (int kx = 0; kx < step; ++kx) {
            const GCNN_T *restrict src = row + kx;
            const GCNN_T *restrict weights = wpk + (t + kx) * OB;
            VEC xv[GCNN_MAX_NV];
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i)
                xv[i] = VLOAD(src + i * GCNN_LANES);
            GCNN_UNROLL
            for (int j = 0; j < OB; ++j) {
                const GCNN_T weight = weights[j];
                GCNN_UNROLL
                for (int i = 0; i < NV; ++i)
                    acc[j][i] += xv[i] * weight;
            }
        }
    }
}

/* Compute and store all tiles of one band for one output-channel block.
 * Channels are taken in blocks of plan->chan_block so that the block's
 * weights and the input rows a tile reads stay in L1; partial sums wait in
 * the output between blocks (stored and reloaded exactly, so the numbers
 * equal one pass over all channels). */
static GCNN_INLINE void GCNN_NAME(band)(const struct gcnn_plan *plan,
                                        const GCNN_T *restrict panel,
                                        const GCNN_T *restrict wpk,
                                        const GCNN_T *restrict bias,
                                        ptrdiff_t o0, ptrdiff_t oy0,
                                        ptrdiff_t rows, GCNN_T *restrict out_n,
                                        const int OB, const int NV)
{
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w;
    const ptrdiff_t tile_w = NV * GCNN_LANES;
    const ptrdiff_t ob_count =
        plan->p.out_channels - o0 < OB ? plan->p.out_channels - o0 : OB;
    const ptrdiff_t channels = plan->p.in_channels;
    const ptrdiff_t taps_per_channel = plan->p.kernel_h * plan->p.kernel_w;
    GCNN_T spill[GCNN_MAX_NV * GCNN_MAX_VECTOR_BYTES / sizeof(GCNN_T)];
    for (ptrdiff_t c0 = 0; c0 < channels; c0 += plan->chan_block) {
        const ptrdiff_t block_channels =
            channels - c0 < plan->chan_block ? channels - c0 : plan->chan_block;
        const ptrdiff_t t0 = c0 * taps_per_channel;
        const ptrdiff_t block_taps = block_channels * taps_per_channel;
        for (ptrdiff_t r = 0; r < rows; ++r) {
            const ptrdiff_t oy = oy0 + r;
            const GCNN_T *restrict in_row =
                panel + r * plan->p.stride_h * plan->row_stride;
            for (ptrdiff_t x0 = 0; x0 < out_w; x0 += tile_w) {
                const ptrdiff_t valid = out_w - x0 < tile_w ? out_w - x0 : tile_w;
                VEC acc[GCNN_MAX_OB][GCNN_MAX_NV];
                GCNN_UNROLL
                for (int j = 0; j < OB; ++j) {
                    if (c0 > 0 && j < ob_count) {
                        /* resume the partial sums of earlier channel blocks */
                        const GCNN_T *src = out_n + ((o0 + j) * out_h + oy) * out_w + x0;
                        if (valid == tile_w) {
                            GCNN_UNROLL
                            for (int i = 0; i < NV; ++i)
                                acc[j][i] = VLOAD(src + i * GCNN_LANES);
                        } else {
                            memcpy(spill, src, (size_t)valid * sizeof(GCNN_T));
                            GCNN_UNROLL
                            for (int i = 0; i < NV; ++i)
                                acc[j][i] = VLOAD(spill + i * GCNN_LANES);
                        }
                    } else {
                        const GCNN_T b = (bias && j < ob_count) ? bias[o0 + j] : 0;
                        GCNN_UNROLL
                        for (int i = 0; i < NV; ++i)
                            acc[j][i] = (VEC){0} + b; /* splat */
                    }
                }
                /* kernel widths worth a specialised tile; the rest take
                 * the flat tap loop */
                switch (plan->unrolled_kw) {
                case 3:
                    GCNN_NAME(tile)(in_row + x0, plan->tap_offset + t0, wpk + t0 * OB,
                                    block_taps, OB, NV, 3, acc);
                    break;
                case 5:
                    GCNN_NAME(tile)(in_row + x0, plan->tap_offset + t0, wpk + t0 * OB,
                                    block_taps, OB, NV, 5, acc);
                    break;
                default:
                    GCNN_NAME(tile)(in_row + x0, plan->tap_offset + t0, wpk + t0 * OB,
                                    block_taps, OB, NV, 0, acc);
                    break;
                }
                GCNN_UNROLL
                for (int j = 0; j < OB; ++j) {
                    if (j >= ob_count)
                        break;
                    GCNN_T *restrict dst = out_n + ((o0 + j) * out_h + oy) * out_w + x0;
                    if (valid == tile_w) { /* whole tile: plain vector stores */
                        GCNN_UNROLL
                        for (int i = 0; i < NV; ++i)
                            VSTORE(dst + i * GCNN_LANES, acc[j][i]);
                    } else {
                        GCNN_UNROLL
                        for (int i = 0; i < NV; ++i)
                            VSTORE(spill + i * GCNN_LANES, acc[j][i]);
                        memcpy(dst, spill, (size_t)valid * sizeof(GCNN_T));
                    }
                }
            }
        }
    }
}

/* Lanes of a flat run that are outputs: for each of the nv vectors from run
 * position q0, a bit mask of the lanes with x < out_w inside the run, and in
 * start[i] the output index (y * out_w + x, from the band's first row) of the
 * first of them.  The outputs of a run are consecutive in memory, so the
 * lanes of a vector go to start[i], start[i] + 1, ... in order. */
static GCNN_INLINE void GCNN_NAME(flat_lanes)(ptrdiff_t q0, ptrdiff_t nv, ptrdiff_t row,
                                              ptrdiff_t out_w, ptrdiff_t run,
                                              uint32_t *mask, ptrdiff_t *start)
{
    ptrdiff_t y = q0 / row, x = q0 - y * row, q = q0;
    for (ptrdiff_t i = 0; i < nv; ++i) {
        const ptrdiff_t first = q0 + i * GCNN_LANES;
        const ptrdiff_t end = first + GCNN_LANES < run ? first + GCNN_LANES : run;
        uint32_t bits = 0;
        start[i] = -1;
        while (q < end) {
            if (x < out_w) { /* outputs of row y: lanes q - first .. + n - 1 */
                const ptrdiff_t n = out_w - x < end - q ? out_w - x : end - q;
                if (start[i] < 0)
                    start[i] = y * out_w + x;
                bits |= (uint32_t)((((uint64_t)1 << n) - 1) << (q - first));
                q += n;
                x += n;
            } else { /* the padding columns after them */
                const ptrdiff_t n = row - x < end - q ? row - x : end - q;
                q += n;
                x += n;
            }
            if (x == row) {
                x = 0;
                ++y;
            }
        }
        mask[i] = bits;
    }
}

#undef GCNN_COMPRESS_STORE
#if GCNN_X86_PATHS && GCNN_VECTORS && GCNN_VBYTES == 64
/* AVX-512: the lanes set in mask, packed to the front and stored at dst (a
 * compress in registers, then a masked store of the popcount first lanes). */
#define GCNN_COMPRESS_STORE 1
static GCNN_INLINE void GCNN_NAME(compress_store)(GCNN_T *dst, uint32_t mask, VEC v)
{
    const unsigned count = (unsigned)__builtin_popcount(mask);
    if (sizeof(GCNN_T) == 4) {
        const __m512i packed = _mm512_maskz_compress_epi32((__mmask16)mask, (__m512i)v);
        _mm512_mask_storeu_epi32(dst, (__mmask16)((1u << count) - 1), packed);
    } else {
        const __m512i packed = _mm512_maskz_compress_epi64((__mmask8)mask, (__m512i)v);
        _mm512_mask_storeu_epi64(dst, (__mmask8)((1u << count) - 1), packed);
    }
}
#elif GCNN_X86_PATHS && GCNN_VECTORS && GCNN_VBYTES == 32
/* AVX2 has no compress: a permute by the indices of the set lanes packs
 * them to the front, then a whole vector is stored: its lanes past the
 * outputs are overwritten by the next vector's, which the same thread
 * stores next.  Only a vector that would reach past the band's last output
 * (into another work item's rows) stores its first popcount lanes, by a
 * masked store: masked stores of every vector made the lifting layer's
 * forward 1.7x slower on an AMD EPYC (Zen 3), so they are the exception.
 * The indices depend on the vector's position in the run only, so a tile
 * computes them once (pack_lanes) for all its channels.  (Before, the
 * lanes went through a spill buffer and one memcpy per channel and row
 * piece; the lifting layer's forward now takes 0.65-0.8 of that time.) */
#define GCNN_COMPRESS_STORE 1
struct GCNN_NAME(packing) {
    __m256i index; /* 32-bit lanes to gather into lanes 0, 1, ... */
    __m256i keep;  /* all ones in the 32-bit lanes to store */
};
static GCNN_INLINE struct GCNN_NAME(packing) GCNN_NAME(pack_lanes)(uint32_t mask)
{
    const int words = (int)(sizeof(GCNN_T) / 4); /* 32-bit lanes per element */
    int32_t index[8] = {0};
    int n = 0;
    for (int lane = 0; lane < GCNN_LANES; ++lane)
        if (mask >> lane & 1u)
            for (int k = 0; k < words; ++k)
                index[n++] = lane * words + k;
    struct GCNN_NAME(packing) packing;
    packing.index = _mm256_loadu_si256((const __m256i *)index);
    packing.keep =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return packing;
}
static GCNN_INLINE void GCNN_NAME(packed_store)(GCNN_T *dst, struct GCNN_NAME(packing) packing,
                                                VEC v, int whole)
{
    const __m256 packed = _mm256_permutevar8x32_ps((__m256)v, packing.index);
    if (whole)
        _mm256_storeu_ps((float *)(void *)dst, packed);
    else if (sizeof(GCNN_T) == 4)
        _mm256_maskstore_ps((float *)(void *)dst, packing.keep, packed);
    else
        _mm256_maskstore_pd((double *)(void *)dst, packing.keep, _mm256_castps_pd(packed));
}
#else
#define GCNN_COMPRESS_STORE 0
#endif

/* All tiles of one band for one output-channel block, as one flat run over
 * the band's rows (plan->flat: unit strides, panel rows padded_w long, all
 * channels in one pass).  Run position q is output (q / padded_w,
 * q % padded_w); positions past out_w in a row are computed and dropped. */
static GCNN_INLINE void GCNN_NAME(band_flat)(const struct gcnn_plan *plan,
                                             const GCNN_T *restrict panel,
                                             const GCNN_T *restrict wpk,
                                             const GCNN_T *restrict bias, ptrdiff_t o0,
                                             ptrdiff_t oy0, ptrdiff_t rows,
                                             GCNN_T *restrict out_n, const int OB, const int NV)
{
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w, row = plan->row_stride;
    const ptrdiff_t tile_w = NV * GCNN_LANES;
    const ptrdiff_t run = (rows - 1) * row + out_w;
    const ptrdiff_t ob_count =
        plan->p.out_channels - o0 < OB ? plan->p.out_channels - o0 : OB;
    GCNN_T spill[GCNN_MAX_OB * GCNN_MAX_NV * GCNN_MAX_VECTOR_BYTES / sizeof(GCNN_T)];
    for (ptrdiff_t q0 = 0; q0 < run; q0 += tile_w) {
        VEC acc[GCNN_MAX_OB][GCNN_MAX_NV];
        GCNN_UNROLL
        for (int j = 0; j < OB; ++j) {
            const GCNN_T b = (bias && j < ob_count) ? bias[o0 + j] : 0;
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i)
                acc[j][i] = (VEC){0} + b; /* splat */
        }
        switch (plan->unrolled_kw) {
        case 3:
            GCNN_NAME(tile)(panel + q0, plan->tap_offset, wpk, plan->taps, OB, NV, 3, acc);
            break;
        case 5:
            GCNN_NAME(tile)(panel + q0, plan->tap_offset, wpk, plan->taps, OB, NV, 5, acc);
            break;
        default:
            GCNN_NAME(tile)(panel + q0, plan->tap_offset, wpk, plan->taps, OB, NV, 0, acc);
            break;
        }
#if GCNN_COMPRESS_STORE
        {
            uint32_t mask[GCNN_MAX_NV];
            ptrdiff_t start[GCNN_MAX_NV];
            GCNN_NAME(flat_lanes)(q0, NV, row, out_w, run, mask, start);
#if GCNN_VBYTES == 32
            struct GCNN_NAME(packing) packing[GCNN_MAX_NV];
            int whole[GCNN_MAX_NV];
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i) {
                packing[i] = GCNN_NAME(pack_lanes)(mask[i]);
                whole[i] = start[i] + GCNN_LANES <= rows * out_w;
            }
#endif
            GCNN_UNROLL
            for (int j = 0; j < OB; ++j) {
                if (j >= ob_count)
                    break;
                GCNN_T *restrict dst = out_n + ((o0 + j) * out_h + oy0) * out_w;
                GCNN_UNROLL
                for (int i = 0; i < NV; ++i)
                    if (mask[i]) {
#if GCNN_VBYTES == 32
                        GCNN_NAME(packed_store)(dst + start[i], packing[i], acc[j][i],
                                                whole[i]);
#else
                        GCNN_NAME(compress_store)(dst + start[i], mask[i], acc[j][i]);
#endif
                    }
            }
            continue;
        }
#endif
        GCNN_UNROLL
        for (int j = 0; j < OB; ++j) {
            GCNN_UNROLL
            for (int i = 0; i < NV; ++i)
                VSTORE(spill + (j * NV + i) * GCNN_LANES, acc[j][i]);
        }
        /* copy the tile's pieces of output rows */
        const ptrdiff_t q1 = q0 + tile_w < run ? q0 + tile_w : run;
        for (ptrdiff_t q = q0; q < q1;) {
            const ptrdiff_t y = q / row, x = q % row;
            if (x >= out_w) { /* between rows */
                q = (y + 1) * row;
                continue;
            }
            const ptrdiff_t end = y * row + out_w < q1 ? y * row + out_w : q1;
            for (ptrdiff_t j = 0; j < ob_count; ++j)
                memcpy(out_n + ((o0 + j) * out_h + oy0 + y) * out_w + x,
                       spill + j * tile_w + (q - q0), (size_t)(end - q) * sizeof(GCNN_T));
            q = end;
        }
    }
}

/* Tap kx of input row d of a row-blocked tile: the vectors at `src` feed
 * every output row r whose kernel row d - r exists. */
static GCNN_INLINE void GCNN_NAME(rows_tap)(const GCNN_T *restrict src,
                                            const GCNN_T *restrict weights, ptrdiff_t d,
                                            ptrdiff_t kx, ptrdiff_t KH, ptrdiff_t KW,
                                            const int R, const int NV,
                                            VEC acc[GCNN_MAX_ROWS][GCNN_MAX_NV])
{
    VEC xv[GCNN_MAX_NV];
    GCNN_UNROLL
    for (int i = 0; i < NV; ++i)
        xv[i] = VLOAD(src + i * GCNN_LANES);
    GCNN_UNROLL
    for (int r = 0; r < R; ++r) {
        const ptrdiff_t ky = d - r;
        if (ky < 0 || ky >= KH)
            continue;
        const GCNN_T weight = weights[ky * KW + kx];
        GCNN_UNROLL
        for (int i = 0; i < NV; ++i)
            acc[r][i] += xv[i] * weight;
    }
}

/* One output channel (OB = 1) and unit vertical stride: R output rows share
 * each input vector they load.  Input row d of a tile feeds output row r
 * with kernel row d - r, so a vector loaded once serves up to min(R, kh)
 * multiply-adds instead of one.  The order of summation per output (c, ky,
 * kx ascending) is the one band() uses, so the numbers are the same. */
static GCNN_INLINE void GCNN_NAME(band_rows)(const struct gcnn_plan *plan,
                                             const GCNN_T *restrict panel,
                                             const GCNN_T *restrict wpk,
                                             const GCNN_T *restrict bias, ptrdiff_t o0,
                                             ptrdiff_t oy0, ptrdiff_t rows,
                                             GCNN_T *restrict out_n, const int R,
                                             const int NV, const int KWC)
{
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w;
    const ptrdiff_t tile_w = NV * GCNN_LANES;
    const ptrdiff_t KH = plan->p.kernel_h, KW = plan->p.kernel_w;
    const ptrdiff_t row_stride = plan->row_stride, chan_stride = plan->chan_stride;
    /* the first kernel_w taps are channel 0, kernel row 0: the column
     * offsets of kx within a panel row */
    const ptrdiff_t *restrict kx_offset = plan->tap_offset;
    const GCNN_T b = bias ? bias[o0] : 0;
    GCNN_T spill[GCNN_MAX_NV * GCNN_MAX_VECTOR_BYTES / sizeof(GCNN_T)];
    ptrdiff_t r0 = 0;
    for (; r0 + R <= rows; r0 += R) {
        for (ptrdiff_t x0 = 0; x0 < out_w; x0 += tile_w) {
            VEC acc[GCNN_MAX_ROWS][GCNN_MAX_NV];
            GCNN_UNROLL
            for (int r = 0; r < R; ++r) {
                GCNN_UNROLL
                for (int i = 0; i < NV; ++i)
                    acc[r][i] = (VEC){0} + b; /* splat */
            }
            for (ptrdiff_t c = 0; c < plan->p.in_channels; ++c) {
                const GCNN_T *restrict base = panel + c * chan_stride + r0 * row_stride + x0;
                const GCNN_T *restrict weights = wpk + c * KH * KW;
                for (ptrdiff_t d = 0; d < KH + R - 1; ++d) {
                    const GCNN_T *restrict row = base + d * row_stride;
                    /* KWC > 0: a unit-stride kernel row of known width,
                     * unrolled with constant shifts */
                    if (KWC > 0) {
                        GCNN_UNROLL
                        for (int kx = 0; kx < KWC; ++kx)
                            GCNN_NAME(rows_tap)(row + kx, weights, d, kx, KH, KW, R, NV, acc);
                    } else {
                        for (ptrdiff_t kx = 0; kx < KW; ++kx)
                            GCNN_NAME(rows_tap)(row + kx_offset[kx], weights, d, kx, KH, KW, R,
                                                NV, acc);
                    }
                }
            }
            const ptrdiff_t valid = out_w - x0 < tile_w ? out_w - x0 : tile_w;
            GCNN_UNROLL
            for (int r = 0; r < R; ++r) {
                GCNN_T *restrict dst = out_n + (o0 * out_h + oy0 + r0 + r) * out_w + x0;
                if (valid == tile_w) {
                    GCNN_UNROLL
                    for (int i = 0; i < NV; ++i)
                        VSTORE(dst + i * GCNN_LANES, acc[r][i]);
                } else {
                    GCNN_UNROLL
                    for (int i = 0; i < NV; ++i)
                        VSTORE(spill + i * GCNN_LANES, acc[r][i]);
                    memcpy(dst, spill, (size_t)valid * sizeof(GCNN_T));
                }
            }
        }
    }
    if (r0 < rows) /* the last rows of the band, one at a time */
        GCNN_NAME(band)(plan, panel + r0 * row_stride, wpk, bias, o0, oy0 + r0, rows - r0,
                        out_n, 1, NV);
}

/* Channel-vector tile for small maps: OV vectors of output channels (the
 * block's OV * lanes channels, packed per tap by pack_weights) x PP output
 * pixels of the band, at panel offsets pix[q].  Per tap, OV weight vectors
 * are loaded and each pixel's input value is broadcast to all lanes, so no
 * lane waits on a pixel that does not exist.  Sums run over all taps in the
 * (c, ky, kx) order of the row tiles. */
static GCNN_INLINE void GCNN_NAME(cv_tile)(const GCNN_T *restrict panel,
                                           const ptrdiff_t *restrict tap_offset,
                                           ptrdiff_t taps, const GCNN_T *restrict wpk,
                                           const ptrdiff_t *restrict pix, const int OV,
                                           const int PP,
                                           VEC acc[GCNN_MAX_CV][GCNN_MAX_CV_PIXELS])
{
    for (ptrdiff_t t = 0; t < taps; ++t) {
        const GCNN_T *restrict src = panel + tap_offset[t];
        const GCNN_T *restrict weights = wpk + t * OV * GCNN_LANES;
        VEC wv[GCNN_MAX_CV];
        GCNN_UNROLL
        for (int v = 0; v < OV; ++v)
            wv[v] = VLOAD(weights + v * GCNN_LANES);
        GCNN_UNROLL
        for (int q = 0; q < PP; ++q) {
            const VEC xs = VSPLAT(src[pix[q]]);
            GCNN_UNROLL
            for (int v = 0; v < OV; ++v)
                acc[v][q] += wv[v] * xs;
        }
    }
}

/* All channel-vector tiles of one band for one output-channel block. */
static GCNN_INLINE void GCNN_NAME(cv_band)(const struct gcnn_plan *plan,
                                           const GCNN_T *restrict panel,
                                           const GCNN_T *restrict wpk,
                                           const GCNN_T *restrict bias, ptrdiff_t o0,
                                           ptrdiff_t oy0, ptrdiff_t rows,
                                           GCNN_T *restrict out_n, const int OV, const int PP)
{
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w;
    const ptrdiff_t block = OV * GCNN_LANES;
    const ptrdiff_t ob_count =
        plan->p.out_channels - o0 < block ? plan->p.out_channels - o0 : block;
    const ptrdiff_t row_step = plan->p.stride_h * plan->row_stride;
    const ptrdiff_t pixels = rows * out_w;
    GCNN_T lanes[GCNN_MAX_CV * GCNN_MAX_VECTOR_BYTES / sizeof(GCNN_T)];
    for (ptrdiff_t j = 0; j < block; ++j)
        lanes[j] = bias && j < ob_count ? bias[o0 + j] : 0;
    VEC bias_v[GCNN_MAX_CV];
    GCNN_UNROLL
    for (int v = 0; v < OV; ++v)
        bias_v[v] = VLOAD(lanes + v * GCNN_LANES);
    for (ptrdiff_t q0 = 0; q0 < pixels; q0 += PP) {
        const ptrdiff_t valid = pixels - q0 < PP ? pixels - q0 : PP;
        ptrdiff_t pix[GCNN_MAX_CV_PIXELS];
        GCNN_UNROLL
        for (int q = 0; q < PP; ++q) {
            /* a partial tile repeats its last pixel (computed, not stored) */
            const ptrdiff_t pixel = q0 + (q < valid ? q : valid - 1);
            pix[q] = (pixel / out_w) * row_step + pixel % out_w;
        }
        VEC acc[GCNN_MAX_CV][GCNN_MAX_CV_PIXELS];
        GCNN_UNROLL
        for (int v = 0; v < OV; ++v) {
            GCNN_UNROLL
            for (int q = 0; q < PP; ++q)
                acc[v][q] = bias_v[v];
        }
        GCNN_NAME(cv_tile)(panel, plan->tap_offset, plan->taps, wpk, pix, OV, PP, acc);
        for (ptrdiff_t q = 0; q < valid; ++q) {
            const ptrdiff_t pixel = q0 + q;
            GCNN_T *restrict dst = out_n + (o0 * out_h + oy0 + pixel / out_w) * out_w +
                                   pixel % out_w;
            GCNN_UNROLL
            for (int v = 0; v < OV; ++v)
                VSTORE(lanes + v * GCNN_LANES, acc[v][q]);
            for (ptrdiff_t j = 0; j < ob_count; ++j)
                dst[j * out_h * out_w] = lanes[j];
        }
    }
}

/* dst[j] = src[j] for j < n.  The rows of small maps are a few dozen
 * values: on AVX-512 a masked vector move or four each, not a library call
 * (which cost as much as the products of a 56-channel weight gradient at
 * 10x10 outputs, whose panels are filled once per block of channels). */
static GCNN_INLINE void GCNN_NAME(copy_row)(GCNN_T *restrict dst, const GCNN_T *restrict src,
                                            ptrdiff_t n)
{
#if GCNN_X86_PATHS && GCNN_VECTORS && GCNN_VBYTES == 64
    if (n <= 4 * GCNN_LANES) {
        for (ptrdiff_t j = 0; j < n; j += GCNN_LANES) {
            const ptrdiff_t left = n - j;
            if (sizeof(GCNN_T) == 4) {
                const __mmask16 m =
                    left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                _mm512_mask_storeu_epi32(dst + j, m, _mm512_maskz_loadu_epi32(m, src + j));
            } else {
                const __mmask8 m = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
                _mm512_mask_storeu_epi64(dst + j, m, _mm512_maskz_loadu_epi64(m, src + j));
            }
        }
        return;
    }
#endif
    memcpy(dst, src, (size_t)n * sizeof(GCNN_T));
}

/* Copy the padded input rows [first_row, first_row + rows) of every channel
 * of image x_n into the panel, splitting columns into stride_w phases.
 * plan->col_src says, for each position of a panel row, which image column
 * it holds (GCNN_COL_FILL: the fill value; GCNN_COL_SLACK: none, stays 0). */
static void GCNN_NAME(fill_panel)(const struct gcnn_plan *plan,
                                  const GCNN_T *restrict x_n, ptrdiff_t first_row,
                                  ptrdiff_t rows, GCNN_T fillvalue,
                                  GCNN_T *restrict panel)
{
    const ptrdiff_t H = plan->p.height, W = plan->p.width;
    const ptrdiff_t row_len = plan->row_used; /* the slack past it is never written */
    const ptrdiff_t *restrict col_src = plan->col_src;
    for (ptrdiff_t c = 0; c < plan->p.in_channels; ++c) {
        for (ptrdiff_t r = 0; r < rows; ++r) {
            GCNN_T *restrict dst = panel + c * plan->chan_stride + r * plan->row_stride;
            const ptrdiff_t src_row = gcnn_source_index(first_row + r - plan->p.pad_top, H,
                                                        plan->dilate_h, plan->p.boundary);
            if (src_row < 0) {
                for (ptrdiff_t j = 0; j < row_len; ++j)
                    if (col_src[j] != GCNN_COL_SLACK)
                        dst[j] = fillvalue;
                continue;
            }
            const GCNN_T *restrict src = x_n + (c * H + src_row) * W;
            ptrdiff_t j = 0;
            if (plan->p.stride_w == 1 && plan->dilate_w == 1) {
                /* Unit stride: the image row is one block copy in the middle;
                 * only the pads need the index map. */
                const ptrdiff_t left = plan->p.pad_left;
                for (; j < left; ++j)
                    dst[j] = col_src[j] < 0 ? fillvalue : src[col_src[j]];
                GCNN_NAME(copy_row)(dst + left, src, W);
                j = left + W;
            }
            for (; j < row_len; ++j) {
                const ptrdiff_t col = col_src[j];
                if (col != GCNN_COL_SLACK)
                    dst[j] = col < 0 ? fillvalue : src[col];
            }
        }
    }
}

/* Pack w[o][c][ky][kx] into blocks wpk[block][c][ky][kx][j], o = block*OB + j,
 * zero for o beyond out_channels, so one tile reads its OB weights
 * contiguously. */
static void GCNN_NAME(pack_weights)(const struct gcnn_plan *plan,
                                    const GCNN_T *restrict w,
                                    GCNN_T *restrict wpk)
{
    const ptrdiff_t OB = plan->ob, O = plan->p.out_channels;
    const ptrdiff_t taps = plan->p.in_channels * plan->p.kernel_h * plan->p.kernel_w;
    for (ptrdiff_t block = 0; block < plan->ob_blocks; ++block)
        for (ptrdiff_t t = 0; t < taps; ++t)
            for (ptrdiff_t j = 0; j < OB; ++j) {
                const ptrdiff_t o = block * OB + j;
                wpk[(block * taps + t) * OB + j] = o < O ? w[o * taps + t] : 0;
            }
}

/* The register-tile shapes this path instantiates.  NV is capped so that
 * OB * NV accumulators fit GCNN_ACC registers. */
#define GCNN_BAND_CASE(OBV, NVV)                                              \
    case GCNN_TILE_KEY(OBV, NVV):                                             \
        GCNN_NAME(band)(plan, panel, wpk_block, bias, o0, oy0, rows, out_n,   \
                        OBV, NVV);                                            \
        return GCNN_OK;

/* The flat-run tiles, each a function of its own: their output stores
 * (compress and masked stores on AVX-512) inlined into run_band slowed its
 * other tiles by 15% (channel vectors at 6x6 outputs), by code layout alone. */
#define GCNN_FLAT_FUNCTION(OBV, NVV)                                          \
    static GCNN_NOINLINE void GCNN_NAME(band_flat_##OBV##_##NVV)(            \
        const struct gcnn_plan *plan, const GCNN_T *panel, const GCNN_T *wpk,   \
        const GCNN_T *bias, ptrdiff_t o0, ptrdiff_t oy0, ptrdiff_t rows, GCNN_T *out_n) \
    {                                                                         \
        GCNN_NAME(band_flat)(plan, panel, wpk, bias, o0, oy0, rows, out_n, OBV, NVV); \
    }
GCNN_FLAT_FUNCTION(12, 2)
GCNN_FLAT_FUNCTION(8, 2)
GCNN_FLAT_FUNCTION(8, 1)
GCNN_FLAT_FUNCTION(4, 4)
GCNN_FLAT_FUNCTION(4, 2)
GCNN_FLAT_FUNCTION(2, 8)
GCNN_FLAT_FUNCTION(2, 4)
GCNN_FLAT_FUNCTION(1, 8)
#undef GCNN_FLAT_FUNCTION

static int GCNN_NAME(run_band)(const struct gcnn_plan *plan,
                                const GCNN_T *panel, const GCNN_T *wpk_block,
                                const GCNN_T *bias, ptrdiff_t o0, ptrdiff_t oy0,
                                ptrdiff_t rows, GCNN_T *out_n)
{
#define GCNN_ROWS_CASE(NVV, KWV)                                              \
    case GCNN_TILE_KEY(NVV, KWV):                                             \
        GCNN_NAME(band_rows)(plan, panel, wpk_block, bias, o0, oy0, rows, out_n, \
                             GCNN_MAX_ROWS, NVV, KWV);                        \
        return GCNN_OK;
#define GCNN_CV_CASE(OVV, PPV)                                                \
    case GCNN_TILE_KEY(OVV, PPV):                                             \
        GCNN_NAME(cv_band)(plan, panel, wpk_block, bias, o0, oy0, rows, out_n, OVV, PPV); \
        return GCNN_OK;
    if (plan->cv_vectors > 0) {
        switch (GCNN_TILE_KEY(plan->cv_vectors, plan->cv_pixels)) {
            GCNN_CV_CASE(3, 8)
            GCNN_CV_CASE(2, 8)
            GCNN_CV_CASE(1, 8)
            GCNN_CV_CASE(2, 4)
            GCNN_CV_CASE(1, 4)
        default: /* gcnn_plan_make only produces the shapes above */
            return GCNN_EINTERNAL;
        }
    }
#undef GCNN_CV_CASE
#define GCNN_FLAT_CASE(OBV, NVV)                                              \
    case GCNN_TILE_KEY(OBV, NVV):                                             \
        GCNN_NAME(band_flat_##OBV##_##NVV)(plan, panel, wpk_block, bias, o0, oy0, rows, out_n); \
        return GCNN_OK;
    if (plan->flat) {
        switch (GCNN_TILE_KEY(plan->ob, plan->nv)) {
            GCNN_FLAT_CASE(12, 2)
            GCNN_FLAT_CASE(8, 2)
            GCNN_FLAT_CASE(8, 1)
            GCNN_FLAT_CASE(4, 4)
            GCNN_FLAT_CASE(4, 2)
            GCNN_FLAT_CASE(2, 8)
            GCNN_FLAT_CASE(2, 4)
            GCNN_FLAT_CASE(1, 8)
        default: /* gcnn_plan_make only produces the shapes above */
            return GCNN_EINTERNAL;
        }
    }
#undef GCNN_FLAT_CASE
    if (plan->row_block > 1) {
        switch (GCNN_TILE_KEY(plan->nv, plan->unrolled_kw)) {
            GCNN_ROWS_CASE(4, 3)
            GCNN_ROWS_CASE(4, 5)
            GCNN_ROWS_CASE(4, 0)
            GCNN_ROWS_CASE(2, 3)
            GCNN_ROWS_CASE(2, 5)
            GCNN_ROWS_CASE(2, 0)
            GCNN_ROWS_CASE(1, 3)
            GCNN_ROWS_CASE(1, 5)
            GCNN_ROWS_CASE(1, 0)
        default: /* gcnn_plan_make only produces the shapes above */
            return GCNN_EINTERNAL;
        }
    }
#undef GCNN_ROWS_CASE
    switch (GCNN_TILE_KEY(plan->ob, plan->nv)) {
        GCNN_BAND_CASE(12, 2)
        GCNN_BAND_CASE(8, 2)
        GCNN_BAND_CASE(2, 8)
        GCNN_BAND_CASE(1, 8)
        GCNN_BAND_CASE(8, 1)
        GCNN_BAND_CASE(4, 4)
        GCNN_BAND_CASE(4, 2)
        GCNN_BAND_CASE(4, 1)
        GCNN_BAND_CASE(2, 4)
        GCNN_BAND_CASE(2, 2)
        GCNN_BAND_CASE(2, 1)
        GCNN_BAND_CASE(1, 4)
        GCNN_BAND_CASE(1, 2)
        GCNN_BAND_CASE(1, 1)
    default: /* gcnn_plan_make only produces the shapes above */
        return GCNN_EINTERNAL;
    }
}
#undef GCNN_BAND_CASE

/* One forward call's work, shared by its items (see corr2d below). */
struct GCNN_NAME(corr2d_work) {
    const struct gcnn_plan *plan;
    const GCNN_T *x, *wpk, *bias;
    GCNN_T fillvalue;
    GCNN_T *out;
    ptrdiff_t bands;
    char **panels; /* [worker]: each worker's panel, allocated on its first item */
};

/* Item = (image n, band of output rows): fill the panel, run every
 * output-channel block over it. */
static int GCNN_NAME(corr2d_item)(void *arg, ptrdiff_t item, int worker)
{
    const struct GCNN_NAME(corr2d_work) *work = arg;
    const struct gcnn_plan *plan = work->plan;
    /* calloc: tiles at the right edge read past the data of a phase row
     * into its slack; those lanes are discarded, but they must hold
     * initialised, finite values (zeros) so nothing undefined is read. */
    if (work->panels[worker] == NULL &&
        (work->panels[worker] = calloc(plan->panel_elems * sizeof(GCNN_T) + GCNN_ALIGN +
                                           GCNN_PANEL_SLACK,
                                       1)) == NULL)
        return GCNN_ENOMEM;
    /* Rows start on a cache line (row_stride is a whole number of vectors),
     * so the kx = 0 tap of every row tile loads without a split. */
    GCNN_T *panel = gcnn_aligned(work->panels[worker]);
    const ptrdiff_t n = item / work->bands;
    const ptrdiff_t oy0 = (item % work->bands) * plan->band_rows;
    const ptrdiff_t rows = plan->out_h - oy0 < plan->band_rows ? plan->out_h - oy0 : plan->band_rows;
    GCNN_NAME(fill_panel)(plan, work->x + n * plan->p.in_channels * plan->p.height * plan->p.width,
                          oy0 * plan->p.stride_h, (rows - 1) * plan->p.stride_h + plan->p.kernel_h,
                          work->fillvalue, panel);
    GCNN_T *out_n = work->out + n * plan->p.out_channels * plan->out_h * plan->out_w;
    for (ptrdiff_t block = 0; block < plan->ob_blocks; ++block) {
        const int status = GCNN_NAME(run_band)(plan, panel, work->wpk + block * plan->taps * plan->ob,
                                               work->bias, block * plan->ob, oy0, rows, out_n);
        if (status != GCNN_OK)
            return status;
    }
    return GCNN_OK;
}

static int GCNN_NAME(corr2d)(const gcnn_corr2d_params *params,
                             const GCNN_T *x, const GCNN_T *w,
                             const GCNN_T *bias, GCNN_T fillvalue, GCNN_T *out)
{
    struct gcnn_plan plan;
    int status = gcnn_plan_make(params, sizeof(GCNN_T), GCNN_LANES, GCNN_ACC, 0, &plan);
    if (status != GCNN_OK)
        return status;
    GCNN_T *wpk = malloc(plan.packed_w_bytes);
    char **panels = calloc((size_t)plan.threads, sizeof *panels);
    if (wpk == NULL || panels == NULL) {
        free(wpk);
        free(panels);
        gcnn_plan_free(&plan);
        return GCNN_ENOMEM;
    }
    GCNN_NAME(pack_weights)(&plan, w, wpk);
    const ptrdiff_t bands = (plan.out_h + plan.band_rows - 1) / plan.band_rows;
    struct GCNN_NAME(corr2d_work) work = {&plan, x, wpk, bias, fillvalue, out, bands, panels};
    const gcnn_poll poll = {params->interrupted, params->interrupt_ctx};
    /* Items go to whichever thread is free: on a shared machine a thread
     * that loses its core takes no more items.  Which thread computes an
     * item does not change the item's numbers. */
    status = gcnn_parallel_for(plan.p.batch * bands, plan.threads, GCNN_NAME(corr2d_item), &work,
                               params->interrupted ? &poll : NULL);
    for (int t = 0; t < plan.threads; ++t)
        free(panels[t]);
    free(panels);
    free(wpk);
    gcnn_plan_free(&plan);
    return status;
}
