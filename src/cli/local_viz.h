/*
 * local_viz.h — `weft viz stat` for local mode: golden metrics per
 * workload, computed from the proxies' own /metrics (Prometheus text),
 * scraped twice a window apart. The pure parts (text parsing, folding a
 * scrape into totals, quantiles) are here for tests.
 */
#ifndef WF_CLI_LOCAL_VIZ_H
#define WF_CLI_LOCAL_VIZ_H

#include <stddef.h>

/* response_latency_ms buckets, as Linkerd's proxy exports them (+Inf last). */
#define WF_LM_LAT_BUCKETS 26

/* Inbound totals of one proxy (or a sum of proxies). */
typedef struct wf_lm_stat {
    double success, failure;       /* response_total by classification */
    double requests, tls_requests; /* request_total; tls="true" ones */
    double lat[WF_LM_LAT_BUCKETS]; /* response_latency_ms_bucket, cumulative */
    double tcp_open;               /* tcp_open_connections (peer="src") */
} wf_lm_stat_t;

/* Called per sample; labels are (key, value) pairs, unescaped. */
typedef void (*wf_lm_prom_cb)(void *ctx, const char *name, const char *const *keys,
                              const char *const *vals, size_t nlabels, double value);

/* Parses Prometheus text exposition; comments and malformed lines are
 * skipped. Returns the number of samples reported. */
int wf_lm_prom_parse(const char *text, wf_lm_prom_cb cb, void *ctx);

/* Adds the inbound samples of one scrape into st. */
void wf_lm_stat_add_scrape(wf_lm_stat_t *st, const char *text);

/* d = b - a per counter (a counter that went down — a restarted proxy —
 * counts from zero). */
void wf_lm_stat_delta(const wf_lm_stat_t *a, const wf_lm_stat_t *b, wf_lm_stat_t *d);

/* histogram_quantile over the latency buckets (ms); -1 without samples. */
double wf_lm_stat_quantile(const wf_lm_stat_t *st, double q);

#endif
