/*
 * Batched multi-channel correlation and its weight gradient (see
 * gcnn_kernels.h for the contract).  This file holds the type-free planning
 * and index maps, instantiates corr2d_impl.h and grad_impl.h for float and
 * double on each instruction-set path (and corr2d_impl.h alone for the
 * unsigned integers of int_types.h), and dispatches at run time to the
 * best path the CPU supports.
 */
#include "gcnn_kernels.h"
#include "kernel_common.h"
#include "winograd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if GCNN_X86_PATHS
#include <immintrin.h> /* the flat runs' packed stores (corr2d_impl.h) */
#endif

/* col_src values that are not image columns */
#define GCNN_COL_FILL (-1)  /* outside the image with boundary fill */
#define GCNN_COL_SLACK (-2) /* past the padded row: never written, reads 0 */


#define GCNN_MAX_OB 12     /* widest register tile (AVX-512 only) */
#define GCNN_POW2_MAX_OB 8 /* widest tile every path has; tiles below are 1, 2, 4 */
#define GCNN_MAX_NV 8
#define GCNN_MAX_ROWS 4 /* output rows of a row-blocked tile (one channel) */
/* Channel-vector tiles (small maps): up to GCNN_MAX_CV vectors of output
 * channels x GCNN_MAX_CV_PIXELS pixels (forward) or taps (weight gradient). */
#define GCNN_MAX_CV 3
#define GCNN_MAX_CV_PIXELS 8
/* The weight gradient's channel-vector tiles may also take four vectors of
 * channels by six taps (24 accumulators), for channel counts that fill four
 * vectors much better than blocks of three (56: 88% against 58%). */
#define GCNN_GW_MAX_CV 4
#define GCNN_GW_CV4_TAPS 6
/* Channel-vector tiles replace row tiles when they fill this much more of
 * each vector's lanes. */
#define GCNN_CV_MIN_GAIN 0.05
/* Bytes of transposed grad_out a channel-vector unit may take (L1). */
#define GCNN_GW_CV_PANEL_BYTES (32 * 1024)
/* Bytes of input panel a band aims at: comfortably inside a 1-2 MiB L2. */
#define GCNN_PANEL_TARGET_BYTES (256 * 1024)
/* Bytes allocated after a panel: the widest tile of a flat run reads up to
 * one tile width past the band's last row. */
#define GCNN_PANEL_SLACK (GCNN_MAX_NV * GCNN_ALIGN)
/* Bytes of weights plus tile input one channel block should keep in L1. */
#define GCNN_L1_TARGET_BYTES (32 * 1024)
/* Below this many multiply-adds a call runs on one thread: waking a team
 * costs more than it saves. */
#define GCNN_PARALLEL_MIN_MACS (1 << 20)
/* Weight gradient: the widest tile is GCNN_GW_MAX_OB output channels x
 * GCNN_GW_MAX_TW taps of one kernel row. */
#define GCNN_GW_MAX_OB 8
#define GCNN_GW_MAX_TW 4
/* The weight gradient splits the batch into this many work units at least
 * (cutting images into row bands if needed), whatever the thread count... */
#define GCNN_GW_MIN_UNITS 16
/* ...and sums them in at most this many fixed chunks, each with its own
 * partial gradient, added in order at the end: the same numbers for any
 * thread count.  A chunk covers this many output pixels at least, so that
 * summing the lanes of its vector sums (once per chunk and channel block)
 * stays a small part of the work (under 2% at 3x3 and 8 channels a block).
 * A batch of 64 10x10 maps thus makes 6 chunks: with 4096 it made one, and
 * a 40-channel layer (one block of channel vectors) ran on one thread. */
#define GCNN_GW_MAX_CHUNKS 16
#define GCNN_GW_MIN_CHUNK_PIXELS 1024
/* But a call makes at least this many work items (chunks x blocks of output
 * channels) where it has the units, so that a small layer whose channels
 * make one block still feeds two threads (64 4x4 maps, 56 channels in one
 * block of four vectors: four chunks, not one).  Chunks cost a pass over
 * their sums each, so no more than that: 16 chunks of 10x10 maps were 20%
 * slower than 6. */
#define GCNN_GW_MIN_ITEMS 4
/* Bytes of grad_out panel a unit may take: every tile of the unit streams
 * all of it, so it should stay in L1. */
#define GCNN_GW_G_PANEL_BYTES (16 * 1024)
/* Memory the partial gradients may take before chunks are merged. */
#define GCNN_GW_PARTIAL_BYTES ((size_t)64 << 20)

/* Everything a call derives from its parameters before touching data. */
struct gcnn_plan {
    gcnn_corr2d_params p;
    ptrdiff_t out_h, out_w, padded_w;
    ptrdiff_t ob, nv, ob_blocks; /* register tile: ob channels x nv vectors */
    ptrdiff_t row_block;         /* output rows per tile (GCNN_MAX_ROWS or 1) */
    ptrdiff_t cv_vectors;        /* > 0: channel-vector tiles of cv_vectors vectors of */
    ptrdiff_t cv_pixels;         /* channels x cv_pixels pixels (ob = cv_vectors * lanes) */
    int flat;                    /* unit strides: tiles run along a band's rows as one flat
                                    run (panel rows exactly padded_w long) */
    int unrolled_kw;             /* 3 or 5: tiles unroll kernel rows; 0: flat */
    ptrdiff_t phases;            /* stride_w phases kept: min(stride_w, kernel_w) */
    ptrdiff_t phase_stride;      /* elements per stride_w phase of a row */
    ptrdiff_t row_stride;        /* elements per panel row (all kept phases) */
    ptrdiff_t chan_stride;       /* elements per channel of the panel */
    ptrdiff_t band_rows;         /* output rows per work item */
    ptrdiff_t chan_block;        /* input channels per pass over a tile */
    size_t panel_elems;          /* elements of one thread's panel */
    size_t packed_w_bytes;
    ptrdiff_t *col_src;    /* [row_stride] image column of each panel position */
    ptrdiff_t row_used;    /* positions of a panel row up to its last one that is not
                              GCNN_COL_SLACK (the rest are never written) */
    ptrdiff_t taps;        /* in_channels * kernel_h * kernel_w */
    ptrdiff_t *tap_offset; /* [taps] offset of tap (c, ky, kx) in the panel */
    ptrdiff_t dilate_h, dilate_w; /* input dilation, >= 1 */
    int threads;
};

/* Source index of padded position i (image coordinates, may be negative)
 * in an axis of length n; -1 means "use the fill value".  The mirror and
 * wrap rules reproduce scipy.signal's, including far outside the image. */
static ptrdiff_t gcnn_map_index(ptrdiff_t i, ptrdiff_t n, int boundary)
{
    if (i >= 0 && i < n)
        return i;
    if (boundary == GCNN_BOUNDARY_WRAP)
        return ((i % n) + n) % n;
    if (boundary == GCNN_BOUNDARY_SYMM) {
        const ptrdiff_t k = (i >= 0 ? i : -(i + 1)) % (2 * n);
        return k >= n ? 2 * n - k - 1 : k;
    }
    return GCNN_COL_FILL;
}

/* gcnn_map_index on an axis of n pixels spread `dilation` apart (fill
 * boundary only: positions between pixels are fill). */
static ptrdiff_t gcnn_source_index(ptrdiff_t i, ptrdiff_t n, ptrdiff_t dilation,
                                   int boundary)
{
    if (dilation <= 1)
        return gcnn_map_index(i, n, boundary);
    if (i < 0 || i % dilation != 0 || i / dilation >= n)
        return GCNN_COL_FILL;
    return i / dilation;
}

/* Length of an axis of n pixels spread `dilation` apart, or -1 on overflow. */
static ptrdiff_t gcnn_dilated_length(ptrdiff_t n, ptrdiff_t dilation)
{
    if (n == 0 || dilation <= 1)
        return n;
    if (n - 1 > (PTRDIFF_MAX - 1) / dilation)
        return -1;
    return (n - 1) * dilation + 1;
}

int gcnn_corr2d_out_shape(const gcnn_corr2d_params *p, ptrdiff_t *out_h,
                          ptrdiff_t *out_w)
{
    if (p == NULL || out_h == NULL || out_w == NULL)
        return GCNN_EINVAL;
    if (p->batch < 1 || p->in_channels < 1 || p->out_channels < 1 ||
        p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 ||
        p->stride_w < 1 || p->pad_top < 0 || p->pad_bottom < 0 ||
        p->pad_left < 0 || p->pad_right < 0 || p->height < 0 || p->width < 0)
        return GCNN_EINVAL;
    if (p->boundary != GCNN_BOUNDARY_FILL && p->boundary != GCNN_BOUNDARY_WRAP &&
        p->boundary != GCNN_BOUNDARY_SYMM)
        return GCNN_EINVAL;
    if (p->dilate_h < 0 || p->dilate_w < 0 ||
        ((p->dilate_h > 1 || p->dilate_w > 1) && p->boundary != GCNN_BOUNDARY_FILL))
        return GCNN_EINVAL;
    /* Mirror and wrap need an image to take values from. */
    if (p->boundary != GCNN_BOUNDARY_FILL && (p->height == 0 || p->width == 0))
        return GCNN_EINVAL;
    const ptrdiff_t height = gcnn_dilated_length(p->height, p->dilate_h);
    const ptrdiff_t width = gcnn_dilated_length(p->width, p->dilate_w);
    ptrdiff_t padded_h, padded_w;
    if (height < 0 || width < 0 || !add_ok(height, p->pad_top, &padded_h) ||
        !add_ok(padded_h, p->pad_bottom, &padded_h) || !add_ok(width, p->pad_left, &padded_w) ||
        !add_ok(padded_w, p->pad_right, &padded_w))
        return GCNN_EOVERFLOW;
    if (padded_h < p->kernel_h || padded_w < p->kernel_w)
        return GCNN_EINVAL;
    *out_h = (padded_h - p->kernel_h) / p->stride_h + 1;
    *out_w = (padded_w - p->kernel_w) / p->stride_w + 1;
    return GCNN_OK;
}

/* Share of the lanes that vectors along output rows of width w fill. */
static double gcnn_row_lane_use(ptrdiff_t w, ptrdiff_t lanes)
{
    return (double)w / (double)((w + lanes - 1) / lanes * lanes);
}

/* Vectors of output channels in a channel-vector tile: as many as the
 * channels fill, at most `most` (registers) and GCNN_MAX_CV. */
static ptrdiff_t gcnn_cv_vectors(ptrdiff_t channels, ptrdiff_t lanes, ptrdiff_t most)
{
    ptrdiff_t vectors = (channels + lanes - 1) / lanes;
    if (vectors > most)
        vectors = most;
    if (vectors > GCNN_MAX_CV)
        vectors = GCNN_MAX_CV;
    return vectors > 0 ? vectors : 1;
}

/* Share of the lanes that blocks of `vectors` channel vectors fill. */
static double gcnn_cv_lane_use(ptrdiff_t channels, ptrdiff_t lanes, ptrdiff_t vectors)
{
    const ptrdiff_t block = vectors * lanes;
    return (double)channels / (double)((channels + block - 1) / block * block);
}

/* Channel block: a block's packed weights (kh*kw*ob per channel) and the
 * input a tile reads (kh rows of tile_w + kw per channel) fit L1. */
static void gcnn_plan_chan_block(struct gcnn_plan *plan, ptrdiff_t lanes, size_t elem_size)
{
    const gcnn_corr2d_params *p = &plan->p;
    const ptrdiff_t per_channel =
        p->kernel_h * (p->kernel_w * plan->ob + plan->nv * lanes + p->kernel_w) *
        (ptrdiff_t)elem_size;
    plan->chan_block = GCNN_L1_TARGET_BYTES / per_channel;
    if (plan->chan_block < 1)
        plan->chan_block = 1;
    if (plan->chan_block > p->in_channels)
        plan->chan_block = p->in_channels;
}

static void gcnn_plan_free(struct gcnn_plan *plan)
{
    free(plan->col_src);
    free(plan->tap_offset);
    plan->col_src = NULL;
    plan->tap_offset = NULL;
}

/* fixed_split: cut the work into at least GCNN_GW_MIN_UNITS (image, band)
 * units whatever the thread count (the weight gradient's chunks must not
 * depend on it); otherwise bands are cut to feed the threads. */
static int gcnn_plan_make(const gcnn_corr2d_params *params, size_t elem_size,
                          ptrdiff_t lanes, int acc_regs, int fixed_split,
                          struct gcnn_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    int status = gcnn_corr2d_out_shape(params, &plan->out_h, &plan->out_w);
    if (status != GCNN_OK)
        return status;
    const gcnn_corr2d_params *p = &plan->p;
    plan->p = *params;
    plan->dilate_h = p->dilate_h > 1 ? p->dilate_h : 1;
    plan->dilate_w = p->dilate_w > 1 ? p->dilate_w : 1;
    /* cannot overflow: gcnn_corr2d_out_shape computed it */
    plan->padded_w = gcnn_dilated_length(p->width, plan->dilate_w) + p->pad_left + p->pad_right;

    /* Register tile: as many output channels as there are (a power of two up
     * to GCNN_POW2_MAX_OB; 12 is chosen below), then as many pixel vectors as
     * the register file allows, but no wider than the output row needs. */
    plan->ob = 1;
    while (plan->ob < GCNN_POW2_MAX_OB && plan->ob < p->out_channels)
        plan->ob *= 2;
    /* A single output channel at unit vertical stride takes several output
     * rows per tile instead (band_rows), so loads are shared between rows. */
    plan->row_block = plan->ob == 1 && p->stride_h == 1 && plan->out_h >= GCNN_MAX_ROWS
                          ? GCNN_MAX_ROWS
                          : 1;
    plan->nv = plan->row_block > 1 ? 4 : GCNN_MAX_NV;
    while (plan->nv > 1 && plan->row_block * plan->ob * plan->nv > acc_regs)
        plan->nv /= 2;
    while (plan->nv > 1 && (plan->nv / 2) * lanes >= plan->out_w)
        plan->nv /= 2;
    /* With 32 registers, 12 channels x 2 vectors (24 accumulators) load
     * 14 values per 24 multiply-adds instead of 10 per 16 (a tile of ob
     * channels x nv vectors loads ob + nv values per ob * nv multiply-adds);
     * take it when the channels divide well enough that padding to 12s costs
     * less: padded12 * 14 / 24 <= padded8 * 10 / 16. */
    const int wide_ob = GCNN_MAX_OB, narrow_ob = GCNN_POW2_MAX_OB, tile_nv = 2;
    if (acc_regs >= wide_ob * tile_nv && plan->ob == narrow_ob && plan->nv == tile_nv &&
        p->out_channels >= wide_ob * tile_nv) {
        const ptrdiff_t padded_narrow = (p->out_channels + narrow_ob - 1) / narrow_ob * narrow_ob;
        const ptrdiff_t padded_wide = (p->out_channels + wide_ob - 1) / wide_ob * wide_ob;
        if (padded_wide * (wide_ob + tile_nv) * (narrow_ob * tile_nv) <=
            padded_narrow * (narrow_ob + tile_nv) * (wide_ob * tile_nv))
            plan->ob = wide_ob;
    }
    plan->unrolled_kw =
        p->stride_w == 1 && (p->kernel_w == 3 || p->kernel_w == 5) ? (int)p->kernel_w : 0;
    gcnn_plan_chan_block(plan, lanes, elem_size);

    /* Other ways to fill the lanes, taken when they fill clearly more:
     * - flat runs (unit strides, row tiles, no channel blocks): a tile of
     *   vectors need not stop at the end of an output row.  With panel rows
     *   exactly as long as the padded input rows, output (y, x) and its taps
     *   sit at the same flat offset from the band's start, so tiles run over
     *   the band's rows as one run and only the lanes between rows
     *   (padded_w - out_w per row) are wasted, not whole tiles' remainders.
     *   A flat tile takes all input channels in one pass (no channel blocks):
     *   on an AMD EPYC (Zen 4, 48 KiB L1) that was as fast or faster than
     *   blocked row tiles for 48 to 512 channels of 3x3 at 26x26.
     * - channel vectors, for rows much shorter than a vector: lanes hold
     *   output channels, and each tile (a few vectors of channels x a few
     *   pixels) broadcasts one input value per pixel and tap. */
    double best = gcnn_row_lane_use(plan->out_w, plan->nv * lanes);
    const int flat_ok =
        !fixed_split && p->stride_h == 1 && p->stride_w == 1 && plan->row_block == 1;
    const double flat_use = (double)plan->out_w / (double)plan->padded_w;
    if (flat_ok && flat_use > best + GCNN_CV_MIN_GAIN) {
        plan->flat = 1;
        plan->nv = GCNN_MAX_NV;
        while (plan->nv > 1 && plan->ob * plan->nv > acc_regs)
            plan->nv /= 2;
        best = flat_use;
    }
    if (!fixed_split && lanes > 1) {
        const ptrdiff_t pixels =
            acc_regs >= GCNN_MAX_CV * GCNN_MAX_CV_PIXELS ? GCNN_MAX_CV_PIXELS : 4;
        const ptrdiff_t vectors = gcnn_cv_vectors(p->out_channels, lanes, acc_regs / pixels);
        if (gcnn_cv_lane_use(p->out_channels, lanes, vectors) > best + GCNN_CV_MIN_GAIN) {
            plan->flat = 0;
            plan->cv_pixels = pixels;
            plan->cv_vectors = vectors;
            plan->ob = vectors * lanes;
            plan->nv = 1;
            plan->row_block = 1;
            plan->chan_block = p->in_channels; /* (a channel-vector tile takes every tap) */
        }
    }
    plan->ob_blocks = (p->out_channels + plan->ob - 1) / plan->ob;

    /* A phase row holds its share of the padded row plus the slack that the
     * last, partly used tile reads: (out_w rounded up to whole tiles) plus
     * the largest tap shift within a phase. */
    const ptrdiff_t tile_w = plan->nv * lanes;
    const ptrdiff_t tiles = (plan->out_w + tile_w - 1) / tile_w;
    ptrdiff_t need = tiles * tile_w + (p->kernel_w - 1) / p->stride_w;
    const ptrdiff_t data = (plan->padded_w + p->stride_w - 1) / p->stride_w;
    plan->phase_stride = need > data ? need : data;
    /* whole vectors, so that rows stay aligned like the panel's start */
    plan->phase_stride = (plan->phase_stride + lanes - 1) / lanes * lanes;
    /* Flat runs (forward above, and the weight gradient at unit strides,
     * grad_impl.h): rows as short as the padded row waste no lanes.  The
     * last tile of a run reads past the panel: see GCNN_PANEL_SLACK. */
    if (plan->flat || (fixed_split && p->stride_h == 1 && p->stride_w == 1))
        plan->phase_stride = data;
    /* Tap kx reads phase kx % stride_w: with a stride wider than the kernel
     * the remaining phases are never read, so they are not stored. */
    plan->phases = p->stride_w < p->kernel_w ? p->stride_w : p->kernel_w;
    if (!mul_ok(plan->phase_stride, plan->phases, &plan->row_stride))
        return GCNN_EOVERFLOW;

    ptrdiff_t row_bytes, chan_row_bytes, macs;
    if (!mul_ok(plan->row_stride, (ptrdiff_t)elem_size, &row_bytes) ||
        !mul_ok(row_bytes, p->in_channels, &chan_row_bytes))
        return GCNN_EOVERFLOW;

    /* Threads only for work that pays for them; results are the same
     * either way. */
    plan->threads = 1;
    if (p->num_threads > 1 && gcnn_threads_available()) {
        if (mul_ok(p->batch, p->out_channels, &macs) && mul_ok(macs, plan->out_h, &macs) &&
            mul_ok(macs, plan->out_w, &macs) && mul_ok(macs, p->in_channels, &macs) &&
            mul_ok(macs, p->kernel_h, &macs) && mul_ok(macs, p->kernel_w, &macs)) {
            if (macs >= GCNN_PARALLEL_MIN_MACS)
                plan->threads = p->num_threads;
        } else {
            plan->threads = p->num_threads; /* too large to count: surely worth it */
        }
        if (plan->threads > GCNN_MAX_THREADS)
            plan->threads = GCNN_MAX_THREADS;
    }

    /* Band height: fill about GCNN_PANEL_TARGET_BYTES of panel, but cut the
     * image into enough items for every thread to get several. */
    ptrdiff_t band_bytes;
    ptrdiff_t band = mul_ok(chan_row_bytes, p->stride_h, &band_bytes) && band_bytes > 0
                         ? GCNN_PANEL_TARGET_BYTES / band_bytes
                         : 1;
    if (band < 1)
        band = 1;
    if (band > plan->out_h)
        band = plan->out_h;
    if (fixed_split) {
        while (band > 1 && p->batch * ((plan->out_h + band - 1) / band) < GCNN_GW_MIN_UNITS)
            band = (band + 1) / 2;
    } else {
        while (band > 1 && plan->threads > 1 &&
               p->batch * ((plan->out_h + band - 1) / band) < 4 * plan->threads)
            band = (band + 1) / 2;
    }
    plan->band_rows = band;

    ptrdiff_t panel_rows, panel_elems, packed;
    if (!mul_ok(band - 1, p->stride_h, &panel_rows) ||
        !add_ok(panel_rows, p->kernel_h, &panel_rows) ||
        !mul_ok(panel_rows, plan->row_stride, &plan->chan_stride) ||
        !mul_ok(plan->chan_stride, p->in_channels, &panel_elems) ||
        !mul_ok(panel_elems, (ptrdiff_t)elem_size, &packed))
        return GCNN_EOVERFLOW;
    plan->panel_elems = (size_t)panel_elems;
    if (!mul_ok(plan->ob_blocks, plan->ob, &packed) ||
        !mul_ok(packed, p->in_channels, &packed) ||
        !mul_ok(packed, p->kernel_h, &packed) ||
        !mul_ok(packed, p->kernel_w, &packed) ||
        !mul_ok(packed, (ptrdiff_t)elem_size, &packed))
        return GCNN_EOVERFLOW;
    plan->packed_w_bytes = (size_t)packed;

    if (!mul_ok(p->in_channels, p->kernel_h, &plan->taps) ||
        !mul_ok(plan->taps, p->kernel_w, &plan->taps) ||
        (size_t)plan->row_stride > SIZE_MAX / sizeof(ptrdiff_t) ||
        (size_t)plan->taps > SIZE_MAX / sizeof(ptrdiff_t))
        return GCNN_EOVERFLOW;
    plan->col_src = malloc((size_t)plan->row_stride * sizeof(ptrdiff_t));
    plan->tap_offset = malloc((size_t)plan->taps * sizeof(ptrdiff_t));
    if (plan->col_src == NULL || plan->tap_offset == NULL) {
        gcnn_plan_free(plan);
        return GCNN_ENOMEM;
    }
    /* Panel position i of phase ph holds padded column i * stride_w + ph,
     * if that is inside the padded row (compared without multiplying, which
     * could overflow for huge strides). */
    for (ptrdiff_t ph = 0; ph < plan->phases; ++ph)
        for (ptrdiff_t i = 0; i < plan->phase_stride; ++i) {
            ptrdiff_t *dst = &plan->col_src[ph * plan->phase_stride + i];
            if (ph >= plan->padded_w || i > (plan->padded_w - 1 - ph) / p->stride_w)
                *dst = GCNN_COL_SLACK;
            else
                *dst = gcnn_source_index(i * p->stride_w + ph - p->pad_left, p->width,
                                         plan->dilate_w, p->boundary);
        }
    plan->row_used = plan->row_stride;
    while (plan->row_used > 0 && plan->col_src[plan->row_used - 1] == GCNN_COL_SLACK)
        --plan->row_used;
    /* Padded column x*stride_w + kx lives in phase kx % stride_w at index
     * x + kx / stride_w. */
    ptrdiff_t t = 0;
    for (ptrdiff_t c = 0; c < p->in_channels; ++c)
        for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky)
            for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx)
                plan->tap_offset[t++] = c * plan->chan_stride + ky * plan->row_stride +
                                        (kx % p->stride_w) * plan->phase_stride +
                                        kx / p->stride_w;
    return GCNN_OK;
}

/* Register tile of the weight gradient: ob output channels x tw taps of a
 * kernel row, each an accumulator vector along the output row.  A vector
 * step loads ob + tw vectors for ob * tw multiply-adds; take the shape with
 * the best ratio that fits acc_regs accumulators (ties: more channels). */
static void gcnn_gw_tile_shape(const struct gcnn_plan *plan, int acc_regs, ptrdiff_t *ob,
                               ptrdiff_t *tw)
{
    double best = -1.0;
    *ob = *tw = 1;
    for (ptrdiff_t o = 1; o <= GCNN_GW_MAX_OB; o *= 2) {
        if (o > 1 && o / 2 >= plan->p.out_channels)
            break;
        for (ptrdiff_t t = 1; t <= GCNN_GW_MAX_TW && t <= plan->p.kernel_w; ++t) {
            if (o * t > acc_regs)
                continue;
            const double ratio = (double)(o * t) / (double)(o + t);
            if (ratio > best || (ratio == best && o > *ob)) {
                best = ratio;
                *ob = o;
                *tw = t;
            }
        }
    }
}

/* ---- instantiations ---------------------------------------------------- */

#define GCNN_BODIES "corr2d_bodies.h"
#include "simd_paths.h"
#undef GCNN_BODIES

/* The forward body again, on unsigned integers: wrap-around arithmetic. */
#define GCNN_BODIES "corr2d_impl.h"
#define GCNN_TYPES "int_types.h"
#include "simd_paths.h"
#undef GCNN_TYPES
#undef GCNN_BODIES

int gcnn_corr2d_algorithm(const gcnn_corr2d_params *p, int is_double, int *algorithm)
{
    if (p == NULL || algorithm == NULL)
        return GCNN_EINVAL;
    ptrdiff_t out_h, out_w;
    const int status = gcnn_corr2d_out_shape(p, &out_h, &out_w);
    if (status != GCNN_OK)
        return status;
    const int applies = gcnn_winograd_applies(p, 0);
    const int tile = (p->algorithm == GCNN_ALGORITHM_AUTO
                          ? gcnn_winograd_auto_tile(p, out_h, out_w, 0)
                          : gcnn_winograd_best_tile(p->kernel_h, out_h, out_w)) == 4
                         ? GCNN_ALGORITHM_WINOGRAD_4
                         : GCNN_ALGORITHM_WINOGRAD_2;
    switch (p->algorithm) {
    case GCNN_ALGORITHM_AUTO:
        *algorithm = applies && !is_double && gcnn_winograd_pays(p, out_h, out_w)
                         ? tile
                         : GCNN_ALGORITHM_DIRECT;
        return GCNN_OK;
    case GCNN_ALGORITHM_DIRECT:
        *algorithm = GCNN_ALGORITHM_DIRECT;
        return GCNN_OK;
    case GCNN_ALGORITHM_WINOGRAD:
        *algorithm = applies ? tile : GCNN_ALGORITHM_DIRECT;
        return GCNN_OK;
    case GCNN_ALGORITHM_WINOGRAD_2:
    case GCNN_ALGORITHM_WINOGRAD_4:
        *algorithm = p->algorithm;
        return gcnn_winograd_applies(p, p->algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? 4 : 2)
                   ? GCNN_OK
                   : GCNN_EINVAL;
    default:
        return GCNN_EINVAL;
    }
}

int gcnn_corr2d_f32(const gcnn_corr2d_params *p, const float *x,
                    const float *w, const float *bias, float fillvalue,
                    float *out)
{
    if (p == NULL || x == NULL || w == NULL || out == NULL)
        return GCNN_EINVAL;
    int algorithm;
    const int status = gcnn_corr2d_algorithm(p, 0, &algorithm);
    if (status != GCNN_OK)
        return status;
    if (algorithm == GCNN_ALGORITHM_WINOGRAD_2 || algorithm == GCNN_ALGORITHM_WINOGRAD_4)
        return gcnn_winograd_f32(p, x, w, bias, fillvalue, out,
                                 algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? 4 : 2);
    GCNN_DISPATCH(p->simd, corr2d_f32, (p, x, w, bias, fillvalue, out))
}

int gcnn_corr2d_f64(const gcnn_corr2d_params *p, const double *x,
                    const double *w, const double *bias, double fillvalue,
                    double *out)
{
    if (p == NULL || x == NULL || w == NULL || out == NULL)
        return GCNN_EINVAL;
    int algorithm;
    const int status = gcnn_corr2d_algorithm(p, 1, &algorithm);
    if (status != GCNN_OK)
        return status;
    if (algorithm == GCNN_ALGORITHM_WINOGRAD_2 || algorithm == GCNN_ALGORITHM_WINOGRAD_4)
        return gcnn_winograd_f64(p, x, w, bias, fillvalue, out,
                                 algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? 4 : 2);
    GCNN_DISPATCH(p->simd, corr2d_f64, (p, x, w, bias, fillvalue, out))
}

/* The kernels that always compute directly: a Winograd request is an error,
 * never silently ignored. */
static int gcnn_direct_only(const gcnn_corr2d_params *p)
{
    return p->algorithm == GCNN_ALGORITHM_AUTO || p->algorithm == GCNN_ALGORITHM_DIRECT;
}

/* The integer kernels share the float kernels' plan and loop body: only
 * the element type differs, and unsigned C arithmetic wraps. */
#define GCNN_INT_ENTRY(BITS)                                                   \
    int gcnn_corr2d_u##BITS(const gcnn_corr2d_params *p, const uint##BITS##_t *x,   \
                            const uint##BITS##_t *w, const uint##BITS##_t *bias,    \
                            uint##BITS##_t fillvalue, uint##BITS##_t *out)          \
    {                                                                          \
        if (p == NULL || x == NULL || w == NULL || out == NULL ||              \
            !gcnn_direct_only(p))                                              \
            return GCNN_EINVAL;                                                \
        GCNN_DISPATCH(p->simd, corr2d_u##BITS, (p, x, w, bias, fillvalue, out))   \
    }
GCNN_INT_ENTRY(32)
GCNN_INT_ENTRY(64)
#undef GCNN_INT_ENTRY

int gcnn_corr2d_grad_weight_algorithm(const gcnn_corr2d_params *p, int is_double,
                                      int *algorithm)
{
    if (p == NULL || algorithm == NULL)
        return GCNN_EINVAL;
    ptrdiff_t out_h, out_w;
    const int status = gcnn_corr2d_out_shape(p, &out_h, &out_w);
    if (status != GCNN_OK)
        return status;
    if (p->algorithm == GCNN_ALGORITHM_AUTO) {
        const int pays = !is_double && gcnn_winograd_applies(p, 0) &&
                         gcnn_winograd_gw_pays(p, out_h, out_w);
        const int tile = gcnn_winograd_auto_tile(p, out_h, out_w, 1);
        *algorithm = !pays ? GCNN_ALGORITHM_DIRECT
                     : tile == 4 ? GCNN_ALGORITHM_WINOGRAD_4
                                 : GCNN_ALGORITHM_WINOGRAD_2;
        return GCNN_OK;
    }
    /* the other requests mean what they mean for the forward correlation */
    return gcnn_corr2d_algorithm(p, is_double, algorithm);
}

int gcnn_corr2d_grad_weight_f32(const gcnn_corr2d_params *p, const float *x,
                                const float *grad_out, float fillvalue,
                                float *grad_w)
{
    if (p == NULL || x == NULL || grad_out == NULL || grad_w == NULL)
        return GCNN_EINVAL;
    int algorithm;
    const int status = gcnn_corr2d_grad_weight_algorithm(p, 0, &algorithm);
    if (status != GCNN_OK)
        return status;
    if (algorithm == GCNN_ALGORITHM_WINOGRAD_2 || algorithm == GCNN_ALGORITHM_WINOGRAD_4)
        return gcnn_winograd_grad_weight_f32(p, x, grad_out, fillvalue, grad_w,
                                             algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? 4 : 2);
    GCNN_DISPATCH(p->simd, grad_weight_f32, (p, x, grad_out, fillvalue, grad_w))
}

int gcnn_corr2d_grad_weight_f64(const gcnn_corr2d_params *p, const double *x,
                                const double *grad_out, double fillvalue,
                                double *grad_w)
{
    if (p == NULL || x == NULL || grad_out == NULL || grad_w == NULL)
        return GCNN_EINVAL;
    int algorithm;
    const int status = gcnn_corr2d_grad_weight_algorithm(p, 1, &algorithm);
    if (status != GCNN_OK)
        return status;
    if (algorithm == GCNN_ALGORITHM_WINOGRAD_2 || algorithm == GCNN_ALGORITHM_WINOGRAD_4)
        return gcnn_winograd_grad_weight_f64(p, x, grad_out, fillvalue, grad_w,
                                             algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? 4 : 2);
    GCNN_DISPATCH(p->simd, grad_weight_f64, (p, x, grad_out, fillvalue, grad_w))
}

const char *gcnn_strerror(int status)
{
    switch (status) {
    case GCNN_OK:
        return "success";
    case GCNN_EINVAL:
        return "invalid sizes or parameters";
    case GCNN_ENOMEM:
        return "out of memory for scratch buffers";
    case GCNN_EOVERFLOW:
        return "array sizes overflow";
    case GCNN_EINTERNAL:
        return "internal error: a case the kernels were not built for (a bug in gcnn)";
    case GCNN_EINTERRUPTED:
        return "interrupted";
    default:
        return "unknown gcnn status";
    }
}
