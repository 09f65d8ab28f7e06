#include "config.h"

#include "core/time.h"

#include <stdio.h>
#include <stdlib.h>

#define PREFIX "WEFT_PROXY_"

/* The seed's default opaque ports: SMTP, MySQL/Galera, Postgres, Redis,
 * Elasticsearch, Memcached. */
#define DEFAULT_OPAQUE_PORTS "25,587,3306,4444,5432,6379,9300,11211"

typedef enum {
    T_UINT,
    T_DURATION,
    T_ADDR,
    T_ADDRS,
    T_PORTS,
    T_BOOL,
    T_LOG,
    T_LOG_FORMAT,
    T_POLICY,
    T_STR,  /* any non-empty string, borrowed from the environment */
    T_NAME, /* a DNS-like name (identities) */
} var_type_t;

typedef struct var {
    const char *name; /* without the prefix */
    var_type_t type;
    size_t offset;
    const char *def;
    uint64_t min, max; /* T_UINT bounds / T_DURATION bounds in ms */
} var_t;

#define OFF(f) offsetof(wf_proxy_config_t, f)

static const var_t vars[] = {
    {"CORES", T_UINT, OFF(cores), "1", 1, WF_PROXY_MAX_CORES},
    {"LOG", T_LOG, OFF(log_level), "info", 0, 0},
    {"LOG_FORMAT", T_LOG_FORMAT, OFF(log_json), "plain", 0, 0},
    {"INBOUND_LISTEN_ADDR", T_ADDR, OFF(inbound_addr), "0.0.0.0:4143", 0, 0},
    {"OUTBOUND_LISTEN_ADDRS", T_ADDRS, OFF(outbound_addrs), "127.0.0.1:4140", 0, 0},
    {"ADMIN_LISTEN_ADDR", T_ADDR, OFF(admin_addr), "0.0.0.0:4191", 0, 0},
    {"CONTROL_LISTEN_ADDR", T_ADDR, OFF(control_addr), "0.0.0.0:4190", 0, 0},
    {"INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION", T_PORTS, OFF(inbound_opaque),
     DEFAULT_OPAQUE_PORTS, 0, 0},
    {"OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION", T_PORTS, OFF(outbound_opaque),
     DEFAULT_OPAQUE_PORTS, 0, 0},
    /* Linkerd disables detection timeouts by setting them to 365d. */
    {"INBOUND_DETECT_TIMEOUT", T_DURATION, OFF(inbound_detect_timeout_ms), "10s", 1,
     366ull * 86400 * 1000},
    {"OUTBOUND_DETECT_TIMEOUT", T_DURATION, OFF(outbound_detect_timeout_ms), "10s", 1,
     366ull * 86400 * 1000},
    {"INBOUND_CONNECT_TIMEOUT", T_DURATION, OFF(inbound_connect_timeout_ms), "100ms", 1,
     3600 * 1000},
    {"OUTBOUND_CONNECT_TIMEOUT", T_DURATION, OFF(outbound_connect_timeout_ms), "1000ms", 1,
     3600 * 1000},
    {"TCP_IDLE_TIMEOUT", T_DURATION, OFF(tcp_idle_timeout_ms), "1h", 0, 366ull * 86400 * 1000},
    {"SHUTDOWN_GRACE_PERIOD", T_DURATION, OFF(shutdown_grace_ms), "2m", 0, 86400 * 1000},
    {"SHUTDOWN_ENDPOINT_ENABLED", T_BOOL, OFF(shutdown_endpoint_enabled), "false", 0, 0},
    {"METRICS_RETAIN_IDLE", T_DURATION, OFF(metrics_retain_idle_ms), "10m", 1000,
     366ull * 86400 * 1000},
    {"BUFFER_SIZE", T_UINT, OFF(buffer_size), "16384", 16384, 1 << 20},
    {"MAX_CONNECTIONS", T_UINT, OFF(max_connections), "100000", 1, 10000000},
    {"INBOUND_DEFAULT_POLICY", T_POLICY, OFF(inbound_default_policy), "all-unauthenticated", 0, 0},
    {"IDENTITY_DISABLED", T_BOOL, OFF(identity_disabled), "false", 0, 0},
    {"IDENTITY_TRUST_ANCHORS", T_STR, OFF(identity_trust_anchors), NULL, 0, 0},
    {"IDENTITY_TOKEN_FILE", T_STR, OFF(identity_token_file), NULL, 0, 0},
    {"IDENTITY_SVC_ADDR", T_STR, OFF(identity_svc_addr), NULL, 0, 0},
    {"IDENTITY_SVC_NAME", T_NAME, OFF(identity_svc_name), NULL, 0, 0},
    {"IDENTITY_LOCAL_NAME", T_NAME, OFF(identity_local_name), NULL, 0, 0},
    {"DESTINATION_SVC_ADDR", T_STR, OFF(destination_svc_addr), NULL, 0, 0},
    {"DESTINATION_SVC_NAME", T_NAME, OFF(destination_svc_name), NULL, 0, 0},
    {"DESTINATION_CONTEXT", T_STR, OFF(destination_context), NULL, 0, 0},
    {"INGRESS_MODE", T_BOOL, OFF(ingress_mode), "false", 0, 0},
};

/* A DNS-like name: 1..253 octets of [a-z0-9-.], no empty label. */
static bool is_dns_like(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  (c == '.' && s[i + 1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

/* Looks NAME up in env; returns its value or NULL. */
static const char *env_get(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = env; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int parse_uint(const char *s, uint64_t *out)
{
    if (*s == '\0')
        return WF_EINVAL;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > UINT64_MAX / 10)
            return WF_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int parse_var(const var_t *v, const char *val, wf_proxy_config_t *cfg, char *err,
                     size_t errlen)
{
    char *field = (char *)cfg + v->offset;
    uint64_t u;
    char detail[200] = "";
    switch (v->type) {
    case T_UINT:
        if (parse_uint(val, &u) != 0) {
            snprintf(err, errlen, "not a number");
            return WF_EINVAL;
        }
        if (u < v->min || u > v->max) {
            snprintf(err, errlen, "must be between %llu and %llu", (unsigned long long)v->min,
                     (unsigned long long)v->max);
            return WF_ERANGE;
        }
        *(uint32_t *)field = (uint32_t)u;
        return 0;
    case T_DURATION:
        if (wf_duration_parse(wf_str_from(val), &u) != 0) {
            snprintf(err, errlen, "not a duration (write e.g. 100ms, 10s, 5m, 1h)");
            return WF_EINVAL;
        }
        if (u < v->min || u > v->max) {
            char lo[32], hi[32];
            wf_duration_format(v->min, lo, sizeof(lo));
            wf_duration_format(v->max, hi, sizeof(hi));
            snprintf(err, errlen, "must be between %s and %s", lo, hi);
            return WF_ERANGE;
        }
        *(uint64_t *)field = u;
        return 0;
    case T_ADDR:
        if (wf_addr_parse((wf_addr_t *)field, wf_str_from(val)) != 0) {
            snprintf(err, errlen, "not an address (write IP:PORT or [IPv6]:PORT)");
            return WF_EINVAL;
        }
        return 0;
    case T_ADDRS: {
        cfg->n_outbound_addrs = 0;
        const char *p = val;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            while (len > 0 && p[0] == ' ')
                p++, len--;
            while (len > 0 && p[len - 1] == ' ')
                len--;
            if (len > 0) {
                if (cfg->n_outbound_addrs == WF_PROXY_MAX_OUTBOUND_ADDRS) {
                    snprintf(err, errlen, "at most %d addresses", WF_PROXY_MAX_OUTBOUND_ADDRS);
                    return WF_ERANGE;
                }
                if (wf_addr_parse(&cfg->outbound_addrs[cfg->n_outbound_addrs++],
                                  (wf_str_t){p, len}) != 0) {
                    snprintf(err, errlen, "\"%.*s\" is not an address (write IP:PORT)", (int)len,
                             p);
                    return WF_EINVAL;
                }
            }
            p = comma ? comma + 1 : p + strlen(p);
        }
        if (cfg->n_outbound_addrs == 0) {
            snprintf(err, errlen, "no address given");
            return WF_EINVAL;
        }
        return 0;
    }
    case T_PORTS: {
        int rc = wf_portset_parse((wf_portset_t *)field, wf_str_from(val), detail, sizeof(detail));
        if (rc != 0)
            snprintf(err, errlen, "%s", detail);
        return rc;
    }
    case T_BOOL:
        if (strcmp(val, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(val, "false") == 0)
            *(bool *)field = false;
        else {
            snprintf(err, errlen, "must be true or false");
            return WF_EINVAL;
        }
        return 0;
    case T_LOG:
        if (wf_log_level_parse(wf_str_from(val), (wf_log_level_t *)field) != 0) {
            snprintf(err, errlen, "not a log level (error, warn, info, debug, trace, off)");
            return WF_EINVAL;
        }
        return 0;
    case T_LOG_FORMAT:
        if (strcmp(val, "plain") == 0)
            *(bool *)field = false;
        else if (strcmp(val, "json") == 0)
            *(bool *)field = true;
        else {
            snprintf(err, errlen, "must be plain or json");
            return WF_EINVAL;
        }
        return 0;
    case T_POLICY: {
        static const char *const policies[] = {"all-unauthenticated", "all-authenticated",
                                               "cluster-authenticated", "cluster-unauthenticated",
                                               "deny", "audit"};
        for (size_t i = 0; i < WF_ARRAY_LEN(policies); i++) {
            if (strcmp(val, policies[i]) == 0) {
                snprintf(field, sizeof(cfg->inbound_default_policy), "%s", val);
                return 0;
            }
        }
        snprintf(err, errlen,
                 "unknown policy (all-unauthenticated, all-authenticated, cluster-authenticated, "
                 "cluster-unauthenticated, deny, audit)");
        return WF_EINVAL;
    }
    case T_STR:
        if (*val == '\0') {
            snprintf(err, errlen, "must not be empty");
            return WF_EINVAL;
        }
        *(const char **)field = val;
        return 0;
    case T_NAME:
        if (!is_dns_like(val)) {
            snprintf(err, errlen, "not a DNS-like name (lower-case letters, digits, '-', '.')");
            return WF_EINVAL;
        }
        *(const char **)field = val;
        return 0;
    }
    return WF_EINVAL;
}

int wf_proxy_config_load(wf_proxy_config_t *cfg, char *const *env, char *errbuf, size_t errlen,
                         void (*warn)(const char *msg))
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < WF_ARRAY_LEN(vars); i++) {
        const var_t *v = &vars[i];
        char name[128];
        snprintf(name, sizeof(name), PREFIX "%s", v->name);
        const char *val = env_get(env, name);
        bool given = val != NULL;
        if (!given)
            val = v->def;
        if (val == NULL)
            continue; /* optional, unset */
        char err[256];
        int rc = parse_var(v, val, cfg, err, sizeof(err));
        if (rc != 0) {
            /* Values can be long (PEM): quote a bounded prefix. */
            snprintf(errbuf, errlen, "%s=\"%.64s%s\": %s", name, val, strlen(val) > 64 ? "..." : "",
                     err);
            return rc;
        }
    }
    if (wf_proxy_identity_enabled(cfg)) {
        static const struct {
            const char *name;
            size_t off;
        } need[] = {{"IDENTITY_TOKEN_FILE", OFF(identity_token_file)},
                    {"IDENTITY_SVC_ADDR", OFF(identity_svc_addr)},
                    {"IDENTITY_SVC_NAME", OFF(identity_svc_name)},
                    {"IDENTITY_LOCAL_NAME", OFF(identity_local_name)}};
        for (size_t i = 0; i < WF_ARRAY_LEN(need); i++) {
            if (*(const char **)((char *)cfg + need[i].off) == NULL) {
                snprintf(errbuf, errlen,
                         PREFIX "%s is required when " PREFIX "IDENTITY_TRUST_ANCHORS is set "
                                "(or set " PREFIX "IDENTITY_DISABLED=true)",
                         need[i].name);
                return WF_EINVAL;
            }
        }
    } else if (!cfg->identity_disabled && cfg->identity_local_name != NULL) {
        snprintf(errbuf, errlen,
                 PREFIX "IDENTITY_LOCAL_NAME is set but " PREFIX "IDENTITY_TRUST_ANCHORS is not: "
                        "identity needs the trust anchors (or set " PREFIX
                        "IDENTITY_DISABLED=true)");
        return WF_EINVAL;
    }
    cfg->ipv6_defaults = env_get(env, PREFIX "INBOUND_LISTEN_ADDR") == NULL &&
                         env_get(env, PREFIX "OUTBOUND_LISTEN_ADDRS") == NULL;
    if (wf_addr_port(&cfg->inbound_addr) == 0 || wf_addr_port(&cfg->admin_addr) == 0) {
        snprintf(errbuf, errlen, "listen addresses need a port");
        return WF_EINVAL;
    }
    /* Unknown names are most often typos of real ones: say so, don't die
     * (an injector from a newer version may set variables we don't know). */
    for (char *const *e = env; warn != NULL && e != NULL && *e != NULL; e++) {
        if (strncmp(*e, PREFIX, strlen(PREFIX)) != 0)
            continue;
        const char *name = *e + strlen(PREFIX);
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        bool known = false;
        for (size_t i = 0; i < WF_ARRAY_LEN(vars) && !known; i++)
            known = strlen(vars[i].name) == len && strncmp(vars[i].name, name, len) == 0;
        /* Variables later issues consume (identity, destination, ...). */
        static const char *const reserved[] = {"IDENTITY_", "DESTINATION_", "POLICY_",
                                               "INBOUND_IPS", "INBOUND_PORTS", "TAP_", "TRACE_",
                                               "INGRESS_MODE", "ACCESS_LOG"};
        for (size_t i = 0; i < WF_ARRAY_LEN(reserved) && !known; i++)
            known = strncmp(name, reserved[i], strlen(reserved[i])) == 0;
        if (!known) {
            char msg[300];
            snprintf(msg, sizeof(msg), "ignoring unknown variable %s%.*s", PREFIX, (int)len, name);
            warn(msg);
        }
    }
    return 0;
}

static void json_string(wf_sbuf_t *out, const char *s)
{
    wf_sbuf_append(out, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            wf_sbuf_append(out, "\\", 1);
            wf_sbuf_append(out, s, 1);
        } else if (c < 0x20) {
            wf_sbuf_printf(out, "\\u%04x", c);
        } else {
            wf_sbuf_append(out, s, 1);
        }
    }
    wf_sbuf_append(out, "\"", 1);
}

void wf_proxy_config_env_json(char *const *env, wf_sbuf_t *out)
{
    wf_sbuf_puts(out, "{");
    bool first = true;
    for (char *const *e = env; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, PREFIX, strlen(PREFIX)) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        if (!first)
            wf_sbuf_puts(out, ",");
        first = false;
        json_string(out, name);
        wf_sbuf_puts(out, ":");
        json_string(out, eq + 1);
    }
    wf_sbuf_puts(out, "}\n");
}
