/*
 * token.h — how the identity service decides that a caller may have the
 * identity it asks for: a pluggable token verifier.
 *
 * A verifier is a small vtable plus its own state (embed wf_token_verifier_t
 * first in the implementation's struct). Implementations:
 *   local      — a directory of per-pod tokens (below), what `weft up` writes;
 *   kubernetes — TokenReview of the projected ServiceAccount token (audience
 *                identity.l5d.io), token_kube.c. A blocking round trip with
 *                a short timeout today; should it show in a profile, an
 *                asynchronous variant of verify (start + completion +
 *                cancel) fits: the Certify handler can answer a call later.
 *
 * Ownership: a verifier belongs to the controller loop's thread.
 */
#ifndef WF_CONTROLLER_TOKEN_H
#define WF_CONTROLLER_TOKEN_H

#include "core/common.h"

typedef enum wf_token_result {
    WF_TOKEN_OK,              /* the token proves the identity */
    WF_TOKEN_UNAUTHENTICATED, /* missing, unknown or malformed token */
    WF_TOKEN_DENIED,          /* a valid token, for another identity */
    WF_TOKEN_ERROR,           /* the verifier could not decide (I/O error) */
} wf_token_result_t;

typedef struct wf_token_verifier wf_token_verifier_t;

typedef struct wf_token_verifier_ops {
    const char *name; /* "local", "kubernetes" */
    /* Decides whether `token` proves `identity` (both borrowed); on anything
     * but OK writes a one-line reason to msg (safe to show the caller). */
    wf_token_result_t (*verify)(wf_token_verifier_t *v, wf_str_t token, wf_str_t identity,
                                char *msg, size_t msglen);
    void (*destroy)(wf_token_verifier_t *v);
} wf_token_verifier_ops_t;

struct wf_token_verifier {
    const wf_token_verifier_ops_t *ops; /* borrowed, static */
};

/* Longest token accepted (a projected SA token is ~1 KiB). */
#define WF_TOKEN_MAX 16384

/*
 * The local verifier: `dir` holds one file per token, named by the lower-case
 * hex SHA-256 of the token bytes, containing the identity the token proves
 * (one line; surrounding whitespace ignored). Files are read on every call,
 * so tokens added or removed take effect at once. The directory must exist
 * at creation (checked now, with a message naming it).
 */
int wf_token_local_new(const char *dir, wf_token_verifier_t **out, char *err, size_t errlen);

/*
 * The kubernetes verifier: API server from `kubeconfig` (NULL: in-cluster
 * credentials); tokens must be valid for `audience` and belong to the
 * ServiceAccount the requested identity names.
 */
int wf_token_kube_new(const char *kubeconfig, const char *audience, wf_token_verifier_t **out,
                      char *err, size_t errlen);

static inline wf_token_result_t wf_token_verify(wf_token_verifier_t *v, wf_str_t token,
                                                wf_str_t identity, char *msg, size_t msglen)
{
    return v->ops->verify(v, token, identity, msg, msglen);
}

static inline void wf_token_verifier_free(wf_token_verifier_t *v)
{
    if (v != NULL)
        v->ops->destroy(v);
}

const char *wf_token_result_name(wf_token_result_t r);

#endif
