/*
 * ReLU forward and backward for one element type, included by channels.c
 * with GCNN_T, GCNN_UINT (the unsigned integer of its size) and GCNN_NAME(s)
 * defined.  Memory-bound elementwise loops in
 * chunks of GCNN_RELU_CHUNK values, one chunk per work item.
 */

struct GCNN_NAME(relu_work) {
    const GCNN_T *x, *grad;
    GCNN_T *out;
    uint8_t *positive;
    const uint8_t *positive_in;
    ptrdiff_t count;
};

static int GCNN_NAME(relu_item)(void *arg, ptrdiff_t item, int worker)
{
    const struct GCNN_NAME(relu_work) *w = arg;
    const ptrdiff_t start = item * GCNN_RELU_CHUNK;
    const ptrdiff_t stop = w->count - start < GCNN_RELU_CHUNK ? w->count : start + GCNN_RELU_CHUNK;
    const GCNN_T *x = w->x; /* (out may be x) */
    GCNN_T *out = w->out;
    uint8_t *restrict positive = w->positive;
    (void)worker;
    for (ptrdiff_t i = start; i < stop; ++i) {
        /* max(x, 0) with NaN kept (as np.maximum); the gradient passes where x > 0 */
        out[i] = x[i] < 0 ? 0 : x[i];
        positive[i] = x[i] > 0;
    }
    return GCNN_OK;
}

static int GCNN_NAME(relu_backward_item)(void *arg, ptrdiff_t item, int worker)
{
    const struct GCNN_NAME(relu_work) *w = arg;
    const ptrdiff_t start = item * GCNN_RELU_CHUNK;
    const ptrdiff_t stop = w->count - start < GCNN_RELU_CHUNK ? w->count : start + GCNN_RELU_CHUNK;
    const GCNN_T *grad = w->grad; /* (out may be grad) */
    const uint8_t *restrict positive = w->positive_in;
    GCNN_T *out = w->out;
    (void)worker;
    /* a bitwise select, not a branch: the mask is as random as the signs */
    for (ptrdiff_t i = start; i < stop; ++i) {
        GCNN_UINT bits;
        memcpy(&bits, &grad[i], sizeof bits);
        bits &= (GCNN_UINT)0 - (GCNN_UINT)positive[i];
        memcpy(&out[i], &bits, sizeof bits);
    }
    return GCNN_OK;
}

static int GCNN_NAME(relu)(const GCNN_T *x, ptrdiff_t count, GCNN_T *out, uint8_t *positive,
                           int threads)
{
    struct GCNN_NAME(relu_work) w = {x, NULL, out, positive, NULL, count};
    return gcnn_parallel_for((count + GCNN_RELU_CHUNK - 1) / GCNN_RELU_CHUNK, threads,
                             GCNN_NAME(relu_item), &w, NULL);
}

static int GCNN_NAME(relu_backward)(const GCNN_T *grad, const uint8_t *positive, ptrdiff_t count,
                                    GCNN_T *grad_x, int threads)
{
    struct GCNN_NAME(relu_work) w = {NULL, grad, grad_x, NULL, positive, count};
    return gcnn_parallel_for((count + GCNN_RELU_CHUNK - 1) / GCNN_RELU_CHUNK, threads,
                             GCNN_NAME(relu_backward_item), &w, NULL);
}
