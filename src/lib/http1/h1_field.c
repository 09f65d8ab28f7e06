/*
 * h1_field.c — the rules header and trailer sections share (RFC 9112 §5,
 * RFC 9110 §5): the character tables, the field-line scanner, field-name
 * recognition, and the public lookup helpers.
 */
#include "http1/h1_internal.h"

/*
 * Character classes, one byte per octet; bits are WF__H1_C_*. Generated
 * from the RFC grammars:
 *   TCHAR  = ALPHA / DIGIT / "!#$%&'*+-.^_`|~"                (RFC 9110 §5.6.2)
 *   FVCHAR = %x21-7E / %x80-FF                                 (RFC 9110 §5.5)
 *   TARGET = %x21-7E except "#": no fragment in a request-target, and
 *            no obs-text (it must be percent-encoded, RFC 3986 §2.1)
 *   HOST   = ALPHA / DIGIT / "-._~%!$&'()*+,;=:[]"            (RFC 3986 §3.2.2)
 *   QDTEXT = HTAB / SP / "!" / %x23-5B / %x5D-7E / obs-text    (RFC 9110 §5.6.4)
 */
const uint8_t wf__h1_ctype[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x00 */
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x08 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x10 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x18 */
    0x10, 0x1f, 0x06, 0x13, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x20 */
    0x1e, 0x1e, 0x1f, 0x1f, 0x1e, 0x1f, 0x1f, 0x16, /* 0x28 */
    0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x30 */
    0x1f, 0x1f, 0x1e, 0x1e, 0x16, 0x1e, 0x16, 0x16, /* 0x38 */
    0x16, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x40 */
    0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x48 */
    0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x50 */
    0x1f, 0x1f, 0x1f, 0x1e, 0x06, 0x1e, 0x17, 0x1f, /* 0x58 */
    0x17, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x60 */
    0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x68 */
    0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f, /* 0x70 */
    0x1f, 0x1f, 0x1f, 0x16, 0x17, 0x16, 0x1f, 0x00, /* 0x78 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0x80 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0x88 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0x90 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0x98 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xa0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xa8 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xb0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xb8 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xc0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xc8 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xd0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xd8 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xe0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xe8 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xf0 */
    0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, /* 0xf8 */
};

/* States of the field-line scanner. */
enum {
    L_START,  /* first byte: a name, or CR of the empty line */
    L_NAME,   /* field-name */
    L_OWS,    /* OWS after the colon */
    L_VALUE,  /* field-value (trailing OWS is excluded via value_end) */
    L_LF,     /* LF after the line's CR */
    L_END_LF, /* LF after the empty line's CR */
};

/*
 * field-line = field-name ":" OWS field-value OWS, ended by CRLF
 * (RFC 9112 §5). Each rule below is a 400 at a request edge:
 *  - a line starting with SP/HTAB is obs-fold (§5.2) or whitespace before
 *    the first field (§2.2): rejected, as §5.2 allows, rather than unfolded;
 *  - no whitespace between name and colon (§5.1: MUST reject);
 *  - the name is a non-empty token;
 *  - the value holds no CTL but HTAB, no DEL, no NUL (RFC 9110 §5.5);
 *  - lines end in CRLF. A bare LF is rejected although §2.2 lets a
 *    recipient accept it: a proxy that accepts what the next hop rejects
 *    (or the reverse) disagrees with it about where a message ends, which
 *    is how requests are smuggled. A bare CR is rejected (§2.2).
 */
int wf__h1_line_scan(wf__h1_line_t *l, const char *line, size_t avail, const char **err)
{
    size_t pos = l->pos;
    for (; pos < avail; pos++) {
        unsigned char c = (unsigned char)line[pos];
        switch (l->state) {
        case L_START:
            if (c == '\r') {
                l->state = L_END_LF;
                continue;
            }
            if (wf__h1_is(c, WF__H1_C_TCHAR)) {
                l->state = L_NAME;
                continue;
            }
            if (wf__h1_is_ws(c))
                *err = "obs-fold: field line starts with whitespace";
            else if (c == ':')
                *err = "empty field name";
            else if (c == '\n')
                *err = "bare LF line ending";
            else
                *err = "invalid character in field name";
            goto fail;
        case L_NAME:
            if (wf__h1_is(c, WF__H1_C_TCHAR))
                continue;
            if (c == ':') {
                l->name_len = (uint32_t)pos;
                l->state = L_OWS;
                continue;
            }
            if (wf__h1_is_ws(c))
                *err = "whitespace between field name and colon";
            else if (c == '\r' || c == '\n')
                *err = "field line without a colon";
            else
                *err = "invalid character in field name";
            goto fail;
        case L_OWS:
            if (wf__h1_is_ws(c))
                continue;
            if (c == '\r') {
                l->value_off = l->value_end = (uint32_t)pos;
                l->state = L_LF;
                continue;
            }
            if (wf__h1_is(c, WF__H1_C_FVCHAR)) {
                l->value_off = (uint32_t)pos;
                l->value_end = (uint32_t)pos + 1;
                l->state = L_VALUE;
                continue;
            }
            goto bad_value;
        case L_VALUE:
            if (wf__h1_is(c, WF__H1_C_FVCHAR)) {
                l->value_end = (uint32_t)pos + 1;
                continue;
            }
            if (wf__h1_is_ws(c))
                continue;
            if (c == '\r') {
                l->state = L_LF;
                continue;
            }
            goto bad_value;
        case L_LF:
        case L_END_LF:
            if (c != '\n') {
                *err = "bare CR in field line";
                goto fail;
            }
            l->pos = (uint32_t)pos + 1;
            return l->state == L_LF ? WF__H1_LINE_FIELD : WF__H1_LINE_END;
        }
    }
    l->pos = (uint32_t)pos;
    return WF_EAGAIN;

bad_value:
    *err = line[pos] == '\n' ? "bare LF line ending" : "control character in field value";
fail:
    l->pos = (uint32_t)pos;
    return WF_EPROTO;
}

static inline unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

bool wf__h1_eq_lc(const char *s, size_t len, const char *lc)
{
    size_t i = 0;
    for (; i < len; i++)
        if (lc[i] == '\0' || lower((unsigned char)s[i]) != (unsigned char)lc[i])
            return false;
    return lc[i] == '\0';
}

wf_h1_field_t wf__h1_field_id(const char *name, size_t len)
{
    /* Few enough names that a switch on the length finds the candidate. */
    switch (len) {
    case 2:
        return wf__h1_eq_lc(name, len, "te") ? WF_H1_F_TE : WF_H1_F_OTHER;
    case 4:
        return wf__h1_eq_lc(name, len, "host") ? WF_H1_F_HOST : WF_H1_F_OTHER;
    case 6:
        return wf__h1_eq_lc(name, len, "expect") ? WF_H1_F_EXPECT : WF_H1_F_OTHER;
    case 7:
        if (wf__h1_eq_lc(name, len, "upgrade"))
            return WF_H1_F_UPGRADE;
        return wf__h1_eq_lc(name, len, "trailer") ? WF_H1_F_TRAILER : WF_H1_F_OTHER;
    case 8:
        return wf__h1_eq_lc(name, len, "trailers") ? WF_H1_F_TRAILER : WF_H1_F_OTHER;
    case 10:
        if (wf__h1_eq_lc(name, len, "connection"))
            return WF_H1_F_CONNECTION;
        return wf__h1_eq_lc(name, len, "keep-alive") ? WF_H1_F_KEEP_ALIVE : WF_H1_F_OTHER;
    case 14:
        if (wf__h1_eq_lc(name, len, "content-length"))
            return WF_H1_F_CONTENT_LENGTH;
        return WF_H1_F_OTHER;
    case 16:
        if (wf__h1_eq_lc(name, len, "proxy-connection"))
            return WF_H1_F_PROXY_CONNECTION;
        return WF_H1_F_OTHER;
    case 17:
        if (wf__h1_eq_lc(name, len, "transfer-encoding"))
            return WF_H1_F_TRANSFER_ENCODING;
        return WF_H1_F_OTHER;
    }
    return WF_H1_F_OTHER;
}

bool wf__h1_field_is_hop(wf_h1_field_t id)
{
    switch (id) {
    case WF_H1_F_CONNECTION:
    case WF_H1_F_KEEP_ALIVE:
    case WF_H1_F_PROXY_CONNECTION:
    case WF_H1_F_TE:
    case WF_H1_F_TRAILER:
    case WF_H1_F_TRANSFER_ENCODING:
    case WF_H1_F_UPGRADE:
        return true;
    default:
        return false;
    }
}

bool wf__h1_list_next(const char *v, size_t len, size_t *pos, wf_str_t *elem)
{
    size_t i = *pos;
    if (i > len)
        return false;
    const char *comma = i < len ? memchr(v + i, ',', len - i) : NULL;
    size_t end = comma ? (size_t)(comma - v) : len;
    *pos = end + 1;
    while (i < end && wf__h1_is_ws((unsigned char)v[i]))
        i++;
    while (end > i && wf__h1_is_ws((unsigned char)v[end - 1]))
        end--;
    *elem = (wf_str_t){v + i, end - i};
    return true;
}

bool wf__h1_is_token(wf_str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!wf__h1_is((unsigned char)s.ptr[i], WF__H1_C_TCHAR))
            return false;
    return true;
}

const wf_h1_header_t *wf_h1_find_header(const wf_h1_msg_t *msg, wf_str_t name,
                                        const wf_h1_header_t *prev)
{
    uint32_t i = prev ? (uint32_t)(prev - msg->headers) + 1 : 0;
    for (; i < msg->nheaders; i++)
        if (wf_str_eq_nocase(msg->headers[i].name, name))
            return &msg->headers[i];
    return NULL;
}

bool wf_h1_has_token(wf_str_t list, wf_str_t token)
{
    size_t pos = 0;
    wf_str_t e;
    if (list.len == 0)
        return false;
    while (wf__h1_list_next(list.ptr, list.len, &pos, &e)) {
        /* An element's parameters (";q=1") are not part of its token. */
        const char *semi = e.len ? memchr(e.ptr, ';', e.len) : NULL;
        if (semi != NULL) {
            e.len = (size_t)(semi - e.ptr);
            while (e.len > 0 && wf__h1_is_ws((unsigned char)e.ptr[e.len - 1]))
                e.len--;
        }
        if (wf_str_eq_nocase(e, token))
            return true;
    }
    return false;
}
