#include "http_metrics.h"

#include <stdio.h>

static wf_metric_family_t fam_request_total = {
    "request_total", "Total count of HTTP requests.", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_response_total = {
    "response_total", "Total count of HTTP responses.", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_response_latency = {
    "response_latency_ms", "Elapsed times between a request's headers being received and its "
                           "response stream completing",
    WF_METRIC_HISTOGRAM, NULL, 0, 0};

void wf_http_metrics_register(void)
{
    fam_response_latency.bounds = wf_latency_ms_bounds;
    fam_response_latency.nbounds = wf_latency_ms_nbounds;
    wf_metrics_register(&fam_request_total);
    wf_metrics_register(&fam_response_total);
    wf_metrics_register(&fam_response_latency);
}

/* Appends value with Prometheus escaping; authority comes from the client. */
static size_t put_escaped(char *out, size_t room, wf_str_t v)
{
    size_t n = 0;
    for (size_t i = 0; i < v.len && n + 2 < room; i++) {
        char c = v.ptr[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = c;
        }
    }
    return n;
}

size_t wf_http_metrics_request(wf_metrics_shard_t *shard, const wf_http_labels_t *l, char *out,
                               size_t outlen, uint64_t now_ms)
{
    char addr[WF_ADDR_STRLEN], ip[WF_ADDR_STRLEN];
    wf_addr_format(l->target, addr, sizeof(addr));
    wf_addr_format_ip(l->target, ip, sizeof(ip));
    unsigned port = wf_addr_port(l->target);
    size_t n = (size_t)snprintf(out, outlen, "direction=\"%s\",authority=\"", l->direction);
    /* An authority longer than 253 bytes is no DNS name: cut it so a
     * hostile client cannot inflate every series. */
    wf_str_t auth = l->authority;
    if (auth.len > 253)
        auth.len = 253;
    n += put_escaped(out + n, outlen - n - 256, auth);
    n += (size_t)snprintf(out + n, outlen - n,
                          "\",target_addr=\"%s\",target_ip=\"%s\",target_port=\"%u\",tls=\"%s\"",
                          addr, ip, port, l->tls);
    if (l->no_tls_reason != NULL)
        n += (size_t)snprintf(out + n, outlen - n, ",no_tls_reason=\"%s\"", l->no_tls_reason);
    if (l->srv_name != NULL)
        n += (size_t)snprintf(out + n, outlen - n,
                              ",srv_group=\"\",srv_kind=\"default\",srv_name=\"%s\","
                              "srv_port=\"%u\"",
                              l->srv_name, port);
    n = WF_MIN(n, outlen - 1);
    wf_series_t *s = wf_metrics_get(shard, &fam_request_total, (wf_str_t){out, n});
    wf_counter_add(s, 1);
    wf_metrics_put(shard, s, now_ms);
    return n;
}

static const char *error_label(wf_http_error_t e)
{
    switch (e) {
    case WF_HTTP_OK:
        return "";
    case WF_HTTP_E_CONNECT:
        return "connect";
    case WF_HTTP_E_CONNECT_TIMEOUT:
    case WF_HTTP_E_RESPONSE_TIMEOUT:
        return "timeout";
    case WF_HTTP_E_UPSTREAM_RESET:
    case WF_HTTP_E_DOWNSTREAM:
        return "reset";
    case WF_HTTP_E_UPSTREAM_PROTO:
        return "protocol";
    }
    return "unexpected";
}

void wf_http_metrics_response(wf_metrics_shard_t *shard, wf_str_t base, uint16_t status,
                              double latency_ms, int grpc_status, wf_http_error_t error,
                              uint64_t now_ms)
{
    char labels[1024];
    char code[8] = "";
    if (status != 0)
        snprintf(code, sizeof(code), "%u", status);
    int n = snprintf(labels, sizeof(labels), "%.*s,status_code=\"%s\"", (int)base.len, base.ptr,
                     code);
    if (n <= 0 || (size_t)n >= sizeof(labels))
        return;
    if (latency_ms >= 0) {
        wf_series_t *h = wf_metrics_get(shard, &fam_response_latency, (wf_str_t){labels, (size_t)n});
        wf_histogram_observe(h, latency_ms);
        wf_metrics_put(shard, h, now_ms);
    }
    bool failure = error != WF_HTTP_OK || status >= 500 || status == 0 || grpc_status > 0;
    char grpc[12] = "";
    if (grpc_status >= 0)
        snprintf(grpc, sizeof(grpc), "%d", grpc_status);
    int m = snprintf(labels + n, sizeof(labels) - (size_t)n,
                     ",classification=\"%s\",grpc_status=\"%s\",error=\"%s\"",
                     failure ? "failure" : "success", grpc, error_label(error));
    if (m <= 0 || (size_t)(n + m) >= sizeof(labels))
        return;
    wf_series_t *s =
        wf_metrics_get(shard, &fam_response_total, (wf_str_t){labels, (size_t)(n + m)});
    wf_counter_add(s, 1);
    wf_metrics_put(shard, s, now_ms);
}
