/*
 * hmap.c — string-keyed hash map (see hmap.h).
 */
#include "core/hmap.h"

#include <stdlib.h>

static uint32_t hmap_hash(wf_str_t k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < k.len; i++) {
        h ^= (uint8_t)k.ptr[i];
        h *= 16777619u;
    }
    return h;
}

void wf_hmap_clear(wf_hmap_t *m)
{
    for (uint32_t i = 0; i < m->nbuckets; i++) {
        wf_hmap_entry_t *e = m->buckets[i];
        while (e != NULL) {
            wf_hmap_entry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
    m->count = 0;
}

static wf_hmap_entry_t **hmap_find(const wf_hmap_t *m, wf_str_t key, uint32_t h)
{
    if (m->nbuckets == 0)
        return NULL;
    wf_hmap_entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == key.len && memcmp((*pp)->key, key.ptr, key.len) == 0)
            return pp;
    return pp; /* the chain's end: *pp == NULL */
}

void *wf_hmap_get(const wf_hmap_t *m, wf_str_t key)
{
    wf_hmap_entry_t **pp = hmap_find(m, key, hmap_hash(key));
    return pp != NULL && *pp != NULL ? (*pp)->val : NULL;
}

static int hmap_grow(wf_hmap_t *m)
{
    uint32_t n = m->nbuckets ? m->nbuckets * 2 : 8;
    wf_hmap_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return WF_ENOMEM;
    for (uint32_t i = 0; i < m->nbuckets; i++) {
        wf_hmap_entry_t *e = m->buckets[i];
        while (e != NULL) {
            wf_hmap_entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int wf_hmap_put(wf_hmap_t *m, wf_str_t key, void *val, void **old)
{
    uint32_t h = hmap_hash(key);
    if (old != NULL)
        *old = NULL;
    wf_hmap_entry_t **pp = hmap_find(m, key, h);
    if (pp != NULL && *pp != NULL) {
        if (old != NULL)
            *old = (*pp)->val;
        (*pp)->val = val;
        return 0;
    }
    if (key.len > UINT32_MAX - 1)
        return WF_ERANGE;
    if (m->count >= m->nbuckets && hmap_grow(m) != 0)
        return WF_ENOMEM;
    wf_hmap_entry_t *e = malloc(sizeof(*e) + key.len + 1);
    if (e == NULL)
        return WF_ENOMEM;
    e->hash = h;
    e->klen = (uint32_t)key.len;
    e->val = val;
    if (key.len)
        memcpy(e->key, key.ptr, key.len);
    e->key[key.len] = '\0';
    wf_hmap_entry_t **b = &m->buckets[h & (m->nbuckets - 1)];
    e->next = *b;
    *b = e;
    m->count++;
    return 0;
}

void *wf_hmap_del(wf_hmap_t *m, wf_str_t key)
{
    wf_hmap_entry_t **pp = hmap_find(m, key, hmap_hash(key));
    if (pp == NULL || *pp == NULL)
        return NULL;
    wf_hmap_entry_t *e = *pp;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void wf_hmap_iter_init(wf_hmap_iter_t *it, wf_hmap_t *m)
{
    it->m = m;
    it->bucket = 0;
    it->cur = NULL;
    it->next = m->nbuckets ? m->buckets[0] : NULL;
}

wf_hmap_entry_t *wf_hmap_iter_next(wf_hmap_iter_t *it)
{
    while (it->next == NULL) {
        if (it->m->nbuckets == 0 || ++it->bucket >= it->m->nbuckets) {
            it->cur = NULL;
            return NULL;
        }
        it->next = it->m->buckets[it->bucket];
    }
    it->cur = it->next;
    it->next = it->cur->next;
    return it->cur;
}

void wf_hmap_iter_remove(wf_hmap_iter_t *it)
{
    wf_hmap_entry_t *e = it->cur;
    if (e == NULL)
        return;
    wf_hmap_entry_t **pp = &it->m->buckets[e->hash & (it->m->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    free(e);
    it->m->count--;
    it->cur = NULL;
}

size_t wf_hmap_bytes(const wf_hmap_t *m)
{
    size_t n = (size_t)m->nbuckets * sizeof(*m->buckets);
    for (uint32_t i = 0; i < m->nbuckets; i++)
        for (const wf_hmap_entry_t *e = m->buckets[i]; e != NULL; e = e->next)
            n += sizeof(*e) + e->klen + 1;
    return n;
}
