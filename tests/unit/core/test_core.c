/* Unit tests: loop timers and deferred callbacks, buffers and pools,
 * durations, addresses, log levels. */
#include "core/buf.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/time.h"
#include "net/addr.h"
#include "wf_test.h"

#include <unistd.h>

typedef struct fired {
    wf_timer_t t;
    int order;
} fired_t;

static int fire_seq;

static void on_fire(wf_loop_t *loop, wf_timer_t *t)
{
    wf_container_of(t, fired_t, t)->order = ++fire_seq;
}

static void test_timers_fire_in_deadline_order(void)
{
    wf_loop_t loop;
    CHECK_EQ_INT(wf_loop_init(&loop), 0);
    fired_t f[5];
    uint64_t after[5] = {30, 10, 20, 0, 40};
    for (int i = 0; i < 5; i++) {
        wf_timer_init(&f[i].t, on_fire);
        f[i].order = 0;
        wf_timer_start(&loop, &f[i].t, after[i]);
    }
    /* Stopping one must keep the heap consistent. */
    wf_timer_stop(&loop, &f[4].t);
    CHECK(!wf_timer_active(&f[4].t));
    fire_seq = 0;
    uint64_t start = wf_now_ms();
    while (fire_seq < 4 && wf_now_ms() - start < 2000)
        wf_loop_run_once(&loop, 100);
    CHECK_EQ_INT(f[3].order, 1);
    CHECK_EQ_INT(f[1].order, 2);
    CHECK_EQ_INT(f[2].order, 3);
    CHECK_EQ_INT(f[0].order, 4);
    CHECK_EQ_INT(f[4].order, 0);
    wf_loop_destroy(&loop);
}

static void test_timer_restart_moves_deadline(void)
{
    wf_loop_t loop;
    wf_loop_init(&loop);
    fired_t a, b;
    wf_timer_init(&a.t, on_fire);
    wf_timer_init(&b.t, on_fire);
    a.order = b.order = 0;
    wf_timer_start(&loop, &a.t, 5);
    wf_timer_start(&loop, &b.t, 50);
    wf_timer_start(&loop, &a.t, 100); /* re-arm later than b */
    fire_seq = 0;
    uint64_t start = wf_now_ms();
    while (fire_seq < 2 && wf_now_ms() - start < 2000)
        wf_loop_run_once(&loop, 200);
    CHECK_EQ_INT(b.order, 1);
    CHECK_EQ_INT(a.order, 2);
    wf_loop_destroy(&loop);
}

typedef struct deferred {
    wf_defer_t d;
    int runs;
} deferred_t;

static void on_defer(wf_loop_t *loop, wf_defer_t *d)
{
    wf_container_of(d, deferred_t, d)->runs++;
}

static void test_defer_runs_once_per_iteration(void)
{
    wf_loop_t loop;
    wf_loop_init(&loop);
    deferred_t x = {0};
    wf_loop_defer(&loop, &x.d, on_defer);
    wf_loop_defer(&loop, &x.d, on_defer); /* queued twice: runs once */
    wf_loop_run_once(&loop, 0);
    CHECK_EQ_INT(x.runs, 1);
    wf_loop_run_once(&loop, 0);
    CHECK_EQ_INT(x.runs, 1);
    wf_loop_destroy(&loop);
}

static void test_wake_stops_loop(void)
{
    wf_loop_t loop;
    wf_loop_init(&loop);
    wf_loop_stop(&loop); /* as another thread would */
    CHECK_EQ_INT(wf_loop_run(&loop), 0);
    CHECK(loop.stopping);
    wf_loop_destroy(&loop);
}

static void test_buf_holds_chunk_only_while_nonempty(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 4096, 4);
    wf_buf_t b = WF_BUF_EMPTY;
    CHECK(b.data == NULL);
    CHECK_EQ_INT(wf_buf_reserve(&b, &pool), 4096);
    CHECK_EQ_INT(pool.in_use, 1);
    memcpy(wf_buf_writep(&b), "hello", 5);
    wf_buf_produced(&b, 5);
    CHECK_EQ_INT(wf_buf_len(&b), 5);
    wf_buf_consume(&b, &pool, 2);
    CHECK_EQ_INT(wf_buf_len(&b), 3);
    CHECK(memcmp(wf_buf_readp(&b), "llo", 3) == 0);
    wf_buf_consume(&b, &pool, 3);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(pool.in_use, 0);
    CHECK_EQ_INT(pool.nfree, 1); /* recycled, not freed */

    /* A full tail with consumed head compacts on reserve. */
    wf_buf_reserve(&b, &pool);
    wf_buf_produced(&b, 4096);
    wf_buf_consume(&b, &pool, 4000);
    CHECK_EQ_INT(wf_buf_reserve(&b, &pool), 4000);
    CHECK_EQ_INT(wf_buf_len(&b), 96);
    wf_buf_release(&b, &pool);
    wf_pool_trim(&pool);
    wf_pool_destroy(&pool);
}

static void test_pool_caps_free_list(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 1024, 2);
    void *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = wf_pool_get(&pool);
    for (int i = 0; i < 5; i++)
        wf_pool_put(&pool, c[i]);
    CHECK_EQ_INT(pool.nfree, 2);
    CHECK_EQ_INT(pool.in_use, 0);
    wf_pool_destroy(&pool);
}

static void test_sbuf(void)
{
    wf_sbuf_t s = {0};
    wf_sbuf_puts(&s, "a");
    for (int i = 0; i < 1000; i++)
        wf_sbuf_printf(&s, "%d,", i);
    CHECK(s.len > 3000);
    CHECK(strncmp(s.ptr, "a0,1,2,", 7) == 0);
    CHECK(!s.oom);
    wf_sbuf_free(&s);
}

static void test_duration_parse(void)
{
    uint64_t ms = 0;
    CHECK_EQ_INT(wf_duration_parse(WF_STR("10s"), &ms), 0);
    CHECK_EQ_INT(ms, 10000);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("100ms"), &ms), 0);
    CHECK_EQ_INT(ms, 100);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("2m"), &ms), 0);
    CHECK_EQ_INT(ms, 120000);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("1h"), &ms), 0);
    CHECK_EQ_INT(ms, 3600000);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("365d"), &ms), 0);
    CHECK_EQ_INT(ms, 365ull * 86400000);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("10"), &ms), WF_EINVAL);  /* no unit */
    CHECK_EQ_INT(wf_duration_parse(WF_STR("s"), &ms), WF_EINVAL);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("-1s"), &ms), WF_EINVAL);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("1.5s"), &ms), WF_EINVAL);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("5 s x"), &ms), WF_EINVAL);
    CHECK_EQ_INT(wf_duration_parse(WF_STR(""), &ms), WF_EINVAL);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("99999999999999999999s"), &ms), WF_ERANGE);
    CHECK_EQ_INT(wf_duration_parse(WF_STR("18446744073709552s"), &ms), WF_ERANGE);
    char buf[32];
    wf_duration_format(1500, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "1500ms");
    wf_duration_format(120000, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "2m");
}

static void test_addr(void)
{
    wf_addr_t a;
    char s[WF_ADDR_STRLEN];
    CHECK_EQ_INT(wf_addr_parse(&a, WF_STR("10.42.0.7:8080")), 0);
    CHECK_EQ_INT(wf_addr_port(&a), 8080);
    wf_addr_format(&a, s, sizeof(s));
    CHECK_EQ_STR(s, "10.42.0.7:8080");
    wf_addr_format_ip(&a, s, sizeof(s));
    CHECK_EQ_STR(s, "10.42.0.7");
    CHECK(!wf_addr_is_loopback(&a));
    CHECK_EQ_INT(wf_addr_parse(&a, WF_STR("[::1]:4140")), 0);
    CHECK(wf_addr_is_loopback(&a));
    wf_addr_format(&a, s, sizeof(s));
    CHECK_EQ_STR(s, "[::1]:4140");
    CHECK_EQ_INT(wf_addr_parse(&a, WF_STR("[::ffff:127.0.0.1]:1")), 0);
    CHECK(wf_addr_is_loopback(&a));
    wf_addr_format(&a, s, sizeof(s));
    CHECK_EQ_STR(s, "127.0.0.1:1");
    CHECK(wf_addr_parse(&a, WF_STR("10.0.0.1")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("10.0.0.1:")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("10.0.0.1:65536")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("host:80")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("::1:80")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("[::1]80")) != 0);
    CHECK(wf_addr_parse(&a, WF_STR("1.2.3.4:8a")) != 0);
    wf_addr_t b;
    wf_addr_loopback4(&b, 80);
    CHECK_EQ_INT(wf_addr_parse(&a, WF_STR("127.0.0.1:80")), 0);
    CHECK(wf_addr_eq(&a, &b));
}

static void test_listen_reuseport_only_when_asked(void)
{
    wf_addr_t a;
    wf_addr_parse(&a, WF_STR("127.0.0.1:0"));
    int fd1, fd2, fd3;
    CHECK_EQ_INT(wf_listen(&a, 16, false, &fd1), 0);
    wf_addr_t bound;
    wf_local_addr(fd1, &bound);
    /* A taken port is an error for a plain listener... */
    CHECK_EQ_INT(wf_listen(&bound, 16, false, &fd2), -EADDRINUSE);
    close(fd1);
    /* ...while per-worker SO_REUSEPORT listeners share one. */
    CHECK_EQ_INT(wf_listen(&bound, 16, true, &fd2), 0);
    CHECK_EQ_INT(wf_listen(&bound, 16, true, &fd3), 0);
    close(fd2);
    close(fd3);
}

static void test_log_levels(void)
{
    wf_log_level_t l;
    CHECK_EQ_INT(wf_log_level_parse(WF_STR("debug"), &l), 0);
    CHECK_EQ_INT(l, WF_LOG_DEBUG);
    /* Linkerd's directive lists: the most verbose named level wins. */
    CHECK_EQ_INT(wf_log_level_parse(WF_STR("warn,linkerd=info,hickory=error"), &l), 0);
    CHECK_EQ_INT(l, WF_LOG_INFO);
    CHECK_EQ_INT(wf_log_level_parse(WF_STR("INFO\n"), &l), 0);
    CHECK_EQ_INT(l, WF_LOG_INFO);
    CHECK(wf_log_level_parse(WF_STR("loud"), &l) != 0);
    CHECK(wf_log_level_parse(WF_STR(""), &l) != 0);
    CHECK(wf_log_level_parse(WF_STR("linkerd=verbose"), &l) != 0);
}

int main(void)
{
    WF_RUN(test_timers_fire_in_deadline_order);
    WF_RUN(test_timer_restart_moves_deadline);
    WF_RUN(test_defer_runs_once_per_iteration);
    WF_RUN(test_wake_stops_loop);
    WF_RUN(test_buf_holds_chunk_only_while_nonempty);
    WF_RUN(test_pool_caps_free_list);
    WF_RUN(test_sbuf);
    WF_RUN(test_duration_parse);
    WF_RUN(test_addr);
    WF_RUN(test_listen_reuseport_only_when_asked);
    WF_RUN(test_log_levels);
    return wf_test_done();
}
