#include "http.h"

#include <stdlib.h>

wf_str_t wf_http_target_authority(wf_str_t target)
{
    size_t skip;
    if (target.len > 7 && wf_str_eq_nocase((wf_str_t){target.ptr, 7}, WF_STR("http://")))
        skip = 7;
    else if (target.len > 8 && wf_str_eq_nocase((wf_str_t){target.ptr, 8}, WF_STR("https://")))
        skip = 8;
    else
        return WF_STR_NULL;
    size_t end = skip;
    while (end < target.len && target.ptr[end] != '/' && target.ptr[end] != '?')
        end++;
    return (wf_str_t){target.ptr + skip, end - skip};
}

int wf_http_head_from_h1(wf_http_head_t *h, const wf_h1_msg_t *m)
{
    memset(h, 0, sizeof(*h));
    size_t size = m->method.len + m->target.len + m->reason.len + m->host.len;
    /* Upgrade is hop-by-hop, but a proxy that tunnels the upgrade must
     * pass the protocol on (RFC 9110 §7.8). */
    const wf_h1_header_t *up = NULL;
    if (m->flags & (WF_H1_MF_UPGRADE | WF_H1_MF_TUNNEL))
        up = wf_h1_find_header(m, WF_STR("upgrade"), NULL);
    if (up != NULL)
        size += up->value.len;
    /* Transfer codings besides chunked describe the body itself and must
     * survive re-framing (RFC 9112 §6.1): collect them. */
    size_t te_len = 0;
    for (uint32_t i = 0; i < m->nheaders; i++)
        if (m->headers[i].id == WF_H1_F_TRANSFER_ENCODING)
            te_len += m->headers[i].value.len + 2;
    size += te_len;
    /* An absolute-form target names the authority; Host must follow it
     * (RFC 9112 §3.2.2). */
    wf_str_t abs_auth = WF_STR_NULL;
    if (m->method.len > 0)
        abs_auth = wf_http_target_authority(m->target);
    size += abs_auth.len;
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const wf_h1_header_t *f = &m->headers[i];
        if (f->flags & (WF_H1_HF_HOP | WF_H1_HF_DUP))
            continue;
        size += f->name.len + f->value.len;
        n++;
    }
    h->arena = malloc(size + n * sizeof(wf_hfield_t) + 1);
    if (h->arena == NULL)
        return WF_ENOMEM;
    h->fields = (wf_hfield_t *)h->arena;
    char *p = h->arena + n * sizeof(wf_hfield_t);
#define COPY(dst, src)                                                                             \
    do {                                                                                           \
        if ((src).len)                                                                             \
            memcpy(p, (src).ptr, (src).len);                                                       \
        (dst) = (wf_str_t){p, (src).len};                                                          \
        p += (src).len;                                                                            \
    } while (0)
    COPY(h->method, m->method);
    COPY(h->target, m->target);
    COPY(h->reason, m->reason);
    if (abs_auth.len > 0)
        COPY(h->authority, abs_auth);
    else
        COPY(h->authority, m->host);
    if (up != NULL)
        COPY(h->upgrade, up->value);
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const wf_h1_header_t *f = &m->headers[i];
        if (f->flags & (WF_H1_HF_HOP | WF_H1_HF_DUP))
            continue;
        wf_hfield_t *o = &h->fields[h->nfields++];
        COPY(o->name, f->name);
        if (f->id == WF_H1_F_HOST && abs_auth.len > 0)
            o->value = h->authority;
        else
            COPY(o->value, f->value);
    }
#undef COPY
    if (te_len > 0) {
        char *start = p;
        for (uint32_t i = 0; i < m->nheaders; i++) {
            const wf_h1_header_t *f = &m->headers[i];
            if (f->id != WF_H1_F_TRANSFER_ENCODING || f->value.len == 0)
                continue;
            if (p > start) {
                memcpy(p, ", ", 2);
                p += 2;
            }
            memcpy(p, f->value.ptr, f->value.len);
            p += f->value.len;
        }
        wf_str_t te = {start, (size_t)(p - start)};
        /* Drop the final "chunked": the next hop's framing is ours to choose. */
        if (m->body == WF_H1_BODY_CHUNKED) {
            size_t end = te.len;
            while (end > 0 && (te.ptr[end - 1] == ' ' || te.ptr[end - 1] == '\t'))
                end--;
            if (end >= 7 && wf_str_eq_nocase((wf_str_t){te.ptr + end - 7, 7}, WF_STR("chunked")))
                end -= 7;
            while (end > 0 && (te.ptr[end - 1] == ' ' || te.ptr[end - 1] == ',' ||
                               te.ptr[end - 1] == '\t'))
                end--;
            te.len = end;
        }
        h->te_codings = te;
    }
    h->status = m->status;
    h->method_id = m->method_id;
    h->minor = m->minor;
    h->content_length = m->body == WF_H1_BODY_LENGTH ? m->content_length : -1;
    h->body = m->body;
    return 0;
}

void wf_head_builder_add(wf_head_builder_t *b, wf_str_t name, wf_str_t value)
{
    uint32_t idx[4] = {(uint32_t)b->data.len, (uint32_t)name.len, 0, (uint32_t)value.len};
    wf_sbuf_append(&b->data, name.ptr, name.len);
    idx[2] = (uint32_t)b->data.len;
    wf_sbuf_append(&b->data, value.ptr, value.len);
    wf_sbuf_append(&b->index, (const char *)idx, sizeof(idx));
    b->nfields++;
    b->bytes += name.len + value.len + 32;
}

int wf_head_builder_finish(wf_head_builder_t *b, wf_http_head_t *h)
{
    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    if (b->data.oom || b->index.oom) {
        wf_head_builder_free(b);
        return WF_ENOMEM;
    }
    size_t fsize = b->nfields * sizeof(wf_hfield_t);
    h->arena = malloc(fsize + b->data.len + 1);
    if (h->arena == NULL) {
        wf_head_builder_free(b);
        return WF_ENOMEM;
    }
    h->fields = (wf_hfield_t *)h->arena;
    char *data = h->arena + fsize;
    if (b->data.len)
        memcpy(data, b->data.ptr, b->data.len);
    const uint32_t *idx = (const uint32_t *)b->index.ptr;
    for (uint32_t i = 0; i < b->nfields; i++, idx += 4) {
        wf_str_t name = {data + idx[0], idx[1]}, value = {data + idx[2], idx[3]};
        if (name.len > 0 && name.ptr[0] == ':') {
            if (wf_str_eq(name, WF_STR(":method")))
                h->method = value;
            else if (wf_str_eq(name, WF_STR(":path")))
                h->target = value;
            else if (wf_str_eq(name, WF_STR(":authority")))
                h->authority = value;
            else if (wf_str_eq(name, WF_STR(":scheme")))
                h->scheme = value;
            else if (wf_str_eq(name, WF_STR(":status"))) {
                unsigned st = 0;
                for (size_t k = 0; k < value.len && k < 3; k++)
                    st = st * 10 + (unsigned)(value.ptr[k] - '0');
                h->status = (uint16_t)st;
            }
            continue;
        }
        if (wf_str_eq(name, WF_STR("content-length"))) {
            int64_t v = 0;
            for (size_t k = 0; k < value.len && k < 18; k++)
                v = v * 10 + (value.ptr[k] - '0');
            h->content_length = v;
        }
        h->fields[h->nfields++] = (wf_hfield_t){name, value};
    }
    h->minor = 1;
    if (h->method.len > 0 && h->authority.len == 0) {
        const wf_hfield_t *host = wf_http_head_find(h, WF_STR("host"));
        if (host != NULL)
            h->authority = host->value;
    }
    h->method_id = wf_str_eq(h->method, WF_STR("HEAD"))      ? WF_H1_M_HEAD
                   : wf_str_eq(h->method, WF_STR("CONNECT")) ? WF_H1_M_CONNECT
                   : wf_str_eq(h->method, WF_STR("GET"))     ? WF_H1_M_GET
                                                             : WF_H1_M_OTHER;
    wf_head_builder_free(b);
    return 0;
}

void wf_head_builder_free(wf_head_builder_t *b)
{
    wf_sbuf_free(&b->data);
    wf_sbuf_free(&b->index);
    b->nfields = 0;
    b->bytes = 0;
}

void wf_http_head_free(wf_http_head_t *h)
{
    free(h->arena);
    memset(h, 0, sizeof(*h));
}

const wf_hfield_t *wf_http_head_find(const wf_http_head_t *h, wf_str_t name)
{
    for (uint32_t i = 0; i < h->nfields; i++)
        if (wf_str_eq_nocase(h->fields[i].name, name))
            return &h->fields[i];
    return NULL;
}

/* --- pipe ------------------------------------------------------------------- */

static wf_buf_t *pipe_last(wf_pipe_t *p)
{
    return p->count ? &p->bufs[(p->first + p->count - 1) % WF_PIPE_MAX_BUFS] : NULL;
}

size_t wf_pipe_write(wf_pipe_t *p, wf_pool_t *pool, const char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        wf_buf_t *b = pipe_last(p);
        if (b == NULL || wf_buf_space(b) == 0) {
            if (p->count == WF_PIPE_MAX_BUFS)
                break;
            b = &p->bufs[(p->first + p->count) % WF_PIPE_MAX_BUFS];
            *b = WF_BUF_EMPTY;
            if (wf_buf_reserve(b, pool) < 0)
                break;
            p->count++;
        }
        size_t n = WF_MIN(wf_buf_space(b), len - done);
        memcpy(wf_buf_writep(b), data + done, n);
        wf_buf_produced(b, n);
        done += n;
    }
    p->bytes += done;
    p->total += done;
    return done;
}

size_t wf_pipe_space(const wf_pipe_t *p, const wf_pool_t *pool)
{
    size_t space = (size_t)(WF_PIPE_MAX_BUFS - p->count) * pool->size;
    if (p->count > 0)
        space += wf_buf_space(&p->bufs[(p->first + p->count - 1) % WF_PIPE_MAX_BUFS]);
    return space;
}

bool wf_pipe_full(const wf_pipe_t *p, const wf_pool_t *pool)
{
    if (p->count < WF_PIPE_MAX_BUFS)
        return false;
    const wf_buf_t *b = &p->bufs[(p->first + p->count - 1) % WF_PIPE_MAX_BUFS];
    return wf_buf_space(b) == 0;
}

wf_str_t wf_pipe_peek(const wf_pipe_t *p)
{
    if (p->count == 0)
        return (wf_str_t){NULL, 0};
    const wf_buf_t *b = &p->bufs[p->first];
    return (wf_str_t){wf_buf_readp(b), wf_buf_len(b)};
}

void wf_pipe_consume(wf_pipe_t *p, wf_pool_t *pool, size_t n)
{
    while (n > 0 && p->count > 0) {
        wf_buf_t *b = &p->bufs[p->first];
        size_t take = WF_MIN(n, wf_buf_len(b));
        wf_buf_consume(b, pool, take);
        p->bytes -= take;
        n -= take;
        if (b->data == NULL) {
            p->first = (uint8_t)((p->first + 1) % WF_PIPE_MAX_BUFS);
            p->count--;
        }
    }
}

void wf_pipe_release(wf_pipe_t *p, wf_pool_t *pool)
{
    for (uint8_t i = 0; i < p->count; i++)
        wf_buf_release(&p->bufs[(p->first + i) % WF_PIPE_MAX_BUFS], pool);
    p->count = 0;
    p->bytes = 0;
}

/* --- exchange --------------------------------------------------------------- */

wf_exchange_t *wf_exchange_new(wf_loop_t *loop)
{
    wf_exchange_t *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->refs = 1;
    x->loop = loop;
    x->req.content_length = -1;
    x->res.content_length = -1;
    return x;
}

void wf_exchange_put(wf_exchange_t *x, wf_pool_t *pool)
{
    if (x == NULL || --x->refs > 0)
        return;
    wf_http_head_free(&x->req);
    wf_http_head_free(&x->res);
    wf_http_head_free(&x->req_trailers);
    wf_http_head_free(&x->res_trailers);
    wf_pipe_release(&x->req_body, pool);
    wf_pipe_release(&x->res_body, pool);
    free(x);
}

int wf_exchange_grpc_status(const wf_exchange_t *x)
{
    const wf_hfield_t *f = wf_http_head_find(&x->res_trailers, WF_STR("grpc-status"));
    if (f == NULL && x->res_ready)
        f = wf_http_head_find(&x->res, WF_STR("grpc-status")); /* trailers-only */
    if (f == NULL || f->value.len == 0 || f->value.len > 3)
        return -1;
    int v = 0;
    for (size_t i = 0; i < f->value.len; i++) {
        if (f->value.ptr[i] < '0' || f->value.ptr[i] > '9')
            return -1;
        v = v * 10 + (f->value.ptr[i] - '0');
    }
    return v;
}

static void wake_cb(wf_loop_t *loop, wf_defer_t *d)
{
    wf_xside_t *s = wf_container_of(d, wf_xside_t, defer);
    s->ops->wake(s);
}

void wf_exchange_wake_up(wf_exchange_t *x)
{
    if (x->up != NULL)
        wf_loop_defer(x->loop, &x->up->defer, wake_cb);
}

void wf_exchange_wake_down(wf_exchange_t *x)
{
    if (x->down != NULL)
        wf_loop_defer(x->loop, &x->down->defer, wake_cb);
}

const char *wf_http_error_text(wf_http_error_t e)
{
    switch (e) {
    case WF_HTTP_OK:
        return "";
    case WF_HTTP_E_CONNECT:
        return "connect error";
    case WF_HTTP_E_CONNECT_TIMEOUT:
        return "connect timed out";
    case WF_HTTP_E_UPSTREAM_RESET:
        return "connection closed before response";
    case WF_HTTP_E_UPSTREAM_PROTO:
        return "invalid response from upstream";
    case WF_HTTP_E_RESPONSE_TIMEOUT:
        return "response timed out";
    case WF_HTTP_E_DOWNSTREAM:
        return "client disconnected";
    case WF_HTTP_E_NO_ENDPOINTS:
        return "service has no ready endpoints";
    case WF_HTTP_E_UNAVAILABLE:
        return "destination service unavailable";
    }
    return "unexpected error";
}

uint16_t wf_http_error_status(wf_http_error_t e)
{
    switch (e) {
    case WF_HTTP_E_CONNECT_TIMEOUT:
    case WF_HTTP_E_RESPONSE_TIMEOUT:
        return 504;
    case WF_HTTP_E_NO_ENDPOINTS:
    case WF_HTTP_E_UNAVAILABLE:
        return 503;
    default:
        return 502;
    }
}

int wf_http_head_set(wf_http_head_t *h, wf_str_t name, wf_str_t value)
{
    uint32_t keep = 0;
    bool found = false;
    for (uint32_t i = 0; i < h->nfields; i++) {
        if (wf_str_eq_nocase(h->fields[i].name, name))
            found = true;
        else
            keep++;
    }
    if (!found && value.len == 0)
        return 0; /* the common case: nothing to remove, nothing to add */
    uint32_t n = keep + (value.len > 0 ? 1 : 0);
    wf_str_t *views[] = {&h->method, &h->target,   &h->authority, &h->reason,
                         &h->scheme, &h->upgrade, &h->te_codings};
    size_t size = n * sizeof(wf_hfield_t) + name.len + value.len + 1;
    for (size_t i = 0; i < WF_ARRAY_LEN(views); i++)
        size += views[i]->len;
    for (uint32_t i = 0; i < h->nfields; i++)
        size += h->fields[i].name.len + h->fields[i].value.len;
    char *arena = malloc(size);
    if (arena == NULL)
        return WF_ENOMEM;
    wf_hfield_t *fields = (wf_hfield_t *)arena;
    char *p = arena + n * sizeof(wf_hfield_t);
#define MOVE(dst, src)                                                                             \
    do {                                                                                           \
        wf_str_t s_ = (src);                                                                       \
        if (s_.len)                                                                                \
            memcpy(p, s_.ptr, s_.len);                                                             \
        (dst) = (wf_str_t){p, s_.len};                                                             \
        p += s_.len;                                                                               \
    } while (0)
    for (size_t i = 0; i < WF_ARRAY_LEN(views); i++)
        MOVE(*views[i], *views[i]);
    uint32_t o = 0;
    for (uint32_t i = 0; i < h->nfields; i++) {
        if (wf_str_eq_nocase(h->fields[i].name, name))
            continue;
        MOVE(fields[o].name, h->fields[i].name);
        MOVE(fields[o].value, h->fields[i].value);
        o++;
    }
    if (value.len > 0) {
        MOVE(fields[o].name, name);
        MOVE(fields[o].value, value);
        o++;
    }
#undef MOVE
    free(h->arena);
    h->arena = arena;
    h->fields = fields;
    h->nfields = o;
    return 0;
}
