/*
 * ring.h — a growable FIFO of u64 (intended send times of requests queued
 * or in flight on one HTTP/1.1 connection). Header-only.
 *
 * Growth doubles up to LG_RING_MAX entries; past that, push fails and the
 * caller counts the request as unsent (the run is far behind schedule).
 */
#ifndef LG_RING_H
#define LG_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define LG_RING_MAX (1u << 20)

typedef struct lg_ring {
    uint64_t *v;   /* owned; cap slots */
    uint32_t cap;  /* a power of two, or 0 before the first push */
    uint32_t head; /* index of the oldest entry */
    uint32_t len;
} lg_ring_t;

/* Returns 0, or -1 when full at LG_RING_MAX or out of memory. */
static inline int lg_ring_push(lg_ring_t *r, uint64_t x)
{
    if (r->len == r->cap) {
        uint32_t ncap = r->cap ? r->cap * 2 : 16;
        if (ncap > LG_RING_MAX)
            return -1;
        uint64_t *nv = malloc(ncap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        for (uint32_t i = 0; i < r->len; i++)
            nv[i] = r->v[(r->head + i) & (r->cap - 1)];
        free(r->v);
        r->v = nv;
        r->cap = ncap;
        r->head = 0;
    }
    r->v[(r->head + r->len) & (r->cap - 1)] = x;
    r->len++;
    return 0;
}

/* The oldest entry; the ring must not be empty. */
static inline uint64_t lg_ring_front(const lg_ring_t *r)
{
    return r->v[r->head];
}

static inline uint64_t lg_ring_pop(lg_ring_t *r)
{
    uint64_t x = r->v[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return x;
}

static inline void lg_ring_free(lg_ring_t *r)
{
    free(r->v);
    *r = (lg_ring_t){0};
}

#endif
