/*
 * source.c — the informer cache and event delivery both sources share
 * (see source.h).
 */
#include "k8s/source.h"

#include <stdio.h>
#include <stdlib.h>

const char *wf_k8s_event_name(wf_k8s_event_t ev)
{
    switch (ev) {
    case WF_K8S_ADDED:
        return "ADDED";
    case WF_K8S_MODIFIED:
        return "MODIFIED";
    case WF_K8S_DELETED:
        return "DELETED";
    }
    return "?";
}

wf_k8s_informer_t *wf_k8s_watch(wf_k8s_source_t *src, const wf_k8s_resource_t *res,
                                const wf_k8s_informer_cbs_t *cbs, void *data, char *err,
                                size_t errlen)
{
    wf_k8s_informer_t *inf = calloc(1, sizeof(*inf));
    if (inf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    inf->src = src;
    inf->res = res;
    inf->cbs = *cbs;
    inf->data = data;
    inf->next = src->infs;
    src->infs = inf;
    int rc = src->ops->start(src, inf);
    if (rc != 0) {
        snprintf(err, errlen, "cannot watch %s: %s", res->plural, wf_strerror(rc));
        src->infs = inf->next;
        src->ops->stop(src, inf);
        free(inf);
        return NULL;
    }
    return inf;
}

wf_k8s_obj_t *wf_k8s_informer_get(const wf_k8s_informer_t *inf, const char *ns, const char *name)
{
    char key[2 * WF_K8S_NAME_MAX + 2];
    size_t n = wf_k8s_obj_key(ns, name, key, sizeof(key));
    if (n >= sizeof(key))
        return NULL;
    return wf_hmap_get(&inf->cache, (wf_str_t){key, n});
}

static void cache_clear(wf_k8s_informer_t *inf)
{
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &inf->cache);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;)
        wf_k8s_obj_unref(e->val);
    wf_hmap_clear(&inf->cache);
}

void wf_k8s_source_free(wf_k8s_source_t *src)
{
    if (src == NULL)
        return;
    while (src->infs != NULL) {
        wf_k8s_informer_t *inf = src->infs;
        src->infs = inf->next;
        src->ops->stop(src, inf);
        cache_clear(inf);
        free(inf);
    }
    src->ops->destroy(src);
}

void wf__k8s_apply(wf_k8s_informer_t *inf, wf_k8s_obj_t *obj)
{
    if (inf->cbs.prune != NULL)
        inf->cbs.prune(inf->res, obj->json);
    char key[2 * WF_K8S_NAME_MAX + 2];
    size_t n = wf_k8s_obj_key(obj->ns, obj->name, key, sizeof(key));
    wf_str_t k = {key, n};
    obj->seen = inf->gen;
    wf_k8s_obj_t *old = wf_hmap_get(&inf->cache, k);
    if (old != NULL && wf_k8s_obj_same(old, obj)) {
        old->seen = inf->gen;
        old->sig = obj->sig;
        wf_k8s_obj_unref(obj);
        return;
    }
    if (wf_hmap_put(&inf->cache, k, obj, NULL) != 0) {
        inf->errors++;
        wf_k8s_obj_unref(obj); /* out of memory: the cache keeps what it had */
        return;
    }
    inf->events++;
    if (inf->cbs.on_event != NULL)
        inf->cbs.on_event(inf, old != NULL ? WF_K8S_MODIFIED : WF_K8S_ADDED, obj, old);
    wf_k8s_obj_unref(old);
}

void wf__k8s_remove(wf_k8s_informer_t *inf, const char *key)
{
    wf_k8s_obj_t *old = wf_hmap_del(&inf->cache, wf_str_from(key));
    if (old == NULL)
        return;
    inf->events++;
    if (inf->cbs.on_event != NULL)
        inf->cbs.on_event(inf, WF_K8S_DELETED, old, NULL);
    wf_k8s_obj_unref(old);
}

void wf__k8s_mark(wf_k8s_informer_t *inf, const char *key)
{
    wf_k8s_obj_t *o = wf_hmap_get(&inf->cache, wf_str_from(key));
    if (o != NULL)
        o->seen = inf->gen;
}

void wf__k8s_resync_begin(wf_k8s_informer_t *inf)
{
    inf->gen++;
    inf->relists++;
}

void wf__k8s_resync_end(wf_k8s_informer_t *inf)
{
    /* Collect first: deleting while delivering would let a callback see a
     * half-walked map. */
    size_t n = 0, cap = 0;
    wf_k8s_obj_t **gone = NULL;
    wf_hmap_iter_t it;
    wf_hmap_iter_init(&it, &inf->cache);
    for (wf_hmap_entry_t *e; (e = wf_hmap_iter_next(&it)) != NULL;) {
        wf_k8s_obj_t *o = e->val;
        if (o->seen == inf->gen)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            wf_k8s_obj_t **g = realloc(gone, nc * sizeof(*g));
            if (g == NULL)
                break; /* the rest goes at the next resync */
            gone = g;
            cap = nc;
        }
        gone[n++] = wf_k8s_obj_ref(o);
    }
    for (size_t i = 0; i < n; i++) {
        char key[2 * WF_K8S_NAME_MAX + 2];
        wf_k8s_obj_key(gone[i]->ns, gone[i]->name, key, sizeof(key));
        wf__k8s_remove(inf, key);
        wf_k8s_obj_unref(gone[i]);
    }
    free(gone);
    if (!inf->synced) {
        inf->synced = true;
        if (inf->cbs.on_synced != NULL)
            inf->cbs.on_synced(inf);
    }
}
