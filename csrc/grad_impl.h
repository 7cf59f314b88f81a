/*
 * Loop body of the weight gradient, included at the end of corr2d_impl.h
 * (same element type and instruction-set path, same vectors and panels):
 *
 *     grad_w[o][c][ky][kx] = sum_{n, y, x} grad_out[n][o][y][x] *
 *                            xpad[n][c][y*stride_h + ky][x*stride_w + kx]
 *
 * Strategy: the batch is cut into units, a split that depends on the sizes
 * only (gcnn_plan_make with fixed_split): several whole small images, or
 * one band of output rows of a large one.  The units are grouped into a
 * fixed number of chunks, each summed into its own partial gradient; the
 * partials are added in chunk order at the end, so the numbers do not
 * depend on the thread count.  A work item is (chunk, block of ob output
 * channels).  For each unit the input rows go into a panel as for the
 * forward pass, and the block's rows of grad_out into a small panel with
 * zeros between rows.  A register tile holds ob x tw accumulator vectors
 * running along the output rows, for one input channel, one kernel row and
 * tw consecutive taps: every loaded grad_out vector serves tw taps, every
 * loaded input vector ob channels.  The vector sums live in memory between
 * tiles; their lanes are added in a fixed order once per item.
 *
 * At unit strides the panel rows are exactly as long as the padded input
 * rows and the grad_out panel uses the same row length, so output pixel
 * (y, x) and its input tap sit at the same flat offset from their panels'
 * starts: a band is one flat run of vectors with no per-row remainder.
 * The lanes between output rows multiply zeros of grad_out (an infinite
 * input value there gives NaN, as 0 * inf does in any sum over products).
 * With strides, rows are walked one at a time and the lanes past the end
 * of a row are masked out of the input instead.
 */

static GCNN_INLINE void GCNN_NAME(gw_tile)(const GCNN_T *restrict in, ptrdiff_t in_image_step,
                                           ptrdiff_t in_row_step,
                                           const ptrdiff_t *restrict tap_offset,
                                           const GCNN_T *restrict g, ptrdiff_t g_image_step,
                                           ptrdiff_t g_row_step, ptrdiff_t g_chan_step,
                                           ptrdiff_t images, ptrdiff_t rows,
                                           ptrdiff_t full_vectors, ptrdiff_t tail,
                                           const int OB, const int TW, GCNN_T *restrict sums)
{
    VEC acc[GCNN_GW_MAX_OB][GCNN_GW_MAX_TW];
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int t = 0; t < TW; ++t)
            acc[j][t] = VLOAD(sums + (t * OB + j) * GCNN_LANES);
    }
#if GCNN_VECTORS
    GCNN_NAME(ivec) keep; /* all ones in the lanes of the last, partial vector */
    for (ptrdiff_t lane = 0; lane < GCNN_LANES; ++lane)
        keep[lane] = lane < tail ? -1 : 0;
#endif
    for (ptrdiff_t i = 0; i < images; ++i)
        for (ptrdiff_t r = 0; r < rows; ++r) {
            const GCNN_T *restrict in_row = in + i * in_image_step + r * in_row_step;
            const GCNN_T *restrict g_row = g + i * g_image_step + r * g_row_step;
            for (ptrdiff_t v = 0; v < full_vectors; ++v) {
                VEC xv[GCNN_GW_MAX_TW];
                GCNN_UNROLL
                for (int t = 0; t < TW; ++t)
                    xv[t] = VLOAD(in_row + tap_offset[t] + v * GCNN_LANES);
                GCNN_UNROLL
                for (int j = 0; j < OB; ++j) {
                    const VEC gv = VLOAD(g_row + j * g_chan_step + v * GCNN_LANES);
                    GCNN_UNROLL
                    for (int t = 0; t < TW; ++t)
                        acc[j][t] += gv * xv[t];
                }
            }
#if GCNN_VECTORS
            if (tail > 0) {
                const ptrdiff_t v = full_vectors;
                VEC xv[GCNN_GW_MAX_TW];
                GCNN_UNROLL
                for (int t = 0; t < TW; ++t)
                    xv[t] = (VEC)((GCNN_NAME(ivec))VLOAD(in_row + tap_offset[t] +
                                                         v * GCNN_LANES) &
                                  keep);
                GCNN_UNROLL
                for (int j = 0; j < OB; ++j) {
                    const VEC gv = VLOAD(g_row + j * g_chan_step + v * GCNN_LANES);
                    GCNN_UNROLL
                    for (int t = 0; t < TW; ++t)
                        acc[j][t] += gv * xv[t];
                }
            }
#endif
        }
    GCNN_UNROLL
    for (int j = 0; j < OB; ++j) {
        GCNN_UNROLL
        for (int t = 0; t < TW; ++t)
            VSTORE(sums + (t * OB + j) * GCNN_LANES, acc[j][t]);
    }
}

/* The tile shapes gcnn_gw_tile_shape may choose (ob a power of two up to
 * GCNN_GW_MAX_OB, a kernel row cut into pieces of up to GCNN_GW_MAX_TW). */
static int GCNN_NAME(run_gw_tile)(ptrdiff_t ob, ptrdiff_t tw, const GCNN_T *in,
                                  ptrdiff_t in_image_step, ptrdiff_t in_row_step,
                                  const ptrdiff_t *tap_offset, const GCNN_T *g,
                                  ptrdiff_t g_image_step, ptrdiff_t g_row_step,
                                  ptrdiff_t g_chan_step, ptrdiff_t images, ptrdiff_t rows,
                                  ptrdiff_t full_vectors, ptrdiff_t tail, GCNN_T *sums)
{
#define GCNN_GW_CASE(OBV, TWV)                                                 \
    case GCNN_TILE_KEY(OBV, TWV):                                              \
        GCNN_NAME(gw_tile)(in, in_image_step, in_row_step, tap_offset, g, g_image_step, \
                           g_row_step, g_chan_step, images, rows, full_vectors, tail, OBV, \
                           TWV, sums);                                         \
        return GCNN_OK;
    switch (GCNN_TILE_KEY(ob, tw)) {
        GCNN_GW_CASE(8, 1)
        GCNN_GW_CASE(8, 2)
        GCNN_GW_CASE(8, 3)
        GCNN_GW_CASE(8, 4)
        GCNN_GW_CASE(4, 1)
        GCNN_GW_CASE(4, 2)
        GCNN_GW_CASE(4, 3)
        GCNN_GW_CASE(4, 4)
        GCNN_GW_CASE(2, 1)
        GCNN_GW_CASE(2, 2)
        GCNN_GW_CASE(2, 3)
        GCNN_GW_CASE(2, 4)
        GCNN_GW_CASE(1, 1)
        GCNN_GW_CASE(1, 2)
        GCNN_GW_CASE(1, 3)
        GCNN_GW_CASE(1, 4)
    default: /* gcnn_gw_tile_shape only produces the shapes above */
        return GCNN_EINTERNAL;
    }
#undef GCNN_GW_CASE
}

/* Channel-vector tile of the weight gradient (small maps): OV vectors of
 * output channels x TT consecutive taps, summed over the unit's pixels.
 * g_t holds the unit's grad_out transposed, [pixel][OV * lanes channels];
 * pix[p] is pixel p's offset in the panel.  Each input value is broadcast
 * to all lanes, which hold different channels: no lane is idle on a short
 * row and no lanes need adding up at the end. */
static GCNN_INLINE void GCNN_NAME(gw_cv_tile)(const GCNN_T *restrict panel,
                                              const ptrdiff_t *restrict tap_offset,
                                              const GCNN_T *restrict g_t,
                                              const ptrdiff_t *restrict pix, ptrdiff_t pixels,
                                              const int OV, const int TT,
                                              GCNN_T *restrict sums)
{
    VEC acc[GCNN_GW_MAX_CV][GCNN_MAX_CV_PIXELS];
    ptrdiff_t offset[GCNN_MAX_CV_PIXELS];
    GCNN_UNROLL
    for (int t = 0; t < TT; ++t) {
        offset[t] = tap_offset[t];
        GCNN_UNROLL
        for (int v = 0; v < OV; ++v)
            acc[v][t] = VLOAD(sums + (t * OV + v) * GCNN_LANES);
    }
    for (ptrdiff_t p = 0; p < pixels; ++p) {
        const GCNN_T *restrict base = panel + pix[p];
        VEC gv[GCNN_GW_MAX_CV];
        GCNN_UNROLL
        for (int v = 0; v < OV; ++v)
            gv[v] = VLOAD(g_t + (p * OV + v) * GCNN_LANES);
        GCNN_UNROLL
        for (int t = 0; t < TT; ++t) {
            const VEC xs = VSPLAT(base[offset[t]]);
            GCNN_UNROLL
            for (int v = 0; v < OV; ++v)
                acc[v][t] += gv[v] * xs;
        }
    }
    GCNN_UNROLL
    for (int t = 0; t < TT; ++t) {
        GCNN_UNROLL
        for (int v = 0; v < OV; ++v)
            VSTORE(sums + (t * OV + v) * GCNN_LANES, acc[v][t]);
    }
}

/* Sum a unit into the vector sums [tap][OV * lanes], taking the taps in
 * pieces of the widest tile the registers hold, then halves (8, 4, 2, 1 or 6, 3, 1). */
static int GCNN_NAME(gw_cv_unit)(const GCNN_T *panel, const ptrdiff_t *tap_offset,
                                 ptrdiff_t taps, const GCNN_T *g_t, const ptrdiff_t *pix,
                                 ptrdiff_t pixels, ptrdiff_t ov, ptrdiff_t widest,
                                 GCNN_T *sums)
{
#define GCNN_GW_CV_CASE(OVV, TTV)                                              \
    case GCNN_TILE_KEY(OVV, TTV):                                              \
        GCNN_NAME(gw_cv_tile)(panel, tap_offset + t, g_t, pix, pixels, OVV, TTV, \
                              sums + t * (OVV) * GCNN_LANES);                  \
        break;
    ptrdiff_t t = 0;
    for (ptrdiff_t width = widest; width >= 1; width /= 2)
        for (; t + width <= taps; t += width)
            switch (GCNN_TILE_KEY(ov, width)) {
                GCNN_GW_CV_CASE(4, 6)
                GCNN_GW_CV_CASE(4, 3)
                GCNN_GW_CV_CASE(4, 1)
                GCNN_GW_CV_CASE(3, 8)
                GCNN_GW_CV_CASE(3, 4)
                GCNN_GW_CV_CASE(3, 2)
                GCNN_GW_CV_CASE(3, 1)
                GCNN_GW_CV_CASE(2, 8)
                GCNN_GW_CV_CASE(2, 4)
                GCNN_GW_CV_CASE(2, 2)
                GCNN_GW_CV_CASE(2, 1)
                GCNN_GW_CV_CASE(1, 8)
                GCNN_GW_CV_CASE(1, 4)
                GCNN_GW_CV_CASE(1, 2)
                GCNN_GW_CV_CASE(1, 1)
            default: /* grad_weight only chooses the shapes above */
                return GCNN_EINTERNAL;
            }
#undef GCNN_GW_CV_CASE
    return GCNN_OK;
}

/* A channel-vector unit's grad_out, transposed to g_t[pixel][ob] (zeros
 * for channels past the block's ob_count), and each pixel's panel offset:
 * pixel p = (i * rows + r) * out_w + x of image n0 + i, output row oy0 + r. */
static void GCNN_NAME(gw_cv_unit_fill)(const struct gcnn_plan *plan, const GCNN_T *grad_out,
                                      ptrdiff_t n0, ptrdiff_t images, ptrdiff_t oy0,
                                      ptrdiff_t rows, ptrdiff_t o0, ptrdiff_t ob,
                                      ptrdiff_t ob_count, ptrdiff_t *pix, GCNN_T *g_t)
{
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w;
    const ptrdiff_t row_step = plan->p.stride_h * plan->row_stride;
    const ptrdiff_t plane = out_h * out_w;
    for (ptrdiff_t i = 0; i < images; ++i)
        for (ptrdiff_t r = 0; r < rows; ++r)
            for (ptrdiff_t xo = 0; xo < out_w; ++xo) {
                const ptrdiff_t p = (i * rows + r) * out_w + xo;
                pix[p] = i * (ptrdiff_t)plan->panel_elems + r * row_step + xo;
                const GCNN_T *src = grad_out + ((n0 + i) * plan->p.out_channels + o0) * plane +
                                    (oy0 + r) * out_w + xo;
                GCNN_T *dst = g_t + p * ob;
                ptrdiff_t j = 0;
                for (; j < ob_count; ++j)
                    dst[j] = src[j * plane];
                for (; j < ob; ++j)
                    dst[j] = 0;
            }
}

/* Each worker's scratch, allocated on its first item. */
struct GCNN_NAME(gw_scratch) {
    char *panel, *g, *sums;
    ptrdiff_t *pix;
};

/* One weight-gradient call's work, shared by its items (see grad_weight). */
struct GCNN_NAME(gw_work) {
    const struct gcnn_plan *plan;
    const GCNN_T *x, *grad_out;
    GCNN_T fillvalue;
    GCNN_T *partial; /* [chunk][O][taps] (or grad_w itself with one chunk) */
    struct GCNN_NAME(gw_scratch) *scratch;
    ptrdiff_t ob, tw, ov, widest;
    int cv, flat;
    ptrdiff_t group, bands, units, chunks, ob_blocks, wsize, sums_elems, unit_pixels;
    ptrdiff_t g_stride, g_chan_elems, g_image_elems;
};

/* Item = (chunk of units, block of ob output channels): sum the chunk into
 * the block's vector sums, then write the block's rows of the partial. */
static int GCNN_NAME(gw_item)(void *arg, ptrdiff_t item, int worker)
{
    const struct GCNN_NAME(gw_work) *w = arg;
    const struct gcnn_plan *plan = w->plan;
    struct GCNN_NAME(gw_scratch) *mine = &w->scratch[worker];
    const ptrdiff_t batch = plan->p.batch, O = plan->p.out_channels, C = plan->p.in_channels;
    const ptrdiff_t KH = plan->p.kernel_h, KW = plan->p.kernel_w, taps = plan->taps;
    const ptrdiff_t out_h = plan->out_h, out_w = plan->out_w, band_rows = plan->band_rows;
    const ptrdiff_t ob = w->ob, group = w->group, bands = w->bands;
    if (mine->panel == NULL) {
        /* calloc: see corr2d; the g panel's padding lanes must be zeros
         * (flat runs read up to a vector past the last panel row) */
        mine->panel = calloc(
            (plan->panel_elems * (size_t)group + GCNN_LANES) * sizeof(GCNN_T) + GCNN_ALIGN, 1);
        mine->g = calloc((size_t)(w->g_image_elems * group) * sizeof(GCNN_T) + GCNN_ALIGN, 1);
        mine->sums = malloc((size_t)w->sums_elems * sizeof(GCNN_T) + GCNN_ALIGN);
        mine->pix = w->cv ? malloc((size_t)w->unit_pixels * sizeof *mine->pix) : NULL;
        if (mine->g == NULL || mine->sums == NULL || (w->cv && mine->pix == NULL)) {
            free(mine->panel);
            mine->panel = NULL; /* (the others are freed by the caller) */
        }
        if (mine->panel == NULL)
            return GCNN_ENOMEM;
    }
    GCNN_T *panel = gcnn_aligned(mine->panel);
    GCNN_T *g_panel = gcnn_aligned(mine->g);
    /* vector sums of one item: rows [tap][j][lane]; channels [tap][j] */
    GCNN_T *sums = gcnn_aligned(mine->sums);
    const ptrdiff_t chunk = item / w->ob_blocks;
    const ptrdiff_t o0 = (item % w->ob_blocks) * ob;
    const ptrdiff_t ob_count = O - o0 < ob ? O - o0 : ob;
    const ptrdiff_t first = chunk * w->units / w->chunks;
    const ptrdiff_t last = (chunk + 1) * w->units / w->chunks;
    const ptrdiff_t image_size = C * plan->p.height * plan->p.width;
    const ptrdiff_t g_image_size = O * out_h * out_w;
    const ptrdiff_t row_step = plan->p.stride_h * plan->row_stride;
    memset(sums, 0, (size_t)w->sums_elems * sizeof(GCNN_T));
    for (ptrdiff_t unit = first; unit < last; ++unit) {
        /* a unit: images [n0, n0 + images) or one band of image n0 */
        const ptrdiff_t n0 = bands == 1 ? unit * group : unit / bands;
        const ptrdiff_t images = bands == 1 && batch - n0 < group ? batch - n0 : group;
        const ptrdiff_t oy0 = bands == 1 ? 0 : (unit % bands) * band_rows;
        const ptrdiff_t rows = out_h - oy0 < band_rows ? out_h - oy0 : band_rows;
        for (ptrdiff_t i = 0; i < images; ++i)
            GCNN_NAME(fill_panel)(plan, w->x + (n0 + i) * image_size, oy0 * plan->p.stride_h,
                                  (rows - 1) * plan->p.stride_h + KH, w->fillvalue,
                                  panel + (size_t)i * plan->panel_elems);
        int status;
        if (w->cv) {
            GCNN_NAME(gw_cv_unit_fill)(plan, w->grad_out, n0, images, oy0, rows, o0, ob, ob_count,
                                       mine->pix, g_panel);
            status = GCNN_NAME(gw_cv_unit)(panel, plan->tap_offset, taps, g_panel, mine->pix,
                                           images * rows * out_w, w->ov, w->widest, sums);
            if (status != GCNN_OK)
                return status;
            continue;
        }
        for (ptrdiff_t i = 0; i < images; ++i)
            for (ptrdiff_t j = 0; j < ob_count; ++j) {
                GCNN_T *dst = g_panel + i * w->g_image_elems + j * w->g_chan_elems;
                for (ptrdiff_t r = 0; r < rows; ++r)
                    GCNN_NAME(copy_row)(dst + r * w->g_stride,
                                        w->grad_out + (n0 + i) * g_image_size +
                                            ((o0 + j) * out_h + oy0 + r) * out_w,
                                        out_w);
                /* a shorter band than the last: the run's last vector must
                 * not see the old rows below it */
                if (w->flat && rows < band_rows)
                    memset(dst + rows * w->g_stride, 0, GCNN_LANES * sizeof(GCNN_T));
            }
        /* the vectors of a flat run cover (rows - 1) * row_stride + out_w */
        const ptrdiff_t run = (rows - 1) * w->g_stride + out_w;
        const ptrdiff_t tile_rows = w->flat ? 1 : rows;
        const ptrdiff_t full_vectors =
            w->flat ? (run + GCNN_LANES - 1) / GCNN_LANES : out_w / GCNN_LANES;
        const ptrdiff_t tail = w->flat ? 0 : out_w % GCNN_LANES;
        for (ptrdiff_t c = 0; c < C; ++c)
            for (ptrdiff_t ky = 0; ky < KH; ++ky)
                for (ptrdiff_t kx0 = 0; kx0 < KW; kx0 += w->tw) {
                    const ptrdiff_t tap = (c * KH + ky) * KW + kx0;
                    status = GCNN_NAME(run_gw_tile)(
                        ob, KW - kx0 < w->tw ? KW - kx0 : w->tw, panel,
                        (ptrdiff_t)plan->panel_elems, row_step, plan->tap_offset + tap, g_panel,
                        w->g_image_elems, w->g_stride, w->g_chan_elems, images, tile_rows,
                        full_vectors, tail, sums + tap * ob * GCNN_LANES);
                    if (status != GCNN_OK)
                        return status;
                }
    }
    GCNN_T *restrict out = w->partial + (w->chunks > 1 ? chunk * w->wsize : 0);
    if (w->cv) { /* lanes are channels: a transposed copy */
        for (ptrdiff_t t = 0; t < taps; ++t)
            for (ptrdiff_t j = 0; j < ob_count; ++j)
                out[(o0 + j) * taps + t] = sums[t * ob + j];
    } else { /* lanes are pixels: summed in a fixed order */
        for (ptrdiff_t t = 0; t < taps; ++t)
            for (ptrdiff_t j = 0; j < ob_count; ++j) {
                const GCNN_T *lanes = sums + (t * ob + j) * GCNN_LANES;
                GCNN_T total = lanes[0];
                for (ptrdiff_t lane = 1; lane < GCNN_LANES; ++lane)
                    total += lanes[lane];
                out[(o0 + j) * taps + t] = total;
            }
    }
    return GCNN_OK;
}

static int GCNN_NAME(grad_weight)(const gcnn_corr2d_params *params, const GCNN_T *x,
                                  const GCNN_T *grad_out, GCNN_T fillvalue,
                                  GCNN_T *grad_w)
{
    if (params->dilate_h > 1 || params->dilate_w > 1)
        return GCNN_EINVAL;
    struct gcnn_plan plan;
    int status = gcnn_plan_make(params, sizeof(GCNN_T), GCNN_LANES, GCNN_ACC, 1, &plan);
    if (status != GCNN_OK)
        return status;

    const ptrdiff_t batch = plan.p.batch, O = plan.p.out_channels, taps = plan.taps;
    const ptrdiff_t out_h = plan.out_h, out_w = plan.out_w;
    const ptrdiff_t band_rows = plan.band_rows;
    const ptrdiff_t bands = (out_h + band_rows - 1) / band_rows;
    const int flat = plan.p.stride_h == 1 && plan.p.stride_w == 1;

    /* Tiles: vectors along the output rows (flat runs at unit strides), or
     * vectors of output channels.  On short rows the channel-vector tile
     * wins ties of lane use: 40 channels at 8x8 outputs, where both fill
     * 80-83%, ran 2x faster with it on one thread. */
    const double row_use =
        flat ? (double)(band_rows * out_w) /
                   (double)(((band_rows - 1) * plan.row_stride + out_w + GCNN_LANES - 1) /
                            GCNN_LANES * GCNN_LANES)
             : gcnn_row_lane_use(out_w, GCNN_LANES);
    /* Rows no longer than a vector are where channel vectors pay best: there
     * they take ties of lane use and may be four vectors wide.  On long rows
     * the row tiles stay ahead unless channel vectors fill clearly more
     * (64 channels of 60x60: four vectors would fill 100% against 94%, and
     * were 1.4x slower). */
    const int short_rows = out_w <= GCNN_LANES;
    ptrdiff_t widest = GCNN_ACC >= GCNN_MAX_CV * GCNN_MAX_CV_PIXELS ? GCNN_MAX_CV_PIXELS : 4;
    ptrdiff_t cv_vectors = gcnn_cv_vectors(O, GCNN_LANES, GCNN_ACC / widest);
    if (short_rows && GCNN_ACC >= GCNN_GW_MAX_CV * GCNN_GW_CV4_TAPS &&
        cv_vectors == GCNN_MAX_CV &&
        gcnn_cv_lane_use(O, GCNN_LANES, GCNN_GW_MAX_CV) >
            gcnn_cv_lane_use(O, GCNN_LANES, cv_vectors) + GCNN_CV_MIN_GAIN) {
        cv_vectors = GCNN_GW_MAX_CV;
        widest = GCNN_GW_CV4_TAPS;
    }
    const int cv = GCNN_VECTORS && gcnn_cv_lane_use(O, GCNN_LANES, cv_vectors) >
                                       row_use + (short_rows ? -1 : 1) * GCNN_CV_MIN_GAIN;
    ptrdiff_t ob, tw = 1, ov = 0;
    if (cv) {
        ov = cv_vectors;
        ob = ov * GCNN_LANES;
    } else {
        /* (on AVX2 4 channels x 3 taps: a whole 3x3 kernel row per pass
         * over the unit's panel instead of two passes of 2 and 1 taps) */
        gcnn_gw_tile_shape(&plan, GCNN_ACC_PRODUCTS, &ob, &tw);
    }
    /* grad_out panel of one image: rows: [j][row][g_stride] (+ a vector of
     * zeros after each channel's rows when flat); channels: [pixel][j] */
    const ptrdiff_t g_stride = flat ? plan.row_stride
                                    : (out_w + GCNN_LANES - 1) / GCNN_LANES * GCNN_LANES;
    const ptrdiff_t g_chan_elems = band_rows * g_stride + (flat ? GCNN_LANES : 0);
    const ptrdiff_t g_image_elems = cv ? band_rows * out_w * ob : ob * g_chan_elems;
    /* Small images: several whole images per unit, so that a tile runs
     * long enough to pay for loading and storing its sums. */
    ptrdiff_t group = 1;
    if (bands == 1) {
        const size_t image_bytes = plan.panel_elems * sizeof(GCNN_T);
        const size_t g_bytes = (size_t)g_image_elems * sizeof(GCNN_T);
        const size_t g_limit = cv ? GCNN_GW_CV_PANEL_BYTES : GCNN_GW_G_PANEL_BYTES;
        group = (ptrdiff_t)(GCNN_PANEL_TARGET_BYTES / image_bytes);
        if ((size_t)group > g_limit / g_bytes)
            group = (ptrdiff_t)(g_limit / g_bytes);
        if (group > batch)
            group = batch;
        if (group < 1)
            group = 1;
    }
    /* x and grad_out exist in memory, so these products cannot overflow */
    const ptrdiff_t units = bands == 1 ? (batch + group - 1) / group : batch * bands;
    const ptrdiff_t unit_pixels = group * band_rows * out_w;
    ptrdiff_t wsize, sums_elems;
    if (!mul_ok(O, taps, &wsize) || !mul_ok(cv ? ob : ob * GCNN_LANES, taps, &sums_elems) ||
        (size_t)wsize > SIZE_MAX / sizeof(GCNN_T) / GCNN_GW_MAX_CHUNKS ||
        plan.panel_elems > SIZE_MAX / sizeof(GCNN_T) / (size_t)group ||
        (size_t)sums_elems > SIZE_MAX / sizeof(GCNN_T) - GCNN_ALIGN) {
        gcnn_plan_free(&plan);
        return GCNN_EOVERFLOW;
    }
    const size_t wbytes = (size_t)wsize * sizeof(GCNN_T);
    const ptrdiff_t pixel_chunks = batch * out_h * out_w / GCNN_GW_MIN_CHUNK_PIXELS;
    const ptrdiff_t ob_blocks = (O + ob - 1) / ob;
    ptrdiff_t chunks = units < GCNN_GW_MAX_CHUNKS ? units : GCNN_GW_MAX_CHUNKS;
    ptrdiff_t wanted = pixel_chunks;
    if (wanted * ob_blocks < GCNN_GW_MIN_ITEMS)
        wanted = (GCNN_GW_MIN_ITEMS + ob_blocks - 1) / ob_blocks;
    if (chunks > wanted)
        chunks = wanted > 1 ? wanted : 1;
    while (chunks > 1 && (size_t)chunks * wbytes > GCNN_GW_PARTIAL_BYTES)
        --chunks;
    GCNN_T *partial = grad_w;
    if (chunks > 1) {
        partial = malloc((size_t)chunks * wbytes);
        if (partial == NULL) {
            gcnn_plan_free(&plan);
            return GCNN_ENOMEM;
        }
    }
    struct GCNN_NAME(gw_scratch) *scratch = calloc((size_t)plan.threads, sizeof *scratch);
    if (scratch == NULL) {
        if (chunks > 1)
            free(partial);
        gcnn_plan_free(&plan);
        return GCNN_ENOMEM;
    }
    const struct GCNN_NAME(gw_work) work = {
        &plan,    x,      grad_out,   fillvalue,     partial,      scratch,     ob,
        tw,       ov,     widest,     cv,            flat,         group,       bands,
        units,    chunks, ob_blocks,  wsize,         sums_elems,   unit_pixels, g_stride,
        g_chan_elems, g_image_elems};
    const gcnn_poll poll = {params->interrupted, params->interrupt_ctx};
    int failed = gcnn_parallel_for(chunks * ob_blocks, plan.threads, GCNN_NAME(gw_item),
                                   (void *)&work, params->interrupted ? &poll : NULL);
    for (int t = 0; t < plan.threads; ++t) {
        free(scratch[t].panel);
        free(scratch[t].g);
        free(scratch[t].sums);
        free(scratch[t].pix);
    }
    free(scratch);
    if (chunks > 1) {
        if (failed == GCNN_OK)
            for (ptrdiff_t i = 0; i < wsize; ++i) {
                GCNN_T total = partial[i];
                for (ptrdiff_t chunk = 1; chunk < chunks; ++chunk)
                    total += partial[chunk * wsize + i];
                grad_w[i] = total;
            }
        free(partial);
    }
    gcnn_plan_free(&plan);
    return failed;
}
