/*
 * Max pooling forward and backward for one element type, included by
 * channels.c with GCNN_T and GCNN_NAME(s) defined.  One plane per work
 * item: each plane is read and written by one thread, in a fixed order.
 */

struct GCNN_NAME(pool_work) {
    const gcnn_pool_params *p;
    const GCNN_T *x, *grad;
    GCNN_T *out;
    int32_t *index;
    const int32_t *index_in;
    ptrdiff_t out_h, out_w;
};

/* The 2x2 window at stride 2 without padding (every window inside the
 * plane), the pooling of the C&W networks: the rule below with its four
 * candidates in row-major order, branch-free, and for float four outputs
 * at a time where channels.c provides GCNN_POOL_2X2_ROW. */
static void GCNN_NAME(max_pool_2x2)(const GCNN_T *restrict src, ptrdiff_t W,
                                    GCNN_T *restrict dst, int32_t *restrict where,
                                    ptrdiff_t out_h, ptrdiff_t out_w)
{
    for (ptrdiff_t oy = 0; oy < out_h; ++oy) {
        const GCNN_T *restrict r0 = src + 2 * oy * W;
        const GCNN_T *restrict r1 = r0 + W;
        GCNN_T *restrict d = dst + oy * out_w;
        int32_t *restrict at = where + oy * out_w;
        const int32_t base = (int32_t)(2 * oy * W), below = (int32_t)W;
        ptrdiff_t ox = 0;
#ifdef GCNN_POOL_2X2_ROW
        ox = GCNN_POOL_2X2_ROW(r0, r1, d, at, out_w, base, below);
#endif
        for (; ox < out_w; ++ox) {
            const GCNN_T candidate[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
            const int32_t offset[4] = {0, 1, below, below + 1};
            GCNN_T best = candidate[0];
            int32_t chosen = 0;
            for (int k = 1; k < 4; ++k) {
                const GCNN_T v = candidate[k];
                if (best == best && (v > best || v != v)) {
                    best = v;
                    chosen = offset[k];
                }
            }
            d[ox] = best;
            at[ox] = base + (int32_t)(2 * ox) + chosen;
        }
    }
}

static int GCNN_NAME(max_pool_item)(void *arg, ptrdiff_t plane, int worker)
{
    const struct GCNN_NAME(pool_work) *w = arg;
    const gcnn_pool_params *p = w->p;
    const ptrdiff_t H = p->height, W = p->width, out_h = w->out_h, out_w = w->out_w;
    const GCNN_T *restrict src = w->x + plane * H * W;
    GCNN_T *restrict dst = w->out + plane * out_h * out_w;
    int32_t *restrict where = w->index + plane * out_h * out_w;
    (void)worker;
    if (p->kernel_h == 2 && p->kernel_w == 2 && p->stride_h == 2 && p->stride_w == 2 &&
        p->pad_h == 0 && p->pad_w == 0) {
        GCNN_NAME(max_pool_2x2)(src, W, dst, where, out_h, out_w);
        return GCNN_OK;
    }
    for (ptrdiff_t oy = 0; oy < out_h; ++oy)
        for (ptrdiff_t ox = 0; ox < out_w; ++ox) {
            const ptrdiff_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
            if (y0 >= 0 && x0 >= 0 && y0 + p->kernel_h <= H && x0 + p->kernel_w <= W) {
                /* the whole window inside: no bounds to check */
                const GCNN_T *restrict window = src + y0 * W + x0;
                GCNN_T best = window[0];
                ptrdiff_t chosen = 0;
                for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky)
                    for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx) {
                        /* branch-free (bit masks, not a conditional): on random
                         * data a branch here is mispredicted half the time */
                        const GCNN_T v = window[ky * W + kx];
                        const GCNN_UINT take =
                            (GCNN_UINT)0 - (GCNN_UINT)((best == best) & ((v > best) | (v != v)));
                        GCNN_UINT vb, bb;
                        memcpy(&vb, &v, sizeof vb);
                        memcpy(&bb, &best, sizeof bb);
                        bb = (vb & take) | (bb & ~take);
                        memcpy(&best, &bb, sizeof bb);
                        chosen = (ptrdiff_t)(((GCNN_UINT)(ky * W + kx) & take) |
                                             ((GCNN_UINT)chosen & ~take));
                    }
                dst[oy * out_w + ox] = best;
                where[oy * out_w + ox] = (int32_t)(y0 * W + x0 + chosen);
                continue;
            }
            GCNN_T best = 0;
            ptrdiff_t chosen = -1;
            /* row-major window order; the first maximum (or NaN) wins, and
             * padding (-infinity) never does: every window holds a pixel */
            for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky) {
                const ptrdiff_t y = y0 + ky;
                if (y < 0 || y >= H)
                    continue;
                for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx) {
                    const ptrdiff_t xx = x0 + kx;
                    if (xx < 0 || xx >= W)
                        continue;
                    const GCNN_T v = src[y * W + xx];
                    if (chosen < 0 || (best == best && (v > best || v != v))) {
                        best = v;
                        chosen = y * W + xx;
                    }
                }
            }
            dst[oy * out_w + ox] = best;
            where[oy * out_w + ox] = (int32_t)chosen;
        }
    return GCNN_OK;
}

static int GCNN_NAME(max_pool)(const gcnn_pool_params *p, const GCNN_T *x, GCNN_T *out,
                               int32_t *index, ptrdiff_t out_h, ptrdiff_t out_w)
{
    struct GCNN_NAME(pool_work) w = {p, x, NULL, out, index, NULL, out_h, out_w};
    return gcnn_parallel_for(p->planes, p->num_threads, GCNN_NAME(max_pool_item), &w, NULL);
}

/* One plane of the backward: dst (plane_size values) zero, then each of the
 * outputs' gradients g added at its winner where[o].  Also the batch norm's
 * backward with a pool folded in (channels_impl.h). */
static int GCNN_NAME(max_pool_spread)(const GCNN_T *restrict g, const int32_t *restrict where,
                                      ptrdiff_t outputs, ptrdiff_t plane_size,
                                      GCNN_T *restrict dst)
{
    memset(dst, 0, (size_t)plane_size * sizeof(GCNN_T));
    for (ptrdiff_t o = 0; o < outputs; ++o) {
        if (where[o] < 0 || where[o] >= plane_size)
            return GCNN_EINVAL; /* not an index max_pool wrote */
        dst[where[o]] += g[o];
    }
    return GCNN_OK;
}

static int GCNN_NAME(max_pool_backward_item)(void *arg, ptrdiff_t plane, int worker)
{
    const struct GCNN_NAME(pool_work) *w = arg;
    const ptrdiff_t plane_size = w->p->height * w->p->width, outputs = w->out_h * w->out_w;
    (void)worker;
    return GCNN_NAME(max_pool_spread)(w->grad + plane * outputs, w->index_in + plane * outputs,
                                      outputs, plane_size, w->out + plane * plane_size);
}

static int GCNN_NAME(max_pool_backward)(const gcnn_pool_params *p, const GCNN_T *grad,
                                        const int32_t *index, GCNN_T *grad_x,
                                        ptrdiff_t out_h, ptrdiff_t out_w)
{
    struct GCNN_NAME(pool_work) w = {p, NULL, grad, grad_x, NULL, index, out_h, out_w};
    return gcnn_parallel_for(p->planes, p->num_threads, GCNN_NAME(max_pool_backward_item), &w,
                             NULL);
}
