#include "http_metrics.h"
#include "balance.h"

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

size_t wf_http_metrics_conn_labels(const wf_http_labels_t *l, char *out, size_t outlen)
{
    char addr[WF_ADDR_STRLEN], ip[WF_ADDR_STRLEN];
    wf_addr_format(l->target, addr, sizeof(addr));
    wf_addr_format_ip(l->target, ip, sizeof(ip));
    unsigned port = wf_addr_port(l->target);
    int n = snprintf(out, outlen, "target_addr=\"%s\",target_ip=\"%s\",target_port=\"%u\",tls=\"%s\"",
                     addr, ip, port, l->tls);
    if (n > 0 && l->no_tls_reason != NULL && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, ",no_tls_reason=\"%s\"", l->no_tls_reason);
    if (n > 0 && l->client_id.len > 0 && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, ",client_id=\"%.*s\"", (int)l->client_id.len,
                      l->client_id.ptr);
    if (n > 0 && l->server_id.len > 0 && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, ",server_id=\"%.*s\"", (int)l->server_id.len,
                      l->server_id.ptr);
    if (n > 0 && l->dst_labels.len > 0 && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n, ",%.*s", (int)l->dst_labels.len,
                      l->dst_labels.ptr);
    if (n > 0 && l->srv_name != NULL && (size_t)n < outlen)
        n += snprintf(out + n, outlen - (size_t)n,
                      ",srv_group=\"\",srv_kind=\"default\",srv_name=\"%s\",srv_port=\"%u\"",
                      l->srv_name, port);
    return n < 0 ? 0 : WF_MIN((size_t)n, outlen - 1);
}

/* Bounded appends: the per-request label strings are assembled with
 * memcpy, not printf (a printf per request showed up in profiles). */
static size_t put(char *out, size_t n, size_t cap, const char *p, size_t len)
{
    if (n + len > cap)
        len = cap > n ? cap - n : 0;
    memcpy(out + n, p, len);
    return n + len;
}

#define PUTS(lit) (n = put(out, n, cap, (lit), sizeof(lit) - 1))

wf_series_t *wf_http_metrics_request_series(wf_metrics_shard_t *shard, const char *direction,
                                            wf_str_t authority, wf_str_t conn_labels, char *out,
                                            size_t outlen, size_t *labels_len)
{
    size_t cap = outlen - 1, n = 0;
    PUTS("direction=\"");
    n = put(out, n, cap, direction, strlen(direction));
    PUTS("\",authority=\"");
    /* An authority longer than 253 bytes is no DNS name: cut it so a
     * hostile client cannot inflate every series. */
    if (authority.len > 253)
        authority.len = 253;
    if (n + 2 * authority.len + 4 + conn_labels.len <= cap)
        n += put_escaped(out + n, 2 * authority.len + 2, authority);
    PUTS("\",");
    n = put(out, n, cap, conn_labels.ptr, conn_labels.len);
    out[n] = '\0';
    *labels_len = n;
    return wf_metrics_get(shard, &fam_request_total, (wf_str_t){out, n});
}

size_t wf_http_metrics_request(wf_metrics_shard_t *shard, const char *direction,
                               wf_str_t authority, wf_str_t conn_labels, char *out, size_t outlen,
                               uint64_t now_ms)
{
    size_t n;
    wf_series_t *s =
        wf_http_metrics_request_series(shard, direction, authority, conn_labels, out, outlen, &n);
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
    case WF_HTTP_E_NO_ENDPOINTS:
    case WF_HTTP_E_UNAVAILABLE:
        return "unavailable";
    }
    return "unexpected";
}

/* Decimal digits of v into out (which has room); returns the length. */
static size_t put_uint(char *out, unsigned v)
{
    char tmp[12];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    return k;
}

void wf_http_metrics_response_series(wf_metrics_shard_t *shard, wf_str_t base, wf_str_t ep,
                                     uint16_t status, int grpc_status, wf_http_error_t error,
                                     wf_series_t **total, wf_series_t **latency)
{
    char out[1024 + WF_DST_EP_LABELS_MAX];
    size_t cap = sizeof(out) - 16, n = 0;
    n = put(out, n, cap, base.ptr, base.len);
    if (ep.len > 0) {
        PUTS(",");
        n = put(out, n, cap, ep.ptr, ep.len);
    }
    PUTS(",status_code=\"");
    if (status != 0)
        n += put_uint(out + n, status);
    PUTS("\"");
    *latency = wf_metrics_get(shard, &fam_response_latency, (wf_str_t){out, n});
    bool failure = error != WF_HTTP_OK || status >= 500 || status == 0 || grpc_status > 0;
    if (failure)
        PUTS(",classification=\"failure\",grpc_status=\"");
    else
        PUTS(",classification=\"success\",grpc_status=\"");
    if (grpc_status >= 0)
        n += put_uint(out + n, (unsigned)grpc_status);
    PUTS("\",error=\"");
    const char *el = error_label(error);
    n = put(out, n, cap, el, strlen(el));
    PUTS("\"");
    *total = wf_metrics_get(shard, &fam_response_total, (wf_str_t){out, n});
}

wf_str_t wf_http_metrics_ep_labels(const wf_exchange_t *x)
{
    return x->ep != NULL ? wf_str_from(x->ep->labels) : WF_STR_NULL;
}

void wf_http_metrics_response(wf_metrics_shard_t *shard, wf_str_t base, wf_str_t ep,
                              uint16_t status, double latency_ms, int grpc_status,
                              wf_http_error_t error, uint64_t now_ms)
{
    wf_series_t *total, *latency;
    wf_http_metrics_response_series(shard, base, ep, status, grpc_status, error, &total,
                                    &latency);
    if (latency_ms >= 0)
        wf_histogram_observe(latency, latency_ms);
    wf_counter_add(total, 1);
    wf_metrics_put(shard, total, now_ms);
    wf_metrics_put(shard, latency, now_ms);
}
