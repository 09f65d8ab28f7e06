/*
 * h1_chunked.c — the chunked transfer coding (RFC 9112 §7.1), decoded as a
 * stream: chunk data is handed out as views and never buffered, framing
 * bytes are consumed as they arrive, and only a trailer line waits whole.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *   ext-val      = token / quoted-string
 *
 * Strictness (400 for a request body, 502 for a response body):
 *  - chunk-size is 1*HEXDIG, at most 16 digits (leading zeros count: a size
 *    line is not a place to stream bytes) and at most INT64_MAX.
 *  - Extensions follow the grammar exactly, BWS included; "5 " CRLF (space
 *    and no extension) is an error. An implementation that trims there and
 *    one that does not disagree about the size line. Their bytes per chunk
 *    line are bounded by max_ext, as they are pure overhead a client could
 *    otherwise use to make the proxy scan without progress.
 *  - Chunk data is followed by exactly CRLF; all line ends are CRLF (no
 *    bare LF, see h1_field.c for why).
 *  - The trailer section obeys the header-field rules and limits
 *    (max_trailer bytes, max_trailers fields: 431 for a request), and may
 *    not carry the fields this module interprets (framing, routing,
 *    connection, expectations): RFC 9110 §6.5.1 forbids fields whose
 *    meaning is needed before the content, and a trailer Content-Length or
 *    Transfer-Encoding merged into a header section by a careless next hop
 *    is a smuggling vector.
 */
#include "http1/h1_internal.h"

/* Values of st.state. */
enum {
    C_SIZE_START,  /* first hex digit of chunk-size */
    C_SIZE,        /* further digits; or the extensions or CR */
    C_EXT_BWS,     /* BWS before ";" */
    C_EXT_NAME0,   /* BWS after ";", before the ext-name */
    C_EXT_NAME,    /* ext-name */
    C_EXT_NAME_WS, /* BWS after the ext-name: "=" or ";" must follow */
    C_EXT_VAL0,    /* BWS after "=" */
    C_EXT_TOKEN,   /* token ext-val */
    C_EXT_QS,      /* inside a quoted-string ext-val */
    C_EXT_QS_ESC,  /* after a backslash in it */
    C_EXT_QS_END,  /* after the closing quote */
    C_SIZE_LF,     /* LF ending the chunk-size line */
    C_DATA,        /* chunk-data */
    C_DATA_CR,     /* CR after chunk-data */
    C_DATA_LF,     /* LF after it */
    C_TRAILER,     /* trailer field lines, then the final CRLF */
    C_DONE,        /* the body ended; nothing more is consumed */
};

#define MAX_SIZE_DIGITS 16

static int fail(wf_h1_chunked_t *c, int code, uint16_t status, const char *why)
{
    c->err = why;
    c->status = c->st.is_response ? 502 : status;
    c->st.result = code;
    return code;
}

static int bad(wf_h1_chunked_t *c, const char *why)
{
    return fail(c, WF_EPROTO, 400, why);
}

void wf_h1_chunked_init(wf_h1_chunked_t *c, bool response)
{
    *c = (wf_h1_chunked_t){0};
    c->max_ext = 1024;
    c->max_trailer = 8192;
    c->max_trailers = 32;
    c->st.is_response = response;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* One byte of a chunk-size line after the first digit. Returns 0, or an
 * error return. */
static int size_line_byte(wf_h1_chunked_t *c, unsigned char ch)
{
    uint8_t next;
    if (c->st.state != C_SIZE && ++c->st.ext > c->max_ext)
        return bad(c, "chunk extensions too long");
    switch (c->st.state) {
    case C_SIZE: {
        int d = hex_value(ch);
        if (d >= 0) {
            if (++c->st.ndigits > MAX_SIZE_DIGITS)
                return bad(c, "chunk size has too many digits");
            if (c->st.left > (uint64_t)(INT64_MAX >> 4))
                return bad(c, "chunk size too large");
            c->st.left = c->st.left << 4 | (uint64_t)d;
            return 0;
        }
        if (ch == '\r')
            next = C_SIZE_LF;
        else if (ch == ';')
            next = C_EXT_NAME0;
        else if (wf__h1_is_ws(ch))
            next = C_EXT_BWS;
        else
            return bad(c, "invalid chunk size");
        c->st.ext = ch == '\r' ? 0 : 1;
        if (c->st.ext > c->max_ext)
            return bad(c, "chunk extensions too long");
        break;
    }
    case C_EXT_BWS:
        if (wf__h1_is_ws(ch))
            return 0;
        if (ch != ';')
            return bad(c, "whitespace not followed by ';' in chunk-size line");
        next = C_EXT_NAME0;
        break;
    case C_EXT_NAME0:
        if (wf__h1_is_ws(ch))
            return 0;
        if (!wf__h1_is(ch, WF__H1_C_TCHAR))
            return bad(c, "invalid chunk extension name");
        next = C_EXT_NAME;
        break;
    case C_EXT_NAME:
    case C_EXT_TOKEN:
    case C_EXT_QS_END:
        if (c->st.state != C_EXT_QS_END && wf__h1_is(ch, WF__H1_C_TCHAR))
            return 0;
        if (ch == '\r')
            next = C_SIZE_LF;
        else if (ch == ';')
            next = C_EXT_NAME0;
        else if (wf__h1_is_ws(ch))
            next = c->st.state == C_EXT_NAME ? C_EXT_NAME_WS : C_EXT_BWS;
        else if (ch == '=' && c->st.state == C_EXT_NAME)
            next = C_EXT_VAL0;
        else
            return bad(c, "invalid chunk extension");
        break;
    case C_EXT_NAME_WS:
        if (wf__h1_is_ws(ch))
            return 0;
        if (ch == '=')
            next = C_EXT_VAL0;
        else if (ch == ';')
            next = C_EXT_NAME0;
        else
            return bad(c, "invalid chunk extension");
        break;
    case C_EXT_VAL0:
        if (wf__h1_is_ws(ch))
            return 0;
        if (ch == '"')
            next = C_EXT_QS;
        else if (wf__h1_is(ch, WF__H1_C_TCHAR))
            next = C_EXT_TOKEN;
        else
            return bad(c, "invalid chunk extension value");
        break;
    case C_EXT_QS:
        if (ch == '"')
            next = C_EXT_QS_END;
        else if (ch == '\\')
            next = C_EXT_QS_ESC;
        else if (wf__h1_is(ch, WF__H1_C_QDTEXT))
            return 0;
        else
            return bad(c, "invalid character in chunk extension");
        break;
    case C_EXT_QS_ESC:
        /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        if (!wf__h1_is_ws(ch) && !wf__h1_is(ch, WF__H1_C_FVCHAR))
            return bad(c, "invalid character in chunk extension");
        next = C_EXT_QS;
        break;
    default:
        return bad(c, "internal: not in a chunk-size line");
    }
    c->st.state = next;
    return 0;
}

/* The trailer section: whole field lines starting at buf[pos]. */
static int trailer(wf_h1_chunked_t *c, const char *buf, size_t len, size_t pos,
                   wf_h1_chunk_ev_t *ev)
{
    wf__h1_line_t *l = &c->st.fl;
    size_t room = c->max_trailer > c->st.trailer_bytes ? c->max_trailer - c->st.trailer_bytes : 0;
    size_t avail = WF_MIN(len - pos, room);
    const char *why = NULL;
    int rc = wf__h1_line_scan(l, buf + pos, avail, &why);
    if (rc == WF_EAGAIN) {
        if (len - pos >= room)
            return fail(c, WF_ELIMIT, 431, "trailer section too large");
        ev->consumed = pos;
        return WF_EAGAIN;
    }
    if (rc < 0)
        return bad(c, why);
    const char *line = buf + pos;
    if (rc == WF__H1_LINE_FIELD) {
        if (c->st.ntrailers >= c->max_trailers)
            return fail(c, WF_ELIMIT, 431, "too many trailer fields");
        if (wf__h1_field_id(line, l->name_len) != WF_H1_F_OTHER)
            return bad(c, "field not allowed in trailers");
    }
    c->st.trailer_bytes += l->pos;
    ev->consumed = pos + l->pos;
    if (rc == WF__H1_LINE_END) {
        c->st.state = C_DONE;
        c->st.result = WF_H1_CHUNK_END;
        return WF_H1_CHUNK_END;
    }
    c->st.ntrailers++;
    ev->name = (wf_str_t){line, l->name_len};
    ev->value = (wf_str_t){line + l->value_off, l->value_end - l->value_off};
    wf__h1_line_reset(l);
    return WF_H1_CHUNK_TRAILER;
}

int wf_h1_chunked_next(wf_h1_chunked_t *c, const char *buf, size_t len, wf_h1_chunk_ev_t *ev)
{
    *ev = (wf_h1_chunk_ev_t){0};
    if (c->st.result < 0)
        return c->st.result;
    if (c->st.state == C_DONE)
        return WF_H1_CHUNK_END; /* nothing more belongs to this body */

    size_t pos = 0;
    int rc;
    while (pos < len) {
        unsigned char ch = (unsigned char)buf[pos];
        switch (c->st.state) {
        case C_SIZE_START: {
            int d = hex_value(ch);
            if (d < 0)
                return bad(c,
                           ch == '\r' || ch == '\n' ? "missing chunk size" : "invalid chunk size");
            c->st.left = (uint64_t)d;
            c->st.ndigits = 1;
            c->st.state = C_SIZE;
            pos++;
            break;
        }
        case C_SIZE_LF:
            if (ch != '\n')
                return bad(c, "bare CR in chunk-size line");
            c->st.state = c->st.left == 0 ? C_TRAILER : C_DATA;
            pos++;
            break;
        case C_DATA: {
            size_t n = (size_t)WF_MIN((uint64_t)(len - pos), c->st.left);
            ev->data = (wf_str_t){buf + pos, n};
            pos += n;
            c->st.left -= n;
            c->data_bytes += n;
            if (c->st.left == 0)
                c->st.state = C_DATA_CR;
            ev->consumed = pos;
            return WF_H1_CHUNK_DATA;
        }
        case C_DATA_CR:
        case C_DATA_LF:
            if (ch != (c->st.state == C_DATA_CR ? '\r' : '\n'))
                return bad(c, "chunk data not followed by CRLF");
            c->st.state = c->st.state == C_DATA_CR ? C_DATA_LF : C_SIZE_START;
            pos++;
            break;
        case C_TRAILER:
            return trailer(c, buf, len, pos, ev);
        default:
            if ((rc = size_line_byte(c, ch)) < 0)
                return rc;
            pos++;
            break;
        }
    }
    ev->consumed = pos;
    return WF_EAGAIN;
}
