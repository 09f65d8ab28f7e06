/*
 * admin.c — weft-controller's admin listener: /metrics, /ready, /live.
 *
 * A trimmed copy of the proxy's admin server (src/proxy/admin.c) that runs
 * on the controller's one loop instead of a thread of its own. The two
 * should become one libweft module (src/lib/admin) once the proxy's can be
 * reworked to take its routes from a table; until then keep them in step.
 *
 * Requests are parsed with libweft's strict HTTP/1 parser; request bodies
 * are refused (no endpoint takes one). Anything malformed gets a 4xx and
 * the connection is closed; keep-alive is honoured otherwise. Each
 * connection has 10 s to deliver a complete request, and the number of
 * admin connections is capped.
 */
#include "ctl.h"

#include "http1/h1.h"
#include "metrics/process.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_IN_MAX 8192
#define ADMIN_REQUEST_TIMEOUT_MS 10000
#define ADMIN_MAX_HEADERS 32

typedef struct admin_conn admin_conn_t;

struct wf_ctl_admin {
    wf_ctl_t *ctl; /* borrowed: owner */
    int fd;        /* owned listener */
    wf_watch_t watch;
    admin_conn_t *conns; /* owned list */
    uint32_t nconns;
};

struct admin_conn {
    admin_conn_t *next, *prev;
    wf_ctl_admin_t *admin; /* borrowed: owner */
    wf_watch_t watch;
    int fd;           /* owned */
    bool close_after; /* close once the response is written */
    bool closed;
    char in[ADMIN_IN_MAX];
    size_t in_len;
    wf_sbuf_t out; /* owned: pending response bytes */
    size_t out_off;
    wf_timer_t timer;
    wf_defer_t defer;
};

static void conn_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    admin_conn_t *c = wf_container_of(d, admin_conn_t, defer);
    wf_sbuf_free(&c->out);
    free(c);
}

static void noop_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
}

static void conn_close(admin_conn_t *c)
{
    if (c->closed)
        return;
    c->closed = true;
    wf_ctl_admin_t *a = c->admin;
    wf_loop_t *loop = &a->ctl->loop;
    wf_watch_stop(loop, &c->watch);
    c->watch.cb = noop_cb;
    wf_timer_stop(loop, &c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    wf_loop_defer(loop, &c->defer, conn_free_cb);
}

static void respond(admin_conn_t *c, int status, const char *reason, const char *ctype,
                    const char *extra_headers, const char *body, size_t body_len, bool head)
{
    wf_sbuf_printf(&c->out, "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n%s%s\r\n",
                   status, reason, ctype, body_len, extra_headers ? extra_headers : "",
                   c->close_after ? "connection: close\r\n" : "");
    if (!head)
        wf_sbuf_append(&c->out, body, body_len);
}

static void respond_text(admin_conn_t *c, int status, const char *reason, const char *text,
                         bool head)
{
    respond(c, status, reason, "text/plain", NULL, text, strlen(text), head);
}

static void route(admin_conn_t *c, const wf_h1_msg_t *m)
{
    wf_ctl_t *ctl = c->admin->ctl;
    wf_str_t path = m->target;
    const char *q = memchr(path.ptr, '?', path.len);
    if (q != NULL)
        path.len = (size_t)(q - path.ptr);
    bool head = m->method_id == WF_H1_M_HEAD;
    bool get = m->method_id == WF_H1_M_GET || head;
    bool known = wf_str_eq(path, WF_STR("/metrics")) || wf_str_eq(path, WF_STR("/ready")) ||
                 wf_str_eq(path, WF_STR("/live"));
    if (!known)
        return respond_text(c, 404, "Not Found", "not found\n", head);
    if (!get)
        return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET, HEAD\r\n",
                       "method not allowed\n", 19, false);
    if (wf_str_eq(path, WF_STR("/metrics"))) {
        wf_sbuf_t body = {0};
        wf_metrics_render(&body);
        wf_metrics_render_process(&body);
        respond(c, 200, "OK", "text/plain; version=0.0.4", NULL, body.ptr ? body.ptr : "", body.len,
                head);
        wf_sbuf_free(&body);
        return;
    }
    if (wf_str_eq(path, WF_STR("/ready"))) {
        if (ctl->ready && !ctl->draining)
            return respond_text(c, 200, "OK", "ready\n", head);
        return respond_text(c, 503, "Service Unavailable",
                            ctl->draining ? "shutting down\n" : "not ready\n", head);
    }
    respond_text(c, 200, "OK", "live\n", head);
}

static void conn_flush(admin_conn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.ptr + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out.len = c->out_off = 0;
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        conn_close(c);
    }
}

/* Parses and answers every complete request in c->in. */
static void conn_process(admin_conn_t *c)
{
    while (c->in_len > 0 && !c->close_after) {
        wf_h1_header_t headers[ADMIN_MAX_HEADERS];
        wf_h1_parser_t p;
        wf_h1_request_init(&p, headers, ADMIN_MAX_HEADERS);
        p.max_head = ADMIN_IN_MAX;
        int n = wf_h1_parse_request(&p, c->in, c->in_len);
        if (n == WF_EAGAIN) {
            if (c->in_len == sizeof(c->in)) {
                c->close_after = true;
                respond_text(c, 431, "Request Header Fields Too Large", "request too large\n",
                             false);
            }
            return;
        }
        if (n < 0) {
            c->close_after = true;
            char msg[160];
            snprintf(msg, sizeof(msg), "bad request: %s\n", p.err ? p.err : "malformed");
            int st = p.status ? p.status : 400;
            respond_text(c, st, st == 431 ? "Request Header Fields Too Large" : "Bad Request", msg,
                         false);
            return;
        }
        const wf_h1_msg_t *m = &p.msg;
        if (m->body == WF_H1_BODY_CHUNKED ||
            (m->body == WF_H1_BODY_LENGTH && m->content_length > 0)) {
            c->close_after = true;
            respond_text(c, 413, "Content Too Large", "no endpoint here takes a body\n", false);
            return;
        }
        if (m->flags & WF_H1_MF_CLOSE)
            c->close_after = true;
        route(c, m);
        memmove(c->in, c->in + n, c->in_len - (size_t)n);
        c->in_len -= (size_t)n;
        wf_timer_start(&c->admin->ctl->loop, &c->timer, ADMIN_REQUEST_TIMEOUT_MS);
    }
}

static void conn_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    admin_conn_t *c = wf_container_of(w, admin_conn_t, watch);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            if (c->in_len == sizeof(c->in) || c->close_after)
                break;
            ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
            if (n > 0) {
                c->in_len += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            /* EOF or error: answer what is complete, then go. */
            conn_process(c);
            c->close_after = true;
            if (c->out.len == c->out_off) {
                conn_close(c);
                return;
            }
            break;
        }
        conn_process(c);
    }
    conn_flush(c);
}

static void conn_timeout_cb(wf_loop_t *loop, wf_timer_t *t)
{
    conn_close(wf_container_of(t, admin_conn_t, timer));
}

static void accept_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_ctl_admin_t *a = wf_container_of(w, wf_ctl_admin_t, watch);
    for (;;) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        if (a->nconns >= ADMIN_MAX_CONNS) {
            /* Refusing the newcomer bounds memory and leaves the scraper's
             * established connection alone. */
            close(fd);
            continue;
        }
        admin_conn_t *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->admin = a;
        c->fd = fd;
        wf_timer_init(&c->timer, conn_timeout_cb);
        wf_watch_init(&c->watch, fd, conn_cb);
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        wf_timer_start(loop, &c->timer, ADMIN_REQUEST_TIMEOUT_MS);
        if (wf_watch_start(loop, &c->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0)
            conn_close(c);
    }
}

int wf_ctl_admin_start(wf_ctl_t *ctl, wf_ctl_admin_t **out)
{
    *out = NULL;
    wf_ctl_admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return WF_ENOMEM;
    a->ctl = ctl;
    int rc = wf_listen(&ctl->cfg.admin_addr, 128, false, &a->fd);
    if (rc != 0) {
        free(a);
        return rc;
    }
    wf_watch_init(&a->watch, a->fd, accept_cb);
    if ((rc = wf_watch_start(&ctl->loop, &a->watch, EPOLLIN)) != 0) {
        close(a->fd);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void wf_ctl_admin_stop(wf_ctl_admin_t *a)
{
    while (a->conns != NULL)
        conn_close(a->conns);
    wf_watch_stop(&a->ctl->loop, &a->watch);
    close(a->fd);
    free(a);
}
