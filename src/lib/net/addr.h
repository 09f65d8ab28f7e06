/*
 * addr.h — socket addresses and the socket calls the proxy needs:
 * "ip:port" parsing and formatting, SO_REUSEPORT listeners, non-blocking
 * connects, and SO_ORIGINAL_DST for iptables-redirected connections.
 */
#ifndef WF_NET_ADDR_H
#define WF_NET_ADDR_H

#include "core/common.h"

#include <netinet/in.h>
#include <sys/socket.h>

typedef struct wf_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    socklen_t len;
} wf_addr_t;

/* Longest "[v6]:port" rendering plus NUL. */
#define WF_ADDR_STRLEN (INET6_ADDRSTRLEN + 9)

/* Parses "1.2.3.4:80", "[::1]:80" (numeric only, port 0..65535). */
int wf_addr_parse(wf_addr_t *out, wf_str_t s);
/* "1.2.3.4:80" / "[::1]:80"; returns length. */
size_t wf_addr_format(const wf_addr_t *a, char *out, size_t outlen);
/* Like wf_addr_parse, but the host may also be a DNS name (resolved with
 * getaddrinfo: blocking, so only for threads that may wait, never a data
 * path loop). WF_EINVAL for a malformed string, WF_ENOTFOUND when the name
 * does not resolve. */
int wf_addr_resolve(wf_addr_t *out, wf_str_t hostport);
/* The address alone ("1.2.3.4", "::1"); IPv4-mapped IPv6 shown as IPv4. */
size_t wf_addr_format_ip(const wf_addr_t *a, char *out, size_t outlen);
uint16_t wf_addr_port(const wf_addr_t *a);
void wf_addr_set_port(wf_addr_t *a, uint16_t port);
bool wf_addr_is_loopback(const wf_addr_t *a);
bool wf_addr_eq(const wf_addr_t *a, const wf_addr_t *b);
/* 127.0.0.1:port */
void wf_addr_loopback4(wf_addr_t *out, uint16_t port);

/* A non-blocking, close-on-exec, SO_REUSEADDR listener. `reuseport` adds
 * SO_REUSEPORT, for one listener per worker thread on the same address;
 * without it a port already taken (say, by a second instance) is an error. */
int wf_listen(const wf_addr_t *addr, int backlog, bool reuseport, int *out_fd);

/* Starts a non-blocking connect; WF_EAGAIN-free: returns 0 when the connect
 * is in progress or done (completion is EPOLLOUT + wf_sock_error). */
int wf_connect_start(const wf_addr_t *addr, int *out_fd);
/* SO_ERROR as -errno (0 when connected). */
int wf_sock_error(int fd);

/* The pre-redirect destination of an accepted, iptables-REDIRECTed
 * connection (IPv4 SO_ORIGINAL_DST or IPv6 IP6T_SO_ORIGINAL_DST). */
int wf_original_dst(int fd, const wf_addr_t *local, wf_addr_t *out);

int wf_local_addr(int fd, wf_addr_t *out);
int wf_peer_addr(int fd, wf_addr_t *out);

#endif
