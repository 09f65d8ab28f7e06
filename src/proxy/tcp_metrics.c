#include "tcp_metrics.h"

#include <stdio.h>

static wf_metric_family_t fam_open_total = {
    "tcp_open_total", "Total count of opened connections", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_open_conns = {
    "tcp_open_connections", "Number of currently-open connections", WF_METRIC_GAUGE, NULL, 0, 0};
static wf_metric_family_t fam_close_total = {
    "tcp_close_total", "Total count of closed connections", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_read_bytes = {
    "tcp_read_bytes_total", "Total count of bytes read from peers", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_write_bytes = {
    "tcp_write_bytes_total", "Total count of bytes written to peers", WF_METRIC_COUNTER, NULL, 0,
    0};
static wf_metric_family_t fam_in_errors = {
    "inbound_tcp_errors_total", "The total number of inbound TCP connections that could not be "
                                "processed due to a proxy error",
    WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_out_errors = {
    "outbound_tcp_errors_total", "The total number of outbound TCP connections that could not be "
                                 "processed due to a proxy error",
    WF_METRIC_COUNTER, NULL, 0, 0};

void wf_tcp_metrics_register(void)
{
    wf_metrics_register(&fam_open_total);
    wf_metrics_register(&fam_open_conns);
    wf_metrics_register(&fam_close_total);
    wf_metrics_register(&fam_read_bytes);
    wf_metrics_register(&fam_write_bytes);
    wf_metrics_register(&fam_in_errors);
    wf_metrics_register(&fam_out_errors);
}

void wf_tcp_metrics_open(wf_metrics_shard_t *shard, wf_tcp_series_t *ts, const wf_tcp_labels_t *l)
{
    char addr[WF_ADDR_STRLEN], ip[WF_ADDR_STRLEN];
    wf_addr_format(l->target, addr, sizeof(addr));
    wf_addr_format_ip(l->target, ip, sizeof(ip));
    unsigned port = wf_addr_port(l->target);
    int n = snprintf(ts->labels, sizeof(ts->labels),
                     "direction=\"%s\",peer=\"%s\",target_addr=\"%s\",target_ip=\"%s\","
                     "target_port=\"%u\",tls=\"%s\"",
                     l->direction, l->peer, addr, ip, port, l->tls);
    if (l->no_tls_reason != NULL)
        n += snprintf(ts->labels + n, sizeof(ts->labels) - (size_t)n, ",no_tls_reason=\"%s\"",
                      l->no_tls_reason);
    if (l->client_id.len > 0)
        n += snprintf(ts->labels + n, sizeof(ts->labels) - (size_t)n, ",client_id=\"%.*s\"",
                      (int)l->client_id.len, l->client_id.ptr);
    if (l->server_id.len > 0)
        n += snprintf(ts->labels + n, sizeof(ts->labels) - (size_t)n, ",server_id=\"%.*s\"",
                      (int)l->server_id.len, l->server_id.ptr);
    if (l->srv_name != NULL)
        n += snprintf(ts->labels + n, sizeof(ts->labels) - (size_t)n,
                      ",srv_group=\"\",srv_kind=\"default\",srv_name=\"%s\",srv_port=\"%u\"",
                      l->srv_name, port);
    ts->labels_len = (uint16_t)WF_MIN((size_t)n, sizeof(ts->labels) - 1);

    wf_str_t labels = {ts->labels, ts->labels_len};
    wf_series_t *open_total = wf_metrics_get(shard, &fam_open_total, labels);
    wf_counter_add(open_total, 1);
    wf_metrics_put(shard, open_total, 0);
    ts->open_conns = wf_metrics_get(shard, &fam_open_conns, labels);
    wf_gauge_add(ts->open_conns, 1);
    ts->read_bytes = wf_metrics_get(shard, &fam_read_bytes, labels);
    ts->write_bytes = wf_metrics_get(shard, &fam_write_bytes, labels);
}

static const char *errno_name(int err)
{
    switch (-err) {
    case ECONNRESET:
        return "ECONNRESET";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case EPIPE:
        return "EPIPE";
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    case ENETUNREACH:
        return "ENETUNREACH";
    case ECONNABORTED:
        return "ECONNABORTED";
    case 0:
        return "";
    default:
        return "EOTHER";
    }
}

void wf_tcp_metrics_close(wf_metrics_shard_t *shard, wf_tcp_series_t *ts, int err,
                          uint64_t now_ms)
{
    if (ts->labels_len == 0)
        return; /* never opened */
    char labels[WF_TCP_LABELS_MAX + 64];
    /* Timeouts and proxy-side errors are failures without an errno. */
    const char *cls = err == 0 ? "success" : "failure";
    const char *en = err < 0 && err > -WF_E_BASE ? errno_name(err) : "";
    int n = snprintf(labels, sizeof(labels), "%.*s,classification=\"%s\",errno=\"%s\"",
                     (int)ts->labels_len, ts->labels, cls, en);
    wf_series_t *close_total =
        wf_metrics_get(shard, &fam_close_total, (wf_str_t){labels, WF_MIN((size_t)n, sizeof(labels) - 1)});
    wf_counter_add(close_total, 1);
    wf_metrics_put(shard, close_total, now_ms);
    wf_gauge_add(ts->open_conns, -1);
    wf_metrics_put(shard, ts->open_conns, now_ms);
    wf_metrics_put(shard, ts->read_bytes, now_ms);
    wf_metrics_put(shard, ts->write_bytes, now_ms);
    ts->open_conns = ts->read_bytes = ts->write_bytes = NULL;
    ts->labels_len = 0;
}

void wf_tcp_metrics_error(wf_metrics_shard_t *shard, const char *direction, const char *error,
                          uint64_t now_ms)
{
    char labels[128];
    int n = snprintf(labels, sizeof(labels), "error=\"%s\"", error);
    wf_metric_family_t *f = direction[0] == 'i' ? &fam_in_errors : &fam_out_errors;
    wf_series_t *s = wf_metrics_get(shard, f, (wf_str_t){labels, (size_t)n});
    wf_counter_add(s, 1);
    wf_metrics_put(shard, s, now_ms);
}
