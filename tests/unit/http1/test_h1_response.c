/*
 * test_h1_response.c — response heads: status-line rules, the framing
 * table of RFC 9112 §6.3 (HEAD, 1xx, 204, 304, 2xx to CONNECT, chunked,
 * length, until close), connection semantics, and the strictness rules as
 * they apply upstream (every error is a 502). Every parse also runs one
 * byte per call and must agree (h1_check.h).
 */
#include "h1_check.h"

static const wf_h1_msg_t *res(wf_h1_method_t req, const char *s, int *rc)
{
    static wf_h1_parser_t p;
    h1_case_t c = {.response = true, .req_method = req};
    *rc = h1_parse(&p, &c, s);
    return &p.msg;
}

static void test_status_line(void)
{
    int rc;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    const wf_h1_msg_t *m = res(WF_H1_M_GET, s, &rc);
    CHECK_EQ_INT(rc, (int)strlen(s) - 2);
    CHECK_EQ_INT(m->status, 200);
    CHECK(wf_str_eq(m->reason, WF_STR("OK")));
    CHECK_EQ_INT(m->minor, 1);
    CHECK_EQ_INT(m->body, WF_H1_BODY_LENGTH);
    CHECK_EQ_INT(m->content_length, 2);
    CHECK_EQ_INT(m->flags, 0);
    CHECK(m->method.ptr == NULL && m->target.ptr == NULL && m->host.ptr == NULL);

    m = res(WF_H1_M_GET, "HTTP/1.1 404 Not  Found \t\xff\r\nContent-Length: 0\r\n\r\n", &rc);
    CHECK(rc > 0);
    CHECK(wf_str_eq(m->reason, WF_STR("Not  Found \t\xff")));
    /* No reason: with and without the SP (see h1_head.c). */
    m = res(WF_H1_M_GET, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", &rc);
    CHECK(rc > 0);
    CHECK_EQ_INT(m->reason.len, 0);
    m = res(WF_H1_M_GET, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", &rc);
    CHECK(rc > 0);
    CHECK_EQ_INT(m->reason.len, 0);
    CHECK(m->reason.ptr != NULL);
    /* Host means nothing in a response and may repeat. */
    m = res(WF_H1_M_GET, "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n", &rc);
    CHECK(rc > 0);
    CHECK(m->host.ptr == NULL);

    CHECK_RES_BAD("HTTP/1.1 099 Low\r\n\r\n", "status code out of range");
    CHECK_RES_BAD("HTTP/1.1 600 High\r\n\r\n", "status code out of range");
    CHECK_RES_BAD("HTTP/1.1 000 Zero\r\n\r\n", "status code out of range");
    CHECK_RES_BAD("HTTP/1.1 20 OK\r\n\r\n", "malformed status code");
    CHECK_RES_BAD("HTTP/1.1 2000 OK\r\n\r\n", "malformed status code");
    CHECK_RES_BAD("HTTP/1.1 2x0 OK\r\n\r\n", "malformed status code");
    CHECK_RES_BAD("HTTP/1.1  200 OK\r\n\r\n", "malformed status code");
    CHECK_RES_BAD("HTTP/1.1 200\n\r\n", "bare LF line ending");
    CHECK_RES_BAD("HTTP/1.1 200 OK\n\r\n", "bare LF line ending");
    CHECK_RES_BAD("HTTP/1.1 200 O\001K\r\n\r\n", "control character in reason-phrase");
    CHECK_RES_BAD("HTTP/1.1 200 OK\rX\r\n\r\n", "bare CR in start-line");
    CHECK_RES_BAD("HTTP/2 200 OK\r\n\r\n", "malformed HTTP version in status-line");
    CHECK_RES_BAD("HTTP/1.1\t200 OK\r\n\r\n", "malformed HTTP version in status-line");
    CHECK_RES_BAD("http/1.1 200 OK\r\n\r\n", "malformed HTTP version in status-line");
    CHECK_RES_BAD("ICY 200 OK\r\n\r\n", "malformed HTTP version in status-line");
    CHECK_RES_BAD("HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version");
    CHECK_RES_BAD("HTTP/1.2 200 OK\r\n\r\n", "unsupported HTTP version");
    /* No empty lines before a status-line. */
    CHECK_RES_BAD("\r\nHTTP/1.1 200 OK\r\n\r\n", "malformed HTTP version in status-line");
}

static void test_framing_table(void)
{
    static const struct {
        wf_h1_method_t req;
        const char *head;
        uint8_t body;
        uint32_t flags;
        int64_t cl;
    } cases[] = {
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", WF_H1_BODY_LENGTH, 0, 10},
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", WF_H1_BODY_CHUNKED,
         0, -1},
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\n\r\n", WF_H1_BODY_UNTIL_CLOSE, WF_H1_MF_CLOSE, -1},
        /* §6.3 item 4: a final coding other than chunked reads until close;
         * an unknown coding is passed on, not refused. */
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", WF_H1_BODY_UNTIL_CLOSE,
         WF_H1_MF_CLOSE, -1},
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n",
         WF_H1_BODY_CHUNKED, 0, -1},
        /* §6.3 item 1: HEAD, 1xx, 204 and 304 never have a body. */
        {WF_H1_M_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", WF_H1_BODY_NONE, 0, 10},
        {WF_H1_M_HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", WF_H1_BODY_NONE, 0,
         -1},
        {WF_H1_M_HEAD, "HTTP/1.1 200 OK\r\n\r\n", WF_H1_BODY_NONE, 0, -1},
        {WF_H1_M_GET, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", WF_H1_BODY_NONE, 0,
         0},
        {WF_H1_M_GET, "HTTP/1.1 204 No Content\r\n\r\n", WF_H1_BODY_NONE, 0, -1},
        {WF_H1_M_GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", WF_H1_BODY_NONE, 0,
         99},
        {WF_H1_M_GET, "HTTP/1.1 100 Continue\r\n\r\n", WF_H1_BODY_NONE, 0, -1},
        {WF_H1_M_GET, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", WF_H1_BODY_NONE, 0, -1},
        {WF_H1_M_GET,
         "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
         WF_H1_BODY_NONE, WF_H1_MF_TUNNEL | WF_H1_MF_UPGRADE, -1},
        /* §6.3 item 2: 2xx to CONNECT is a tunnel; other codes are not. */
        {WF_H1_M_CONNECT, "HTTP/1.1 200 Connection established\r\n\r\n", WF_H1_BODY_NONE,
         WF_H1_MF_TUNNEL, -1},
        {WF_H1_M_CONNECT, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", WF_H1_BODY_NONE,
         WF_H1_MF_TUNNEL, 5},
        {WF_H1_M_CONNECT, "HTTP/1.1 407 Auth\r\nContent-Length: 5\r\n\r\n", WF_H1_BODY_LENGTH, 0,
         5},
        {WF_H1_M_CONNECT, "HTTP/1.1 502 Bad\r\n\r\n", WF_H1_BODY_UNTIL_CLOSE, WF_H1_MF_CLOSE, -1},
        /* §9.3 persistence. */
        {WF_H1_M_GET, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", WF_H1_BODY_LENGTH,
         WF_H1_MF_CLOSE, 1},
        {WF_H1_M_GET, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
         WF_H1_BODY_LENGTH, 0, 1},
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
         WF_H1_BODY_LENGTH, WF_H1_MF_CLOSE, 1},
        {WF_H1_M_GET, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
         WF_H1_BODY_LENGTH, 0, 1},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(cases); i++) {
        int rc;
        const wf_h1_msg_t *m = res(cases[i].req, cases[i].head, &rc);
        CHECK_EQ_INT(rc, (int)strlen(cases[i].head));
        CHECK_EQ_INT(m->body, cases[i].body);
        CHECK_EQ_INT(m->flags, cases[i].flags);
        CHECK_EQ_INT(m->content_length, cases[i].cl);
        if (rc < 0 || m->body != cases[i].body || m->flags != cases[i].flags)
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].head);
    }
}

static void test_response_strictness(void)
{
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "both Transfer-Encoding and Content-Length");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  "conflicting Content-Length values");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n",
                  "Content-Length is not a number");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                  "chunked is not the final transfer coding");
    CHECK_RES_BAD(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "chunked applied more than once");
    CHECK_RES_BAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "Transfer-Encoding in an HTTP/1.0 message");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n",
                  "obs-fold: field line starts with whitespace");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nX : 1\r\n\r\n", "whitespace between field name and colon");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nX: 1\n\r\n", "bare LF line ending");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n", "control character in field value");
    CHECK_RES_BAD("HTTP/1.1 200 OK\r\nConnection: content-length\r\n\r\n",
                  "Connection names Content-Length or Host");
    /* Limits answer 502 upstream too. */
    h1_case_t small = {.response = true, .max_head = 20};
    CHECK_H1_ERR(&small, "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", 502, "head too large");
    h1_case_t one = {.response = true, .max_headers = 1};
    CHECK_H1_ERR(&one, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 502, "too many header fields");
}

static void test_hop_flags(void)
{
    int rc;
    const wf_h1_msg_t *m = res(WF_H1_M_GET,
                               "HTTP/1.1 200 OK\r\nConnection: x-trace\r\nX-Trace: 1\r\n"
                               "Keep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
                               &rc);
    CHECK(rc > 0);
    CHECK(m->headers[0].flags & WF_H1_HF_HOP);
    CHECK(m->headers[1].flags & WF_H1_HF_HOP);
    CHECK(m->headers[2].flags & WF_H1_HF_HOP);
    CHECK_EQ_INT(m->headers[3].flags, 0);
}

static void test_interim_then_final(void)
{
    /* A 1xx is a whole message; the final response follows it. */
    const char *s =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    int rc;
    const wf_h1_msg_t *m = res(WF_H1_M_PUT, s, &rc);
    CHECK_EQ_INT(rc, 25);
    CHECK_EQ_INT(m->status, 100);
    m = res(WF_H1_M_PUT, s + rc, &rc);
    CHECK_EQ_INT(m->status, 201);
    CHECK_EQ_INT(m->body, WF_H1_BODY_LENGTH);
}

int main(void)
{
    WF_RUN(test_status_line);
    WF_RUN(test_framing_table);
    WF_RUN(test_response_strictness);
    WF_RUN(test_hop_flags);
    WF_RUN(test_interim_then_final);
    free(h1_keep);
    return wf_test_done();
}
