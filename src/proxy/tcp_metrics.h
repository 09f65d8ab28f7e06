/*
 * tcp_metrics.h — Linkerd's transport metric families (tcp_open_total,
 * tcp_open_connections, tcp_close_total, tcp_read_bytes_total,
 * tcp_write_bytes_total) and {inbound,outbound}_tcp_errors_total, recorded
 * per connection end into the worker's metrics shard.
 *
 * Labels follow linkerd2-proxy's transport labels: direction, peer
 * (src = the accepted side, dst = the side we connected), target_addr,
 * target_ip, target_port, then the TLS status (tls="true" with
 * client_id/server_id, or tls="no_identity" with no_tls_reason, ...), and
 * for inbound the server (srv_*) labels. tcp_close_total adds
 * classification (success|failure) and errno.
 */
#ifndef WF_PROXY_TCP_METRICS_H
#define WF_PROXY_TCP_METRICS_H

#include "metrics/metrics.h"
#include "net/addr.h"

#define WF_TCP_LABELS_MAX 640

/* The series one connection end records into; references held for the
 * connection's life. Owner: the worker thread of the connection. */
typedef struct wf_tcp_series {
    wf_series_t *open_conns;
    wf_series_t *read_bytes;
    wf_series_t *write_bytes;
    char labels[WF_TCP_LABELS_MAX]; /* rendered base labels */
    uint16_t labels_len;
} wf_tcp_series_t;

void wf_tcp_metrics_register(void);

/* Label values of one connection end. */
typedef struct wf_tcp_labels {
    const char *direction;     /* "inbound" | "outbound" */
    const char *peer;          /* "src" | "dst" */
    const wf_addr_t *target;   /* the original destination */
    const char *tls;           /* "true" | "no_identity" | "opaque" | "disabled" */
    const char *no_tls_reason; /* with tls="no_identity" */
    wf_str_t client_id;        /* with tls="true", inbound src: may be empty */
    wf_str_t server_id;        /* with tls="true", outbound dst */
    const char *srv_name;      /* inbound only: the server (policy) name */
} wf_tcp_labels_t;

/* Counts an opened connection end and takes its series. */
void wf_tcp_metrics_open(wf_metrics_shard_t *shard, wf_tcp_series_t *ts, const wf_tcp_labels_t *l);

/* Counts the close (err: 0 or -errno of the failure) and drops the series. */
void wf_tcp_metrics_close(wf_metrics_shard_t *shard, wf_tcp_series_t *ts, int err,
                          uint64_t now_ms);

/* {inbound,outbound}_tcp_errors_total{error=...} += 1 */
void wf_tcp_metrics_error(wf_metrics_shard_t *shard, const char *direction, const char *error,
                          uint64_t now_ms);

static inline void wf_tcp_metrics_read(wf_tcp_series_t *ts, size_t n)
{
    wf_counter_add(ts->read_bytes, n);
}

static inline void wf_tcp_metrics_write(wf_tcp_series_t *ts, size_t n)
{
    wf_counter_add(ts->write_bytes, n);
}

#endif
