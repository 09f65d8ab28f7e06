/*
 * h2_common.c — what the HTTP/2 server and client codecs share: nghttp2
 * options (flood limits) and head → nv conversion.
 */
#include "h2_proxy.h"

#include <stdio.h>

nghttp2_option *wf_h2_options(bool server)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return NULL;
    /* Windows are given back only when the other side of the proxy took
     * the bytes (end-to-end back-pressure), never on receipt. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, WF_H2_MAX_HEADER_LIST + 4096);
    /* Flood limits (CVE-2019-9512/9515, CVE-2023-44487, CVE-2024-27316):
     * queued control-frame replies, SETTINGS entries, resets, and
     * CONTINUATION frames per header block. */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    if (server)
        nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50);
    nghttp2_option_set_max_continuations(opt, 8);
    /* Until the peer's SETTINGS arrive, assume the RFC 9113 §6.5.2
     * recommended minimum instead of "unlimited", so a burst of requests
     * on a new connection is not refused by a peer that allows 100. */
    nghttp2_option_set_peer_max_concurrent_streams(opt, WF_H2_MAX_STREAMS);
    return opt;
}

static nghttp2_nv nv(wf_str_t name, wf_str_t value)
{
    return (nghttp2_nv){(uint8_t *)name.ptr, (uint8_t *)value.ptr, name.len, value.len,
                        NGHTTP2_NV_FLAG_NONE};
}

/* Connection-specific fields are not allowed in HTTP/2 (RFC 9113 §8.2.2). */
static bool h2_forbidden(wf_str_t name)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < WF_ARRAY_LEN(names); i++)
        if (wf_str_eq_nocase(name, wf_str_from(names[i])))
            return true;
    return false;
}

size_t wf_h2_head_nv(const wf_http_head_t *h, bool request, nghttp2_nv *nva, char *status_buf)
{
    size_t n = 0;
    if (request) {
        nva[n++] = nv(WF_STR(":method"), h->method);
        nva[n++] = nv(WF_STR(":scheme"), h->scheme.len ? h->scheme : WF_STR("http"));
        if (h->authority.len)
            nva[n++] = nv(WF_STR(":authority"), h->authority);
        nva[n++] = nv(WF_STR(":path"), h->target);
    } else if (h->status != 0) {
        int len = snprintf(status_buf, 4, "%03u", h->status % 1000u);
        nva[n++] = nv(WF_STR(":status"), (wf_str_t){status_buf, (size_t)len});
    }
    for (uint32_t i = 0; i < h->nfields; i++) {
        /* Names arrive lowercase from HTTP/2 peers; nghttp2 lowercases
         * nothing, and HTTP/1 origins are not routed here yet. */
        if (h2_forbidden(h->fields[i].name))
            continue;
        nva[n++] = nv(h->fields[i].name, h->fields[i].value);
    }
    return n;
}

ssize_t wf_h2_read_pipe(nghttp2_session *ng, int32_t id, wf_pipe_t *body,
                        const wf_http_head_t *trailers, wf_pool_t *pool, uint8_t *buf, size_t len,
                        uint32_t *flags, bool *deferred)
{
    size_t n = 0;
    while (n < len) {
        wf_str_t d = wf_pipe_peek(body);
        if (d.len == 0)
            break;
        size_t take = WF_MIN(d.len, len - n);
        memcpy(buf + n, d.ptr, take);
        wf_pipe_consume(body, pool, take);
        n += take;
    }
    if (body->eof && body->bytes == 0) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (trailers->nfields > 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_nv nva[trailers->nfields + 5];
            size_t nn = wf_h2_head_nv(trailers, false, nva, NULL);
            nghttp2_submit_trailer(ng, id, nva, nn);
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        *deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}
