#include "detect.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static wf_probe_result_t probe_h2(const uint8_t *p, size_t len)
{
    size_t n = sizeof(h2_preface) - 1;
    size_t cmp = WF_MIN(len, n);
    if (memcmp(p, h2_preface, cmp) != 0)
        return WF_PROBE_NO_MATCH;
    return len >= n ? WF_PROBE_MATCH : WF_PROBE_NEED_MORE;
}

/* tchar (RFC 9110 §5.6.2) */
static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * HTTP/1: a request line `method SP request-target SP HTTP/1.x CRLF`
 * (RFC 9112 §3). The whole line must arrive within the detection window;
 * a longer line is not treated as HTTP (the HTTP parser would refuse it
 * anyway, and relaying it opaquely loses nothing).
 */
static wf_probe_result_t probe_http1(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar(p[i]))
        i++;
    if (i == len)
        return WF_PROBE_NEED_MORE;
    if (i == 0 || p[i] != ' ')
        return WF_PROBE_NO_MATCH;
    size_t target = ++i;
    while (i < len && p[i] > ' ' && p[i] != 0x7f)
        i++;
    if (i == len)
        return WF_PROBE_NEED_MORE;
    if (i == target || p[i] != ' ')
        return WF_PROBE_NO_MATCH;
    static const char version[] = "HTTP/1.";
    i++;
    for (size_t k = 0; k < sizeof(version) - 1; k++, i++) {
        if (i == len)
            return WF_PROBE_NEED_MORE;
        if (p[i] != (uint8_t)version[k])
            return WF_PROBE_NO_MATCH;
    }
    if (i == len)
        return WF_PROBE_NEED_MORE;
    if (p[i] != '0' && p[i] != '1')
        return WF_PROBE_NO_MATCH;
    if (++i == len)
        return WF_PROBE_NEED_MORE;
    if (p[i] != '\r')
        return WF_PROBE_NO_MATCH;
    if (++i == len)
        return WF_PROBE_NEED_MORE;
    return p[i] == '\n' ? WF_PROBE_MATCH : WF_PROBE_NO_MATCH;
}

/*
 * TLS: a handshake record (type 22) with a legacy record version 3.x and
 * a ClientHello (handshake type 1) inside (RFC 8446 §5.1, §4).
 */
static wf_probe_result_t probe_tls(const uint8_t *p, size_t len)
{
    static const uint8_t expect[] = {0x16, 0x03};
    for (size_t i = 0; i < 2; i++) {
        if (i == len)
            return WF_PROBE_NEED_MORE;
        if (p[i] != expect[i])
            return WF_PROBE_NO_MATCH;
    }
    if (len < 3)
        return WF_PROBE_NEED_MORE;
    if (p[2] > 0x04)
        return WF_PROBE_NO_MATCH;
    if (len < 6)
        return WF_PROBE_NEED_MORE;
    size_t reclen = (size_t)p[3] << 8 | p[4];
    if (reclen < 4 || reclen > 16384 + 256)
        return WF_PROBE_NO_MATCH;
    return p[5] == 0x01 ? WF_PROBE_MATCH : WF_PROBE_NO_MATCH;
}

const wf_probe_t wf_probes[] = {
    {"h2-preface", WF_PROTO_HTTP2, sizeof(h2_preface) - 1, probe_h2},
    {"http1-request-line", WF_PROTO_HTTP1, 16, probe_http1},
    {"tls-client-hello", WF_PROTO_TLS, 6, probe_tls},
};
const size_t wf_nprobes = WF_ARRAY_LEN(wf_probes);

wf_proto_t wf_detect(const uint8_t *p, size_t len)
{
    if (len > WF_DETECT_MAX_BYTES)
        len = WF_DETECT_MAX_BYTES;
    bool undecided = false;
    /* The h2 preface also starts like an HTTP/1 request line ("PRI * HTTP/2.0"
     * fails the version check), so probe order only matters for speed. */
    for (size_t i = 0; i < wf_nprobes; i++) {
        wf_probe_result_t r = len == 0 ? WF_PROBE_NEED_MORE : wf_probes[i].match(p, len);
        if (r == WF_PROBE_MATCH)
            return wf_probes[i].proto;
        if (r == WF_PROBE_NEED_MORE)
            undecided = true;
    }
    if (!undecided)
        return WF_PROTO_OPAQUE;
    return len >= WF_DETECT_MAX_BYTES ? WF_PROTO_OPAQUE : WF_PROTO_UNKNOWN;
}

const char *wf_proto_name(wf_proto_t proto)
{
    switch (proto) {
    case WF_PROTO_OPAQUE:
        return "opaque";
    case WF_PROTO_HTTP1:
        return "http/1";
    case WF_PROTO_HTTP2:
        return "h2";
    case WF_PROTO_TLS:
        return "tls";
    default:
        return "unknown";
    }
}
