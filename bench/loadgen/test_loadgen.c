/*
 * test_loadgen.c — unit tests of the loadgen's pure parts: the histogram
 * (percentiles against known distributions, the 3-digit precision bound,
 * merging, the .hgrm dump), the open-loop schedule, the run verdict, the
 * HTTP/1.1 message reader and gRPC framing. Timing never decides anything
 * here; the live open-loop check is bench/check-loadgen.sh.
 */
#include "grpc.h"
#include "h1.h"
#include "hist.h"
#include "sched.h"
#include "wf_test.h"

#include <math.h>
#include <stdlib.h>

/* |got - want| <= rel * want */
static int near(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

static void test_hist_uniform(void)
{
    lg_hist_t h;
    CHECK(lg_hist_init(&h, 3) == 0);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_record(&h, v);
    CHECK_EQ_INT(h.total, 100000);
    CHECK_EQ_INT(h.min, 1);
    CHECK_EQ_INT(h.max, 100000);
    /* The exact k-th smallest is k; the histogram may report up to the top
     * of k's slot, i.e. at most 0.1 % above. */
    const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double want = ps[i] * 1000.0;
        uint64_t got = lg_hist_percentile(&h, ps[i]);
        CHECK((double)got >= want);
        CHECK(near((double)got, want, 0.001));
    }
    CHECK_EQ_INT(lg_hist_percentile(&h, 100), 100000);
    CHECK_EQ_INT(lg_hist_percentile(&h, 0), 1);
    CHECK(near(lg_hist_mean(&h), 50000.5, 1e-12));
    CHECK_EQ_INT(lg_hist_count_le(&h, 1000), 1000); /* unit-width slots below 2048 */
    lg_hist_free(&h);
}

/* Exponential with mean 1 ms, sampled at its exact quantiles: the p-th
 * percentile must come back as -ln(1 - p) ms within 0.1 %. */
static void test_hist_exponential(void)
{
    lg_hist_t h;
    CHECK(lg_hist_init(&h, 3) == 0);
    const int n = 200000;
    const double mean = 1e6;
    for (int i = 0; i < n; i++)
        lg_hist_record(&h, (uint64_t)llround(-log(1.0 - (i + 0.5) / n) * mean));
    const double ps[] = {50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double want = -log(1.0 - ps[i] / 100.0) * mean;
        CHECK(near((double)lg_hist_percentile(&h, ps[i]), want, 0.0015));
    }
    CHECK(near(lg_hist_mean(&h), mean, 0.01));
    lg_hist_free(&h);
}

/* Every slot is at most v/1000 wide (3 significant digits) and the value
 * lies within its own slot, across the whole range. */
static void test_hist_precision(void)
{
    lg_hist_t h;
    CHECK(lg_hist_init(&h, 3) == 0);
    int bad = 0;
    for (uint64_t v = 1; v < ((uint64_t)1 << 39); v = v * 3 / 2 + 1) {
        uint64_t lo = lg_hist_lowest_equiv(&h, v), hi = lg_hist_highest_equiv(&h, v);
        if (lo > v || hi < v || (double)(hi - lo + 1) > (double)v / 1000.0 + 1.0)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* Too large: clamped to the top, counted, never lost. */
    lg_hist_record(&h, UINT64_MAX);
    CHECK_EQ_INT(h.clamped, 1);
    CHECK_EQ_INT(h.total, 1);
    CHECK(lg_hist_percentile(&h, 50) == ((uint64_t)1 << LG_HIST_MAX_LOG2) - 1);
    lg_hist_free(&h);
    lg_hist_t bad_digits;
    CHECK(lg_hist_init(&bad_digits, 9) == -1);
    CHECK(lg_hist_init(&bad_digits, 0) == -1);
}

static void test_hist_edges_and_merge(void)
{
    lg_hist_t a, b;
    CHECK(lg_hist_init(&a, 3) == 0);
    CHECK(lg_hist_init(&b, 3) == 0);
    CHECK_EQ_INT(lg_hist_percentile(&a, 99), 0); /* empty */
    lg_hist_record(&a, 123456);
    CHECK_EQ_INT(lg_hist_percentile(&a, 0), 123456); /* capped at the exact max */
    CHECK_EQ_INT(lg_hist_percentile(&a, 100), 123456);
    lg_hist_record_n(&b, 10, 99);
    CHECK(lg_hist_add(&a, &b) == 0);
    CHECK_EQ_INT(a.total, 100);
    CHECK_EQ_INT(a.min, 10);
    CHECK_EQ_INT(a.max, 123456);
    CHECK_EQ_INT(lg_hist_percentile(&a, 99), 10); /* rank 99 of 100 */
    CHECK_EQ_INT(lg_hist_percentile(&a, 99.5), 123456);
    lg_hist_t c;
    CHECK(lg_hist_init(&c, 2) == 0);
    CHECK(lg_hist_add(&a, &c) == -1); /* different precision */
    lg_hist_free(&a);
    lg_hist_free(&b);
    lg_hist_free(&c);
}

static void test_hist_hgrm(void)
{
    lg_hist_t h;
    CHECK(lg_hist_init(&h, 3) == 0);
    for (uint64_t v = 1; v <= 1000; v++)
        lg_hist_record(&h, v * 1000);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(lg_hist_write_hgrm(&h, f, 1e6, 5) == 0);
    fclose(f);
    CHECK(strstr(buf, "Percentile") != NULL);
    /* The last data row is the max at 100 %, then the footer. */
    CHECK(strstr(buf, "    1.000000 1.000000000000       1000            inf\n") != NULL);
    CHECK(strstr(buf, "#[Max     =     1.000000, Total count    =         1000]") != NULL);
    /* Rows are sorted by percentile and by value. */
    double last_p = -1, last_v = -1;
    int rows = 0, sorted = 1;
    for (char *line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        double v, p;
        if (sscanf(line, "%lf %lf", &v, &p) != 2)
            continue;
        rows++;
        if (p < last_p || v < last_v)
            sorted = 0;
        last_p = p;
        last_v = v;
    }
    CHECK(rows > 20);
    CHECK(sorted);
    free(buf);
    lg_hist_free(&h);
}

static void test_schedule(void)
{
    lg_sched_t s = {.t0 = 1000000000ull, .rate = 3000.0, .nconns = 7};
    /* Times never go backwards and follow t0 + j/rate within 1 ns. */
    int mono = 1, exact = 1;
    for (uint64_t j = 1; j < 100000; j++) {
        if (lg_sched_due(&s, j) < lg_sched_due(&s, j - 1))
            mono = 0;
        double want = 1e9 + (double)j * 1e9 / 3000.0;
        if (fabs((double)lg_sched_due(&s, j) - want) > 1.0)
            exact = 0;
    }
    CHECK(mono);
    CHECK(exact);
    /* Each connection's own schedule is periodic at nconns/rate. */
    int periodic = 1;
    for (uint64_t j = 7; j < 70000; j++) {
        if (lg_sched_conn(&s, j) != lg_sched_conn(&s, j - 7))
            periodic = 0;
        double gap = (double)(lg_sched_due(&s, j) - lg_sched_due(&s, j - 7));
        if (fabs(gap - 7e9 / 3000.0) > 1.0)
            periodic = 0;
    }
    CHECK(periodic);
    CHECK_EQ_INT(lg_sched_conn(&s, 15), 1);
    /* A window of 2 s holds exactly rate * 2 s requests. */
    uint64_t a = lg_sched_first_at(&s, s.t0 + 500000000ull);
    uint64_t b = lg_sched_first_at(&s, s.t0 + 2500000000ull);
    CHECK_EQ_INT(b - a, 6000);
    CHECK(lg_sched_due(&s, a) >= s.t0 + 500000000ull);
    CHECK(lg_sched_due(&s, a - 1) < s.t0 + 500000000ull);
    CHECK_EQ_INT(lg_sched_first_at(&s, 0), 0);
}

static void test_verdict(void)
{
    CHECK_EQ_INT(lg_verdict(1000, 1000, 0), 0);
    CHECK_EQ_INT(lg_verdict(1000, 990, 0), 0); /* exactly 99 % passes */
    CHECK_EQ_INT(lg_verdict(1000, 989.9, 0), LG_FAIL_RATE);
    CHECK_EQ_INT(lg_verdict(1000, 1000, 1), LG_FAIL_ERRORS);
    CHECK_EQ_INT(lg_verdict(5000, 10, 3), LG_FAIL_RATE | LG_FAIL_ERRORS);
}

/* Feeds s to a fresh message in pieces of `step` bytes; returns the
 * feed result and the bytes consumed in *used_total. */
static int feed_steps(lg_h1_msg_t *m, bool req, const char *s, size_t step, size_t *used_total)
{
    lg_h1_msg_init(m, req);
    size_t len = strlen(s), off = 0;
    int rc = LG_H1_AGAIN;
    while (off < len && rc == LG_H1_AGAIN) {
        size_t n = len - off < step ? len - off : step, used = 0;
        rc = lg_h1_feed(m, s + off, n, &used);
        off += used;
    }
    *used_total = off;
    return rc;
}

static void test_h1_reader(void)
{
    static lg_h1_msg_t m;
    size_t used;
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                          "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
    for (size_t step = 1; step <= 64; step *= 4) {
        CHECK_EQ_INT(feed_steps(&m, false, cl, step, &used), LG_H1_DONE);
        CHECK_EQ_INT(m.status, 200);
        CHECK_EQ_INT(m.body_len, 5);
        CHECK_EQ_INT(used, strlen(cl));
        CHECK_EQ_INT(feed_steps(&m, false, chunked, step, &used), LG_H1_DONE);
        CHECK_EQ_INT(m.body_len, 13);
        CHECK_EQ_INT(used, strlen(chunked));
    }
    /* Pipelined: the reader stops at the end of the first message. */
    const char *two = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 503 x\r\ncontent-length: 0\r\n"
                      "Connection: keep-alive, close\r\n\r\n";
    CHECK_EQ_INT(feed_steps(&m, false, two, 1000, &used), LG_H1_DONE);
    CHECK_EQ_INT(m.status, 204);
    CHECK_EQ_INT(feed_steps(&m, false, two + used, 1000, &used), LG_H1_DONE);
    CHECK_EQ_INT(m.status, 503);
    CHECK(m.conn_close);
    /* Interim 100 Continue is skipped. */
    CHECK_EQ_INT(feed_steps(&m, false,
                            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                            "Content-Length: 1\r\n\r\nz",
                            7, &used),
                 LG_H1_DONE);
    CHECK_EQ_INT(m.status, 200);
    /* Errors. */
    CHECK_EQ_INT(feed_steps(&m, false, "HTTP/1.1 200 OK\r\n\r\n", 100, &used), LG_H1_ERROR);
    CHECK_EQ_INT(feed_steps(&m, false, "HTTP/1.1 2x0 OK\r\n\r\n", 100, &used), LG_H1_ERROR);
    CHECK_EQ_INT(feed_steps(&m, false,
                            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                            "Content-Length: 2\r\n\r\n",
                            100, &used),
                 LG_H1_ERROR);
    CHECK_EQ_INT(feed_steps(&m, false,
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "zz\r\n",
                            100, &used),
                 LG_H1_ERROR);
    /* Requests: GET has no body; POST with CL; a leading empty line is skipped. */
    CHECK_EQ_INT(feed_steps(&m, true, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 3, &used),
                 LG_H1_DONE);
    CHECK(!m.is_post);
    CHECK_EQ_INT(feed_steps(&m, true, "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 2, &used),
                 LG_H1_DONE);
    CHECK(m.is_post);
    CHECK_EQ_INT(m.body_len, 3);
}

static void test_h1_build(void)
{
    char buf[4096];
    size_t n = lg_h1_build_request(buf, sizeof(buf), "h:1", "/p", 0);
    CHECK(n > 0 && memcmp(buf, "GET /p HTTP/1.1\r\nHost: h:1\r\n", 28) == 0);
    n = lg_h1_build_request(buf, sizeof(buf), "h:1", "/", 1024);
    static lg_h1_msg_t m;
    lg_h1_msg_init(&m, true);
    size_t used;
    CHECK_EQ_INT(lg_h1_feed(&m, buf, n, &used), LG_H1_DONE);
    CHECK_EQ_INT(used, n);
    CHECK_EQ_INT(m.body_len, 1024);
    CHECK_EQ_INT(lg_h1_build_request(buf, 100, "h", "/", 1024), 0); /* does not fit */
}

static void test_grpc_frame(void)
{
    uint8_t buf[20000];
    CHECK_EQ_INT(lg_grpc_frame_len(0), 5);
    CHECK_EQ_INT(lg_grpc_frame(buf, 0), 5);
    CHECK_EQ_INT(lg_grpc_prefix_len(buf), 0);
    CHECK_EQ_INT(lg_grpc_frame_len(100), 5 + 1 + 1 + 100);
    CHECK_EQ_INT(lg_grpc_frame(buf, 16384), 5 + 1 + 3 + 16384); /* varint(16384) is 3 bytes */
    CHECK_EQ_INT(lg_grpc_prefix_len(buf), 1 + 3 + 16384);
    CHECK(buf[5] == 0x0a && buf[6] == 0x80 && buf[7] == 0x80 && buf[8] == 0x01);
    buf[0] = 1;
    CHECK(lg_grpc_prefix_len(buf) == UINT32_MAX); /* compressed: not ours */
}

int main(void)
{
    WF_RUN(test_hist_uniform);
    WF_RUN(test_hist_exponential);
    WF_RUN(test_hist_precision);
    WF_RUN(test_hist_edges_and_merge);
    WF_RUN(test_hist_hgrm);
    WF_RUN(test_schedule);
    WF_RUN(test_verdict);
    WF_RUN(test_h1_reader);
    WF_RUN(test_h1_build);
    WF_RUN(test_grpc_frame);
    return wf_test_done();
}
