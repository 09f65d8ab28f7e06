/*
 * rules.c — weft-init's ruleset as iptables-restore text (see rules.h).
 * Pure: no processes, no files, no globals.
 */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

void wf_init_config_defaults(wf_init_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->inbound_port = 4143;
    cfg->outbound_port = 4140;
    cfg->proxy_uid = 2102;
    cfg->ipv6 = true;
    wf_portset_add(&cfg->inbound_ignore, WF_INIT_PROXY_CONTROL_PORT);
    wf_portset_add(&cfg->inbound_ignore, WF_INIT_PROXY_ADMIN_PORT);
}

void wf_init_config_free(wf_init_config_t *cfg)
{
    free(cfg->subnets);
    cfg->subnets = NULL;
    cfg->nsubnets = 0;
}

/* ---- text --------------------------------------------------------------- */

static int wf_init_text_reserve(wf_init_text_t *t, size_t more)
{
    if (t->cap - t->len > more)
        return 0;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap - t->len <= more) {
        if (cap > SIZE_MAX / 2)
            return WF_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(t->ptr, cap);
    if (p == NULL)
        return WF_ENOMEM;
    t->ptr = p;
    t->cap = cap;
    return 0;
}

int wf_init_text_append(wf_init_text_t *t, wf_str_t s)
{
    if (wf_init_text_reserve(t, s.len) < 0)
        return WF_ENOMEM;
    if (s.len > 0)
        memcpy(t->ptr + t->len, s.ptr, s.len);
    t->len += s.len;
    t->ptr[t->len] = '\0';
    return 0;
}

int wf_init_text_printf(wf_init_text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || wf_init_text_reserve(t, (size_t)n) < 0)
        return WF_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(t->ptr + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
    return 0;
}

void wf_init_text_free(wf_init_text_t *t)
{
    free(t->ptr);
    *t = (wf_init_text_t){NULL, 0, 0};
}

/* ---- reading iptables-save output --------------------------------------- */

/* One `-A CHAIN ...` line of the saved nat table. */
typedef struct wf_init_saved_rule {
    wf_str_t line;   /* borrowed from the saved text; the whole line */
    wf_str_t chain;  /* the chain the rule is in */
    wf_str_t target; /* what -j/-g names; empty if none */
} wf_init_saved_rule_t;

/* Next token of an iptables-save line: a run of non-spaces, where a double-
 * quoted part (iptables-save quotes comments, escaping '"' and '\\') is one
 * token with its quotes. Returns false at the end of the line. */
static bool wf_init_next_token(wf_str_t line, size_t *pos, wf_str_t *tok)
{
    while (*pos < line.len && line.ptr[*pos] == ' ')
        (*pos)++;
    if (*pos >= line.len)
        return false;
    size_t start = *pos;
    bool quoted = false;
    while (*pos < line.len && (quoted || line.ptr[*pos] != ' ')) {
        if (quoted && line.ptr[*pos] == '\\' && *pos + 1 < line.len)
            (*pos)++;
        else if (line.ptr[*pos] == '"')
            quoted = !quoted;
        (*pos)++;
    }
    *tok = (wf_str_t){line.ptr + start, *pos - start};
    return true;
}

/*
 * Walks the saved text: calls back for each `-A` rule and each `:CHAIN`
 * declaration of the nat table (other tables are skipped, should the save
 * binary have printed them). `decl` is the declared chain name or empty.
 */
typedef void wf_init_saved_cb(void *ctx, const wf_init_saved_rule_t *rule, wf_str_t decl);

static void wf_init_saved_walk(wf_str_t saved, wf_init_saved_cb *cb, void *ctx)
{
    bool in_nat = false;
    size_t pos = 0;
    while (pos < saved.len) {
        const char *start = saved.ptr + pos;
        const char *nl = memchr(start, '\n', saved.len - pos);
        wf_str_t line = {start, nl ? (size_t)(nl - start) : saved.len - pos};
        pos += line.len + 1;
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (line.len == 0 || line.ptr[0] == '#')
            continue;
        if (line.ptr[0] == '*') {
            in_nat = wf_str_eq((wf_str_t){line.ptr + 1, line.len - 1}, WF_STR("nat"));
            continue;
        }
        if (!in_nat)
            continue;
        if (line.ptr[0] == ':') {
            const char *sp = memchr(line.ptr, ' ', line.len);
            wf_str_t name = {line.ptr + 1, (sp ? (size_t)(sp - line.ptr) : line.len) - 1};
            cb(ctx, NULL, name);
            continue;
        }
        /* "-A " exactly: callers rewrite the rule as "-D " + the rest. */
        if (line.len < 4 || memcmp(line.ptr, "-A ", 3) != 0)
            continue;
        size_t tp = 3;
        wf_str_t tok;
        wf_init_saved_rule_t rule = {line, WF_STR_NULL, WF_STR_NULL};
        if (!wf_init_next_token(line, &tp, &rule.chain))
            continue;
        while (wf_init_next_token(line, &tp, &tok)) {
            if ((wf_str_eq(tok, WF_STR("-j")) || wf_str_eq(tok, WF_STR("-g")) ||
                 wf_str_eq(tok, WF_STR("--jump")) || wf_str_eq(tok, WF_STR("--goto"))) &&
                wf_init_next_token(line, &tp, &tok))
                rule.target = tok;
        }
        cb(ctx, &rule, WF_STR_NULL);
    }
}

/* Ours: any chain named WEFT_INIT_*, so a clean also removes chains an older
 * weft-init may have named differently. */
static bool wf_init_is_our_chain(wf_str_t name)
{
    static const char prefix[] = "WEFT_INIT_";
    return name.len > sizeof(prefix) - 1 && memcmp(name.ptr, prefix, sizeof(prefix) - 1) == 0;
}

/* ---- install ------------------------------------------------------------ */

/* The jumps from one built-in chain to one of ours found in the saved text. */
typedef struct wf_init_jumps {
    wf_str_t from, to; /* e.g. PREROUTING -> WEFT_INIT_REDIRECT */
    size_t count;
    wf_init_text_t *out; /* borrowed; extra copies are deleted here */
    int rc;
} wf_init_jumps_t;

static void wf_init_count_jump(void *ctx, const wf_init_saved_rule_t *rule, wf_str_t decl)
{
    wf_init_jumps_t *j = ctx;
    if (rule == NULL || !wf_str_eq(rule->chain, j->from) || !wf_str_eq(rule->target, j->to))
        return;
    /* Keep the first copy; delete the others by their exact saved spec. */
    if (j->count++ > 0 && j->rc == 0 && j->out != NULL)
        j->rc =
            wf_init_text_printf(j->out, "-D %.*s\n", (int)(rule->line.len - 3), rule->line.ptr + 3);
}

/* One element of a multiport list: a port or an inclusive range. */
typedef struct wf_init_port_item {
    uint32_t lo, hi;
} wf_init_port_item_t;

/*
 * Emits RETURN rules for the ports in `set`, in ascending order, at most
 * WF_INIT_MULTIPORT_MAX multiport slots per rule. Runs of three or more
 * ports become one range ("8000:9000", two slots); shorter runs stay single
 * ports, which cost the same and read better ("4190,4191").
 */
static int wf_init_render_ports(wf_init_text_t *out, const char *chain, const char *what,
                                const wf_portset_t *set)
{
    wf_init_port_item_t items[WF_INIT_MULTIPORT_MAX];
    size_t n = 0, slots = 0;
    uint32_t p = 1; /* port 0 cannot be matched; the parsers never yield it */
    for (;;) {
        wf_init_port_item_t item = {0, 0};
        bool more = false;
        while (p < 65536) {
            if (wf_portset_has(set, (uint16_t)p)) {
                uint32_t end = p;
                while (end + 1 < 65536 && wf_portset_has(set, (uint16_t)(end + 1)))
                    end++;
                /* A two-port run is emitted as its first port now and the
                 * second on the next pass. */
                item = end - p >= 2 ? (wf_init_port_item_t){p, end} : (wf_init_port_item_t){p, p};
                p = item.hi + 1;
                more = true;
                break;
            }
            p++;
        }
        unsigned weight = item.lo == item.hi ? 1 : 2;
        if (n > 0 && (!more || slots + weight > WF_INIT_MULTIPORT_MAX)) {
            char list[WF_INIT_MULTIPORT_MAX * 12];
            size_t len = 0;
            for (size_t i = 0; i < n; i++) {
                int w = items[i].lo == items[i].hi
                            ? snprintf(list + len, sizeof(list) - len, "%s%u", i ? "," : "",
                                       items[i].lo)
                            : snprintf(list + len, sizeof(list) - len, "%s%u:%u", i ? "," : "",
                                       items[i].lo, items[i].hi);
                len += (size_t)w;
            }
            int rc =
                wf_init_text_printf(out,
                                    "-A %s -p tcp -m multiport --dports %s -m comment "
                                    "--comment \"" WF_INIT_COMMENT_PREFIX "%s:%s\" -j RETURN\n",
                                    chain, list, what, list);
            if (rc < 0)
                return rc;
            n = slots = 0;
        }
        if (!more)
            return 0;
        items[n++] = item;
        slots += weight;
    }
}

/* Emits RETURN rules for the subnets of `family`, matched by `dir` ("-s" or
 * "-d"). */
static int wf_init_render_subnets(wf_init_text_t *out, const wf_init_config_t *cfg,
                                  wf_init_family_t family, const char *chain, const char *dir,
                                  const char *what)
{
    int af = family == WF_INIT_IPV4 ? AF_INET : AF_INET6;
    for (size_t i = 0; i < cfg->nsubnets; i++) {
        if (cfg->subnets[i].family != af)
            continue;
        char net[64];
        wf_cidr_format(&cfg->subnets[i], net, sizeof(net));
        int rc = wf_init_text_printf(
            out, "-A %s %s %s -m comment --comment \"" WF_INIT_COMMENT_PREFIX "%s:%s\" -j RETURN\n",
            chain, dir, net, what, net);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Adds the jump `from -> to` unless the saved table has one; deletes extra
 * copies if it has several. */
static int wf_init_render_jump(wf_init_text_t *out, wf_str_t saved, const char *from,
                               const char *to, const char *what)
{
    wf_init_jumps_t j = {wf_str_from(from), wf_str_from(to), 0, out, 0};
    if (saved.ptr != NULL)
        wf_init_saved_walk(saved, wf_init_count_jump, &j);
    if (j.rc < 0 || j.count > 0)
        return j.rc;
    return wf_init_text_printf(
        out, "-A %s -m comment --comment \"" WF_INIT_COMMENT_PREFIX "%s\" -j %s\n", from, what, to);
}

int wf_init_render_install(const wf_init_config_t *cfg, wf_init_family_t family, wf_str_t saved,
                           wf_init_text_t *out)
{
    const char *in = WF_INIT_CHAIN_INBOUND, *outb = WF_INIT_CHAIN_OUTBOUND;
    int rc;
#define WF_TRY(expr)                                                                               \
    do {                                                                                           \
        if ((rc = (expr)) < 0)                                                                     \
            return rc;                                                                             \
    } while (0)

    /* Declaring a chain makes iptables-restore --noflush create it or, if it
     * exists, flush it: the chains are rebuilt whole, never appended to. */
    WF_TRY(wf_init_text_printf(out, "*nat\n:%s - [0:0]\n:%s - [0:0]\n", in, outb));

    /* Inbound: skipped ports and source subnets reach the app directly. */
    WF_TRY(wf_init_render_ports(out, in, "ignore-inbound-ports", &cfg->inbound_ignore));
    WF_TRY(wf_init_render_subnets(out, cfg, family, in, "-s", "ignore-inbound-subnet"));
    WF_TRY(wf_init_text_printf(out,
                               "-A %s -p tcp -m comment --comment \"" WF_INIT_COMMENT_PREFIX
                               "redirect-inbound:%u\" -j REDIRECT --to-ports %u\n",
                               in, cfg->inbound_port, cfg->inbound_port));

    /* Outbound: the proxy's own connections must leave as they are, or they
     * would loop back into it; so must loopback traffic. */
    WF_TRY(wf_init_text_printf(out,
                               "-A %s -m owner --uid-owner %u -m comment --comment "
                               "\"" WF_INIT_COMMENT_PREFIX "ignore-proxy-uid:%u\" -j RETURN\n",
                               outb, cfg->proxy_uid, cfg->proxy_uid));
    WF_TRY(wf_init_text_printf(out,
                               "-A %s -o lo -m comment --comment \"" WF_INIT_COMMENT_PREFIX
                               "ignore-loopback\" -j RETURN\n",
                               outb));
    WF_TRY(wf_init_render_ports(out, outb, "ignore-outbound-ports", &cfg->outbound_ignore));
    WF_TRY(wf_init_render_subnets(out, cfg, family, outb, "-d", "ignore-outbound-subnet"));
    WF_TRY(wf_init_text_printf(out,
                               "-A %s -p tcp -m comment --comment \"" WF_INIT_COMMENT_PREFIX
                               "redirect-outbound:%u\" -j REDIRECT --to-ports %u\n",
                               outb, cfg->outbound_port, cfg->outbound_port));

    /* Jumps last: in one restore transaction the order does not matter to
     * traffic, but reading top-down matches the packet's path. */
    WF_TRY(wf_init_render_jump(out, saved, "PREROUTING", in, "install-inbound"));
    WF_TRY(wf_init_render_jump(out, saved, "OUTPUT", outb, "install-outbound"));
    WF_TRY(wf_init_text_printf(out, "COMMIT\n"));
#undef WF_TRY
    return 0;
}

/* ---- clean -------------------------------------------------------------- */

typedef struct wf_init_clean {
    wf_init_text_t jumps;  /* owned; -D lines for jumps into our chains */
    wf_init_text_t chains; /* owned; our chain names, one per line */
    int rc;
} wf_init_clean_t;

static void wf_init_clean_visit(void *ctx, const wf_init_saved_rule_t *rule, wf_str_t decl)
{
    wf_init_clean_t *c = ctx;
    if (c->rc < 0)
        return;
    if (rule == NULL) {
        if (wf_init_is_our_chain(decl))
            c->rc = wf_init_text_printf(&c->chains, "%.*s\n", (int)decl.len, decl.ptr);
        return;
    }
    /* Rules inside our chains go with the chains' flush; only rules in other
     * chains that jump into ours must be deleted one by one. */
    if (wf_init_is_our_chain(rule->target) && !wf_init_is_our_chain(rule->chain))
        c->rc = wf_init_text_printf(&c->jumps, "-D %.*s\n", (int)(rule->line.len - 3),
                                    rule->line.ptr + 3);
}

int wf_init_render_clean(wf_str_t saved, wf_init_text_t *out)
{
    wf_init_clean_t c = {{NULL, 0, 0}, {NULL, 0, 0}, 0};
    if (saved.ptr != NULL)
        wf_init_saved_walk(saved, wf_init_clean_visit, &c);
    int rc = c.rc;
    if (rc == 0 && (c.jumps.len > 0 || c.chains.len > 0)) {
        rc = wf_init_text_printf(out, "*nat\n");
        if (rc == 0 && c.jumps.len > 0)
            rc = wf_init_text_append(out, (wf_str_t){c.jumps.ptr, c.jumps.len});
        /* Flush all before deleting any: our chains may jump to each other. */
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
            size_t pos = 0;
            while (rc == 0 && pos < c.chains.len) {
                const char *nl = memchr(c.chains.ptr + pos, '\n', c.chains.len - pos);
                int len = (int)(nl - (c.chains.ptr + pos));
                rc = wf_init_text_printf(out, "%s %.*s\n", pass == 0 ? "-F" : "-X", len,
                                         c.chains.ptr + pos);
                pos += (size_t)len + 1;
            }
        }
        if (rc == 0)
            rc = wf_init_text_printf(out, "COMMIT\n");
    }
    wf_init_text_free(&c.jumps);
    wf_init_text_free(&c.chains);
    return rc;
}
