/*
 * http_metrics.h — the golden request metrics (seed ch. 1: traffic, errors,
 * latency) under Linkerd's names: request_total, response_total and
 * response_latency_ms (time to the response head, Linkerd's buckets).
 *
 * Labels: direction, authority, target_addr/target_ip/target_port, tls
 * (+ no_tls_reason / client_id / server_id), and on inbound the srv_*
 * labels; responses add status_code; response_total adds classification
 * (success | failure: 5xx, gRPC non-OK, or a proxy error), grpc_status
 * and error.
 */
#ifndef WF_PROXY_HTTP_METRICS_H
#define WF_PROXY_HTTP_METRICS_H

#include "http.h"
#include "metrics/metrics.h"

void wf_http_metrics_register(void);

typedef struct wf_http_labels {
    const wf_addr_t *target;
    const char *tls;
    const char *no_tls_reason;
    wf_str_t client_id;   /* tls="true" inbound: the peer's identity (may be empty) */
    wf_str_t server_id;   /* tls="true" outbound: the identity the endpoint proves */
    wf_str_t dst_labels;  /* outbound: dst_namespace="..",dst_service=".." (rendered) */
    const char *srv_name; /* inbound only */
} wf_http_labels_t;

/* The labels that are the same for every request of a connection (target,
 * tls, srv), rendered once when the connection starts. */
size_t wf_http_metrics_conn_labels(const wf_http_labels_t *l, char *out, size_t outlen);

/* Counts a request; writes its full label set (direction, authority and
 * the connection's labels) into `out` (≥ 1024 bytes) for its response. */
size_t wf_http_metrics_request(wf_metrics_shard_t *shard, const char *direction,
                               wf_str_t authority, wf_str_t conn_labels, char *out, size_t outlen,
                               uint64_t now_ms);

/* As wf_http_metrics_request, without counting: returns the request_total
 * series referenced, for a connection that counts into it directly while
 * its requests keep the same authority (no label work per request). */
wf_series_t *wf_http_metrics_request_series(wf_metrics_shard_t *shard, const char *direction,
                                            wf_str_t authority, wf_str_t conn_labels, char *out,
                                            size_t outlen, size_t *labels_len);

/* The response_total and response_latency_ms series for one outcome,
 * referenced, for a caller that keeps them across responses. ep: the
 * endpoint's own labels (outbound meshed: dst_pod, ...), or empty. */
void wf_http_metrics_response_series(wf_metrics_shard_t *shard, wf_str_t base, wf_str_t ep,
                                     uint16_t status, int grpc_status, wf_http_error_t error,
                                     wf_series_t **total, wf_series_t **latency);

/*
 * Counts the end of an exchange: its response status (0 if none was
 * received), latency to the response head (ms, < 0 if none), grpc-status
 * (< 0 if not gRPC) and proxy error.
 */
void wf_http_metrics_response(wf_metrics_shard_t *shard, wf_str_t base, wf_str_t ep,
                              uint16_t status, double latency_ms, int grpc_status,
                              wf_http_error_t error, uint64_t now_ms);
/* An exchange's endpoint labels (empty when it went to no meshed endpoint). */
wf_str_t wf_http_metrics_ep_labels(const wf_exchange_t *x);

#endif
