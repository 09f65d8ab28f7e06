#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct wf_pool_chunk {
    wf_pool_chunk_t *next;
};

void wf_pool_init(wf_pool_t *pool, size_t size, uint32_t max_free)
{
    memset(pool, 0, sizeof(*pool));
    pool->size = size < sizeof(wf_pool_chunk_t) ? sizeof(wf_pool_chunk_t) : size;
    pool->max_free = max_free;
}

void wf_pool_destroy(wf_pool_t *pool)
{
    while (pool->free != NULL) {
        wf_pool_chunk_t *c = pool->free;
        pool->free = c->next;
        free(c);
    }
    pool->nfree = 0;
}

void *wf_pool_get(wf_pool_t *pool)
{
    wf_pool_chunk_t *c = pool->free;
    if (c != NULL) {
        pool->free = c->next;
        pool->nfree--;
    } else {
        c = malloc(pool->size);
        if (c == NULL)
            return NULL;
    }
    pool->in_use++;
    return c;
}

void wf_pool_put(wf_pool_t *pool, void *chunk)
{
    pool->in_use--;
    if (pool->nfree >= pool->max_free) {
        free(chunk);
        return;
    }
    wf_pool_chunk_t *c = chunk;
    c->next = pool->free;
    pool->free = c;
    pool->nfree++;
}

void wf_pool_trim(wf_pool_t *pool)
{
    uint32_t keep = pool->nfree / 2;
    while (pool->nfree > keep) {
        wf_pool_chunk_t *c = pool->free;
        pool->free = c->next;
        pool->nfree--;
        free(c);
    }
}

int wf_buf_reserve(wf_buf_t *b, wf_pool_t *pool)
{
    if (b->data == NULL) {
        b->data = wf_pool_get(pool);
        if (b->data == NULL)
            return WF_ENOMEM;
        b->head = b->tail = 0;
        b->cap = (uint32_t)pool->size;
    } else if (b->tail == b->cap && b->head > 0) {
        size_t n = wf_buf_len(b);
        memmove(b->data, b->data + b->head, n);
        b->head = 0;
        b->tail = (uint32_t)n;
    }
    return (int)wf_buf_space(b);
}

void wf_buf_consume(wf_buf_t *b, wf_pool_t *pool, size_t n)
{
    b->head += (uint32_t)n;
    if (b->head == b->tail)
        wf_buf_release(b, pool);
}

void wf_buf_release(wf_buf_t *b, wf_pool_t *pool)
{
    if (b->data != NULL)
        wf_pool_put(pool, b->data);
    *b = WF_BUF_EMPTY;
}

static bool sbuf_grow(wf_sbuf_t *s, size_t need)
{
    if (s->oom)
        return false;
    if (s->len + need + 1 <= s->cap)
        return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + need + 1)
        cap *= 2;
    char *p = realloc(s->ptr, cap);
    if (p == NULL) {
        s->oom = true;
        return false;
    }
    s->ptr = p;
    s->cap = cap;
    return true;
}

void wf_sbuf_append(wf_sbuf_t *s, const char *p, size_t n)
{
    if (!sbuf_grow(s, n))
        return;
    memcpy(s->ptr + s->len, p, n);
    s->len += n;
    s->ptr[s->len] = '\0';
}

void wf_sbuf_puts(wf_sbuf_t *s, const char *str)
{
    wf_sbuf_append(s, str, strlen(str));
}

void wf_sbuf_printf(wf_sbuf_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sbuf_grow(s, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(s->ptr + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void wf_sbuf_free(wf_sbuf_t *s)
{
    free(s->ptr);
    *s = (wf_sbuf_t){0};
}
