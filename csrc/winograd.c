/*
 * Winograd's minimal filtering F(m x m, r x r) for the correlation
 * primitive: F(2x2,3x3), F(4x4,3x3) and F(2x2,5x5) (Lavin & Gray 2016,
 * "Fast Algorithms for Convolutional Neural Networks").  With the
 * transforms of this file,
 *
 *     Y = A^T [ (G g G^T) . (B^T d B) ] A
 *
 * is the m x m output tile of the correlation of the alpha x alpha input
 * tile d (alpha = m + r - 1) with the r x r filter g ("." the elementwise
 * product).  Over channels the elementwise products become, for each of
 * the alpha^2 frequencies, a product of matrices: (out_channels x in_channels)
 * transformed filters times (in_channels x tiles) transformed inputs.
 *
 * This file holds the type-free part: the transform matrices, the plan
 * (tile layout, band of tile rows per work item, register tile), the
 * instantiation of winograd_impl.h for float and double on every
 * instruction-set path, and the dispatch.
 */
#include "winograd.h"

#include "kernel_common.h"

#include <stdlib.h>
#include <string.h>
#if GCNN_X86_PATHS
#include <immintrin.h> /* the AVX2 path's phase shuffles (winograd_impl.h) */
#endif

/* Tile positions a work item aims at: enough that the products of one
 * frequency reuse each transformed filter for many vectors of positions...
 * (a whole 32x32 image is 72 positions with F(4x4,3x3)) */
#define GCNN_WINO_TARGET_POSITIONS 128
/* ...but at most this many bytes of transformed input (alpha^2 x channels x
 * positions), and as many again of products, per thread. */
#define GCNN_WINO_MAX_ITEM_BYTES (2 * 1024 * 1024)
/* Below this many multiply-adds (counted as direct correlation) a call runs
 * on one thread, as in corr2d.c. */
#define GCNN_WINO_PARALLEL_MIN_MACS (1 << 20)
/* The widest register tile: output channels x vectors of tile positions. */
#define GCNN_WINO_MAX_OB 8
#define GCNN_WINO_MAX_NV 3
/* Every (ob, nv) register tile gcnn_wino_plan_make produces: X(OB, NV) for
 * each, so that the loop bodies' switches instantiate exactly these. */
#define GCNN_WINO_TILES(X) X(8, 3) X(4, 3) X(4, 2) X(2, 3) X(1, 3)
#define GCNN_WINO_MAX_ALPHA 6
#define GCNN_WINO_MAX_KERNEL 5

/* Input transform B^T, filter transform G and output transform A^T of
 * F(2x2,3x3) and F(4x4,3x3), the interpolation points 0, -1, 1 (and 2, -2
 * for m = 4) and infinity of Lavin & Gray.  The loop bodies read them with
 * constant indices after unrolling, so zero entries cost nothing and ones
 * no multiplication.
 *
 * B^T depends only on the points, so F(2x2,5x5), with the six points of
 * F(4x4,3x3), shares its B^T; its G and A^T evaluate at the same points
 * with the same scale per point (row p of G is s_p (1, p, ..., p^4), column
 * p of A^T is (1, p); the point at infinity picks the last coefficient). */
static const double gcnn_wino_bt2[4][4] = {
    {1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double gcnn_wino_g2[4][3] = {
    {1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double gcnn_wino_at2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

static const double gcnn_wino_bt4[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double gcnn_wino_g4[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1}};
static const double gcnn_wino_at4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

static const double gcnn_wino_g25[6][5] = {
    {1.0 / 4, 0, 0, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
    {0, 0, 0, 0, 1}};
static const double gcnn_wino_at25[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};

/* The matrices of F(M x M, R x R); alpha = M + R - 1 is 6 when M + R = 7. */
#define GCNN_WINO_BT(M, R, i, k)                                               \
    ((M) + (R) == 7 ? gcnn_wino_bt4[i][k] : gcnn_wino_bt2[i][k])
#define GCNN_WINO_G(M, R, i, k)                                                \
    ((M) == 4 ? gcnn_wino_g4[i][k] : (R) == 5 ? gcnn_wino_g25[i][k] : gcnn_wino_g2[i][k])
#define GCNN_WINO_AT(M, R, i, k)                                               \
    ((M) == 4 ? gcnn_wino_at4[i][k] : (R) == 5 ? gcnn_wino_at25[i][k] : gcnn_wino_at2[i][k])

/* Tiles are laid out band by band: a band holds `band` rows of tiles, and
 * tile row r of a band owns positions r * row_slots .. r * row_slots +
 * tiles_x of the band's position axis.  Position l of a row is the tile
 * whose input starts at padded column l * m, and the (alpha - 1) / m extra
 * positions from l = tiles_x hold the last tile's rightmost input columns,
 * so that tap k of tile l is input phase k % m at position l + k / m: every
 * load of the input transform is a contiguous vector.  The extra positions (and
 * those that round the band up to whole vectors) are computed and
 * dropped. */
struct gcnn_wino_plan {
    gcnn_corr2d_params p;
    ptrdiff_t out_h, out_w;
    int tile, kernel, alpha; /* m, r and m + r - 1 */
    ptrdiff_t tiles_y, tiles_x, row_slots;
    ptrdiff_t band, bands;   /* tile rows per work item, items per image */
    ptrdiff_t positions;     /* per item: band * row_slots rounded up to vectors */
    ptrdiff_t phase_len;     /* positions + one vector and the extra positions */
    int ob, nv;              /* register tile */
    ptrdiff_t ob_blocks;
    int threads;
    /* elements between two frequencies of V[xi][c][position] and of
     * M[xi][o][position]: whole planes plus one cache line, so that the
     * alpha^2 streams of a transform do not all fall into one cache set */
    ptrdiff_t v_freq_stride, m_freq_stride;
    size_t buf_elems, v_elems, m_elems, y_elems, u_elems;
    /* The weight gradient (gcnn_wino_gw_plan_make): channels rounded up to
     * whole vectors (cp) and output channels to whole register tiles
     * (opad); units (image, band) summed in `chunks` fixed groups; per
     * worker the channel-minor input phases of one vector of channels
     * (xbuf), the transformed inputs Vt[xi][position][c] (vt), one output
     * channel's gradient phases (gbuf) and the transformed gradients
     * W[xi][o][position] (wt); per chunk a partial sum M[xi][o][c]. */
    ptrdiff_t cp, opad, units, chunks;
    size_t xbuf_elems, vt_elems, gbuf_elems, wt_elems, part_elems;
};

int gcnn_winograd_applies(const gcnn_corr2d_params *p, int tile)
{
    const int kernel_ok = p->kernel_h == p->kernel_w &&
                          (p->kernel_h == 3 || (p->kernel_h == 5 && tile != 4));
    return kernel_ok && (tile == 0 || tile == 2 || tile == 4) && p->stride_h == 1 &&
           p->stride_w == 1 && p->dilate_h <= 1 && p->dilate_w <= 1 &&
           p->boundary == GCNN_BOUNDARY_FILL;
}

/* Positions of one image's tiles for tile m, rounded up to whole vectors of
 * the widest path (16 floats): the lanes the products pay for. */
static double gcnn_wino_positions(ptrdiff_t out_h, ptrdiff_t out_w, ptrdiff_t m, ptrdiff_t r)
{
    const double used =
        (double)((out_h + m - 1) / m) * (double)((out_w + m - 1) / m + (m + r - 2) / m);
    if (used >= 1e15) /* too many to matter (and to round in an integer) */
        return used;
    return (double)(((long long)used + 15) / 16 * 16);
}

/* The share of those lanes that hold tiles of the output. */
static double gcnn_wino_lane_use(ptrdiff_t out_h, ptrdiff_t out_w, ptrdiff_t m, ptrdiff_t r)
{
    const double tiles = (double)((out_h + m - 1) / m) * (double)((out_w + m - 1) / m);
    return tiles / gcnn_wino_positions(out_h, out_w, m, r);
}

int gcnn_winograd_best_tile(ptrdiff_t kernel, ptrdiff_t out_h, ptrdiff_t out_w)
{
    if (kernel != 3) /* 5x5: F(2x2,5x5) alone */
        return 2;
    /* multiplications per channel pair: alpha^2 per position */
    const double cost2 = 16.0 * gcnn_wino_positions(out_h, out_w, 2, 3);
    const double cost4 = 36.0 * gcnn_wino_positions(out_h, out_w, 4, 3);
    return cost4 < cost2 ? 4 : 2;
}

/* The AVX2 path (16 registers): its direct tiles keep 8 accumulators and
 * load about one value per multiply-add, so Winograd pays on smaller maps
 * than with AVX-512.  Measured on an AMD EPYC (Zen 3, AVX2), float32, one
 * thread, batch 64 (fewer from 12x12 up), 3x3, against direct correlation
 * (docs/design.md, section 9.1):
 * - forward and input gradient, 16 to 64 channels in and out: F(2x2,3x3)
 *   took 0.28-1.15x the direct time at 6x6 to 16x16 outputs (median
 *   0.65x, 3 of 40 cases slower), 0.58-0.95x at 4x4 from 24 channels (16
 *   channels: 1.09x and 0.88x); F(4x4,3x3) 0.23-0.68x from 24x24 up,
 *   0.76x of F(2x2,3x3) there (median); with 8 channels direct won 6 of
 *   14 cases below 32x32, so the rule starts at 16;
 * - weight gradient: F(2x2,3x3) took 0.39-0.92x the direct time from 8x8
 *   outputs and 16 channels (median 0.58x) but 0.83-1.40x at 4x4 and 6x6
 *   (5 of 8 slower); F(4x4,3x3) took 0.61-0.96x of F(2x2,3x3) from 24x24
 *   outputs and 24 channels. */
static int gcnn_wino_avx2(const gcnn_corr2d_params *p)
{
    return gcnn_simd_resolve(p->simd) == GCNN_SIMD_AVX2 && p->kernel_h == 3;
}

/* The channels the rules count: the fewer of input and output channels. */
static ptrdiff_t gcnn_wino_channels(const gcnn_corr2d_params *p)
{
    return p->in_channels < p->out_channels ? p->in_channels : p->out_channels;
}

static ptrdiff_t gcnn_wino_side(ptrdiff_t out_h, ptrdiff_t out_w)
{
    return out_h < out_w ? out_h : out_w;
}

/* The generic and AVX-512 rule for 3x3 forward calls: the tile, or 0 for
 * direct correlation.  The transforms cost a fixed amount per input and
 * output value, the products save in proportion to the channels, and
 * positions that round an image up to whole vectors are paid for and
 * dropped.
 * - Measured on an AMD EPYC (Zen 5, AVX-512), float32, one thread, against
 *   direct correlation (see docs/design.md, section 9.1): 16 channels in
 *   and out at 20x20 and 28x28 outputs gained 1.4-1.6x, 12 channels lost
 *   10%; 16x16 outputs, whose F(4x4,3x3) tiles fill half their lanes, lost
 *   up to 30% at 16 channels and 8x8 ones lost more; 64x64 gained 1.3-1.6x
 *   from 32 channels up.  Hence the cheaper tile, from 16 channels, when
 *   it fills 70% of its lanes.
 * - Measured on an Intel Xeon (AVX-512), float32, batch 64 (32 from 16x16
 *   outputs), forward and input gradient, 1 and 2 threads: where the
 *   cheaper tile is F(4x4,3x3) with half its lanes empty (12x12 and 16x16
 *   outputs), F(2x2,3x3) fills 75% and 90% of its lanes and took 0.64-0.98x
 *   the direct time from 24 channels (16 channels: 0.59-0.68x at 12x12 but
 *   1.07-1.19x at 16x16, where direct rows fill whole vectors); at 6x6
 *   outputs (56% of F(2x2,3x3)'s lanes) it took 0.78-0.88x from 32
 *   channels, at 8x8 (50%) 0.84-1.05x, and at 4x4 1.4-1.8x. */
static int gcnn_wino_lanes_tile(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w)
{
    const ptrdiff_t channels = gcnn_wino_channels(p);
    if (channels < 16)
        return 0;
    const int m = gcnn_winograd_best_tile(3, out_h, out_w);
    if (gcnn_wino_lane_use(out_h, out_w, m, 3) >= 0.7)
        return m;
    const double use2 = gcnn_wino_lane_use(out_h, out_w, 2, 3);
    if ((channels >= 24 && use2 >= 0.7) || (channels >= 32 && use2 >= 0.55))
        return 2;
    return 0;
}

int gcnn_winograd_auto_tile(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w,
                            int weight_gradient)
{
    if (!gcnn_wino_avx2(p)) {
        const int tile = p->kernel_h == 3 && !weight_gradient
                             ? gcnn_wino_lanes_tile(p, out_h, out_w)
                             : 0;
        return tile ? tile : gcnn_winograd_best_tile(p->kernel_h, out_h, out_w);
    }
    const ptrdiff_t side = gcnn_wino_side(out_h, out_w);
    if (!weight_gradient)
        return side >= 20 ? 4 : 2;
    const ptrdiff_t channels = gcnn_wino_channels(p);
    return side >= 24 && channels >= 24 ? 4 : 2;
}

int gcnn_winograd_pays(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w)
{
    if (gcnn_wino_avx2(p)) {
        const ptrdiff_t channels = gcnn_wino_channels(p);
        const ptrdiff_t side = gcnn_wino_side(out_h, out_w);
        return (channels >= 16 && side >= 6) || (channels >= 24 && side >= 4);
    }
    const ptrdiff_t channels = gcnn_wino_channels(p);
    if (p->kernel_h == 5) {
        /* F(2x2,5x5), on the AMD EPYC (Zen 5) of gcnn_wino_lanes_tile: 64
         * channels in and out gained 1.2x at 20x20 to 32x32 outputs and 1.6x
         * at 40x40 and 48x48, 128 channels 1.5x and 1.8x, 32 channels only
         * from 40x40 (1.3x); 16x16 and smaller outputs lost 5-30%, and so did
         * 16 channels and fewer. */
        const ptrdiff_t side = gcnn_wino_side(out_h, out_w);
        return side >= 20 && (channels >= 64 || (channels >= 32 && side >= 40));
    }
    return gcnn_wino_lanes_tile(p, out_h, out_w) != 0;
}

/* fixed_split: the bands depend on the sizes only, never on the thread
 * count (the weight gradient's sums are grouped by band). */
int gcnn_winograd_gw_pays(const gcnn_corr2d_params *p, ptrdiff_t out_h, ptrdiff_t out_w)
{
    /* Measured like gcnn_winograd_pays, one thread, against the direct
     * weight gradient, whose speed depends on how its channel vectors fill
     * (docs/design.md, section 9.2): 3x3, 24x24 outputs, batch 64: 24
     * channels 1.2x, 32 channels 1.0x, 40 channels 1.7x; 32x32 (batch 32):
     * 64 channels 2.4-2.7x, 16 channels 1.3-1.5x but 26x26 with 16 channels
     * 0.6x; 10x10 and smaller outputs 0.5-1.5x.  5x5 (F(2x2,5x5)), batch 32:
     * 64 channels 1.4x at 8x8 outputs to 1.9x at 16x16, 128 channels at
     * 62x62 2.4-2.7x; 32 channels at 32x32 1.0x. */
    const ptrdiff_t channels = gcnn_wino_channels(p);
    const ptrdiff_t side = gcnn_wino_side(out_h, out_w);
    if (gcnn_wino_avx2(p))
        return channels >= 16 && side >= 8;
    if (p->kernel_h == 5)
        return channels >= 64 && side >= 8;
    return channels >= 24 && side >= 16;
}

static int gcnn_wino_plan_make(const gcnn_corr2d_params *params, int tile, size_t elem_size,
                               ptrdiff_t lanes, int acc_regs, int fixed_split,
                               struct gcnn_wino_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    int status = gcnn_corr2d_out_shape(params, &plan->out_h, &plan->out_w);
    if (status != GCNN_OK)
        return status;
    if ((tile != 2 && tile != 4) || !gcnn_winograd_applies(params, tile))
        return GCNN_EINTERNAL;
    plan->p = *params;
    const gcnn_corr2d_params *p = &plan->p;
    plan->tile = tile;
    plan->kernel = (int)p->kernel_h;
    plan->alpha = tile + plan->kernel - 1;
    const ptrdiff_t extra = (plan->alpha - 1) / tile; /* extra positions per row */
    plan->tiles_y = (plan->out_h + tile - 1) / tile;
    plan->tiles_x = (plan->out_w + tile - 1) / tile;
    plan->row_slots = plan->tiles_x + extra;

    /* Register tile: 8 output channels x 3 vectors with 24 accumulators,
     * 4 x 3 with 12 (AVX2), 4 x 2 with 8; fewer channels when there are
     * fewer. */
    plan->ob = acc_regs >= 24 ? 8 : 4;
    while (plan->ob > 1 && plan->ob / 2 >= p->out_channels)
        plan->ob /= 2;
    plan->nv = acc_regs / plan->ob < GCNN_WINO_MAX_NV ? acc_regs / plan->ob : GCNN_WINO_MAX_NV;
    plan->ob_blocks = (p->out_channels + plan->ob - 1) / plan->ob;

    plan->threads = 1;
    ptrdiff_t macs;
    if (p->num_threads > 1 && gcnn_threads_available()) {
        if (mul_ok(p->batch, p->out_channels, &macs) && mul_ok(macs, plan->out_h, &macs) &&
            mul_ok(macs, plan->out_w, &macs) && mul_ok(macs, p->in_channels, &macs) &&
            mul_ok(macs, p->kernel_h * p->kernel_w, &macs)) {
            if (macs >= GCNN_WINO_PARALLEL_MIN_MACS)
                plan->threads = p->num_threads;
        } else {
            plan->threads = p->num_threads;
        }
        if (plan->threads > GCNN_MAX_THREADS)
            plan->threads = GCNN_MAX_THREADS;
    }

    /* Band: about GCNN_WINO_TARGET_POSITIONS positions within the bytes
     * allowed, but enough items for every thread to get several.  (The
     * numbers do not depend on the band: each tile's sums are the same
     * wherever it falls.) */
    /* bytes per position of the larger of V and M */
    ptrdiff_t widest = p->in_channels > plan->ob_blocks * plan->ob ? p->in_channels
                                                                    : plan->ob_blocks * plan->ob;
    if (!mul_ok(widest, (ptrdiff_t)plan->alpha * plan->alpha * (ptrdiff_t)elem_size, &widest))
        return GCNN_EOVERFLOW;
    ptrdiff_t target = GCNN_WINO_MAX_ITEM_BYTES / widest;
    if (target > GCNN_WINO_TARGET_POSITIONS)
        target = GCNN_WINO_TARGET_POSITIONS;
    ptrdiff_t band = target / plan->row_slots;
    if (band < 1)
        band = 1;
    if (band > plan->tiles_y)
        band = plan->tiles_y;
    while (band > 1 && plan->threads > 1 && !fixed_split &&
           p->batch * ((plan->tiles_y + band - 1) / band) < 4 * plan->threads)
        band = (band + 1) / 2;
    /* the same number of items with bands as even as possible: less slack */
    plan->bands = (plan->tiles_y + band - 1) / band;
    plan->band = (plan->tiles_y + plan->bands - 1) / plan->bands;
    band = plan->band;

    ptrdiff_t positions, v_elems, m_elems, y_elems, buf_elems, u_elems;
    if (!mul_ok(band, plan->row_slots, &positions) || !add_ok(positions, lanes - 1, &positions))
        return GCNN_EOVERFLOW;
    positions = positions / lanes * lanes;
    plan->positions = positions;
    plan->phase_len = positions + lanes + extra;
    const ptrdiff_t skew = GCNN_ALIGN / (ptrdiff_t)elem_size;
    if (!mul_ok(p->in_channels, positions, &plan->v_freq_stride) ||
        !add_ok(plan->v_freq_stride, skew, &plan->v_freq_stride) ||
        !mul_ok(plan->ob_blocks * plan->ob, positions, &plan->m_freq_stride) ||
        !add_ok(plan->m_freq_stride, skew, &plan->m_freq_stride) ||
        !mul_ok((ptrdiff_t)plan->alpha * plan->alpha, plan->v_freq_stride, &v_elems) ||
        !mul_ok((ptrdiff_t)plan->alpha * plan->alpha, plan->m_freq_stride, &m_elems) ||
        !mul_ok((ptrdiff_t)tile * tile, positions, &y_elems) ||
        !mul_ok((ptrdiff_t)plan->alpha * tile, plan->phase_len, &buf_elems) ||
        !mul_ok(plan->ob_blocks, plan->ob, &u_elems) ||
        !mul_ok(u_elems, p->in_channels, &u_elems) ||
        !mul_ok(u_elems, (ptrdiff_t)plan->alpha * plan->alpha, &u_elems))
        return GCNN_EOVERFLOW;
    /* every scratch buffer's bytes, with alignment, must fit size_t too */
    ptrdiff_t total;
    if (!add_ok(v_elems, m_elems, &total) || !add_ok(total, y_elems, &total) ||
        !add_ok(total, buf_elems, &total) || !add_ok(total, u_elems, &total) ||
        !mul_ok(total, (ptrdiff_t)elem_size, &total) || !add_ok(total, 8 * GCNN_ALIGN, &total))
        return GCNN_EOVERFLOW;
    plan->v_elems = (size_t)v_elems;
    plan->m_elems = (size_t)m_elems;
    plan->y_elems = (size_t)y_elems;
    plan->buf_elems = (size_t)buf_elems;
    plan->u_elems = (size_t)u_elems;

    return GCNN_OK;
}

/* Chunks of the weight gradient: at most this many partial sums, and at
 * most this many bytes of them together. */
#define GCNN_WINO_GW_MAX_CHUNKS 16
#define GCNN_WINO_GW_PARTIAL_BYTES ((ptrdiff_t)64 << 20)

/* The plan of the weight gradient: the forward plan (fixed bands) and the
 * buffers of gcnn_wino_plan's second part.  The grad_out view of the call is
 * the forward call's output; output channels are the gradient's rows. */
static int gcnn_wino_gw_plan_make(const gcnn_corr2d_params *params, int tile, size_t elem_size,
                                  ptrdiff_t lanes, int acc_regs, struct gcnn_wino_plan *plan)
{
    int status = gcnn_wino_plan_make(params, tile, elem_size, lanes, acc_regs, 1, plan);
    if (status != GCNN_OK)
        return status;
    const gcnn_corr2d_params *p = &plan->p;
    const ptrdiff_t A = plan->alpha, M = plan->tile, P = plan->positions, S = plan->phase_len;
    /* register tile: ob output channels x nv vectors of input channels */
    plan->cp = (p->in_channels + lanes - 1) / lanes * lanes;
    plan->opad = plan->ob_blocks * plan->ob;
    ptrdiff_t xbuf, vt, gbuf, wt, part, scratch, partials;
    if (!mul_ok(A * M, S, &xbuf) || !mul_ok(xbuf, lanes, &xbuf) ||
        !mul_ok(A * A * P, plan->cp, &vt) || !mul_ok(M * M, S, &gbuf) ||
        !mul_ok(A * A * P, plan->opad, &wt) ||
        !mul_ok(A * A * plan->opad, plan->cp, &part) || !add_ok(xbuf, vt, &scratch) ||
        !add_ok(scratch, gbuf, &scratch) || !add_ok(scratch, wt, &scratch) ||
        !mul_ok(scratch, (ptrdiff_t)elem_size, &scratch) ||
        !add_ok(scratch, 8 * GCNN_ALIGN, &scratch) ||
        !mul_ok(part, (ptrdiff_t)sizeof(double) * GCNN_WINO_GW_MAX_CHUNKS, &partials) ||
        !add_ok(partials, GCNN_ALIGN, &partials))
        return GCNN_EOVERFLOW;
    plan->xbuf_elems = (size_t)xbuf;
    plan->vt_elems = (size_t)vt;
    plan->gbuf_elems = (size_t)gbuf;
    plan->wt_elems = (size_t)wt;
    plan->part_elems = (size_t)part;
    plan->units = p->batch * plan->bands;
    plan->chunks = plan->units < GCNN_WINO_GW_MAX_CHUNKS ? plan->units : GCNN_WINO_GW_MAX_CHUNKS;
    while (plan->chunks > 1 &&
           plan->chunks * part * (ptrdiff_t)elem_size > GCNN_WINO_GW_PARTIAL_BYTES)
        --plan->chunks;
    return GCNN_OK;
}

/* ---- instantiations ---------------------------------------------------- */

#define GCNN_BODIES "winograd_impl.h"
#include "simd_paths.h"
#undef GCNN_BODIES

int gcnn_winograd_f32(const gcnn_corr2d_params *p, const float *x, const float *w,
                      const float *bias, float fillvalue, float *out, int tile)
{
    GCNN_DISPATCH(p->simd, winograd_f32, (p, x, w, bias, fillvalue, out, tile))
}

int gcnn_winograd_f64(const gcnn_corr2d_params *p, const double *x, const double *w,
                      const double *bias, double fillvalue, double *out, int tile)
{
    GCNN_DISPATCH(p->simd, winograd_f64, (p, x, w, bias, fillvalue, out, tile))
}

int gcnn_winograd_grad_weight_f32(const gcnn_corr2d_params *p, const float *x,
                                  const float *grad_out, float fillvalue, float *grad_w,
                                  int tile)
{
    GCNN_DISPATCH(p->simd, wino_grad_weight_f32, (p, x, grad_out, fillvalue, grad_w, tile))
}

int gcnn_winograd_grad_weight_f64(const gcnn_corr2d_params *p, const double *x,
                                  const double *grad_out, double fillvalue, double *grad_w,
                                  int tile)
{
    GCNN_DISPATCH(p->simd, wino_grad_weight_f64, (p, x, grad_out, fillvalue, grad_w, tile))
}
