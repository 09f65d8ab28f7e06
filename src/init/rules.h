/*
 * rules.h — weft-init's ruleset as text.
 *
 * Everything here is pure: configuration (and, for idempotence, the nat
 * table's current `iptables-save -t nat` text) in, `iptables-restore
 * --noflush` input out. Nothing runs a command or touches a socket, so the
 * exact rules are unit-tested and `--dry-run` prints what a real run applies.
 *
 * Shape of the rules (one copy per family, IPv4 via iptables, IPv6 via
 * ip6tables; mirrors Linkerd's proxy-init PROXY_INIT_REDIRECT/OUTPUT):
 *
 *   PREROUTING -> WEFT_INIT_REDIRECT: RETURN for ignored inbound ports
 *     (always 4190,4191) and ignored source subnets, else REDIRECT tcp to
 *     the proxy's inbound port.
 *   OUTPUT -> WEFT_INIT_OUTPUT: RETURN for the proxy's uid, for `-o lo`, for
 *     ignored outbound ports and ignored destination subnets, else REDIRECT
 *     tcp to the proxy's outbound port.
 *
 * Idempotence: iptables-restore --noflush flushes every chain the input
 * declares, so our two chains are rebuilt whole on every run; the jumps from
 * PREROUTING/OUTPUT are added only if the saved table has none (and extra
 * copies are removed), so any number of runs leaves exactly one of each.
 */
#ifndef WF_INIT_RULES_H
#define WF_INIT_RULES_H

#include "core/common.h"
#include "net/ports.h"

#define WF_INIT_CHAIN_INBOUND "WEFT_INIT_REDIRECT"
#define WF_INIT_CHAIN_OUTBOUND "WEFT_INIT_OUTPUT"

/* Comments on every rule start with this, so `iptables-save | grep` finds
 * all of weft-init's rules. */
#define WF_INIT_COMMENT_PREFIX "weft-init/"

/* The proxy's own ports, never redirected inbound (Linkerd's chart passes
 * them to proxy-init on every pod): 4190 control/tap, 4191 admin. */
#define WF_INIT_PROXY_CONTROL_PORT 4190
#define WF_INIT_PROXY_ADMIN_PORT 4191

/* iptables' multiport match takes at most 15 ports; a range counts as 2. */
#define WF_INIT_MULTIPORT_MAX 15

typedef enum wf_init_family {
    WF_INIT_IPV4 = 4, /* iptables, AF_INET subnets only */
    WF_INIT_IPV6 = 6, /* ip6tables, AF_INET6 subnets only */
} wf_init_family_t;

/* What weft-init was asked to do; filled by wf_init_cli_parse. Owned by
 * main() for the process's life (single-threaded). */
typedef struct wf_init_config {
    uint16_t inbound_port;        /* --incoming-proxy-port, default 4143 */
    uint16_t outbound_port;       /* --outgoing-proxy-port, default 4140 */
    uint32_t proxy_uid;           /* --proxy-uid, default 2102 */
    wf_portset_t inbound_ignore;  /* 4190,4191 + --inbound-ports-to-ignore */
    wf_portset_t outbound_ignore; /* --outbound-ports-to-ignore */
    wf_cidr_t *subnets;           /* owned (malloc); --subnets-to-ignore */
    size_t nsubnets;              /* entries in subnets */
    bool ipv6;                    /* --ipv6, default true: also run ip6tables */
    bool dry_run;                 /* --dry-run: print, touch nothing */
    bool clean;                   /* --clean: remove what weft-init added */
    const char *bin;              /* borrowed from argv; NULL = default */
    const char *save_bin;         /* borrowed from argv; NULL = <bin>-save */
} wf_init_config_t;

/* Sets every field to its default (no subnets, IPv6 on, 4143/4140/2102,
 * inbound_ignore = {4190, 4191}). */
void wf_init_config_defaults(wf_init_config_t *cfg);

/* Frees what the config owns; safe on a defaulted or zeroed config. */
void wf_init_config_free(wf_init_config_t *cfg);

/* Growable text; `ptr` is owned and NUL-terminated once non-empty. */
typedef struct wf_init_text {
    char *ptr;
    size_t len;
    size_t cap;
} wf_init_text_t;

/* Appends; returns 0 or WF_ENOMEM (the text is unchanged then). */
int wf_init_text_printf(wf_init_text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int wf_init_text_append(wf_init_text_t *t, wf_str_t s);
void wf_init_text_free(wf_init_text_t *t);

/*
 * Appends to `out` the iptables-restore input that installs weft-init's
 * rules for `family`. `saved` is the nat table as `iptables-save -t nat`
 * prints it now; WF_STR_NULL means "assume none of our jumps exist" (what
 * --dry-run shows). Returns 0 or WF_ENOMEM.
 */
int wf_init_render_install(const wf_init_config_t *cfg, wf_init_family_t family, wf_str_t saved,
                           wf_init_text_t *out);

/*
 * Appends to `out` the iptables-restore input that removes everything
 * weft-init added, as found in `saved` (iptables-save -t nat text): every
 * rule in another chain that jumps to one of our chains, then our chains'
 * rules, then the chains. Appends nothing if nothing of ours is there.
 * Returns 0 or WF_ENOMEM.
 */
int wf_init_render_clean(wf_str_t saved, wf_init_text_t *out);

#endif
