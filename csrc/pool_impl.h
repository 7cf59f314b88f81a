/*
 * Max pooling forward and backward for one element type, included by
 * channels.c with GCNN_T and GCNN_NAME(s) defined.  One plane per work
 * item: each plane is read and written by one thread, in a fixed order.
 */

static int GCNN_NAME(max_pool)(const gcnn_pool_params *p, const GCNN_T *x, GCNN_T *out,
                               int32_t *index, ptrdiff_t out_h, ptrdiff_t out_w)
{
    const ptrdiff_t H = p->height, W = p->width;
#ifdef _OPENMP
#pragma omp parallel for num_threads(p->num_threads) schedule(static)
#endif
    for (ptrdiff_t plane = 0; plane < p->planes; ++plane) {
        const GCNN_T *restrict src = x + plane * H * W;
        GCNN_T *restrict dst = out + plane * out_h * out_w;
        int32_t *restrict where = index + plane * out_h * out_w;
        for (ptrdiff_t oy = 0; oy < out_h; ++oy)
            for (ptrdiff_t ox = 0; ox < out_w; ++ox) {
                const ptrdiff_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
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
    }
    return GCNN_OK;
}

static int GCNN_NAME(max_pool_backward)(const gcnn_pool_params *p, const GCNN_T *grad,
                                        const int32_t *index, GCNN_T *grad_x,
                                        ptrdiff_t out_h, ptrdiff_t out_w)
{
    const ptrdiff_t plane_size = p->height * p->width, outputs = out_h * out_w;
    int failed = GCNN_OK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(p->num_threads) schedule(static) reduction(max : failed)
#endif
    for (ptrdiff_t plane = 0; plane < p->planes; ++plane) {
        GCNN_T *restrict dst = grad_x + plane * plane_size;
        const GCNN_T *restrict g = grad + plane * outputs;
        const int32_t *restrict where = index + plane * outputs;
        memset(dst, 0, (size_t)plane_size * sizeof(GCNN_T));
        for (ptrdiff_t o = 0; o < outputs; ++o) {
            if (where[o] < 0 || where[o] >= plane_size) {
                failed = GCNN_EINVAL; /* not an index max_pool wrote */
                continue;
            }
            dst[where[o]] += g[o];
        }
    }
    return failed;
}
