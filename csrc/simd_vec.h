/*
 * The vector type of one (element type, instruction-set path) pair, for the
 * loop bodies simd_types.h instantiates: VEC (GCNN_LANES elements of GCNN_T,
 * or a plain GCNN_T without GNU vector extensions, GCNN_VECTORS 0), its
 * integer twin GCNN_NAME(ivec) for lane masks, and VLOAD/VSTORE.
 */
#if defined(__GNUC__) || defined(__clang__)
/* Element-aligned and may_alias: a dereference is an unaligned vector load
 * or store on a buffer of GCNN_T.  (memcpy into vectors made GCC route
 * every load through the stack on the AVX2 path.) */
typedef GCNN_T GCNN_NAME(vec)
    __attribute__((vector_size(GCNN_VBYTES), aligned(sizeof(GCNN_T)), may_alias));
typedef GCNN_IT GCNN_NAME(ivec) __attribute__((vector_size(GCNN_VBYTES)));
#define GCNN_LANES ((ptrdiff_t)(GCNN_VBYTES / sizeof(GCNN_T)))
#define GCNN_VECTORS 1
#else
typedef GCNN_T GCNN_NAME(vec);
#define GCNN_LANES ((ptrdiff_t)1)
#define GCNN_VECTORS 0
#endif
#define VEC GCNN_NAME(vec)
#define VLOAD(p) (*(const VEC *)(p))
#define VSTORE(p, v) (*(VEC *)(p) = (v))
/* s in every lane.  s - 0 is s for every s (also -0), so the compiler drops
 * the subtraction and loads a broadcast; the idiom 0 + s must keep its add
 * (it turns -0 into +0): on AVX-512 a vaddss and a register vbroadcastss
 * then competed with the multiply-adds for their ports in the inner loops. */
#define VSPLAT(s) ((s) - (VEC){0})
