/*
 * hmap.h — a string-keyed hash map (chained, FNV-1a, power-of-two buckets,
 * grows at load 1). For control-plane indexes: object caches by
 * "namespace/name", pods by IP, subscriptions by target. Not for the data
 * path (it allocates per entry).
 *
 * Keys are copied into the entry (owned by the map); values are the
 * caller's (the map never frees them). Not thread-safe: one owner thread.
 * Iteration is stable while nothing is inserted; removing the entry the
 * iterator stands on is allowed (wf_hmap_iter_remove).
 */
#ifndef WF_CORE_HMAP_H
#define WF_CORE_HMAP_H

#include "core/common.h"

typedef struct wf_hmap_entry wf_hmap_entry_t;

struct wf_hmap_entry {
    wf_hmap_entry_t *next; /* owned chain */
    uint32_t hash;
    uint32_t klen;
    void *val; /* borrowed: the caller's */
    char key[]; /* NUL-terminated copy */
};

typedef struct wf_hmap {
    wf_hmap_entry_t **buckets; /* owned */
    uint32_t nbuckets;         /* 0 or a power of two */
    uint32_t count;
} wf_hmap_t;

#define WF_HMAP_INIT {NULL, 0, 0}

/* Frees the entries and buckets (not the values). */
void wf_hmap_clear(wf_hmap_t *m);

void *wf_hmap_get(const wf_hmap_t *m, wf_str_t key);
/* Inserts or replaces; *old (if non-NULL) gets the replaced value or NULL.
 * Returns 0 or WF_ENOMEM (the map is unchanged then). */
int wf_hmap_put(wf_hmap_t *m, wf_str_t key, void *val, void **old);
/* Removes key; returns its value or NULL. */
void *wf_hmap_del(wf_hmap_t *m, wf_str_t key);

typedef struct wf_hmap_iter {
    wf_hmap_t *m;
    uint32_t bucket;
    wf_hmap_entry_t *cur, *next;
} wf_hmap_iter_t;

void wf_hmap_iter_init(wf_hmap_iter_t *it, wf_hmap_t *m);
/* The next entry or NULL at the end. */
wf_hmap_entry_t *wf_hmap_iter_next(wf_hmap_iter_t *it);
/* Removes the entry last returned by wf_hmap_iter_next. */
void wf_hmap_iter_remove(wf_hmap_iter_t *it);

/* Bytes the map itself holds (buckets + entries), for memory reports. */
size_t wf_hmap_bytes(const wf_hmap_t *m);

#endif
