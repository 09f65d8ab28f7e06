/*
 * fuzz_h1_chunked.c — the chunked-body decoder on arbitrary bytes.
 *
 * Invariants (abort() on violation):
 *  - decoding whole, split in two at a position taken from the first byte,
 *    and one byte per arrival give the same data, trailers, end point and
 *    error;
 *  - consumed bytes never exceed the input, events' views lie inside the
 *    bytes they consumed, data_bytes counts the data handed out;
 *  - on END, exactly the consumed prefix decodes to the same body again,
 *    and the data re-encoded as one chunk (with the same trailers) decodes
 *    to the same data.
 * The input length picks small or default limits (size % 4) and request or
 * response statuses (size % 2).
 */
#include "http1/h1.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct result {
    int rc;
    const char *err;
    uint16_t status;
    size_t consumed;
    uint64_t data_bytes;
    char *data; /* owned: the chunk data, concatenated */
    size_t ndata;
    char *trailers; /* owned: "name\0value\0" per trailer */
    size_t ntrailers;
} result_t;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant violated: %s\n", what);
        abort();
    }
}

#define GENEROUS SIZE_MAX /* limits key: no trailer limits */

static void setup(wf_h1_chunked_t *c, size_t size)
{
    wf_h1_chunked_init(c, size % 2 == 1);
    if (size == GENEROUS) {
        c->max_trailer = UINT32_MAX;
        c->max_trailers = UINT32_MAX;
    } else if (size % 4 == 0) {
        c->max_ext = 8;
        c->max_trailer = 32;
        c->max_trailers = 2;
    }
}

/*
 * Decodes in[0..n) with input arriving in steps of `step` bytes after a
 * first piece of `first` bytes (step 0: all at once after the first).
 */
static void decode(const uint8_t *in, size_t n, size_t first, size_t step, size_t limits_key,
                   result_t *r)
{
    wf_h1_chunked_t c;
    setup(&c, limits_key);
    memset(r, 0, sizeof(*r));
    r->data = malloc(n + 1);
    r->trailers = malloc(2 * n + 2);
    size_t off = 0, avail = first;
    for (;;) {
        wf_h1_chunk_ev_t ev;
        const char *b = (const char *)in + off;
        int rc = wf_h1_chunked_next(&c, b, avail - off, &ev);
        check(ev.consumed <= avail - off, "consumed within input");
        if (rc == WF_H1_CHUNK_DATA) {
            check(ev.data.len > 0 && ev.data.ptr >= b &&
                      ev.data.ptr + ev.data.len == b + ev.consumed,
                  "data view ends the consumed bytes");
            memcpy(r->data + r->ndata, ev.data.ptr, ev.data.len);
            r->ndata += ev.data.len;
        } else if (rc == WF_H1_CHUNK_TRAILER) {
            check(ev.name.ptr >= b && ev.value.ptr + ev.value.len <= b + ev.consumed,
                  "trailer views inside the consumed bytes");
            memcpy(r->trailers + r->ntrailers, ev.name.ptr, ev.name.len);
            r->ntrailers += ev.name.len;
            r->trailers[r->ntrailers++] = '\0';
            memcpy(r->trailers + r->ntrailers, ev.value.ptr, ev.value.len);
            r->ntrailers += ev.value.len;
            r->trailers[r->ntrailers++] = '\0';
        }
        off += ev.consumed;
        if (rc == WF_EAGAIN && avail < n) {
            avail = step ? WF_MIN(avail + step, n) : n;
            continue;
        }
        if (rc > 0 && rc != WF_H1_CHUNK_END)
            continue;
        r->rc = rc;
        r->err = c.err;
        r->status = c.status;
        r->consumed = off;
        r->data_bytes = c.data_bytes;
        check(rc >= 0 || rc == WF_EAGAIN || ev.consumed == 0, "errors consume nothing");
        check((rc < 0 && rc != WF_EAGAIN) == (c.err != NULL), "description iff error");
        return;
    }
}

static void release(result_t *r)
{
    free(r->data);
    free(r->trailers);
}

static void check_same(const result_t *a, const result_t *b, const char *what)
{
    bool failed = a->rc < 0 && a->rc != WF_EAGAIN;
    check(a->rc == b->rc && a->err == b->err && a->status == b->status, what);
    check(failed || a->consumed == b->consumed, what);
    check(a->ndata == b->ndata && memcmp(a->data, b->data, a->ndata) == 0, what);
    check(a->ntrailers == b->ntrailers && memcmp(a->trailers, b->trailers, a->ntrailers) == 0,
          what);
}

/* Re-encodes a decoded body as one chunk plus its trailers. */
static void check_reencode(const result_t *a)
{
    size_t cap = a->ndata + 2 * a->ntrailers + 64;
    char *out = malloc(cap), *o = out;
    if (a->ndata > 0)
        o += sprintf(o, "%zx\r\n", a->ndata);
    memcpy(o, a->data, a->ndata);
    o += a->ndata;
    if (a->ndata > 0)
        o += sprintf(o, "\r\n");
    o += sprintf(o, "0\r\n");
    for (size_t i = 0; i < a->ntrailers;) {
        size_t nl = strlen(a->trailers + i);
        size_t vl = strlen(a->trailers + i + nl + 1);
        o += sprintf(o, "%s: %s\r\n", a->trailers + i, a->trailers + i + nl + 1);
        i += nl + vl + 2;
    }
    o += sprintf(o, "\r\n");
    result_t b;
    /* Canonical trailer lines may be longer than the originals: no limits. */
    decode((const uint8_t *)out, (size_t)(o - out), (size_t)(o - out), 0, GENEROUS, &b);
    check(b.rc == WF_H1_CHUNK_END && b.consumed == (size_t)(o - out), "re-encoded body ends");
    check(b.ndata == a->ndata && memcmp(b.data, a->data, a->ndata) == 0, "re-encoded data");
    check(b.ntrailers == a->ntrailers && memcmp(b.trailers, a->trailers, a->ntrailers) == 0,
          "re-encoded trailers");
    release(&b);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    result_t whole, split, bytes;
    decode(data, size, size, 0, size, &whole);
    check(whole.consumed <= size && whole.ndata == whole.data_bytes, "accounting");

    size_t k = size ? data[0] % (size + 1) : 0;
    decode(data, size, k, 0, size, &split);
    check_same(&whole, &split, "whole vs split in two");
    decode(data, size, 0, 1, size, &bytes);
    check_same(&whole, &bytes, "whole vs byte by byte");

    if (whole.rc == WF_H1_CHUNK_END) {
        result_t prefix;
        decode(data, whole.consumed, whole.consumed, 0, size, &prefix);
        check_same(&whole, &prefix, "the consumed prefix is the body");
        release(&prefix);
        check_reencode(&whole);
    }
    release(&whole);
    release(&split);
    release(&bytes);
    return 0;
}
