/*
 * injector.h — weft-controller injector: the mutating admission webhook
 * that adds the weft proxy to pods (the transformation is k8s/inject.h,
 * shared with `weft inject`).
 *
 * injector_review.c is the pure part — one AdmissionReview v1 request body
 * in, the AdmissionReview response out — so the parser has a fuzz target
 * and unit tests without sockets. injector.c is the HTTPS server.
 *
 * The webhook never fails a pod: a pod it cannot or should not inject is
 * allowed unchanged, with a warning in the AdmissionResponse when an
 * annotation was bad. Only a body that is not an AdmissionReview at all
 * (not JSON, wrong kind/apiVersion, no request.uid, too large) gets a 400,
 * which the API server treats as a webhook failure — and failurePolicy
 * Ignore admits the pod.
 */
#ifndef WF_CONTROLLER_INJECTOR_H
#define WF_CONTROLLER_INJECTOR_H

#include "core/buf.h"
#include "k8s/inject.h"

/* Largest request body accepted (the API server's own request limit is
 * 3 MiB; a pod is far smaller). */
#define WF_INJECTOR_MAX_BODY (3u * 1024 * 1024)

/* Looks a namespace's metadata.annotations up: a borrowed object or NULL
 * (unknown namespace, or no lookup configured). */
typedef const json_t *(*wf_injector_ns_fn)(void *data, const char *ns);

typedef struct wf_injector_review_stats {
    bool injected;     /* a patch was returned */
    bool invalid;      /* a bad annotation kept the pod uninjected */
    char what[300];    /* "ns/name" for logs */
    char reason[1024]; /* why not injected ("" when injected) */
} wf_injector_review_stats_t;

/*
 * Answers one AdmissionReview v1 request body. Returns 200 with the
 * response JSON in out, or 400 with a plain-text reason in out.
 */
int wf_injector_review(const wf_inject_cfg_t *cfg, const char *body, size_t len,
                       wf_injector_ns_fn ns_fn, void *ns_data, wf_sbuf_t *out,
                       wf_injector_review_stats_t *stats);

int wf_injector_main(int argc, char **argv);

#endif
