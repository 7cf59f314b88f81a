/*
 * The output-buffer pool of gcnn._core (output_pool.c), used by the glue
 * (gcnn_module.c) only.  Include after Python.h.
 *
 * Why: glibc serves requests of 32 MiB and more (less after
 * some use) with fresh mmap pages, so every large output pays the kernel
 * for zeroing pages it is about to overwrite: on the machines gcnn was
 * measured on, 5-10 ms for a (4, 1024, 1024) float64 result, more than
 * the convolution itself.  Outputs of at least GCNN_POOL_MIN_BYTES are
 * therefore allocated through a NumPy memory handler that keeps the last
 * GCNN_POOL_SLOTS freed buffers of that size class (each at most
 * GCNN_POOL_MAX_BYTES) and hands one back when an output of exactly the
 * same size is requested.  Only gcnn's own outputs use it; memory held is
 * bounded by the slots, and is returned to the system when the handler
 * (the module and every array it allocated) goes away.
 */
#ifndef GCNN_OUTPUT_POOL_H
#define GCNN_OUTPUT_POOL_H

#include <stddef.h>

/* Outputs smaller than this are allocated by NumPy as usual. */
#define GCNN_POOL_MIN_BYTES ((size_t)8 << 20)

/* A new capsule ("mem_handler") holding the pooled NumPy memory handler, for
 * PyDataMem_SetHandler; NULL with MemoryError set.  The memory it keeps is
 * freed when the capsule and every array it allocated are gone. */
PyObject *gcnn_output_pool_new(void);

#endif /* GCNN_OUTPUT_POOL_H */
