/*
 * gcnn's worker threads: see threads.h for what gcnn_parallel_for promises.
 *
 * One job at a time: the caller describes it in a struct on its own stack,
 * publishes a pointer to it under the pool's lock and wakes the workers.
 * A worker that wakes while the job is still published joins it (taking a
 * reference) and claims items with an atomic counter.  When the caller has
 * no more items to claim it withdraws the job (no one joins after that) and
 * waits only for the workers that joined to finish their current item;
 * workers still asleep never held anything, so they are not waited for.
 */
#include "threads.h"

#include "gcnn_kernels.h"

#if !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#define GCNN_HAVE_PTHREADS 1
#else
#define GCNN_HAVE_PTHREADS 0
#endif

#define GCNN_NSEC_PER_SEC 1000000000L /* struct timespec counts tv_nsec below this */

#if GCNN_HAVE_PTHREADS
#include <errno.h>
#include <pthread.h>
#include <time.h>
#endif

struct gcnn_job {
    gcnn_item_fn fn;
    void *ctx;
    ptrdiff_t items;
    ptrdiff_t next;   /* next item to claim (atomic) */
    int stop;         /* nonzero: claim no more (atomic) */
    int status;       /* first nonzero item status (atomic compare-and-swap) */
    int wanted;       /* workers that may join */
    int joined;       /* workers that joined (under the pool lock) */
    int active;       /* joined workers not yet done (under the pool lock) */
};

/* Claim and run items until none is left or the job stops. */
static void gcnn_run_items(struct gcnn_job *job, int worker)
{
    for (;;) {
        if (__atomic_load_n(&job->stop, __ATOMIC_ACQUIRE))
            return;
        const ptrdiff_t item = __atomic_fetch_add(&job->next, 1, __ATOMIC_ACQ_REL);
        if (item >= job->items)
            return;
        const int status = job->fn(job->ctx, item, worker);
        if (status != GCNN_OK) {
            int expected = GCNN_OK;
            __atomic_compare_exchange_n(&job->status, &expected, status, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE);
            __atomic_store_n(&job->stop, 1, __ATOMIC_RELEASE);
        }
    }
}

int gcnn_threads_available(void) { return GCNN_HAVE_PTHREADS; }

int gcnn_have_threads(void) { return GCNN_HAVE_PTHREADS; }

#if GCNN_HAVE_PTHREADS

static double gcnn_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers: a new job (or generation) */
    pthread_cond_t done; /* caller: a joined worker finished */
    pthread_once_t once;
    unsigned long generation;
    struct gcnn_job *job; /* the published job, or NULL */
    int workers;          /* threads started */
    int busy;             /* a call is using the pool */
} gcnn_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
               PTHREAD_ONCE_INIT, 0, NULL, 0, 0};

static void *gcnn_worker_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&gcnn_pool.lock);
    unsigned long seen = gcnn_pool.generation;
    for (;;) {
        while (gcnn_pool.generation == seen)
            pthread_cond_wait(&gcnn_pool.wake, &gcnn_pool.lock);
        seen = gcnn_pool.generation;
        struct gcnn_job *job = gcnn_pool.job;
        if (job == NULL || job->joined >= job->wanted)
            continue;
        const int worker = ++job->joined;
        ++job->active;
        pthread_mutex_unlock(&gcnn_pool.lock);
        gcnn_run_items(job, worker);
        pthread_mutex_lock(&gcnn_pool.lock);
        if (--job->active == 0)
            pthread_cond_broadcast(&gcnn_pool.done);
    }
    return NULL; /* not reached: workers live as long as the process */
}

/* fork(): the child has this thread only.  Take the lock around the fork so
 * the child never inherits it held, then give the child an empty pool. */
static void gcnn_before_fork(void) { pthread_mutex_lock(&gcnn_pool.lock); }
static void gcnn_after_fork_parent(void) { pthread_mutex_unlock(&gcnn_pool.lock); }
static void gcnn_after_fork_child(void)
{
    pthread_mutex_init(&gcnn_pool.lock, NULL);
    pthread_cond_init(&gcnn_pool.wake, NULL);
    pthread_cond_init(&gcnn_pool.done, NULL);
    gcnn_pool.job = NULL;
    gcnn_pool.workers = 0;
    gcnn_pool.busy = 0;
}

static void gcnn_pool_once(void)
{
    pthread_atfork(gcnn_before_fork, gcnn_after_fork_parent, gcnn_after_fork_child);
}

/* Start workers until `count` exist (fewer if the system refuses). */
static void gcnn_grow(int count)
{
    while (gcnn_pool.workers < count) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attr, gcnn_worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed)
            return;
        ++gcnn_pool.workers;
    }
}

/* The caller's part: its items, polling on the way; returns when it has
 * nothing left to claim. */
static void gcnn_caller_items(struct gcnn_job *job, const gcnn_poll *poll, int *interrupted)
{
    double last_poll = poll ? gcnn_now() : 0;
    for (;;) {
        if (__atomic_load_n(&job->stop, __ATOMIC_ACQUIRE))
            return;
        const ptrdiff_t item = __atomic_fetch_add(&job->next, 1, __ATOMIC_ACQ_REL);
        if (item >= job->items)
            return;
        const int status = job->fn(job->ctx, item, 0);
        if (status != GCNN_OK) {
            int expected = GCNN_OK;
            __atomic_compare_exchange_n(&job->status, &expected, status, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE);
            __atomic_store_n(&job->stop, 1, __ATOMIC_RELEASE);
        }
        if (poll && gcnn_now() - last_poll >= GCNN_POLL_SECONDS) {
            last_poll = gcnn_now();
            if (poll->fn(poll->ctx)) {
                *interrupted = 1;
                __atomic_store_n(&job->stop, 1, __ATOMIC_RELEASE);
            }
        }
    }
}

int gcnn_parallel_for(ptrdiff_t items, int threads, gcnn_item_fn fn, void *ctx,
                      const gcnn_poll *poll)
{
    struct gcnn_job job = {fn, ctx, items, 0, 0, GCNN_OK, 0, 0, 0};
    int interrupted = 0;
    if (threads > GCNN_MAX_THREADS)
        threads = GCNN_MAX_THREADS;
    if (threads > items)
        threads = (int)items;
    int pooled = 0;
    if (threads > 1) {
        pthread_once(&gcnn_pool.once, gcnn_pool_once);
        pthread_mutex_lock(&gcnn_pool.lock);
        if (!gcnn_pool.busy) { /* else another call has the pool: run alone */
            gcnn_pool.busy = pooled = 1;
            gcnn_grow(threads - 1);
            job.wanted = gcnn_pool.workers < threads - 1 ? gcnn_pool.workers : threads - 1;
            gcnn_pool.job = &job;
            ++gcnn_pool.generation;
            pthread_cond_broadcast(&gcnn_pool.wake);
        }
        pthread_mutex_unlock(&gcnn_pool.lock);
    }
    gcnn_caller_items(&job, poll, &interrupted);
    if (pooled) {
        pthread_mutex_lock(&gcnn_pool.lock);
        gcnn_pool.job = NULL; /* no one joins any more */
        while (job.active > 0) {
            if (poll == NULL) {
                pthread_cond_wait(&gcnn_pool.done, &gcnn_pool.lock);
                continue;
            }
            /* keep answering interrupts while a joined worker finishes */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)(GCNN_POLL_SECONDS * GCNN_NSEC_PER_SEC);
            if (until.tv_nsec >= GCNN_NSEC_PER_SEC) {
                until.tv_nsec -= GCNN_NSEC_PER_SEC;
                ++until.tv_sec;
            }
            if (pthread_cond_timedwait(&gcnn_pool.done, &gcnn_pool.lock, &until) == ETIMEDOUT &&
                !interrupted) {
                pthread_mutex_unlock(&gcnn_pool.lock);
                if (poll->fn(poll->ctx)) {
                    interrupted = 1;
                    __atomic_store_n(&job.stop, 1, __ATOMIC_RELEASE);
                }
                pthread_mutex_lock(&gcnn_pool.lock);
            }
        }
        gcnn_pool.busy = 0;
        pthread_mutex_unlock(&gcnn_pool.lock);
    }
    if (job.status != GCNN_OK)
        return job.status;
    return interrupted ? GCNN_EINTERRUPTED : GCNN_OK;
}

#else /* no POSIX threads: everything on the calling thread */

int gcnn_parallel_for(ptrdiff_t items, int threads, gcnn_item_fn fn, void *ctx,
                      const gcnn_poll *poll)
{
    struct gcnn_job job = {fn, ctx, items, 0, 0, GCNN_OK, 0, 0, 0};
    (void)threads;
    (void)poll;
    gcnn_run_items(&job, 0);
    return job.status;
}

#endif
