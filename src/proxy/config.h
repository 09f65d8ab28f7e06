/*
 * config.h — weft-proxy's configuration, read once at start from
 * WEFT_PROXY_* environment variables. Names and meanings mirror Linkerd's
 * LINKERD2_PROXY_* (reference/linkerd-facts.md §2), so the injector and
 * users carry their knowledge over. Every value is validated; a bad one
 * stops the proxy at start with a message naming the variable.
 *
 * Read-only after start: shared by all threads without locks.
 */
#ifndef WF_PROXY_CONFIG_H
#define WF_PROXY_CONFIG_H

#include "core/buf.h"
#include "core/log.h"
#include "net/addr.h"
#include "net/ports.h"

#define WF_PROXY_MAX_CORES 64
#define WF_PROXY_MAX_OUTBOUND_ADDRS 4

typedef struct wf_proxy_config {
    uint32_t cores;                 /* worker threads (WEFT_PROXY_CORES) */
    wf_log_level_t log_level;       /* WEFT_PROXY_LOG */
    bool log_json;                  /* WEFT_PROXY_LOG_FORMAT=json */

    wf_addr_t inbound_addr;         /* 0.0.0.0:4143 */
    wf_addr_t outbound_addrs[WF_PROXY_MAX_OUTBOUND_ADDRS]; /* 127.0.0.1:4140 */
    uint32_t n_outbound_addrs;
    /* When the listen addresses are left at their defaults, the IPv6 twins
     * ([::]:4143, [::1]:4140) are also bound, best effort: weft-init
     * redirects IPv6 too, and a pod without IPv6 simply skips them. */
    bool ipv6_defaults;
    wf_addr_t admin_addr;           /* 0.0.0.0:4191 */
    wf_addr_t control_addr;         /* 0.0.0.0:4190 (tap; reserved) */

    wf_portset_t inbound_opaque;    /* ports that skip detection inbound */
    wf_portset_t outbound_opaque;   /* ...and outbound (until discovery says) */
    uint64_t inbound_detect_timeout_ms;
    uint64_t outbound_detect_timeout_ms;
    uint64_t inbound_connect_timeout_ms;
    uint64_t outbound_connect_timeout_ms;
    uint64_t tcp_idle_timeout_ms;   /* 0 disables */
    uint64_t shutdown_grace_ms;
    bool shutdown_endpoint_enabled;
    uint64_t metrics_retain_idle_ms;
    uint32_t buffer_size;           /* bytes per relay buffer */
    uint32_t max_connections;       /* per worker; accept pauses beyond */
    char inbound_default_policy[32];

    /* Workload identity (identity.h). Strings borrow from the environment
     * and are NULL when unset. Identity is on when the trust anchors are
     * given and IDENTITY_DISABLED is not true; the other four are then
     * required. */
    bool identity_disabled;
    const char *identity_trust_anchors; /* PEM, one or more anchors */
    const char *identity_token_file;    /* re-read on every Certify */
    const char *identity_svc_addr;      /* host:port of the identity service */
    const char *identity_svc_name;      /* the identity service's own identity */
    const char *identity_local_name;    /* ours: <sa>.<ns>.serviceaccount.identity.<cp>.<td> */

    /* Discovery (discovery.h): off when the address is unset. */
    const char *destination_svc_addr;   /* host:port of the destination service */
    const char *destination_svc_name;   /* its identity (for when it serves mTLS) */
    const char *destination_context;    /* JSON sent as context_token */
    /* Ingress mode (linkerd.io/inject: ingress): outbound HTTP is routed by
     * l5d-dst-override; requests without it go where they were sent. */
    bool ingress_mode;
} wf_proxy_config_t;

static inline bool wf_proxy_identity_enabled(const wf_proxy_config_t *cfg)
{
    return cfg->identity_trust_anchors != NULL && !cfg->identity_disabled;
}

/*
 * Fills cfg from the environment (`env` is a NULL-terminated environ-style
 * array, so tests can pass their own). Returns 0, or WF_EINVAL with a
 * message naming the variable and the problem in errbuf. Unknown
 * WEFT_PROXY_* names are reported as warnings through `warn` (may be NULL).
 */
int wf_proxy_config_load(wf_proxy_config_t *cfg, char *const *env, char *errbuf, size_t errlen,
                         void (*warn)(const char *msg));

/* The WEFT_PROXY_* variables as a JSON object (admin /env.json). */
void wf_proxy_config_env_json(char *const *env, wf_sbuf_t *out);

#endif
