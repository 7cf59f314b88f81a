/* The loop bodies of corr2d.c, for simd_types.h to instantiate. */
#include "corr2d_impl.h"
#include "grad_impl.h"
