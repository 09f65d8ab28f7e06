/*
 * injector.c — weft-controller injector: the HTTPS server in front of
 * wf_injector_review (see injector.h).
 *
 * Protocol: TLS 1.3 (tls/; no client certificate asked for — the API
 * server authenticates us by the caBundle, not the other way round), then
 * HTTP/1.1 with our strict parser (http1/): POST / or /inject with a
 * Content-Length body of at most 3 MiB; keep-alive, as the API server
 * reuses its webhook connections. Anything else gets its status (404, 405,
 * 411, 413, 400 for a malformed head) and the connection closes after it.
 *
 * Namespace annotations (linkerd.io/inject and config.linkerd.io on a
 * Namespace) come from an informer on namespaces — the kubernetes source
 * (--kubeconfig / --kubernetes) or the local store (--store) — so a review
 * never waits for an API call; without a source only the pod's own
 * annotations count. /ready on the admin port turns 200 once the listener
 * is up and the namespaces are synced.
 *
 * Thread: everything runs on the main thread's loop (ctl.h).
 */
#include "injector.h"

#include "ctl.h"
#include "http1/h1.h"
#include "k8s/source.h"
#include "net/addr.h"
#include "net/io.h"
#include "net/ports.h"
#include "tls/cert.h"
#include "tls/tls_ctx.h"
#include "tls/tls_io.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define INJ_MAX_CONNS 1024
#define INJ_LINGER_MS 2000                /* read-and-drop after a closing answer ... */
#define INJ_LINGER_MAX (8u * 1024 * 1024) /* ... at most this many bytes */
/* Default bound on request bytes buffered across all connections
 * (--max-buffered): 1,024 slow clients with 3 MiB bodies must not make the
 * injector 3 GiB; past it a request gets 503 (the API server then applies
 * failurePolicy: Ignore). */
#define INJ_MAX_HELD (64u * 1024 * 1024)
#define INJ_REQUEST_TIMEOUT_MS 30000 /* handshake + one request, or keep-alive idle */
#define INJ_MAX_HEADERS 64

typedef struct inj inj_t;

typedef struct inj_conn {
    struct inj_conn *next, *prev; /* inj's list */
    inj_t *inj;                   /* borrowed: owner */
    wf_io_t *io;                  /* owned: TLS over the socket */
    wf_watch_t watch;
    wf_timer_t timer;
    wf_defer_t defer; /* frees it after close */
    wf_sbuf_t in;     /* owned: bytes received, not yet consumed */
    wf_sbuf_t out;    /* owned: bytes to send */
    size_t out_off;   /* bytes of out already sent */
    wf_h1_parser_t parser;
    wf_h1_header_t headers[INJ_MAX_HEADERS];
    size_t head_len;  /* > 0 once the head is parsed */
    bool continued;   /* 100 Continue sent for this request */
    bool close_after; /* close once out is sent */
    bool closed;
    bool lingering; /* answered and half-closed: reading what is left, to drop it */
    size_t drained; /* bytes dropped while lingering */
} inj_conn_t;

typedef struct inj_cfg {
    wf_addr_t addr;
    const char *tls_cert, *tls_key;
    const char *store, *kubeconfig;
    bool in_cluster;
    const char *anchors_file;
    size_t max_held; /* --max-buffered */
    wf_inject_cfg_t inject;
} inj_cfg_t;

struct inj {
    wf_ctl_t ctl;
    inj_cfg_t cfg;
    char *anchors;     /* owned: trust anchors PEM inlined into proxies */
    wf_tls_ctx_t *tls; /* owned */
    int listen_fd;
    wf_watch_t listen_watch;
    inj_conn_t *conns; /* owned list */
    unsigned nconns;
    size_t held;               /* sum of the connections' in.len */
    wf_series_t *m_held;       /* gauge: held */
    wf_k8s_source_t *src;      /* owned, or NULL */
    wf_k8s_informer_t *ns_inf; /* owned by src */
    bool listening;
    wf_series_t *m_reviews[4]; /* injected, skipped, invalid, bad_request */
};

static wf_metric_family_t fam_reviews = {
    .name = "injector_admission_reviews_total",
    .help = "AdmissionReviews answered, by result",
    .type = WF_METRIC_COUNTER,
};

static wf_metric_family_t fam_held = {
    .name = "injector_request_bytes_buffered",
    .help = "Request bytes buffered, all connections",
    .type = WF_METRIC_GAUGE,
};

/* Moves the buffered-bytes count (and its gauge) by delta. */
static void held_add(inj_t *inj, ssize_t delta)
{
    inj->held = (size_t)((ssize_t)inj->held + delta);
    if (inj->m_held != NULL)
        wf_gauge_add(inj->m_held, delta);
}

static void count(inj_t *inj, int which)
{
    if (inj->m_reviews[which] != NULL)
        wf_counter_add(inj->m_reviews[which], 1);
}

/* --- connections --------------------------------------------------------------------- */

static void conn_free_cb(wf_loop_t *loop, wf_defer_t *d)
{
    inj_conn_t *c = wf_container_of(d, inj_conn_t, defer);
    wf_sbuf_free(&c->in);
    wf_sbuf_free(&c->out);
    free(c);
}

static void conn_close(inj_conn_t *c)
{
    if (c->closed)
        return;
    c->closed = true;
    inj_t *inj = c->inj;
    held_add(inj, -(ssize_t)c->in.len);
    wf_watch_stop(&inj->ctl.loop, &c->watch);
    wf_timer_stop(&inj->ctl.loop, &c->timer);
    wf_io_destroy(c->io);
    c->io = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        inj->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    inj->nconns--;
    wf_loop_defer(&inj->ctl.loop, &c->defer, conn_free_cb);
}

static void respond(inj_conn_t *c, int status, const char *ctype, const char *body, size_t len,
                    bool close)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 411 ? "Length Required"
                         : status == 413 ? "Content Too Large"
                         : status == 414 ? "URI Too Long"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 501 ? "Not Implemented"
                         : status == 503 ? "Service Unavailable"
                         : status == 505 ? "HTTP Version Not Supported"
                                         : "Error";
    wf_sbuf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                   status, reason, ctype, len, close ? "Connection: close\r\n" : "");
    wf_sbuf_append(&c->out, body, len);
    c->close_after |= close;
}

static void error_reply(inj_conn_t *c, int status, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "%s\n", msg);
    respond(c, status, "text/plain; charset=utf-8", body, (size_t)n, true);
    count(c->inj, 3);
}

static const json_t *ns_lookup(void *data, const char *ns)
{
    inj_t *inj = data;
    if (inj->ns_inf == NULL)
        return NULL;
    wf_k8s_obj_t *o = wf_k8s_informer_get(inj->ns_inf, "", ns);
    return o != NULL ? json_object_get(json_object_get(o->json, "metadata"), "annotations") : NULL;
}

/* A complete request (head + body) is in c->in: answer it. */
static void handle(inj_conn_t *c, const char *body, size_t len)
{
    inj_t *inj = c->inj;
    wf_sbuf_t out = {0};
    wf_injector_review_stats_t st;
    int status = wf_injector_review(&inj->cfg.inject, body, len, ns_lookup, inj, &out, &st);
    if (status == 200) {
        respond(c, 200, "application/json", out.ptr, out.len, false);
        if (st.injected) {
            count(inj, 0);
            wf_log_info("pod %s: injected", st.what);
        } else if (st.invalid) {
            count(inj, 2);
            wf_log_warn("pod %s: admitted without the proxy: %s", st.what, st.reason);
        } else {
            count(inj, 1);
            wf_log_debug("pod %s: not injected: %s", st.what, st.reason);
        }
    } else {
        respond(c, status, "text/plain; charset=utf-8", out.ptr ? out.ptr : "", out.len, true);
        count(inj, 3);
        wf_log_warn("bad AdmissionReview request: %.*s", (int)(out.len ? out.len - 1 : 0),
                    out.ptr ? out.ptr : "");
    }
    wf_sbuf_free(&out);
}

/* Parses what c->in holds and queues the answers; sets close_after when
 * the connection is to close once they are sent. */
static void process(inj_conn_t *c)
{
    while (!c->close_after && c->in.len > 0) {
        if (c->head_len == 0) {
            int rc = wf_h1_parse_request(&c->parser, c->in.ptr, c->in.len);
            if (rc == WF_EAGAIN)
                return;
            if (rc < 0) {
                error_reply(c, c->parser.status ? c->parser.status : 400, c->parser.err);
                return;
            }
            c->head_len = (size_t)rc;
            const wf_h1_msg_t *m = &c->parser.msg;
            wf_str_t t = m->target;
            const char *q = memchr(t.ptr, '?', t.len);
            size_t plen = q ? (size_t)(q - t.ptr) : t.len;
            bool path_ok =
                (plen == 1 && t.ptr[0] == '/') || (plen == 7 && memcmp(t.ptr, "/inject", 7) == 0);
            if (!path_ok) {
                error_reply(c, 404, "not found: the webhook serves POST / and /inject");
                return;
            }
            if (m->method_id != WF_H1_M_POST) {
                error_reply(c, 405, "method not allowed: POST an AdmissionReview");
                return;
            }
            if (m->body == WF_H1_BODY_CHUNKED || m->body != WF_H1_BODY_LENGTH) {
                error_reply(c, 411, "a Content-Length body is required");
                return;
            }
            if ((uint64_t)m->content_length > WF_INJECTOR_MAX_BODY) {
                error_reply(c, 413, "request body too large (at most 3 MiB)");
                return;
            }
        }
        const wf_h1_msg_t *m = &c->parser.msg;
        size_t need = c->head_len + (size_t)m->content_length;
        if (c->in.len < need) {
            if ((m->flags & WF_H1_MF_CONTINUE) && !c->continued) {
                wf_sbuf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                c->continued = true;
            }
            return;
        }
        bool close = (m->flags & WF_H1_MF_CLOSE) != 0;
        handle(c, c->in.ptr + c->head_len, (size_t)m->content_length);
        c->close_after |= close;
        memmove(c->in.ptr, c->in.ptr + need, c->in.len - need);
        c->in.len -= need;
        held_add(c->inj, -(ssize_t)need);
        c->head_len = 0;
        c->continued = false;
        wf_h1_request_init(&c->parser, c->headers, INJ_MAX_HEADERS);
        wf_timer_start(&c->inj->ctl.loop, &c->timer, INJ_REQUEST_TIMEOUT_MS);
    }
}

/* Lingering after the answer: drop input until EOF, an error, the byte
 * cap or the timer (conn_timer_cb) ends it. */
static void linger(inj_conn_t *c)
{
    char buf[16384];
    for (;;) {
        ssize_t n = wf_io_recv(c->io, buf, sizeof(buf));
        if (n == WF_EAGAIN)
            return;
        c->drained += n > 0 ? (size_t)n : 0;
        if (n <= 0 || c->drained > INJ_LINGER_MAX) {
            conn_close(c);
            return;
        }
    }
}

static void conn_drive(inj_conn_t *c)
{
    for (;;) {
        /* 1. Flush what is queued. */
        while (c->out_off < c->out.len) {
            ssize_t n = wf_io_send(c->io, c->out.ptr + c->out_off, c->out.len - c->out_off);
            if (n == WF_EAGAIN)
                return;
            if (n < 0) {
                conn_close(c);
                return;
            }
            c->out_off += (size_t)n;
        }
        c->out.len = c->out_off = 0;
        if (c->lingering) {
            linger(c);
            return;
        }
        if (c->close_after || c->inj->ctl.draining) {
            /* RFC 9112 §9.6: half-close, then read and drop what the client
             * still sends (the rest of a refused body) for a moment, so the
             * kernel does not answer it with a reset that destroys our
             * response before the client reads it. */
            wf_io_shutdown(c->io);
            held_add(c->inj, -(ssize_t)c->in.len);
            c->in.len = 0;
            c->lingering = true;
            wf_timer_start(&c->inj->ctl.loop, &c->timer, INJ_LINGER_MS);
            linger(c);
            return;
        }
        /* 2. Read more. */
        size_t limit = WF_INJECTOR_MAX_BODY + WF_H1_DEFAULT_MAX_HEAD + 1;
        if (c->in.len >= limit) {
            error_reply(c, 413, "request too large");
            continue;
        }
        char buf[16384];
        ssize_t n = wf_io_recv(c->io, buf, sizeof(buf));
        if (n == WF_EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        if (c->inj->held + (size_t)n > c->inj->cfg.max_held) {
            error_reply(c, 503, "busy: too many request bytes in flight");
            continue;
        }
        size_t before = c->in.len;
        wf_sbuf_append(&c->in, buf, (size_t)n);
        held_add(c->inj, (ssize_t)(c->in.len - before));
        if (c->in.oom) {
            conn_close(c);
            return;
        }
        process(c);
    }
}

static void conn_event_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    inj_conn_t *c = wf_container_of(w, inj_conn_t, watch);
    if (c->closed)
        return;
    if (!wf_tls_io_established(c->io)) {
        int rc = wf_tls_handshake(c->io);
        if (rc == WF_EAGAIN)
            return;
        if (rc < 0) {
            wf_log_debug("TLS handshake failed: %s", wf_tls_io_reason(c->io));
            conn_close(c);
            return;
        }
    }
    conn_drive(c);
}

static void conn_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    conn_close(wf_container_of(t, inj_conn_t, timer));
}

static void accept_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    inj_t *inj = wf_container_of(w, inj_t, listen_watch);
    for (;;) {
        int fd = accept4(inj->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next edge retries */
        if (inj->nconns >= INJ_MAX_CONNS || inj->ctl.draining) {
            close(fd);
            continue;
        }
        inj_conn_t *c = calloc(1, sizeof(*c));
        wf_io_t *sock = c != NULL ? wf_io_socket_new(fd) : NULL;
        const char *why = "out of memory";
        wf_io_t *tls = sock != NULL ? wf_tls_io_new_server(inj->tls, sock, &why) : NULL;
        if (tls == NULL) {
            wf_log_warn("cannot accept a connection: %s", why);
            if (sock != NULL)
                wf_io_destroy(sock);
            else
                close(fd);
            free(c);
            continue;
        }
        c->inj = inj;
        c->io = tls;
        wf_h1_request_init(&c->parser, c->headers, INJ_MAX_HEADERS);
        wf_watch_init(&c->watch, fd, conn_event_cb);
        wf_timer_init(&c->timer, conn_timer_cb);
        c->next = inj->conns;
        if (inj->conns != NULL)
            inj->conns->prev = c;
        inj->conns = c;
        inj->nconns++;
        if (wf_watch_start(loop, &c->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP) != 0) {
            conn_close(c);
            continue;
        }
        wf_timer_start(loop, &c->timer, INJ_REQUEST_TIMEOUT_MS);
        conn_event_cb(loop, &c->watch, EPOLLIN);
    }
}

/* --- set-up ---------------------------------------------------------------------------- */

static void ns_event(wf_k8s_informer_t *inf, wf_k8s_event_t ev, wf_k8s_obj_t *obj,
                     wf_k8s_obj_t *old)
{
}

static void ns_synced(wf_k8s_informer_t *inf)
{
    inj_t *inj = inf->data;
    wf_log_info("namespaces synced: %u", inf->cache.count);
    inj->ctl.ready = inj->listening && !inj->ctl.draining;
}

static int load_tls(inj_t *inj, char *err, size_t errlen)
{
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *key = NULL;
    int rc = wf_cert_load_certs(inj->cfg.tls_cert, &certs, err, errlen);
    if (rc == 0)
        rc = wf_cert_load_key(inj->cfg.tls_key, &key, err, errlen);
    if (rc != 0) {
        sk_X509_pop_free(certs, X509_free);
        return rc;
    }
    /* The chain as PEM (the ctx wants text): re-encode what we loaded. */
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; b != NULL && i < sk_X509_num(certs); i++)
        PEM_write_bio_X509(b, sk_X509_value(certs, i));
    char *pem = NULL;
    long plen = b != NULL ? BIO_get_mem_data(b, &pem) : 0;
    wf_tls_ctx_conf_t conf = {
        .cert_chain_pem = {pem, (size_t)plen},
        .key = key,
        .trust_pem = {pem, (size_t)plen}, /* unused: no client certificate is asked for */
        .client_auth = WF_TLS_CLIENT_AUTH_OPTIONAL,
    };
    static const wf_str_t alpn[] = {WF_STR("http/1.1")};
    conf.alpn = alpn;
    conf.alpn_count = 1;
    const char *why = "out of memory";
    inj->tls = b != NULL ? wf_tls_ctx_new_server(&conf, &why) : NULL;
    if (inj->tls == NULL) {
        snprintf(err, errlen, "TLS: %s (--tls-cert %s, --tls-key %s)", why, inj->cfg.tls_cert,
                 inj->cfg.tls_key);
        rc = WF_EINVAL;
    } else {
        /* The API server presents no client certificate to webhooks. */
        SSL_CTX_set_verify(wf_tls_ctx_ssl(inj->tls), SSL_VERIFY_NONE, NULL);
    }
    BIO_free(b);
    EVP_PKEY_free(key);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

static int inj_start(inj_t *inj, char *err, size_t errlen)
{
    static const char *const results[] = {"injected", "skipped", "invalid", "bad_request"};
    wf_metrics_register(&fam_reviews);
    wf_metrics_register(&fam_held);
    inj->m_held = wf_metrics_get(inj->ctl.shard, &fam_held, WF_STR(""));
    for (size_t i = 0; i < WF_ARRAY_LEN(results); i++) {
        char l[64];
        snprintf(l, sizeof(l), "result=\"%s\"", results[i]);
        inj->m_reviews[i] = wf_metrics_get(inj->ctl.shard, &fam_reviews, wf_str_from(l));
    }
    int rc = load_tls(inj, err, errlen);
    if (rc != 0)
        return rc;
    rc = wf_listen(&inj->cfg.addr, 128, false, &inj->listen_fd);
    if (rc != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(&inj->cfg.addr, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s: %s", a, wf_strerror(rc));
        return rc;
    }
    wf_watch_init(&inj->listen_watch, inj->listen_fd, accept_cb);
    wf_watch_start(&inj->ctl.loop, &inj->listen_watch, EPOLLIN);
    inj->listening = true;
    if (inj->cfg.store == NULL && inj->cfg.kubeconfig == NULL && !inj->cfg.in_cluster) {
        inj->ctl.ready = true;
        return 0;
    }
    if (inj->cfg.store != NULL)
        inj->src = wf_k8s_local_new(&inj->ctl.loop, inj->cfg.store, err, errlen);
    else
        inj->src = wf_k8s_kube_new(&inj->ctl.loop, inj->cfg.kubeconfig, err, errlen);
    if (inj->src == NULL)
        return WF_EINVAL;
    wf_k8s_informer_cbs_t cbs = {.on_event = ns_event, .on_synced = ns_synced};
    inj->ns_inf = wf_k8s_watch(inj->src, &wf_k8s_res_namespaces, &cbs, inj, err, errlen);
    return inj->ns_inf != NULL ? 0 : WF_EINVAL;
}

static void inj_drain(wf_ctl_t *ctl)
{
    inj_t *inj = wf_container_of(ctl, inj_t, ctl);
    if (inj->listen_fd >= 0) {
        wf_watch_stop(&ctl->loop, &inj->listen_watch);
        close(inj->listen_fd);
        inj->listen_fd = -1;
    }
}

static void inj_close(wf_ctl_t *ctl)
{
    inj_t *inj = wf_container_of(ctl, inj_t, ctl);
    while (inj->conns != NULL)
        conn_close(inj->conns);
}

/* --- flags ----------------------------------------------------------------------------- */

static const char inj_usage[] =
    "usage: weft-controller injector --tls-cert FILE --tls-key FILE [flags]\n"
    "\n"
    "Serves the mutating admission webhook that adds the weft proxy to pods annotated\n"
    "linkerd.io/inject (on the pod or its namespace): HTTPS, POST / or /inject, an\n"
    "AdmissionReview v1 in, a JSONPatch out. Pods it will not inject are admitted as\n"
    "they are, with warnings for bad annotations.\n"
    "\n"
    "  --tls-cert FILE                 serving certificate (PEM, chain allowed)\n"
    "  --tls-key FILE                  its private key (PEM)\n"
    "  --addr ADDR                     listen address (default 0.0.0.0:8443)\n"
    "  --kubeconfig FILE | --kubernetes | --store DIR\n"
    "                                  where namespace annotations come from (default:\n"
    "                                  none; only the pod's annotations count)\n"
    "  --control-plane-ns NAME         control plane namespace (default linkerd)\n"
    "  --trust-domain NAME             trust domain (default cluster.local)\n"
    "  --identity-trust-anchors-file F inline this PEM bundle into proxies (default:\n"
    "                                  a reference to the linkerd-identity-trust-roots\n"
    "                                  ConfigMap)\n"
    "  --registry R                    image registry (default " WF_INJECT_DEFAULT_REGISTRY ")\n"
    "  --proxy-version V               image tag (default " WEFT_VERSION ")\n"
    "  --proxy-log-level L             default proxy log level (default " WF_INJECT_DEFAULT_LOG
    ")\n"
    "  --default-opaque-ports LIST     (default " WF_INJECT_DEFAULT_OPAQUE_PORTS ")\n"
    "  --default-skip-inbound-ports LIST   (default " WF_INJECT_DEFAULT_SKIP_PORTS ")\n"
    "  --default-skip-outbound-ports LIST  (default " WF_INJECT_DEFAULT_SKIP_PORTS ")\n"
    "  --proxy-cpu-request Q, --proxy-cpu-limit Q, --proxy-memory-request Q,\n"
    "  --proxy-memory-limit Q          default proxy resources (default none)\n"
    "  --cni                           CNI mode: no weft-init container\n"
    "  --max-buffered BYTES            request bytes held across connections before\n"
    "                                  answering 503 (default 67108864)\n"
    "  --native-sidecar                the proxy as a restartable init container (Kubernetes\n"
    "                                  1.29+), ready before the app starts\n"
    "  --cluster-networks CIDRS        the proxies' profile networks (default\n"
    "                                  " WF_INJECT_DEFAULT_CLUSTER_NETWORKS ")\n"
    "\n" WF_CTL_COMMON_USAGE "  (the injector admin address defaults to 0.0.0.0:9995)\n";

enum {
    OPT_TLS_CERT = WF_CTL_OPT_SUB,
    OPT_TLS_KEY,
    OPT_ADDR,
    OPT_KUBECONFIG,
    OPT_KUBERNETES,
    OPT_STORE,
    OPT_CP_NS,
    OPT_TRUST_DOMAIN,
    OPT_ANCHORS,
    OPT_REGISTRY,
    OPT_VERSION,
    OPT_LOG,
    OPT_OPAQUE,
    OPT_SKIP_IN,
    OPT_SKIP_OUT,
    OPT_CPU_REQ,
    OPT_CPU_LIM,
    OPT_MEM_REQ,
    OPT_MEM_LIM,
    OPT_CNI,
    OPT_NATIVE,
    OPT_NETS,
    OPT_MAX_HELD,
};

#define usage_error(...) wf_ctl_usage_error("injector", __VA_ARGS__)

static int parse_flags(int argc, char **argv, wf_ctl_cfg_t *common, inj_cfg_t *cfg)
{
    static const struct option opts[] = {
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"addr", required_argument, NULL, OPT_ADDR},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"kubernetes", no_argument, NULL, OPT_KUBERNETES},
        {"store", required_argument, NULL, OPT_STORE},
        {"control-plane-ns", required_argument, NULL, OPT_CP_NS},
        {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
        {"identity-trust-anchors-file", required_argument, NULL, OPT_ANCHORS},
        {"registry", required_argument, NULL, OPT_REGISTRY},
        {"proxy-version", required_argument, NULL, OPT_VERSION},
        {"proxy-log-level", required_argument, NULL, OPT_LOG},
        {"default-opaque-ports", required_argument, NULL, OPT_OPAQUE},
        {"default-skip-inbound-ports", required_argument, NULL, OPT_SKIP_IN},
        {"default-skip-outbound-ports", required_argument, NULL, OPT_SKIP_OUT},
        {"proxy-cpu-request", required_argument, NULL, OPT_CPU_REQ},
        {"proxy-cpu-limit", required_argument, NULL, OPT_CPU_LIM},
        {"proxy-memory-request", required_argument, NULL, OPT_MEM_REQ},
        {"proxy-memory-limit", required_argument, NULL, OPT_MEM_LIM},
        {"cni", no_argument, NULL, OPT_CNI},
        {"native-sidecar", no_argument, NULL, OPT_NATIVE},
        {"cluster-networks", required_argument, NULL, OPT_NETS},
        {"max-buffered", required_argument, NULL, OPT_MAX_HELD},
        WF_CTL_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    wf_ctl_cfg_defaults(common);
    wf_addr_parse(&common->admin_addr, WF_STR("0.0.0.0:9995"));
    memset(cfg, 0, sizeof(*cfg));
    wf_inject_cfg_defaults(&cfg->inject);
    wf_addr_parse(&cfg->addr, WF_STR("0.0.0.0:8443"));
    cfg->max_held = INJ_MAX_HELD;
    opterr = 0;
    optind = 1;
    int c;
    char err[256];
    const char **quantity = NULL;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        wf_portset_t *ps = NULL;
        switch (c) {
        case OPT_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case OPT_ADDR:
            if (wf_addr_parse(&cfg->addr, wf_str_from(optarg)) != 0)
                return usage_error("--addr: invalid address \"%s\" (expected IP:PORT)", optarg);
            break;
        case OPT_KUBECONFIG:
            cfg->kubeconfig = optarg;
            break;
        case OPT_KUBERNETES:
            cfg->in_cluster = true;
            break;
        case OPT_STORE:
            cfg->store = optarg;
            break;
        case OPT_CP_NS:
            if (!wf_k8s_name_valid(optarg) || strchr(optarg, '.') != NULL)
                return usage_error("--control-plane-ns: \"%s\" is not a DNS-1123 label", optarg);
            cfg->inject.cp_ns = optarg;
            break;
        case OPT_TRUST_DOMAIN:
            if (!wf_k8s_name_valid(optarg))
                return usage_error("--trust-domain: \"%s\" is not a DNS name", optarg);
            cfg->inject.trust_domain = optarg;
            break;
        case OPT_ANCHORS:
            cfg->anchors_file = optarg;
            break;
        case OPT_REGISTRY:
            cfg->inject.registry = optarg;
            break;
        case OPT_VERSION:
            cfg->inject.version = optarg;
            break;
        case OPT_LOG: {
            wf_log_level_t l;
            if (wf_log_level_parse(wf_str_from(optarg), &l) != 0)
                return usage_error("--proxy-log-level: \"%s\" is not a log level list", optarg);
            cfg->inject.log_level = optarg;
            break;
        }
        case OPT_OPAQUE:
        case OPT_SKIP_IN:
        case OPT_SKIP_OUT:
            ps = malloc(sizeof(*ps));
            if (ps == NULL || (optarg[0] != '\0' &&
                               wf_portset_parse(ps, wf_str_from(optarg), err, sizeof(err)) != 0)) {
                free(ps);
                return usage_error("%s", err);
            }
            free(ps);
            if (c == OPT_OPAQUE)
                cfg->inject.opaque_ports = optarg;
            else if (c == OPT_SKIP_IN)
                cfg->inject.skip_inbound = optarg;
            else
                cfg->inject.skip_outbound = optarg;
            break;
        case OPT_CPU_REQ:
        case OPT_CPU_LIM:
        case OPT_MEM_REQ:
        case OPT_MEM_LIM:
            quantity = c == OPT_CPU_REQ   ? &cfg->inject.cpu_request
                       : c == OPT_CPU_LIM ? &cfg->inject.cpu_limit
                       : c == OPT_MEM_REQ ? &cfg->inject.memory_request
                                          : &cfg->inject.memory_limit;
            if (!wf_k8s_quantity_valid(optarg))
                return usage_error("\"%s\" is not a Kubernetes quantity (e.g. 100m, 64Mi)", optarg);
            *quantity = optarg;
            break;
        case OPT_CNI:
            cfg->inject.cni = true;
            break;
        case OPT_NATIVE:
            cfg->inject.native_sidecar = true;
            break;
        case OPT_MAX_HELD: {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 65536 || v > (1ull << 32))
                return usage_error("--max-buffered: \"%s\" is not a byte count 65536..4294967296",
                                   optarg);
            cfg->max_held = (size_t)v;
            break;
        }
        case OPT_NETS: {
            wf_cidr_t nets[64];
            if (wf_cidr_list_parse(nets, WF_ARRAY_LEN(nets), wf_str_from(optarg), err,
                                   sizeof(err)) < 0)
                return usage_error("--cluster-networks: %s", err);
            cfg->inject.cluster_networks = optarg;
            break;
        }
        case WF_CTL_OPT_HELP:
            fputs(inj_usage, stdout);
            return -1;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        case '?':
            return usage_error("unknown flag \"%s\"", argv[optind - 1]);
        default:
            if (wf_ctl_cfg_apply(common, c, optarg, err, sizeof(err)) != 0)
                return usage_error("%s", err);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
        return usage_error("%s", "--tls-cert and --tls-key are required");
    if ((cfg->store != NULL) + (cfg->kubeconfig != NULL) + cfg->in_cluster > 1)
        return usage_error("%s", "at most one of --store, --kubeconfig or --kubernetes");
    return 0;
}

static char *read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    wf_sbuf_t b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1u << 20))
        wf_sbuf_append(&b, chunk, n);
    fclose(f);
    if (b.len == 0 || strstr(b.ptr, "-----BEGIN CERTIFICATE-----") == NULL) {
        snprintf(err, errlen, "%s: no PEM certificate in it", path);
        wf_sbuf_free(&b);
        return NULL;
    }
    return b.ptr;
}

int wf_injector_main(int argc, char **argv)
{
    inj_t *inj = calloc(1, sizeof(*inj));
    if (inj == NULL) {
        fprintf(stderr, "weft-controller injector: out of memory\n");
        return WF_CTL_EXIT_FAIL;
    }
    wf_ctl_cfg_t common;
    int rc = parse_flags(argc, argv, &common, &inj->cfg);
    if (rc != 0) {
        free(inj);
        return rc < 0 ? WF_CTL_EXIT_OK : rc;
    }
    inj->listen_fd = -1;
    inj->ctl.on_drain = inj_drain;
    inj->ctl.on_close = inj_close;
    char err[768];
    int exit_code = WF_CTL_EXIT_OK;
    if (inj->cfg.anchors_file != NULL) {
        inj->anchors = read_text(inj->cfg.anchors_file, err, sizeof(err));
        inj->cfg.inject.trust_anchors_pem = inj->anchors;
    }
    if ((inj->cfg.anchors_file != NULL && inj->anchors == NULL) ||
        wf_ctl_init(&inj->ctl, &common, "injector", err, sizeof(err)) != 0 ||
        inj_start(inj, err, sizeof(err)) != 0) {
        if (wf_log_enabled(WF_LOG_ERROR))
            wf_log_error("cannot start: %s", err);
        else
            fprintf(stderr, "weft-controller injector: %s\n", err);
        exit_code = WF_CTL_EXIT_FAIL;
    } else {
        char a[WF_ADDR_STRLEN], ad[WF_ADDR_STRLEN];
        wf_addr_t bound;
        if (wf_local_addr(inj->listen_fd, &bound) != 0)
            bound = inj->cfg.addr;
        wf_addr_format(&bound, a, sizeof(a));
        wf_addr_format(&inj->ctl.cfg.admin_addr, ad, sizeof(ad));
        wf_log_info("weft-controller %s injector serving HTTPS on %s (admin %s); namespaces "
                    "from %s; control plane ns %s",
                    WEFT_VERSION, a, ad,
                    inj->cfg.store        ? inj->cfg.store
                    : inj->cfg.kubeconfig ? inj->cfg.kubeconfig
                    : inj->cfg.in_cluster ? "(in-cluster)"
                                          : "(nowhere: pod annotations only)",
                    inj->cfg.inject.cp_ns);
        wf_ctl_run(&inj->ctl);
        wf_log_info("drained; exiting");
    }
    if (inj->ctl.loop_ok) {
        inj_drain(&inj->ctl);
        inj_close(&inj->ctl);
        wf_loop_run_once(&inj->ctl.loop, 0);
    }
    if (inj->src != NULL)
        wf_k8s_source_free(inj->src);
    for (size_t i = 0; i < WF_ARRAY_LEN(inj->m_reviews); i++)
        if (inj->m_reviews[i] != NULL)
            wf_metrics_put(inj->ctl.shard, inj->m_reviews[i], 0);
    if (inj->m_held != NULL)
        wf_metrics_put(inj->ctl.shard, inj->m_held, 0);
    if (inj->tls != NULL)
        wf_tls_ctx_unref(inj->tls);
    wf_ctl_destroy(&inj->ctl);
    free(inj->anchors);
    free(inj);
    return exit_code;
}
