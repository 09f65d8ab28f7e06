/*
 * buf.h — fixed-size byte buffers drawn from a per-thread pool.
 *
 * A wf_pool_t hands out equal-sized chunks and keeps up to max_free of them
 * on a free list, so steady-state relaying allocates nothing. A wf_buf_t is
 * a window [head, tail) over one chunk; it holds a chunk only while it holds
 * bytes (haproxy's trick: an idle connection costs no buffer memory), so
 * thousands of idle connections stay cheap.
 *
 * Pools and the buffers drawn from them belong to one thread.
 */
#ifndef WF_CORE_BUF_H
#define WF_CORE_BUF_H

#include "core/common.h"

typedef struct wf_pool_chunk wf_pool_chunk_t;

typedef struct wf_pool {
    size_t size;             /* bytes per chunk */
    uint32_t max_free;       /* free chunks kept for reuse */
    uint32_t nfree;
    wf_pool_chunk_t *free;   /* owned: free list */
    uint64_t in_use;         /* chunks handed out and not returned */
} wf_pool_t;

void wf_pool_init(wf_pool_t *pool, size_t size, uint32_t max_free);
void wf_pool_destroy(wf_pool_t *pool);
/* A chunk of pool->size bytes, or NULL when memory is exhausted. */
void *wf_pool_get(wf_pool_t *pool);
void wf_pool_put(wf_pool_t *pool, void *chunk);
/* Frees half of the cached free chunks (housekeeping: an idle proxy shrinks). */
void wf_pool_trim(wf_pool_t *pool);

typedef struct wf_buf {
    char *data; /* owned chunk from the pool, or NULL while empty */
    uint32_t head, tail, cap;
} wf_buf_t;

#define WF_BUF_EMPTY ((wf_buf_t){NULL, 0, 0, 0})

static inline size_t wf_buf_len(const wf_buf_t *b)
{
    return b->tail - b->head;
}

static inline size_t wf_buf_space(const wf_buf_t *b)
{
    return b->cap - b->tail;
}

static inline char *wf_buf_readp(const wf_buf_t *b)
{
    return b->data + b->head;
}

static inline char *wf_buf_writep(const wf_buf_t *b)
{
    return b->data + b->tail;
}

/* Makes room to write: takes a chunk if none is held and moves unread bytes
 * to the front when the tail reached the end. Returns space or WF_ENOMEM. */
int wf_buf_reserve(wf_buf_t *b, wf_pool_t *pool);

static inline void wf_buf_produced(wf_buf_t *b, size_t n)
{
    b->tail += (uint32_t)n;
}

/* Marks n bytes read; returns the chunk to the pool once empty. */
void wf_buf_consume(wf_buf_t *b, wf_pool_t *pool, size_t n);

/* Returns the chunk (dropping any unread bytes). */
void wf_buf_release(wf_buf_t *b, wf_pool_t *pool);

/*
 * wf_sbuf_t — a growable string for cold paths (metrics exposition, JSON,
 * admin responses). Never used per byte relayed.
 */
typedef struct wf_sbuf {
    char *ptr; /* owned, NUL-terminated while len < cap */
    size_t len, cap;
    bool oom; /* an append failed: the content is truncated */
} wf_sbuf_t;

void wf_sbuf_append(wf_sbuf_t *s, const char *p, size_t n);
void wf_sbuf_puts(wf_sbuf_t *s, const char *str);
void wf_sbuf_printf(wf_sbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wf_sbuf_free(wf_sbuf_t *s);

#endif
