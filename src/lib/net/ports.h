/*
 * ports.h — port sets and CIDR lists as Linkerd's annotations spell them.
 *
 * Port lists: comma-separated ports and inclusive ranges, e.g.
 * "25,587,8000-9000" (config.linkerd.io/opaque-ports, skip-inbound-ports,
 * skip-outbound-ports). Whitespace around items is ignored; empty items are
 * ignored ("25,,587" == "25,587"); an empty string is the empty set.
 * Ports are 1..65535; a range needs lo <= hi. Anything else is an error
 * naming the offending item.
 *
 * CIDR lists: comma-separated IPv4 or IPv6 networks ("10.0.0.0/8,fd00::/8");
 * a bare address means a host route (/32 or /128). Host bits set below the
 * prefix are an error (as `ip route` would reject them), so a typo is never
 * silently widened.
 */
#ifndef WF_NET_PORTS_H
#define WF_NET_PORTS_H

#include "core/common.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* A set of TCP ports: one bit per port (8 KiB); owned by its holder. */
typedef struct wf_portset {
    uint64_t bits[65536 / 64];
} wf_portset_t;

typedef struct wf_port_range {
    uint16_t lo, hi;
} wf_port_range_t;

/*
 * Parses `spec` into `set` (which is cleared first). On error returns
 * WF_EINVAL (malformed item, or a range with lo > hi) or WF_ERANGE (a port
 * outside 1..65535), leaves `set` empty, and writes a NUL-terminated message
 * naming the bad item and the list into errbuf (if errbuf is non-NULL and
 * errlen > 0), e.g. `invalid port "70000" in "25,70000": must be 1-65535`.
 * Items and lists are quoted with non-printable bytes escaped and cut to a
 * readable length. Leading zeros are accepted ("080" is 80), as Linkerd's
 * parser accepts them.
 */
int wf_portset_parse(wf_portset_t *set, wf_str_t spec, char *errbuf, size_t errlen);

/* Parses `spec` into at most `max` ranges kept in input order (for iptables
 * rules, which want the user's ranges, not a bitmap). Returns the count; a
 * single port p is the range p-p. Errors as wf_portset_parse, plus WF_ELIMIT
 * if the list has more than `max` items. */
int wf_port_ranges_parse(wf_port_range_t *out, size_t max, wf_str_t spec, char *errbuf,
                         size_t errlen);

static inline void wf_portset_add(wf_portset_t *set, uint16_t port)
{
    set->bits[port >> 6] |= (uint64_t)1 << (port & 63);
}

static inline bool wf_portset_has(const wf_portset_t *set, uint16_t port)
{
    return (set->bits[port >> 6] >> (port & 63)) & 1;
}

/* Writes the set back in canonical form ("25,587,8000-9000"): ascending,
 * every run of two or more consecutive ports as lo-hi. Like snprintf, it
 * returns the length of the whole text (excluding the NUL) even when outlen
 * is too small, writes at most outlen bytes, and NUL-terminates if
 * outlen > 0 (out may be NULL when outlen is 0). The longest text, every
 * other port, is about 190 KB; "1-65535" is the full set. */
size_t wf_portset_format(const wf_portset_t *set, char *out, size_t outlen);

typedef struct wf_cidr {
    int family;         /* AF_INET or AF_INET6 */
    uint8_t prefix;     /* 0..32 or 0..128 */
    uint8_t addr[16];   /* network address, network byte order */
} wf_cidr_t;

/* Parses one network ("10.0.0.0/8", "fd00::/8", "192.168.1.7"); whitespace
 * around it is ignored. Returns 0, WF_EINVAL (not an address, host bits
 * set, bad prefix syntax) or WF_ERANGE (prefix too long); the message says
 * what is wrong and, for host bits, which network was probably meant.
 * IPv4 addresses are strict dotted quads; IPv6 zone ids are refused. */
int wf_cidr_parse(wf_cidr_t *out, wf_str_t s, char *errbuf, size_t errlen);

/* Parses a comma-separated list into at most `max` entries; returns count,
 * or an error as wf_cidr_parse (naming the item and the list), or WF_ELIMIT
 * if the list has more than `max` networks. */
int wf_cidr_list_parse(wf_cidr_t *out, size_t max, wf_str_t spec, char *errbuf, size_t errlen);

/* True if the address (sockaddr_in or sockaddr_in6) lies inside `net`.
 * IPv4-mapped IPv6 addresses match IPv4 networks. */
bool wf_cidr_contains(const wf_cidr_t *net, const struct sockaddr *sa);

/* "10.0.0.0/8" into out (the prefix is always written, "/32" too);
 * returns the full length like snprintf, 0 for a zeroed/invalid net. */
size_t wf_cidr_format(const wf_cidr_t *net, char *out, size_t outlen);

#endif
