/* Unit tests: the sharded metrics registry and its exposition. */
#include "metrics/metrics.h"
#include "wf_test.h"

#include <pthread.h>

static wf_metric_family_t fam_c = {"test_requests_total", "Requests", WF_METRIC_COUNTER, NULL, 0, 0};
static wf_metric_family_t fam_g = {"test_open", "Open things", WF_METRIC_GAUGE, NULL, 0, 0};
static wf_metric_family_t fam_h = {"test_latency_ms", "Latency", WF_METRIC_HISTOGRAM, NULL, 0, 0};

static void test_counter_sums_across_shards(void)
{
    wf_metrics_shard_t *a = wf_metrics_shard_new(), *b = wf_metrics_shard_new();
    wf_series_t *sa = wf_metrics_get(a, &fam_c, WF_STR("direction=\"inbound\""));
    wf_series_t *sb = wf_metrics_get(b, &fam_c, WF_STR("direction=\"inbound\""));
    wf_series_t *sc = wf_metrics_get(b, &fam_c, WF_STR("direction=\"outbound\""));
    CHECK(sa != sb);
    wf_counter_add(sa, 3);
    wf_counter_add(sb, 4);
    wf_counter_add(sc, 10);
    CHECK_EQ_INT(wf_metrics_sum("test_requests_total", "direction=\"inbound\""), 7);
    CHECK_EQ_INT(wf_metrics_sum("test_requests_total", ""), 17);

    wf_sbuf_t out = {0};
    wf_metrics_render(&out);
    CHECK(strstr(out.ptr, "# TYPE test_requests_total counter\n") != NULL);
    CHECK(strstr(out.ptr, "test_requests_total{direction=\"inbound\"} 7\n") != NULL);
    CHECK(strstr(out.ptr, "test_requests_total{direction=\"outbound\"} 10\n") != NULL);
    wf_sbuf_free(&out);

    /* A worker that exits keeps its counts in the exposition. */
    wf_metrics_put(b, sb, 0);
    wf_metrics_put(b, sc, 0);
    wf_metrics_shard_free(b);
    CHECK_EQ_INT(wf_metrics_sum("test_requests_total", "direction=\"inbound\""), 7);
    CHECK_EQ_INT(wf_metrics_sum("test_requests_total", "direction=\"outbound\""), 10);
    wf_metrics_put(a, sa, 0);
    wf_metrics_shard_free(a);
    CHECK_EQ_INT(wf_metrics_sum("test_requests_total", ""), 17);
}

static void test_gauge_and_expiry(void)
{
    wf_metrics_shard_t *a = wf_metrics_shard_new();
    wf_series_t *g = wf_metrics_get(a, &fam_g, WF_STR("peer=\"src\""));
    wf_gauge_add(g, 2);
    wf_gauge_add(g, -3);
    CHECK_EQ_INT(wf_metrics_sum("test_open", "peer=\"src\""), -1);
    wf_gauge_add(g, 1);
    /* Referenced series never expire. */
    CHECK_EQ_INT(wf_metrics_expire(a, 1000000, 10), 0);
    wf_metrics_put(a, g, 1000);
    CHECK_EQ_INT(wf_metrics_expire(a, 1005, 10), 0);   /* idle, but not for long */
    CHECK_EQ_INT(wf_metrics_expire(a, 2000, 10), 1);   /* idle past retention */
    wf_sbuf_t out = {0};
    wf_metrics_render(&out);
    CHECK(out.ptr == NULL || strstr(out.ptr, "test_open{") == NULL);
    wf_sbuf_free(&out);
    /* Recreated on next use, from zero. */
    g = wf_metrics_get(a, &fam_g, WF_STR("peer=\"src\""));
    CHECK_EQ_INT(wf_metrics_sum("test_open", "peer=\"src\""), 0);
    wf_metrics_put(a, g, 0);
    wf_metrics_shard_free(a);
}

static void test_histogram_buckets(void)
{
    wf_metrics_shard_t *a = wf_metrics_shard_new();
    wf_series_t *h = wf_metrics_get(a, &fam_h, WF_STR("direction=\"outbound\""));
    wf_histogram_observe(h, 0.5);
    wf_histogram_observe(h, 1);    /* le="1" is inclusive */
    wf_histogram_observe(h, 7);    /* 10 */
    wf_histogram_observe(h, 60000); /* +Inf */
    wf_sbuf_t out = {0};
    wf_metrics_render(&out);
    CHECK(strstr(out.ptr, "test_latency_ms_bucket{direction=\"outbound\",le=\"1\"} 2\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_bucket{direction=\"outbound\",le=\"5\"} 2\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_bucket{direction=\"outbound\",le=\"10\"} 3\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_bucket{direction=\"outbound\",le=\"50000\"} 3\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_bucket{direction=\"outbound\",le=\"+Inf\"} 4\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_count{direction=\"outbound\"} 4\n") != NULL);
    CHECK(strstr(out.ptr, "test_latency_ms_sum{direction=\"outbound\"} 60008.5\n") != NULL);
    wf_sbuf_free(&out);
    wf_metrics_put(a, h, 0);
    wf_metrics_shard_free(a);
}

static void test_empty_label_set(void)
{
    wf_metrics_shard_t *a = wf_metrics_shard_new();
    wf_series_t *s = wf_metrics_get(a, &fam_g, WF_STR_NULL); /* (NULL, 0) */
    wf_series_t *t = wf_metrics_get(a, &fam_g, WF_STR(""));
    CHECK(s == t); /* the same series */
    wf_gauge_add(s, 5);
    wf_sbuf_t out = {0};
    wf_metrics_render(&out);
    CHECK(strstr(out.ptr, "\ntest_open 5\n") != NULL); /* no braces for no labels */
    wf_sbuf_free(&out);
    wf_gauge_add(s, -5);
    wf_metrics_put(a, s, 0);
    wf_metrics_put(a, t, 0);
    wf_metrics_shard_free(a);
}

static void test_label_escaping(void)
{
    wf_sbuf_t l = {0};
    wf_labels_addz(&l, "a", "x\"y\\z\nw");
    wf_labels_addz(&l, "b", "");
    CHECK_EQ_STR(l.ptr, "a=\"x\\\"y\\\\z\\nw\",b=\"\"");
    wf_sbuf_free(&l);
}

/* Writers on their own shards while another thread scrapes: the totals
 * seen are monotone and end exact. */
static wf_metric_family_t fam_race = {"test_race_total", "Race", WF_METRIC_COUNTER, NULL, 0, 0};
#define RACE_N 200000

static void *race_writer(void *arg)
{
    wf_metrics_shard_t *s = wf_metrics_shard_new();
    char labels[32];
    for (int i = 0; i < RACE_N; i++) {
        /* New label sets appear while scrapes walk the lists. */
        int n = snprintf(labels, sizeof(labels), "k=\"%d\"", i % 300);
        wf_series_t *x = wf_metrics_get(s, &fam_race, (wf_str_t){labels, (size_t)n});
        wf_counter_add(x, 1);
        wf_metrics_put(s, x, 0);
    }
    wf_metrics_shard_free(s);
    return NULL;
}

static void test_concurrent_scrape(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, race_writer, NULL);
    double last = 0;
    bool monotone = true;
    for (int i = 0; i < 50; i++) {
        double v = wf_metrics_sum("test_race_total", "");
        if (v < last)
            monotone = false;
        last = v;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(monotone);
    CHECK_EQ_INT(wf_metrics_sum("test_race_total", ""), 2 * RACE_N);
}

int main(void)
{
    fam_h.bounds = wf_latency_ms_bounds;
    fam_h.nbounds = wf_latency_ms_nbounds;
    wf_metrics_register(&fam_c);
    wf_metrics_register(&fam_g);
    wf_metrics_register(&fam_h);
    wf_metrics_register(&fam_race);
    WF_RUN(test_counter_sums_across_shards);
    WF_RUN(test_gauge_and_expiry);
    WF_RUN(test_histogram_buckets);
    WF_RUN(test_empty_label_set);
    WF_RUN(test_label_escaping);
    WF_RUN(test_concurrent_scrape);
    return wf_test_done();
}
