/*
 * kube_client.h — the Kubernetes API for short-lived tools (the CLI's
 * `weft check`): the connection settings the kubernetes source uses
 * (kubeconfig's current context, or in-cluster credentials; kube.c) and a
 * blocking request over libcurl.
 *
 * Not for the controllers' loops: wf_k8s_request blocks the calling thread
 * for up to its timeout.
 */
#ifndef WF_K8S_KUBE_CLIENT_H
#define WF_K8S_KUBE_CLIENT_H

#include "core/buf.h"
#include "core/common.h"

#include <curl/curl.h>

typedef struct wf_k8s_cfg {
    char *server;     /* owned: "https://host:port", no trailing slash */
    char *ca_file;    /* owned or NULL */
    wf_sbuf_t ca_pem; /* owned: decoded certificate-authority-data */
    char *cert_file, *key_file;
    wf_sbuf_t cert_pem, key_pem;
    char *token;      /* owned or NULL */
    char *token_file; /* owned or NULL: read for every request */
    bool insecure;    /* insecure-skip-tls-verify */
} wf_k8s_cfg_t;

/* Loads kubeconfig's current context (kubeconfig non-NULL) or in-cluster
 * settings. 0, or WF_EINVAL with a message naming the file and the problem. */
int wf_k8s_cfg_load(const char *kubeconfig, wf_k8s_cfg_t *c, char *err, size_t errlen);
void wf_k8s_cfg_free(wf_k8s_cfg_t *c);
/* Sets e's TLS settings from c: the cluster's CA, the client certificate
 * and key (files or inline data), and insecure-skip-tls-verify. */
void wf_k8s_curl_tls(CURL *e, const wf_k8s_cfg_t *c);

/* The bearer token for the next request ("" when none). */
void wf_k8s_cfg_token(const wf_k8s_cfg_t *c, char *out, size_t outlen);

/*
 * One request: method "GET" or "POST" (body: JSON, or NULL), path with its
 * query ("/api/v1/namespaces/linkerd"). On a response returns 0 with the
 * HTTP status in *status and the body (at most 64 MiB) in out; on a
 * transport failure (connect, TLS, timeout) WF_EPROTO / WF_ETIMEDOUT with
 * curl's message in err.
 */
int wf_k8s_request(const wf_k8s_cfg_t *c, const char *method, const char *path, const char *body,
                   long timeout_ms, long *status, wf_sbuf_t *out, char *err, size_t errlen);

#endif
