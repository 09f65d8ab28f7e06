/*
 * h1_head.c — request and response heads (RFC 9112 §2–§6, RFC 9110).
 *
 * A byte-at-a-time state machine runs over the start-line, then the shared
 * field-line scanner (h1_field.c) over each field line. Every decision
 * depends only on the bytes before it, so a head split anywhere across calls
 * gives exactly the result it gives whole; and since scanning resumes where
 * it stopped, a head costs O(its length) however it arrives. Offsets, not
 * pointers, are kept while parsing because the caller's buffer may move
 * between calls; the views are made once, when the head is complete.
 *
 * Framing and connection facts are gathered field by field and settled at
 * the empty line, so the proxy never scans the fields again.
 *
 * Strictness. Each rule is a 400 for a request (502 for a response) unless
 * said otherwise; field-line rules are listed in h1_field.c.
 *  - request-line = method SP request-target SP HTTP-version CRLF with one
 *    SP each (§3: lenient whitespace parsing invites smuggling). A space in
 *    the target is an error, not a word boundary. The method is a token.
 *  - The target holds no CTL, SP, DEL, "#" or non-ASCII byte (RFC 3986:
 *    those must be percent-encoded; no fragment in a request) and has one
 *    of the forms of §3.2: authority-form for CONNECT and only for it, "*"
 *    only for OPTIONS, else origin-form or absolute-form. Longer than
 *    max_target: 414 (RFC 9110 §15.5.15).
 *  - HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (§2.3); 1.0 and
 *    1.1 are served, any other well-formed version is a 505.
 *  - Empty lines before a request-line are skipped (§2.2 SHOULD) and count
 *    towards max_head. Not before a status-line: there they would mean the
 *    previous response's framing was misjudged.
 *  - status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF, the
 *    code within 100..599 (RFC 9110 §15), the reason free of CTLs. "HTTP/1.1 200" CRLF without the
 * SP is accepted: the reason carries nothing (§4) and no framing depends on it.
 *  - Host (§3.2): exactly one in an HTTP/1.1 request, at most one in 1.0,
 *    and its value of authority characters only (no userinfo, no spaces).
 *  - Content-Length (§6.3 item 5, RFC 9110 §8.6): 1*DIGIT, at most
 *    INT64_MAX. A list ("5, 5") is rejected. Repeated field lines are
 *    accepted only when byte-identical; the repeats get WF_H1_HF_DUP so one
 *    copy is forwarded. Identical repeats cannot frame differently anywhere,
 *    while "5" vs "05" could if the next hop were odd, so only exact copies.
 *  - Transfer-Encoding (§6.1, §7): a list of bare coding tokens, no
 *    parameters, and no empty element (stricter than RFC 9110 §5.6.1's
 *    tolerance: odd lists are how parsers are probed for disagreement);
 *    chunked at most once and last, in responses too. In a request
 *    an unknown coding is a 501 and a final coding other than chunked a
 *    400 (§6.3 item 4); in a response that reads until close. In any
 *    HTTP/1.0 message it is an error (§6.1: the framing is faulty).
 *  - Content-Length with Transfer-Encoding is an error (§6.1 lets a server
 *    reject it; §6.3 item 3 notes it is how smuggling is attempted).
 *  - Connection options are tokens. An option naming Content-Length or
 *    Host is an error: dropping those as hop-by-hop would change the next
 *    hop's framing or routing. At most WF_H1_MAX_CONN_OPTIONS options may
 *    name fields (real clients send one or two).
 *  - More than max_head bytes before the end of the head, or more than
 *    max_headers fields: 431 (RFC 6585 §5).
 */
#include "http1/h1_internal.h"

/* Values of st.state. */
enum {
    S_REQ_START,    /* before the method; empty lines are skipped */
    S_REQ_START_LF, /* LF of an empty line before the method */
    S_METHOD,       /* method token, up to SP */
    S_TARGET,       /* request-target, up to SP */
    S_REQ_VERSION,  /* "HTTP/x.y" then CR */
    S_BAD_VERSION,  /* malformed version: find out whether the target had a space */
    S_RES_VERSION,  /* "HTTP/x.y" then SP */
    S_STATUS,       /* three digits */
    S_STATUS_END,   /* SP before the reason, or CR */
    S_REASON,       /* reason-phrase, up to CR */
    S_LINE_LF,      /* LF ending the start-line */
    S_FIELDS,       /* field lines, scanned by wf__h1_line_scan() */
};

/* Bits of st.seen. */
#define SEEN_CLOSE 0x01u        /* Connection: close */
#define SEEN_KEEP_ALIVE 0x02u   /* Connection: keep-alive */
#define SEEN_CONN_UPGRADE 0x04u /* Connection: upgrade */
#define SEEN_UPGRADE 0x08u      /* an Upgrade field */
#define SEEN_CONTINUE 0x10u     /* Expect: 100-continue */
#define SEEN_TE 0x20u           /* a Transfer-Encoding field */
#define SEEN_CHUNKED 0x40u      /* chunked among the codings (and so the last) */

/* Indexes of st.start[]: offsets of the start-line's parts. A request has
 * method, target, version; a response version, status, reason. */
enum {
    START_0,   /* method / version */
    START_1,   /* target / status */
    START_2,   /* version / reason */
    START_END, /* the CR ending the line */
};

/* Heads are indexed with 32-bit offsets; this keeps them far from wrapping. */
#define MAX_HEAD_CAP (1u << 30)

static int fail(wf_h1_parser_t *p, int code, uint16_t status, const char *why)
{
    p->err = why;
    p->status = p->st.is_response ? 502 : status;
    p->st.result = code;
    return code;
}

static int bad(wf_h1_parser_t *p, const char *why)
{
    return fail(p, WF_EPROTO, 400, why);
}

static void init(wf_h1_parser_t *p, wf_h1_header_t *headers, uint32_t max_headers)
{
    *p = (wf_h1_parser_t){0};
    p->msg.headers = headers;
    p->msg.content_length = -1;
    p->max_head = WF_H1_DEFAULT_MAX_HEAD;
    p->max_target = WF_H1_DEFAULT_MAX_TARGET;
    p->max_headers = max_headers;
}

void wf_h1_request_init(wf_h1_parser_t *p, wf_h1_header_t *headers, uint32_t max_headers)
{
    init(p, headers, max_headers);
    p->st.state = S_REQ_START;
}

void wf_h1_response_init(wf_h1_parser_t *p, wf_h1_header_t *headers, uint32_t max_headers,
                         wf_h1_method_t req_method)
{
    init(p, headers, max_headers);
    p->st.is_response = 1;
    p->st.req_method = (uint8_t)req_method;
    p->st.state = S_RES_VERSION;
}

static wf_h1_method_t method_id(const char *m, size_t len)
{
    static const struct {
        const char *name;
        wf_h1_method_t id;
    } methods[] = {
        {"GET", WF_H1_M_GET},         {"HEAD", WF_H1_M_HEAD},     {"POST", WF_H1_M_POST},
        {"PUT", WF_H1_M_PUT},         {"DELETE", WF_H1_M_DELETE}, {"CONNECT", WF_H1_M_CONNECT},
        {"OPTIONS", WF_H1_M_OPTIONS}, {"TRACE", WF_H1_M_TRACE},   {"PATCH", WF_H1_M_PATCH},
    };
    for (size_t i = 0; i < WF_ARRAY_LEN(methods); i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
            return methods[i].id;
    return WF_H1_M_OTHER;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* authority-form = uri-host ":" port (§3.2.3); CONNECT has no default port
 * (RFC 9110 §9.3.6), so the port is required. */
static bool is_authority_form(const char *t, size_t len)
{
    size_t colon = len;
    while (colon > 0 && t[colon - 1] != ':')
        colon--;
    if (colon < 2 || len - colon < 1 || len - colon > 5)
        return false;
    unsigned port = 0;
    for (size_t i = colon; i < len; i++) {
        if (!is_digit((unsigned char)t[i]))
            return false;
        port = port * 10 + (unsigned)(t[i] - '0');
    }
    size_t host_len = colon - 1;
    for (size_t i = 0; i < host_len; i++)
        if (!wf__h1_is((unsigned char)t[i], WF__H1_C_HOST))
            return false;
    if (t[0] == '[' && t[host_len - 1] != ']')
        return false;
    return port <= 65535;
}

/* Checks the request-target's form (§3.2); NULL if acceptable. */
static const char *check_target(wf_h1_method_t method, const char *t, size_t len)
{
    if (method == WF_H1_M_CONNECT)
        return is_authority_form(t, len) ? NULL : "CONNECT target is not host:port";
    if (t[0] == '/')
        return NULL; /* origin-form */
    if (len == 1 && t[0] == '*')
        return method == WF_H1_M_OPTIONS ? NULL : "asterisk-form target outside OPTIONS";
    /* absolute-form: scheme ":" ... with scheme = ALPHA *( ALPHA / DIGIT /
     * "+" / "-" / "." ) (RFC 3986 §3.1). */
    if (!is_alpha((unsigned char)t[0]))
        return "invalid request-target form";
    size_t i = 1;
    for (; i < len && t[i] != ':'; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return "invalid request-target form";
    }
    return i < len ? NULL : "invalid request-target form";
}

/* Matches "HTTP/" DIGIT "." DIGIT byte by byte: i is c's index in it.
 * Returns false if c cannot be there. */
static bool version_byte(size_t i, unsigned char c)
{
    if (i < 5)
        return c == (unsigned char)"HTTP/"[i];
    if (i == 6)
        return c == '.';
    return is_digit(c);
}

/* Settles a complete version starting at v; 0, or an error return. */
static int check_version(wf_h1_parser_t *p, const char *v)
{
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return p->st.is_response ? bad(p, "unsupported HTTP version")
                                 : fail(p, WF_EPROTO, 505, "HTTP version not supported");
    p->msg.minor = (uint8_t)(v[7] - '0');
    return 0;
}

/*
 * Runs the start-line machine over buf[st.pos..end). Returns 0 once the
 * line is complete (state S_FIELDS), WF_EAGAIN, or an error.
 */
static int parse_start_line(wf_h1_parser_t *p, const char *buf, size_t end)
{
    uint32_t *s = p->st.start;
    size_t pos = p->st.pos;
    int rc;
    for (; pos < end; pos++) {
        unsigned char c = (unsigned char)buf[pos];
        switch (p->st.state) {
        case S_REQ_START:
            if (c == '\r') {
                p->st.state = S_REQ_START_LF;
                continue;
            }
            if (!wf__h1_is(c, WF__H1_C_TCHAR))
                return bad(p, c == '\n' ? "bare LF line ending" : "invalid character in method");
            s[START_0] = (uint32_t)pos;
            p->st.state = S_METHOD;
            continue;
        case S_REQ_START_LF:
            if (c != '\n')
                return bad(p, "bare CR before request-line");
            p->st.state = S_REQ_START;
            continue;
        case S_METHOD:
            if (wf__h1_is(c, WF__H1_C_TCHAR))
                continue;
            if (c != ' ')
                return bad(p, "invalid character in method");
            p->msg.method_id = (uint8_t)method_id(buf + s[START_0], pos - s[START_0]);
            s[START_1] = (uint32_t)pos + 1;
            p->st.state = S_TARGET;
            continue;
        case S_TARGET: {
            if (wf__h1_is(c, WF__H1_C_TARGET)) {
                if (pos - s[START_1] >= p->max_target)
                    return fail(p, WF_ELIMIT, 414, "request-target too long");
                continue;
            }
            if (c != ' ') {
                if (c == '\r' || c == '\n')
                    return bad(p, "request-line without HTTP version");
                return bad(p, "invalid character in request-target");
            }
            if (pos == s[START_1])
                return bad(p, "empty request-target");
            const char *why =
                check_target((wf_h1_method_t)p->msg.method_id, buf + s[START_1], pos - s[START_1]);
            if (why != NULL)
                return bad(p, why);
            s[START_2] = (uint32_t)pos + 1;
            p->st.state = S_REQ_VERSION;
            continue;
        }
        case S_REQ_VERSION: {
            size_t i = pos - s[START_2];
            if (i < 8 && version_byte(i, c))
                continue;
            if (i == 8 && c == '\r') {
                if ((rc = check_version(p, buf + s[START_2])) != 0)
                    return rc;
                s[START_END] = (uint32_t)pos;
                p->st.state = S_LINE_LF;
                continue;
            }
            if (i == 8)
                return bad(p, c == '\n' ? "bare LF line ending" : "malformed HTTP version");
            if (c == ' ')
                return bad(p, "space in request-target");
            if (c == '\r' || c == '\n')
                return bad(p, "malformed HTTP version");
            p->st.state = S_BAD_VERSION;
            continue;
        }
        case S_BAD_VERSION:
            /* "GET /a b HTTP/1.1": the version looks wrong because the
             * target had a space; say so if a space follows. */
            if (c == ' ')
                return bad(p, "space in request-target");
            if (c == '\r' || c == '\n')
                return bad(p, "malformed HTTP version");
            continue;
        case S_RES_VERSION: {
            size_t i = pos - s[START_0];
            if (i < 8 && version_byte(i, c))
                continue;
            if (i != 8 || c != ' ')
                return bad(p, "malformed HTTP version in status-line");
            if ((rc = check_version(p, buf + s[START_0])) != 0)
                return rc;
            s[START_1] = (uint32_t)pos + 1;
            p->st.state = S_STATUS;
            continue;
        }
        case S_STATUS:
            if (!is_digit(c))
                return bad(p, "malformed status code");
            if (pos - s[START_1] == 2) {
                const char *d = buf + s[START_1];
                unsigned code = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 +
                                (unsigned)(d[2] - '0');
                if (code < 100 || code > 599)
                    return bad(p, "status code out of range");
                p->msg.status = (uint16_t)code;
                p->st.state = S_STATUS_END;
            }
            continue;
        case S_STATUS_END:
            if (c == ' ') {
                s[START_2] = (uint32_t)pos + 1;
                p->st.state = S_REASON;
                continue;
            }
            if (c == '\r') {
                s[START_2] = s[START_END] = (uint32_t)pos;
                p->st.state = S_LINE_LF;
                continue;
            }
            return bad(p, c == '\n' ? "bare LF line ending" : "malformed status code");
        case S_REASON:
            if (wf__h1_is(c, WF__H1_C_FVCHAR) || wf__h1_is_ws(c))
                continue;
            if (c == '\r') {
                s[START_END] = (uint32_t)pos;
                p->st.state = S_LINE_LF;
                continue;
            }
            return bad(p, c == '\n' ? "bare LF line ending" : "control character in reason-phrase");
        case S_LINE_LF:
            if (c != '\n')
                return bad(p, "bare CR in start-line");
            p->st.pos = p->st.line = (uint32_t)pos + 1;
            p->st.state = S_FIELDS;
            return 0;
        }
    }
    p->st.pos = (uint32_t)pos;
    return WF_EAGAIN;
}

static int on_content_length(wf_h1_parser_t *p, wf_h1_header_t *h, wf_str_t value, const char *buf)
{
    int64_t v = 0;
    if (value.len == 0)
        return bad(p, "Content-Length is not a number");
    for (size_t i = 0; i < value.len; i++) {
        unsigned char c = (unsigned char)value.ptr[i];
        if (!is_digit(c))
            return bad(p, "Content-Length is not a number");
        if (v > (INT64_MAX - (c - '0')) / 10)
            return bad(p, "Content-Length too large");
        v = v * 10 + (c - '0');
    }
    if (p->msg.content_length < 0) {
        p->msg.content_length = v;
        p->st.cl_hdr = (uint32_t)(h - p->msg.headers);
        return 0;
    }
    const wf_h1_header_t *first = &p->msg.headers[p->st.cl_hdr];
    if (first->value.len != value.len || memcmp(buf + first->off_[1], value.ptr, value.len) != 0)
        return bad(p, "conflicting Content-Length values");
    h->flags |= WF_H1_HF_DUP;
    return 0;
}

/* Transfer codings the registry defines besides chunked (RFC 9110 §8.4.1). */
static bool is_known_coding(wf_str_t c)
{
    return wf__h1_eq_lc(c.ptr, c.len, "gzip") || wf__h1_eq_lc(c.ptr, c.len, "x-gzip") ||
           wf__h1_eq_lc(c.ptr, c.len, "deflate") || wf__h1_eq_lc(c.ptr, c.len, "compress") ||
           wf__h1_eq_lc(c.ptr, c.len, "x-compress");
}

static int on_transfer_encoding(wf_h1_parser_t *p, wf_str_t value)
{
    if (p->msg.minor == 0)
        return bad(p, "Transfer-Encoding in an HTTP/1.0 message");
    p->st.seen |= SEEN_TE;
    size_t pos = 0;
    wf_str_t e;
    while (wf__h1_list_next(value.ptr, value.len, &pos, &e)) {
        if (!wf__h1_is_token(e))
            return bad(p, e.len == 0 ? "empty element in Transfer-Encoding"
                                     : "malformed transfer coding");
        bool chunked = wf__h1_eq_lc(e.ptr, e.len, "chunked");
        if (p->st.seen & SEEN_CHUNKED)
            return bad(p, chunked ? "chunked applied more than once"
                                  : "chunked is not the final transfer coding");
        if (chunked)
            p->st.seen |= SEEN_CHUNKED;
        else if (!is_known_coding(e) && !p->st.is_response)
            return fail(p, WF_EPROTO, 501, "unsupported transfer coding");
    }
    return 0;
}

static int on_connection(wf_h1_parser_t *p, wf_str_t value, const char *buf)
{
    size_t pos = 0;
    wf_str_t e;
    while (wf__h1_list_next(value.ptr, value.len, &pos, &e)) {
        if (e.len == 0)
            continue; /* RFC 9110 §5.6.1: empty list elements are ignored */
        if (!wf__h1_is_token(e))
            return bad(p, "malformed Connection option");
        if (wf__h1_eq_lc(e.ptr, e.len, "close")) {
            p->st.seen |= SEEN_CLOSE;
            continue;
        }
        if (wf__h1_eq_lc(e.ptr, e.len, "keep-alive")) {
            p->st.seen |= SEEN_KEEP_ALIVE;
            continue;
        }
        if (wf__h1_eq_lc(e.ptr, e.len, "upgrade"))
            p->st.seen |= SEEN_CONN_UPGRADE;
        wf_h1_field_t id = wf__h1_field_id(e.ptr, e.len);
        if (id == WF_H1_F_CONTENT_LENGTH || id == WF_H1_F_HOST)
            return bad(p, "Connection names Content-Length or Host");
        if (wf__h1_field_is_hop(id))
            continue; /* already hop-by-hop by name */
        if (p->st.nconn == WF_H1_MAX_CONN_OPTIONS)
            return bad(p, "too many Connection options");
        p->st.conn[p->st.nconn].off = (uint32_t)(e.ptr - buf);
        p->st.conn[p->st.nconn].len = (uint32_t)e.len;
        p->st.nconn++;
    }
    return 0;
}

static int on_host(wf_h1_parser_t *p, wf_str_t value, const char *buf)
{
    if (p->st.is_response)
        return 0;
    if (++p->st.nhost > 1)
        return bad(p, "several Host fields");
    for (size_t i = 0; i < value.len; i++)
        if (!wf__h1_is((unsigned char)value.ptr[i], WF__H1_C_HOST))
            return bad(p, "invalid Host value");
    p->st.host_off = (uint32_t)(value.ptr - buf);
    p->st.host_len = (uint32_t)value.len;
    return 0;
}

/* Records the field line just scanned and learns what it says. */
static int on_field(wf_h1_parser_t *p, const char *buf)
{
    const wf__h1_line_t *l = &p->st.fl;
    const char *line = buf + p->st.line;
    if (p->msg.nheaders >= p->max_headers)
        return fail(p, WF_ELIMIT, 431, "too many header fields");
    wf_h1_header_t *h = &p->msg.headers[p->msg.nheaders++];
    wf_str_t value = {line + l->value_off, l->value_end - l->value_off};
    *h = (wf_h1_header_t){
        .name = {NULL, l->name_len}, /* views are made in finish() */
        .value = {NULL, value.len},
        .id = (uint16_t)wf__h1_field_id(line, l->name_len),
        .off_ = {p->st.line, p->st.line + l->value_off},
    };
    if (wf__h1_field_is_hop((wf_h1_field_t)h->id))
        h->flags |= WF_H1_HF_HOP;
    switch ((wf_h1_field_t)h->id) {
    case WF_H1_F_CONTENT_LENGTH:
        return on_content_length(p, h, value, buf);
    case WF_H1_F_TRANSFER_ENCODING:
        return on_transfer_encoding(p, value);
    case WF_H1_F_CONNECTION:
        return on_connection(p, value, buf);
    case WF_H1_F_HOST:
        return on_host(p, value, buf);
    case WF_H1_F_UPGRADE:
        p->st.seen |= SEEN_UPGRADE;
        return 0;
    case WF_H1_F_EXPECT:
        /* RFC 9110 §10.1.1: the only expectation defined; others ignored. */
        if (wf_h1_has_token(value, WF_STR("100-continue")))
            p->st.seen |= SEEN_CONTINUE;
        return 0;
    default:
        return 0;
    }
}

/* Response framing, RFC 9112 §6.3 items 1, 2, 4, 6 and 8 (item 3 was
 * rejected in finish(), item 5 while reading Content-Length). */
static uint8_t response_body(wf_h1_parser_t *p)
{
    wf_h1_msg_t *m = &p->msg;
    unsigned code = m->status;
    if (code == 101)
        m->flags |= WF_H1_MF_TUNNEL;
    if (p->st.req_method == WF_H1_M_HEAD || code < 200 || code == 204 || code == 304)
        return WF_H1_BODY_NONE;
    if (p->st.req_method == WF_H1_M_CONNECT && code < 300) {
        m->flags |= WF_H1_MF_TUNNEL;
        return WF_H1_BODY_NONE;
    }
    if (p->st.seen & SEEN_TE)
        return p->st.seen & SEEN_CHUNKED ? WF_H1_BODY_CHUNKED : WF_H1_BODY_UNTIL_CLOSE;
    return m->content_length >= 0 ? WF_H1_BODY_LENGTH : WF_H1_BODY_UNTIL_CLOSE;
}

/* The empty line ending the head was seen: settle views and semantics. */
static int finish(wf_h1_parser_t *p, const char *buf, uint32_t head_len)
{
    wf_h1_msg_t *m = &p->msg;
    const uint32_t *s = p->st.start;
    unsigned seen = p->st.seen;

    if (!p->st.is_response) {
        m->method = (wf_str_t){buf + s[START_0], s[START_1] - 1 - s[START_0]};
        m->target = (wf_str_t){buf + s[START_1], s[START_2] - 1 - s[START_1]};
        if (p->st.nhost == 0 && m->minor == 1)
            return bad(p, "HTTP/1.1 request without Host");
        if (p->st.nhost != 0) {
            m->host = (wf_str_t){buf + p->st.host_off, p->st.host_len};
            m->flags |= WF_H1_MF_HOST;
        }
    } else {
        m->reason = (wf_str_t){buf + s[START_2], s[START_END] - s[START_2]};
    }

    for (uint32_t i = 0; i < m->nheaders; i++) {
        wf_h1_header_t *h = &m->headers[i];
        h->name.ptr = buf + h->off_[0];
        h->value.ptr = buf + h->off_[1];
        /* RFC 9110 §7.6.1: fields named in Connection are hop-by-hop. */
        for (uint32_t j = 0; j < p->st.nconn && !(h->flags & WF_H1_HF_HOP); j++)
            if (wf_str_eq_nocase(h->name, (wf_str_t){buf + p->st.conn[j].off, p->st.conn[j].len}))
                h->flags |= WF_H1_HF_HOP;
    }

    bool te = (seen & SEEN_TE) != 0;
    if (te && m->content_length >= 0)
        return bad(p, "both Transfer-Encoding and Content-Length");
    if (!p->st.is_response) {
        if (te && !(seen & SEEN_CHUNKED))
            return bad(p, "chunked is not the final transfer coding");
        m->body = te                       ? WF_H1_BODY_CHUNKED
                  : m->content_length >= 0 ? WF_H1_BODY_LENGTH
                                           : WF_H1_BODY_NONE;
    } else {
        m->body = response_body(p);
    }

    /* §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 needs "keep-alive". */
    if ((seen & SEEN_CLOSE) || (m->minor == 0 && !(seen & SEEN_KEEP_ALIVE)) ||
        m->body == WF_H1_BODY_UNTIL_CLOSE)
        m->flags |= WF_H1_MF_CLOSE;
    /* RFC 9110 §7.8: Upgrade needs the "upgrade" option and is ignored in
     * HTTP/1.0; §10.1.1: so is 100-continue. */
    if (m->minor == 1 && (seen & SEEN_UPGRADE) && (seen & SEEN_CONN_UPGRADE))
        m->flags |= WF_H1_MF_UPGRADE;
    if (!p->st.is_response && m->minor == 1 && (seen & SEEN_CONTINUE))
        m->flags |= WF_H1_MF_CONTINUE;

    p->st.result = (int)head_len;
    return (int)head_len;
}

/* Runs the field-line scanner over the lines in buf[st.line..end). */
static int parse_fields(wf_h1_parser_t *p, const char *buf, size_t end)
{
    for (;;) {
        const char *why = NULL;
        uint32_t line = p->st.line;
        if (end <= line)
            return WF_EAGAIN;
        int rc = wf__h1_line_scan(&p->st.fl, buf + line, end - line, &why);
        if (rc == WF_EAGAIN)
            return rc;
        if (rc < 0)
            return bad(p, why);
        if (rc == WF__H1_LINE_END)
            return finish(p, buf, line + 2);
        if ((rc = on_field(p, buf)) < 0)
            return rc;
        p->st.line = line + p->st.fl.pos;
        wf__h1_line_reset(&p->st.fl);
    }
}

static int parse(wf_h1_parser_t *p, const char *buf, size_t len)
{
    if (p->st.result != 0)
        return p->st.result;
    size_t max = WF_MIN(p->max_head, MAX_HEAD_CAP);
    size_t end = WF_MIN(len, max);
    int rc = 0;
    if (p->st.state != S_FIELDS)
        rc = parse_start_line(p, buf, end);
    if (rc == 0)
        rc = parse_fields(p, buf, end);
    /* Incomplete with max bytes in hand: the head is larger than allowed,
     * however the bytes arrived. */
    if (rc == WF_EAGAIN && len >= max)
        return fail(p, WF_ELIMIT, 431, "head too large");
    return rc;
}

int wf_h1_parse_request(wf_h1_parser_t *p, const char *buf, size_t len)
{
    if (p->st.is_response)
        return fail(p, WF_EINVAL, 500, "response parser used for a request");
    return parse(p, buf, len);
}

int wf_h1_parse_response(wf_h1_parser_t *p, const char *buf, size_t len)
{
    if (!p->st.is_response)
        return fail(p, WF_EINVAL, 500, "request parser used for a response");
    return parse(p, buf, len);
}
