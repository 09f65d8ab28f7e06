/*
 * ports.c — port lists and CIDR lists as Linkerd's annotations spell them
 * (syntax in ports.h).
 *
 * Both list parsers have one shape: split on ',', trim whitespace, skip empty
 * items, parse each item strictly. Inputs come from pod annotations and
 * command lines, so an error message quotes the bad item and the whole list,
 * escaped (no raw control bytes reach a terminal or a log) and shortened.
 */
#include "net/ports.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>

/* Longest item / list quoted in an error message, in input bytes. */
#define WF_PORTS_QUOTE_ITEM 64
#define WF_PORTS_QUOTE_SPEC 128

/* ---- error messages ----------------------------------------------------- */

/* An error message being written into the caller's errbuf (may be absent). */
typedef struct wf_ports_msg {
    char *buf; /* borrowed; NULL when the caller wants no message */
    size_t cap;
    size_t len; /* bytes written so far, < cap once anything is written */
} wf_ports_msg_t;

static void wf_ports_msg_printf(wf_ports_msg_t *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wf_ports_msg_printf(wf_ports_msg_t *m, const char *fmt, ...)
{
    if (m->buf == NULL || m->len + 1 >= m->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len = WF_MIN(m->len + (size_t)n, m->cap - 1);
}

/* Appends s in double quotes, escaping '"', '\\' and non-printable bytes,
 * and cutting it after `max` input bytes with "..." so one huge annotation
 * cannot flood a log line. */
static void wf_ports_msg_quote(wf_ports_msg_t *m, wf_str_t s, size_t max)
{
    wf_ports_msg_printf(m, "\"");
    size_t n = WF_MIN(s.len, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            wf_ports_msg_printf(m, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            wf_ports_msg_printf(m, "\\x%02x", c);
        else
            wf_ports_msg_printf(m, "%c", c);
    }
    wf_ports_msg_printf(m, "%s\"", s.len > max ? "..." : "");
}

/*
 * Writes `invalid <what> "<item>" in "<spec>": <why>` into errbuf. The
 * `in "<spec>"` part is left out when the item is the whole list, so a
 * single bad value reads naturally.
 */
static void wf_ports_error(char *errbuf, size_t errlen, const char *what, wf_str_t item,
                           wf_str_t spec, const char *why_fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void wf_ports_error(char *errbuf, size_t errlen, const char *what, wf_str_t item,
                           wf_str_t spec, const char *why_fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    wf_ports_msg_t m = {errbuf, errlen, 0};
    errbuf[0] = '\0';
    wf_ports_msg_printf(&m, "invalid %s ", what);
    wf_ports_msg_quote(&m, item, WF_PORTS_QUOTE_ITEM);
    if (spec.len != item.len) {
        wf_ports_msg_printf(&m, " in ");
        wf_ports_msg_quote(&m, spec, WF_PORTS_QUOTE_SPEC);
    }
    wf_ports_msg_printf(&m, ": ");
    if (m.len + 1 < m.cap) {
        va_list ap;
        va_start(ap, why_fmt);
        vsnprintf(m.buf + m.len, m.cap - m.len, why_fmt, ap);
        va_end(ap);
    }
}

/* ---- list splitting ----------------------------------------------------- */

static bool wf_ports_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static wf_str_t wf_ports_trim(wf_str_t s)
{
    while (s.len > 0 && wf_ports_is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && wf_ports_is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/*
 * Walks a comma-separated list: returns the next non-empty trimmed item and
 * advances *pos, or returns false at the end. Empty items ("25,,587", a
 * trailing comma) are skipped, as ports.h promises.
 */
static bool wf_ports_next_item(wf_str_t spec, size_t *pos, wf_str_t *item)
{
    while (*pos < spec.len) {
        const char *start = spec.ptr + *pos;
        const char *comma = memchr(start, ',', spec.len - *pos);
        size_t n = comma ? (size_t)(comma - start) : spec.len - *pos;
        *pos += n + (comma != NULL);
        *item = wf_ports_trim((wf_str_t){start, n});
        if (item->len > 0)
            return true;
    }
    return false;
}

/* The list with surrounding whitespace removed, for messages and for the
 * "item is the whole list" test. */
static wf_str_t wf_ports_spec(wf_str_t spec)
{
    return spec.len == 0 ? (wf_str_t){"", 0} : wf_ports_trim(spec);
}

/* ---- ports -------------------------------------------------------------- */

/*
 * Parses a plain decimal number of at most 5 significant digits (leading
 * zeros allowed, as Linkerd's strconv-based parser allows them). Returns 0,
 * WF_EINVAL (empty or not all digits) or WF_ERANGE (0 or above 65535).
 */
static int wf_ports_parse_number(wf_str_t s, uint16_t *out)
{
    if (s.len == 0)
        return WF_EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return WF_EINVAL;
        v = v * 10 + (uint32_t)(s.ptr[i] - '0');
        if (v > 65535)
            v = 65536; /* saturate: stays out of range, never overflows */
    }
    if (v == 0 || v > 65535)
        return WF_ERANGE;
    *out = (uint16_t)v;
    return 0;
}

/* Parses one item, "587" or "8000-9000", into *out. */
static int wf_ports_parse_item(wf_port_range_t *out, wf_str_t item, wf_str_t spec, char *errbuf,
                               size_t errlen)
{
    const char *dash = memchr(item.ptr, '-', item.len);
    if (dash == NULL) {
        uint16_t port = 0;
        int rc = wf_ports_parse_number(item, &port);
        if (rc == WF_EINVAL)
            wf_ports_error(errbuf, errlen, "port", item, spec,
                           "not a number (want a port 1-65535 or a range lo-hi)");
        else if (rc == WF_ERANGE)
            wf_ports_error(errbuf, errlen, "port", item, spec, "must be 1-65535");
        out->lo = out->hi = port;
        return rc;
    }

    wf_str_t lo = {item.ptr, (size_t)(dash - item.ptr)};
    wf_str_t hi = {dash + 1, item.len - lo.len - 1};
    if (lo.len == 0) {
        wf_ports_error(errbuf, errlen, "port range", item, spec, "missing lower bound");
        return WF_EINVAL;
    }
    if (hi.len == 0) {
        wf_ports_error(errbuf, errlen, "port range", item, spec, "missing upper bound");
        return WF_EINVAL;
    }
    wf_str_t bound[2] = {lo, hi};
    uint16_t v[2];
    for (int i = 0; i < 2; i++) {
        int rc = wf_ports_parse_number(bound[i], &v[i]);
        if (rc == 0)
            continue;
        /* Quote the bound inside the message; it is short by then or cut. */
        char q[WF_PORTS_QUOTE_ITEM + 16];
        wf_ports_msg_t m = {q, sizeof(q), 0};
        q[0] = '\0';
        wf_ports_msg_quote(&m, bound[i], 24);
        if (rc == WF_EINVAL)
            wf_ports_error(errbuf, errlen, "port range", item, spec,
                           "%s bound %s is not a number (want lo-hi, e.g. 8000-9000)",
                           i == 0 ? "lower" : "upper", q);
        else
            wf_ports_error(errbuf, errlen, "port range", item, spec, "%s bound %s must be 1-65535",
                           i == 0 ? "lower" : "upper", q);
        return rc;
    }
    if (v[0] > v[1]) {
        wf_ports_error(errbuf, errlen, "port range", item, spec,
                       "lower bound %u is above upper bound %u", (unsigned)v[0], (unsigned)v[1]);
        return WF_EINVAL;
    }
    out->lo = v[0];
    out->hi = v[1];
    return 0;
}

/* Sets bits lo..hi (inclusive), a word at a time: a fuzzer feeding many
 * "1-65535" items must not make parsing quadratic-ish. */
static void wf_portset_add_range(wf_portset_t *set, uint32_t lo, uint32_t hi)
{
    while (lo <= hi) {
        uint32_t word = lo >> 6, first = lo & 63;
        uint32_t last = (hi >> 6) == word ? (hi & 63) : 63;
        uint64_t mask = (~(uint64_t)0 << first) & (~(uint64_t)0 >> (63 - last));
        set->bits[word] |= mask;
        lo = (word << 6) + last + 1;
    }
}

int wf_portset_parse(wf_portset_t *set, wf_str_t spec, char *errbuf, size_t errlen)
{
    memset(set, 0, sizeof(*set));
    wf_str_t whole = wf_ports_spec(spec);
    size_t pos = 0;
    wf_str_t item;
    while (wf_ports_next_item(spec, &pos, &item)) {
        wf_port_range_t r;
        int rc = wf_ports_parse_item(&r, item, whole, errbuf, errlen);
        if (rc < 0) {
            memset(set, 0, sizeof(*set));
            return rc;
        }
        wf_portset_add_range(set, r.lo, r.hi);
    }
    return 0;
}

int wf_port_ranges_parse(wf_port_range_t *out, size_t max, wf_str_t spec, char *errbuf,
                         size_t errlen)
{
    wf_str_t whole = wf_ports_spec(spec);
    size_t pos = 0, n = 0;
    wf_str_t item;
    while (wf_ports_next_item(spec, &pos, &item)) {
        wf_port_range_t r;
        int rc = wf_ports_parse_item(&r, item, whole, errbuf, errlen);
        if (rc < 0)
            return rc;
        if (n == max) {
            wf_ports_error(errbuf, errlen, "port list", whole, whole,
                           "more than %zu ports and ranges", max);
            return WF_ELIMIT;
        }
        out[n++] = r;
    }
    return (int)n;
}

/* The first port >= from whose bit equals `want`, or 65536 if none. */
static uint32_t wf_portset_scan(const wf_portset_t *set, uint32_t from, bool want)
{
    while (from < 65536) {
        uint64_t w = set->bits[from >> 6];
        if (!want)
            w = ~w;
        w &= ~(uint64_t)0 << (from & 63);
        if (w != 0)
            return (from & ~(uint32_t)63) + (uint32_t)__builtin_ctzll(w);
        from = (from | 63) + 1;
    }
    return 65536;
}

size_t wf_portset_format(const wf_portset_t *set, char *out, size_t outlen)
{
    wf_ports_msg_t m = {outlen > 0 ? out : NULL, outlen, 0};
    if (outlen > 0)
        out[0] = '\0';
    size_t total = 0;
    uint32_t port = 0;
    while ((port = wf_portset_scan(set, port, true)) < 65536) {
        uint32_t end = wf_portset_scan(set, port, false) - 1;
        char item[16];
        int n = end == port ? snprintf(item, sizeof(item), "%s%u", total ? "," : "", port)
                            : snprintf(item, sizeof(item), "%s%u-%u", total ? "," : "", port, end);
        wf_ports_msg_printf(&m, "%s", item);
        total += (size_t)n;
        port = end + 1;
    }
    return total;
}

/* ---- CIDRs -------------------------------------------------------------- */

static int wf_cidr_parse_item(wf_cidr_t *out, wf_str_t item, wf_str_t spec, char *errbuf,
                              size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *slash = memchr(item.ptr, '/', item.len);
    wf_str_t a = {item.ptr, slash ? (size_t)(slash - item.ptr) : item.len};

    /* inet_pton wants a C string; an embedded NUL would silently cut it. */
    char addr[INET6_ADDRSTRLEN];
    if (a.len == 0) {
        wf_ports_error(errbuf, errlen, "CIDR", item, spec, "missing address");
        return WF_EINVAL;
    }
    bool v6 = memchr(a.ptr, ':', a.len) != NULL;
    if (a.len >= sizeof(addr) || memchr(a.ptr, '\0', a.len) != NULL)
        goto bad_addr;
    memcpy(addr, a.ptr, a.len);
    addr[a.len] = '\0';
    /* glibc's inet_pton is strict: dotted quad only (no "10.1", no octal
     * "010.0.0.1"), no IPv6 zone suffix. */
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, out->addr) != 1)
        goto bad_addr;
    out->family = v6 ? AF_INET6 : AF_INET;
    unsigned max = v6 ? 128 : 32;

    unsigned prefix = max;
    if (slash != NULL) {
        wf_str_t p = {slash + 1, item.len - a.len - 1};
        bool digits = p.len > 0;
        prefix = 0;
        for (size_t i = 0; i < p.len && digits; i++) {
            digits = p.ptr[i] >= '0' && p.ptr[i] <= '9';
            prefix = WF_MIN(prefix * 10 + (unsigned)(p.ptr[i] - '0'), 1000u); /* saturate */
        }
        if (!digits) {
            wf_ports_error(errbuf, errlen, "CIDR", item, spec,
                           "prefix length must be a number 0-%u", max);
            memset(out, 0, sizeof(*out));
            return WF_EINVAL;
        }
        if (prefix > max) {
            wf_ports_error(errbuf, errlen, "CIDR", item, spec, "prefix length must be 0-%u", max);
            memset(out, 0, sizeof(*out));
            return WF_ERANGE;
        }
    }
    out->prefix = (uint8_t)prefix;

    /* Host bits set below the prefix: refuse rather than widen a typo. */
    wf_cidr_t net = *out;
    bool host_bits = false;
    for (unsigned i = 0; i < max / 8; i++) {
        unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
        uint8_t mask = (uint8_t)(0xff00u >> keep);
        if (net.addr[i] & ~mask)
            host_bits = true;
        net.addr[i] &= mask;
    }
    if (host_bits) {
        char want[INET6_ADDRSTRLEN + 8];
        wf_cidr_format(&net, want, sizeof(want));
        wf_ports_error(errbuf, errlen, "CIDR", item, spec,
                       "host bits set below the /%u prefix (did you mean %s?)", prefix, want);
        memset(out, 0, sizeof(*out));
        return WF_EINVAL;
    }
    return 0;

bad_addr:
    memset(out, 0, sizeof(*out));
    wf_ports_error(errbuf, errlen, "CIDR", item, spec, "%s", "not an IPv4 or IPv6 address");
    return WF_EINVAL;
}

int wf_cidr_parse(wf_cidr_t *out, wf_str_t s, char *errbuf, size_t errlen)
{
    wf_str_t item = wf_ports_spec(s);
    if (item.len == 0) {
        memset(out, 0, sizeof(*out));
        wf_ports_error(errbuf, errlen, "CIDR", item, item, "empty");
        return WF_EINVAL;
    }
    return wf_cidr_parse_item(out, item, item, errbuf, errlen);
}

int wf_cidr_list_parse(wf_cidr_t *out, size_t max, wf_str_t spec, char *errbuf, size_t errlen)
{
    wf_str_t whole = wf_ports_spec(spec);
    size_t pos = 0, n = 0;
    wf_str_t item;
    while (wf_ports_next_item(spec, &pos, &item)) {
        wf_cidr_t c;
        int rc = wf_cidr_parse_item(&c, item, whole, errbuf, errlen);
        if (rc < 0)
            return rc;
        if (n == max) {
            wf_ports_error(errbuf, errlen, "CIDR list", whole, whole, "more than %zu networks",
                           max);
            return WF_ELIMIT;
        }
        out[n++] = c;
    }
    return (int)n;
}

/* True if the first `prefix` bits of a and b agree. */
static bool wf_cidr_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[whole] & mask) == (b[whole] & mask);
}

bool wf_cidr_contains(const wf_cidr_t *net, const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return net->family == AF_INET &&
               wf_cidr_prefix_eq((const uint8_t *)&sin->sin_addr, net->addr, net->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *a = sin6->sin6_addr.s6_addr;
        if (net->family == AF_INET6)
            return wf_cidr_prefix_eq(a, net->addr, net->prefix);
        /* ::ffff:a.b.c.d is how a dual-stack socket shows an IPv4 peer. */
        if (net->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return wf_cidr_prefix_eq(a + 12, net->addr, net->prefix);
    }
    return false;
}

size_t wf_cidr_format(const wf_cidr_t *net, char *out, size_t outlen)
{
    char addr[INET6_ADDRSTRLEN];
    if ((net->family != AF_INET && net->family != AF_INET6) ||
        inet_ntop(net->family, net->addr, addr, sizeof(addr)) == NULL) {
        if (outlen > 0)
            out[0] = '\0';
        return 0;
    }
    int n = snprintf(outlen > 0 ? out : NULL, outlen, "%s/%u", addr, net->prefix);
    return n > 0 ? (size_t)n : 0;
}
