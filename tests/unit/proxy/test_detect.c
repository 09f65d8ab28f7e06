/* Unit tests: protocol detection probes. */
#include "detect.h"
#include "wf_test.h"

static wf_proto_t det(const char *s)
{
    return wf_detect((const uint8_t *)s, strlen(s));
}

static void test_http1(void)
{
    CHECK_EQ_INT(det("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), WF_PROTO_HTTP1);
    CHECK_EQ_INT(det("POST /a?b=c HTTP/1.0\r\n"), WF_PROTO_HTTP1);
    CHECK_EQ_INT(det("M-SEARCH * HTTP/1.1\r\n"), WF_PROTO_HTTP1);
    /* Prefixes of a request line need more bytes. */
    CHECK_EQ_INT(det("GET"), WF_PROTO_UNKNOWN);
    CHECK_EQ_INT(det("GET /index.html HTT"), WF_PROTO_UNKNOWN);
    CHECK_EQ_INT(det("GET / HTTP/1.1\r"), WF_PROTO_UNKNOWN);
    /* Not HTTP/1. */
    CHECK_EQ_INT(det("GET / HTTP/2.0\r\n"), WF_PROTO_OPAQUE);
    CHECK_EQ_INT(det("GET  / HTTP/1.1\r\n"), WF_PROTO_OPAQUE);
    CHECK_EQ_INT(det("GET / HTTP/1.1\n"), WF_PROTO_OPAQUE);
    CHECK_EQ_INT(det("*2\r\n$3\r\nGET\r\n"), WF_PROTO_OPAQUE); /* redis */
    CHECK_EQ_INT(det("SSH-2.0-OpenSSH\r\n"), WF_PROTO_OPAQUE);
}

static void test_h2_preface(void)
{
    CHECK_EQ_INT(det("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), WF_PROTO_HTTP2);
    CHECK_EQ_INT(det("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"), WF_PROTO_HTTP2);
    CHECK_EQ_INT(det("PRI * HTTP/2.0\r\n"), WF_PROTO_UNKNOWN);
    CHECK_EQ_INT(det("PRI * HTTP/2.0\r\n\r\nXX"), WF_PROTO_OPAQUE);
}

static void test_tls(void)
{
    const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    CHECK_EQ_INT(wf_detect(hello, sizeof(hello)), WF_PROTO_TLS);
    CHECK_EQ_INT(wf_detect(hello, 3), WF_PROTO_UNKNOWN);
    const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x40, 0x02};
    CHECK_EQ_INT(wf_detect(server_hello, sizeof(server_hello)), WF_PROTO_OPAQUE);
    const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
    CHECK_EQ_INT(wf_detect(alert, sizeof(alert)), WF_PROTO_OPAQUE);
}

static void test_cap(void)
{
    /* An endless token never decides by itself: the cap makes it opaque. */
    char big[WF_DETECT_MAX_BYTES + 10];
    memset(big, 'A', sizeof(big));
    CHECK_EQ_INT(wf_detect((const uint8_t *)big, 100), WF_PROTO_UNKNOWN);
    CHECK_EQ_INT(wf_detect((const uint8_t *)big, WF_DETECT_MAX_BYTES), WF_PROTO_OPAQUE);
    CHECK_EQ_INT(wf_detect((const uint8_t *)big, sizeof(big)), WF_PROTO_OPAQUE);
    CHECK_EQ_INT(wf_detect((const uint8_t *)"", 0), WF_PROTO_UNKNOWN);
}

static void test_probe_table(void)
{
    CHECK_EQ_INT(wf_nprobes, 3);
    for (size_t i = 0; i < wf_nprobes; i++) {
        CHECK(wf_probes[i].name != NULL);
        CHECK(wf_probes[i].min_bytes > 0 && wf_probes[i].min_bytes <= WF_DETECT_MAX_BYTES);
    }
}

int main(void)
{
    WF_RUN(test_http1);
    WF_RUN(test_h2_preface);
    WF_RUN(test_tls);
    WF_RUN(test_cap);
    WF_RUN(test_probe_table);
    return wf_test_done();
}
