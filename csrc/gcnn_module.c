/*
 * gcnn._core: the module proper, the one file that calls the kernels and
 * speaks the NumPy C API (output_pool.c holds its output-buffer pool, peak.c
 * the machine probe of the benchmark).
 *
 * It converts arguments into aligned, C-contiguous, native-order arrays of
 * one float type, checks shapes again (the Python wrapper already checked
 * them with friendlier words), releases the GIL around the kernel, and turns
 * the kernel's status into an exception once the GIL is back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_25_API_VERSION
#include <numpy/arrayobject.h>

#include "gcnn_kernels.h"
#include "peak.h"

#if NPY_ABI_VERSION < 0x02000000 /* NumPy 1.x headers: NumPy 2's accessor */
#define PyDataType_ELSIZE(descr) ((descr)->elsize)
#endif

#include "output_pool.h"

#include <stdlib.h>

typedef struct {
    PyObject *output_handler; /* capsule from gcnn_output_pool_new (output_pool.c) */
} core_state;

/* A new C-contiguous output array (a result, or a mask or index a backward
 * function takes back); large ones come from the module's pool. */
static PyArrayObject *new_output(PyObject *module, int ndim, npy_intp *dims, int typenum)
{
    core_state *state = PyModule_GetState(module);
    PyArray_Descr *descr = PyArray_DescrFromType(typenum);
    if (descr == NULL)
        return NULL;
    npy_intp bytes = PyDataType_ELSIZE(descr);
    Py_DECREF(descr);
    for (int i = 0; i < ndim; ++i) {
        if (dims[i] != 0 && bytes > NPY_MAX_INTP / dims[i]) {
            PyErr_SetString(PyExc_ValueError, "output too large: its size overflows");
            return NULL;
        }
        bytes *= dims[i];
    }
    if (state == NULL || state->output_handler == NULL || (size_t)bytes < GCNN_POOL_MIN_BYTES)
        return (PyArrayObject *)PyArray_SimpleNew(ndim, dims, typenum);
    /* The handler is a context variable: set it for this allocation only. */
    PyObject *previous = PyDataMem_SetHandler(state->output_handler);
    if (previous == NULL)
        return NULL;
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, typenum);
    PyObject *restored = PyDataMem_SetHandler(previous);
    Py_DECREF(previous);
    if (restored == NULL) {
        Py_XDECREF(out);
        return NULL;
    }
    Py_DECREF(restored);
    return out;
}

static const char *shape_text(PyArrayObject *a, char *buf, size_t size)
{
    size_t used = 0;
    int nd = PyArray_NDIM(a);
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < nd && used < size; ++i)
        used += (size_t)snprintf(buf + used, size - used, "%s%" NPY_INTP_FMT,
                                 i ? ", " : "", PyArray_DIM(a, i));
    if (used < size)
        snprintf(buf + used, size - used, nd == 1 ? ",)" : ")");
    return buf;
}

/* A float32/float64 ndarray of exactly `typenum` (or any float32/float64
 * dtype when typenum is -1), as an aligned, contiguous, native-order array.
 * Returns a new reference or NULL with TypeError/ValueError set. */
static PyArrayObject *as_float_array(PyObject *obj, const char *name, int typenum,
                                     int ndim)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray, got %.200s", name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArray_Descr *descr = PyArray_DESCR((PyArrayObject *)obj);
    int got = descr->type_num;
    if (got != NPY_FLOAT32 && got != NPY_FLOAT64) {
        PyErr_Format(PyExc_TypeError, "%s must have dtype float32 or float64, got %S",
                     name, (PyObject *)descr);
        return NULL;
    }
    if (typenum >= 0 && got != typenum) {
        PyErr_Format(PyExc_TypeError, "%s must have the dtype of x (%s), got %S", name,
                     typenum == NPY_FLOAT32 ? "float32" : "float64", (PyObject *)descr);
        return NULL;
    }
    if (PyArray_NDIM((PyArrayObject *)obj) != ndim) {
        char buf[128];
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got shape %s", name, ndim,
                     shape_text((PyArrayObject *)obj, buf, sizeof buf));
        return NULL;
    }
    return (PyArrayObject *)PyArray_FROM_OTF(obj, got, NPY_ARRAY_IN_ARRAY);
}

/* The kernels' interrupt callback: take the GIL back for a moment and let
 * Python run its signal handlers (Ctrl-C raises KeyboardInterrupt there).
 * ctx is the calling thread's saved state; only that thread calls this. */
static int check_interrupt(void *ctx)
{
    PyThreadState **state = ctx;
    PyEval_RestoreThread(*state);
    const int stop = PyErr_CheckSignals() != 0;
    *state = PyEval_SaveThread();
    return stop;
}

/* Turn a kernel status into an exception; 0 when status is GCNN_OK. */
static int raise_status(int status)
{
    switch (status) {
    case GCNN_OK:
        return 0;
    case GCNN_EINTERRUPTED: /* check_interrupt left the signal handler's exception */
        if (!PyErr_Occurred())
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        return -1;
    case GCNN_ENOMEM:
        PyErr_NoMemory();
        return -1;
    case GCNN_EINTERNAL:
        PyErr_Format(PyExc_SystemError, "gcnn kernel: %s", gcnn_strerror(status));
        return -1;
    default:
        PyErr_Format(PyExc_ValueError, "gcnn kernel: %s", gcnn_strerror(status));
        return -1;
    }
}

/* Check the sizes and parameters gathered in p (x and its kernel already
 * read); on success store the output size.  Returns 0, or -1 with
 * ValueError set. */
static int check_params(const gcnn_corr2d_params *p, PyArrayObject *x, const char *kernel_text,
                        ptrdiff_t *out_h, ptrdiff_t *out_w)
{
    char buf[128];
    if (p->batch < 1 || p->in_channels < 1 || p->out_channels < 1 || p->kernel_h < 1 ||
        p->kernel_w < 1) {
        PyErr_Format(PyExc_ValueError, "x and the kernel must not be empty, got x %s and %s",
                     shape_text(x, buf, sizeof buf), kernel_text);
        return -1;
    }
    if (p->stride_h < 1 || p->stride_w < 1) {
        PyErr_Format(PyExc_ValueError, "stride must be positive, got (%zd, %zd)", p->stride_h,
                     p->stride_w);
        return -1;
    }
    if (p->pad_top < 0 || p->pad_bottom < 0 || p->pad_left < 0 || p->pad_right < 0) {
        PyErr_SetString(PyExc_ValueError, "padding must be nonnegative");
        return -1;
    }
    if (p->boundary < GCNN_BOUNDARY_FILL || p->boundary > GCNN_BOUNDARY_SYMM) {
        PyErr_Format(PyExc_ValueError, "boundary must be 0 (fill), 1 (wrap) or 2 (symm), got %d",
                     p->boundary);
        return -1;
    }
    if (p->dilate_h < 1 || p->dilate_w < 1 ||
        ((p->dilate_h > 1 || p->dilate_w > 1) && p->boundary != GCNN_BOUNDARY_FILL)) {
        PyErr_Format(PyExc_ValueError,
                     "dilation must be positive, and 1 unless boundary is 0 (fill), got "
                     "(%zd, %zd) with boundary %d",
                     p->dilate_h, p->dilate_w, p->boundary);
        return -1;
    }
    int status = gcnn_corr2d_out_shape(p, out_h, out_w);
    if (status == GCNN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError, "padding or dilation too large: sizes overflow");
        return -1;
    }
    if (status != GCNN_OK) {
        PyErr_Format(PyExc_ValueError,
                     "the padded input must be at least as large as the kernel "
                     "(and non-empty for wrap/symm), got x %s, %s, padding "
                     "(%zd, %zd, %zd, %zd)",
                     shape_text(x, buf, sizeof buf), kernel_text, p->pad_top, p->pad_bottom,
                     p->pad_left, p->pad_right);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(correlate_doc,
"correlate(x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0),\n"
"          boundary=0, fillvalue=0.0, num_threads=1, simd=0, dilation=(1, 1),\n"
"          algorithm=0)\n"
"--\n\n"
"Batched multi-channel cross-correlation (private; use the gcnn functions).\n\n"
"x (N, C, H, W) and weight (O, C, kh, kw) float32 or float64 of one dtype,\n"
"bias None or (O,). padding is (top, bottom, left, right); boundary is\n"
"0 fill, 1 wrap, 2 symmetric. dilation spreads x's pixels apart with fill\n"
"values between them (fill boundary only). algorithm: 0 automatic (Winograd\n"
"for float32 3x3 stride-1 fill-boundary calls where it is expected to be\n"
"faster, direct otherwise), 1 direct, 2 Winograd wherever it applies (float32\n"
"and float64), 3 Winograd F(2x2,3x3), 4 F(4x4,3x3) (ValueError where a tile\n"
"does not apply). Returns (N, O, H', W') with\n"
"H' = ((H - 1) * dilation_h + 1 + top + bottom - kh) // stride_h + 1.");

PyDoc_STRVAR(correlate_int_doc,
"correlate_int(x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0),\n"
"              boundary=0, fillvalue=0, num_threads=1, simd=0, dilation=(1, 1),\n"
"              algorithm=0)\n"
"--\n\n"
"correlate in wrap-around integer arithmetic (private; use the gcnn functions).\n\n"
"x, weight and bias of one integer dtype of 4 or 8 bytes, signed or\n"
"unsigned; fillvalue an integer, taken modulo 2**bits. Every output is the\n"
"exact integer sum reduced modulo 2**bits, returned in x's dtype (two's\n"
"complement for signed dtypes). Other arguments as for correlate.");

/* An integer ndarray of 4 or 8 bytes (of x's dtype when `like` is not
 * NULL), as an aligned, contiguous, native-order array.  Returns a new
 * reference or NULL with TypeError/ValueError set. */
static PyArrayObject *as_int_array(PyObject *obj, const char *name, PyArrayObject *like,
                                   int ndim)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray, got %.200s", name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArray_Descr *descr = PyArray_DESCR((PyArrayObject *)obj);
    if (like != NULL && !PyArray_EquivTypes(descr, PyArray_DESCR(like))) {
        PyErr_Format(PyExc_TypeError, "%s must have the dtype of x (%S), got %S", name,
                     (PyObject *)PyArray_DESCR(like), (PyObject *)descr);
        return NULL;
    }
    const npy_intp size = PyArray_ITEMSIZE((PyArrayObject *)obj);
    if (!PyArray_ISINTEGER((PyArrayObject *)obj) || (size != 4 && size != 8)) {
        PyErr_Format(PyExc_TypeError, "%s must have an integer dtype of 4 or 8 bytes, got %S", name,
                     (PyObject *)descr);
        return NULL;
    }
    if (PyArray_NDIM((PyArrayObject *)obj) != ndim) {
        char buf[128];
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got shape %s", name, ndim,
                     shape_text((PyArrayObject *)obj, buf, sizeof buf));
        return NULL;
    }
    return (PyArrayObject *)PyArray_FROM_OTF(obj, descr->type_num, NPY_ARRAY_IN_ARRAY);
}

/* What correlate and correlate_int share: the sizes of x (N, C, H, W),
 * weight (O, C, kh, kw) and bias (O,) or NULL, checked, into p; the output
 * size into out_h, out_w.  Returns 0, or -1 with ValueError set. */
static int read_correlate_shapes(PyArrayObject *x, PyArrayObject *w, PyArrayObject *bias,
                                 gcnn_corr2d_params *p, ptrdiff_t *out_h, ptrdiff_t *out_w)
{
    char buf1[128], buf2[160];
    p->batch = PyArray_DIM(x, 0);
    p->in_channels = PyArray_DIM(x, 1);
    p->height = PyArray_DIM(x, 2);
    p->width = PyArray_DIM(x, 3);
    p->out_channels = PyArray_DIM(w, 0);
    p->kernel_h = PyArray_DIM(w, 2);
    p->kernel_w = PyArray_DIM(w, 3);
    if (PyArray_DIM(w, 1) != p->in_channels) {
        PyErr_Format(PyExc_ValueError,
                     "weight must have shape (out_channels, %zd, kh, kw) for x of shape "
                     "%s, got %s",
                     p->in_channels, shape_text(x, buf1, sizeof buf1),
                     shape_text(w, buf2, sizeof buf2));
        return -1;
    }
    if (bias != NULL && PyArray_DIM(bias, 0) != p->out_channels) {
        PyErr_Format(PyExc_ValueError, "bias must have shape (%zd,), got %s",
                     p->out_channels, shape_text(bias, buf1, sizeof buf1));
        return -1;
    }
    snprintf(buf2, sizeof buf2, "weight ");
    shape_text(w, buf2 + 7, sizeof buf2 - 7);
    return check_params(p, x, buf2, out_h, out_w);
}

/* correlate (integer == 0) and correlate_int (integer == 1). */
static PyObject *correlate_common(PyObject *module, PyObject *args, PyObject *kwargs,
                                  int integer)
{
    static char *keywords[] = {"x",         "weight",      "bias", "stride",   "padding",
                               "boundary",  "fillvalue",   "num_threads", "simd",
                               "dilation",  "algorithm",   NULL};
    PyObject *x_obj, *w_obj, *bias_obj = Py_None, *fill_obj = NULL;
    gcnn_corr2d_params p;
    memset(&p, 0, sizeof p);
    p.stride_h = p.stride_w = 1;
    p.dilate_h = p.dilate_w = 1;
    p.num_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs,
                                     integer ? "OO|O(nn)(nnnn)iOii(nn)i:correlate_int"
                                             : "OO|O(nn)(nnnn)iOii(nn)i:correlate",
                                     keywords, &x_obj, &w_obj, &bias_obj, &p.stride_h,
                                     &p.stride_w, &p.pad_top, &p.pad_bottom, &p.pad_left,
                                     &p.pad_right, &p.boundary, &fill_obj, &p.num_threads,
                                     &p.simd, &p.dilate_h, &p.dilate_w, &p.algorithm))
        return NULL;
    double fill_double = 0.0;
    unsigned long long fill_bits = 0;
    if (fill_obj != NULL) {
        /* an integer fill keeps all its bits; taken modulo 2**64 here and
         * modulo 2**bits by the kernel's type */
        if (integer)
            fill_bits = PyLong_AsUnsignedLongLongMask(fill_obj);
        else
            fill_double = PyFloat_AsDouble(fill_obj);
        if (PyErr_Occurred())
            return NULL;
    }

    PyArrayObject *x = NULL, *w = NULL, *bias = NULL, *out = NULL;
    x = integer ? as_int_array(x_obj, "x", NULL, 4) : as_float_array(x_obj, "x", -1, 4);
    if (x == NULL)
        goto fail;
    const int typenum = PyArray_TYPE(x);
    w = integer ? as_int_array(w_obj, "weight", x, 4) : as_float_array(w_obj, "weight", typenum, 4);
    if (w == NULL)
        goto fail;
    if (bias_obj != Py_None) {
        bias = integer ? as_int_array(bias_obj, "bias", x, 1)
                       : as_float_array(bias_obj, "bias", typenum, 1);
        if (bias == NULL)
            goto fail;
    }
    ptrdiff_t out_h, out_w;
    if (read_correlate_shapes(x, w, bias, &p, &out_h, &out_w) < 0)
        goto fail;
    int chosen;
    if (p.algorithm < GCNN_ALGORITHM_AUTO || p.algorithm > GCNN_ALGORITHM_WINOGRAD_4 ||
        (integer && p.algorithm > GCNN_ALGORITHM_DIRECT)) {
        PyErr_Format(PyExc_ValueError,
                     integer ? "algorithm must be 0 (auto) or 1 (direct) for integers, got %d"
                             : "algorithm must be 0 (auto), 1 (direct), 2 (Winograd where it "
                               "applies), 3 (Winograd F(2x2,3x3) or F(2x2,5x5)) or 4 (F(4x4,3x3)), "
                               "got %d",
                     p.algorithm);
        goto fail;
    }
    if (!integer && gcnn_corr2d_algorithm(&p, 0, &chosen) != GCNN_OK) {
        PyErr_Format(PyExc_ValueError,
                     "algorithm %d (a Winograd tile) needs a %s kernel, stride 1, no "
                     "dilation and boundary 0 (fill), got a %zdx%zd kernel, stride (%zd, %zd), "
                     "dilation (%zd, %zd), boundary %d",
                     p.algorithm, p.algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? "3x3" : "3x3 or 5x5",
                     p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.dilate_h, p.dilate_w,
                     p.boundary);
        goto fail;
    }
    npy_intp dims[4] = {p.batch, p.out_channels, out_h, out_w};
    out = new_output(module, 4, dims, typenum);
    if (out == NULL)
        goto fail;

    const void *bias_data = bias ? PyArray_DATA(bias) : NULL;
    const npy_intp size = PyArray_ITEMSIZE(x);
    int status = GCNN_EINTERNAL;
    PyThreadState *state = PyEval_SaveThread();
    p.interrupted = check_interrupt;
    p.interrupt_ctx = &state;
    if (!integer && typenum == NPY_FLOAT32)
        status = gcnn_corr2d_f32(&p, PyArray_DATA(x), PyArray_DATA(w), bias_data,
                                 (float)fill_double, PyArray_DATA(out));
    else if (!integer)
        status = gcnn_corr2d_f64(&p, PyArray_DATA(x), PyArray_DATA(w), bias_data,
                                 fill_double, PyArray_DATA(out));
    else if (size == 4)
        status = gcnn_corr2d_u32(&p, PyArray_DATA(x), PyArray_DATA(w), bias_data,
                                 (uint32_t)fill_bits, PyArray_DATA(out));
    else if (size == 8)
        status = gcnn_corr2d_u64(&p, PyArray_DATA(x), PyArray_DATA(w), bias_data,
                                 (uint64_t)fill_bits, PyArray_DATA(out));
    PyEval_RestoreThread(state);
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    Py_DECREF(w);
    Py_XDECREF(bias);
    return (PyObject *)out;

fail:
    Py_XDECREF(x);
    Py_XDECREF(w);
    Py_XDECREF(bias);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *core_correlate(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return correlate_common(module, args, kwargs, 0);
}

static PyObject *core_correlate_int(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return correlate_common(module, args, kwargs, 1);
}

PyDoc_STRVAR(grad_weight_doc,
"grad_weight(x, grad_out, kernel_size, stride=(1, 1), padding=(0, 0, 0, 0),\n"
"            boundary=0, fillvalue=0.0, num_threads=1, simd=0, algorithm=0)\n"
"--\n\n"
"Weight gradient of correlate (private; use the gcnn functions).\n\n"
"x (N, C, H, W) and grad_out (N, O, H', W') float32 or float64 of one dtype,\n"
"kernel_size (kh, kw), the other arguments as for correlate (without\n"
"dilation). grad_out must have correlate's output shape. Returns (O, C,\n"
"kh, kw): grad_w[o, c, ky, kx] = sum over n, y, x of grad_out[n, o, y, x] *\n"
"xpad[n, c, y * stride_h + ky, x * stride_w + kx]. algorithm as for correlate\n"
"(automatic: Winograd's transposed algorithm for float32 3x3 and 5x5 stride-1\n"
"calls with at least 16 channels in and out).");

static PyObject *core_grad_weight(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"x",        "grad_out",  "kernel_size", "stride", "padding",
                               "boundary", "fillvalue", "num_threads", "simd",   "algorithm",
                               NULL};
    PyObject *x_obj, *g_obj;
    gcnn_corr2d_params p;
    memset(&p, 0, sizeof p);
    p.stride_h = p.stride_w = 1;
    p.dilate_h = p.dilate_w = 1;
    p.num_threads = 1;
    double fillvalue = 0.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO(nn)|(nn)(nnnn)idiii:grad_weight",
                                     keywords, &x_obj, &g_obj, &p.kernel_h, &p.kernel_w,
                                     &p.stride_h, &p.stride_w, &p.pad_top, &p.pad_bottom,
                                     &p.pad_left, &p.pad_right, &p.boundary, &fillvalue,
                                     &p.num_threads, &p.simd, &p.algorithm))
        return NULL;

    PyArrayObject *x = NULL, *g = NULL, *out = NULL;
    char buf1[128], buf2[128], kernel_text[64];
    x = as_float_array(x_obj, "x", -1, 4);
    if (x == NULL)
        goto fail;
    const int typenum = PyArray_TYPE(x);
    g = as_float_array(g_obj, "grad_out", typenum, 4);
    if (g == NULL)
        goto fail;
    p.batch = PyArray_DIM(x, 0);
    p.in_channels = PyArray_DIM(x, 1);
    p.height = PyArray_DIM(x, 2);
    p.width = PyArray_DIM(x, 3);
    p.out_channels = PyArray_DIM(g, 1);
    snprintf(kernel_text, sizeof kernel_text, "kernel_size (%zd, %zd)", p.kernel_h, p.kernel_w);
    ptrdiff_t out_h, out_w;
    if (check_params(&p, x, kernel_text, &out_h, &out_w) < 0)
        goto fail;
    if (PyArray_DIM(g, 0) != p.batch || PyArray_DIM(g, 2) != out_h ||
        PyArray_DIM(g, 3) != out_w) {
        PyErr_Format(PyExc_ValueError,
                     "grad_out must have shape (%zd, out_channels, %zd, %zd) for x of shape "
                     "%s, got %s",
                     p.batch, out_h, out_w, shape_text(x, buf1, sizeof buf1),
                     shape_text(g, buf2, sizeof buf2));
        goto fail;
    }
    int chosen;
    if (p.algorithm < GCNN_ALGORITHM_AUTO || p.algorithm > GCNN_ALGORITHM_WINOGRAD_4) {
        PyErr_Format(PyExc_ValueError,
                     "algorithm must be 0 (auto), 1 (direct), 2 (Winograd where it applies), "
                     "3 (Winograd F(2x2,3x3) or F(2x2,5x5)) or 4 (F(4x4,3x3)), got %d",
                     p.algorithm);
        goto fail;
    }
    if (gcnn_corr2d_grad_weight_algorithm(&p, typenum == NPY_FLOAT64, &chosen) != GCNN_OK) {
        PyErr_Format(PyExc_ValueError,
                     "algorithm %d (a Winograd tile) needs a %s kernel, stride 1 and boundary "
                     "0 (fill), got a %zdx%zd kernel, stride (%zd, %zd), boundary %d",
                     p.algorithm, p.algorithm == GCNN_ALGORITHM_WINOGRAD_4 ? "3x3" : "3x3 or 5x5",
                     p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.boundary);
        goto fail;
    }
    npy_intp dims[4] = {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
    out = new_output(module, 4, dims, typenum);
    if (out == NULL)
        goto fail;

    int status;
    PyThreadState *state = PyEval_SaveThread();
    p.interrupted = check_interrupt;
    p.interrupt_ctx = &state;
    if (typenum == NPY_FLOAT32)
        status = gcnn_corr2d_grad_weight_f32(&p, PyArray_DATA(x), PyArray_DATA(g),
                                             (float)fillvalue, PyArray_DATA(out));
    else
        status = gcnn_corr2d_grad_weight_f64(&p, PyArray_DATA(x), PyArray_DATA(g), fillvalue,
                                             PyArray_DATA(out));
    PyEval_RestoreThread(state);
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    Py_DECREF(g);
    return (PyObject *)out;

fail:
    Py_XDECREF(x);
    Py_XDECREF(g);
    Py_XDECREF(out);
    return NULL;
}

/* A 1-D array of `count` elements of `typenum` (any numeric input is cast),
 * aligned and contiguous; NULL with an exception otherwise. */
static PyArrayObject *as_vector(PyObject *obj, const char *name, int typenum, npy_intp count)
{
    PyArrayObject *a =
        (PyArrayObject *)PyArray_FROM_OTF(obj, typenum, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
    if (a == NULL)
        return NULL;
    if (PyArray_NDIM(a) != 1 || PyArray_DIM(a, 0) != count) {
        char buf[128];
        PyErr_Format(PyExc_ValueError, "%s must have shape (%zd,), got %s", name,
                     (Py_ssize_t)count, shape_text(a, buf, sizeof buf));
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

PyDoc_STRVAR(channel_sums_doc,
"channel_sums(x, num_threads=1, simd=0)\n--\n\n"
"Per-channel sum of x (N, C, S), float32 or float64, over N and S (private):\n"
"each run of S values in vectors, the runs added in double in order of N.\n"
"Returns a float64 array of shape (C,).");

PyDoc_STRVAR(channel_moments_doc,
"channel_moments(x, num_threads=1, simd=0)\n--\n\n"
"Per-channel mean and biased variance of x (N, C, S), float32 or float64\n"
"(private). Returns two float64 arrays of shape (C,).");

/* channel_sums (moments 0: one float64 array of C sums) and channel_moments
 * (moments 1: the mean and the variance) of x (N, C, S). */
static PyObject *channel_reduction(PyObject *args, PyObject *kwargs, const char *format,
                                   int moments)
{
    static char *keywords[] = {"x", "num_threads", "simd", NULL};
    PyObject *x_obj;
    int num_threads = 1, simd = GCNN_SIMD_AUTO;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, keywords, &x_obj, &num_threads,
                                     &simd))
        return NULL;
    PyArrayObject *x = as_float_array(x_obj, "x", -1, 3), *first = NULL, *second = NULL;
    if (x == NULL)
        return NULL;
    npy_intp c = PyArray_DIM(x, 1);
    first = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    if (moments)
        second = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    if (first == NULL || (moments && second == NULL))
        goto fail;
    int status;
    const ptrdiff_t n = PyArray_DIM(x, 0), s = PyArray_DIM(x, 2);
    const int single = PyArray_TYPE(x) == NPY_FLOAT32;
    const void *data = PyArray_DATA(x);
    double *a = PyArray_DATA(first), *b = moments ? PyArray_DATA(second) : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (moments)
        status = single ? gcnn_channel_moments_f32(data, n, c, s, a, b, num_threads, simd)
                        : gcnn_channel_moments_f64(data, n, c, s, a, b, num_threads, simd);
    else
        status = single ? gcnn_channel_sums_f32(data, n, c, s, a, num_threads, simd)
                        : gcnn_channel_sums_f64(data, n, c, s, a, num_threads, simd);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    return moments ? Py_BuildValue("(NN)", first, second) : (PyObject *)first;
fail:
    Py_XDECREF(x);
    Py_XDECREF(first);
    Py_XDECREF(second);
    return NULL;
}

static PyObject *core_channel_sums(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    return channel_reduction(args, kwargs, "O|ii:channel_sums", 0);
}

static PyObject *core_channel_moments(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    return channel_reduction(args, kwargs, "O|ii:channel_moments", 1);
}

PyDoc_STRVAR(channel_affine_doc,
"channel_affine(x, scale, shift, num_threads=1, simd=0, relu=False)\n--\n\n"
"x (N, C, S) * scale[c] + shift[c] (private); scale and shift are cast to\n"
"x's dtype. Returns a new array like x; with relu=True, ReLU follows in the\n"
"same pass and (out, positive) is returned, as relu() returns them.");

static PyObject *core_channel_affine(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"x", "scale", "shift", "num_threads", "simd", "relu", NULL};
    PyObject *x_obj, *scale_obj, *shift_obj;
    int num_threads = 1, simd = GCNN_SIMD_AUTO, relu = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|iip:channel_affine", keywords, &x_obj,
                                     &scale_obj, &shift_obj, &num_threads, &simd, &relu))
        return NULL;
    PyArrayObject *x = NULL, *scale = NULL, *shift = NULL, *out = NULL, *positive = NULL;
    x = as_float_array(x_obj, "x", -1, 3);
    if (x == NULL)
        goto fail;
    const int typenum = PyArray_TYPE(x);
    const npy_intp c = PyArray_DIM(x, 1);
    scale = as_vector(scale_obj, "scale", typenum, c);
    shift = scale ? as_vector(shift_obj, "shift", typenum, c) : NULL;
    if (shift == NULL)
        goto fail;
    out = new_output(module, 3, PyArray_DIMS(x), typenum);
    if (out == NULL)
        goto fail;
    if (relu && (positive = new_output(module, 3, PyArray_DIMS(x), NPY_UINT8)) == NULL)
        goto fail;
    int status;
    const ptrdiff_t n = PyArray_DIM(x, 0), s = PyArray_DIM(x, 2);
    uint8_t *mask = positive ? PyArray_DATA(positive) : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = gcnn_channel_affine_f32(PyArray_DATA(x), n, c, s, PyArray_DATA(scale),
                                         PyArray_DATA(shift), PyArray_DATA(out), mask,
                                         num_threads, simd);
    else
        status = gcnn_channel_affine_f64(PyArray_DATA(x), n, c, s, PyArray_DATA(scale),
                                         PyArray_DATA(shift), PyArray_DATA(out), mask,
                                         num_threads, simd);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    Py_DECREF(scale);
    Py_DECREF(shift);
    if (positive)
        return Py_BuildValue("(NN)", out, positive);
    return (PyObject *)out;
fail:
    Py_XDECREF(x);
    Py_XDECREF(scale);
    Py_XDECREF(shift);
    Py_XDECREF(out);
    Py_XDECREF(positive);
    return NULL;
}

PyDoc_STRVAR(batch_norm_forward_doc,
"batch_norm_forward(x, eps, weight=None, bias=None, num_threads=1, simd=0,\n"
"                   relu=False, plane=None)\n--\n\n"
"Training-mode batch norm of x (N, C, S), float32 or float64 (private):\n"
"the moments of channel_moments, inv_std = 1 / sqrt(var + eps), and\n"
"channel_affine with scale = inv_std * weight and shift = -mean * scale +\n"
"bias (in double, weight and bias (C,) cast to float64, None for 1 and 0),\n"
"one channel per thread. Returns (out, mean, var, inv_std); with relu=True,\n"
"(out, positive, mean, var, inv_std) as channel_affine(..., relu=True).\n"
"plane=(H, W): a 2x2, stride-2 max pool of each H x W plane of the runs\n"
"follows (max_pool's numbers); out is then the pooled (N, C, P) and the\n"
"int32 winners (N, C, P) follow positive, P = S / (H W) * (H // 2) * (W // 2).");

/* plane=(H, W) of the pooled batch-norm calls: 0 with *h = *w = 0 for None,
 * 0 with the sizes, or -1 with an exception (runs of s values must be whole
 * planes of at least 2 x 2). */
static int pooled_plane(PyObject *obj, ptrdiff_t s, ptrdiff_t *h, ptrdiff_t *w)
{
    *h = *w = 0;
    if (obj == Py_None)
        return 0;
    Py_ssize_t ph, pw;
    if (!PyTuple_Check(obj) || !PyArg_ParseTuple(obj, "nn", &ph, &pw)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "plane must be a tuple (H, W) of ints or None");
        return -1;
    }
    if (ph < 2 || pw < 2 || ph > s / pw || s % (ph * pw) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "plane must split runs of %zd values into planes of at least 2 x 2, "
                     "got (%zd, %zd)",
                     (Py_ssize_t)s, ph, pw);
        return -1;
    }
    *h = ph;
    *w = pw;
    return 0;
}

static PyObject *core_batch_norm_forward(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"x",    "eps",  "weight", "bias", "num_threads",
                               "simd", "relu", "plane",  NULL};
    PyObject *x_obj, *weight_obj = Py_None, *bias_obj = Py_None, *plane_obj = Py_None;
    double eps;
    int num_threads = 1, simd = GCNN_SIMD_AUTO, relu = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Od|OOiipO:batch_norm_forward", keywords,
                                     &x_obj, &eps, &weight_obj, &bias_obj, &num_threads, &simd,
                                     &relu, &plane_obj))
        return NULL;
    PyArrayObject *x = NULL, *weight = NULL, *bias = NULL, *out = NULL, *positive = NULL;
    PyArrayObject *mean = NULL, *var = NULL, *inv_std = NULL, *index = NULL;
    x = as_float_array(x_obj, "x", -1, 3);
    if (x == NULL)
        goto fail;
    const int typenum = PyArray_TYPE(x);
    npy_intp c = PyArray_DIM(x, 1);
    ptrdiff_t plane_h, plane_w;
    if (pooled_plane(plane_obj, PyArray_DIM(x, 2), &plane_h, &plane_w) < 0)
        goto fail;
    if (weight_obj != Py_None &&
        (weight = as_vector(weight_obj, "weight", NPY_FLOAT64, c)) == NULL)
        goto fail;
    if (bias_obj != Py_None && (bias = as_vector(bias_obj, "bias", NPY_FLOAT64, c)) == NULL)
        goto fail;
    npy_intp out_dims[3] = {PyArray_DIM(x, 0), c, PyArray_DIM(x, 2)};
    if (plane_h > 0)
        out_dims[2] = PyArray_DIM(x, 2) / (plane_h * plane_w) * (plane_h / 2) * (plane_w / 2);
    out = new_output(module, 3, out_dims, typenum);
    if (out == NULL)
        goto fail;
    if (relu && (positive = new_output(module, 3, PyArray_DIMS(x), NPY_UINT8)) == NULL)
        goto fail;
    if (plane_h > 0 && (index = new_output(module, 3, out_dims, NPY_INT32)) == NULL)
        goto fail;
    mean = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    var = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    inv_std = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    if (mean == NULL || var == NULL || inv_std == NULL)
        goto fail;
    int status;
    const ptrdiff_t n = PyArray_DIM(x, 0), s = PyArray_DIM(x, 2);
    const double *w = weight ? PyArray_DATA(weight) : NULL;
    const double *b = bias ? PyArray_DATA(bias) : NULL;
    uint8_t *mask = positive ? PyArray_DATA(positive) : NULL;
    double *m = PyArray_DATA(mean), *v = PyArray_DATA(var), *r = PyArray_DATA(inv_std);
    void *map = index ? NULL : PyArray_DATA(out), *pooled = index ? PyArray_DATA(out) : NULL;
    int32_t *winners = index ? PyArray_DATA(index) : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = gcnn_batch_norm_forward_f32(PyArray_DATA(x), n, c, s, eps, w, b, map, mask,
                                             plane_h, plane_w, pooled, winners, m, v, r,
                                             num_threads, simd);
    else
        status = gcnn_batch_norm_forward_f64(PyArray_DATA(x), n, c, s, eps, w, b, map, mask,
                                             plane_h, plane_w, pooled, winners, m, v, r,
                                             num_threads, simd);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    PyObject *result = PyTuple_New(3 + 1 + (positive != NULL) + (index != NULL));
    if (result == NULL)
        goto fail;
    Py_DECREF(x);
    Py_XDECREF(weight);
    Py_XDECREF(bias);
    Py_ssize_t at = 0;
    PyTuple_SET_ITEM(result, at++, (PyObject *)out);
    if (positive)
        PyTuple_SET_ITEM(result, at++, (PyObject *)positive);
    if (index)
        PyTuple_SET_ITEM(result, at++, (PyObject *)index);
    PyTuple_SET_ITEM(result, at++, (PyObject *)mean);
    PyTuple_SET_ITEM(result, at++, (PyObject *)var);
    PyTuple_SET_ITEM(result, at++, (PyObject *)inv_std);
    return result;
fail:
    Py_XDECREF(index);
    Py_XDECREF(x);
    Py_XDECREF(weight);
    Py_XDECREF(bias);
    Py_XDECREF(out);
    Py_XDECREF(positive);
    Py_XDECREF(mean);
    Py_XDECREF(var);
    Py_XDECREF(inv_std);
    return NULL;
}

PyDoc_STRVAR(batch_norm_backward_doc,
"batch_norm_backward(grad, x, mean, inv_std, weight=None, num_threads=1, simd=0,\n"
"                    positive=None, sums=False, pool_index=None, plane=None)\n--\n\n"
"Batch-norm gradients (private): grad and x (N, C, S) of one float dtype,\n"
"mean and inv_std (C,) (cast to float64), weight (C,) or None. Returns\n"
"(grad_x like x, grad_weight float64 (C,), grad_bias float64 (C,)).\n"
"positive: the uint8 mask of a ReLU after the batch norm, of x's shape; grad\n"
"is then the ReLU's output gradient (relu_backward is done on the fly).\n"
"sums=True appends channel_sums(grad_x) (float64 (C,), the same bits), the\n"
"bias gradient of a convolution before the batch norm.\n"
"pool_index (int32, grad's shape) and plane=(H, W): grad is the gradient\n"
"of batch_norm_forward(..., plane=(H, W))'s pooled output, those winners.");

static PyObject *core_batch_norm_backward(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"grad", "x",        "mean", "inv_std",    "weight", "num_threads",
                               "simd", "positive", "sums", "pool_index", "plane",  NULL};
    PyObject *g_obj, *x_obj, *mean_obj, *inv_std_obj, *weight_obj = Py_None, *p_obj = Py_None;
    PyObject *index_obj = Py_None, *plane_obj = Py_None;
    int num_threads = 1, simd = GCNN_SIMD_AUTO, want_sums = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|OiiOpOO:batch_norm_backward", keywords,
                                     &g_obj, &x_obj, &mean_obj, &inv_std_obj, &weight_obj,
                                     &num_threads, &simd, &p_obj, &want_sums, &index_obj,
                                     &plane_obj))
        return NULL;
    PyArrayObject *g = NULL, *x = NULL, *mean = NULL, *inv_std = NULL, *weight = NULL;
    PyArrayObject *positive = NULL, *index = NULL;
    ptrdiff_t plane_h = 0, plane_w = 0;
    PyArrayObject *grad_x = NULL, *grad_w = NULL, *grad_b = NULL, *sums = NULL;
    char buf1[128], buf2[128], buf3[128];
    x = as_float_array(x_obj, "x", -1, 3);
    if (x == NULL)
        goto fail;
    const int typenum = PyArray_TYPE(x);
    g = as_float_array(g_obj, "grad", typenum, 3);
    if (g == NULL)
        goto fail;
    if ((index_obj == Py_None) != (plane_obj == Py_None)) {
        PyErr_SetString(PyExc_TypeError, "pool_index and plane must be given together");
        goto fail;
    }
    if (index_obj == Py_None && !PyArray_SAMESHAPE(g, x)) {
        PyErr_Format(PyExc_ValueError, "grad must have the shape of x %s, got %s",
                     shape_text(x, buf1, sizeof buf1), shape_text(g, buf2, sizeof buf2));
        goto fail;
    }
    if (index_obj != Py_None) {
        if (pooled_plane(plane_obj, PyArray_DIM(x, 2), &plane_h, &plane_w) < 0)
            goto fail;
        if (!PyArray_Check(index_obj) || PyArray_TYPE((PyArrayObject *)index_obj) != NPY_INT32) {
            PyErr_SetString(PyExc_TypeError, "pool_index must be an int32 numpy.ndarray");
            goto fail;
        }
        index = (PyArrayObject *)PyArray_FROM_OTF(index_obj, NPY_INT32, NPY_ARRAY_IN_ARRAY);
        if (index == NULL)
            goto fail;
        const npy_intp pooled = PyArray_DIM(x, 2) / (plane_h * plane_w) * (plane_h / 2) *
                                (plane_w / 2);
        if (!PyArray_SAMESHAPE(g, index) || PyArray_DIM(g, 0) != PyArray_DIM(x, 0) ||
            PyArray_DIM(g, 1) != PyArray_DIM(x, 1) || PyArray_DIM(g, 2) != pooled) {
            PyErr_Format(PyExc_ValueError,
                         "grad and pool_index must have the pooled shape of x %s, got %s and %s",
                         shape_text(x, buf1, sizeof buf1), shape_text(g, buf2, sizeof buf2),
                         shape_text(index, buf3, sizeof buf3));
            goto fail;
        }
    }
    npy_intp c = PyArray_DIM(x, 1);
    mean = as_vector(mean_obj, "mean", NPY_FLOAT64, c);
    inv_std = mean ? as_vector(inv_std_obj, "inv_std", NPY_FLOAT64, c) : NULL;
    if (inv_std == NULL)
        goto fail;
    if (weight_obj != Py_None && (weight = as_vector(weight_obj, "weight", typenum, c)) == NULL)
        goto fail;
    if (p_obj != Py_None) {
        if (!PyArray_Check(p_obj) || PyArray_TYPE((PyArrayObject *)p_obj) != NPY_UINT8) {
            PyErr_SetString(PyExc_TypeError, "positive must be a uint8 numpy.ndarray or None");
            goto fail;
        }
        positive = (PyArrayObject *)PyArray_FROM_OTF(p_obj, NPY_UINT8, NPY_ARRAY_IN_ARRAY);
        if (positive == NULL)
            goto fail;
        if (PyArray_SIZE(positive) != PyArray_SIZE(x)) {
            PyErr_Format(PyExc_ValueError, "positive must have as many values as x %s, got %s",
                         shape_text(x, buf1, sizeof buf1),
                         shape_text(positive, buf2, sizeof buf2));
            goto fail;
        }
    }
    grad_x = new_output(module, 3, PyArray_DIMS(x), typenum);
    grad_w = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    grad_b = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64);
    if (grad_x == NULL || grad_w == NULL || grad_b == NULL)
        goto fail;
    if (want_sums && (sums = (PyArrayObject *)PyArray_SimpleNew(1, &c, NPY_FLOAT64)) == NULL)
        goto fail;
    double *sums_data = sums ? PyArray_DATA(sums) : NULL;
    const int32_t *winners = index ? PyArray_DATA(index) : NULL;
    int status;
    const ptrdiff_t n = PyArray_DIM(x, 0), s = PyArray_DIM(x, 2);
    const void *w = weight ? PyArray_DATA(weight) : NULL;
    const uint8_t *mask = positive ? PyArray_DATA(positive) : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = gcnn_batch_norm_backward_f32(PyArray_DATA(g), mask, PyArray_DATA(x), n, c, s,
                                              PyArray_DATA(mean), PyArray_DATA(inv_std), w,
                                              PyArray_DATA(grad_x), PyArray_DATA(grad_w),
                                              PyArray_DATA(grad_b), sums_data, winners,
                                              plane_h, plane_w, num_threads, simd);
    else
        status = gcnn_batch_norm_backward_f64(PyArray_DATA(g), mask, PyArray_DATA(x), n, c, s,
                                              PyArray_DATA(mean), PyArray_DATA(inv_std), w,
                                              PyArray_DATA(grad_x), PyArray_DATA(grad_w),
                                              PyArray_DATA(grad_b), sums_data, winners,
                                              plane_h, plane_w, num_threads, simd);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(g);
    Py_DECREF(x);
    Py_DECREF(mean);
    Py_DECREF(inv_std);
    Py_XDECREF(weight);
    Py_XDECREF(positive);
    Py_XDECREF(index);
    if (sums)
        return Py_BuildValue("(NNNN)", grad_x, grad_w, grad_b, sums);
    return Py_BuildValue("(NNN)", grad_x, grad_w, grad_b);
fail:
    Py_XDECREF(positive);
    Py_XDECREF(g);
    Py_XDECREF(x);
    Py_XDECREF(mean);
    Py_XDECREF(inv_std);
    Py_XDECREF(weight);
    Py_XDECREF(grad_x);
    Py_XDECREF(grad_w);
    Py_XDECREF(grad_b);
    Py_XDECREF(sums);
    Py_XDECREF(index);
    return NULL;
}

/* Parse and check pooling geometry; 0 or -1 with ValueError. */
static int pool_params(gcnn_pool_params *p, ptrdiff_t *out_h, ptrdiff_t *out_w)
{
    int status = gcnn_pool_out_shape(p, out_h, out_w);
    if (status == GCNN_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError, "x's planes are too large to index (2**31 elements)");
        return -1;
    }
    if (status != GCNN_OK) {
        PyErr_Format(PyExc_ValueError,
                     "invalid pooling of (%zd, %zd, %zd) planes: kernel (%zd, %zd), stride "
                     "(%zd, %zd), padding (%zd, %zd) (sizes and strides >= 1, padding at most "
                     "half the kernel, padded planes at least as large as the kernel)",
                     p->planes, p->height, p->width, p->kernel_h, p->kernel_w, p->stride_h,
                     p->stride_w, p->pad_h, p->pad_w);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(max_pool_doc,
"max_pool(x, kernel_size, stride, padding=(0, 0), num_threads=1)\n--\n\n"
"Max pooling of x (P, H, W) float32/float64 (private). Returns (out, index):\n"
"out (P, H', W') and int32 index, each window's winner as y * W + x.");

static PyObject *core_max_pool(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"x", "kernel_size", "stride", "padding", "num_threads", NULL};
    PyObject *x_obj;
    gcnn_pool_params p;
    memset(&p, 0, sizeof p);
    p.num_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O(nn)(nn)|(nn)i:max_pool", keywords, &x_obj,
                                     &p.kernel_h, &p.kernel_w, &p.stride_h, &p.stride_w,
                                     &p.pad_h, &p.pad_w, &p.num_threads))
        return NULL;
    PyArrayObject *x = as_float_array(x_obj, "x", -1, 3), *out = NULL, *index = NULL;
    if (x == NULL)
        return NULL;
    p.planes = PyArray_DIM(x, 0);
    p.height = PyArray_DIM(x, 1);
    p.width = PyArray_DIM(x, 2);
    ptrdiff_t out_h, out_w;
    if (pool_params(&p, &out_h, &out_w) < 0)
        goto fail;
    npy_intp dims[3] = {p.planes, out_h, out_w};
    out = new_output(module, 3, dims, PyArray_TYPE(x));
    index = new_output(module, 3, dims, NPY_INT32);
    if (out == NULL || index == NULL)
        goto fail;
    int status;
    Py_BEGIN_ALLOW_THREADS
    if (PyArray_TYPE(x) == NPY_FLOAT32)
        status = gcnn_max_pool_f32(&p, PyArray_DATA(x), PyArray_DATA(out), PyArray_DATA(index));
    else
        status = gcnn_max_pool_f64(&p, PyArray_DATA(x), PyArray_DATA(out), PyArray_DATA(index));
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    return Py_BuildValue("(NN)", out, index);
fail:
    Py_XDECREF(x);
    Py_XDECREF(out);
    Py_XDECREF(index);
    return NULL;
}

PyDoc_STRVAR(max_pool_backward_doc,
"max_pool_backward(grad, index, input_size, kernel_size, stride, padding=(0, 0),\n"
"                  num_threads=1)\n--\n\n"
"Gradient of max_pool (private): grad (P, H', W') float32/float64 and the\n"
"int32 index max_pool returned; input_size (H, W). Returns (P, H, W).");

static PyObject *core_max_pool_backward(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"grad",   "index",   "input_size",  "kernel_size",
                               "stride", "padding", "num_threads", NULL};
    PyObject *g_obj, *index_obj;
    gcnn_pool_params p;
    memset(&p, 0, sizeof p);
    p.num_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO(nn)(nn)(nn)|(nn)i:max_pool_backward",
                                     keywords, &g_obj, &index_obj, &p.height, &p.width,
                                     &p.kernel_h, &p.kernel_w, &p.stride_h, &p.stride_w,
                                     &p.pad_h, &p.pad_w, &p.num_threads))
        return NULL;
    PyArrayObject *g = as_float_array(g_obj, "grad", -1, 3), *index = NULL, *grad_x = NULL;
    char buf1[128], buf2[128];
    if (g == NULL)
        return NULL;
    index = (PyArrayObject *)PyArray_FROM_OTF(index_obj, NPY_INT32, NPY_ARRAY_IN_ARRAY);
    if (index == NULL)
        goto fail;
    p.planes = PyArray_DIM(g, 0);
    ptrdiff_t out_h, out_w;
    if (pool_params(&p, &out_h, &out_w) < 0)
        goto fail;
    if (PyArray_DIM(g, 1) != out_h || PyArray_DIM(g, 2) != out_w || !PyArray_SAMESHAPE(g, index)) {
        PyErr_Format(PyExc_ValueError,
                     "grad and index must have shape (%zd, %zd, %zd), got %s and %s", p.planes,
                     out_h, out_w, shape_text(g, buf1, sizeof buf1),
                     shape_text(index, buf2, sizeof buf2));
        goto fail;
    }
    npy_intp dims[3] = {p.planes, p.height, p.width};
    grad_x = new_output(module, 3, dims, PyArray_TYPE(g));
    if (grad_x == NULL)
        goto fail;
    int status;
    Py_BEGIN_ALLOW_THREADS
    if (PyArray_TYPE(g) == NPY_FLOAT32)
        status = gcnn_max_pool_backward_f32(&p, PyArray_DATA(g), PyArray_DATA(index),
                                            PyArray_DATA(grad_x));
    else
        status = gcnn_max_pool_backward_f64(&p, PyArray_DATA(g), PyArray_DATA(index),
                                            PyArray_DATA(grad_x));
    Py_END_ALLOW_THREADS
    if (status == GCNN_EINVAL) {
        PyErr_SetString(PyExc_ValueError, "index holds a position outside the input planes");
        goto fail;
    }
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(g);
    Py_DECREF(index);
    return (PyObject *)grad_x;
fail:
    Py_XDECREF(g);
    Py_XDECREF(index);
    Py_XDECREF(grad_x);
    return NULL;
}

/* A float32/float64 array of any shape as an aligned contiguous array
 * (new reference), or NULL with TypeError. */
static PyArrayObject *as_float_any(PyObject *obj, const char *name)
{
    if (!PyArray_Check(obj) || (PyArray_TYPE((PyArrayObject *)obj) != NPY_FLOAT32 &&
                                PyArray_TYPE((PyArrayObject *)obj) != NPY_FLOAT64)) {
        PyErr_Format(PyExc_TypeError, "%s must be a float32 or float64 numpy.ndarray", name);
        return NULL;
    }
    return (PyArrayObject *)PyArray_FROM_OTF(obj, PyArray_TYPE((PyArrayObject *)obj),
                                             NPY_ARRAY_IN_ARRAY);
}

PyDoc_STRVAR(relu_doc,
"relu(x, num_threads=1)\n--\n\n"
"max(x, 0) of a float32/float64 array (private). Returns (out, positive):\n"
"out like x, positive a uint8 array of x's shape, 1 where x > 0.");

static PyObject *core_relu(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"x", "num_threads", NULL};
    PyObject *x_obj;
    int num_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|i:relu", keywords, &x_obj, &num_threads))
        return NULL;
    PyArrayObject *x = as_float_any(x_obj, "x"), *out = NULL, *positive = NULL;
    if (x == NULL)
        return NULL;
    const int typenum = PyArray_TYPE(x);
    out = new_output(module, PyArray_NDIM(x), PyArray_DIMS(x), typenum);
    positive = new_output(module, PyArray_NDIM(x), PyArray_DIMS(x), NPY_UINT8);
    if (out == NULL || positive == NULL)
        goto fail;
    int status;
    const ptrdiff_t count = PyArray_SIZE(x);
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = gcnn_relu_f32(PyArray_DATA(x), count, PyArray_DATA(out), PyArray_DATA(positive),
                               num_threads);
    else
        status = gcnn_relu_f64(PyArray_DATA(x), count, PyArray_DATA(out), PyArray_DATA(positive),
                               num_threads);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(x);
    return Py_BuildValue("(NN)", out, positive);
fail:
    Py_XDECREF(x);
    Py_XDECREF(out);
    Py_XDECREF(positive);
    return NULL;
}

PyDoc_STRVAR(relu_backward_doc,
"relu_backward(grad, positive, num_threads=1)\n--\n\n"
"grad where positive else 0 (private): grad float32/float64, positive the\n"
"uint8 array relu returned, of grad's shape.");

static PyObject *core_relu_backward(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"grad", "positive", "num_threads", NULL};
    PyObject *g_obj, *p_obj;
    int num_threads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|i:relu_backward", keywords, &g_obj,
                                     &p_obj, &num_threads))
        return NULL;
    PyArrayObject *g = as_float_any(g_obj, "grad"), *positive = NULL, *out = NULL;
    char buf1[128], buf2[128];
    if (g == NULL)
        return NULL;
    positive = (PyArrayObject *)PyArray_FROM_OTF(p_obj, NPY_UINT8, NPY_ARRAY_IN_ARRAY);
    if (positive == NULL)
        goto fail;
    if (!PyArray_SAMESHAPE(g, positive)) {
        PyErr_Format(PyExc_ValueError, "positive must have grad's shape %s, got %s",
                     shape_text(g, buf1, sizeof buf1), shape_text(positive, buf2, sizeof buf2));
        goto fail;
    }
    const int typenum = PyArray_TYPE(g);
    out = new_output(module, PyArray_NDIM(g), PyArray_DIMS(g), typenum);
    if (out == NULL)
        goto fail;
    int status;
    const ptrdiff_t count = PyArray_SIZE(g);
    Py_BEGIN_ALLOW_THREADS
    if (typenum == NPY_FLOAT32)
        status = gcnn_relu_backward_f32(PyArray_DATA(g), PyArray_DATA(positive), count,
                                        PyArray_DATA(out), num_threads);
    else
        status = gcnn_relu_backward_f64(PyArray_DATA(g), PyArray_DATA(positive), count,
                                        PyArray_DATA(out), num_threads);
    Py_END_ALLOW_THREADS
    if (raise_status(status) < 0)
        goto fail;
    Py_DECREF(g);
    Py_DECREF(positive);
    return (PyObject *)out;
fail:
    Py_XDECREF(g);
    Py_XDECREF(positive);
    Py_XDECREF(out);
    return NULL;
}

PyDoc_STRVAR(simd_level_doc,
"simd_level(requested=0)\n--\n\n"
"Name of the instruction-set path the kernels take: 'avx512', 'avx2' or\n"
"'generic'. requested (0 auto, 1 generic, 2 avx2, 3 avx512) shows where a\n"
"forced path falls back to on this CPU.");

static PyObject *core_simd_level(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"requested", NULL};
    int requested = GCNN_SIMD_AUTO;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:simd_level", keywords, &requested))
        return NULL;
    return PyUnicode_FromString(gcnn_simd_name(gcnn_simd_resolve(requested)));
}

PyDoc_STRVAR(fma_probe_doc,
"fma_probe(iterations, double=False, simd=0)\n--\n\n"
"Run iterations rounds of independent vector FMAs (no memory traffic) with\n"
"the GIL released; returns the flops done. Time it to estimate the peak.");

static PyObject *core_fma_probe(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"iterations", "double", "simd", NULL};
    long iterations;
    int is_double = 0, simd = GCNN_SIMD_AUTO;
    double flops = 0, checksum;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "l|pi:fma_probe", keywords, &iterations,
                                     &is_double, &simd))
        return NULL;
    if (iterations < 0) {
        PyErr_Format(PyExc_ValueError, "iterations must be nonnegative, got %ld", iterations);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    checksum = gcnn_fma_probe(simd, is_double, iterations, &flops);
    Py_END_ALLOW_THREADS
    (void)checksum;
    return PyFloat_FromDouble(flops);
}

PyDoc_STRVAR(threads_doc,
"threads()\n--\n\nTrue when the kernels have worker threads (POSIX threads).");

static PyObject *core_threads(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyBool_FromLong(gcnn_have_threads());
}

static PyMethodDef core_methods[] = {
    {"correlate", (PyCFunction)(void (*)(void))core_correlate, METH_VARARGS | METH_KEYWORDS,
     correlate_doc},
    {"correlate_int", (PyCFunction)(void (*)(void))core_correlate_int,
     METH_VARARGS | METH_KEYWORDS, correlate_int_doc},
    {"grad_weight", (PyCFunction)(void (*)(void))core_grad_weight,
     METH_VARARGS | METH_KEYWORDS, grad_weight_doc},
    {"channel_sums", (PyCFunction)(void (*)(void))core_channel_sums,
     METH_VARARGS | METH_KEYWORDS, channel_sums_doc},
    {"channel_moments", (PyCFunction)(void (*)(void))core_channel_moments,
     METH_VARARGS | METH_KEYWORDS, channel_moments_doc},
    {"channel_affine", (PyCFunction)(void (*)(void))core_channel_affine,
     METH_VARARGS | METH_KEYWORDS, channel_affine_doc},
    {"batch_norm_forward", (PyCFunction)(void (*)(void))core_batch_norm_forward,
     METH_VARARGS | METH_KEYWORDS, batch_norm_forward_doc},
    {"batch_norm_backward", (PyCFunction)(void (*)(void))core_batch_norm_backward,
     METH_VARARGS | METH_KEYWORDS, batch_norm_backward_doc},
    {"max_pool", (PyCFunction)(void (*)(void))core_max_pool, METH_VARARGS | METH_KEYWORDS,
     max_pool_doc},
    {"max_pool_backward", (PyCFunction)(void (*)(void))core_max_pool_backward,
     METH_VARARGS | METH_KEYWORDS, max_pool_backward_doc},
    {"relu", (PyCFunction)(void (*)(void))core_relu, METH_VARARGS | METH_KEYWORDS, relu_doc},
    {"relu_backward", (PyCFunction)(void (*)(void))core_relu_backward,
     METH_VARARGS | METH_KEYWORDS, relu_backward_doc},
    {"simd_level", (PyCFunction)(void (*)(void))core_simd_level,
     METH_VARARGS | METH_KEYWORDS, simd_level_doc},
    {"threads", core_threads, METH_NOARGS, threads_doc},
    {"fma_probe", (PyCFunction)(void (*)(void))core_fma_probe, METH_VARARGS | METH_KEYWORDS,
     fma_probe_doc},
    {NULL, NULL, 0, NULL}};

static int core_exec(PyObject *module)
{
    /* NumPy's C API table is loaded here, in the exec slot. */
    import_array1(-1);
    if (PyModule_AddIntConstant(module, "MAX_THREADS", GCNN_MAX_THREADS) < 0)
        return -1;
    core_state *state = PyModule_GetState(module);
    state->output_handler = gcnn_output_pool_new();
    return state->output_handler == NULL ? -1 : 0;
}

static int core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *state = PyModule_GetState(module);
    Py_VISIT(state->output_handler);
    return 0;
}

static int core_clear(PyObject *module)
{
    core_state *state = PyModule_GetState(module);
    Py_CLEAR(state->output_handler);
    return 0;
}

static void core_free(void *module) { core_clear((PyObject *)module); }

static PyModuleDef_Slot core_slots[] = {{Py_mod_exec, (void *)core_exec}, {0, NULL}};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gcnn._core",
    .m_doc = "C kernels of gcnn (private: use the functions of the gcnn package).",
    .m_size = sizeof(core_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&core_module); }
