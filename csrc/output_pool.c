/*
 * The output-buffer pool of gcnn._core: a NumPy memory handler (see
 * output_pool.h for why and when it is used).  Glue, not a kernel: it speaks
 * the CPython API (locks, capsules) and fills NumPy's PyDataMem_Handler, but
 * calls no NumPy function, so it needs no NumPy API table.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_25_API_VERSION
#include <numpy/ndarraytypes.h>

#include "output_pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define GCNN_POOL_SLOTS 64
/* The most the pool keeps, all buffers together; a larger block is freed. */
#define GCNN_POOL_BUDGET_BYTES ((size_t)512 << 20)
/* Blocks of at least this size are advised to use huge pages, as NumPy's own
 * allocator does (NumPy's threshold): they fault in far fewer steps. */
#define GCNN_HUGEPAGE_MIN_BYTES ((size_t)4 << 20)
/* The page size madvise() ranges are aligned to (the smallest on Linux). */
#define GCNN_PAGE_BYTES ((uintptr_t)4096)

typedef struct {
    PyThread_type_lock lock;
    int count;                    /* blocks kept: block[0 .. count - 1] */
    size_t held;                  /* their bytes */
    void *block[GCNN_POOL_SLOTS]; /* oldest first */
    size_t size[GCNN_POOL_SLOTS];
} gcnn_pool;

/* Forget kept block i (the lock held); returns it. */
static void *pool_take(gcnn_pool *pool, int i)
{
    void *block = pool->block[i];
    pool->held -= pool->size[i];
    for (int k = i; k + 1 < pool->count; ++k) {
        pool->block[k] = pool->block[k + 1];
        pool->size[k] = pool->size[k + 1];
    }
    --pool->count;
    pool->block[pool->count] = NULL;
    pool->size[pool->count] = 0;
    return block;
}

static void *pool_malloc(void *ctx, size_t size)
{
    gcnn_pool *pool = ctx;
    void *found = NULL;
    if (size >= GCNN_POOL_MIN_BYTES && size <= GCNN_POOL_BUDGET_BYTES) {
        PyThread_acquire_lock(pool->lock, WAIT_LOCK);
        for (int i = pool->count - 1; i >= 0; --i)
            if (pool->size[i] == size) {
                found = pool_take(pool, i);
                break;
            }
        PyThread_release_lock(pool->lock);
        if (found != NULL)
            return found;
    }
    void *block = malloc(size ? size : 1);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (block != NULL && size >= GCNN_HUGEPAGE_MIN_BYTES) {
        const uintptr_t page = GCNN_PAGE_BYTES;
        const uintptr_t start = ((uintptr_t)block + page - 1) & ~(page - 1);
        const uintptr_t end = ((uintptr_t)block + size) & ~(page - 1);
        if (end > start)
            madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    return block;
}

static void *pool_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    return calloc(nelem, elsize);
}

static void *pool_realloc(void *ctx, void *ptr, size_t new_size)
{
    (void)ctx;
    return realloc(ptr, new_size ? new_size : 1);
}

static void pool_free(void *ctx, void *ptr, size_t size)
{
    gcnn_pool *pool = ctx;
    if (ptr == NULL || size < GCNN_POOL_MIN_BYTES || size > GCNN_POOL_BUDGET_BYTES) {
        free(ptr);
        return;
    }
    /* keep it as the newest; the oldest kept buffers make room (freed
     * outside the lock) */
    void *evicted[GCNN_POOL_SLOTS];
    int n_evicted = 0;
    PyThread_acquire_lock(pool->lock, WAIT_LOCK);
    while (pool->count > 0 &&
           (pool->count == GCNN_POOL_SLOTS || pool->held + size > GCNN_POOL_BUDGET_BYTES))
        evicted[n_evicted++] = pool_take(pool, 0);
    pool->block[pool->count] = ptr;
    pool->size[pool->count] = size;
    ++pool->count;
    pool->held += size;
    PyThread_release_lock(pool->lock);
    for (int i = 0; i < n_evicted; ++i)
        free(evicted[i]);
}

static void pool_capsule_destructor(PyObject *capsule)
{
    PyDataMem_Handler *handler = PyCapsule_GetPointer(capsule, "mem_handler");
    if (handler == NULL)
        return;
    gcnn_pool *pool = handler->allocator.ctx;
    for (int i = 0; i < pool->count; ++i)
        free(pool->block[i]);
    if (pool->lock != NULL)
        PyThread_free_lock(pool->lock);
    free(pool);
    free(handler);
}

PyObject *gcnn_output_pool_new(void)
{
    gcnn_pool *pool = calloc(1, sizeof *pool);
    PyDataMem_Handler *handler = calloc(1, sizeof *handler);
    if (pool == NULL || handler == NULL || (pool->lock = PyThread_allocate_lock()) == NULL) {
        free(pool);
        free(handler);
        PyErr_NoMemory();
        return NULL;
    }
    snprintf(handler->name, sizeof handler->name, "gcnn_output_pool");
    handler->version = 1;
    handler->allocator.ctx = pool;
    handler->allocator.malloc = pool_malloc;
    handler->allocator.calloc = pool_calloc;
    handler->allocator.realloc = pool_realloc;
    handler->allocator.free = pool_free;
    PyObject *capsule = PyCapsule_New(handler, "mem_handler", pool_capsule_destructor);
    if (capsule == NULL) {
        PyThread_free_lock(pool->lock);
        free(pool);
        free(handler);
    }
    return capsule;
}
