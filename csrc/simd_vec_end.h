/* Ends what simd_vec.h began, for the next (type, path) pair. */
#undef VLOAD
#undef VSPLAT
#undef VSTORE
#undef VEC
#undef GCNN_LANES
#undef GCNN_VECTORS
