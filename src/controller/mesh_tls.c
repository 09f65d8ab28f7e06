/*
 * mesh_tls.c — see mesh_tls.h.
 */
#include "mesh_tls.h"

#include "core/log.h"
#include "tls/tls_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wf_mtls_flag(wf_mtls_t *m, int opt, const char *arg)
{
    switch (opt) {
    case WF_MTLS_OPT_ANCHORS:
        m->anchors_file = arg;
        return 0;
    case WF_MTLS_OPT_TOKEN:
        m->token_file = arg;
        return 0;
    case WF_MTLS_OPT_ADDR:
        m->addr = arg;
        return 0;
    case WF_MTLS_OPT_SVC_NAME:
        m->svc_name = arg;
        return 0;
    case WF_MTLS_OPT_NAME:
        m->name = arg;
        return 0;
    }
    return 1;
}

bool wf_mtls_on(const wf_mtls_t *m)
{
    return m->anchors_file != NULL;
}

int wf_mtls_check(const wf_mtls_t *m, const char *sub)
{
    int given = (m->anchors_file != NULL) + (m->token_file != NULL) + (m->addr != NULL) +
                (m->svc_name != NULL) + (m->name != NULL);
    if (given == 0)
        return 0;
    if (given != 5)
        return wf_ctl_usage_error(sub, "%s",
                                  "--identity-trust-anchors, --identity-token-file, "
                                  "--identity-addr, --identity-svc-name and --identity-name "
                                  "go together (all five, or none for plaintext)");
    if (!wf_ctl_dns_name(m->svc_name))
        return wf_ctl_usage_error(sub, "--identity-svc-name: \"%s\" is not a DNS name",
                                  m->svc_name);
    if (!wf_ctl_dns_name(m->name))
        return wf_ctl_usage_error(sub, "--identity-name: \"%s\" is not a DNS name", m->name);
    /* Resolved per Certify attempt, not now: in a cluster the name may
     * not resolve yet when this starts. */
    const char *colon = strrchr(m->addr, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == m->addr || end == colon + 1 || *end != '\0' || port < 1 ||
        port > 65535)
        return wf_ctl_usage_error(sub, "--identity-addr: \"%s\" is not HOST:PORT", m->addr);
    return 0;
}

int wf_mtls_start(wf_mtls_t *m, char *err, size_t errlen)
{
    if (!wf_mtls_on(m))
        return 0;
    char *pem;
    size_t len;
    int rc = wf_ctl_read_file(m->anchors_file, &pem, &len, err, errlen);
    if (rc != 0)
        return rc;
    wf_identity_metrics_register();
    wf_idc_conf_t conf = {
        .trust_anchors = pem,
        .token_file = m->token_file,
        .svc_addr = m->addr,
        .svc_name = m->svc_name,
        .local_name = m->name,
        .anchors_source = m->anchors_file,
    };
    rc = wf_identity_new(&m->id, &conf, err, errlen);
    free(pem);
    if (rc == 0 && (rc = wf_identity_start(m->id)) != 0)
        snprintf(err, errlen, "cannot start the identity client: %s", wf_strerror(rc));
    return rc;
}

bool wf_mtls_ready(const wf_mtls_t *m)
{
    return m->id == NULL || wf_identity_ready(m->id);
}

wf_io_t *wf_mtls_wrap(void *arg, wf_io_t *sock)
{
    static const wf_str_t alpn[] = {{"h2", 2}};
    wf_mtls_t *m = arg;
    const char *why = "no certificate yet";
    wf_tls_ctx_t *ctx = wf_identity_tls_ctx(m->id, &m->ctx, &m->gen, true, alpn, 1);
    wf_io_t *io = ctx != NULL ? wf_tls_io_new_server(ctx, sock, &why) : NULL;
    if (io == NULL) {
        wf_log_info("refusing a connection: cannot serve mTLS: %s", why);
        wf_io_destroy(sock);
    }
    return io;
}

void wf_mtls_free(wf_mtls_t *m)
{
    wf_identity_free(m->id);
    wf_tls_ctx_unref(m->ctx);
    m->id = NULL;
    m->ctx = NULL;
}
