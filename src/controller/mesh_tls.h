/*
 * mesh_tls.h — a controller serving mTLS as a workload of the mesh: its
 * own identity (key generated in memory, certified by the identity
 * service with a ServiceAccount token, renewed — mesh/identity_client.h)
 * on every accepted connection, client certificates verified against the
 * trust anchors when offered. The destination service uses it, so proxies
 * reach discovery over mTLS and check who answers
 * (WEFT_PROXY_DESTINATION_SVC_NAME), as Linkerd's proxies do.
 *
 * Flags (all five, or none: then the subcommand serves plaintext):
 *   --identity-trust-anchors FILE  --identity-token-file FILE
 *   --identity-addr HOST:PORT      --identity-svc-name NAME
 *   --identity-name NAME (our own identity)
 *
 * Owner: the controller's loop thread (the TLS context is per thread); the
 * identity client has a thread of its own.
 */
#ifndef WF_CONTROLLER_MESH_TLS_H
#define WF_CONTROLLER_MESH_TLS_H

#include "ctl.h"
#include "mesh/identity_client.h"
#include "net/io.h"

#include <getopt.h>

enum {
    WF_MTLS_OPT_ANCHORS = 0x1200,
    WF_MTLS_OPT_TOKEN,
    WF_MTLS_OPT_ADDR,
    WF_MTLS_OPT_SVC_NAME,
    WF_MTLS_OPT_NAME,
};

#define WF_MTLS_OPTIONS                                                                            \
    {"identity-trust-anchors", required_argument, NULL, WF_MTLS_OPT_ANCHORS},                      \
        {"identity-token-file", required_argument, NULL, WF_MTLS_OPT_TOKEN},                       \
        {"identity-addr", required_argument, NULL, WF_MTLS_OPT_ADDR},                              \
        {"identity-svc-name", required_argument, NULL, WF_MTLS_OPT_SVC_NAME},                      \
    {                                                                                              \
        "identity-name", required_argument, NULL, WF_MTLS_OPT_NAME                                 \
    }

#define WF_MTLS_USAGE                                                                              \
    "  --identity-trust-anchors FILE  serve mTLS as a mesh workload: the trust anchors (PEM),\n"   \
    "  --identity-token-file FILE     the token proving our ServiceAccount,\n"                     \
    "  --identity-addr HOST:PORT      the identity service, which must prove\n"                    \
    "  --identity-svc-name NAME       this identity,\n"                                            \
    "  --identity-name NAME           and our own identity (all five, or none: plaintext)\n"

typedef struct wf_mtls {
    const char *anchors_file, *token_file, *addr, *svc_name, *name; /* borrowed from argv */
    wf_identity_t *id;  /* owned; NULL: plaintext */
    wf_tls_ctx_t *ctx;  /* owned */
    uint64_t gen;
} wf_mtls_t;

/* Applies one WF_MTLS_OPT_* flag. 1 when opt is not one of them. */
int wf_mtls_flag(wf_mtls_t *m, int opt, const char *arg);
/* After parsing: 0 (none or all given, names valid), else a usage error. */
int wf_mtls_check(const wf_mtls_t *m, const char *sub);
bool wf_mtls_on(const wf_mtls_t *m);
/* Reads the anchors, generates the key, starts certifying. */
int wf_mtls_start(wf_mtls_t *m, char *err, size_t errlen);
/* True when serving plaintext, or once a certificate is held. */
bool wf_mtls_ready(const wf_mtls_t *m);
/* The gRPC server's wrap hook (arg: the wf_mtls_t): TLS on an accepted
 * socket; NULL (socket closed) before the first certificate. */
wf_io_t *wf_mtls_wrap(void *arg, wf_io_t *sock);
void wf_mtls_free(wf_mtls_t *m);

#endif
