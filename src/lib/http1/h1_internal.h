/*
 * h1_internal.h — what the http1 files share and nobody else should use:
 * character classes, the field-line scanner (header and trailer sections
 * obey the same rules), field-name recognition and list iteration.
 */
#ifndef WF_HTTP1_H1_INTERNAL_H
#define WF_HTTP1_H1_INTERNAL_H

#include "http1/h1.h"

/* Character classes (RFC 9110 §5.6.2, §5.5, RFC 3986 §3.2.2). */
#define WF__H1_C_TCHAR 0x01u  /* token character */
#define WF__H1_C_FVCHAR 0x02u /* field-vchar: VCHAR / obs-text */
#define WF__H1_C_TARGET 0x04u /* allowed in a request-target (see h1_head.c) */
#define WF__H1_C_HOST 0x08u   /* allowed in a Host value: authority minus userinfo */
#define WF__H1_C_QDTEXT 0x10u /* qdtext of a quoted-string */

extern const uint8_t wf__h1_ctype[256];

static inline bool wf__h1_is(unsigned char c, unsigned cls)
{
    return (wf__h1_ctype[c] & cls) != 0;
}

static inline bool wf__h1_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Results of wf__h1_line_scan() besides WF_EAGAIN and WF_EPROTO. */
enum {
    WF__H1_LINE_FIELD = 1, /* a complete field line of l->pos bytes */
    WF__H1_LINE_END,       /* the empty line ending the section (2 bytes) */
};

/* Resets `l` for the next line. */
static inline void wf__h1_line_reset(wf__h1_line_t *l)
{
    *l = (wf__h1_line_t){0};
}

/*
 * Scans one field line (RFC 9112 §5) starting at line[0], of which avail
 * bytes are present, resuming at l->pos. Returns WF__H1_LINE_FIELD (name
 * and value offsets in l), WF__H1_LINE_END, WF_EAGAIN (all avail bytes
 * scanned), or WF_EPROTO with *err set to a static description.
 */
int wf__h1_line_scan(wf__h1_line_t *l, const char *line, size_t avail, const char **err);

/* Recognises a field name (case-insensitive); WF_H1_F_OTHER if unknown. */
wf_h1_field_t wf__h1_field_id(const char *name, size_t len);

/* True for the fields RFC 9110 §7.6.1 makes hop-by-hop by name. */
bool wf__h1_field_is_hop(wf_h1_field_t id);

/* Case-insensitive equality of s[0..len) with the lower-case literal `lc`. */
bool wf__h1_eq_lc(const char *s, size_t len, const char *lc);

/*
 * Iterates the elements of a comma-separated list v[0..len) (RFC 9110
 * §5.6.1): start with *pos = 0; each call stores the next element, OWS
 * trimmed and possibly empty, in *elem and returns true, false at the end.
 */
bool wf__h1_list_next(const char *v, size_t len, size_t *pos, wf_str_t *elem);

/* True if s is a non-empty token. */
bool wf__h1_is_token(wf_str_t s);

#endif
