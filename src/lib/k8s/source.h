/*
 * source.h — where the controllers read cluster state from: one interface
 * (list + watch of typed objects, like client-go's informers) with two
 * implementations,
 *
 *   local       the on-disk store `weft up` maintains, watched with inotify
 *               (local.c; layout below);
 *   kubernetes  list + watch against the API server (kube.c).
 *
 * An informer follows one resource type: it lists it, delivers an ADDED
 * event per object, then signals on_synced once; from then on it delivers
 * ADDED / MODIFIED / DELETED as the objects change, and keeps the current
 * objects in its cache (wf_k8s_informer_get). After a relist (API 410 Gone,
 * a reconnect, an inotify queue overflow) the new list is diffed against the
 * cache, so consumers only ever see the changes, never a second snapshot.
 *
 * Local store layout (the contract with `weft up`):
 *   <root>/<resource>/<namespace>/<name>.json   namespaced resources
 *   <root>/<resource>/<name>.json               cluster-scoped (namespaces)
 * <resource> is wf_k8s_resource_dir(): "pods", "services", "endpointslices",
 * "serviceaccounts", "namespaces"; "<plural>.<group>" for CRDs. A file holds
 * one object in Kubernetes JSON shape. Writers write a dotfile in the same
 * directory and rename() it into place; deleting is unlink(). Dotfiles and
 * names not ending in ".json" are ignored; directories may appear at any
 * time. A malformed file is logged (naming it) and skipped — the rest of
 * the store, and the last good version of that object, stay.
 *
 * Thread: a source, its informers and their callbacks belong to the loop's
 * thread. Callbacks run from the loop, never from inside wf_k8s_watch; they
 * must not free the source.
 */
#ifndef WF_K8S_SOURCE_H
#define WF_K8S_SOURCE_H

#include "core/hmap.h"
#include "core/loop.h"
#include "k8s/object.h"

typedef enum wf_k8s_event {
    WF_K8S_ADDED,
    WF_K8S_MODIFIED,
    WF_K8S_DELETED,
} wf_k8s_event_t;

const char *wf_k8s_event_name(wf_k8s_event_t ev);

typedef struct wf_k8s_source wf_k8s_source_t;
typedef struct wf_k8s_informer wf_k8s_informer_t;

typedef struct wf_k8s_informer_cbs {
    /* obj: the new object (ADDED, MODIFIED) or the last one known
     * (DELETED); old: the one it replaces (MODIFIED only, else NULL).
     * Both borrowed for the call: wf_k8s_obj_ref() to keep one. */
    void (*on_event)(wf_k8s_informer_t *inf, wf_k8s_event_t ev, wf_k8s_obj_t *obj,
                     wf_k8s_obj_t *old);
    /* Once, after the ADDED events of the initial list. */
    void (*on_synced)(wf_k8s_informer_t *inf);
    /* Optional: trims an object's JSON before it is cached (bounded memory:
     * keep only what the consumer reads). Runs before on_event. */
    void (*prune)(const wf_k8s_resource_t *res, json_t *obj);
} wf_k8s_informer_cbs_t;

struct wf_k8s_informer {
    wf_k8s_informer_t *next;      /* the source's list */
    wf_k8s_source_t *src;         /* borrowed: owner */
    const wf_k8s_resource_t *res; /* borrowed */
    wf_k8s_informer_cbs_t cbs;
    void *data;       /* the consumer's (not touched here) */
    wf_hmap_t cache;  /* "ns/name" -> wf_k8s_obj_t * (one reference each) */
    bool synced;      /* on_synced has run */
    uint64_t gen;     /* current resync generation (wf__k8s_resync_*) */
    uint64_t events;  /* events delivered */
    uint64_t errors;  /* objects skipped as malformed, failed requests */
    uint64_t relists; /* full lists (the first one included) */
    void *impl;       /* the implementation's per-informer state (owned by it) */
};

typedef struct wf_k8s_source_ops {
    const char *name;
    /* Begins listing + watching inf (already linked into the source). */
    int (*start)(wf_k8s_source_t *src, wf_k8s_informer_t *inf);
    /* Stops inf and frees its impl state. */
    void (*stop)(wf_k8s_source_t *src, wf_k8s_informer_t *inf);
    /* Frees the source's own state (informers are already stopped). */
    void (*destroy)(wf_k8s_source_t *src);
} wf_k8s_source_ops_t;

struct wf_k8s_source {
    const wf_k8s_source_ops_t *ops; /* borrowed, static */
    wf_loop_t *loop;                /* borrowed */
    wf_k8s_informer_t *infs;        /* owned list */
};

/* The local store rooted at `root` (created when missing). NULL + message. */
wf_k8s_source_t *wf_k8s_local_new(wf_loop_t *loop, const char *root, char *err, size_t errlen);

/* Kubernetes API access. kubeconfig NULL: in-cluster credentials
 * (KUBERNETES_SERVICE_HOST/PORT, the service-account token and CA). */
wf_k8s_source_t *wf_k8s_kube_new(wf_loop_t *loop, const char *kubeconfig, char *err,
                                 size_t errlen);

/* Starts following res. cbs is copied; data is the consumer's. NULL +
 * message when it cannot start. */
wf_k8s_informer_t *wf_k8s_watch(wf_k8s_source_t *src, const wf_k8s_resource_t *res,
                                const wf_k8s_informer_cbs_t *cbs, void *data, char *err,
                                size_t errlen);

/* The cached object ns/name (ns "" or NULL for cluster-scoped), borrowed. */
wf_k8s_obj_t *wf_k8s_informer_get(const wf_k8s_informer_t *inf, const char *ns, const char *name);

/* Stops every informer (dropping their caches) and frees the source. */
void wf_k8s_source_free(wf_k8s_source_t *src);

/* --- for implementations (source.c) ---------------------------------------------- */

/* Puts obj (reference stolen) into the cache under its key and delivers
 * ADDED or MODIFIED — nothing when it is the same as the cached one. The
 * entry is marked seen in the current generation either way. */
void wf__k8s_apply(wf_k8s_informer_t *inf, wf_k8s_obj_t *obj);
/* Removes key from the cache and delivers DELETED (nothing when absent). */
void wf__k8s_remove(wf_k8s_informer_t *inf, const char *key);
/* Marks the cached key as seen in this generation (an unchanged object). */
void wf__k8s_mark(wf_k8s_informer_t *inf, const char *key);
/* A full relist: begin bumps the generation; end deletes every cached
 * object the relist did not apply or mark, then signals on_synced the
 * first time. */
void wf__k8s_resync_begin(wf_k8s_informer_t *inf);
void wf__k8s_resync_end(wf_k8s_informer_t *inf);

#endif
