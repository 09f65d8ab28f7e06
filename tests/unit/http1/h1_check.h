/*
 * h1_check.h — helpers shared by the http1 unit tests: parse a head whole
 * and again one byte per call (each call on a fresh exact-size copy, so the
 * buffer moves and ASan sees any read past the bytes given), and insist the
 * two agree.
 */
#ifndef WF_TEST_H1_CHECK_H
#define WF_TEST_H1_CHECK_H

#include "http1/h1.h"
#include "wf_test.h"

#include <stdlib.h>

typedef struct h1_case {
    bool response;
    wf_h1_method_t req_method; /* response: the request's method */
    uint32_t max_headers;      /* 0: WF_H1_DEFAULT_MAX_HEADERS */
    uint32_t max_head;         /* 0: default */
    uint32_t max_target;       /* 0: default */
} h1_case_t;

static wf_h1_header_t h1_hdrs[WF_H1_DEFAULT_MAX_HEADERS + 50];
static wf_h1_header_t h1_hdrs2[WF_H1_DEFAULT_MAX_HEADERS + 50];

static void h1_init(wf_h1_parser_t *p, const h1_case_t *c, wf_h1_header_t *hdrs)
{
    uint32_t n = c->max_headers ? c->max_headers : WF_H1_DEFAULT_MAX_HEADERS;
    if (c->response)
        wf_h1_response_init(p, hdrs, n, c->req_method);
    else
        wf_h1_request_init(p, hdrs, n);
    if (c->max_head)
        p->max_head = c->max_head;
    if (c->max_target)
        p->max_target = c->max_target;
}

static int h1_call(wf_h1_parser_t *p, const h1_case_t *c, const char *b, size_t n)
{
    return c->response ? wf_h1_parse_response(p, b, n) : wf_h1_parse_request(p, b, n);
}

static bool h1_same_str(wf_str_t a, wf_str_t b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) && wf_str_eq(a, b);
}

/* True if two parsers ended with the same result. */
static bool h1_same(const wf_h1_parser_t *a, int ra, const wf_h1_parser_t *b, int rb)
{
    if (ra != rb)
        return false;
    if (ra < 0)
        return a->err == b->err && a->status == b->status;
    const wf_h1_msg_t *x = &a->msg, *y = &b->msg;
    if (!h1_same_str(x->method, y->method) || !h1_same_str(x->target, y->target) ||
        !h1_same_str(x->reason, y->reason) || !h1_same_str(x->host, y->host) ||
        x->nheaders != y->nheaders || x->flags != y->flags ||
        x->content_length != y->content_length || x->status != y->status ||
        x->method_id != y->method_id || x->minor != y->minor || x->body != y->body)
        return false;
    for (uint32_t i = 0; i < x->nheaders; i++) {
        const wf_h1_header_t *h = &x->headers[i], *g = &y->headers[i];
        if (!wf_str_eq(h->name, g->name) || !wf_str_eq(h->value, g->value) || h->id != g->id ||
            h->flags != g->flags)
            return false;
    }
    return true;
}

static char *h1_keep; /* the last byte-by-byte buffer, which p2's views use */

/*
 * Parses s[0..n) whole into *p, then one byte at a time into a second
 * parser, CHECKs both agree, and returns the whole parse's result.
 */
static int h1_parse_n(wf_h1_parser_t *p, const h1_case_t *c, const char *s, size_t n)
{
    h1_init(p, c, h1_hdrs);
    int rc = h1_call(p, c, s, n);

    wf_h1_parser_t p2;
    h1_init(&p2, c, h1_hdrs2);
    int rc2 = WF_EAGAIN;
    free(h1_keep);
    h1_keep = NULL;
    for (size_t i = 0; i <= n && rc2 == WF_EAGAIN; i++) {
        char *b = malloc(i ? i : 1);
        memcpy(b, s, i);
        rc2 = h1_call(&p2, c, b, i);
        free(h1_keep);
        h1_keep = b;
    }
    CHECK(h1_same(p, rc, &p2, rc2));
    if (!h1_same(p, rc, &p2, rc2))
        fprintf(stderr, "  split mismatch: whole %d (%s), bytewise %d (%s) for %.60s\n", rc,
                p->err ? p->err : "-", rc2, p2.err ? p2.err : "-", s);
    return rc;
}

static int h1_parse(wf_h1_parser_t *p, const h1_case_t *c, const char *s)
{
    return h1_parse_n(p, c, s, strlen(s));
}

static const h1_case_t H1_REQ = {0};
static const h1_case_t H1_RES = {.response = true, .req_method = WF_H1_M_GET};

/* Checks that a message fails with `status` and description `why`. */
#define CHECK_H1_ERR(c, s, st, why)                                                                \
    do {                                                                                           \
        wf_h1_parser_t p_;                                                                         \
        int rc_ = h1_parse(&p_, (c), (s));                                                         \
        CHECK(rc_ == WF_EPROTO || rc_ == WF_ELIMIT);                                               \
        CHECK_EQ_INT(p_.status, (st));                                                             \
        CHECK_EQ_STR(p_.err, (why));                                                               \
    } while (0)

#define CHECK_REQ_BAD(s, why) CHECK_H1_ERR(&H1_REQ, (s), 400, (why))
#define CHECK_RES_BAD(s, why) CHECK_H1_ERR(&H1_RES, (s), 502, (why))

#endif
