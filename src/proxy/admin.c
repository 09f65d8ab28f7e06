/*
 * admin.c — a deliberately small HTTP/1.1 server for the admin port.
 *
 * Requests are parsed with libweft's strict HTTP/1 parser; bodies are only
 * accepted with Content-Length (≤ 4 KiB: a log level). Anything malformed
 * gets a 4xx and the connection is closed; keep-alive is honoured
 * otherwise (Prometheus reuses its connection). Each connection has a
 * 10 s deadline to deliver a complete request, so slowloris clients cost
 * one small buffer each for at most that long, and the number of admin
 * connections is capped.
 */
#include "admin.h"
#include "mesh/identity_client.h"

#include "core/log.h"
#include "core/time.h"
#include "http1/h1.h"
#include "metrics/process.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_MAX_CONNS 64
#define ADMIN_IN_MAX 8192 /* request head + body */
#define ADMIN_MAX_BODY 4096
#define ADMIN_REQUEST_TIMEOUT_MS 10000
#define ADMIN_MAX_HEADERS 32

typedef struct admin_conn admin_conn_t;

struct wf_admin {
    wf_proxy_t *proxy; /* borrowed */
    pthread_t thread;
    wf_loop_t loop;
    int fd;
    wf_watch_t watch;
    admin_conn_t *conns; /* owned list */
    uint32_t nconns;
};

struct admin_conn {
    admin_conn_t *next, *prev;
    wf_admin_t *admin; /* borrowed: owner */
    wf_watch_t watch;
    int fd;                  /* owned */
    bool local;              /* peer is on loopback */
    bool close_after;        /* close once the response is written */
    bool closed;
    char in[ADMIN_IN_MAX];
    size_t in_len;
    wf_sbuf_t out; /* owned: pending response bytes */
    size_t out_off;
    wf_timer_t timer;
    wf_defer_t defer;
};

static wf_metric_family_t fam_build_info = {
    "proxy_build_info", "Proxy build info", WF_METRIC_GAUGE, NULL, 0, 0};

static void conn_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    admin_conn_t *c = wf_container_of(d, admin_conn_t, defer);
    wf_sbuf_free(&c->out);
    free(c);
}

static void noop_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
}

static void admin_conn_close(admin_conn_t *c)
{
    if (c->closed)
        return;
    c->closed = true;
    wf_admin_t *a = c->admin;
    wf_watch_stop(&a->loop, &c->watch);
    c->watch.cb = noop_cb;
    wf_timer_stop(&a->loop, &c->timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    wf_loop_defer(&a->loop, &c->defer, conn_free_cb);
}

static void respond(admin_conn_t *c, int status, const char *reason, const char *ctype,
                    const char *extra_headers, const char *body, size_t body_len)
{
    wf_sbuf_printf(&c->out,
                   "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n%s%s\r\n",
                   status, reason, ctype, body_len, extra_headers ? extra_headers : "",
                   c->close_after ? "connection: close\r\n" : "");
    wf_sbuf_append(&c->out, body, body_len);
}

static void respond_text(admin_conn_t *c, int status, const char *reason, const char *text)
{
    respond(c, status, reason, "text/plain", NULL, text, strlen(text));
}

void wf_admin_render_metrics(wf_sbuf_t *out)
{
    wf_metrics_render(out);
    wf_metrics_render_process(out);
}

static void route(admin_conn_t *c, const wf_h1_msg_t *m, wf_str_t body)
{
    wf_proxy_t *proxy = c->admin->proxy;
    wf_str_t path = m->target;
    const char *q = memchr(path.ptr, '?', path.len);
    if (q != NULL)
        path.len = (size_t)(q - path.ptr);
    bool get = m->method_id == WF_H1_M_GET || m->method_id == WF_H1_M_HEAD;

    if (wf_str_eq(path, WF_STR("/metrics"))) {
        if (!get)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET\r\n",
                           "method not allowed\n", 19);
        wf_sbuf_t body_out = {0};
        wf_admin_render_metrics(&body_out);
        respond(c, 200, "OK", "text/plain; version=0.0.4", NULL, body_out.ptr ? body_out.ptr : "",
                body_out.len);
        wf_sbuf_free(&body_out);
        return;
    }
    if (wf_str_eq(path, WF_STR("/ready"))) {
        if (!get)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET\r\n",
                           "method not allowed\n", 19);
        if (atomic_load(&proxy->ready) && !atomic_load(&proxy->draining) &&
            (proxy->identity == NULL || wf_identity_ready(proxy->identity)))
            return respond_text(c, 200, "OK", "ready\n");
        return respond_text(c, 503, "Service Unavailable", "not ready\n");
    }
    if (wf_str_eq(path, WF_STR("/live"))) {
        if (!get)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET\r\n",
                           "method not allowed\n", 19);
        return respond_text(c, 200, "OK", "live\n");
    }
    if (wf_str_eq(path, WF_STR("/env.json"))) {
        if (!get)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET\r\n",
                           "method not allowed\n", 19);
        wf_sbuf_t js = {0};
        wf_proxy_config_env_json(proxy->env, &js);
        respond(c, 200, "OK", "application/json", NULL, js.ptr ? js.ptr : "", js.len);
        wf_sbuf_free(&js);
        return;
    }
    if (wf_str_eq(path, WF_STR("/proxy-log-level"))) {
        if (get) {
            char level[32];
            snprintf(level, sizeof(level), "%s\n", wf_log_level_name(wf_log_get_level()));
            return respond_text(c, 200, "OK", level);
        }
        if (m->method_id != WF_H1_M_PUT)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: GET, PUT\r\n",
                           "method not allowed\n", 19);
        if (!c->local)
            return respond_text(c, 403, "Forbidden", "only allowed from localhost\n");
        wf_log_level_t lv;
        if (wf_log_level_parse(body, &lv) != 0)
            return respond_text(c, 400, "Bad Request",
                                "invalid log level: expected error, warn, info, debug, trace or "
                                "off\n");
        wf_log_set_level(lv);
        wf_log_info("log level set to %s via admin", wf_log_level_name(lv));
        return respond(c, 204, "No Content", "text/plain", NULL, "", 0);
    }
    if (wf_str_eq(path, WF_STR("/shutdown"))) {
        if (m->method_id != WF_H1_M_POST)
            return respond(c, 405, "Method Not Allowed", "text/plain", "allow: POST\r\n",
                           "method not allowed\n", 19);
        if (!proxy->cfg.shutdown_endpoint_enabled)
            return respond_text(c, 404, "Not Found",
                                "shutdown endpoint is not enabled "
                                "(WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED)\n");
        if (!c->local)
            return respond_text(c, 403, "Forbidden", "only allowed from localhost\n");
        wf_log_info("shutdown requested via admin endpoint");
        kill(getpid(), SIGTERM); /* the same graceful drain as a SIGTERM */
        return respond_text(c, 202, "Accepted", "shutdown\n");
    }
    respond_text(c, 404, "Not Found", "not found\n");
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
            admin_conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out.len = c->out_off = 0;
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        admin_conn_close(c);
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
                respond_text(c, 431, "Request Header Fields Too Large", "request too large\n");
            }
            return;
        }
        if (n < 0) {
            c->close_after = true;
            char msg[160];
            snprintf(msg, sizeof(msg), "bad request: %s\n", p.err ? p.err : "malformed");
            int st = p.status ? p.status : 400;
            respond_text(c, st, st == 431 ? "Request Header Fields Too Large" : "Bad Request", msg);
            return;
        }
        const wf_h1_msg_t *m = &p.msg;
        size_t body_len = 0;
        if (m->body == WF_H1_BODY_CHUNKED) {
            c->close_after = true;
            respond_text(c, 411, "Length Required", "chunked bodies are not accepted here\n");
            return;
        }
        if (m->body == WF_H1_BODY_LENGTH) {
            if (m->content_length > ADMIN_MAX_BODY) {
                c->close_after = true;
                respond_text(c, 413, "Content Too Large", "body too large\n");
                return;
            }
            body_len = (size_t)m->content_length;
        }
        if ((size_t)n + body_len > c->in_len)
            return; /* wait for the rest of the body */
        if (m->flags & WF_H1_MF_CLOSE)
            c->close_after = true;
        route(c, m, (wf_str_t){c->in + n, body_len});
        size_t used = (size_t)n + body_len;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        wf_timer_start(&c->admin->loop, &c->timer, ADMIN_REQUEST_TIMEOUT_MS);
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
                admin_conn_close(c);
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
    admin_conn_close(wf_container_of(t, admin_conn_t, timer));
}

static void accept_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_admin_t *a = wf_container_of(w, wf_admin_t, watch);
    for (;;) {
        wf_addr_t peer;
        peer.len = sizeof(peer.u.ss);
        int fd = accept4(a->fd, &peer.u.sa, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        if (a->nconns >= ADMIN_MAX_CONNS) {
            /* Oldest first would punish the scraper; refusing the newcomer
             * bounds memory and leaves established clients alone. */
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
        c->local = wf_addr_is_loopback(&peer);
        wf_timer_init(&c->timer, conn_timeout_cb);
        wf_watch_init(&c->watch, fd, conn_cb);
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        wf_timer_start(loop, &c->timer, ADMIN_REQUEST_TIMEOUT_MS);
        if (wf_watch_start(loop, &c->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0)
            admin_conn_close(c);
    }
}

int wf_admin_init(wf_admin_t **out, wf_proxy_t *proxy)
{
    wf_admin_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return WF_ENOMEM;
    a->proxy = proxy;
    int err = wf_loop_init(&a->loop);
    if (err != 0) {
        free(a);
        return err;
    }
    err = wf_listen(&proxy->cfg.admin_addr, 128, false, &a->fd);
    if (err != 0) {
        wf_loop_destroy(&a->loop);
        free(a);
        return err;
    }
    wf_watch_init(&a->watch, a->fd, accept_cb);

    /* Build info is one constant series, recorded through the registry so
     * it renders with everything else. The admin thread owns its shard. */
    wf_metrics_register(&fam_build_info);
    *out = a;
    return 0;
}

static void *admin_main(void *arg)
{
    wf_admin_t *a = arg;
    wf_metrics_shard_t *shard = wf_metrics_shard_new();
    wf_series_t *bi = NULL;
    if (shard != NULL) {
        bi = wf_metrics_get(shard, &fam_build_info,
                            WF_STR("git_sha=\"unknown\",profile=\"release\",vendor=\"weft\","
                                   "version=\"" WEFT_VERSION "\""));
        wf_gauge_add(bi, 1);
    }
    wf_watch_start(&a->loop, &a->watch, EPOLLIN);
    wf_loop_run(&a->loop);
    while (a->conns != NULL)
        admin_conn_close(a->conns);
    wf_loop_run_once(&a->loop, 0);
    if (shard != NULL) {
        wf_metrics_put(shard, bi, 0);
        wf_metrics_shard_free(shard);
    }
    return NULL;
}

int wf_admin_start(wf_admin_t *a)
{
    int rc = pthread_create(&a->thread, NULL, admin_main, a);
    return rc == 0 ? 0 : -rc;
}

void wf_admin_stop(wf_admin_t *a)
{
    wf_loop_stop(&a->loop);
    pthread_join(a->thread, NULL);
    close(a->fd);
    wf_loop_destroy(&a->loop);
    free(a);
}
