/*
 * One instruction-set path of the kernels: included by corr2d.c once per
 * path, inside that path's target pragmas.  Before inclusion define:
 *     GCNN_PATH     the path's name (generic, avx2, avx512), pasted onto
 *                   every function name with the element type
 *     GCNN_VBYTES   bytes per SIMD vector of this path (16, 32, 64)
 *     GCNN_ACC      accumulator vectors the register file holds
 * It instantiates the loop bodies (corr2d_impl.h, grad_impl.h) for float
 * and double, and undefines all of the above again.
 */
#define GCNN_PASTE3(a, b, c) a##b##c
#define GCNN_XPASTE3(a, b, c) GCNN_PASTE3(a, b, c)

#define GCNN_T float
#define GCNN_IT int32_t /* same-size integer, for lane masks */
#define GCNN_NAME(s) GCNN_XPASTE3(s, _f32_, GCNN_PATH)
#include "corr2d_impl.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#define GCNN_T double
#define GCNN_IT int64_t
#define GCNN_NAME(s) GCNN_XPASTE3(s, _f64_, GCNN_PATH)
#include "corr2d_impl.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#undef GCNN_XPASTE3
#undef GCNN_PASTE3
#undef GCNN_PATH
#undef GCNN_VBYTES
#undef GCNN_ACC
