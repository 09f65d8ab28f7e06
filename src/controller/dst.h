/*
 * dst.h — internals shared by the destination service's files:
 *   dst_state.c   cluster-state indexes fed by the informers, and the
 *                 resolution of a target into endpoints / a profile;
 *   destination.c the gRPC streams (one subscription per call, diffs),
 *                 flags, metrics and the process.
 *
 * Indexes (each entry holds a reference on its object):
 *   services by "ns/name"       the services informer's own cache
 *   services by clusterIP       svc_by_ip
 *   pods by "ns/name"           the pods informer's cache
 *   pods by IP                  pod_by_ip (hostNetwork and finished pods left out)
 *   slices by "ns/service"      slices_by_svc
 * Subscriptions are grouped per target in `watches` ("s/<ns>/<name>" or
 * "i/<ip>"); an object change refreshes only the watches it can affect,
 * and each refresh diffs against what that stream was last sent.
 *
 * Thread: everything on the controller's one loop.
 */
#ifndef WF_CONTROLLER_DST_H
#define WF_CONTROLLER_DST_H

#include "ctl.h"
#include "mesh_tls.h"
#include "dst_rules.h"

#include "core/hmap.h"
#include "grpc/grpc.h"
#include "k8s/source.h"

/* The proxy's inbound port, where opaque transport connects. */
#define WF_DST_PROXY_INBOUND_PORT 4143
/* Endpoint weight when nothing says otherwise (Linkerd's default). */
#define WF_DST_DEFAULT_WEIGHT 10000

typedef struct dst_cfg {
    const char *store;      /* --store DIR (local source), borrowed from argv */
    const char *kubeconfig; /* --kubeconfig FILE */
    bool in_cluster;        /* --kubernetes */
    wf_addr_t addr;
    const char *cluster_domain, *trust_domain, *cp_ns;
} dst_cfg_t;

typedef struct dst_watch dst_watch_t;
typedef struct dst_sub dst_sub_t;

/* A set of slices (references held). */
typedef struct dst_slices {
    size_t n, cap;
    wf_k8s_obj_t **v; /* owned array; each element referenced */
} dst_slices_t;

/* The services (of one namespace) whose slices name a pod, with how many
 * endpoints name it in each. */
typedef struct dst_pod_svcs {
    uint32_t n, cap;
    struct dst_pod_svc {
        uint32_t count;
        char name[WF_DST_LABEL_MAX + 1];
    } * v; /* owned */
} dst_pod_svcs_t;

/* Kinds with an informer, for metrics. */
enum { DST_NS, DST_POD, DST_SVC, DST_SLICE, DST_NKINDS };

typedef struct dst {
    wf_ctl_t ctl;
    dst_cfg_t cfg;
    wf_grpc_server_t grpc;
    wf_k8s_source_t *src;               /* owned */
    wf_k8s_informer_t *inf[DST_NKINDS]; /* owned by src */
    unsigned nsynced;                   /* informers that finished their first list */
    bool serving;                       /* gRPC listener up */
    void (*on_ready)(struct dst *d);    /* all informers synced */
    wf_hmap_t svc_by_ip;                /* clusterIP -> Service (referenced) */
    wf_hmap_t pod_by_ip;                /* podIP -> Pod (referenced) */
    wf_hmap_t slices_by_svc;            /* "ns/name" -> dst_slices_t * (owned) */
    wf_hmap_t watches;                  /* "s/ns/name" | "i/ip" -> dst_watch_t * (owned) */
    wf_hmap_t pod_svcs; /* "ns/pod" -> dst_pod_svcs_t * (owned): services whose slices
                           name the pod, so a pod change reaches only their streams */
    wf_hmap_t dirty;    /* watch keys to refresh at the end of this loop iteration */
    wf_defer_t flush_defer;
    wf_timer_t gauge_timer;
    wf_mtls_t mtls;       /* serving mTLS as a mesh workload (or plaintext) */
    bool synced;          /* every informer listed once */
    wf_timer_t ready_timer; /* until the certificate arrives, after sync */
    /* metrics (referenced series) */
    wf_series_t *streams_open[2], *streams_total[2], *updates[2], *invalid[2];
    wf_series_t *objects[DST_NKINDS], *source_errors[DST_NKINDS];
    int64_t objects_val[DST_NKINDS];
    uint64_t source_errors_val[DST_NKINDS];
} dst_t;

/* One endpoint of a resolution. */
typedef struct dst_ep {
    uint8_t ip[16];
    uint8_t iplen; /* 4 or 16 */
    uint16_t port;
    bool opaque;
    wf_k8s_obj_t *pod; /* borrowed (valid until the loop runs again); NULL: no pod known */
} dst_ep_t;

typedef struct dst_eps {
    size_t n, cap;
    dst_ep_t *v; /* owned */
} dst_eps_t;

/* What a target resolves to, for a given port. */
typedef struct dst_resolved {
    bool exists;         /* a Service, or a pod for an IP target */
    wf_k8s_obj_t *svc;   /* borrowed: the Service, if any */
    wf_k8s_obj_t *pod;   /* borrowed: the pod of a pod-IP target */
    const char *ns;      /* borrowed: namespace of what was found (NULL: none) */
    bool profile_opaque; /* GetProfile's opaque_protocol */
} dst_resolved_t;

/* --- dst_state.c ------------------------------------------------------------------ */

/* Starts the informers on d->src; on_ready runs once all have synced. */
int dst_state_start(dst_t *d, void (*on_ready)(dst_t *d), char *err, size_t errlen);
void dst_state_free(dst_t *d);

/* Resolves a watch's target for port: what exists, and (when eps is not
 * NULL) its ready endpoints sorted by address, without duplicates. */
void dst_resolve(dst_t *d, const dst_watch_t *w, uint16_t port, dst_resolved_t *r, dst_eps_t *eps);

/* --- destination.c ------------------------------------------------------------------ */

struct dst_watch {
    char *key;                         /* owned: its key in dst_t.watches */
    wf_dst_target_t t;                 /* by IP or by name; t.port unused */
    char res_ns[WF_DST_LABEL_MAX + 1]; /* namespace of the last resolution ("" none) */
    dst_sub_t *subs;                   /* owned list */
    size_t nsubs;
};

/* Marks the watch under key (if any) for a refresh: at the end of this loop
 * iteration every stream on it gets its diff — once, however many objects
 * changed (an inotify batch, a watch chunk, a relist). */
void dst_refresh(dst_t *d, const char *key);
/* The same for every watch whose last resolution was in namespace ns. */
void dst_refresh_ns(dst_t *d, const char *ns);

#endif
