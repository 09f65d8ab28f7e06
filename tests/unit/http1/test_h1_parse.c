/*
 * test_h1_parse.c — request heads: results, derived semantics, every
 * strictness rule and limit of h1_head.c / h1_field.c, pipelining, and the
 * lookup helpers. Every parse also runs one byte per call (h1_check.h) and
 * must give the same result.
 */
#include "h1_check.h"

static void test_simple_get(void)
{
    wf_h1_parser_t p;
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    int rc = h1_parse(&p, &H1_REQ, s);
    CHECK_EQ_INT(rc, (int)strlen(s));
    CHECK(wf_str_eq(p.msg.method, WF_STR("GET")));
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_GET);
    CHECK(wf_str_eq(p.msg.target, WF_STR("/index.html?q=1")));
    CHECK_EQ_INT(p.msg.minor, 1);
    CHECK_EQ_INT(p.msg.nheaders, 2);
    CHECK(wf_str_eq(p.msg.headers[0].name, WF_STR("Host")));
    CHECK(wf_str_eq(p.msg.headers[0].value, WF_STR("example.com")));
    CHECK_EQ_INT(p.msg.headers[0].id, WF_H1_F_HOST);
    CHECK(wf_str_eq(p.msg.headers[1].name, WF_STR("User-Agent")));
    CHECK_EQ_INT(p.msg.headers[1].id, WF_H1_F_OTHER);
    CHECK_EQ_INT(p.msg.headers[1].flags, 0);
    CHECK(wf_str_eq(p.msg.host, WF_STR("example.com")));
    CHECK_EQ_INT(p.msg.flags, WF_H1_MF_HOST);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_NONE);
    CHECK_EQ_INT(p.msg.content_length, -1);
    CHECK(p.err == NULL);
    CHECK_EQ_INT(p.status, 0);
    /* Views point into the caller's buffer. */
    CHECK(p.msg.target.ptr == s + 4);
    /* A finished parser answers the same again. */
    CHECK_EQ_INT(wf_h1_parse_request(&p, s, strlen(s)), rc);
}

static void test_incomplete(void)
{
    wf_h1_parser_t p;
    CHECK_EQ_INT(h1_parse(&p, &H1_REQ, ""), WF_EAGAIN);
    CHECK_EQ_INT(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: a\r\n"), WF_EAGAIN);
    CHECK_EQ_INT(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: a\r\n\r"), WF_EAGAIN);
    CHECK(p.err == NULL);
}

static void test_body_framing(void)
{
    wf_h1_parser_t p;
    const char *s = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    CHECK_EQ_INT(h1_parse(&p, &H1_REQ, s), (int)strlen(s) - 5);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_LENGTH);
    CHECK_EQ_INT(p.msg.content_length, 5);
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_POST);

    CHECK(h1_parse(&p, &H1_REQ, "PUT / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 0\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_LENGTH);
    CHECK_EQ_INT(p.msg.content_length, 0);
    CHECK_EQ_INT(p.msg.headers[1].id, WF_H1_F_CONTENT_LENGTH);

    CHECK(h1_parse(&p, &H1_REQ,
                   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_CHUNKED);
    CHECK(p.msg.headers[1].flags & WF_H1_HF_HOP);

    CHECK(h1_parse(&p, &H1_REQ,
                   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                   "Transfer-Encoding: CHUNKED\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_CHUNKED);
    CHECK(h1_parse(&p, &H1_REQ,
                   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x-gzip ,\tchunked \r\n\r\n") >
          0);
    CHECK_EQ_INT(p.msg.body, WF_H1_BODY_CHUNKED);

    /* The largest Content-Length accepted. */
    CHECK(h1_parse(&p, &H1_REQ,
                   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n") >
          0);
    CHECK_EQ_INT(p.msg.content_length, INT64_MAX);
    CHECK(h1_parse(&p, &H1_REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.content_length, 7);
}

static void test_duplicate_content_length(void)
{
    wf_h1_parser_t p;
    CHECK(h1_parse(&p, &H1_REQ,
                   "POST / HTTP/1.1\r\nContent-Length: 3\r\nHost: a\r\nContent-Length: 3\r\n\r\n") >
          0);
    CHECK_EQ_INT(p.msg.content_length, 3);
    CHECK_EQ_INT(p.msg.headers[0].flags, 0);
    CHECK_EQ_INT(p.msg.headers[2].flags, WF_H1_HF_DUP);
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                  "conflicting Content-Length values");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\n",
                  "conflicting Content-Length values");
}

static void test_content_length_syntax(void)
{
    static const char *bad[] = {"5, 5", "+5", "-1", "5a", "0x5", "5 5", "1e3", "", "５"};
    for (size_t i = 0; i < WF_ARRAY_LEN(bad); i++) {
        char s[256];
        snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n", bad[i]);
        CHECK_REQ_BAD(s, "Content-Length is not a number");
    }
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n",
                  "Content-Length too large");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                  "Content-Length too large");
}

static void test_transfer_encoding_rules(void)
{
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  "both Transfer-Encoding and Content-Length");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Length: 5\r\n\r\n",
                  "both Transfer-Encoding and Content-Length");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                  "chunked is not the final transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                  "chunked is not the final transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: gzip\r\n\r\n",
                  "chunked is not the final transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                  "chunked applied more than once");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  "chunked applied more than once");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
                  "malformed transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
                  "malformed transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked chunked\r\n\r\n",
                  "malformed transfer coding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
                  "empty element in Transfer-Encoding");
    CHECK_REQ_BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n",
                  "empty element in Transfer-Encoding");
    CHECK_REQ_BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "Transfer-Encoding in an HTTP/1.0 message");
    CHECK_H1_ERR(&H1_REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n",
                 501, "unsupported transfer coding");
    CHECK_H1_ERR(&H1_REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked-false\r\n\r\n",
                 501, "unsupported transfer coding");
}

static void test_field_syntax(void)
{
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n",
                  "obs-fold: field line starts with whitespace");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n",
                  "obs-fold: field line starts with whitespace");
    /* RFC 9112 §2.2: whitespace between start-line and first field. */
    CHECK_REQ_BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n",
                  "obs-fold: field line starts with whitespace");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "whitespace between field name and colon");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "whitespace between field name and colon");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", "empty field name");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX@Y: x\r\n\r\n", "invalid character in field name");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX\x80: x\r\n\r\n",
                  "invalid character in field name");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\n\"X\": x\r\n\r\n",
                  "invalid character in field name");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "field line without a colon");

    /* Control characters in values; HTAB is the one allowed. */
    static const char *ctl[] = {"a\001b", "a\x7f", "\x1b[1m", "a\x0b", "a\x0c", "\x01"};
    for (size_t i = 0; i < WF_ARRAY_LEN(ctl); i++) {
        char s[128];
        snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", ctl[i]);
        CHECK_REQ_BAD(s, "control character in field value");
    }
    {
        static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
        wf_h1_parser_t p;
        CHECK_EQ_INT(h1_parse_n(&p, &H1_REQ, nul, sizeof(nul) - 1), WF_EPROTO);
        CHECK_EQ_STR(p.err, "control character in field value");
    }
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "bare CR in field line");

    /* Values: OWS trimmed, inner whitespace, HTAB and obs-text kept. */
    wf_h1_parser_t p;
    CHECK(h1_parse(&p, &H1_REQ,
                   "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t a \t b\t \r\nX-B:\r\nX-C:   \r\n"
                   "X-D: caf\xc3\xa9\r\n\r\n") > 0);
    CHECK(wf_str_eq(p.msg.headers[0].value, WF_STR("a")));
    CHECK(wf_str_eq(p.msg.headers[1].value, WF_STR("a \t b")));
    CHECK_EQ_INT(p.msg.headers[2].value.len, 0);
    CHECK(p.msg.headers[2].value.ptr != NULL);
    CHECK_EQ_INT(p.msg.headers[3].value.len, 0);
    CHECK(wf_str_eq(p.msg.headers[4].value, WF_STR("caf\xc3\xa9")));
}

static void test_bare_lf(void)
{
    CHECK_REQ_BAD("GET / HTTP/1.1\nHost: a\r\n\r\n", "bare LF line ending");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF line ending");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF line ending");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nX:\n\r\n", "bare LF line ending");
    CHECK_REQ_BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "bare LF line ending");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\n\rX", "bare CR in field line");
    CHECK_REQ_BAD("GET / HTTP/1.1\rHost: a\r\n\r\n", "bare CR in start-line");
    CHECK_REQ_BAD("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", "bare CR before request-line");
}

static void test_request_line(void)
{
    CHECK_REQ_BAD("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", "invalid character in method");
    CHECK_REQ_BAD("GET\001 / HTTP/1.1\r\nHost: a\r\n\r\n", "invalid character in method");
    CHECK_REQ_BAD("\x16\x03\x01\x02\x00", "invalid character in method"); /* TLS, at once */
    CHECK_REQ_BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", "invalid character in method");
    CHECK_REQ_BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", "invalid character in method");
    CHECK_REQ_BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "empty request-target");
    CHECK_REQ_BAD("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "space in request-target");
    CHECK_REQ_BAD("GET /a HTTP/1.1 HTTP/1.1\r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET /a  HTTP/1.1\r\nHost: a\r\n\r\n", "space in request-target");
    CHECK_REQ_BAD("GET /\r\nHost: a\r\n\r\n", "request-line without HTTP version");
    CHECK_REQ_BAD("GET / \r\nHost: a\r\n\r\n", "malformed HTTP version");

    static const char *bad_target[] = {"/a\001", "/a\x7f", "/caf\xc3\xa9", "/a#frag", "/a\tb"};
    for (size_t i = 0; i < WF_ARRAY_LEN(bad_target); i++) {
        char s[128];
        snprintf(s, sizeof(s), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", bad_target[i]);
        CHECK_REQ_BAD(s, "invalid character in request-target");
    }
    static const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    wf_h1_parser_t p;
    CHECK_EQ_INT(h1_parse_n(&p, &H1_REQ, nul, sizeof(nul) - 1), WF_EPROTO);
    CHECK_EQ_STR(p.err, "invalid character in request-target");

    /* Target forms (RFC 9112 §3.2). */
    CHECK(h1_parse(&p, &H1_REQ, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK(h1_parse(&p, &H1_REQ, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n") >
          0);
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_CONNECT);
    CHECK(h1_parse(&p, &H1_REQ, "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") > 0);
    CHECK(h1_parse(&p, &H1_REQ, "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n") >
          0);
    CHECK(wf_str_eq(p.msg.target, WF_STR("http://a.example/x?y")));
    CHECK(h1_parse(&p, &H1_REQ, "GET /{}|^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK_REQ_BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", "asterisk-form target outside OPTIONS");
    CHECK_REQ_BAD("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n",
                  "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT a.example: HTTP/1.1\r\nHost: a\r\n\r\n",
                  "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT a:99999 HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT u@a:443 HTTP/1.1\r\nHost: a\r\n\r\n", "CONNECT target is not host:port");
    CHECK_REQ_BAD("CONNECT [::1:443 HTTP/1.1\r\nHost: a\r\n\r\n",
                  "CONNECT target is not host:port");
    CHECK_REQ_BAD("GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", "invalid request-target form");
    CHECK_REQ_BAD("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "invalid request-target form");

    /* Methods are case-sensitive tokens; unknown ones are passed on. */
    CHECK(h1_parse(&p, &H1_REQ, "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_OTHER);
    CHECK(h1_parse(&p, &H1_REQ, "get / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_OTHER);
    CHECK(h1_parse(&p, &H1_REQ, "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.method_id, WF_H1_M_DELETE);
}

static void test_versions(void)
{
    CHECK_H1_ERR(&H1_REQ, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported");
    CHECK_H1_ERR(&H1_REQ, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "HTTP version not supported");
    CHECK_H1_ERR(&H1_REQ, "GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported");
    CHECK_REQ_BAD("GET / http/1.1\r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET / HTTP/1\r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "malformed HTTP version");
    CHECK_REQ_BAD("GET / HTTP/2\r\nHost: a\r\n\r\n", "malformed HTTP version");

    wf_h1_parser_t p;
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.0\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.minor, 0);
    CHECK_EQ_INT(p.msg.flags, WF_H1_MF_CLOSE); /* HTTP/1.0 defaults to close */
    CHECK(p.msg.host.ptr == NULL);
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags, 0);
}

static void test_host(void)
{
    wf_h1_parser_t p;
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nX: a\r\n\r\n", "HTTP/1.1 request without Host");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "several Host fields");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "several Host fields");
    CHECK_REQ_BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "several Host fields");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid Host value");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "invalid Host value");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "invalid Host value");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n", "invalid Host value");
    /* An empty Host is allowed (§3.2: a target URI without authority). */
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost:\r\n\r\n") > 0);
    CHECK(p.msg.flags & WF_H1_MF_HOST);
    CHECK(p.msg.host.ptr != NULL);
    CHECK_EQ_INT(p.msg.host.len, 0);
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n") > 0);
    CHECK(wf_str_eq(p.msg.host, WF_STR("[2001:db8::1]:8080")));
}

static void test_connection_semantics(void)
{
    wf_h1_parser_t p;
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") > 0);
    CHECK(p.msg.flags & WF_H1_MF_CLOSE);
    CHECK(p.msg.headers[1].flags & WF_H1_HF_HOP);
    CHECK(h1_parse(
              &p, &H1_REQ,
              "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: CLOSE\r\n\r\n") >
          0);
    CHECK(p.msg.flags & WF_H1_MF_CLOSE);
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") > 0);
    CHECK(p.msg.flags & WF_H1_MF_CLOSE);
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, ,\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags & WF_H1_MF_CLOSE, 0);

    /* Upgrade needs the "upgrade" option and HTTP/1.1 (RFC 9110 §7.8). */
    CHECK(h1_parse(&p, &H1_REQ,
                   "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                   "Upgrade: websocket\r\n\r\n") > 0);
    CHECK(p.msg.flags & WF_H1_MF_UPGRADE);
    CHECK(p.msg.headers[2].flags & WF_H1_HF_HOP);
    CHECK(h1_parse(&p, &H1_REQ, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags & WF_H1_MF_UPGRADE, 0);
    CHECK(h1_parse(&p, &H1_REQ,
                   "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags & WF_H1_MF_UPGRADE, 0);

    /* Expect: 100-continue (RFC 9110 §10.1.1), ignored in HTTP/1.0. */
    CHECK(
        h1_parse(&p, &H1_REQ,
                 "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n") >
        0);
    CHECK(p.msg.flags & WF_H1_MF_CONTINUE);
    CHECK(h1_parse(&p, &H1_REQ, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags & WF_H1_MF_CONTINUE, 0);
    CHECK(h1_parse(&p, &H1_REQ, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n") > 0);
    CHECK_EQ_INT(p.msg.flags & WF_H1_MF_CONTINUE, 0);

    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: a/b\r\n\r\n",
                  "malformed Connection option");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n\r\n",
                  "Connection names Content-Length or Host");
    CHECK_REQ_BAD("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, host\r\n\r\n",
                  "Connection names Content-Length or Host");
    char many[1024] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: x0";
    for (int i = 1; i <= WF_H1_MAX_CONN_OPTIONS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ", x%d", i);
    strcat(many, "\r\n\r\n");
    CHECK_REQ_BAD(many, "too many Connection options");
}

static void test_hop_by_hop(void)
{
    wf_h1_parser_t p;
    const char *s = "GET / HTTP/1.1\r\n"
                    "X-Before: 1\r\n" /* 0: named in Connection, before it */
                    "Host: a\r\n"     /* 1 */
                    "Connection: x-before, X-AFTER, keep-alive\r\n" /* 2 */
                    "Keep-Alive: timeout=5\r\n"                     /* 3 */
                    "Proxy-Connection: x\r\n"                       /* 4 */
                    "TE: trailers\r\n"                              /* 5 */
                    "Trailer: X-Sum\r\n"                            /* 6 */
                    "Trailers: X-Sum\r\n"                           /* 7 */
                    "Upgrade: h2c\r\n"                              /* 8 */
                    "X-After: 2\r\n"  /* 9: named in Connection, after it */
                    "X-End: 3\r\n"    /* 10: end-to-end */
                    "Accept: */*\r\n" /* 11: end-to-end */
                    "\r\n";
    CHECK(h1_parse(&p, &H1_REQ, s) > 0);
    CHECK_EQ_INT(p.msg.nheaders, 12);
    static const bool hop[] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    for (uint32_t i = 0; i < p.msg.nheaders; i++)
        CHECK_EQ_INT((p.msg.headers[i].flags & WF_H1_HF_HOP) != 0, hop[i]);
    CHECK_EQ_INT(p.msg.headers[5].id, WF_H1_F_TE);
    CHECK_EQ_INT(p.msg.headers[7].id, WF_H1_F_TRAILER);
}

static void test_empty_lines_and_pipelining(void)
{
    wf_h1_parser_t p;
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_EQ_INT(h1_parse(&p, &H1_REQ, s), (int)strlen(s));
    CHECK(wf_str_eq(p.msg.method, WF_STR("GET")));

    /* Two requests back to back: the first head's length is where the
     * second starts. */
    const char *two = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /b HTTP/1.1\r\nHost: b\r\n\r\n"
                      "GET /c HTTP/1.1\r\nHost: c\r\n\r\n";
    size_t off = 0, n = strlen(two);
    int rc = h1_parse(&p, &H1_REQ, two);
    CHECK(rc > 0);
    CHECK(wf_str_eq(p.msg.target, WF_STR("/a")));
    off += (size_t)rc + (size_t)p.msg.content_length;
    rc = h1_parse_n(&p, &H1_REQ, two + off, n - off);
    CHECK(rc > 0);
    CHECK(wf_str_eq(p.msg.target, WF_STR("/b")));
    CHECK(wf_str_eq(p.msg.host, WF_STR("b")));
    off += (size_t)rc;
    rc = h1_parse_n(&p, &H1_REQ, two + off, n - off);
    CHECK_EQ_INT(rc, (int)(n - off));
    CHECK(wf_str_eq(p.msg.target, WF_STR("/c")));
}

static void test_limits(void)
{
    wf_h1_parser_t p;
    char s[70 * 1024];

    /* 100 fields pass, 101 do not. */
    for (int n = 99; n <= 100; n++) {
        strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int i = 0; i < n; i++)
            snprintf(s + strlen(s), sizeof(s) - strlen(s), "X-%d: %d\r\n", i, i);
        strcat(s, "\r\n");
        int rc = h1_parse(&p, &H1_REQ, s);
        if (n == 99) {
            CHECK(rc > 0);
            CHECK_EQ_INT(p.msg.nheaders, 100);
        } else {
            CHECK_EQ_INT(rc, WF_ELIMIT);
            CHECK_EQ_INT(p.status, 431);
            CHECK_EQ_STR(p.err, "too many header fields");
        }
    }
    h1_case_t three = {.max_headers = 3};
    CHECK_H1_ERR(&three, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431,
                 "too many header fields");
    CHECK(h1_parse(&p, &three, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n") > 0);

    /* Head size: exactly max_head passes, one byte more does not, whole
     * or byte by byte (h1_parse compares both). */
    const char *small = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n";
    uint32_t len = (uint32_t)strlen(small);
    h1_case_t exact = {.max_head = len}, under = {.max_head = len - 1};
    CHECK_EQ_INT(h1_parse(&p, &exact, small), (int)len);
    CHECK_H1_ERR(&under, small, 431, "head too large");
    /* An incomplete head reaching the limit fails without waiting for more. */
    h1_case_t reached = {.max_head = len - 2};
    CHECK_H1_ERR(&reached, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n", 431,
                 "head too large");
    /* The limit counts skipped empty lines too. */
    h1_case_t tiny = {.max_head = 8};
    CHECK_H1_ERR(&tiny, "\r\n\r\n\r\n\r\n\r\n", 431, "head too large");

    /* The default 60 KiB, reached by one long field arriving in pieces into
     * a growing buffer. */
    strcpy(s, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    size_t used = strlen(s);
    memset(s + used, 'x', sizeof(s) - used);
    wf_h1_request_init(&p, h1_hdrs, WF_H1_DEFAULT_MAX_HEADERS);
    int rc = WF_EAGAIN;
    size_t fed = used;
    while (rc == WF_EAGAIN && fed < sizeof(s)) {
        fed = WF_MIN(fed + 1000, sizeof(s));
        rc = wf_h1_parse_request(&p, s, fed);
    }
    CHECK_EQ_INT(rc, WF_ELIMIT);
    CHECK_EQ_INT(p.status, 431);
    CHECK(fed >= WF_H1_DEFAULT_MAX_HEAD && fed < WF_H1_DEFAULT_MAX_HEAD + 1000);

    /* A head just under the default, fed one byte per call into the same
     * growing buffer (each call only scans the new byte). */
    size_t big = WF_H1_DEFAULT_MAX_HEAD - 4;
    memcpy(s + big, "\r\n\r\n", 4);
    wf_h1_request_init(&p, h1_hdrs, WF_H1_DEFAULT_MAX_HEADERS);
    rc = WF_EAGAIN;
    for (fed = 0; rc == WF_EAGAIN && fed <= big + 4; fed++)
        rc = wf_h1_parse_request(&p, s, fed);
    CHECK_EQ_INT(rc, (int)big + 4);
    CHECK_EQ_INT(p.msg.headers[1].value.len, big - used);

    /* Request-target: 414 past max_target, also before the line is whole. */
    h1_case_t t16 = {.max_target = 16};
    CHECK(h1_parse(&p, &t16, "GET /23456789abcdefg HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    CHECK_H1_ERR(&t16, "GET /23456789abcdefgh HTTP/1.1\r\nHost: a\r\n\r\n", 414,
                 "request-target too long");
    CHECK_H1_ERR(&t16, "GET /23456789abcdefgh", 414, "request-target too long");
    /* An earlier bad byte wins over the length. */
    CHECK_H1_ERR(&t16, "GET /2\001456789abcdefgh", 400, "invalid character in request-target");
    CHECK_EQ_INT(p.max_target, 16);
}

static void test_misuse(void)
{
    wf_h1_parser_t p;
    wf_h1_response_init(&p, h1_hdrs, 10, WF_H1_M_GET);
    CHECK_EQ_INT(wf_h1_parse_request(&p, "GET", 3), WF_EINVAL);
    wf_h1_request_init(&p, h1_hdrs, 10);
    CHECK_EQ_INT(wf_h1_parse_response(&p, "HTTP", 4), WF_EINVAL);
    /* A failed parser keeps failing the same way. */
    wf_h1_request_init(&p, h1_hdrs, 10);
    CHECK_EQ_INT(wf_h1_parse_request(&p, "G(", 2), WF_EPROTO);
    const char *why = p.err;
    const char *ok = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_EQ_INT(wf_h1_parse_request(&p, ok, strlen(ok)), WF_EPROTO);
    CHECK(p.err == why);
}

static void test_lookup_helpers(void)
{
    wf_h1_parser_t p;
    CHECK(h1_parse(&p, &H1_REQ,
                   "GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\nACCEPT: y\r\n"
                   "Connection: keep-alive, Upgrade\r\n\r\n") > 0);
    const wf_h1_header_t *h = wf_h1_find_header(&p.msg, WF_STR("accept"), NULL);
    CHECK(h == &p.msg.headers[1]);
    h = wf_h1_find_header(&p.msg, WF_STR("accept"), h);
    CHECK(h == &p.msg.headers[2]);
    CHECK(wf_h1_find_header(&p.msg, WF_STR("accept"), h) == NULL);
    CHECK(wf_h1_find_header(&p.msg, WF_STR("cookie"), NULL) == NULL);
    CHECK(wf_h1_find_header(&p.msg, WF_STR("hos"), NULL) == NULL);

    wf_str_t conn = wf_h1_find_header(&p.msg, WF_STR("Connection"), NULL)->value;
    CHECK(wf_h1_has_token(conn, WF_STR("upgrade")));
    CHECK(wf_h1_has_token(conn, WF_STR("KEEP-ALIVE")));
    CHECK(!wf_h1_has_token(conn, WF_STR("keep")));
    CHECK(!wf_h1_has_token(conn, WF_STR("close")));
    CHECK(wf_h1_has_token(WF_STR("gzip;q=1.0 , br"), WF_STR("gzip")));
    CHECK(wf_h1_has_token(WF_STR("a,,\t b \t,"), WF_STR("b")));
    CHECK(!wf_h1_has_token(WF_STR(""), WF_STR("")));
    CHECK(!wf_h1_has_token(WF_STR("ab"), WF_STR("a")));
}

int main(void)
{
    WF_RUN(test_simple_get);
    WF_RUN(test_incomplete);
    WF_RUN(test_body_framing);
    WF_RUN(test_duplicate_content_length);
    WF_RUN(test_content_length_syntax);
    WF_RUN(test_transfer_encoding_rules);
    WF_RUN(test_field_syntax);
    WF_RUN(test_bare_lf);
    WF_RUN(test_request_line);
    WF_RUN(test_versions);
    WF_RUN(test_host);
    WF_RUN(test_connection_semantics);
    WF_RUN(test_hop_by_hop);
    WF_RUN(test_empty_lines_and_pipelining);
    WF_RUN(test_limits);
    WF_RUN(test_misuse);
    WF_RUN(test_lookup_helpers);
    free(h1_keep);
    return wf_test_done();
}
