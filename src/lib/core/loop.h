/*
 * loop.h — the per-thread event loop: epoll (edge-triggered) watches,
 * millisecond timers on a binary heap, deferred callbacks, and a wake-up
 * eventfd other threads may poke.
 *
 * A loop is owned by exactly one thread; nothing here is thread-safe except
 * wf_loop_wake(). Objects embed their wf_watch_t / wf_timer_t / wf_defer_t
 * and recover themselves with wf_container_of() in the callback (typed, no
 * void *ctx). Freeing an object whose fd may still have events in the
 * current epoll batch must be deferred (wf_loop_defer) to the end of the
 * iteration — that is the loop's one safe point for frees.
 */
#ifndef WF_CORE_LOOP_H
#define WF_CORE_LOOP_H

#include "core/common.h"

#include <stdatomic.h>
#include <sys/epoll.h>

typedef struct wf_loop wf_loop_t;
typedef struct wf_watch wf_watch_t;
typedef struct wf_timer wf_timer_t;
typedef struct wf_defer wf_defer_t;

typedef void (*wf_watch_cb)(wf_loop_t *loop, wf_watch_t *w, uint32_t events);
typedef void (*wf_timer_cb)(wf_loop_t *loop, wf_timer_t *t);
typedef void (*wf_defer_cb)(wf_loop_t *loop, wf_defer_t *d);

struct wf_watch {
    int fd;         /* borrowed: the watch never closes it */
    uint32_t events;
    wf_watch_cb cb;
};

#define WF_TIMER_INACTIVE UINT32_MAX

struct wf_timer {
    uint64_t deadline; /* loop time in ms */
    uint32_t heap_idx; /* WF_TIMER_INACTIVE when not armed */
    wf_timer_cb cb;
};

struct wf_defer {
    wf_defer_t *next;
    wf_defer_cb cb;
    bool queued;
};

struct wf_loop {
    int epfd;
    uint64_t now; /* ms, refreshed once per iteration (libuv's cached time) */
    wf_timer_t **heap;
    uint32_t nheap, capheap;
    wf_defer_t *defer_head, **defer_tail;
    int wakefd;
    wf_watch_t wake_watch;
    void (*on_wake)(wf_loop_t *loop); /* runs on this loop's thread after a wake */
    _Atomic bool stop_requested;
    bool stopping;
};

int wf_loop_init(wf_loop_t *loop);
void wf_loop_destroy(wf_loop_t *loop);

/* Runs until wf_loop_stop() is called (from this thread or via wake). */
int wf_loop_run(wf_loop_t *loop);
/* Runs one iteration, waiting at most timeout_ms (-1: until an event). */
int wf_loop_run_once(wf_loop_t *loop, int timeout_ms);
void wf_loop_stop(wf_loop_t *loop);

/* Thread-safe: makes the loop's thread run loop->on_wake soon. */
void wf_loop_wake(wf_loop_t *loop);

static inline void wf_watch_init(wf_watch_t *w, int fd, wf_watch_cb cb)
{
    w->fd = fd;
    w->events = 0;
    w->cb = cb;
}

/* Registers fd for `events` (EPOLLIN/OUT/RDHUP; EPOLLET is added). */
int wf_watch_start(wf_loop_t *loop, wf_watch_t *w, uint32_t events);
int wf_watch_modify(wf_loop_t *loop, wf_watch_t *w, uint32_t events);
void wf_watch_stop(wf_loop_t *loop, wf_watch_t *w);
/* Re-arms an edge-triggered watch (EPOLL_CTL_MOD with the same events): the
 * fd is reported again if it is still ready. For code that does not read to
 * EAGAIN itself, e.g. libcurl's socket interface. */
int wf_watch_rearm(wf_loop_t *loop, wf_watch_t *w);

static inline void wf_timer_init(wf_timer_t *t, wf_timer_cb cb)
{
    t->deadline = 0;
    t->heap_idx = WF_TIMER_INACTIVE;
    t->cb = cb;
}

static inline bool wf_timer_active(const wf_timer_t *t)
{
    return t->heap_idx != WF_TIMER_INACTIVE;
}

/* (Re)arms t to fire once, after_ms from the loop's current time. */
int wf_timer_start(wf_loop_t *loop, wf_timer_t *t, uint64_t after_ms);
void wf_timer_stop(wf_loop_t *loop, wf_timer_t *t);

/* Queues d to run at the end of this iteration (once, however often it is
 * queued before then). */
void wf_loop_defer(wf_loop_t *loop, wf_defer_t *d, wf_defer_cb cb);

#endif
