/*
 * test_grpc.c — the gRPC layer: framing parser, grpc-timeout and
 * grpc-message codecs, and an in-process client <-> server over a loopback
 * TCP socket (unary, server-streaming, errors with messages, deadlines,
 * unknown method, message size limits, cancel, many concurrent calls).
 *
 * It is also the C side of the interop test (tests/integration/
 * test_grpc_interop.sh):
 *   test_grpc --serve PORT      serve the test service on 127.0.0.1:PORT
 *   test_grpc --call HOST:PORT  run the client checks against a peer that
 *                               serves the same test service (grpcio)
 *
 * The test service (same on both sides):
 *   Identity/Certify: identity "fail" → PERMISSION_DENIED "denied: ñ 100%";
 *     "slow" → never answers (deadline tests); "big:N" → a leaf of N bytes;
 *     else leaf "leaf:<identity>", intermediates [token], valid_until 1234.5.
 *   Destination/Get: path "svc:N" → N add updates (port i), then OK;
 *     "unknown" → no_endpoints{exists:false} then NOT_FOUND "no such service";
 *     "hold" → one update, then nothing until cancelled.
 */
#include "wf_test.h"

#include "core/log.h"
#include "grpc/grpc.h"

#include "destination.pb-c.h"
#include "identity.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CERTIFY "/weft.identity.Identity/Certify"
#define GET "/weft.destination.Destination/Get"
#define DENIED_MSG "denied: \xc3\xb1 100%"

/* --- framing ---------------------------------------------------------------------- */

static size_t put_msg(uint8_t *out, uint8_t flag, uint32_t len, uint8_t fill)
{
    wf_grpc_frame_header(out, len);
    out[0] = flag;
    memset(out + WF_GRPC_FRAME_HDR, fill, len);
    return WF_GRPC_FRAME_HDR + len;
}

/* Feeds [p, p+len) and appends each completed message's length to lens. */
static int feed(wf_grpc_framer_t *f, const uint8_t *p, size_t len, uint32_t *lens, int *nlens,
                uint8_t *fills)
{
    while (len > 0) {
        size_t used;
        int rc = wf_grpc_framer_parse(f, p, len, &used);
        CHECK(used <= len);
        p += used;
        len -= used;
        if (rc < 0)
            return rc;
        if (rc == WF_GRPC_FRAME_DONE) {
            size_t mlen;
            uint8_t *m = wf_grpc_framer_take(f, &mlen);
            lens[*nlens] = (uint32_t)mlen;
            fills[*nlens] = mlen ? m[mlen - 1] : 0;
            (*nlens)++;
            free(m);
        } else {
            CHECK(len == 0);
        }
    }
    return 0;
}

static void test_framer_split_everywhere(void)
{
    uint8_t buf[1024];
    size_t n = 0;
    n += put_msg(buf + n, 0, 0, 0);
    n += put_msg(buf + n, 0, 10, 0xaa);
    n += put_msg(buf + n, 0, 300, 0xbb);
    n += put_msg(buf + n, 0, 1, 0xcc);
    for (size_t cut1 = 0; cut1 <= n; cut1++) {
        for (size_t cut2 = cut1; cut2 <= n; cut2 += 7) {
            wf_grpc_framer_t f;
            wf_grpc_framer_init(&f, 1000);
            uint32_t lens[8];
            uint8_t fills[8];
            int nl = 0;
            CHECK_EQ_INT(feed(&f, buf, cut1, lens, &nl, fills), 0);
            CHECK_EQ_INT(feed(&f, buf + cut1, cut2 - cut1, lens, &nl, fills), 0);
            CHECK_EQ_INT(feed(&f, buf + cut2, n - cut2, lens, &nl, fills), 0);
            CHECK_EQ_INT(nl, 4);
            if (nl == 4) {
                CHECK(lens[0] == 0 && lens[1] == 10 && lens[2] == 300 && lens[3] == 1);
                CHECK(fills[1] == 0xaa && fills[2] == 0xbb && fills[3] == 0xcc);
            }
            CHECK(wf_grpc_framer_idle(&f));
            wf_grpc_framer_free(&f);
        }
    }
}

static void test_framer_errors(void)
{
    uint8_t buf[64];
    wf_grpc_framer_t f;
    size_t used;

    /* Oversize: refused from the prefix alone, before any body arrives. */
    wf_grpc_framer_init(&f, 100);
    wf_grpc_frame_header(buf, 101);
    CHECK_EQ_INT(wf_grpc_framer_parse(&f, buf, 5, &used), WF_ELIMIT);
    CHECK_EQ_INT(wf_grpc_framer_status(&f, WF_ELIMIT), WF_GRPC_RESOURCE_EXHAUSTED);
    CHECK(f.error != NULL);
    /* ... and stays refused. */
    CHECK(wf_grpc_framer_parse(&f, buf, 5, &used) < 0);
    wf_grpc_framer_free(&f);

    /* Exactly the limit is fine. */
    wf_grpc_framer_init(&f, 10);
    size_t n = put_msg(buf, 0, 10, 1);
    CHECK_EQ_INT(wf_grpc_framer_parse(&f, buf, n, &used), WF_GRPC_FRAME_DONE);
    CHECK_EQ_INT(used, n);
    wf_grpc_framer_free(&f);

    /* Compressed flag: we negotiate no encoding. */
    wf_grpc_framer_init(&f, 100);
    n = put_msg(buf, 1, 3, 1);
    int rc = wf_grpc_framer_parse(&f, buf, n, &used);
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK_EQ_INT(wf_grpc_framer_status(&f, rc), WF_GRPC_UNIMPLEMENTED);
    wf_grpc_framer_free(&f);

    /* Any other flag byte is malformed. */
    wf_grpc_framer_init(&f, 100);
    n = put_msg(buf, 2, 3, 1);
    rc = wf_grpc_framer_parse(&f, buf, n, &used);
    CHECK_EQ_INT(rc, WF_EPROTO);
    CHECK_EQ_INT(wf_grpc_framer_status(&f, rc), WF_GRPC_INTERNAL);
    wf_grpc_framer_free(&f);

    /* Truncated: not idle, so the stream end is an error for the caller. */
    wf_grpc_framer_init(&f, 100);
    n = put_msg(buf, 0, 20, 1);
    CHECK_EQ_INT(wf_grpc_framer_parse(&f, buf, n - 1, &used), 0);
    CHECK(!wf_grpc_framer_idle(&f));
    wf_grpc_framer_free(&f);
    wf_grpc_framer_init(&f, 100);
    CHECK_EQ_INT(wf_grpc_framer_parse(&f, buf, 3, &used), 0);
    CHECK(!wf_grpc_framer_idle(&f));
    wf_grpc_framer_free(&f);
}

static void test_timeout_codec(void)
{
    uint64_t ms = 0;
    CHECK(wf_grpc_timeout_parse(WF_STR("100m"), &ms) == 0 && ms == 100);
    CHECK(wf_grpc_timeout_parse(WF_STR("2S"), &ms) == 0 && ms == 2000);
    CHECK(wf_grpc_timeout_parse(WF_STR("1M"), &ms) == 0 && ms == 60000);
    CHECK(wf_grpc_timeout_parse(WF_STR("1H"), &ms) == 0 && ms == 3600000);
    CHECK(wf_grpc_timeout_parse(WF_STR("1500u"), &ms) == 0 && ms == 2);
    CHECK(wf_grpc_timeout_parse(WF_STR("1n"), &ms) == 0 && ms == 1);
    CHECK(wf_grpc_timeout_parse(WF_STR("99999999H"), &ms) == 0);
    CHECK(wf_grpc_timeout_parse(WF_STR("123456789m"), &ms) == WF_EINVAL); /* 9 digits */
    CHECK(wf_grpc_timeout_parse(WF_STR("m"), &ms) == WF_EINVAL);
    CHECK(wf_grpc_timeout_parse(WF_STR("10x"), &ms) == WF_EINVAL);
    CHECK(wf_grpc_timeout_parse(WF_STR("-1S"), &ms) == WF_EINVAL);
    char out[10];
    CHECK_EQ_INT(wf_grpc_timeout_format(250, out), 4);
    CHECK_EQ_STR(out, "250m");
    wf_grpc_timeout_format(100000000, out); /* 9 digits of ms → seconds */
    CHECK_EQ_STR(out, "100000S");
    wf_grpc_timeout_format(UINT64_MAX / 4, out);
    CHECK(wf_grpc_timeout_parse(wf_str_from(out), &ms) == 0);
}

static void test_message_codec(void)
{
    char enc[64], dec[64];
    size_t n = wf_grpc_message_encode(WF_STR(DENIED_MSG), enc, sizeof(enc));
    CHECK(n == strlen("denied: %C3%B1 100%25") && memcmp(enc, "denied: %C3%B1 100%25", n) == 0);
    size_t d = wf_grpc_message_decode((wf_str_t){enc, n}, dec);
    CHECK(d == strlen(DENIED_MSG) && memcmp(dec, DENIED_MSG, d) == 0);
    /* Malformed escapes stay literal. */
    d = wf_grpc_message_decode(WF_STR("a%zz%4"), dec);
    CHECK(d == 6 && memcmp(dec, "a%zz%4", 6) == 0);
    /* Truncation keeps whole escapes. */
    n = wf_grpc_message_encode(WF_STR("ab\n"), enc, 4);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_STR(wf_grpc_status_name(WF_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    CHECK_EQ_STR(wf_grpc_status_name(16), "UNAUTHENTICATED");
    CHECK_EQ_STR(wf_grpc_status_name(17), "UNKNOWN_STATUS");
    CHECK_EQ_INT(wf_grpc_status_from_http(404), WF_GRPC_UNIMPLEMENTED);
}

/* --- the test service ------------------------------------------------------------ */

typedef struct stream_job {
    wf_grpc_call_t *call; /* borrowed until finish */
    wf_timer_t timer;
    uint32_t sent, total;
    bool hold;
} stream_job_t;

static int server_cancels; /* on_cancel calls seen by handlers */
static wf_loop_t *g_loop;

static void certify_cancel(wf_grpc_call_t *call)
{
    server_cancels++;
    wf_grpc_call_finish(call, WF_GRPC_CANCELLED, NULL);
}

static void handle_certify(wf_grpc_server_t *srv, wf_grpc_call_t *call)
{
    const Weft__Identity__CertifyRequest *req =
        (const Weft__Identity__CertifyRequest *)wf_grpc_call_request(call);
    const char *id = req->identity;
    if (strcmp(id, "fail") == 0) {
        wf_grpc_call_finish(call, WF_GRPC_PERMISSION_DENIED, DENIED_MSG);
        return;
    }
    if (strcmp(id, "slow") == 0) {
        wf_grpc_call_on_cancel(call, certify_cancel);
        return;
    }
    Weft__Identity__CertifyResponse resp = WEFT__IDENTITY__CERTIFY_RESPONSE__INIT;
    Weft__Types__Timestamp ts = WEFT__TYPES__TIMESTAMP__INIT;
    ts.seconds = 1234;
    ts.nanos = 500000000;
    resp.valid_until = &ts;
    char leaf[300];
    uint8_t *big = NULL;
    if (strncmp(id, "big:", 4) == 0) {
        size_t n = strtoul(id + 4, NULL, 10);
        big = calloc(1, n ? n : 1);
        resp.leaf_certificate = (ProtobufCBinaryData){n, big};
    } else {
        int n = snprintf(leaf, sizeof(leaf), "leaf:%s", id);
        resp.leaf_certificate = (ProtobufCBinaryData){(size_t)n, (uint8_t *)leaf};
    }
    ProtobufCBinaryData inter[1] = {req->token};
    resp.n_intermediate_certificates = 1;
    resp.intermediate_certificates = inter;
    int rc = wf_grpc_call_send(call, &resp.base);
    free(big);
    wf_grpc_call_finish(call, rc == 0 ? WF_GRPC_OK : WF_GRPC_INTERNAL, NULL);
}

static void send_update(wf_grpc_call_t *call, uint32_t port)
{
    Weft__Destination__Update up = WEFT__DESTINATION__UPDATE__INIT;
    Weft__Destination__WeightedAddrSet set = WEFT__DESTINATION__WEIGHTED_ADDR_SET__INIT;
    Weft__Destination__WeightedAddr wa = WEFT__DESTINATION__WEIGHTED_ADDR__INIT;
    Weft__Destination__TcpAddress ta = WEFT__DESTINATION__TCP_ADDRESS__INIT;
    uint8_t ip[4] = {10, 42, 0, 7};
    ta.ip = (ProtobufCBinaryData){4, ip};
    ta.port = port;
    wa.addr = &ta;
    wa.weight = 10000;
    Weft__Destination__WeightedAddr *addrs[1] = {&wa};
    set.n_addrs = 1;
    set.addrs = addrs;
    up.update_case = WEFT__DESTINATION__UPDATE__UPDATE_ADD;
    up.add = &set;
    wf_grpc_call_send(call, &up.base);
}

static void stream_job_free(stream_job_t *job)
{
    wf_timer_stop(g_loop, &job->timer);
    free(job);
}

static void stream_tick(wf_loop_t *loop, wf_timer_t *t)
{
    stream_job_t *job = wf_container_of(t, stream_job_t, timer);
    if (job->sent < job->total) {
        send_update(job->call, ++job->sent);
        wf_timer_start(loop, t, 5);
        return;
    }
    if (job->hold)
        return;
    wf_grpc_call_finish(job->call, WF_GRPC_OK, NULL);
    stream_job_free(job);
}

static void stream_cancel(wf_grpc_call_t *call)
{
    server_cancels++;
    stream_job_t *job = wf_grpc_call_data(call);
    wf_grpc_call_finish(call, WF_GRPC_CANCELLED, NULL);
    stream_job_free(job);
}

static void handle_get(wf_grpc_server_t *srv, wf_grpc_call_t *call)
{
    const Weft__Destination__GetDestination *req =
        (const Weft__Destination__GetDestination *)wf_grpc_call_request(call);
    if (strcmp(req->path, "unknown") == 0) {
        Weft__Destination__Update up = WEFT__DESTINATION__UPDATE__INIT;
        Weft__Destination__NoEndpoints ne = WEFT__DESTINATION__NO_ENDPOINTS__INIT;
        up.update_case = WEFT__DESTINATION__UPDATE__UPDATE_NO_ENDPOINTS;
        up.no_endpoints = &ne;
        wf_grpc_call_send(call, &up.base);
        wf_grpc_call_finish(call, WF_GRPC_NOT_FOUND, "no such service");
        return;
    }
    stream_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        wf_grpc_call_finish(call, WF_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    job->call = call;
    if (strcmp(req->path, "hold") == 0) {
        job->total = 1;
        job->hold = true;
    } else if (strncmp(req->path, "svc:", 4) == 0) {
        job->total = (uint32_t)strtoul(req->path + 4, NULL, 10);
    }
    wf_timer_init(&job->timer, stream_tick);
    wf_grpc_call_set_data(call, job);
    wf_grpc_call_on_cancel(call, stream_cancel);
    wf_timer_start(g_loop, &job->timer, 0);
}

static const wf_grpc_method_t test_methods[] = {
    {CERTIFY, WF_GRPC_UNARY, &weft__identity__certify_request__descriptor,
     &weft__identity__certify_response__descriptor, handle_certify},
    {GET, WF_GRPC_SERVER_STREAM, &weft__destination__get_destination__descriptor,
     &weft__destination__update__descriptor, handle_get},
};

/* --- client side ----------------------------------------------------------------- */

typedef struct result {
    bool done;
    wf_grpc_status_t status;
    char message[256];
    int nmsg;
    char leaf[64];
    size_t leaf_len;
    size_t inter_len;
    int64_t valid_secs;
    uint32_t last_port;
    bool saw_no_endpoints;
} result_t;

static void res_message(wf_grpc_ccall_t *cc, const ProtobufCMessage *msg)
{
    result_t *r = wf_grpc_ccall_data(cc);
    r->nmsg++;
    if (msg->descriptor == &weft__identity__certify_response__descriptor) {
        const Weft__Identity__CertifyResponse *resp = (const void *)msg;
        r->leaf_len = resp->leaf_certificate.len;
        size_t n = WF_MIN(resp->leaf_certificate.len, sizeof(r->leaf) - 1);
        memcpy(r->leaf, resp->leaf_certificate.data, n);
        r->leaf[n] = '\0';
        if (resp->n_intermediate_certificates == 1)
            r->inter_len = resp->intermediate_certificates[0].len;
        r->valid_secs = resp->valid_until ? resp->valid_until->seconds : -1;
    } else {
        const Weft__Destination__Update *up = (const void *)msg;
        if (up->update_case == WEFT__DESTINATION__UPDATE__UPDATE_ADD && up->add->n_addrs == 1 &&
            up->add->addrs[0]->addr != NULL)
            r->last_port = up->add->addrs[0]->addr->port;
        if (up->update_case == WEFT__DESTINATION__UPDATE__UPDATE_NO_ENDPOINTS &&
            !up->no_endpoints->exists)
            r->saw_no_endpoints = true;
    }
}

static void res_done(wf_grpc_ccall_t *cc, wf_grpc_status_t status, wf_str_t message)
{
    result_t *r = wf_grpc_ccall_data(cc);
    r->done = true;
    r->status = status;
    size_t n = WF_MIN(message.len, sizeof(r->message) - 1);
    memcpy(r->message, message.ptr, n);
    r->message[n] = '\0';
}

static const wf_grpc_ccall_cbs_t res_cbs = {res_message, res_done};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until every result is done (or 10 s). */
static bool run_until(wf_loop_t *loop, result_t *rs, int n)
{
    uint64_t end = mono_ms() + 10000;
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && rs[i].done;
        if (all)
            return true;
        if (mono_ms() > end)
            return false;
        wf_loop_run_once(loop, 50);
    }
}

static void run_for(wf_loop_t *loop, uint64_t ms)
{
    uint64_t end = mono_ms() + ms;
    while (mono_ms() < end)
        wf_loop_run_once(loop, 10);
}

static wf_grpc_ccall_t *certify(wf_grpc_channel_t *ch, const char *identity, size_t token_len,
                                uint64_t timeout_ms, result_t *r)
{
    Weft__Identity__CertifyRequest req = WEFT__IDENTITY__CERTIFY_REQUEST__INIT;
    req.identity = (char *)identity;
    uint8_t *tok = calloc(1, token_len ? token_len : 1);
    req.token = (ProtobufCBinaryData){token_len, tok};
    uint8_t csr[3] = {0x30, 0x01, 0x00};
    req.certificate_signing_request = (ProtobufCBinaryData){3, csr};
    memset(r, 0, sizeof(*r));
    int err = 0;
    wf_grpc_ccall_t *cc = wf_grpc_call_start(ch, CERTIFY, WF_GRPC_UNARY, &req.base,
                                             &weft__identity__certify_response__descriptor,
                                             timeout_ms, &res_cbs, r, &err);
    free(tok);
    CHECK(cc != NULL);
    if (cc == NULL)
        r->done = true;
    return cc;
}

static wf_grpc_ccall_t *get(wf_grpc_channel_t *ch, const char *path, uint64_t timeout_ms,
                            result_t *r)
{
    Weft__Destination__GetDestination req = WEFT__DESTINATION__GET_DESTINATION__INIT;
    req.scheme = "k8s";
    req.path = (char *)path;
    memset(r, 0, sizeof(*r));
    int err = 0;
    wf_grpc_ccall_t *cc =
        wf_grpc_call_start(ch, GET, WF_GRPC_SERVER_STREAM, &req.base,
                           &weft__destination__update__descriptor, timeout_ms, &res_cbs, r, &err);
    CHECK(cc != NULL);
    if (cc == NULL)
        r->done = true;
    return cc;
}

/*
 * The client checks, against any server of the test service. local: the
 * server is ours in this process (server_cancels observable).
 */
static void client_checks(wf_loop_t *loop, const wf_addr_t *addr, bool local)
{
    int err = 0;
    wf_grpc_opts_t copts = {.max_recv_msg = 1u << 20};
    wf_grpc_channel_t *ch = wf_grpc_channel_connect(loop, addr, &copts, &err);
    CHECK(ch != NULL);
    if (ch == NULL)
        return;
    result_t r[4];

    /* Unary OK. */
    certify(ch, "web.default.serviceaccount.identity.weft.cluster.local", 17, 5000, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_OK);
    CHECK_EQ_INT(r[0].nmsg, 1);
    CHECK_EQ_STR(r[0].leaf, "leaf:web.default.serviceaccount.identity.weft.cluster.local");
    CHECK_EQ_INT(r[0].inter_len, 17);
    CHECK_EQ_INT(r[0].valid_secs, 1234);

    /* Error status with a percent-encoded message. */
    certify(ch, "fail", 0, 5000, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_PERMISSION_DENIED);
    CHECK_EQ_STR(r[0].message, DENIED_MSG);
    CHECK_EQ_INT(r[0].nmsg, 0);

    /* Deadline: the server never answers "slow". */
    int cancels_before = server_cancels;
    uint64_t t0 = mono_ms();
    certify(ch, "slow", 0, 200, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_DEADLINE_EXCEEDED);
    CHECK(mono_ms() - t0 >= 150 && mono_ms() - t0 < 3000);
    if (local) {
        run_for(loop, 50);
        CHECK_EQ_INT(server_cancels, cancels_before + 1);
    }

    /* Server-streaming: five updates then OK. */
    get(ch, "svc:5", 5000, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_OK);
    CHECK_EQ_INT(r[0].nmsg, 5);
    CHECK_EQ_INT(r[0].last_port, 5);

    /* Streaming error after a message. */
    get(ch, "unknown", 5000, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_NOT_FOUND);
    CHECK_EQ_STR(r[0].message, "no such service");
    CHECK(r[0].saw_no_endpoints);

    /* Unknown method. */
    {
        Weft__Destination__GetDestination req = WEFT__DESTINATION__GET_DESTINATION__INIT;
        memset(&r[0], 0, sizeof(r[0]));
        wf_grpc_ccall_t *cc =
            wf_grpc_call_start(ch, "/weft.nope.Nope/Nope", WF_GRPC_UNARY, &req.base,
                               &weft__destination__update__descriptor, 5000, &res_cbs, &r[0], &err);
        CHECK(cc != NULL);
        CHECK(run_until(loop, r, 1));
        CHECK_EQ_INT(r[0].status, WF_GRPC_UNIMPLEMENTED);
    }

    /* Request over the server's 4 MiB limit. */
    certify(ch, "x", 5u << 20, 10000, &r[0]);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_RESOURCE_EXHAUSTED);

    /* Response over our 1 MiB limit; just under it is fine. */
    certify(ch, "big:1100000", 0, 10000, &r[0]);
    certify(ch, "big:1000000", 0, 10000, &r[1]);
    CHECK(run_until(loop, r, 2));
    CHECK_EQ_INT(r[0].status, WF_GRPC_RESOURCE_EXHAUSTED);
    CHECK_EQ_INT(r[1].status, WF_GRPC_OK);
    CHECK_EQ_INT(r[1].leaf_len, 1000000);

    /* Cancel a held stream after its first message. */
    cancels_before = server_cancels;
    wf_grpc_ccall_t *held = get(ch, "hold", 0, &r[0]);
    uint64_t end = mono_ms() + 5000;
    while (r[0].nmsg == 0 && mono_ms() < end)
        wf_loop_run_once(loop, 10);
    CHECK_EQ_INT(r[0].nmsg, 1);
    if (held != NULL)
        wf_grpc_ccall_cancel(held);
    run_for(loop, 100);
    CHECK(!r[0].done); /* no callback after cancel */
    if (local)
        CHECK_EQ_INT(server_cancels, cancels_before + 1);

    /* Many concurrent calls on the one connection. */
    enum { NCONC = 60 };
    result_t *many = calloc(NCONC, sizeof(*many));
    for (int i = 0; i < NCONC; i++) {
        if (i % 2)
            certify(ch, "c", 10, 5000, &many[i]);
        else
            get(ch, "svc:3", 5000, &many[i]);
    }
    CHECK(run_until(loop, many, NCONC));
    int ok = 0;
    for (int i = 0; i < NCONC; i++)
        ok += many[i].status == WF_GRPC_OK && many[i].nmsg == (i % 2 ? 1 : 3);
    CHECK_EQ_INT(ok, NCONC);
    free(many);

    /* The channel still works, and closing it ends outstanding calls. */
    CHECK(wf_grpc_channel_ok(ch));
    get(ch, "hold", 0, &r[0]);
    wf_grpc_channel_close(ch);
    CHECK(run_until(loop, r, 1));
    CHECK_EQ_INT(r[0].status, WF_GRPC_CANCELLED);
    run_for(loop, 50);
}

static void test_inprocess(void)
{
    wf_loop_t loop;
    CHECK_EQ_INT(wf_loop_init(&loop), 0);
    g_loop = &loop;
    wf_grpc_server_t srv;
    wf_grpc_opts_t sopts = {.keepalive_ms = 100};
    wf_grpc_server_init(&srv, &loop, test_methods, WF_ARRAY_LEN(test_methods), &sopts);
    wf_addr_t addr;
    wf_addr_loopback4(&addr, 0);
    CHECK_EQ_INT(wf_grpc_server_listen(&srv, &addr), 0);
    CHECK_EQ_INT(wf_local_addr(srv.listen_fd, &addr), 0);
    client_checks(&loop, &addr, true);

    /* A connection that dies ends its calls with UNAVAILABLE. */
    int err = 0;
    wf_grpc_channel_t *ch = wf_grpc_channel_connect(&loop, &addr, NULL, &err);
    result_t r, rs[2];
    int cancels_before = server_cancels;
    get(ch, "hold", 0, &rs[0]);
    certify(ch, "slow", 0, 0, &rs[1]); /* no response HEADERS sent yet */
    run_for(&loop, 50);
    wf_grpc_server_close(&srv);
    CHECK(run_until(&loop, rs, 2));
    CHECK_EQ_INT(rs[0].status, WF_GRPC_UNAVAILABLE);
    CHECK_EQ_INT(rs[1].status, WF_GRPC_UNAVAILABLE);
    CHECK_EQ_INT(server_cancels, cancels_before + 2);
    CHECK(!wf_grpc_channel_ok(ch));
    wf_grpc_channel_close(ch);

    /* Connecting to nothing: UNAVAILABLE, not a crash. */
    ch = wf_grpc_channel_connect(&loop, &addr, NULL, &err);
    certify(ch, "x", 0, 5000, &r);
    CHECK(run_until(&loop, &r, 1));
    CHECK_EQ_INT(r.status, WF_GRPC_UNAVAILABLE);
    wf_grpc_channel_close(ch);
    run_for(&loop, 50);
    wf_loop_destroy(&loop);
}

/* --- interop driver modes -------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void on_term(int sig)
{
    g_stop = 1;
}

static int serve(const char *port)
{
    wf_loop_t loop;
    if (wf_loop_init(&loop) != 0)
        return 2;
    g_loop = &loop;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    wf_grpc_server_t srv;
    wf_grpc_server_init(&srv, &loop, test_methods, WF_ARRAY_LEN(test_methods), NULL);
    wf_addr_t addr;
    wf_addr_loopback4(&addr, (uint16_t)atoi(port));
    int rc = wf_grpc_server_listen(&srv, &addr);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", wf_strerror(rc));
        return 2;
    }
    wf_local_addr(srv.listen_fd, &addr);
    printf("READY %u\n", wf_addr_port(&addr));
    fflush(stdout);
    while (!g_stop)
        wf_loop_run_once(&loop, 100);
    wf_grpc_server_close(&srv);
    run_for(&loop, 50);
    wf_loop_destroy(&loop);
    return 0;
}

static int call(const char *target)
{
    wf_loop_t loop;
    if (wf_loop_init(&loop) != 0)
        return 2;
    wf_addr_t addr;
    if (wf_addr_parse(&addr, wf_str_from(target)) != 0) {
        fprintf(stderr, "bad address %s\n", target);
        return 2;
    }
    client_checks(&loop, &addr, false);
    wf_loop_destroy(&loop);
    return wf_test_done();
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    wf_log_set_level(WF_LOG_WARN);
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--call") == 0)
        return call(argv[2]);
    WF_RUN(test_framer_split_everywhere);
    WF_RUN(test_framer_errors);
    WF_RUN(test_timeout_codec);
    WF_RUN(test_message_codec);
    WF_RUN(test_inprocess);
    return wf_test_done();
}
