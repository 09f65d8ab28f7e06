/*
 * metrics.h — a Prometheus registry built for a thread-per-core proxy.
 *
 * Families (name, help, type, histogram bounds) are static descriptors
 * registered once at start-up. Each thread records into its own shard:
 * a series (one label set of one family) lives in exactly one shard and
 * only its owner thread writes it — with relaxed atomic stores, so the
 * data path never takes a lock or a locked instruction. A scrape, on any
 * thread, walks every shard and sums the series that share a label set.
 *
 * Locks exist only where threads really meet: a shard's mutex is taken by
 * its owner when it links or unlinks a series (once per new label set, not
 * per request) and by the scraper while it walks that shard.
 *
 * Series lifetime: wf_metrics_get() returns a series with a reference the
 * caller keeps while it records (e.g. for a connection's life);
 * wf_metrics_put() drops it. A series nobody references and nobody touched
 * for the retention period is unlinked and freed by wf_metrics_expire(),
 * which the owner calls from a timer (Linkerd's METRICS_RETAIN_IDLE).
 */
#ifndef WF_METRICS_METRICS_H
#define WF_METRICS_METRICS_H

#include "core/buf.h"
#include "core/common.h"

#include <stdatomic.h>

typedef enum wf_metric_type {
    WF_METRIC_COUNTER,
    WF_METRIC_GAUGE,
    WF_METRIC_HISTOGRAM,
} wf_metric_type_t;

#define WF_METRICS_MAX_FAMILIES 128

typedef struct wf_metric_family {
    const char *name;
    const char *help;
    wf_metric_type_t type;
    const double *bounds; /* histogram upper bounds, ascending, +Inf implied */
    uint32_t nbounds;
    uint32_t id; /* set by wf_metrics_register */
} wf_metric_family_t;

/* Linkerd's response_latency_ms bounds (linkerd/metrics/src/latency.rs). */
extern const double wf_latency_ms_bounds[];
extern const uint32_t wf_latency_ms_nbounds;

typedef struct wf_series wf_series_t;
typedef struct wf_metrics_shard wf_metrics_shard_t;

/* Registers a family (before any shard records into it). Idempotent. */
int wf_metrics_register(wf_metric_family_t *family);

/* A shard for the calling thread; freed by wf_metrics_shard_free when the
 * thread is done (its series stop contributing to scrapes). */
wf_metrics_shard_t *wf_metrics_shard_new(void);
void wf_metrics_shard_free(wf_metrics_shard_t *shard);

/*
 * The series of `family` with `labels` — the rendered label list without
 * braces, e.g. `direction="inbound",peer="src"` (see wf_labels_*) — in this
 * shard, created on first use. Returns it referenced, or NULL when out of
 * memory (recording is then skipped; metrics never fail the data path).
 */
wf_series_t *wf_metrics_get(wf_metrics_shard_t *shard, wf_metric_family_t *family, wf_str_t labels);
void wf_metrics_put(wf_metrics_shard_t *shard, wf_series_t *s, uint64_t now_ms);

/* Owner thread only. */
void wf_counter_add(wf_series_t *s, uint64_t n);
void wf_gauge_add(wf_series_t *s, int64_t delta);
void wf_histogram_observe(wf_series_t *s, double value);

/* Frees unreferenced series idle for more than retain_ms; returns count. */
size_t wf_metrics_expire(wf_metrics_shard_t *shard, uint64_t now_ms, uint64_t retain_ms);

/* Renders every registered family in Prometheus text format 0.0.4. */
void wf_metrics_render(wf_sbuf_t *out);

/* Sums one family's samples whose labels contain every `k="v"` pair given
 * in `match` (comma-separated, same syntax as labels). For tests/CLI. */
double wf_metrics_sum(const char *family_name, const char *match);

/* Label builder: appends `name="value"` with Prometheus escaping. */
void wf_labels_add(wf_sbuf_t *labels, const char *name, wf_str_t value);
static inline void wf_labels_addz(wf_sbuf_t *labels, const char *name, const char *value)
{
    wf_labels_add(labels, name, wf_str_from(value));
}

#endif
