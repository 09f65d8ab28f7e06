#include "core/loop.h"

#include "core/time.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

static void wake_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    uint64_t v;
    /* Drain the counter; the eventfd is non-blocking so this never waits. */
    while (read(w->fd, &v, sizeof(v)) == sizeof(v))
        ;
    if (atomic_load_explicit(&loop->stop_requested, memory_order_acquire))
        loop->stopping = true;
    if (loop->on_wake != NULL)
        loop->on_wake(loop);
}

int wf_loop_init(wf_loop_t *loop)
{
    memset(loop, 0, sizeof(*loop));
    loop->defer_tail = &loop->defer_head;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -errno;
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0) {
        int err = -errno;
        close(loop->epfd);
        return err;
    }
    loop->now = wf_now_ms();
    wf_watch_init(&loop->wake_watch, loop->wakefd, wake_cb);
    return wf_watch_start(loop, &loop->wake_watch, EPOLLIN);
}

void wf_loop_destroy(wf_loop_t *loop)
{
    close(loop->wakefd);
    close(loop->epfd);
    free(loop->heap);
    loop->heap = NULL;
}

void wf_loop_wake(wf_loop_t *loop)
{
    uint64_t one = 1;
    ssize_t n = write(loop->wakefd, &one, sizeof(one));
    (void)n; /* EAGAIN means a wake is already pending: fine */
}

void wf_loop_stop(wf_loop_t *loop)
{
    atomic_store_explicit(&loop->stop_requested, true, memory_order_release);
    wf_loop_wake(loop);
}

int wf_watch_start(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0)
        return -errno;
    w->events = events;
    return 0;
}

int wf_watch_modify(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    if (events == w->events)
        return 0;
    struct epoll_event ev = {.events = events | EPOLLET, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
        return -errno;
    w->events = events;
    return 0;
}

int wf_watch_rearm(wf_loop_t *loop, wf_watch_t *w)
{
    struct epoll_event ev = {.events = w->events | EPOLLET, .data.ptr = w};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0 ? -errno : 0;
}

void wf_watch_stop(wf_loop_t *loop, wf_watch_t *w)
{
    if (w->fd >= 0)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->events = 0;
}

/* --- timers: a binary min-heap on deadline ------------------------------ */

static void heap_swap(wf_loop_t *loop, uint32_t a, uint32_t b)
{
    wf_timer_t *ta = loop->heap[a], *tb = loop->heap[b];
    loop->heap[a] = tb;
    loop->heap[b] = ta;
    tb->heap_idx = a;
    ta->heap_idx = b;
}

static void heap_up(wf_loop_t *loop, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (loop->heap[parent]->deadline <= loop->heap[i]->deadline)
            break;
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(wf_loop_t *loop, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, min = i;
        if (l < loop->nheap && loop->heap[l]->deadline < loop->heap[min]->deadline)
            min = l;
        if (r < loop->nheap && loop->heap[r]->deadline < loop->heap[min]->deadline)
            min = r;
        if (min == i)
            return;
        heap_swap(loop, i, min);
        i = min;
    }
}

void wf_timer_stop(wf_loop_t *loop, wf_timer_t *t)
{
    uint32_t i = t->heap_idx;
    if (i == WF_TIMER_INACTIVE)
        return;
    uint32_t last = --loop->nheap;
    if (i != last) {
        heap_swap(loop, i, last);
        heap_down(loop, i);
        heap_up(loop, i);
    }
    t->heap_idx = WF_TIMER_INACTIVE;
}

int wf_timer_start(wf_loop_t *loop, wf_timer_t *t, uint64_t after_ms)
{
    uint64_t deadline = loop->now + after_ms;
    if (t->heap_idx != WF_TIMER_INACTIVE) {
        uint64_t old = t->deadline;
        t->deadline = deadline;
        if (deadline < old)
            heap_up(loop, t->heap_idx);
        else
            heap_down(loop, t->heap_idx);
        return 0;
    }
    if (loop->nheap == loop->capheap) {
        uint32_t cap = loop->capheap ? loop->capheap * 2 : 64;
        wf_timer_t **heap = realloc(loop->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return WF_ENOMEM;
        loop->heap = heap;
        loop->capheap = cap;
    }
    t->deadline = deadline;
    t->heap_idx = loop->nheap;
    loop->heap[loop->nheap++] = t;
    heap_up(loop, t->heap_idx);
    return 0;
}

static void run_timers(wf_loop_t *loop)
{
    while (loop->nheap > 0 && loop->heap[0]->deadline <= loop->now) {
        wf_timer_t *t = loop->heap[0];
        wf_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

/* --- deferred callbacks -------------------------------------------------- */

void wf_loop_defer(wf_loop_t *loop, wf_defer_t *d, wf_defer_cb cb)
{
    if (d->queued)
        return;
    d->queued = true;
    d->cb = cb;
    d->next = NULL;
    *loop->defer_tail = d;
    loop->defer_tail = &d->next;
}

/* Deferred callbacks may queue more (a codec waking its peer, which wakes
 * it back). Running a few rounds here saves an epoll_wait(0) round trip per
 * hand-off on the request path; the bound keeps a callback that requeues
 * itself from starving I/O: what is left runs next iteration. */
#define DEFER_ROUNDS 8

static void run_deferred(wf_loop_t *loop)
{
    for (int round = 0; round < DEFER_ROUNDS && loop->defer_head != NULL; round++) {
        wf_defer_t *d = loop->defer_head;
        loop->defer_head = NULL;
        loop->defer_tail = &loop->defer_head;
        while (d != NULL) {
            wf_defer_t *next = d->next;
            d->queued = false;
            d->cb(loop, d);
            d = next;
        }
    }
}

int wf_loop_run_once(wf_loop_t *loop, int timeout_ms)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    if (loop->defer_head != NULL)
        timeout_ms = 0;
    if (loop->nheap > 0) {
        uint64_t deadline = loop->heap[0]->deadline;
        int until = deadline <= loop->now ? 0 : (int)WF_MIN(deadline - loop->now, 60000);
        if (timeout_ms < 0 || until < timeout_ms)
            timeout_ms = until;
    }
    int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
        return -errno;
    loop->now = wf_now_ms();
    for (int i = 0; i < n; i++) {
        wf_watch_t *w = events[i].data.ptr;
        w->cb(loop, w, events[i].events);
    }
    run_timers(loop);
    run_deferred(loop);
    return 0;
}

int wf_loop_run(wf_loop_t *loop)
{
    while (!loop->stopping) {
        int err = wf_loop_run_once(loop, -1);
        if (err != 0)
            return err;
    }
    return 0;
}
