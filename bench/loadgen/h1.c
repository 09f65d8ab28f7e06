/*
 * h1.c — see h1.h. Framing follows RFC 9112 §6.3: a response to a request
 * that is not HEAD has a body framed by chunked encoding, else by
 * Content-Length; 1xx, 204 and 304 have none. A response with neither is
 * delimited by close, which this reader reports as an error (the bench
 * needs keep-alive). A request with neither has no body.
 */
#include "h1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void lg_h1_msg_init(lg_h1_msg_t *m, bool is_request)
{
    m->is_request = is_request;
    m->state = LG_H1_S_HEAD;
    m->head_len = 0;
    m->status = 0;
    m->is_post = false;
    m->conn_close = false;
    m->remaining = 0;
    m->body_len = 0;
    m->chunk_size_seen = false;
    m->line_len = 0;
    m->error = NULL;
}

static int fail(lg_h1_msg_t *m, const char *why)
{
    m->error = why;
    return LG_H1_ERROR;
}

/* Trims optional whitespace (RFC 9110 §5.6.3) from both ends of [*b, *e). */
static void trim_ows(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static bool token_eq(const char *b, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(e - b) == n && strncasecmp(b, lit, n) == 0;
}

/* True if the comma-separated list [b, e) holds `lit` (case-insensitive). */
static bool list_has(const char *b, const char *e, const char *lit)
{
    while (b < e) {
        const char *c = memchr(b, ',', (size_t)(e - b));
        const char *end = c ? c : e;
        const char *tb = b, *te = end;
        trim_ows(&tb, &te);
        if (token_eq(tb, te, lit))
            return true;
        b = c ? c + 1 : e;
    }
    return false;
}

/* Reads the collected head (ending in CRLF CRLF) and sets up body framing. */
static int parse_head(lg_h1_msg_t *m)
{
    const char *p = m->head, *end = m->head + m->head_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
        return fail(m, "no start line");
    if (m->is_request) {
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        if (sp == NULL || sp == p)
            return fail(m, "bad request line");
        m->is_post = !token_eq(p, sp, "GET") && !token_eq(p, sp, "HEAD");
    } else {
        if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
            return fail(m, "bad status line");
        int st = 0;
        for (int i = 9; i < 12; i++) {
            if (p[i] < '0' || p[i] > '9')
                return fail(m, "bad status code");
            st = st * 10 + (p[i] - '0');
        }
        m->status = st;
    }
    bool have_cl = false, chunked = false;
    uint64_t cl = 0;
    for (p = eol + 1; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            break;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p)
            break; /* the empty line */
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon == NULL)
            return fail(m, "header without colon");
        const char *vb = colon + 1, *ve = le;
        trim_ows(&vb, &ve);
        if (token_eq(p, colon, "content-length")) {
            uint64_t v = 0;
            if (vb == ve)
                return fail(m, "empty content-length");
            for (const char *q = vb; q < ve; q++) {
                if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
                    return fail(m, "bad content-length");
                v = v * 10 + (uint64_t)(*q - '0');
            }
            if (have_cl && v != cl)
                return fail(m, "conflicting content-length");
            have_cl = true;
            cl = v;
        } else if (token_eq(p, colon, "transfer-encoding")) {
            if (list_has(vb, ve, "chunked"))
                chunked = true;
        } else if (token_eq(p, colon, "connection")) {
            if (list_has(vb, ve, "close"))
                m->conn_close = true;
        }
    }
    bool no_body = !m->is_request && (m->status < 200 || m->status == 204 || m->status == 304);
    if (no_body) {
        m->state = LG_H1_S_DONE;
    } else if (chunked) {
        m->state = LG_H1_S_CHUNK_SIZE; /* chunked wins over a CL (RFC 9112 §6.3) */
    } else if (have_cl) {
        m->remaining = cl;
        m->body_len = cl;
        m->state = cl > 0 ? LG_H1_S_BODY : LG_H1_S_DONE;
    } else if (m->is_request) {
        m->state = LG_H1_S_DONE;
    } else {
        return fail(m, "close-delimited response (no length)");
    }
    if (m->status >= 100 && m->status < 200 && m->status != 101)
        lg_h1_msg_init(m, false); /* interim response: read the next head */
    return 0;
}

/* Collects head bytes. Returns 1 when the head (ending in CRLF CRLF) is
 * complete and parsed, 0 when more is needed, LG_H1_ERROR on a bad head;
 * *used says how many bytes were taken. An empty line before the start
 * line is skipped (RFC 9112 §2.2). */
static int take_head(lg_h1_msg_t *m, const char *p, size_t len, size_t *used)
{
    for (size_t i = 0; i < len; i++) {
        if (m->head_len == sizeof(m->head)) {
            *used = i;
            return fail(m, "head too large");
        }
        m->head[m->head_len++] = p[i];
        if (p[i] != '\n')
            continue;
        if (m->head_len == 2 && m->head[0] == '\r') {
            m->head_len = 0;
            continue;
        }
        if (m->head_len >= 4 && memcmp(m->head + m->head_len - 4, "\r\n\r\n", 4) == 0) {
            *used = i + 1;
            return parse_head(m) == 0 ? 1 : LG_H1_ERROR;
        }
    }
    *used = len;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Fails lg_h1_feed, reporting the bytes consumed so far. */
#define FEED_FAIL(why)                                                                             \
    do {                                                                                           \
        *used = i;                                                                                 \
        return fail(m, why);                                                                       \
    } while (0)

int lg_h1_feed(lg_h1_msg_t *m, const char *p, size_t len, size_t *used)
{
    size_t i = 0;
    while (m->state != LG_H1_S_DONE) {
        if (m->state == LG_H1_S_HEAD) {
            size_t n;
            int rc = take_head(m, p + i, len - i, &n);
            i += n;
            if (rc < 0) {
                *used = i;
                return LG_H1_ERROR;
            }
            if (rc == 0)
                break; /* need more */
            continue;
        }
        if (i == len)
            break;
        char c = p[i];
        switch (m->state) {
        case LG_H1_S_BODY: {
            uint64_t n = len - i < m->remaining ? len - i : m->remaining;
            m->remaining -= n;
            i += (size_t)n;
            if (m->remaining == 0)
                m->state = LG_H1_S_DONE;
            break;
        }
        case LG_H1_S_CHUNK_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (m->remaining > (UINT64_MAX >> 4))
                    FEED_FAIL("chunk size overflow");
                m->remaining = (m->remaining << 4) | (uint64_t)h;
                m->chunk_size_seen = true;
                i++;
            } else if (c == ';' || c == '\r' || c == ' ' || c == '\t') {
                if (!m->chunk_size_seen)
                    FEED_FAIL("empty chunk size");
                m->state = LG_H1_S_CHUNK_EXT;
            } else if (c == '\n') {
                m->state = LG_H1_S_CHUNK_EXT; /* handled below with the LF */
            } else {
                FEED_FAIL("bad chunk size");
            }
            break;
        }
        case LG_H1_S_CHUNK_EXT:
            i++;
            if (c == '\n') {
                if (!m->chunk_size_seen)
                    FEED_FAIL("empty chunk size");
                m->chunk_size_seen = false;
                if (m->remaining == 0) {
                    m->state = LG_H1_S_TRAILER;
                    m->line_len = 0;
                } else {
                    m->body_len += m->remaining;
                    m->state = LG_H1_S_CHUNK_DATA;
                }
            }
            break;
        case LG_H1_S_CHUNK_DATA: {
            uint64_t n = len - i < m->remaining ? len - i : m->remaining;
            m->remaining -= n;
            i += (size_t)n;
            if (m->remaining == 0)
                m->state = LG_H1_S_CHUNK_CR;
            break;
        }
        case LG_H1_S_CHUNK_CR:
            if (c != '\r')
                FEED_FAIL("missing CR after chunk");
            i++;
            m->state = LG_H1_S_CHUNK_LF;
            break;
        case LG_H1_S_CHUNK_LF:
            if (c != '\n')
                FEED_FAIL("missing LF after chunk");
            i++;
            m->state = LG_H1_S_CHUNK_SIZE;
            break;
        case LG_H1_S_TRAILER:
            i++;
            if (c == '\n') {
                if (m->line_len == 0)
                    m->state = LG_H1_S_DONE;
                m->line_len = 0;
            } else if (c != '\r') {
                m->line_len++;
            }
            break;
        default:
            FEED_FAIL("bad state");
        }
    }
    *used = i;
    return m->state == LG_H1_S_DONE ? LG_H1_DONE : LG_H1_AGAIN;
}

size_t lg_h1_build_request(char *buf, size_t cap, const char *authority, const char *path,
                           size_t body_len)
{
    int n;
    if (body_len == 0)
        n = snprintf(buf, cap, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weft-loadgen\r\n\r\n",
                     path, authority);
    else
        n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: weft-loadgen\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                     path, authority, body_len);
    if (n < 0 || (size_t)n + body_len > cap)
        return 0;
    memset(buf + n, 'x', body_len);
    return (size_t)n + body_len;
}
