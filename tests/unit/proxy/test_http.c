/* Unit tests: the protocol-neutral HTTP pieces — heads from HTTP/1
 * messages, the HTTP/2 head builder, body pipes, absolute-form targets. */
#include "http.h"
#include "wf_test.h"

static int parse(const char *req, wf_h1_parser_t *p, wf_h1_header_t *hdrs)
{
    wf_h1_request_init(p, hdrs, 32);
    return wf_h1_parse_request(p, req, strlen(req));
}

static bool field_is(const wf_http_head_t *h, const char *name, const char *value)
{
    const wf_hfield_t *f = wf_http_head_find(h, wf_str_from(name));
    return f != NULL && wf_str_eq(f->value, wf_str_from(value));
}

static void test_head_from_h1_drops_hop_by_hop(void)
{
    wf_h1_parser_t p;
    wf_h1_header_t hdrs[32];
    const char *req = "POST /up HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, x-secret\r\n"
                      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: gzip, chunked\r\n"
                      "Accept: */*\r\n\r\n";
    CHECK(parse(req, &p, hdrs) > 0);
    wf_http_head_t h;
    CHECK_EQ_INT(wf_http_head_from_h1(&h, &p.msg), 0);
    CHECK(wf_str_eq(h.method, WF_STR("POST")));
    CHECK(wf_str_eq(h.target, WF_STR("/up")));
    CHECK(wf_str_eq(h.authority, WF_STR("svc")));
    CHECK(field_is(&h, "host", "svc"));
    CHECK(field_is(&h, "accept", "*/*"));
    CHECK(wf_http_head_find(&h, WF_STR("connection")) == NULL);
    CHECK(wf_http_head_find(&h, WF_STR("keep-alive")) == NULL);
    CHECK(wf_http_head_find(&h, WF_STR("x-secret")) == NULL); /* named in Connection */
    CHECK(wf_http_head_find(&h, WF_STR("transfer-encoding")) == NULL);
    /* The body's own coding survives re-framing. */
    CHECK(wf_str_eq(h.te_codings, WF_STR("gzip")));
    CHECK_EQ_INT(h.body, WF_H1_BODY_CHUNKED);
    CHECK_EQ_INT(h.content_length, -1);
    wf_http_head_free(&h);
}

static void test_absolute_form_sets_host(void)
{
    wf_h1_parser_t p;
    wf_h1_header_t hdrs[32];
    CHECK(parse("GET http://other.test:8080/x?y HTTP/1.1\r\nHost: h1.test\r\n\r\n", &p, hdrs) > 0);
    wf_http_head_t h;
    CHECK_EQ_INT(wf_http_head_from_h1(&h, &p.msg), 0);
    CHECK(wf_str_eq(h.authority, WF_STR("other.test:8080")));
    CHECK(field_is(&h, "host", "other.test:8080"));
    wf_http_head_free(&h);
    CHECK(wf_http_target_authority(WF_STR("/plain")).len == 0);
    CHECK(wf_str_eq(wf_http_target_authority(WF_STR("HTTPS://a.b")), WF_STR("a.b")));
}

static void test_upgrade_kept_for_tunnels(void)
{
    wf_h1_parser_t p;
    wf_h1_header_t hdrs[32];
    CHECK(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                &p, hdrs) > 0);
    wf_http_head_t h;
    CHECK_EQ_INT(wf_http_head_from_h1(&h, &p.msg), 0);
    CHECK(wf_str_eq(h.upgrade, WF_STR("websocket")));
    CHECK(wf_http_head_find(&h, WF_STR("upgrade")) == NULL); /* hop-by-hop as a field */
    wf_http_head_free(&h);
}

static void test_head_builder_maps_pseudo_headers(void)
{
    wf_head_builder_t b = {0};
    wf_head_builder_add(&b, WF_STR(":method"), WF_STR("POST"));
    wf_head_builder_add(&b, WF_STR(":scheme"), WF_STR("http"));
    wf_head_builder_add(&b, WF_STR(":authority"), WF_STR("svc:50051"));
    wf_head_builder_add(&b, WF_STR(":path"), WF_STR("/t.T/U"));
    wf_head_builder_add(&b, WF_STR("content-type"), WF_STR("application/grpc"));
    wf_head_builder_add(&b, WF_STR("content-length"), WF_STR("42"));
    wf_http_head_t h;
    CHECK_EQ_INT(wf_head_builder_finish(&b, &h), 0);
    CHECK(wf_str_eq(h.method, WF_STR("POST")));
    CHECK(wf_str_eq(h.target, WF_STR("/t.T/U")));
    CHECK(wf_str_eq(h.authority, WF_STR("svc:50051")));
    CHECK(wf_str_eq(h.scheme, WF_STR("http")));
    CHECK_EQ_INT(h.content_length, 42);
    CHECK_EQ_INT(h.nfields, 2); /* pseudo-headers are not fields */
    CHECK_EQ_INT(b.nfields, 0); /* the builder is reset */
    wf_http_head_free(&h);

    wf_head_builder_add(&b, WF_STR(":status"), WF_STR("204"));
    wf_head_builder_add(&b, WF_STR("grpc-status"), WF_STR("0"));
    CHECK_EQ_INT(wf_head_builder_finish(&b, &h), 0);
    CHECK_EQ_INT(h.status, 204);
    wf_http_head_free(&h);
}

static void test_pipe_bounds_and_order(void)
{
    wf_pool_t pool;
    wf_pool_init(&pool, 16384, 8);
    wf_pipe_t p = {0};
    static char data[200000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    size_t in = wf_pipe_write(&p, &pool, data, sizeof(data));
    CHECK_EQ_INT(in, WF_PIPE_MAX_BUFS * 16384); /* bounded */
    CHECK(wf_pipe_full(&p, &pool));
    CHECK_EQ_INT(wf_pipe_space(&p, &pool), 0);
    /* Consume a bit: a full HTTP/2 window (65,535) must always fit after
     * the consumer has taken what exceeds it. */
    size_t out = 0;
    char got[sizeof(data)];
    while (p.bytes > 65535 - 1000) {
        wf_str_t d = wf_pipe_peek(&p);
        size_t take = WF_MIN(d.len, (size_t)1000);
        memcpy(got + out, d.ptr, take);
        out += take;
        wf_pipe_consume(&p, &pool, take);
    }
    CHECK(wf_pipe_space(&p, &pool) >= 65535 - p.bytes);
    in += wf_pipe_write(&p, &pool, data + in, sizeof(data) - in);
    while (p.bytes > 0) {
        wf_str_t d = wf_pipe_peek(&p);
        memcpy(got + out, d.ptr, d.len);
        out += d.len;
        wf_pipe_consume(&p, &pool, d.len);
    }
    CHECK_EQ_INT(out, in);
    CHECK(memcmp(got, data, out) == 0); /* bytes come out in order */
    CHECK_EQ_INT(p.total, in);
    wf_pipe_release(&p, &pool);
    CHECK_EQ_INT(pool.in_use, 0);
    wf_pool_destroy(&pool);
}

static void test_exchange_grpc_status(void)
{
    wf_loop_t loop;
    wf_loop_init(&loop);
    wf_pool_t pool;
    wf_pool_init(&pool, 16384, 8);
    wf_exchange_t *x = wf_exchange_new(&loop);
    CHECK_EQ_INT(wf_exchange_grpc_status(x), -1);
    wf_head_builder_t b = {0};
    wf_head_builder_add(&b, WF_STR("grpc-status"), WF_STR("14"));
    wf_head_builder_finish(&b, &x->res_trailers);
    CHECK_EQ_INT(wf_exchange_grpc_status(x), 14);
    wf_http_head_free(&x->res_trailers);
    wf_head_builder_add(&b, WF_STR("grpc-status"), WF_STR("x1"));
    wf_head_builder_finish(&b, &x->res_trailers);
    CHECK_EQ_INT(wf_exchange_grpc_status(x), -1); /* malformed: not a status */
    wf_exchange_put(x, &pool);
    wf_pool_destroy(&pool);
    wf_loop_destroy(&loop);
}

int main(void)
{
    WF_RUN(test_head_from_h1_drops_hop_by_hop);
    WF_RUN(test_absolute_form_sets_host);
    WF_RUN(test_upgrade_kept_for_tunnels);
    WF_RUN(test_head_builder_maps_pseudo_headers);
    WF_RUN(test_pipe_bounds_and_order);
    WF_RUN(test_exchange_grpc_status);
    return wf_test_done();
}
