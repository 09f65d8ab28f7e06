/*
 * local_sup.h — the local-mode supervisor's state (internal to
 * local_sup.c, local_pod.c and local_publish.c). One process, one thread:
 * everything here is owned by the supervisor's loop.
 */
#ifndef WF_CLI_LOCAL_SUP_H
#define WF_CLI_LOCAL_SUP_H

#include "local.h"
#include "local_ipam.h"
#include "local_obj.h"

#include <jansson.h>
#include <time.h>

/* Readiness check of one process. */
typedef enum wf_lm_probe_kind {
    WF_LM_PROBE_NONE = 0, /* ready while running */
    WF_LM_PROBE_TCP,      /* TCP connect to the pod's IP:port */
    WF_LM_PROBE_HTTP,     /* HTTP GET; 200-399 is ready */
} wf_lm_probe_kind_t;

/* One process of a pod: an app container or the proxy. */
typedef struct wf_lm_proc {
    char *name;    /* owned: container name */
    char **argv;   /* owned, NULL-terminated */
    char **env;    /* owned, NULL-terminated "K=V" */
    char *workdir; /* owned or NULL */
    long uid, gid; /* -1: root */
    char *log;     /* owned: log file path */
    char *cgroup;  /* owned or NULL: cgroup v2 dir */
    wf_lm_probe_kind_t probe;
    int probe_port;
    char *probe_path;     /* owned, for HTTP probes */
    const char *probe_ip; /* borrowed: the pod's ip or "127.0.0.1" */
    bool hosts;           /* app containers get the namespace's /etc/hosts */
    pid_t pid;            /* 0: not running */
    int restarts;
    double start_at; /* start (again) at this time; 0: not scheduled */
    double backoff;  /* next restart delay, seconds */
    double next_probe;
    int probe_failures; /* consecutive failed probes while ready */
    double started;     /* when the current run started (monotonic) */
    time_t started_wall;
    bool ready;
    bool done; /* exited and will not be restarted */
    bool ever_started;
    int last_exit; /* exit status, or 128+signal */
} wf_lm_proc_t;

typedef enum wf_lm_pod_state {
    WF_LM_POD_NEW = 0,  /* nothing made yet */
    WF_LM_POD_PROXY,    /* network up, waiting for the control plane/proxy */
    WF_LM_POD_RUNNING,  /* app containers started */
    WF_LM_POD_DRAIN,    /* out of the endpoints; processes still run */
    WF_LM_POD_STOPPING, /* SIGTERM sent; SIGKILL at `deadline` */
    WF_LM_POD_GONE,     /* everything removed; freed at the end of the tick */
} wf_lm_pod_state_t;

typedef struct wf_lm_pod {
    char *ns, *name;  /* owned */
    char *owner_key;  /* owned: applied object that wants it ("deployments/ns/web") */
    char *owner_kind; /* owned: "ReplicaSet", "StatefulSet" or NULL */
    char *owner_name; /* owned */
    char hash[16];    /* pod-template-hash (Deployments) */
    json_t *tmpl;     /* owned: {metadata, spec} of the pod */
    char uid[37];
    time_t created;
    char ip[16];
    char netns[128];
    char dir[PATH_MAX];   /* pods/<ns>/<name> */
    char hosts[PATH_MAX]; /* hosts/<ns> */
    int veth;             /* index of wv<N> in the node */
    wf_lm_inject_t inj;
    char restart_policy; /* 'A'lways, 'O'nFailure, 'N'ever */
    char *apply_dir;     /* owned or NULL: where its owner was applied from */
    wf_lm_proc_t proxy;  /* used when inj.mode != DISABLED */
    wf_lm_proc_t *procs; /* owned array of app containers */
    size_t nprocs;
    wf_lm_pod_state_t state;
    double deadline;     /* DRAIN: when to SIGTERM; STOPPING: when to SIGKILL */
    char message[256];   /* why the pod is not running ("" if fine) */
    char token_hash[65]; /* tokens/<hash> written for this pod */
    bool internal;       /* the control plane: not published */
    bool proxy_stopping; /* STOPPING: the proxy got its SIGTERM (after the apps) */
} wf_lm_pod_t;

typedef struct wf_lm_svc {
    char *key;    /* owned: "services/ns/name" */
    char vip[16]; /* "" for headless */
} wf_lm_svc_t;

typedef struct wf_lm_sup {
    const wf_lm_paths_t *paths; /* borrowed */
    char bindir[PATH_MAX];      /* where weft-proxy, weft-init, weft-controller live */
    json_t *applied;            /* owned: objects (array) of applied.json */
    json_t *dirs;               /* owned or NULL: applied key -> directory it was applied from */
    json_int_t generation;      /* of `applied` */
    wf_lm_pod_t **pods;         /* owned */
    size_t npods, cappods;
    wf_lm_pod_t *cp; /* owned: the control plane pseudo-pod */
    bool cp_ready;
    bool have_destination;
    wf_lm_svc_t *svcs; /* owned */
    size_t nsvcs;
    wf_lm_ipam_t pod_ips, svc_ips;
    char *trust_anchors;   /* owned: PEM text */
    json_t *published;     /* owned: store path -> [content-without-rv, rv, uid] */
    json_int_t rv;         /* last resourceVersion handed out */
    char *rules;           /* owned: last iptables-restore input applied */
    json_t *hosts_written; /* owned: ns -> content */
    char *status_written;  /* owned: last status.json */
    json_t *uids;          /* owned: store path -> uid, stable across rewrites */
    bool cgroups;          /* cgroup v2 limits can be enforced */
    char cgroup_root[PATH_MAX];
    bool stopping;         /* SIGTERM received */
    uint64_t published_fp; /* wf_lm_publish's fingerprint of the last publish */
    bool rollout_pending;  /* a Deployment still has pods of an older template */
} wf_lm_sup_t;

/* local_pod.c: one pod's life. */
wf_lm_pod_t *wf_lm_pod_new(wf_lm_sup_t *s, const char *ns, const char *name, json_t *tmpl,
                           const char *owner_key);
void wf_lm_pod_step(wf_lm_sup_t *s, wf_lm_pod_t *pod, double now);
void wf_lm_pod_terminate(wf_lm_sup_t *s, wf_lm_pod_t *pod, double drain);
void wf_lm_pod_free(wf_lm_pod_t *pod);
/* Mints pod's identity token (its ServiceAccount in its namespace):
 * <pod dir>/token for the proxy's uid, and tokens/<sha256> naming the
 * identity for the identity service. */
int wf_lm_pod_token(wf_lm_sup_t *s, wf_lm_pod_t *pod, char *tokpath, size_t tplen);
bool wf_lm_pod_ready(const wf_lm_pod_t *pod);
/* Pending, Running, Succeeded, Failed. */
const char *wf_lm_pod_phase(const wf_lm_pod_t *pod);
/* Handles an exited child; true if it was one of this pod's. */
bool wf_lm_pod_reaped(wf_lm_sup_t *s, wf_lm_pod_t *pod, pid_t pid, int status, double now);
bool wf_lm_pod_live(const wf_lm_pod_t *pod);

/* local_publish.c: services, rules, hosts files, the store, status. */
void wf_lm_publish(wf_lm_sup_t *s);
json_t *wf_lm_ns_annotations(wf_lm_sup_t *s, const char *ns);

#endif
