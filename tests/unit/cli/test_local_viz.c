/*
 * test_local_viz.c — `weft viz stat`'s pure parts: Prometheus text parsing
 * (labels with escapes, comments, malformed lines), folding the proxy's
 * inbound families into totals, deltas across a restarted proxy, and
 * histogram quantiles over Linkerd's latency buckets.
 */
#include "../../../src/cli/cli.c"
#include "../../../src/cli/local_cli.c"
#include "../../../src/cli/local_obj.c"
#include "../../../src/cli/local_paths.c"
#include "../../../src/cli/local_sys.c"
#include "../../../src/cli/local_viz.c"
#include "../../../src/cli/local_yaml.c"

#include "wf_test.h"

typedef struct {
    int n;
    char last_name[64], last_val[64];
    double last;
} seen_t;

static void seen(void *ctx, const char *name, const char *const *keys, const char *const *vals,
                 size_t n, double v)
{
    seen_t *s = ctx;
    s->n++;
    snprintf(s->last_name, sizeof(s->last_name), "%s", name);
    s->last_val[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], "path") == 0)
            snprintf(s->last_val, sizeof(s->last_val), "%s", vals[i]);
    s->last = v;
}

static void test_parse(void)
{
    seen_t s = {0};
    const char *text = "# HELP x y\n# TYPE x counter\n"
                       "x 1\n"
                       "y{path=\"a\\\"b\\\\c\\nd\",k=\"\"} 2.5\n"
                       "broken{path=\"unterminated} 3\n"
                       "z{a=\"1\"} notanumber\n"
                       "\n"
                       "w{path=\",}\"} 1e3";
    CHECK_EQ_INT(wf_lm_prom_parse(text, seen, &s), 3);
    CHECK_EQ_STR(s.last_name, "w");
    CHECK_EQ_STR(s.last_val, ",}");
    CHECK(s.last == 1000);
    seen_t t = {0};
    wf_lm_prom_parse("y{path=\"a\\\"b\\\\c\\nd\"} 2.5", seen, &t);
    CHECK_EQ_STR(t.last_val, "a\"b\\c\nd");
}

static const char *scrape1 =
    "request_total{direction=\"inbound\",tls=\"true\"} 8\n"
    "request_total{direction=\"inbound\",tls=\"no_identity\"} 2\n"
    "request_total{direction=\"outbound\",tls=\"true\"} 100\n"
    "response_total{direction=\"inbound\",classification=\"success\",status_code=\"200\"} 9\n"
    "response_total{direction=\"inbound\",classification=\"failure\",status_code=\"500\"} 1\n"
    "response_latency_ms_bucket{direction=\"inbound\",le=\"1\"} 2\n"
    "response_latency_ms_bucket{direction=\"inbound\",le=\"2\"} 5\n"
    "response_latency_ms_bucket{direction=\"inbound\",le=\"10\"} 9\n"
    "response_latency_ms_bucket{direction=\"inbound\",le=\"+Inf\"} 10\n"
    "response_latency_ms_bucket{direction=\"outbound\",le=\"+Inf\"} 999\n"
    "tcp_open_connections{direction=\"inbound\",peer=\"src\"} 3\n"
    "tcp_open_connections{direction=\"inbound\",peer=\"dst\"} 7\n";

static void test_fold_and_quantiles(void)
{
    wf_lm_stat_t st = {0};
    wf_lm_stat_add_scrape(&st, scrape1);
    CHECK(st.requests == 10 && st.tls_requests == 8);
    CHECK(st.success == 9 && st.failure == 1);
    CHECK(st.tcp_open == 3);
    /* Missing intermediate buckets read as 0 here; make them cumulative as a
     * real scrape is: 3,4,5 carry 5; 20..+Inf carry 9 / 10. */
    for (int i = 2; i < 5; i++)
        st.lat[i] = 5;
    for (int i = 6; i < WF_LM_LAT_BUCKETS - 1; i++)
        st.lat[i] = 9;
    /* p50: rank 5 lands at the top of (1,2]. */
    CHECK(fabs(wf_lm_stat_quantile(&st, 0.5) - 2.0) < 1e-9);
    /* p20: rank 2 is the top of [0,1]. */
    CHECK(fabs(wf_lm_stat_quantile(&st, 0.2) - 1.0) < 1e-9);
    /* p90: rank 9 within (5,10]: 4 of 4 -> 10. */
    CHECK(fabs(wf_lm_stat_quantile(&st, 0.9) - 10.0) < 1e-9);
    /* p99 falls in +Inf: the highest finite bound. */
    CHECK(wf_lm_stat_quantile(&st, 0.99) == 50000);
    wf_lm_stat_t empty = {0};
    CHECK(wf_lm_stat_quantile(&empty, 0.5) == -1);

    wf_lm_stat_t later = st, d;
    later.success += 5;
    later.requests += 5;
    later.lat[WF_LM_LAT_BUCKETS - 1] += 5;
    wf_lm_stat_delta(&st, &later, &d);
    CHECK(d.success == 5 && d.failure == 0 && d.requests == 5);
    /* A restarted proxy (counters went down) counts from zero. */
    wf_lm_stat_t restarted = {0};
    restarted.success = 2;
    restarted.requests = 2;
    wf_lm_stat_delta(&st, &restarted, &d);
    CHECK(d.success == 2 && d.requests == 2);
}

int main(void)
{
    WF_RUN(test_parse);
    WF_RUN(test_fold_and_quantiles);
    return wf_test_done();
}
