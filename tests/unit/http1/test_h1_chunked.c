/*
 * test_h1_chunked.c — the chunked decoder: data spans, extensions,
 * trailers, every error, limits, and the pass-through contract (consumed
 * bytes are exactly the body). Each body is decoded whole, split at every
 * byte position, and one byte per call, and all must agree.
 */
#include "http1/h1.h"
#include "wf_test.h"

#include <stdlib.h>

typedef struct dec {
    int rc; /* END, WF_EAGAIN (input ran out) or the error */
    const char *err;
    uint16_t status;
    size_t consumed; /* total bytes consumed */
    char data[8192]; /* concatenated chunk data */
    size_t ndata;
    char trailers[1024]; /* "name=value;" per trailer */
    int events;
} dec_t;

typedef struct limits {
    bool response;
    uint32_t max_ext, max_trailer, max_trailers; /* 0: default */
} limits_t;

/*
 * Decodes s[0..n) as a caller would: input arrives at the offsets in
 * `arrive` (ascending, the last n), consumed bytes are dropped, and the
 * rest is presented again with the new bytes. Each call gets a fresh
 * exact-size copy so ASan catches reads past the given bytes.
 */
static void decode(const char *s, size_t n, const size_t *arrive, size_t narrive,
                   const limits_t *lim, dec_t *d)
{
    wf_h1_chunked_t c;
    wf_h1_chunked_init(&c, lim->response);
    if (lim->max_ext)
        c.max_ext = lim->max_ext;
    if (lim->max_trailer)
        c.max_trailer = lim->max_trailer;
    if (lim->max_trailers)
        c.max_trailers = lim->max_trailers;
    memset(d, 0, sizeof(*d));
    size_t off = 0, avail = arrive[0], next = 1;
    for (;;) {
        size_t len = avail - off;
        char *b = malloc(len ? len : 1);
        memcpy(b, s + off, len);
        wf_h1_chunk_ev_t ev;
        int rc = wf_h1_chunked_next(&c, b, len, &ev);
        CHECK(ev.consumed <= len);
        CHECK(rc != WF_EPROTO || ev.consumed == 0);
        off += ev.consumed;
        d->consumed += ev.consumed;
        if (rc == WF_H1_CHUNK_DATA) {
            CHECK(ev.data.len > 0);
            CHECK(ev.data.ptr >= b && ev.data.ptr + ev.data.len == b + ev.consumed);
            if (d->ndata + ev.data.len <= sizeof(d->data))
                memcpy(d->data + d->ndata, ev.data.ptr, ev.data.len);
            d->ndata += ev.data.len;
        } else if (rc == WF_H1_CHUNK_TRAILER) {
            CHECK(ev.value.ptr + ev.value.len <= b + ev.consumed);
            size_t t = strlen(d->trailers);
            snprintf(d->trailers + t, sizeof(d->trailers) - t, "%.*s=%.*s;", (int)ev.name.len,
                     ev.name.ptr, (int)ev.value.len, ev.value.ptr);
        }
        free(b);
        if (rc > 0)
            d->events++;
        if (rc == WF_H1_CHUNK_END || (rc < 0 && rc != WF_EAGAIN)) {
            d->rc = rc;
            d->err = c.err;
            d->status = c.status;
            return;
        }
        if (rc == WF_EAGAIN) {
            CHECK(off == avail || c.err == NULL);
            if (next == narrive) {
                d->rc = WF_EAGAIN;
                return;
            }
            avail = arrive[next++];
        }
    }
}

static bool same(const dec_t *a, const dec_t *b)
{
    /* How much was consumed before an error depends on how the input was
     * split; nothing else does. */
    bool failed = a->rc < 0 && a->rc != WF_EAGAIN;
    return a->rc == b->rc && a->err == b->err && a->status == b->status &&
           (failed || a->consumed == b->consumed) && a->ndata == b->ndata &&
           memcmp(a->data, b->data, WF_MIN(a->ndata, sizeof(a->data))) == 0 &&
           strcmp(a->trailers, b->trailers) == 0;
}

/* Decodes whole, then split at every position, then byte by byte; CHECKs
 * they agree and returns the whole result in *d. */
static void decode_all(const char *s, size_t n, const limits_t *lim, dec_t *d)
{
    static dec_t other;
    size_t whole[1] = {n};
    decode(s, n, whole, 1, lim, d);
    for (size_t k = 0; k <= n; k++) {
        size_t two[2] = {k, n};
        decode(s, n, two, 2, lim, &other);
        CHECK(same(d, &other));
        if (!same(d, &other))
            fprintf(stderr, "  split at %zu differs (%s vs %s) for %.40s\n", k,
                    d->err ? d->err : "-", other.err ? other.err : "-", s);
    }
    size_t *bytes = malloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i <= n; i++)
        bytes[i] = i;
    decode(s, n, bytes, n + 1, lim, &other);
    CHECK(same(d, &other));
    free(bytes);
}

static const limits_t DEF = {0};
static dec_t d;

static void run(const char *s, const limits_t *lim)
{
    decode_all(s, strlen(s), lim, &d);
}

#define CHECK_CHUNKED_BAD(s, why)                                                                  \
    do {                                                                                           \
        run((s), &DEF);                                                                            \
        CHECK_EQ_INT(d.rc, WF_EPROTO);                                                             \
        CHECK_EQ_INT(d.status, 400);                                                               \
        CHECK_EQ_STR(d.err, (why));                                                                \
    } while (0)

static void test_basic(void)
{
    const char *s = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    run(s, &DEF);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    CHECK_EQ_INT(d.consumed, strlen(s));
    CHECK_EQ_INT(d.ndata, 11);
    CHECK(memcmp(d.data, "hello world", 11) == 0);
    CHECK_EQ_STR(d.trailers, "");

    /* Hex in both cases, leading zeros, a larger chunk. */
    char big[600];
    strcpy(big, "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n00000001\r\n!\r\n1F4\r\n");
    size_t n = strlen(big);
    memset(big + n, 'z', 500);
    strcpy(big + n + 500, "\r\n0\r\n\r\n");
    run(big, &DEF);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    CHECK_EQ_INT(d.ndata, 26 + 1 + 500);
    CHECK_EQ_INT(d.consumed, strlen(big));

    /* Incomplete: everything given is consumed, nothing ends. */
    run("5\r\nhel", &DEF);
    CHECK_EQ_INT(d.rc, WF_EAGAIN);
    CHECK_EQ_INT(d.consumed, 6);
    CHECK_EQ_INT(d.ndata, 3);
    run("", &DEF);
    CHECK_EQ_INT(d.rc, WF_EAGAIN);
    CHECK_EQ_INT(d.consumed, 0);
}

static void test_passthrough_boundary(void)
{
    /* After END, the next pipelined message is not consumed. */
    const char *s = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    run(s, &DEF);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    CHECK_EQ_INT(d.consumed, strlen("3\r\nabc\r\n0\r\n\r\n"));

    /* A decoder that ended keeps answering END without consuming. */
    wf_h1_chunked_t c;
    wf_h1_chunk_ev_t ev;
    wf_h1_chunked_init(&c, false);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, "0\r\n\r\nX", 6, &ev), WF_H1_CHUNK_END);
    CHECK_EQ_INT(ev.consumed, 5);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, "X", 1, &ev), WF_H1_CHUNK_END);
    CHECK_EQ_INT(ev.consumed, 0);
    CHECK_EQ_INT(c.data_bytes, 0);

    /* One event per call: framing before data is consumed with it. */
    wf_h1_chunked_init(&c, false);
    const char *b = "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
    CHECK_EQ_INT(wf_h1_chunked_next(&c, b, strlen(b), &ev), WF_H1_CHUNK_DATA);
    CHECK_EQ_INT(ev.consumed, 5);
    CHECK(ev.data.ptr == b + 3 && ev.data.len == 2);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, b + 5, strlen(b) - 5, &ev), WF_H1_CHUNK_DATA);
    CHECK_EQ_INT(ev.consumed, 6);
    CHECK(ev.data.ptr == b + 10 && ev.data.len == 1);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, b + 11, strlen(b) - 11, &ev), WF_H1_CHUNK_END);
    CHECK_EQ_INT(ev.consumed, 7);
    CHECK_EQ_INT(c.data_bytes, 3);
}

static void test_extensions(void)
{
    static const char *ok[] = {
        "3;a\r\nabc\r\n0\r\n\r\n",
        "3;a=b\r\nabc\r\n0\r\n\r\n",
        "3;a=b;c=d;e\r\nabc\r\n0\r\n\r\n",
        "3;a=\"q \\\" \\\\ x\"\r\nabc\r\n0\r\n\r\n",
        "3;a=\"\"\r\nabc\r\n0\r\n\r\n",
        "3 ;a\r\nabc\r\n0\r\n\r\n", /* BWS is in the grammar */
        "3\t; a = b ;c\r\nabc\r\n0\r\n\r\n",
        "3;a=\"x\" ;b\r\nabc\r\n0;last=1\r\n\r\n",
        "3;a=\"caf\xc3\xa9\"\r\nabc\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(ok); i++) {
        run(ok[i], &DEF);
        CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
        CHECK_EQ_INT(d.ndata, 3);
        if (d.rc != WF_H1_CHUNK_END)
            fprintf(stderr, "  case %zu: %s\n", i, d.err);
    }
    CHECK_CHUNKED_BAD("3 \r\nabc\r\n0\r\n\r\n",
                      "whitespace not followed by ';' in chunk-size line");
    CHECK_CHUNKED_BAD("3;\r\nabc\r\n0\r\n\r\n", "invalid chunk extension name");
    CHECK_CHUNKED_BAD("3;=b\r\nabc\r\n0\r\n\r\n", "invalid chunk extension name");
    CHECK_CHUNKED_BAD("3;a=\r\nabc\r\n0\r\n\r\n", "invalid chunk extension value");
    CHECK_CHUNKED_BAD("3;a b\r\nabc\r\n0\r\n\r\n", "invalid chunk extension");
    CHECK_CHUNKED_BAD("3;a=b c\r\nabc\r\n0\r\n\r\n",
                      "whitespace not followed by ';' in chunk-size line");
    CHECK_CHUNKED_BAD("3;a=b \r\nabc\r\n0\r\n\r\n",
                      "whitespace not followed by ';' in chunk-size line");
    CHECK_CHUNKED_BAD("3;a@\r\nabc\r\n0\r\n\r\n", "invalid chunk extension");
    CHECK_CHUNKED_BAD("3;a=\"x\r\nabc\r\n0\r\n\r\n", "invalid character in chunk extension");
    CHECK_CHUNKED_BAD("3;a=\"x\"y\r\nabc\r\n0\r\n\r\n", "invalid chunk extension");
    CHECK_CHUNKED_BAD("3;a=\"\\\001\"\r\nabc\r\n0\r\n\r\n", "invalid character in chunk extension");
    CHECK_CHUNKED_BAD("3;a=\"\001\"\r\nabc\r\n0\r\n\r\n", "invalid character in chunk extension");
    CHECK_CHUNKED_BAD("3;a\n\r\nabc\r\n0\r\n\r\n", "invalid chunk extension");

    /* Bounded per chunk line. */
    limits_t small = {.max_ext = 8};
    run("3;abcdefg\r\nabc\r\n0\r\n\r\n", &small); /* ";abcdefg" + CR = 9 > 8 */
    CHECK_EQ_INT(d.rc, WF_EPROTO);
    CHECK_EQ_STR(d.err, "chunk extensions too long");
    run("3;abcdef\r\nabc\r\n1;abcdef\r\nx\r\n0\r\n\r\n", &small); /* 8 each: fine */
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
}

static void test_size_errors(void)
{
    CHECK_CHUNKED_BAD("g\r\n", "invalid chunk size");
    CHECK_CHUNKED_BAD("-1\r\n", "invalid chunk size");
    CHECK_CHUNKED_BAD("0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size");
    CHECK_CHUNKED_BAD(" 5\r\nhello\r\n0\r\n\r\n", "invalid chunk size");
    CHECK_CHUNKED_BAD("\r\n", "missing chunk size");
    CHECK_CHUNKED_BAD("5\r\nhello\r\n\r\n", "missing chunk size");
    CHECK_CHUNKED_BAD("5\nhello\r\n0\r\n\r\n", "invalid chunk size");
    CHECK_CHUNKED_BAD("5\r\rhello\r\n0\r\n\r\n", "bare CR in chunk-size line");
    CHECK_CHUNKED_BAD("5\r\nhelloX\r\n0\r\n\r\n", "chunk data not followed by CRLF");
    CHECK_CHUNKED_BAD("5\r\nhello\n0\r\n\r\n", "chunk data not followed by CRLF");
    CHECK_CHUNKED_BAD("5\r\nhello\r0\r\n\r\n", "chunk data not followed by CRLF");
    CHECK_CHUNKED_BAD("3\r\nhello\r\n0\r\n\r\n", "chunk data not followed by CRLF");
    CHECK_CHUNKED_BAD("00000000000000001\r\nx\r\n0\r\n\r\n", "chunk size has too many digits");
    CHECK_CHUNKED_BAD("8000000000000000\r\n", "chunk size too large");
    CHECK_CHUNKED_BAD("ffffffffffffffff\r\n", "chunk size too large");
    /* The largest size is accepted and waits for its data. */
    run("7fffffffffffffff\r\nabc", &DEF);
    CHECK_EQ_INT(d.rc, WF_EAGAIN);
    CHECK_EQ_INT(d.ndata, 3);
    run("000000000000000F\r\n", &DEF);
    CHECK_EQ_INT(d.rc, WF_EAGAIN);

    /* Response bodies answer 502; a failed decoder stays failed. */
    limits_t res = {.response = true};
    run("z", &res);
    CHECK_EQ_INT(d.status, 502);
    wf_h1_chunked_t c;
    wf_h1_chunk_ev_t ev;
    wf_h1_chunked_init(&c, false);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, "z", 1, &ev), WF_EPROTO);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, "0\r\n\r\n", 5, &ev), WF_EPROTO);
    CHECK_EQ_INT(ev.consumed, 0);
}

static void test_trailers(void)
{
    run("3\r\nabc\r\n0\r\nX-Sum: 123 \r\nX-Empty:\r\nserver-timing: a;dur=1\r\n\r\n", &DEF);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    CHECK_EQ_STR(d.trailers, "X-Sum=123;X-Empty=;server-timing=a;dur=1;");
    CHECK_EQ_INT(d.events, 1 + 3 + 1);

    /* A partial trailer line is left unconsumed for the next call. */
    wf_h1_chunked_t c;
    wf_h1_chunk_ev_t ev;
    wf_h1_chunked_init(&c, false);
    const char *s = "0\r\nX-A: 1\r\n\r\n";
    CHECK_EQ_INT(wf_h1_chunked_next(&c, s, 7, &ev), WF_EAGAIN);
    CHECK_EQ_INT(ev.consumed, 3);
    CHECK_EQ_INT(wf_h1_chunked_next(&c, s + 3, 8, &ev), WF_H1_CHUNK_TRAILER);
    CHECK_EQ_INT(ev.consumed, 8);
    CHECK(wf_str_eq(ev.name, WF_STR("X-A")) && wf_str_eq(ev.value, WF_STR("1")));
    CHECK_EQ_INT(wf_h1_chunked_next(&c, s + 11, 2, &ev), WF_H1_CHUNK_END);

    CHECK_CHUNKED_BAD("0\r\nContent-Length: 5\r\n\r\n", "field not allowed in trailers");
    CHECK_CHUNKED_BAD("0\r\nTransfer-Encoding: chunked\r\n\r\n", "field not allowed in trailers");
    CHECK_CHUNKED_BAD("0\r\nhost: a\r\n\r\n", "field not allowed in trailers");
    CHECK_CHUNKED_BAD("0\r\nConnection: close\r\n\r\n", "field not allowed in trailers");
    CHECK_CHUNKED_BAD("0\r\nTrailer: x\r\n\r\n", "field not allowed in trailers");
    CHECK_CHUNKED_BAD("0\r\nX: 1\r\n 2\r\n\r\n", "obs-fold: field line starts with whitespace");
    CHECK_CHUNKED_BAD("0\r\nX : 1\r\n\r\n", "whitespace between field name and colon");
    CHECK_CHUNKED_BAD("0\r\nX: 1\n\r\n", "bare LF line ending");
    CHECK_CHUNKED_BAD("0\r\nX: 1\r\n\n", "bare LF line ending");
    CHECK_CHUNKED_BAD("0\r\n\n", "bare LF line ending");
    CHECK_CHUNKED_BAD("0\r\nX: \0011\r\n\r\n", "control character in field value");
    CHECK_CHUNKED_BAD("0\r\n: 1\r\n\r\n", "empty field name");

    limits_t two = {.max_trailers = 2};
    run("0\r\nA: 1\r\nB: 2\r\n\r\n", &two);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    run("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &two);
    CHECK_EQ_INT(d.rc, WF_ELIMIT);
    CHECK_EQ_INT(d.status, 431);
    CHECK_EQ_STR(d.err, "too many trailer fields");

    /* Trailer bytes, final CRLF included: 8 + 2 fit in 10, not in 9. */
    limits_t ten = {.max_trailer = 10}, nine = {.max_trailer = 9};
    run("0\r\nA: 123\r\n\r\n", &ten);
    CHECK_EQ_INT(d.rc, WF_H1_CHUNK_END);
    run("0\r\nA: 123\r\n\r\n", &nine);
    CHECK_EQ_INT(d.rc, WF_ELIMIT);
    CHECK_EQ_STR(d.err, "trailer section too large");
    run("0\r\nA: 12345678901234567890", &nine); /* too large before the line ends */
    CHECK_EQ_INT(d.rc, WF_ELIMIT);
    limits_t res = {.response = true, .max_trailer = 9};
    run("0\r\nA: 123\r\n\r\n", &res);
    CHECK_EQ_INT(d.status, 502);
}

int main(void)
{
    WF_RUN(test_basic);
    WF_RUN(test_passthrough_boundary);
    WF_RUN(test_extensions);
    WF_RUN(test_size_errors);
    WF_RUN(test_trailers);
    return wf_test_done();
}
