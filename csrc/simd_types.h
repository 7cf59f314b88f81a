/*
 * One instruction-set path of a kernel file: included by simd_paths.h once
 * per path, inside that path's target pragmas.  Expects
 *     GCNN_BODIES   a header that includes the kernel file's loop bodies
 *     GCNN_PATH     the path's name (generic, avx2, avx512), pasted onto
 *                   every function name with the element type
 *     GCNN_VBYTES   bytes per SIMD vector of this path (16, 32, 64)
 *     GCNN_ACC      accumulator vectors the register file holds
 *     GCNN_ACC_PRODUCTS  the same for broadcast-heavy product tiles
 *                   (simd_paths.h)
 * and instantiates the bodies for float and double, each with GCNN_T, GCNN_IT
 * (the integer of its size), GCNN_NAME(s) and the vectors of simd_vec.h.
 */
#define GCNN_PASTE3(a, b, c) a##b##c
#define GCNN_XPASTE3(a, b, c) GCNN_PASTE3(a, b, c)

#define GCNN_T float
#define GCNN_IT int32_t
#define GCNN_NAME(s) GCNN_XPASTE3(s, _f32_, GCNN_PATH)
#include "simd_vec.h"
#include GCNN_BODIES
#include "simd_vec_end.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#define GCNN_T double
#define GCNN_IT int64_t
#define GCNN_NAME(s) GCNN_XPASTE3(s, _f64_, GCNN_PATH)
#include "simd_vec.h"
#include GCNN_BODIES
#include "simd_vec_end.h"
#undef GCNN_NAME
#undef GCNN_IT
#undef GCNN_T

#undef GCNN_XPASTE3
#undef GCNN_PASTE3
