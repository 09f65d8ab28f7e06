#include "net/addr.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <unistd.h>

/* From linux/netfilter_ipv6/ip6_tables.h, which does not include cleanly
 * beside the libc headers. */
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int wf_addr_parse(wf_addr_t *out, wf_str_t s)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    size_t hlen;
    bool v6 = s.len > 0 && s.ptr[0] == '[';
    if (v6) {
        const char *rb = memchr(s.ptr, ']', s.len);
        if (rb == NULL || (size_t)(rb - s.ptr) + 1 >= s.len || rb[1] != ':')
            return WF_EINVAL;
        hlen = (size_t)(rb - s.ptr) - 1;
        if (hlen >= sizeof(host))
            return WF_EINVAL;
        memcpy(host, s.ptr + 1, hlen);
        colon = rb + 1;
    } else {
        colon = memrchr(s.ptr, ':', s.len);
        if (colon == NULL)
            return WF_EINVAL;
        hlen = (size_t)(colon - s.ptr);
        if (hlen == 0 || hlen >= sizeof(host))
            return WF_EINVAL;
        memcpy(host, s.ptr, hlen);
    }
    host[hlen] = '\0';

    const char *p = colon + 1, *end = s.ptr + s.len;
    if (p == end || end - p > 5)
        return WF_EINVAL;
    unsigned port = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return WF_EINVAL;
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port > 65535)
        return WF_ERANGE;

    memset(out, 0, sizeof(*out));
    if (!v6 && inet_pton(AF_INET, host, &out->u.in.sin_addr) == 1) {
        out->u.in.sin_family = AF_INET;
        out->u.in.sin_port = htons((uint16_t)port);
        out->len = sizeof(out->u.in);
        return 0;
    }
    if (v6 && inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) == 1) {
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = htons((uint16_t)port);
        out->len = sizeof(out->u.in6);
        return 0;
    }
    return WF_EINVAL;
}

size_t wf_addr_format_ip(const wf_addr_t *a, char *out, size_t outlen)
{
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    if (a->u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->u.in.sin_addr, out, (socklen_t)outlen);
    } else if (a->u.sa.sa_family == AF_INET6) {
        const struct in6_addr *ip = &a->u.in6.sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(ip))
            inet_ntop(AF_INET, &ip->s6_addr[12], out, (socklen_t)outlen);
        else
            inet_ntop(AF_INET6, ip, out, (socklen_t)outlen);
    }
    return strlen(out);
}

size_t wf_addr_format(const wf_addr_t *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    wf_addr_format_ip(a, ip, sizeof(ip));
    bool bracket = a->u.sa.sa_family == AF_INET6 && strchr(ip, ':') != NULL;
    int n = snprintf(out, outlen, bracket ? "[%s]:%u" : "%s:%u", ip, wf_addr_port(a));
    return n < 0 ? 0 : WF_MIN((size_t)n, outlen ? outlen - 1 : 0);
}

uint16_t wf_addr_port(const wf_addr_t *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return ntohs(a->u.in.sin_port);
    if (a->u.sa.sa_family == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

void wf_addr_set_port(wf_addr_t *a, uint16_t port)
{
    if (a->u.sa.sa_family == AF_INET)
        a->u.in.sin_port = htons(port);
    else if (a->u.sa.sa_family == AF_INET6)
        a->u.in6.sin6_port = htons(port);
}

bool wf_addr_is_loopback(const wf_addr_t *a)
{
    if (a->u.sa.sa_family == AF_INET)
        return (ntohl(a->u.in.sin_addr.s_addr) >> 24) == 127;
    if (a->u.sa.sa_family == AF_INET6) {
        const struct in6_addr *ip = &a->u.in6.sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(ip) || (IN6_IS_ADDR_V4MAPPED(ip) && ip->s6_addr[12] == 127);
    }
    return false;
}

bool wf_addr_eq(const wf_addr_t *a, const wf_addr_t *b)
{
    if (a->u.sa.sa_family != b->u.sa.sa_family)
        return false;
    if (a->u.sa.sa_family == AF_INET)
        return a->u.in.sin_port == b->u.in.sin_port &&
               a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
    if (a->u.sa.sa_family == AF_INET6)
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0;
    return false;
}

void wf_addr_loopback4(wf_addr_t *out, uint16_t port)
{
    memset(out, 0, sizeof(*out));
    out->u.in.sin_family = AF_INET;
    out->u.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out->u.in.sin_port = htons(port);
    out->len = sizeof(out->u.in);
}

int wf_listen(const wf_addr_t *addr, int backlog, bool reuseport, int *out_fd)
{
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* One listener per worker on the same address; the kernel spreads
     * connections across them (no accept thundering herd). */
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        goto fail;
    if (addr->u.sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, &addr->u.sa, addr->len) != 0 || listen(fd, backlog) != 0)
        goto fail;
    *out_fd = fd;
    return 0;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

int wf_connect_start(const wf_addr_t *addr, int *out_fd)
{
    int fd = socket(addr->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, &addr->u.sa, addr->len) != 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    *out_fd = fd;
    return 0;
}

int wf_sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return -err;
}

int wf_original_dst(int fd, const wf_addr_t *local, wf_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    if (local->u.sa.sa_family == AF_INET6) {
        out->len = sizeof(out->u.in6);
        if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &out->u.in6, &out->len) != 0)
            return -errno;
    } else {
        out->len = sizeof(out->u.in);
        if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &out->u.in, &out->len) != 0)
            return -errno;
    }
    return 0;
}

int wf_local_addr(int fd, wf_addr_t *out)
{
    out->len = sizeof(out->u.ss);
    return getsockname(fd, &out->u.sa, &out->len) == 0 ? 0 : -errno;
}

int wf_peer_addr(int fd, wf_addr_t *out)
{
    out->len = sizeof(out->u.ss);
    return getpeername(fd, &out->u.sa, &out->len) == 0 ? 0 : -errno;
}

int wf_addr_resolve(wf_addr_t *out, wf_str_t hostport)
{
    if (wf_addr_parse(out, hostport) == 0)
        return 0;
    /* host:port with a name; the last ':' splits (names hold none). */
    const char *colon = NULL;
    for (size_t i = 0; i < hostport.len; i++)
        if (hostport.ptr[i] == ':')
            colon = hostport.ptr + i;
    if (colon == NULL || colon == hostport.ptr || hostport.len > 300)
        return WF_EINVAL;
    char host[300], port[8];
    size_t hlen = (size_t)(colon - hostport.ptr), plen = hostport.len - hlen - 1;
    if (plen == 0 || plen >= sizeof(port))
        return WF_EINVAL;
    memcpy(host, hostport.ptr, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    for (size_t i = 0; i < plen; i++)
        if (port[i] < '0' || port[i] > '9')
            return WF_EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL)
        return WF_ENOTFOUND;
    memset(out, 0, sizeof(*out));
    memcpy(&out->u.sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
