/*
 * loadgen.c — weft-loadgen: an open-loop HTTP/1.1, HTTP/2 and gRPC load
 * generator for the benchmarks (bench/README.md).
 *
 * One thread, one epoll loop, N connections. Request j is due at
 * t0 + j/rate on connection j mod N (sched.h), whatever happened to the
 * requests before it; its latency is measured from that intended time to
 * the end of its response, into a 3-significant-digit log-linear histogram
 * (hist.h). Timeline of a run:
 *
 *   connect all | warm-up (sent, not measured) | window (measured) | drain
 *   t0 ........ t_win ........................ t_end ........... t_deadline
 *
 * Requests due in the window are measured; the achieved rate counts the
 * successes that *complete* in the window, divided by its length. No
 * request is scheduled at or after t_end; what is still outstanding at
 * t_deadline has timed out and counts as an error. A run whose achieved
 * rate is below 99 % of the target, or that saw any error (whole run,
 * warm-up included), is FAILED (exit status 1).
 *
 * The loop sleeps with epoll_pwait2 (ns timeout) and a 1 ns timer slack,
 * so sends leave within a few µs of their due time on an idle core; any
 * lateness of ours counts against the measurement, never in its favour.
 */
#include "grpc.h"
#include "h1.h"
#include "lg.h"
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_NS (5ull * 1000000000ull)
#define REOPEN_BACKOFF_NS (50ull * 1000000ull)
#define READ_CHUNK (64 * 1024)

static const char *const outcome_names[LG_NOUTCOMES] = {
    "ok", "err_status", "err_proto", "err_io", "err_timeout", "err_backlog",
};

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- request accounting ------------------------------------------------ */

void lg_run_complete(lg_run_t *r, uint64_t due, lg_outcome_t o)
{
    r->outstanding--;
    r->st.completed[o]++;
    if (o != LG_OK)
        return;
    if (r->now >= r->t_win && r->now < r->t_end)
        r->st.ok_in_window++;
    if (due >= r->t_win && due < r->t_end)
        lg_hist_record(&r->hist, r->now > due ? r->now - due : 0);
}

/* ---- connections ------------------------------------------------------- */

void lg_conn_mark_dirty(lg_conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = c->run->dirty;
    c->run->dirty = c;
}

int lg_conn_append(lg_conn_t *c, const void *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        /* Compact first; grow only if that is not enough. */
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 16384;
            while (cap < c->out_len + n)
                cap *= 2;
            char *nb = realloc(c->out, cap);
            if (nb == NULL)
                return -1;
            c->out = nb;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

static void conn_arm(lg_conn_t *c, bool want_out)
{
    if (c->fd < 0 || (c->state == LG_CONN_OPEN && want_out == c->want_out))
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->run->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

/* Starts a non-blocking connect. Protocol state must be initialised. */
static void conn_open(lg_conn_t *c)
{
    lg_run_t *r = c->run;
    c->fd = socket(r->cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->state = LG_CONN_CLOSED;
        c->reopen_at = r->now + REOPEN_BACKOFF_NS;
        r->st.conn_failures++;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    r->st.connects++;
    c->state = LG_CONN_CONNECTING;
    c->want_out = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
    if (connect(c->fd, (const struct sockaddr *)&r->cfg->addr, r->cfg->addrlen) == 0)
        c->state = LG_CONN_OPEN; /* EPOLLOUT follows at once and flushes */
    else if (errno != EINPROGRESS)
        c->state = LG_CONN_CONNECTING; /* the error surfaces via SO_ERROR */
}

/*
 * Drops the socket. Requests written on it fail with `why`; unwritten ones
 * wait for the next connection, opened at once after a clean close, after
 * a short back-off otherwise.
 */
static void conn_drop(lg_conn_t *c, lg_outcome_t why, bool clean)
{
    lg_run_t *r = c->run;
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == LG_CONN_CONNECTING)
        r->st.conn_failures++;
    else
        r->st.reconnects++;
    c->out_off = c->out_len = 0;
    c->ops->fail(c, why, false);
    c->state = LG_CONN_CLOSED;
    c->reopen_at = r->now + (clean ? 0 : REOPEN_BACKOFF_NS);
    if (c->ops->init(c) != 0) {
        fprintf(stderr, "weft-loadgen: out of memory\n");
        exit(2);
    }
}

/* Produces and writes pending output; arms EPOLLOUT if the socket is full. */
static void conn_flush(lg_conn_t *c)
{
    if (c->state != LG_CONN_OPEN)
        return;
    for (;;) {
        int rc = c->ops->output(c);
        if (rc != 0) {
            conn_drop(c, rc > 0 ? LG_ERR_IO : LG_ERR_PROTO, rc > 0);
            return;
        }
        if (c->out_off == c->out_len)
            break;
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_arm(c, true);
                return;
            }
            conn_drop(c, LG_ERR_IO, false);
            return;
        }
        c->out_off += (size_t)n;
    }
    conn_arm(c, false);
}

static void conn_readable(lg_conn_t *c)
{
    lg_run_t *r = c->run;
    static char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        r->now = lg_now_ns(); /* the response's end, as close as we can see it */
        if (n > 0) {
            int rc = c->ops->input(c, buf, (size_t)n);
            if (rc != 0) {
                conn_drop(c, rc > 0 ? LG_ERR_IO : LG_ERR_PROTO, rc > 0);
                return;
            }
            if ((size_t)n < sizeof(buf))
                return; /* drained (level-triggered: a late byte wakes us again) */
            continue;
        }
        if (n == 0) {
            conn_drop(c, LG_ERR_IO, true);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        conn_drop(c, LG_ERR_IO, false);
        return;
    }
}

static void conn_event(lg_conn_t *c, uint32_t events)
{
    if (c->state == LG_CONN_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            conn_drop(c, LG_ERR_IO, false);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        c->state = LG_CONN_OPEN;
        lg_conn_mark_dirty(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        conn_readable(c);
        if (c->state != LG_CONN_OPEN)
            return;
    }
    if (events & EPOLLOUT)
        lg_conn_mark_dirty(c);
}

/* ---- the run ----------------------------------------------------------- */

static void sample_procs(const lg_config_t *cfg, lg_procstat_t *out)
{
    for (int i = 0; i < cfg->nprocs; i++)
        if (lg_procstat_read(cfg->procs[i].pid, &out[i]) != 0)
            out[i] = (lg_procstat_t){0};
}

/* Flushes every dirty connection (output produced by this iteration). */
static void flush_dirty(lg_run_t *r)
{
    while (r->dirty != NULL) {
        lg_conn_t *c = r->dirty;
        r->dirty = c->next_dirty;
        c->dirty = false;
        conn_flush(c);
    }
}

/*
 * Waits for events until `until` (ns) at the latest, and handles them.
 * The last cfg->spin_ns before `until` are polled rather than slept: waking
 * a halted vCPU from a timer takes tens of µs on a VM, and that delay
 * would be added to every request's latency.
 */
static void poll_once(lg_run_t *r, uint64_t until)
{
    struct epoll_event evs[64];
    uint64_t wait = until > r->now ? until - r->now : 0;
    wait = wait > r->cfg->spin_ns ? wait - r->cfg->spin_ns : 0;
    struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    int n = epoll_pwait2(r->ep, evs, 64, &ts, NULL);
    r->now = lg_now_ns();
    for (int i = 0; i < n; i++)
        conn_event(evs[i].data.ptr, evs[i].events);
}

/* Reopens closed connections whose back-off passed; returns the earliest
 * pending reopen time (UINT64_MAX if none). */
static uint64_t reopen_due(lg_run_t *r)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < r->cfg->conns; i++) {
        lg_conn_t *c = &r->conns[i];
        if (c->state != LG_CONN_CLOSED)
            continue;
        if (c->reopen_at <= r->now)
            conn_open(c);
        else if (c->reopen_at < next)
            next = c->reopen_at;
    }
    return next;
}

static int run_setup(lg_run_t *r, const lg_config_t *cfg)
{
    memset(r, 0, sizeof(*r));
    r->cfg = cfg;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0 || lg_hist_init(&r->hist, 3) != 0 || lg_hist_init(&r->lag, 3) != 0)
        return -1;
    /* The request payload, built once. */
    if (cfg->proto == LG_PROTO_H1) {
        size_t cap = cfg->body + 1024;
        r->req = malloc(cap);
        r->req_len =
            r->req ? lg_h1_build_request(r->req, cap, cfg->authority, cfg->path, cfg->body) : 0;
        if (r->req_len == 0)
            return -1;
        r->resp_expect = cfg->expect == -2 ? (long long)cfg->body : cfg->expect;
    } else if (cfg->proto == LG_PROTO_GRPC) {
        r->req_len = lg_grpc_frame_len(cfg->body);
        if ((r->req = malloc(r->req_len)) == NULL)
            return -1;
        lg_grpc_frame((uint8_t *)r->req, cfg->body);
        r->resp_expect = cfg->expect == -2 ? (long long)r->req_len : cfg->expect;
    } else {
        r->req_len = cfg->body;
        if ((r->req = malloc(r->req_len + 1)) == NULL)
            return -1;
        memset(r->req, 'x', r->req_len);
        r->resp_expect = cfg->expect == -2 ? (long long)cfg->body : cfg->expect;
    }
    snprintf(r->clen, sizeof(r->clen), "%zu", r->req_len);
    r->conns = calloc(cfg->conns, sizeof(*r->conns));
    if (r->conns == NULL)
        return -1;
    const lg_proto_ops_t *ops = cfg->proto == LG_PROTO_H1 ? &lg_h1_ops : &lg_h2_ops;
    for (uint32_t i = 0; i < cfg->conns; i++) {
        lg_conn_t *c = &r->conns[i];
        c->run = r;
        c->ops = ops;
        c->idx = i;
        c->fd = -1;
        if (ops->init(c) != 0)
            return -1;
    }
    return 0;
}

static void run_teardown(lg_run_t *r)
{
    for (uint32_t i = 0; r->conns != NULL && i < r->cfg->conns; i++) {
        lg_conn_t *c = &r->conns[i];
        if (c->fd >= 0)
            close(c->fd);
        c->ops->destroy(c);
        free(c->out);
    }
    free(r->conns);
    free(r->req);
    if (r->ep >= 0)
        close(r->ep);
    lg_hist_free(&r->hist);
    lg_hist_free(&r->lag);
}

/* Opens every connection and waits (bounded) until all are up. */
static int run_connect(lg_run_t *r)
{
    r->now = lg_now_ns();
    for (uint32_t i = 0; i < r->cfg->conns; i++)
        conn_open(&r->conns[i]);
    uint64_t deadline = r->now + CONNECT_TIMEOUT_NS;
    for (;;) {
        uint32_t up = 0;
        for (uint32_t i = 0; i < r->cfg->conns; i++)
            up += r->conns[i].state == LG_CONN_OPEN;
        if (up == r->cfg->conns)
            break;
        if (r->now >= deadline)
            return -1;
        flush_dirty(r);
        uint64_t next = reopen_due(r);
        poll_once(r, next < deadline ? next : deadline);
    }
    flush_dirty(r); /* HTTP/2 prefaces go out before the clock starts */
    r->st.conn_failures = 0;
    r->st.reconnects = 0;
    return 0;
}

/* The measured part: schedule, send, receive, until all is done or the
 * drain deadline. Samples the watched processes at the window's edges. */
static void run_load(lg_run_t *r, lg_procstat_t *p0, lg_procstat_t *p1)
{
    const lg_config_t *cfg = r->cfg;
    r->now = lg_now_ns();
    r->sched = (lg_sched_t){.t0 = r->now + 1000000, .rate = cfg->rate, .nconns = cfg->conns};
    r->t_win = r->sched.t0 + (uint64_t)(cfg->warmup_s * 1e9);
    r->t_end = r->t_win + (uint64_t)(cfg->duration_s * 1e9);
    r->t_deadline = r->t_end + (uint64_t)(cfg->drain_s * 1e9);
    bool sampled_win = false, sampled_end = false;
    uint64_t j = 0, due = lg_sched_due(&r->sched, 0);

    for (;;) {
        /* Everything due by now goes to its connection, late or not. */
        while (due <= r->now && due < r->t_end) {
            r->outstanding++;
            r->st.submitted++;
            if (due >= r->t_win)
                lg_hist_record(&r->lag, r->now - due);
            lg_conn_t *c = &r->conns[lg_sched_conn(&r->sched, j)];
            c->ops->submit(c, due);
            due = lg_sched_due(&r->sched, ++j);
        }
        if (!sampled_win && r->now >= r->t_win) {
            sample_procs(cfg, p0);
            sampled_win = true;
        }
        if (!sampled_end && r->now >= r->t_end) {
            sample_procs(cfg, p1);
            sampled_end = true;
        }
        if (r->now >= r->t_end && r->outstanding == 0)
            break;
        if (r->now >= r->t_deadline)
            break;
        flush_dirty(r);
        uint64_t next = r->t_deadline;
        if (due < r->t_end && due < next)
            next = due;
        if (!sampled_win && r->t_win < next)
            next = r->t_win;
        if (!sampled_end && r->t_end < next)
            next = r->t_end;
        uint64_t reopen = reopen_due(r);
        if (reopen < next)
            next = reopen;
        poll_once(r, next);
    }
    /* Whatever is left has missed the deadline. */
    for (uint32_t i = 0; i < cfg->conns; i++)
        r->conns[i].ops->fail(&r->conns[i], LG_ERR_TIMEOUT, true);
}

/* ---- reporting --------------------------------------------------------- */

static const char *proto_name(lg_proto_t p)
{
    return p == LG_PROTO_H1 ? "h1" : p == LG_PROTO_H2 ? "h2" : "grpc";
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static int report(const lg_run_t *r, const lg_procstat_t *p0, const lg_procstat_t *p1)
{
    const lg_config_t *cfg = r->cfg;
    const lg_hist_t *h = &r->hist;
    uint64_t errors = 0;
    for (int o = LG_OK + 1; o < LG_NOUTCOMES; o++)
        errors += r->st.completed[o];
    double achieved = (double)r->st.ok_in_window / cfg->duration_s;
    unsigned v = lg_verdict(cfg->rate, achieved, errors);
    const char *verdict = v ? "FAILED" : "PASS";
    uint64_t p50 = lg_hist_percentile(h, 50), p90 = lg_hist_percentile(h, 90),
             p99 = lg_hist_percentile(h, 99), p999 = lg_hist_percentile(h, 99.9);
    uint64_t mx = h->total ? h->max : 0;

    if (!cfg->quiet) {
        printf("weft-loadgen %s -> %s: target %.1f req/s over %u connections, body %zu B, "
               "warm-up %.1f s, window %.1f s\n",
               proto_name(cfg->proto), cfg->target, cfg->rate, cfg->conns, cfg->body, cfg->warmup_s,
               cfg->duration_s);
        printf("  achieved   %.1f req/s (%llu ok in window; %.2f%% of target)\n", achieved,
               (unsigned long long)r->st.ok_in_window, 100.0 * achieved / cfg->rate);
        printf("  errors     %llu (status %llu, protocol %llu, io %llu, timeout %llu, backlog "
               "%llu); reconnects %llu, connect failures %llu\n",
               (unsigned long long)errors, (unsigned long long)r->st.completed[LG_ERR_STATUS],
               (unsigned long long)r->st.completed[LG_ERR_PROTO],
               (unsigned long long)r->st.completed[LG_ERR_IO],
               (unsigned long long)r->st.completed[LG_ERR_TIMEOUT],
               (unsigned long long)r->st.completed[LG_ERR_BACKLOG],
               (unsigned long long)r->st.reconnects, (unsigned long long)r->st.conn_failures);
        printf("  latency    from intended send time, %llu samples: p50 %.1f  p90 %.1f  p99 %.1f"
               "  p99.9 %.1f  max %.1f  mean %.1f  (µs)\n",
               (unsigned long long)h->total, us(p50), us(p90), us(p99), us(p999), us(mx),
               lg_hist_mean(h) / 1000.0);
        printf("  send lag   loop wake-up after the due time (included above): p50 %.1f  p99 %.1f"
               "  max %.1f  (µs)\n",
               us(lg_hist_percentile(&r->lag, 50)), us(lg_hist_percentile(&r->lag, 99)),
               us(r->lag.total ? r->lag.max : 0));
        for (int i = 0; i < cfg->nprocs; i++) {
            uint64_t d = p1[i].cpu_ns - p0[i].cpu_ns;
            printf("  process    %s (pid %d): %.1f µs CPU/request, RSS %.1f MiB, peak %.1f MiB\n",
                   cfg->procs[i].name, (int)cfg->procs[i].pid,
                   r->st.ok_in_window ? us(d) / (double)r->st.ok_in_window : 0.0,
                   (double)p1[i].rss_kb / 1024.0, (double)p1[i].hwm_kb / 1024.0);
        }
        printf("  verdict    %s%s%s\n", verdict,
               v & LG_FAIL_RATE ? " (rate below 99% of target)" : "",
               v & LG_FAIL_ERRORS ? " (errors)" : "");
    }
    printf("RESULT proto=%s target_rps=%.1f achieved_rps=%.1f conns=%u body=%zu warmup_s=%.2f "
           "duration_s=%.2f samples=%llu ok=%llu errors=%llu",
           proto_name(cfg->proto), cfg->rate, achieved, cfg->conns, cfg->body, cfg->warmup_s,
           cfg->duration_s, (unsigned long long)h->total,
           (unsigned long long)r->st.completed[LG_OK], (unsigned long long)errors);
    for (int o = LG_OK + 1; o < LG_NOUTCOMES; o++)
        printf(" %s=%llu", outcome_names[o], (unsigned long long)r->st.completed[o]);
    printf(" reconnects=%llu p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "mean_us=%.1f lag_p50_us=%.1f lag_p99_us=%.1f lag_max_us=%.1f verdict=%s",
           (unsigned long long)r->st.reconnects, us(p50), us(p90), us(p99), us(p999), us(mx),
           lg_hist_mean(h) / 1000.0, us(lg_hist_percentile(&r->lag, 50)),
           us(lg_hist_percentile(&r->lag, 99)), us(r->lag.total ? r->lag.max : 0), verdict);
    for (int i = 0; i < cfg->nprocs; i++) {
        double n = r->st.ok_in_window ? (double)r->st.ok_in_window : 1.0;
        printf(" proc.%s.cpu_us_per_req=%.2f proc.%s.cpu_tick_us_per_req=%.2f proc.%s.rss_kb=%llu "
               "proc.%s.hwm_kb=%llu",
               cfg->procs[i].name, us(p1[i].cpu_ns - p0[i].cpu_ns) / n, cfg->procs[i].name,
               us(p1[i].cpu_ticks_ns - p0[i].cpu_ticks_ns) / n, cfg->procs[i].name,
               (unsigned long long)p1[i].rss_kb, cfg->procs[i].name,
               (unsigned long long)p1[i].hwm_kb);
    }
    for (int i = 0; i < cfg->ntags; i++)
        printf(" %s", cfg->tags[i]);
    printf("\n");
    fflush(stdout);

    if (cfg->hist_path != NULL) {
        FILE *f = fopen(cfg->hist_path, "w");
        if (f == NULL || lg_hist_write_hgrm(h, f, 1e6, 5) != 0) {
            fprintf(stderr, "weft-loadgen: cannot write %s: %s\n", cfg->hist_path, strerror(errno));
            if (f != NULL)
                fclose(f);
            return 2;
        }
        fclose(f);
    }
    return v ? 1 : 0;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: weft-loadgen [options] HOST:PORT\n"
            "Open-loop load: request j is due at t0 + j/RATE on connection j mod CONNS;\n"
            "latency counts from that intended time. Exit 0 PASS, 1 FAILED, 2 usage/setup.\n"
            "  --proto h1|h2|grpc   HTTP/1.1 keep-alive, h2c prior knowledge, gRPC unary (h1)\n"
            "  --rate R             requests/s over all connections (1000)\n"
            "  --conns N            connections (16)\n"
            "  --depth N            HTTP/1.1 requests in flight per connection (1)\n"
            "  --body BYTES         request payload; k suffix = KiB (0: GET)\n"
            "  --expect BYTES|-1    response payload to insist on (default: the echo size)\n"
            "  --warmup S           seconds sent but not measured (1)\n"
            "  --duration S         measured window in seconds (5)\n"
            "  --drain S            grace after the window for outstanding requests (2)\n"
            "  --cpu N              pin to CPU N (sched_setaffinity)\n"
            "  --spin-us N          poll instead of sleeping the last N µs before a\n"
            "                       send is due (50; 0 sleeps until the due time)\n"
            "  --path P             request path (/ ; gRPC %s)\n"
            "  --authority A        Host / :authority (HOST:PORT)\n"
            "  --hist FILE          write the percentile distribution (.hgrm, ms) to FILE\n"
            "  --proc NAME=PID      sample PID's CPU and RSS over the window (repeatable)\n"
            "  --tag KEY=VALUE      echo in the RESULT line (repeatable)\n"
            "  --quiet              print only the RESULT line\n",
            LG_GRPC_PATH);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    if (*end == 'k' || *end == 'K') {
        v *= 1024;
        end++;
    }
    if (*end != '\0' || v > (1ull << 30))
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_target(const char *s, lg_config_t *cfg)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    memcpy(&cfg->addr, ai->ai_addr, ai->ai_addrlen);
    cfg->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    cfg->target = s;
    return 0;
}

static int parse_args(int argc, char **argv, lg_config_t *cfg)
{
    *cfg = (lg_config_t){
        .proto = LG_PROTO_H1,
        .rate = 1000,
        .conns = 16,
        .depth = 1,
        .expect = -2,
        .warmup_s = 1,
        .duration_s = 5,
        .drain_s = 2,
        .cpu = -1,
        .spin_ns = 50000,
    };
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        size_t z;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--quiet") == 0) {
            cfg->quiet = true;
            continue;
        } else if (a[0] != '-') {
            target = a;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "weft-loadgen: %s needs a value\n", a);
            return -1;
        }
        i++;
        int bad = 0;
        if (strcmp(a, "--proto") == 0) {
            if (strcmp(v, "h1") == 0)
                cfg->proto = LG_PROTO_H1;
            else if (strcmp(v, "h2") == 0)
                cfg->proto = LG_PROTO_H2;
            else if (strcmp(v, "grpc") == 0)
                cfg->proto = LG_PROTO_GRPC;
            else
                bad = 1;
        } else if (strcmp(a, "--rate") == 0) {
            bad = parse_double(v, 0.001, 1e7, &cfg->rate);
        } else if (strcmp(a, "--conns") == 0) {
            bad = parse_double(v, 1, 10000, &d);
            cfg->conns = (uint32_t)d;
        } else if (strcmp(a, "--depth") == 0) {
            bad = parse_double(v, 1, 1024, &d);
            cfg->depth = (uint32_t)d;
        } else if (strcmp(a, "--body") == 0) {
            bad = parse_size(v, &cfg->body);
        } else if (strcmp(a, "--expect") == 0) {
            if (strcmp(v, "-1") == 0)
                cfg->expect = -1;
            else if ((bad = parse_size(v, &z)) == 0)
                cfg->expect = (long long)z;
        } else if (strcmp(a, "--warmup") == 0) {
            bad = parse_double(v, 0, 3600, &cfg->warmup_s);
        } else if (strcmp(a, "--duration") == 0) {
            bad = parse_double(v, 0.01, 3600, &cfg->duration_s);
        } else if (strcmp(a, "--drain") == 0) {
            bad = parse_double(v, 0, 3600, &cfg->drain_s);
        } else if (strcmp(a, "--spin-us") == 0) {
            bad = parse_double(v, 0, 10000, &d);
            cfg->spin_ns = (uint64_t)(d * 1000.0);
        } else if (strcmp(a, "--cpu") == 0) {
            bad = parse_double(v, 0, CPU_SETSIZE - 1, &d);
            cfg->cpu = (int)d;
        } else if (strcmp(a, "--path") == 0) {
            cfg->path = v;
        } else if (strcmp(a, "--authority") == 0) {
            cfg->authority = v;
        } else if (strcmp(a, "--hist") == 0) {
            cfg->hist_path = v;
        } else if (strcmp(a, "--proc") == 0) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v || cfg->nprocs == LG_MAX_PROCS ||
                parse_double(eq + 1, 1, 1e9, &d) != 0) {
                bad = 1;
            } else {
                /* NAME=PID: split in place (argv is ours to edit). */
                argv[i][eq - v] = '\0';
                cfg->procs[cfg->nprocs++] = (lg_proc_t){.name = v, .pid = (pid_t)d};
            }
        } else if (strcmp(a, "--tag") == 0) {
            if (strchr(v, '=') == NULL || strchr(v, ' ') != NULL || cfg->ntags == LG_MAX_TAGS)
                bad = 1;
            else
                cfg->tags[cfg->ntags++] = v;
        } else {
            fprintf(stderr, "weft-loadgen: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "weft-loadgen: bad value for %s: %s\n", a, v);
            return -1;
        }
    }
    if (target == NULL || parse_target(target, cfg) != 0) {
        fprintf(stderr, "weft-loadgen: need a numeric HOST:PORT target\n");
        return -1;
    }
    if (cfg->authority == NULL)
        cfg->authority = target;
    if (cfg->path == NULL)
        cfg->path = cfg->proto == LG_PROTO_GRPC ? LG_GRPC_PATH : "/";
    return 0;
}

int main(int argc, char **argv)
{
    lg_config_t cfg;
    if (parse_args(argc, argv, &cfg) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cfg.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cfg.cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            fprintf(stderr, "weft-loadgen: cannot pin to CPU %d: %s\n", cfg.cpu, strerror(errno));
            return 2;
        }
    }
    /* Timers fire on time rather than up to 50 µs late (the default slack). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    lg_run_t run;
    lg_procstat_t p0[LG_MAX_PROCS] = {{0}}, p1[LG_MAX_PROCS] = {{0}};
    if (run_setup(&run, &cfg) != 0) {
        fprintf(stderr, "weft-loadgen: setup failed (out of memory?)\n");
        run_teardown(&run);
        return 2;
    }
    if (run_connect(&run) != 0) {
        fprintf(stderr, "weft-loadgen: cannot connect all %u connections to %s within 5 s\n",
                cfg.conns, cfg.target);
        run_teardown(&run);
        return 2;
    }
    run_load(&run, p0, p1);
    int rc = report(&run, p0, p1);
    run_teardown(&run);
    return rc;
}
