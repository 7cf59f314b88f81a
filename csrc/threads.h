/*
 * gcnn's worker threads (internal to the kernel files; not part of the
 * kernels' contract in gcnn_kernels.h).
 *
 * gcnn_parallel_for runs fn(ctx, item, worker) for every item of
 * [0, items), on the calling thread (worker 0) and on up to threads - 1
 * pooled workers (1 .. threads - 1).  Items are claimed one at a time in
 * increasing order by whichever thread is free, so a thread that the
 * operating system has not scheduled yet simply takes no items: the call
 * never waits for a worker that has not started one (on a busy machine the
 * caller does the work alone instead of waiting a time slice for its team).
 * An item's result must not depend on which worker runs it.
 *
 * The caller polls `poll` (when given) between its items and while it waits,
 * at most every GCNN_POLL_SECONDS: a nonzero answer stops the claiming of
 * new items, the items already running finish, and the call returns
 * GCNN_EINTERRUPTED.  A nonzero status from an item stops the claiming the
 * same way and is returned (the first one).
 *
 * The pool is created on first use, grows to the largest team asked for
 * (at most GCNN_MAX_THREADS), serves one parallel call at a time (a call
 * made while another runs executes on its own thread), and is rebuilt
 * empty in a child process after fork(), whose first parallel call then
 * starts fresh workers.  Without POSIX threads every call runs on the
 * calling thread.
 */
#ifndef GCNN_THREADS_H
#define GCNN_THREADS_H

#include <stddef.h>

#include "gcnn_kernels.h" /* GCNN_MAX_THREADS */
/* Seconds between two polls of the interrupt callback. */
#define GCNN_POLL_SECONDS 0.05

typedef int (*gcnn_item_fn)(void *ctx, ptrdiff_t item, int worker);

typedef struct {
    int (*fn)(void *ctx); /* nonzero: stop */
    void *ctx;
} gcnn_poll;

int gcnn_parallel_for(ptrdiff_t items, int threads, gcnn_item_fn fn, void *ctx,
                      const gcnn_poll *poll);

/* Nonzero when this build has worker threads. */
int gcnn_threads_available(void);

#endif /* GCNN_THREADS_H */
