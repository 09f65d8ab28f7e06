/*
 * client_hello.c — see client_hello.h. Wire format: RFC 8446 §4.1.2
 * (ClientHello), §4.2 (extensions), RFC 6066 §3 (server_name).
 */
#include "tls/client_hello.h"

/* A bounds-checked reader over a byte range. */
typedef struct rd {
    const uint8_t *p;
    size_t len;
    bool bad;
} rd_t;

static uint32_t rd_uint(rd_t *r, size_t n)
{
    if (r->bad || r->len < n) {
        r->bad = true;
        return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    r->len -= n;
    return v;
}

/* A sub-range of n bytes, consumed from r. */
static rd_t rd_sub(rd_t *r, size_t n)
{
    rd_t s = {r->p, n, r->bad || r->len < n};
    if (!s.bad) {
        r->p += n;
        r->len -= n;
    } else {
        r->bad = true;
    }
    return s;
}

/* A vector with an n-byte length prefix. */
static rd_t rd_vec(rd_t *r, size_t n)
{
    return rd_sub(r, rd_uint(r, n));
}

/* server_name extension body: ServerNameList of (type, opaque<1..2^16-1>). */
static bool parse_sni(rd_t ext, wf_str_t *sni)
{
    rd_t list = rd_vec(&ext, 2);
    if (list.bad || ext.len != 0 || list.len == 0)
        return false;
    while (list.len > 0) {
        uint32_t type = rd_uint(&list, 1);
        rd_t name = rd_vec(&list, 2);
        if (list.bad || name.len == 0)
            return false;
        if (type == 0 && sni->len == 0) /* host_name; one of each type */
            *sni = (wf_str_t){(const char *)name.p, name.len};
        else if (type == 0)
            return false;
    }
    return true;
}

wf_ch_result_t wf_client_hello_sni(const uint8_t *p, size_t len, wf_str_t *sni)
{
    *sni = (wf_str_t){NULL, 0};
    /* Record header: handshake(22), legacy version 3.x, length. */
    if (len >= 1 && p[0] != 22)
        return WF_CH_NOT_TLS;
    if (len >= 2 && p[1] != 3)
        return WF_CH_NOT_TLS;
    if (len < 5)
        return WF_CH_INCOMPLETE;
    size_t rec_len = (size_t)p[3] << 8 | p[4];
    if (rec_len == 0 || rec_len > 16384)
        return WF_CH_NOT_TLS;
    /* The handshake header decides early whether this is a ClientHello. */
    if (len >= 6 && p[5] != 1)
        return WF_CH_NOT_TLS;
    if (len < 5 + rec_len)
        return WF_CH_INCOMPLETE;

    rd_t rec = {p + 5, rec_len, false};
    rd_uint(&rec, 1); /* msg_type, checked above */
    uint32_t hs_len = rd_uint(&rec, 3);
    if (rec.bad)
        return WF_CH_MALFORMED;
    if (hs_len > rec.len)
        return WF_CH_UNSUPPORTED;
    rd_t ch = rd_sub(&rec, hs_len);

    rd_uint(&ch, 2);                 /* legacy_version */
    rd_sub(&ch, 32);                 /* random */
    rd_t sid = rd_vec(&ch, 1);       /* legacy_session_id <0..32> */
    rd_t suites = rd_vec(&ch, 2);    /* cipher_suites <2..2^16-2> */
    rd_t comp = rd_vec(&ch, 1);      /* legacy_compression_methods <1..2^8-1> */
    if (ch.bad || sid.len > 32 || suites.len < 2 || suites.len % 2 != 0 || comp.len < 1)
        return WF_CH_MALFORMED;
    if (ch.len == 0)
        return WF_CH_OK; /* no extensions at all (TLS <= 1.2 clients) */
    rd_t exts = rd_vec(&ch, 2);
    if (ch.bad || ch.len != 0)
        return WF_CH_MALFORMED;
    bool seen = false;
    while (exts.len > 0) {
        uint32_t type = rd_uint(&exts, 2);
        rd_t body = rd_vec(&exts, 2);
        if (exts.bad)
            return WF_CH_MALFORMED;
        if (type == 0) { /* server_name, at most once (RFC 8446 §4.2) */
            if (seen || !parse_sni(body, sni))
                return WF_CH_MALFORMED;
            seen = true;
        }
    }
    return WF_CH_OK;
}
