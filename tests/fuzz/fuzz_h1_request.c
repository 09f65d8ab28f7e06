/*
 * fuzz_h1_request.c — the request head parser on arbitrary bytes.
 *
 * Invariants (abort() on violation):
 *  - the input parsed whole, split in two at a position taken from the
 *    first byte (the second call on a moved copy), and one byte per call
 *    give the same result;
 *  - a success is a well-formed head: it ends in CRLF CRLF within the
 *    input and the limits, its views lie inside it, names are tokens,
 *    values carry no CR/LF/NUL or edge whitespace, the framing is
 *    consistent and HTTP/1.1 has a Host;
 *  - a failure has a description and one of the documented statuses;
 *  - a success re-serialised canonically parses to the same message;
 *  - a chunked body after the head decodes the same whole and split.
 * The input length picks the limits (size % 8), so limit paths are reached
 * without 60 KiB inputs.
 */
#include "http1/h1.h"

#include <stdio.h>
#include <stdlib.h>

#define NHDR 100

static wf_h1_header_t hdr_a[NHDR], hdr_b[NHDR], hdr_c[NHDR];

static void setup(wf_h1_parser_t *p, wf_h1_header_t *h, size_t size)
{
    uint32_t max_headers = size % 8 == 1 ? 3 : NHDR;
    wf_h1_request_init(p, h, max_headers);
    if (size % 8 == 0)
        p->max_head = (uint32_t)(size / 2 + 1);
    if (size % 8 == 1)
        p->max_target = 24;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant violated: %s\n", what);
        abort();
    }
}

static bool same_msg(const wf_h1_msg_t *x, const wf_h1_msg_t *y)
{
    if (!wf_str_eq(x->method, y->method) || !wf_str_eq(x->target, y->target) ||
        !wf_str_eq(x->host, y->host) || (x->host.ptr == NULL) != (y->host.ptr == NULL) ||
        x->nheaders != y->nheaders || x->flags != y->flags ||
        x->content_length != y->content_length || x->method_id != y->method_id ||
        x->minor != y->minor || x->body != y->body)
        return false;
    for (uint32_t i = 0; i < x->nheaders; i++) {
        const wf_h1_header_t *h = &x->headers[i], *g = &y->headers[i];
        if (!wf_str_eq(h->name, g->name) || !wf_str_eq(h->value, g->value) || h->id != g->id ||
            h->flags != g->flags)
            return false;
    }
    return true;
}

static bool same(const wf_h1_parser_t *a, int ra, const wf_h1_parser_t *b, int rb)
{
    if (ra != rb)
        return false;
    if (ra == WF_EAGAIN)
        return true;
    if (ra < 0)
        return a->err == b->err && a->status == b->status;
    return same_msg(&a->msg, &b->msg);
}

static bool inside(wf_str_t s, const uint8_t *data, int rc)
{
    return s.ptr == NULL ||
           (s.ptr >= (const char *)data && s.ptr + s.len <= (const char *)data + rc);
}

static void check_head(const wf_h1_parser_t *p, int rc, const uint8_t *data, size_t size)
{
    const wf_h1_msg_t *m = &p->msg;
    check((size_t)rc <= size && (uint32_t)rc <= p->max_head, "head within input and limit");
    check(rc >= 4 && memcmp(data + rc - 4, "\r\n\r\n", 4) == 0, "head ends in CRLF CRLF");
    check(inside(m->method, data, rc) && inside(m->target, data, rc) && inside(m->host, data, rc),
          "views inside the head");
    check(m->method.len > 0 && m->target.len > 0 && m->target.len <= p->max_target,
          "method and target");
    check(m->minor <= 1 && m->nheaders <= p->max_headers, "version and count");
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const wf_h1_header_t *h = &m->headers[i];
        check(inside(h->name, data, rc) && inside(h->value, data, rc), "header views");
        check(h->name.len > 0, "non-empty name");
        for (size_t j = 0; j < h->name.len; j++)
            check(strchr(" \t:\r\n\"(),/;<=>?@[\\]{}", h->name.ptr[j]) == NULL &&
                      (unsigned char)h->name.ptr[j] > 0x20 && (unsigned char)h->name.ptr[j] < 0x7f,
                  "name is a token");
        for (size_t j = 0; j < h->value.len; j++) {
            unsigned char c = (unsigned char)h->value.ptr[j];
            check(c != '\r' && c != '\n' && c != 0 && c != 0x7f && (c >= 0x20 || c == '\t'),
                  "value characters");
        }
        if (h->value.len > 0) {
            check(h->value.ptr[0] != ' ' && h->value.ptr[0] != '\t', "leading OWS trimmed");
            check(h->value.ptr[h->value.len - 1] != ' ' && h->value.ptr[h->value.len - 1] != '\t',
                  "trailing OWS trimmed");
        }
    }
    check(m->body != WF_H1_BODY_UNTIL_CLOSE, "requests never read until close");
    check(m->body != WF_H1_BODY_CHUNKED || m->content_length == -1, "chunked without length");
    check(m->body != WF_H1_BODY_LENGTH || m->content_length >= 0, "length framing has a length");
    check(m->minor == 0 || (m->flags & WF_H1_MF_HOST), "HTTP/1.1 has Host");
    check(m->minor == 1 || m->body != WF_H1_BODY_CHUNKED, "no chunked in HTTP/1.0");
}

/* Writes the message canonically and parses it again. */
static void check_roundtrip(const wf_h1_parser_t *p)
{
    const wf_h1_msg_t *m = &p->msg;
    size_t cap = 64 + m->method.len + m->target.len;
    for (uint32_t i = 0; i < m->nheaders; i++)
        cap += m->headers[i].name.len + m->headers[i].value.len + 4;
    char *out = malloc(cap), *o = out;
    o += sprintf(o, "%.*s %.*s HTTP/1.%d\r\n", (int)m->method.len, m->method.ptr,
                 (int)m->target.len, m->target.ptr, m->minor);
    for (uint32_t i = 0; i < m->nheaders; i++)
        o += sprintf(o, "%.*s: %.*s\r\n", (int)m->headers[i].name.len, m->headers[i].name.ptr,
                     (int)m->headers[i].value.len, m->headers[i].value.ptr);
    o += sprintf(o, "\r\n");
    wf_h1_parser_t q;
    wf_h1_request_init(&q, hdr_c, p->max_headers);
    q.max_head = (uint32_t)(o - out);
    q.max_target = p->max_target;
    int rc = wf_h1_parse_request(&q, out, (size_t)(o - out));
    check(rc == (int)(o - out), "canonical form parses");
    check(same_msg(&p->msg, &q.msg), "canonical form means the same");
    free(out);
}

/* Decodes a chunked body whole and split, and compares. */
static void check_chunked(const uint8_t *body, size_t n, size_t split)
{
    uint64_t data[2] = {0, 0};
    size_t consumed[2] = {0, 0};
    int rcs[2];
    const char *errs[2];
    for (int pass = 0; pass < 2; pass++) {
        wf_h1_chunked_t c;
        wf_h1_chunked_init(&c, false);
        size_t off = 0, avail = pass == 0 ? n : split;
        int rc;
        for (;;) {
            wf_h1_chunk_ev_t ev;
            rc = wf_h1_chunked_next(&c, (const char *)body + off, avail - off, &ev);
            off += ev.consumed;
            if (rc == WF_H1_CHUNK_DATA)
                data[pass] += ev.data.len;
            if (rc == WF_EAGAIN && avail < n) {
                avail = n;
                continue;
            }
            if (rc == WF_EAGAIN || rc == WF_H1_CHUNK_END || rc < 0)
                break;
        }
        rcs[pass] = rc;
        errs[pass] = c.err;
        consumed[pass] = off;
        check(data[pass] == c.data_bytes, "data_bytes counts data");
    }
    check(rcs[0] == rcs[1] && errs[0] == errs[1], "chunked: same result split");
    if (rcs[0] == WF_EAGAIN || rcs[0] == WF_H1_CHUNK_END)
        check(consumed[0] == consumed[1] && data[0] == data[1], "chunked: same bytes split");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    wf_h1_parser_t a, b, c;

    setup(&a, hdr_a, size);
    int ra = wf_h1_parse_request(&a, s, size);

    /* Split in two; the second call sees a moved copy of the buffer. */
    size_t k = size ? data[0] % (size + 1) : 0;
    setup(&b, hdr_b, size);
    int rb = wf_h1_parse_request(&b, s, k);
    char *copy = malloc(size ? size : 1);
    memcpy(copy, s, size);
    if (rb == WF_EAGAIN)
        rb = wf_h1_parse_request(&b, copy, size);
    check(same(&a, ra, &b, rb), "whole vs split in two");
    free(copy);

    /* One byte per call into the same growing buffer. */
    setup(&c, hdr_b, size);
    int rc = WF_EAGAIN;
    for (size_t i = 0; i <= size && rc == WF_EAGAIN; i++)
        rc = wf_h1_parse_request(&c, s, i);
    check(same(&a, ra, &c, rc), "whole vs byte by byte");

    if (ra == WF_EAGAIN)
        return 0;
    if (ra < 0) {
        check(a.err != NULL, "error has a description");
        check(a.status == 400 || a.status == 414 || a.status == 431 || a.status == 501 ||
                  a.status == 505,
              "error status");
        check((a.status == 414 || a.status == 431) == (ra == WF_ELIMIT), "limit errors");
        return 0;
    }
    check(a.err == NULL && a.status == 0, "success has no error");
    check_head(&a, ra, data, size);
    check_roundtrip(&a);
    if (a.msg.body == WF_H1_BODY_CHUNKED) {
        size_t n = size - (size_t)ra;
        check_chunked(data + ra, n, n ? data[ra] % (n + 1) : 0);
    }
    return 0;
}
