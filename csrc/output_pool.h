/*
 * The output-buffer pool of gcnn._core (output_pool.c), used by the glue
 * (gcnn_module.c) only.  Include after Python.h.
 *
 * Why: glibc serves large requests with fresh mmap pages, and gives freed
 * memory at the top of its heap back to the system, so large outputs keep
 * paying the kernel for zeroing pages they are about to overwrite: on the
 * machines gcnn was measured on, 5-10 ms for a (4, 1024, 1024) float64
 * result, more than the convolution itself, and 8% of a P4CNN training
 * step (batch 64, 28x28), whose feature maps are 0.3-6 MiB each.  Outputs
 * of at least GCNN_POOL_MIN_BYTES are therefore allocated through a NumPy
 * memory handler that keeps up to GCNN_POOL_SLOTS freed buffers, at most
 * GCNN_POOL_BUDGET_BYTES together, and hands one back when an output of
 * exactly the same size is requested (the newest first; the oldest make
 * room).  A training loop allocates the same sizes every step, so after
 * the first step its outputs come from the pool.  Only gcnn's own outputs
 * use it; the memory it holds is returned to the system when the handler
 * (the module and every array it allocated) goes away.
 */
#ifndef GCNN_OUTPUT_POOL_H
#define GCNN_OUTPUT_POOL_H

#include <stddef.h>

/* Outputs smaller than this are allocated by NumPy as usual (glibc reuses
 * small freed blocks without the kernel's help). */
#define GCNN_POOL_MIN_BYTES ((size_t)256 << 10)

/* A new capsule ("mem_handler") holding the pooled NumPy memory handler, for
 * PyDataMem_SetHandler; NULL with MemoryError set.  The memory it keeps is
 * freed when the capsule and every array it allocated are gone. */
PyObject *gcnn_output_pool_new(void);

#endif /* GCNN_OUTPUT_POOL_H */
