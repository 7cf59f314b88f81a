/*
 * The C kernels alone, without Python: known answers, an independent naive
 * reference over random sizes for every type (float, double, and the
 * wrap-around integers, which must match bit for bit), SIMD path and thread
 * count, and every status code.  Built by `make test` under AddressSanitizer and
 * UndefinedBehaviorSanitizer.
 */
#include "gcnn_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            ++failures;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

/* Deterministic pseudo-random numbers in [-1, 1) (xorshift64*). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 4503599627370496.0 - 1.0;
}
static ptrdiff_t randint(ptrdiff_t lo, ptrdiff_t hi) /* inclusive */
{
    return lo + (ptrdiff_t)((uniform() + 1.0) * 0.5 * (double)(hi - lo + 1)) % (hi - lo + 1);
}

/* Index rules written out independently of corr2d.c: mirror with the edge
 * repeated (period 2n) and periodic wrap. */
static ptrdiff_t ref_index(ptrdiff_t i, ptrdiff_t n, int boundary)
{
    if (i >= 0 && i < n)
        return i;
    if (boundary == GCNN_BOUNDARY_WRAP) {
        while (i < 0)
            i += n;
        return i % n;
    }
    if (boundary == GCNN_BOUNDARY_SYMM) {
        for (;;) {
            if (i < 0)
                i = -i - 1;
            else if (i >= n)
                i = 2 * n - i - 1;
            else
                return i;
        }
    }
    return -1;
}

/* Image index of padded position i on an axis of n pixels dilated by d
 * (fill boundary), or -1 for the fill value. */
static ptrdiff_t ref_dilated_index(ptrdiff_t i, ptrdiff_t n, ptrdiff_t d, int boundary)
{
    if (d <= 1)
        return ref_index(i, n, boundary);
    if (i < 0 || i % d != 0 || i / d >= n)
        return -1;
    return i / d;
}

/* The contract of gcnn_kernels.h, as plainly as possible, in double. */
static void ref_corr2d(const gcnn_corr2d_params *p, const double *x, const double *w,
                       const double *bias, double fill, double *out, ptrdiff_t oh,
                       ptrdiff_t ow)
{
    for (ptrdiff_t n = 0; n < p->batch; ++n)
        for (ptrdiff_t o = 0; o < p->out_channels; ++o)
            for (ptrdiff_t y = 0; y < oh; ++y)
                for (ptrdiff_t xo = 0; xo < ow; ++xo) {
                    double sum = bias ? bias[o] : 0.0;
                    for (ptrdiff_t c = 0; c < p->in_channels; ++c)
                        for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky)
                            for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx) {
                                ptrdiff_t iy =
                                    ref_dilated_index(y * p->stride_h + ky - p->pad_top,
                                                      p->height, p->dilate_h, p->boundary);
                                ptrdiff_t ix =
                                    ref_dilated_index(xo * p->stride_w + kx - p->pad_left,
                                                      p->width, p->dilate_w, p->boundary);
                                double v = (iy < 0 || ix < 0)
                                               ? fill
                                               : x[((n * p->in_channels + c) * p->height + iy) *
                                                       p->width + ix];
                                sum += v * w[((o * p->in_channels + c) * p->kernel_h + ky) *
                                                 p->kernel_w + kx];
                            }
                    out[((n * p->out_channels + o) * oh + y) * ow + xo] = sum;
                }
}

static void test_known_answer(void)
{
    /* 3x3 image 1..9, 2x2 kernel of ones, no padding: window sums. */
    const double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const double w[4] = {1, 1, 1, 1};
    const double expected[4] = {12, 16, 24, 28};
    gcnn_corr2d_params p = {1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0, GCNN_BOUNDARY_FILL, 1, 0, 0, 0, NULL, NULL, GCNN_ALGORITHM_AUTO};
    double out[4];
    for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd) {
        p.simd = simd;
        CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0.0, out) == GCNN_OK, "status");
        for (int i = 0; i < 4; ++i)
            CHECK(out[i] == expected[i], "simd %d: out[%d] = %g, want %g", simd, i, out[i],
                  expected[i]);
    }
    /* Fill boundary with a fill value of 10 and one pad on each side: the
     * corner sees three fills and the image's corner. */
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    double big[16];
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 10.0, big) == GCNN_OK, "status");
    CHECK(big[0] == 31.0, "fill corner = %g, want 31", big[0]);
    /* Symmetric boundary: the mirror repeats the edge, so the top-left
     * output is 4 * x[0]. */
    p.boundary = GCNN_BOUNDARY_SYMM;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0.0, big) == GCNN_OK, "status");
    CHECK(big[0] == 4.0, "symm corner = %g, want 4", big[0]);
    /* Wrap: the top-left window holds x[8], x[6], x[2], x[0]. */
    p.boundary = GCNN_BOUNDARY_WRAP;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0.0, big) == GCNN_OK, "status");
    CHECK(big[0] == 9.0 + 7.0 + 3.0 + 1.0, "wrap corner = %g, want 20", big[0]);
}

static void random_params(gcnn_corr2d_params *p, int many_channels, int one_output)
{
    memset(p, 0, sizeof *p);
    p->batch = randint(1, 3);
    /* Many channels make the kernel split them into L1-sized blocks (and,
     * with 24 or more outputs, take the 12-channel AVX-512 tile). */
    p->in_channels = many_channels ? randint(30, 50) : randint(1, 4);
    /* One output channel at unit vertical stride takes the row-blocked
     * tiles; make sure a third of the trials do. */
    p->out_channels = one_output ? 1 : many_channels ? randint(20, 40) : randint(1, 19);
    p->boundary = (int)randint(0, 2);
    p->height = randint(p->boundary == GCNN_BOUNDARY_FILL ? 0 : 1, 23);
    p->width = randint(p->boundary == GCNN_BOUNDARY_FILL ? 0 : 1, 70);
    p->kernel_h = randint(1, 7);
    p->kernel_w = randint(1, 7);
    p->stride_h = one_output ? 1 : randint(1, 3);
    p->stride_w = randint(1, 3);
    /* Pads may exceed the image: the index rules must hold far outside. */
    p->pad_top = randint(0, 9);
    p->pad_bottom = randint(0, 9);
    p->pad_left = randint(0, 9);
    p->pad_right = randint(0, 9);
    /* Input dilation (fill boundary only) in a quarter of the fill trials. */
    if (p->boundary == GCNN_BOUNDARY_FILL && randint(0, 3) == 0) {
        p->dilate_h = randint(0, 3);
        p->dilate_w = randint(0, 3);
    }
    const ptrdiff_t dh = p->dilate_h > 1 ? p->dilate_h : 1, dw = p->dilate_w > 1 ? p->dilate_w : 1;
    const ptrdiff_t height = p->height ? (p->height - 1) * dh + 1 : 0;
    const ptrdiff_t width = p->width ? (p->width - 1) * dw + 1 : 0;
    if (height + p->pad_top + p->pad_bottom < p->kernel_h)
        p->pad_bottom += p->kernel_h;
    if (width + p->pad_left + p->pad_right < p->kernel_w)
        p->pad_right += p->kernel_w;
}

static void test_random_against_reference(void)
{
    for (int trial = 0; trial < 120; ++trial) {
        gcnn_corr2d_params p;
        random_params(&p, trial % 10 == 0, trial % 3 == 1);
        ptrdiff_t oh, ow;
        CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK, "out_shape trial %d", trial);
        const size_t nx = (size_t)(p.batch * p.in_channels * p.height * p.width);
        const size_t nw = (size_t)(p.out_channels * p.in_channels * p.kernel_h * p.kernel_w);
        const size_t no = (size_t)(p.batch * p.out_channels * oh * ow);
        double *x = malloc((nx + 1) * sizeof *x), *w = malloc(nw * sizeof *w);
        double *bias = malloc((size_t)p.out_channels * sizeof *bias);
        double *ref = malloc(no * sizeof *ref), *out = malloc(no * sizeof *out);
        float *xf = malloc((nx + 1) * sizeof *xf), *wf = malloc(nw * sizeof *wf);
        float *biasf = malloc((size_t)p.out_channels * sizeof *biasf);
        float *outf = malloc(no * sizeof *outf);
        for (size_t i = 0; i < nx; ++i)
            xf[i] = (float)(x[i] = uniform());
        for (size_t i = 0; i < nw; ++i)
            wf[i] = (float)(w[i] = uniform());
        for (ptrdiff_t i = 0; i < p.out_channels; ++i)
            biasf[i] = (float)(bias[i] = uniform());
        const int with_bias = trial % 2;
        const double fill = trial % 3 ? 0.0 : 0.75;
        ref_corr2d(&p, x, w, with_bias ? bias : NULL, fill, ref, oh, ow);
        double scale = 1.0;
        for (size_t i = 0; i < no; ++i)
            scale = fmax(scale, fabs(ref[i]));
        for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd)
            for (int threads = 1; threads <= 2; ++threads) {
                p.simd = simd;
                p.num_threads = threads;
                CHECK(gcnn_corr2d_f64(&p, x, w, with_bias ? bias : NULL, fill, out) == GCNN_OK,
                      "f64 status");
                CHECK(gcnn_corr2d_f32(&p, xf, wf, with_bias ? biasf : NULL, (float)fill,
                                      outf) == GCNN_OK,
                      "f32 status");
                double err64 = 0, err32 = 0;
                for (size_t i = 0; i < no; ++i) {
                    err64 = fmax(err64, fabs(out[i] - ref[i]));
                    err32 = fmax(err32, fabs((double)outf[i] - ref[i]));
                }
                CHECK(err64 <= 1e-12 * scale, "trial %d simd %d threads %d: f64 error %g",
                      trial, simd, threads, err64);
                CHECK(err32 <= 1e-4 * scale, "trial %d simd %d threads %d: f32 error %g",
                      trial, simd, threads, err32);
            }
        free(x), free(w), free(bias), free(ref), free(out);
        free(xf), free(wf), free(biasf), free(outf);
    }
}

/* Large enough that two threads really split it: results must be
 * bit-identical to one thread's. */
static void test_threads_identical(void)
{
    gcnn_corr2d_params p = {2, 3, 64, 96, 9, 5, 5, 1, 1, 2, 2, 2, 2, GCNN_BOUNDARY_FILL, 1, 0, 0, 0, NULL, NULL, GCNN_ALGORITHM_AUTO};
    ptrdiff_t oh, ow;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK, "out_shape");
    const size_t nx = 2 * 3 * 64 * 96, nw = 9 * 3 * 25, no = (size_t)(2 * 9 * oh * ow);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
    float *one = malloc(no * sizeof *one), *two = malloc(no * sizeof *two);
    for (size_t i = 0; i < nx; ++i)
        x[i] = (float)uniform();
    for (size_t i = 0; i < nw; ++i)
        w[i] = (float)uniform();
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, one) == GCNN_OK, "status");
    p.num_threads = 2;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, two) == GCNN_OK, "status");
    CHECK(memcmp(one, two, no * sizeof *one) == 0, "1 and 2 threads differ");
    free(x), free(w), free(one), free(two);
}

/* grad_w[o][c][ky][kx] = sum_{n, y, x} g[n][o][y][x] * xpad[...], plainly. */
static void ref_grad_weight(const gcnn_corr2d_params *p, const double *x, const double *g,
                            double fill, double *gw, ptrdiff_t oh, ptrdiff_t ow)
{
    for (ptrdiff_t o = 0; o < p->out_channels; ++o)
        for (ptrdiff_t c = 0; c < p->in_channels; ++c)
            for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky)
                for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx) {
                    double sum = 0.0;
                    for (ptrdiff_t n = 0; n < p->batch; ++n)
                        for (ptrdiff_t y = 0; y < oh; ++y)
                            for (ptrdiff_t xo = 0; xo < ow; ++xo) {
                                ptrdiff_t iy = ref_index(y * p->stride_h + ky - p->pad_top,
                                                         p->height, p->boundary);
                                ptrdiff_t ix = ref_index(xo * p->stride_w + kx - p->pad_left,
                                                         p->width, p->boundary);
                                double v = (iy < 0 || ix < 0)
                                               ? fill
                                               : x[((n * p->in_channels + c) * p->height + iy) *
                                                       p->width + ix];
                                sum += v * g[((n * p->out_channels + o) * oh + y) * ow + xo];
                            }
                    gw[((o * p->in_channels + c) * p->kernel_h + ky) * p->kernel_w + kx] = sum;
                }
}

static void test_grad_weight_against_reference(void)
{
    for (int trial = 0; trial < 80; ++trial) {
        gcnn_corr2d_params p;
        random_params(&p, trial % 10 == 0, trial % 3 == 1);
        p.dilate_h = p.dilate_w = 0;
        /* Every fifth trial has a large batch: more units than chunks. */
        if (trial % 5 == 2)
            p.batch = randint(17, 40);
        /* Every eighth has 49-64 output channels: on AVX-512 the channel-vector
         * tiles of four vectors by six taps. */
        if (trial % 8 == 3)
            p.out_channels = randint(49, 64);
        ptrdiff_t oh, ow;
        CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK, "out_shape trial %d", trial);
        const size_t nx = (size_t)(p.batch * p.in_channels * p.height * p.width);
        const size_t nw = (size_t)(p.out_channels * p.in_channels * p.kernel_h * p.kernel_w);
        const size_t no = (size_t)(p.batch * p.out_channels * oh * ow);
        double *x = malloc((nx + 1) * sizeof *x), *g = malloc((no + 1) * sizeof *g);
        double *ref = malloc(nw * sizeof *ref), *gw = malloc(nw * sizeof *gw);
        float *xf = malloc((nx + 1) * sizeof *xf), *gf = malloc((no + 1) * sizeof *gf);
        float *gwf = malloc(nw * sizeof *gwf), *first = malloc(nw * sizeof *first);
        for (size_t i = 0; i < nx; ++i)
            xf[i] = (float)(x[i] = uniform());
        for (size_t i = 0; i < no; ++i)
            gf[i] = (float)(g[i] = uniform());
        const double fill = trial % 3 ? 0.0 : 0.75;
        ref_grad_weight(&p, x, g, fill, ref, oh, ow);
        double scale = 1.0;
        for (size_t i = 0; i < nw; ++i)
            scale = fmax(scale, fabs(ref[i]));
        /* sums of up to batch * oh * ow products */
        const double terms = (double)(p.batch * oh * ow) + 1.0;
        for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd)
            for (int threads = 1; threads <= 2; ++threads) {
                p.simd = simd;
                p.num_threads = threads;
                CHECK(gcnn_corr2d_grad_weight_f64(&p, x, g, fill, gw) == GCNN_OK,
                      "f64 status trial %d", trial);
                CHECK(gcnn_corr2d_grad_weight_f32(&p, xf, gf, (float)fill, gwf) == GCNN_OK,
                      "f32 status trial %d", trial);
                double err64 = 0, err32 = 0;
                for (size_t i = 0; i < nw; ++i) {
                    err64 = fmax(err64, fabs(gw[i] - ref[i]));
                    err32 = fmax(err32, fabs((double)gwf[i] - ref[i]));
                }
                CHECK(err64 <= 1e-13 * terms * scale,
                      "grad trial %d simd %d threads %d: f64 error %g", trial, simd, threads,
                      err64);
                CHECK(err32 <= 1e-6 * terms * scale,
                      "grad trial %d simd %d threads %d: f32 error %g", trial, simd, threads,
                      err32);
                if (threads == 1)
                    memcpy(first, gwf, nw * sizeof *gwf);
                else
                    CHECK(memcmp(first, gwf, nw * sizeof *gwf) == 0,
                          "grad trial %d simd %d: 1 and 2 threads differ", trial, simd);
            }
        free(x), free(g), free(ref), free(gw);
        free(xf), free(gf), free(gwf), free(first);
    }
}

/* Input columns that no output reads (cut off by the stride) may hold
 * infinities; the weight gradient must not turn them into NaN through the
 * lanes it pads a row with. */
static void test_grad_weight_ignores_unread_columns(void)
{
    /* width 20, kernel 3, stride 2: outputs read columns 0..18 only */
    gcnn_corr2d_params p = {1, 1, 4, 20, 2, 3, 3, 1, 2, 0, 0, 0, 0, GCNN_BOUNDARY_FILL, 1, 0, 0, 0, NULL, NULL, GCNN_ALGORITHM_AUTO};
    ptrdiff_t oh, ow;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK && ow == 9, "out_shape");
    float x[80], g[2 * 2 * 9], gw[18];
    double xd[80], gd[2 * 2 * 9], ref[18];
    for (int i = 0; i < 80; ++i)
        x[i] = (float)(xd[i] = (i % 20 == 19) ? 0.0 : uniform());
    for (int i = 0; i < 2 * 2 * 9; ++i)
        g[i] = (float)(gd[i] = uniform());
    ref_grad_weight(&p, xd, gd, 0.0, ref, oh, ow);
    for (int i = 19; i < 80; i += 20)
        x[i] = INFINITY;
    for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd) {
        p.simd = simd;
        CHECK(gcnn_corr2d_grad_weight_f32(&p, x, g, 0.f, gw) == GCNN_OK, "status");
        for (int i = 0; i < 18; ++i)
            CHECK(fabs((double)gw[i] - ref[i]) <= 1e-5, "simd %d: grad_w[%d] = %g, want %g",
                  simd, i, (double)gw[i], ref[i]);
    }
}

/* Batch-norm statistics, affine map and gradient against plain double loops. */
static void test_batch_norm_against_reference(void)
{
    for (int trial = 0; trial < 30; ++trial) {
        const ptrdiff_t n = randint(1, 5), c = randint(1, 7), s = randint(1, 300);
        const size_t total = (size_t)(n * c * s);
        double *x = malloc(total * sizeof *x), *g = malloc(total * sizeof *g);
        double *gx = malloc(total * sizeof *gx), *out = malloc(total * sizeof *out);
        float *xf = malloc(total * sizeof *xf), *gf = malloc(total * sizeof *gf);
        float *gxf = malloc(total * sizeof *gxf), *outf = malloc(total * sizeof *outf);
        double mean[7], var[7], meanf[7], varf[7], inv_std[7], gw[7], gb[7], gwf[7], gbf[7];
        double scale[7], shift[7], weight[7];
        float scalef[7], shiftf[7], weightf[7];
        for (size_t i = 0; i < total; ++i) {
            /* an offset makes the centring matter */
            xf[i] = (float)(x[i] = 3.0 + uniform());
            gf[i] = (float)(g[i] = uniform());
        }
        for (ptrdiff_t k = 0; k < c; ++k) {
            scalef[k] = (float)(scale[k] = uniform());
            shiftf[k] = (float)(shift[k] = uniform());
            weightf[k] = (float)(weight[k] = uniform());
        }
        for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd) {
            const int threads = 1 + trial % 2;
            CHECK(gcnn_channel_moments_f64(x, n, c, s, mean, var, threads, simd) == GCNN_OK,
                  "moments status");
            CHECK(gcnn_channel_moments_f32(xf, n, c, s, meanf, varf, threads, simd) == GCNN_OK,
                  "moments f32 status");
            for (ptrdiff_t k = 0; k < c; ++k) {
                double m = 0, v = 0, sg = 0, sgx = 0;
                for (ptrdiff_t i = 0; i < n; ++i)
                    for (ptrdiff_t j = 0; j < s; ++j)
                        m += x[(i * c + k) * s + j];
                m /= (double)(n * s);
                for (ptrdiff_t i = 0; i < n; ++i)
                    for (ptrdiff_t j = 0; j < s; ++j) {
                        const double d = x[(i * c + k) * s + j] - m;
                        v += d * d;
                        sg += g[(i * c + k) * s + j];
                        sgx += g[(i * c + k) * s + j] * d;
                    }
                v /= (double)(n * s);
                CHECK(fabs(mean[k] - m) <= 1e-13 && fabs(var[k] - v) <= 1e-13,
                      "trial %d simd %d: moments %g %g, want %g %g", trial, simd, mean[k], var[k],
                      m, v);
                CHECK(fabs(meanf[k] - m) <= 1e-5 && fabs(varf[k] - v) <= 1e-5,
                      "trial %d simd %d: f32 moments %g %g, want %g %g", trial, simd, meanf[k],
                      varf[k], m, v);
                inv_std[k] = 1.0 / sqrt(v + 1e-5);
                gw[k] = sgx * inv_std[k];
                gb[k] = sg;
            }
            CHECK(gcnn_channel_affine_f64(x, n, c, s, scale, shift, out, NULL, threads, simd) ==
                      GCNN_OK,
                  "affine status");
            CHECK(gcnn_channel_affine_f32(xf, n, c, s, scalef, shiftf, outf, NULL, threads,
                                          simd) == GCNN_OK,
                  "affine f32 status");
            double grad_w[7], grad_b[7];
            CHECK(gcnn_batch_norm_backward_f64(g, NULL, x, n, c, s, mean, inv_std, weight, gx,
                                               grad_w, grad_b, NULL, NULL, 0, 0, threads,
                                               simd) == GCNN_OK,
                  "backward status");
            CHECK(gcnn_batch_norm_backward_f32(gf, NULL, xf, n, c, s, mean, inv_std, weightf, gxf,
                                               gwf, gbf, NULL, NULL, 0, 0, threads,
                                               simd) == GCNN_OK,
                  "backward f32 status");
            const double count = (double)(n * s);
            double err_affine = 0, err_affine32 = 0, err_gx = 0, err_gx32 = 0;
            for (ptrdiff_t i = 0; i < n; ++i)
                for (ptrdiff_t k = 0; k < c; ++k)
                    for (ptrdiff_t j = 0; j < s; ++j) {
                        const size_t at = (size_t)((i * c + k) * s + j);
                        const double want = x[at] * scale[k] + shift[k];
                        err_affine = fmax(err_affine, fabs(out[at] - want));
                        err_affine32 = fmax(err_affine32, fabs(outf[at] - want));
                        const double xhat = (x[at] - mean[k]) * inv_std[k];
                        const double want_gx = weight[k] * inv_std[k] *
                                               (g[at] - gb[k] / count - xhat * gw[k] / count);
                        err_gx = fmax(err_gx, fabs(gx[at] - want_gx));
                        err_gx32 = fmax(err_gx32, fabs(gxf[at] - want_gx));
                    }
            for (ptrdiff_t k = 0; k < c; ++k) {
                CHECK(fabs(grad_w[k] - gw[k]) <= 1e-10 * (1 + fabs(gw[k])) &&
                          fabs(grad_b[k] - gb[k]) <= 1e-10 * (1 + fabs(gb[k])),
                      "trial %d simd %d: parameter gradients", trial, simd);
                CHECK(fabs(gwf[k] - gw[k]) <= 1e-3 * (1 + fabs(gw[k])) &&
                          fabs(gbf[k] - gb[k]) <= 1e-3 * (1 + fabs(gb[k])),
                      "trial %d simd %d: f32 parameter gradients", trial, simd);
            }
            CHECK(err_affine <= 1e-14 && err_affine32 <= 1e-5, "trial %d simd %d: affine %g %g",
                  trial, simd, err_affine, err_affine32);
            CHECK(err_gx <= 1e-10 && err_gx32 <= 1e-3, "trial %d simd %d: grad_x %g %g", trial,
                  simd, err_gx, err_gx32);

            /* ReLU folded into the affine map and into the backward: bit for bit the
             * numbers of the separate ReLU kernels (shift in [-1, 1) gives both signs) */
            uint8_t *fused_mask = malloc(total), *relu_mask = malloc(total);
            float *fused = malloc(total * sizeof *fused), *relu = malloc(total * sizeof *relu);
            float *g_relu = malloc(total * sizeof *g_relu), *gx2 = malloc(total * sizeof *gx2);
            double gw2[7], gb2[7], gx2_sums[7], gx2_want[7];
            CHECK(gcnn_channel_affine_f32(xf, n, c, s, scalef, shiftf, fused, fused_mask, threads,
                                          simd) == GCNN_OK &&
                      gcnn_relu_f32(outf, (ptrdiff_t)total, relu, relu_mask, threads) == GCNN_OK,
                  "affine + relu status");
            CHECK(memcmp(fused, relu, total * sizeof *fused) == 0 &&
                      memcmp(fused_mask, relu_mask, total) == 0,
                  "trial %d simd %d: affine + relu differs from relu(affine)", trial, simd);
            CHECK(gcnn_relu_backward_f32(gf, relu_mask, (ptrdiff_t)total, g_relu, threads) ==
                          GCNN_OK &&
                      gcnn_batch_norm_backward_f32(g_relu, NULL, xf, n, c, s, mean, inv_std,
                                                   weightf, gxf, gwf, gbf, NULL, NULL, 0, 0,
                                                   threads, simd) == GCNN_OK &&
                      gcnn_batch_norm_backward_f32(gf, relu_mask, xf, n, c, s, mean, inv_std,
                                                   weightf, gx2, gw2, gb2, gx2_sums, NULL, 0,
                                                   0, threads, simd) == GCNN_OK,
                  "backward through relu status");
            CHECK(memcmp(gx2, gxf, total * sizeof *gx2) == 0 &&
                      memcmp(gw2, gwf, (size_t)c * sizeof *gw2) == 0 &&
                      memcmp(gb2, gbf, (size_t)c * sizeof *gb2) == 0,
                  "trial %d simd %d: masked backward differs from relu_backward + backward",
                  trial, simd);
            /* the sums of grad_x it gives are those of the channel-sums kernel */
            CHECK(gcnn_channel_sums_f32(gx2, n, c, s, gx2_want, threads, simd) == GCNN_OK &&
                      memcmp(gx2_sums, gx2_want, (size_t)c * sizeof *gx2_sums) == 0,
                  "trial %d simd %d: sums of grad_x differ from channel sums", trial, simd);
            /* the training forward in one call: moments, then the affine map and
             * ReLU with the coefficients computed in double as gcnn.nn did */
            double bn_mean[7], bn_var[7], bn_inv[7];
            float bn_scale[7], bn_shift[7];
            for (ptrdiff_t k = 0; k < c; ++k) {
                const double inv = 1.0 / sqrt(varf[k] + 1e-5), sc = inv * weight[k];
                volatile double product = -meanf[k] * sc;
                bn_scale[k] = (float)sc;
                bn_shift[k] = (float)(product + shift[k]);
            }
            CHECK(gcnn_channel_affine_f32(xf, n, c, s, bn_scale, bn_shift, relu, relu_mask,
                                          threads, simd) == GCNN_OK &&
                      gcnn_batch_norm_forward_f32(xf, n, c, s, 1e-5, weight, shift, fused,
                                                  fused_mask, 0, 0, NULL, NULL, bn_mean, bn_var,
                                                  bn_inv, threads, simd) == GCNN_OK,
                  "batch norm forward status");
            CHECK(memcmp(fused, relu, total * sizeof *fused) == 0 &&
                      memcmp(fused_mask, relu_mask, total) == 0 &&
                      memcmp(bn_mean, meanf, (size_t)c * sizeof *bn_mean) == 0 &&
                      memcmp(bn_var, varf, (size_t)c * sizeof *bn_var) == 0,
                  "trial %d simd %d: batch norm forward differs from moments + affine", trial,
                  simd);
            for (ptrdiff_t k = 0; k < c; ++k)
                CHECK(bn_inv[k] == 1.0 / sqrt(varf[k] + 1e-5), "trial %d simd %d: inv_std",
                      trial, simd);
            free(fused_mask), free(relu_mask), free(fused), free(relu), free(g_relu), free(gx2);
        }
        free(x), free(g), free(gx), free(out), free(xf), free(gf), free(gxf), free(outf);
    }
}

/* The batch norm with a 2x2 max pool folded in, forward and backward, bit for
 * bit against the batch norm, then gcnn_max_pool_* (and its backward, then
 * the batch-norm backward through the ReLU mask), on every path and both
 * types, odd plane sides included. */
#define GCNN_TEST_POOLED_BN(T, SUF)                                            \
    do {                                                                       \
        const ptrdiff_t n = randint(1, 4), c = randint(1, 5), planes = randint(1, 3);   \
        const ptrdiff_t H = randint(2, 9), W = randint(2, 9), s = planes * H * W;     \
        const ptrdiff_t windows = (H / 2) * (W / 2), pooled = planes * windows;        \
        const size_t total = (size_t)(n * c * s), small = (size_t)(n * c * pooled);    \
        T *x = malloc(total * sizeof *x), *map = malloc(total * sizeof *map);           \
        T *out = malloc(small * sizeof *out), *out2 = malloc(small * sizeof *out2);     \
        T *g = malloc(small * sizeof *g), *dense = malloc(total * sizeof *dense);       \
        T *gx = malloc(total * sizeof *gx), *gx2 = malloc(total * sizeof *gx2);         \
        uint8_t *mask = malloc(total), *mask2 = malloc(total);                         \
        int32_t *at = malloc(small * sizeof *at), *at2 = malloc(small * sizeof *at2);   \
        double w[5], b[5], m[5], v[5], r[5], m2[5], v2[5], r2[5];                      \
        double gw[5], gb[5], sums[5], gw2[5], gb2[5], sums2[5];                        \
        for (size_t i = 0; i < total; ++i)                                             \
            x[i] = (T)uniform();                                                       \
        for (size_t i = 0; i < small; ++i)                                             \
            g[i] = (T)uniform();                                                       \
        for (ptrdiff_t k = 0; k < c; ++k) {                                            \
            w[k] = uniform();                                                          \
            b[k] = uniform();                                                          \
        }                                                                              \
        gcnn_pool_params p = {n * c * planes, H, W, 2, 2, 2, 2, 0, 0, threads};        \
        CHECK(gcnn_batch_norm_forward_##SUF(x, n, c, s, 1e-5, w, b, map, mask, 0, 0,   \
                                            NULL, NULL, m, v, r, threads,             \
                                            simd) == GCNN_OK &&                       \
                  gcnn_max_pool_##SUF(&p, map, out, at) == GCNN_OK &&                  \
                  gcnn_batch_norm_forward_##SUF(x, n, c, s, 1e-5, w, b, NULL, mask2,   \
                                                H, W, out2, at2, m2, v2, r2, threads,  \
                                                simd) == GCNN_OK,                      \
              "pooled forward status");                                                \
        CHECK(memcmp(out, out2, small * sizeof *out) == 0 &&                           \
                  memcmp(at, at2, small * sizeof *at) == 0 &&                          \
                  memcmp(mask, mask2, total) == 0 &&                                   \
                  memcmp(m, m2, (size_t)c * sizeof *m) == 0 &&                         \
                  memcmp(v, v2, (size_t)c * sizeof *v) == 0 &&                         \
                  memcmp(r, r2, (size_t)c * sizeof *r) == 0,                           \
              "trial %d simd %d: pooled forward differs", trial, simd);                \
        CHECK(gcnn_max_pool_backward_##SUF(&p, g, at, dense) == GCNN_OK &&             \
                  gcnn_batch_norm_backward_##SUF(dense, mask, x, n, c, s, m, r, NULL, gx, \
                                                 gw, gb, sums, NULL, 0, 0, threads,    \
                                                 simd) == GCNN_OK &&                   \
                  gcnn_batch_norm_backward_##SUF(g, mask, x, n, c, s, m, r, NULL, gx2, \
                                                 gw2, gb2, sums2, at, H, W, threads,   \
                                                 simd) == GCNN_OK,                     \
              "pooled backward status");                                               \
        CHECK(memcmp(gx, gx2, total * sizeof *gx) == 0 &&                              \
                  memcmp(gw, gw2, (size_t)c * sizeof *gw) == 0 &&                      \
                  memcmp(gb, gb2, (size_t)c * sizeof *gb) == 0 &&                      \
                  memcmp(sums, sums2, (size_t)c * sizeof *sums) == 0,                  \
              "trial %d simd %d: pooled backward differs", trial, simd);               \
        at[0] = (int32_t)(H * W); /* not a position of the plane */                     \
        CHECK(gcnn_batch_norm_backward_##SUF(g, mask, x, n, c, s, m, r, NULL, gx2, gw2, \
                                             gb2, NULL, at, H, W, threads,             \
                                             simd) == GCNN_EINVAL,                     \
              "trial %d simd %d: a bad winner is refused", trial, simd);               \
        CHECK(gcnn_batch_norm_forward_##SUF(x, n, c, s, 1e-5, w, b, NULL, mask2, H + 1, \
                                            W, out2, at2, m2, v2, r2, threads,         \
                                            simd) == GCNN_EINVAL ||                    \
                  s % ((H + 1) * W) == 0,                                              \
              "trial %d simd %d: planes that do not tile the run", trial, simd);       \
        free(x), free(map), free(out), free(out2), free(g), free(dense), free(gx);     \
        free(gx2), free(mask), free(mask2), free(at), free(at2);                       \
    } while (0)

static void test_pooled_batch_norm(void)
{
    for (int trial = 0; trial < 40; ++trial)
        for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd) {
            const int threads = 1 + trial % 2;
            if (trial % 2)
                GCNN_TEST_POOLED_BN(float, f32);
            else
                GCNN_TEST_POOLED_BN(double, f64);
        }
}
#undef GCNN_TEST_POOLED_BN

/* Max pooling against a plain loop over windows, NaN and ties included. */
static void test_max_pool_against_reference(void)
{
    for (int trial = 0; trial < 60; ++trial) {
        gcnn_pool_params p;
        memset(&p, 0, sizeof p);
        p.planes = randint(1, 6);
        p.kernel_h = randint(1, 4);
        p.kernel_w = randint(1, 4);
        p.height = randint(1, 12);
        p.width = randint(1, 12);
        p.stride_h = randint(1, 3);
        p.stride_w = randint(1, 3);
        p.pad_h = randint(0, p.kernel_h / 2);
        p.pad_w = randint(0, p.kernel_w / 2);
        p.num_threads = 1 + trial % 2;
        if (p.height + 2 * p.pad_h < p.kernel_h)
            p.height = p.kernel_h;
        if (p.width + 2 * p.pad_w < p.kernel_w)
            p.width = p.kernel_w;
        ptrdiff_t oh, ow;
        CHECK(gcnn_pool_out_shape(&p, &oh, &ow) == GCNN_OK, "pool shape");
        const size_t nx = (size_t)(p.planes * p.height * p.width), no = (size_t)(p.planes * oh * ow);
        double *x = malloc(nx * sizeof *x), *out = malloc(no * sizeof *out);
        double *g = malloc(no * sizeof *g), *gx = malloc(nx * sizeof *gx);
        double *ref_gx = calloc(nx, sizeof *ref_gx);
        int32_t *index = malloc(no * sizeof *index);
        for (size_t i = 0; i < nx; ++i)
            x[i] = (double)randint(0, 5); /* few values: many ties */
        if (trial % 4 == 0)
            x[randint(0, (ptrdiff_t)nx - 1)] = NAN;
        for (size_t i = 0; i < no; ++i)
            g[i] = uniform();
        CHECK(gcnn_max_pool_f64(&p, x, out, index) == GCNN_OK, "pool status");
        CHECK(gcnn_max_pool_backward_f64(&p, g, index, gx) == GCNN_OK, "pool backward status");
        for (ptrdiff_t pl = 0; pl < p.planes; ++pl)
            for (ptrdiff_t oy = 0; oy < oh; ++oy)
                for (ptrdiff_t ox = 0; ox < ow; ++ox) {
                    double best = -INFINITY;
                    ptrdiff_t at = -1;
                    int seen_nan = 0;
                    for (ptrdiff_t ky = 0; ky < p.kernel_h; ++ky)
                        for (ptrdiff_t kx = 0; kx < p.kernel_w; ++kx) {
                            const ptrdiff_t y = oy * p.stride_h - p.pad_h + ky;
                            const ptrdiff_t xx = ox * p.stride_w - p.pad_w + kx;
                            if (y < 0 || y >= p.height || xx < 0 || xx >= p.width || seen_nan)
                                continue;
                            const double v = x[(pl * p.height + y) * p.width + xx];
                            if (isnan(v)) {
                                seen_nan = 1;
                                best = v;
                                at = y * p.width + xx;
                            } else if (at < 0 || v > best) {
                                best = v;
                                at = y * p.width + xx;
                            }
                        }
                    const size_t o = (size_t)((pl * oh + oy) * ow + ox);
                    CHECK(index[o] == at && (out[o] == best || (isnan(out[o]) && isnan(best))),
                          "trial %d: window (%td, %td) gives %g at %d, want %g at %td", trial, oy,
                          ox, out[o], index[o], best, at);
                    ref_gx[(size_t)(pl * p.height * p.width + at)] += g[o];
                }
        double err = 0;
        for (size_t i = 0; i < nx; ++i)
            err = fmax(err, fabs(gx[i] - ref_gx[i]));
        CHECK(err == 0, "trial %d: pool backward error %g", trial, err);
        free(x), free(out), free(g), free(gx), free(ref_gx), free(index);
    }
    gcnn_pool_params bad = {1, 4, 4, 2, 2, 1, 1, 2, 0, 1};
    ptrdiff_t oh, ow;
    CHECK(gcnn_pool_out_shape(&bad, &oh, &ow) == GCNN_EINVAL, "pad above half the kernel");
    bad.pad_h = 0, bad.height = 1 << 20, bad.width = 1 << 12;
    CHECK(gcnn_pool_out_shape(&bad, &oh, &ow) == GCNN_EOVERFLOW, "plane beyond int32");
}

/* The interrupt callback: asked between items; a yes stops the call. */
static int polls = 0;
static int stop_at_second_poll(void *ctx)
{
    (void)ctx;
    return ++polls >= 2;
}
static int never_stop(void *ctx)
{
    (void)ctx;
    ++polls;
    return 0;
}

static void test_interrupt(void)
{
    /* about 0.2 s of work on one thread, in many items */
    gcnn_corr2d_params p = {8, 16, 96, 96, 16, 5, 5, 1, 1, 2, 2, 2, 2, GCNN_BOUNDARY_FILL,
                            2, 0, 0, 0, stop_at_second_poll, NULL, GCNN_ALGORITHM_AUTO};
    const size_t nx = 8 * 16 * 96 * 96, nw = 16 * 16 * 25, no = 8 * 16 * 96 * 96;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
    float *a = malloc(no * sizeof *a), *b = malloc(no * sizeof *b);
    for (size_t i = 0; i < nx; ++i)
        x[i] = (float)uniform();
    for (size_t i = 0; i < nw; ++i)
        w[i] = (float)uniform();
    polls = 0;
    const int status = gcnn_corr2d_f32(&p, x, w, NULL, 0.f, a);
    CHECK(status == GCNN_EINTERRUPTED || polls < 2, "interrupt: status %d after %d polls",
          status, polls);
    CHECK(gcnn_corr2d_grad_weight_f32(&p, x, a, 0.f, b) == GCNN_EINTERRUPTED || polls < 2,
          "grad_weight interrupt");
    /* a callback that never says stop changes nothing */
    p.interrupted = never_stop;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, a) == GCNN_OK, "polled call");
    p.interrupted = NULL;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, b) == GCNN_OK, "unpolled call");
    CHECK(memcmp(a, b, no * sizeof *a) == 0, "polling changed the result");
    /* Winograd's algorithm polls between its items the same way */
    p.kernel_h = p.kernel_w = 3;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    p.algorithm = GCNN_ALGORITHM_WINOGRAD_4;
    p.interrupted = stop_at_second_poll;
    polls = 0;
    const int winograd_status = gcnn_corr2d_f32(&p, x, w, NULL, 0.f, a);
    CHECK(winograd_status == GCNN_EINTERRUPTED || polls < 2,
          "winograd interrupt: status %d after %d polls", winograd_status, polls);
    p.interrupted = never_stop;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, a) == GCNN_OK, "polled winograd call");
    p.interrupted = NULL;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, b) == GCNN_OK, "unpolled winograd call");
    CHECK(memcmp(a, b, no * sizeof *a) == 0, "polling changed the winograd result");
    free(x), free(w), free(a), free(b);
}

/* The contract of gcnn_corr2d_u32/u64 as plainly as possible: the exact
 * sum in uint64_t, whose arithmetic is modulo 2^64; the caller reduces it
 * modulo 2^32 for the 32-bit kernel. */
static void ref_corr2d_u64(const gcnn_corr2d_params *p, const uint64_t *x, const uint64_t *w,
                           const uint64_t *bias, uint64_t fill, uint64_t *out, ptrdiff_t oh,
                           ptrdiff_t ow)
{
    for (ptrdiff_t n = 0; n < p->batch; ++n)
        for (ptrdiff_t o = 0; o < p->out_channels; ++o)
            for (ptrdiff_t y = 0; y < oh; ++y)
                for (ptrdiff_t xo = 0; xo < ow; ++xo) {
                    uint64_t sum = bias ? bias[o] : 0;
                    for (ptrdiff_t c = 0; c < p->in_channels; ++c)
                        for (ptrdiff_t ky = 0; ky < p->kernel_h; ++ky)
                            for (ptrdiff_t kx = 0; kx < p->kernel_w; ++kx) {
                                ptrdiff_t iy =
                                    ref_dilated_index(y * p->stride_h + ky - p->pad_top,
                                                      p->height, p->dilate_h, p->boundary);
                                ptrdiff_t ix =
                                    ref_dilated_index(xo * p->stride_w + kx - p->pad_left,
                                                      p->width, p->dilate_w, p->boundary);
                                uint64_t v = (iy < 0 || ix < 0)
                                                 ? fill
                                                 : x[((n * p->in_channels + c) * p->height + iy) *
                                                         p->width + ix];
                                sum += v * w[((o * p->in_channels + c) * p->kernel_h + ky) *
                                                 p->kernel_w + kx];
                            }
                    out[((n * p->out_channels + o) * oh + y) * ow + xo] = sum;
                }
}

/* Random 64-bit patterns biased to the extremes, where wrap-around shows:
 * 0, 1, all ones (-1), the signed extremes of 32 and 64 bits, and any. */
static uint64_t extreme_bits(void)
{
    static const uint64_t special[] = {0,          1,          UINT64_MAX, 0x7FFFFFFFull,
                                       0x80000000ull, 0xFFFFFFFFull, INT64_MAX,
                                       (uint64_t)INT64_MAX + 1};
    const ptrdiff_t pick = randint(0, 9);
    if (pick < 8)
        return special[pick];
    return (uint64_t)((uniform() + 1.0) * 4294967296.0) << 32 ^
           (uint64_t)((uniform() + 1.0) * 2147483648.0);
}

/* Integer kernels against the modular reference: every output bit-exact,
 * for every SIMD path and thread count (wrap-around sums do not depend on
 * their order, so nothing is allowed to differ). */
static void test_int_against_reference(void)
{
    for (int trial = 0; trial < 80; ++trial) {
        gcnn_corr2d_params p;
        random_params(&p, trial % 10 == 0, trial % 3 == 1);
        ptrdiff_t oh, ow;
        CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK, "out_shape trial %d", trial);
        const size_t nx = (size_t)(p.batch * p.in_channels * p.height * p.width);
        const size_t nw = (size_t)(p.out_channels * p.in_channels * p.kernel_h * p.kernel_w);
        const size_t no = (size_t)(p.batch * p.out_channels * oh * ow);
        const size_t nb = (size_t)p.out_channels;
        uint64_t *x = malloc((nx + 1) * sizeof *x), *w = malloc(nw * sizeof *w);
        uint64_t *bias = malloc(nb * sizeof *bias), *ref = malloc(no * sizeof *ref);
        uint64_t *out = malloc(no * sizeof *out);
        uint32_t *x32 = malloc((nx + 1) * sizeof *x32), *w32 = malloc(nw * sizeof *w32);
        uint32_t *bias32 = malloc(nb * sizeof *bias32), *out32 = malloc(no * sizeof *out32);
        for (size_t i = 0; i < nx; ++i)
            x32[i] = (uint32_t)(x[i] = extreme_bits());
        for (size_t i = 0; i < nw; ++i)
            w32[i] = (uint32_t)(w[i] = extreme_bits());
        for (size_t i = 0; i < nb; ++i)
            bias32[i] = (uint32_t)(bias[i] = extreme_bits());
        const uint64_t fill = trial % 3 ? 0 : extreme_bits();
        const int with_bias = trial % 2;
        ref_corr2d_u64(&p, x, w, with_bias ? bias : NULL, fill, ref, oh, ow);
        for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd)
            for (int threads = 1; threads <= 2; ++threads) {
                p.simd = simd;
                p.num_threads = threads;
                CHECK(gcnn_corr2d_u64(&p, x, w, with_bias ? bias : NULL, fill, out) == GCNN_OK,
                      "u64 status trial %d", trial);
                CHECK(gcnn_corr2d_u32(&p, x32, w32, with_bias ? bias32 : NULL, (uint32_t)fill,
                                      out32) == GCNN_OK,
                      "u32 status trial %d", trial);
                size_t wrong64 = 0, wrong32 = 0;
                for (size_t i = 0; i < no; ++i) {
                    wrong64 += out[i] != ref[i];
                    wrong32 += out32[i] != (uint32_t)ref[i];
                }
                CHECK(wrong64 == 0 && wrong32 == 0,
                      "int trial %d simd %d threads %d: %zu u64 and %zu u32 outputs differ", trial,
                      simd, threads, wrong64, wrong32);
            }
        free(x), free(w), free(bias), free(ref), free(out);
        free(x32), free(w32), free(bias32), free(out32);
    }
}

/* Known answers where every sum wraps: in 32 bits 0xFFFFFFFF is -1, and
 * 0x80000000 * 2 is 0.  A 1x2 kernel (1, 2) over the row (-1, 0x80000000,
 * 3), full padding with fill 5: outputs 2*5 + (-1), 2*(-1) + 0x80000000,
 * 2*0x80000000 + 3, 2*3 + 5, all modulo 2^32. */
static void test_int_known_answer(void)
{
    const uint32_t x[3] = {0xFFFFFFFFu, 0x80000000u, 3};
    const uint32_t w[2] = {2, 1};
    const uint32_t expected[4] = {9, 0x7FFFFFFEu, 3, 11};
    gcnn_corr2d_params p = {1, 1, 1, 3, 1, 1, 2, 1, 1, 0, 0, 1, 1, GCNN_BOUNDARY_FILL, 1, 0, 0, 0, NULL, NULL, GCNN_ALGORITHM_AUTO};
    uint32_t out[4];
    uint64_t x64[3], w64[2], out64[4];
    for (int i = 0; i < 3; ++i)
        x64[i] = (uint64_t)(int64_t)(int32_t)x[i]; /* sign-extended: same low bits */
    for (int i = 0; i < 2; ++i)
        w64[i] = w[i];
    for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd) {
        p.simd = simd;
        CHECK(gcnn_corr2d_u32(&p, x, w, NULL, 5, out) == GCNN_OK, "u32 status");
        CHECK(gcnn_corr2d_u64(&p, x64, w64, NULL, 5, out64) == GCNN_OK, "u64 status");
        for (int i = 0; i < 4; ++i) {
            CHECK(out[i] == expected[i], "simd %d: u32 out[%d] = %u, want %u", simd, i, out[i],
                  expected[i]);
            CHECK((uint32_t)out64[i] == expected[i], "simd %d: u64 out[%d] = %llu", simd, i,
                  (unsigned long long)out64[i]);
        }
    }
    CHECK(gcnn_corr2d_u32(NULL, x, w, NULL, 0, out) == GCNN_EINVAL, "u32 NULL params");
    CHECK(gcnn_corr2d_u64(&p, NULL, w64, NULL, 0, out64) == GCNN_EINVAL, "u64 NULL x");
    p.kernel_w = 9, p.pad_left = p.pad_right = 0;
    CHECK(gcnn_corr2d_u32(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "u32 kernel wider than x");
}

static void test_statuses(void)
{
    const double x[4] = {1, 2, 3, 4}, w[1] = {1};
    double out[16];
    ptrdiff_t oh, ow;
    const gcnn_corr2d_params good = {1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, NULL, NULL, GCNN_ALGORITHM_AUTO};
    gcnn_corr2d_params p = good;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_OK, "good params");
    CHECK(gcnn_corr2d_f64(NULL, x, w, NULL, 0, out) == GCNN_EINVAL, "NULL params");
    CHECK(gcnn_corr2d_f64(&p, NULL, w, NULL, 0, out) == GCNN_EINVAL, "NULL x");
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, NULL) == GCNN_EINVAL, "NULL out");
    p.stride_w = 0;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "stride 0");
    p = good, p.pad_left = -1;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "negative pad");
    p = good, p.boundary = 7;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "bad boundary");
    p = good, p.dilate_h = 2, p.boundary = GCNN_BOUNDARY_WRAP;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "dilation with wrap");
    p = good, p.dilate_w = -1;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EINVAL, "negative dilation");
    p = good, p.dilate_w = PTRDIFF_MAX;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_EOVERFLOW, "dilation overflow");
    p = good, p.dilate_h = 2;
    CHECK(gcnn_corr2d_grad_weight_f64(&p, x, x, 0, out) == GCNN_EINVAL,
          "weight gradient of a dilated input");
    p = good;
    CHECK(gcnn_corr2d_grad_weight_f64(&p, x, NULL, 0, out) == GCNN_EINVAL, "NULL grad_out");
    CHECK(gcnn_corr2d_grad_weight_f64(&p, x, x, 0, out) == GCNN_OK, "grad good params");
    p = good, p.kernel_h = 3;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_EINVAL, "kernel larger than input");
    p = good, p.out_channels = 0;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_EINVAL, "no output channels");
    p = good, p.height = 0, p.boundary = GCNN_BOUNDARY_SYMM, p.pad_top = 1;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_EINVAL, "mirror of an empty image");
    p = good, p.pad_right = PTRDIFF_MAX;
    CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_EOVERFLOW, "pad overflow");
    p = good, p.pad_right = PTRDIFF_MAX / 4;
    CHECK(gcnn_corr2d_f64(&p, x, w, NULL, 0, out) == GCNN_EOVERFLOW, "panel overflow");
    for (int s = 0; s <= 6; ++s)
        CHECK(gcnn_strerror(s) != NULL && strlen(gcnn_strerror(s)) > 0, "strerror %d", s);
    CHECK(strcmp(gcnn_simd_name(gcnn_simd_resolve(GCNN_SIMD_GENERIC)), "generic") == 0,
          "generic is always available");
}

/* Winograd's F(2x2,3x3), F(4x4,3x3) (trials 0-29) and F(2x2,5x5) (trials
 * 30-44), forward and weight gradient, against the double reference: the
 * error of every output, relative to the largest value of the correlation
 * of |x| with |w| (plus |bias|: the scale of the rounding), stays within
 * the bound of docs/design.md; float64 stays near its own rounding. */
static void test_winograd_against_reference(void)
{
    double worst[3] = {0, 0, 0}; /* float: F(2x2,3x3), F(4x4,3x3), F(2x2,5x5) */
    double worst_gw[3] = {0, 0, 0}; /* the same for the weight gradient */
    for (int trial = 0; trial < 45; ++trial) {
        const int kernel = trial < 30 ? 3 : 5;
        gcnn_corr2d_params p;
        memset(&p, 0, sizeof p);
        p.batch = randint(1, 2);
        p.in_channels = trial % 6 == 0 ? randint(30, 70) : randint(1, 12);
        p.out_channels = trial % 6 == 1 ? randint(20, 40) : randint(1, 12);
        p.height = randint(0, 19);
        p.width = randint(0, 37);
        p.kernel_h = p.kernel_w = kernel;
        p.stride_h = p.stride_w = 1;
        p.pad_top = randint(0, 4);
        p.pad_bottom = randint(0, 4);
        p.pad_left = randint(0, 4);
        p.pad_right = randint(0, 4);
        if (p.height + p.pad_top + p.pad_bottom < kernel)
            p.pad_bottom = kernel;
        if (p.width + p.pad_left + p.pad_right < kernel)
            p.pad_right = kernel;
        p.dilate_h = p.dilate_w = trial % 2; /* 0 and 1 both mean none */
        ptrdiff_t oh, ow;
        CHECK(gcnn_corr2d_out_shape(&p, &oh, &ow) == GCNN_OK, "winograd out_shape %d", trial);
        const size_t nx = (size_t)(p.batch * p.in_channels * p.height * p.width);
        const size_t nw = (size_t)(p.out_channels * p.in_channels * kernel * kernel);
        const size_t no = (size_t)(p.batch * p.out_channels * oh * ow);
        double *x = malloc((nx + 1) * sizeof *x), *w = malloc(nw * sizeof *w);
        double *xa = malloc((nx + 1) * sizeof *xa), *wa = malloc(nw * sizeof *wa);
        double *bias = malloc((size_t)p.out_channels * sizeof *bias);
        double *biasa = malloc((size_t)p.out_channels * sizeof *biasa);
        double *ref = malloc(no * sizeof *ref), *scale = malloc(no * sizeof *scale);
        double *out = malloc(no * sizeof *out);
        float *xf = malloc((nx + 1) * sizeof *xf), *wf = malloc(nw * sizeof *wf);
        float *biasf = malloc((size_t)p.out_channels * sizeof *biasf);
        float *outf = malloc(no * sizeof *outf), *again = malloc(no * sizeof *again);
        for (size_t i = 0; i < nx; ++i)
            xa[i] = fabs(x[i] = xf[i] = (float)uniform());
        for (size_t i = 0; i < nw; ++i)
            wa[i] = fabs(w[i] = wf[i] = (float)uniform());
        for (ptrdiff_t i = 0; i < p.out_channels; ++i)
            biasa[i] = fabs(bias[i] = biasf[i] = (float)uniform());
        const int with_bias = trial % 2;
        const double fill = trial % 3 ? 0.0 : 0.75;
        ref_corr2d(&p, x, w, with_bias ? bias : NULL, fill, ref, oh, ow);
        ref_corr2d(&p, xa, wa, with_bias ? biasa : NULL, fill, scale, oh, ow);
        /* A tile's outputs mix all its inputs, so an output whose own
         * window is all zeros still carries rounding from its neighbours':
         * the scale is the largest |x| * |w| correlation of the call. */
        double largest = 1e-300;
        for (size_t i = 0; i < no; ++i)
            largest = fmax(largest, scale[i]);
        for (int tile = 0; tile < (kernel == 3 ? 2 : 1); ++tile) {
            p.algorithm = tile ? GCNN_ALGORITHM_WINOGRAD_4 : GCNN_ALGORITHM_WINOGRAD_2;
            const int variant = kernel == 5 ? 2 : tile;
            const double bound = variant == 0 ? 4e-6 : variant == 1 ? 2e-5 : 1e-5;
            for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd)
                for (int threads = 1; threads <= 2; ++threads) {
                    p.simd = simd;
                    p.num_threads = threads;
                    CHECK(gcnn_corr2d_f64(&p, x, w, with_bias ? bias : NULL, fill, out) ==
                              GCNN_OK,
                          "winograd f64 status");
                    CHECK(gcnn_corr2d_f32(&p, xf, wf, with_bias ? biasf : NULL, (float)fill,
                                          outf) == GCNN_OK,
                          "winograd f32 status");
                    double err64 = 0, rel32 = 0;
                    for (size_t i = 0; i < no; ++i) {
                        err64 = fmax(err64, fabs(out[i] - ref[i]) / largest);
                        rel32 = fmax(rel32, fabs((double)outf[i] - ref[i]) / largest);
                    }
                    worst[variant] = fmax(worst[variant], rel32);
                    CHECK(err64 <= 1e-13, "trial %d tile %d simd %d threads %d: f64 error %g",
                          trial, 2 + 2 * tile, simd, threads, err64);
                    CHECK(rel32 <= bound,
                          "trial %d tile %d simd %d threads %d: f32 relative error %g", trial,
                          2 + 2 * tile, simd, threads, rel32);
                    if (threads == 1) {
                        memcpy(again, outf, no * sizeof *outf);
                    } else {
                        CHECK(memcmp(again, outf, no * sizeof *outf) == 0,
                              "trial %d tile %d simd %d: 1 and 2 threads differ", trial,
                              2 + 2 * tile, simd);
                    }
                }
        }
        /* the weight gradient by the transposed algorithm: grad_out is
         * drawn like the inputs, the scale is the largest |x| * |grad_out|
         * correlation */
        const size_t ng = no;
        double *g = malloc((ng + 1) * sizeof *g), *ga = malloc((ng + 1) * sizeof *ga);
        float *gf = malloc((ng + 1) * sizeof *gf);
        double *gw_ref = malloc(nw * sizeof *gw_ref), *gw_scale = malloc(nw * sizeof *gw_scale);
        double *gw = malloc(nw * sizeof *gw);
        float *gwf = malloc(nw * sizeof *gwf), *gw_again = malloc(nw * sizeof *gw_again);
        for (size_t i = 0; i < ng; ++i)
            ga[i] = fabs(g[i] = gf[i] = (float)uniform());
        ref_grad_weight(&p, x, g, fill, gw_ref, oh, ow);
        ref_grad_weight(&p, xa, ga, fill, gw_scale, oh, ow);
        double gw_largest = 1e-300;
        for (size_t i = 0; i < nw; ++i)
            gw_largest = fmax(gw_largest, gw_scale[i]);
        for (int tile = 0; tile < (kernel == 3 ? 2 : 1); ++tile) {
            p.algorithm = tile ? GCNN_ALGORITHM_WINOGRAD_4 : GCNN_ALGORITHM_WINOGRAD_2;
            const int variant = kernel == 5 ? 2 : tile;
            for (int simd = GCNN_SIMD_GENERIC; simd <= GCNN_SIMD_AVX512; ++simd)
                for (int threads = 1; threads <= 2; ++threads) {
                    p.simd = simd;
                    p.num_threads = threads;
                    CHECK(gcnn_corr2d_grad_weight_f64(&p, x, g, fill, gw) == GCNN_OK,
                          "winograd grad_weight f64 status");
                    CHECK(gcnn_corr2d_grad_weight_f32(&p, xf, gf, (float)fill, gwf) == GCNN_OK,
                          "winograd grad_weight f32 status");
                    double err64 = 0, rel32 = 0;
                    for (size_t i = 0; i < nw; ++i) {
                        err64 = fmax(err64, fabs(gw[i] - gw_ref[i]) / gw_largest);
                        rel32 = fmax(rel32, fabs((double)gwf[i] - gw_ref[i]) / gw_largest);
                    }
                    worst_gw[variant] = fmax(worst_gw[variant], rel32);
                    CHECK(err64 <= 1e-13,
                          "trial %d variant %d simd %d threads %d: grad_weight f64 error %g",
                          trial, variant, simd, threads, err64);
                    CHECK(rel32 <= 1e-5,
                          "trial %d variant %d simd %d threads %d: grad_weight f32 error %g",
                          trial, variant, simd, threads, rel32);
                    if (threads == 1)
                        memcpy(gw_again, gwf, nw * sizeof *gwf);
                    else
                        CHECK(memcmp(gw_again, gwf, nw * sizeof *gwf) == 0,
                              "trial %d variant %d simd %d: grad_weight 1 and 2 threads differ",
                              trial, variant, simd);
                }
        }
        free(g), free(ga), free(gf), free(gw_ref), free(gw_scale), free(gw), free(gwf);
        free(gw_again);
        free(x), free(w), free(xa), free(wa), free(bias), free(biasa), free(ref), free(scale);
        free(out), free(xf), free(wf), free(biasf), free(outf), free(again);
    }
    printf("winograd: worst float32 error relative to |x| * |w|: F(2x2,3x3) %.3g, "
           "F(4x4,3x3) %.3g, F(2x2,5x5) %.3g; weight gradient %.3g, %.3g, %.3g\n",
           worst[0], worst[1], worst[2], worst_gw[0], worst_gw[1], worst_gw[2]);
}

/* Which algorithm a call takes, and the requests that are errors. */
static void test_winograd_choice(void)
{
    gcnn_corr2d_params p;
    memset(&p, 0, sizeof p);
    p.batch = 2, p.in_channels = 16, p.height = 28, p.width = 28, p.out_channels = 16;
    p.kernel_h = p.kernel_w = 3, p.stride_h = p.stride_w = 1;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    /* The automatic rules depend on the path: the generic and AVX-512 paths
     * share one (checked here on the generic path, which every machine has),
     * AVX2 has its own (test_winograd_choice_avx2). */
    p.simd = GCNN_SIMD_GENERIC;
    int algorithm = -1;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_4,
          "float 16 channels 28x28 takes F(4x4,3x3), got %d", algorithm);
    CHECK(gcnn_corr2d_algorithm(&p, 1, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "double takes direct correlation unless asked, got %d", algorithm);
    p.height = p.width = 2; /* a 2x2 output: F(4x4) would waste 3/4 of its tile */
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "2x2 output: too few tiles to fill a vector, direct; got %d", algorithm);
    p.algorithm = GCNN_ALGORITHM_WINOGRAD;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_2,
          "2x2 output takes F(2x2,3x3) when asked, got %d", algorithm);
    p.algorithm = GCNN_ALGORITHM_AUTO;
    p.height = p.width = 28;
    p.out_channels = 12; /* the transforms cost more than the products save */
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "12 output channels take direct correlation, got %d", algorithm);
    p.out_channels = 16;
    p.algorithm = GCNN_ALGORITHM_WINOGRAD;
    CHECK(gcnn_corr2d_algorithm(&p, 1, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_4,
          "double takes Winograd when asked, got %d", algorithm);
    p.algorithm = GCNN_ALGORITHM_DIRECT;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "direct when asked, got %d", algorithm);
    p.algorithm = GCNN_ALGORITHM_AUTO;
    p.in_channels = 3; /* a lifting layer on RGB: the transforms would dominate */
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "3 input channels take direct correlation, got %d", algorithm);
    p.in_channels = 16;
    const gcnn_corr2d_params good = p;
    /* Where F(4x4,3x3) would leave half its lanes empty, F(2x2,3x3) from 24
     * channels when it fills 70% of them, from 32 channels 55% */
    const struct {
        ptrdiff_t channels, side;
        int algorithm;
    } small[] = {
        {40, 12, GCNN_ALGORITHM_WINOGRAD_2}, {24, 16, GCNN_ALGORITHM_WINOGRAD_2},
        {16, 12, GCNN_ALGORITHM_DIRECT},     {16, 16, GCNN_ALGORITHM_DIRECT},
        {40, 6, GCNN_ALGORITHM_WINOGRAD_2},  {24, 6, GCNN_ALGORITHM_DIRECT},
        {40, 8, GCNN_ALGORITHM_DIRECT},      {64, 4, GCNN_ALGORITHM_DIRECT},
        {16, 10, GCNN_ALGORITHM_WINOGRAD_2}, {16, 20, GCNN_ALGORITHM_WINOGRAD_4},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; ++i) {
        p.in_channels = p.out_channels = small[i].channels;
        p.height = p.width = small[i].side;
        CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
                  algorithm == small[i].algorithm,
              "%td channels, %tdx%td: %d, got %d", small[i].channels, small[i].side,
              small[i].side, small[i].algorithm, algorithm);
    }
    p = good;
    /* 5x5: F(2x2,5x5) only, automatically from 64 channels at 20x20 */
    p.kernel_h = p.kernel_w = 5;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 2;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "5x5 with 16 channels takes direct correlation, got %d", algorithm);
    p.in_channels = p.out_channels = 64;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_2,
          "5x5 with 64 channels at 28x28 takes F(2x2,5x5), got %d", algorithm);
    p.height = p.width = 16;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "5x5 at 16x16 takes direct correlation, got %d", algorithm);
    p.in_channels = p.out_channels = 16;
    p.algorithm = GCNN_ALGORITHM_WINOGRAD;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_2,
          "5x5 takes F(2x2,5x5) when asked, got %d", algorithm);
    p.algorithm = GCNN_ALGORITHM_WINOGRAD_4;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_EINVAL,
          "F(4x4,3x3) asked for a 5x5 kernel");
    p = good;
    /* where Winograd does not apply: a request for it falls back (WINOGRAD)
     * or is an error (a tile) */
    const struct {
        ptrdiff_t kernel, stride, dilate;
        int boundary;
    } cases[] = {{7, 1, 1, GCNN_BOUNDARY_FILL},
                 {3, 2, 1, GCNN_BOUNDARY_FILL},
                 {3, 1, 2, GCNN_BOUNDARY_FILL},
                 {3, 1, 1, GCNN_BOUNDARY_WRAP}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        p = good;
        p.kernel_h = p.kernel_w = cases[i].kernel;
        p.stride_w = cases[i].stride;
        p.dilate_h = cases[i].dilate;
        p.boundary = cases[i].boundary;
        p.algorithm = GCNN_ALGORITHM_WINOGRAD;
        CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
                  algorithm == GCNN_ALGORITHM_DIRECT,
              "case %zu: direct where Winograd does not apply, got %d", i, algorithm);
        p.algorithm = GCNN_ALGORITHM_AUTO;
        CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
                  algorithm == GCNN_ALGORITHM_DIRECT,
              "case %zu: auto is direct, got %d", i, algorithm);
        for (int tile = GCNN_ALGORITHM_WINOGRAD_2; tile <= GCNN_ALGORITHM_WINOGRAD_4; ++tile) {
            p.algorithm = tile;
            CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_EINVAL,
                  "case %zu: tile %d where it does not apply", i, tile);
        }
    }
    p = good;
    p.algorithm = 9;
    CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_EINVAL, "unknown algorithm");
    CHECK(gcnn_corr2d_algorithm(NULL, 0, &algorithm) == GCNN_EINVAL, "NULL params");
    p.algorithm = -1;
    float x[16 * 28 * 28] = {0}, w[16 * 16 * 9] = {0}, out[16 * 28 * 28];
    p.batch = 1;
    CHECK(gcnn_corr2d_f32(&p, x, w, NULL, 0.f, out) == GCNN_EINVAL, "f32 unknown algorithm");
    p.algorithm = GCNN_ALGORITHM_WINOGRAD;
    uint32_t xi[16 * 28 * 28] = {0}, wi[16 * 16 * 9] = {0}, outi[16 * 28 * 28];
    CHECK(gcnn_corr2d_u32(&p, xi, wi, NULL, 0, outi) == GCNN_EINVAL,
          "integer kernels compute directly only");
    float grad_w[16 * 16 * 9];
    CHECK(gcnn_corr2d_grad_weight_f32(&p, x, out, 0.f, grad_w) == GCNN_OK,
          "the weight gradient takes Winograd when asked");
    p.algorithm = GCNN_ALGORITHM_DIRECT;
    CHECK(gcnn_corr2d_grad_weight_f32(&p, x, out, 0.f, grad_w) == GCNN_OK,
          "the weight gradient accepts direct");
    /* its automatic rule: 16 channels direct, 32 channels at 28x28 F(4x4,3x3) */
    p.algorithm = GCNN_ALGORITHM_AUTO;
    CHECK(gcnn_corr2d_grad_weight_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "weight gradient, 16 channels: direct, got %d", algorithm);
    p.in_channels = p.out_channels = 32;
    CHECK(gcnn_corr2d_grad_weight_algorithm(&p, 0, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_WINOGRAD_4,
          "weight gradient, 32 channels 28x28: F(4x4,3x3), got %d", algorithm);
    CHECK(gcnn_corr2d_grad_weight_algorithm(&p, 1, &algorithm) == GCNN_OK &&
              algorithm == GCNN_ALGORITHM_DIRECT,
          "weight gradient, double: direct unless asked, got %d", algorithm);
    p.kernel_h = p.kernel_w = 5;
    p.algorithm = GCNN_ALGORITHM_WINOGRAD_4;
    CHECK(gcnn_corr2d_grad_weight_algorithm(&p, 0, &algorithm) == GCNN_EINVAL,
          "weight gradient: F(4x4,3x3) asked for a 5x5 kernel");
}

/* The AVX2 path's automatic rule (winograd.c): Winograd from smaller maps
 * than on the other paths, F(2x2,3x3) below 20x20 outputs. */
static void test_winograd_choice_avx2(void)
{
    if (gcnn_simd_resolve(GCNN_SIMD_AVX2) != GCNN_SIMD_AVX2) {
        printf("winograd choice on AVX2: skipped (no AVX2 on this CPU)\n");
        return;
    }
    const struct {
        ptrdiff_t channels, side; /* a 3x3 correlation with padding 1: side x side out */
        int forward, weight_gradient;
    } cases[] = {
        {16, 28, GCNN_ALGORITHM_WINOGRAD_4, GCNN_ALGORITHM_WINOGRAD_2},
        {32, 28, GCNN_ALGORITHM_WINOGRAD_4, GCNN_ALGORITHM_WINOGRAD_4},
        {40, 10, GCNN_ALGORITHM_WINOGRAD_2, GCNN_ALGORITHM_WINOGRAD_2},
        {16, 8, GCNN_ALGORITHM_WINOGRAD_2, GCNN_ALGORITHM_WINOGRAD_2},
        {16, 6, GCNN_ALGORITHM_WINOGRAD_2, GCNN_ALGORITHM_DIRECT},
        {16, 4, GCNN_ALGORITHM_DIRECT, GCNN_ALGORITHM_DIRECT},
        {24, 4, GCNN_ALGORITHM_WINOGRAD_2, GCNN_ALGORITHM_DIRECT},
        {12, 28, GCNN_ALGORITHM_DIRECT, GCNN_ALGORITHM_DIRECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        gcnn_corr2d_params p;
        memset(&p, 0, sizeof p);
        p.batch = 2, p.in_channels = p.out_channels = cases[i].channels;
        p.height = p.width = cases[i].side;
        p.kernel_h = p.kernel_w = 3, p.stride_h = p.stride_w = 1;
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
        p.simd = GCNN_SIMD_AVX2;
        int algorithm = -1;
        CHECK(gcnn_corr2d_algorithm(&p, 0, &algorithm) == GCNN_OK &&
                  algorithm == cases[i].forward,
              "AVX2, %td channels, %tdx%td: forward %d, got %d", cases[i].channels,
              cases[i].side, cases[i].side, cases[i].forward, algorithm);
        CHECK(gcnn_corr2d_grad_weight_algorithm(&p, 0, &algorithm) == GCNN_OK &&
                  algorithm == cases[i].weight_gradient,
              "AVX2, %td channels, %tdx%td: weight gradient %d, got %d", cases[i].channels,
              cases[i].side, cases[i].side, cases[i].weight_gradient, algorithm);
        CHECK(gcnn_corr2d_algorithm(&p, 1, &algorithm) == GCNN_OK &&
                  algorithm == GCNN_ALGORITHM_DIRECT,
              "AVX2, double: direct unless asked, got %d", algorithm);
    }
}

int main(void)
{
    test_known_answer();
    test_random_against_reference();
    test_threads_identical();
    test_grad_weight_against_reference();
    test_grad_weight_ignores_unread_columns();
    test_batch_norm_against_reference();
    test_max_pool_against_reference();
    test_pooled_batch_norm();
    test_interrupt();
    test_int_known_answer();
    test_int_against_reference();
    test_statuses();
    test_winograd_against_reference();
    test_winograd_choice();
    test_winograd_choice_avx2();
    printf("kernels: best SIMD path %s, worker threads %s\n",
           gcnn_simd_name(gcnn_simd_resolve(GCNN_SIMD_AUTO)), gcnn_have_threads() ? "yes" : "no");
    if (failures) {
        printf("0 passed, %d failed\n", failures);
        return 1;
    }
    printf("14 passed, 0 failed\n");
    return 0;
}
