/*
 * h1.h — HTTP/1.1 message parsing (RFC 9112, RFC 9110): request and
 * response heads with their framing and connection semantics, a streaming
 * chunked-body decoder, and two lookup helpers.
 *
 * Pure code: no I/O, no allocation, no globals. Every wf_str_t it returns is
 * a borrowed view into the caller's buffer. A parser or decoder belongs to
 * one connection and so to that connection's loop thread; it is not
 * thread-safe.
 *
 * The parsers sit where hostile clients reach them, so they are strict:
 * anything two HTTP implementations could frame differently (request
 * smuggling) is an error, never a guess. The rules and the choices made
 * where RFC 9112 leaves one open are listed in h1_head.c and h1_chunked.c.
 *
 * Errors: a failed call returns WF_EPROTO (malformed message) or WF_ELIMIT
 * (a configured limit) and leaves in the parser a static description (`err`)
 * and the status the proxy should answer (`status`): 400, 414, 431, 501 or
 * 505 for requests; always 502 for responses (RFC 9110 §15.6.3: the proxy
 * got an invalid response from upstream). Once failed, or once complete, a
 * parser returns the same result again until it is re-initialised.
 */
#ifndef WF_HTTP1_H1_H
#define WF_HTTP1_H1_H

#include "core/common.h"

/* Defaults the init functions install; callers may change the limits after
 * init and before the first parse call. */
#define WF_H1_DEFAULT_MAX_HEADERS 100      /* header fields per head */
#define WF_H1_DEFAULT_MAX_HEAD (60 * 1024) /* bytes of start-line + fields */
#define WF_H1_DEFAULT_MAX_TARGET 8192      /* bytes of request-target */
#define WF_H1_MAX_CONN_OPTIONS 16          /* Connection options naming fields */

/* Request methods the semantics depend on; others are WF_H1_M_OTHER and are
 * forwarded as they are (RFC 9110 §9.1: methods are case-sensitive). */
typedef enum wf_h1_method {
    WF_H1_M_OTHER,
    WF_H1_M_GET,
    WF_H1_M_HEAD,
    WF_H1_M_POST,
    WF_H1_M_PUT,
    WF_H1_M_DELETE,
    WF_H1_M_CONNECT,
    WF_H1_M_OPTIONS,
    WF_H1_M_TRACE,
    WF_H1_M_PATCH,
} wf_h1_method_t;

/* Field names the parser recognises (case-insensitively). */
typedef enum wf_h1_field {
    WF_H1_F_OTHER,
    WF_H1_F_HOST,
    WF_H1_F_CONTENT_LENGTH,
    WF_H1_F_TRANSFER_ENCODING,
    WF_H1_F_CONNECTION,
    WF_H1_F_KEEP_ALIVE,
    WF_H1_F_PROXY_CONNECTION,
    WF_H1_F_TE,
    WF_H1_F_TRAILER, /* also the legacy misspelling "Trailers" (RFC 2616 §13.5.1) */
    WF_H1_F_UPGRADE,
    WF_H1_F_EXPECT,
} wf_h1_field_t;

/* Per-header flags. */
#define WF_H1_HF_HOP 0x1u /* hop-by-hop (RFC 9110 §7.6.1): drop when forwarding */
#define WF_H1_HF_DUP 0x2u /* repeats an identical earlier Content-Length: forward one */

typedef struct wf_h1_header {
    wf_str_t name;    /* borrowed: view into the parsed buffer */
    wf_str_t value;   /* borrowed; leading and trailing OWS removed; may be empty */
    uint16_t id;      /* wf_h1_field_t */
    uint16_t flags;   /* WF_H1_HF_* */
    uint32_t off_[2]; /* private: name and value offsets while parsing */
} wf_h1_header_t;

/* How the message body is delimited (RFC 9112 §6.3). */
typedef enum wf_h1_body {
    WF_H1_BODY_NONE,        /* no body follows the head */
    WF_H1_BODY_LENGTH,      /* exactly content_length bytes (may be 0) */
    WF_H1_BODY_CHUNKED,     /* chunked coding: use wf_h1_chunked_next() */
    WF_H1_BODY_UNTIL_CLOSE, /* response only: the body ends when upstream closes */
} wf_h1_body_t;

/* Message flags: the head's connection semantics, derived while parsing. */
#define WF_H1_MF_CLOSE 0x01u    /* the connection closes after this message */
#define WF_H1_MF_HOST 0x02u     /* request has a Host field (msg.host, maybe empty) */
#define WF_H1_MF_UPGRADE 0x04u  /* HTTP/1.1 Upgrade field with "upgrade" in Connection */
#define WF_H1_MF_CONTINUE 0x08u /* HTTP/1.1 request with Expect: 100-continue */
#define WF_H1_MF_TUNNEL 0x10u   /* response 101, or 2xx to CONNECT: raw bytes follow */

/* A parsed head. Views are valid while the parsed buffer is. */
typedef struct wf_h1_msg {
    wf_str_t method;         /* request: borrowed */
    wf_str_t target;         /* request: borrowed request-target, as sent */
    wf_str_t reason;         /* response: borrowed reason-phrase, may be empty */
    wf_str_t host;           /* request: Host value, ptr NULL if absent; with an
                                absolute-form target the target's authority wins
                                and a proxy rewrites Host from it (§3.2.2) */
    wf_h1_header_t *headers; /* borrowed: the caller's array given to init */
    uint32_t nheaders;       /* entries of headers[] filled, in received order */
    uint32_t flags;          /* WF_H1_MF_* */
    int64_t content_length;  /* Content-Length value, -1 if absent */
    uint16_t status;         /* response: 100..599 */
    uint8_t method_id;       /* request: wf_h1_method_t */
    uint8_t minor;           /* HTTP/1.minor: 0 or 1 */
    uint8_t body;            /* wf_h1_body_t */
} wf_h1_msg_t;

/* Private: progress through one field line, shared by heads and trailers. */
typedef struct wf__h1_line {
    uint8_t state;      /* position in the field-line grammar */
    uint32_t pos;       /* bytes of the line scanned so far */
    uint32_t name_len;  /* field name is line[0..name_len) */
    uint32_t value_off; /* field value is line[value_off..value_end) */
    uint32_t value_end;
} wf__h1_line_t;

/*
 * Head parser state: caller-allocated, one per message. The `st` part is
 * private resume state.
 */
typedef struct wf_h1_parser {
    wf_h1_msg_t msg;      /* the result, valid after a return > 0 */
    const char *err;      /* static description of the failure, or NULL */
    uint16_t status;      /* HTTP status to answer on failure, 0 otherwise */
    uint32_t max_head;    /* limit on head bytes (431); at most 1 GiB */
    uint32_t max_target;  /* limit on request-target bytes (414) */
    uint32_t max_headers; /* entries of msg.headers (431): never above the array */
    struct {
        int result;          /* final return value once complete or failed; 0 before */
        uint8_t state;       /* position in the start-line grammar, or fields */
        uint8_t is_response; /* set by wf_h1_response_init() */
        uint8_t req_method;  /* response: the request's wf_h1_method_t */
        uint8_t seen;        /* semantic facts gathered from fields so far */
        uint8_t nconn;       /* used entries of conn[] */
        uint8_t nhost;       /* Host fields seen */
        uint32_t pos;        /* start-line: next byte to scan */
        uint32_t start[4];   /* start-line element offsets */
        uint32_t line;       /* fields: offset of the current line */
        wf__h1_line_t fl;    /* fields: progress through the current line */
        uint32_t host_off, host_len;
        uint32_t cl_hdr; /* index of the first Content-Length header */
        struct {
            uint32_t off, len;
        } conn[WF_H1_MAX_CONN_OPTIONS]; /* Connection options naming fields */
    } st;
} wf_h1_parser_t;

/*
 * Prepares `p` to parse one request head. `headers` (borrowed, at least
 * max_headers entries) receives the fields; max_headers is also the field
 * limit (431 beyond it). Installs the default limits.
 */
void wf_h1_request_init(wf_h1_parser_t *p, wf_h1_header_t *headers, uint32_t max_headers);

/*
 * As wf_h1_request_init, for the response to a request with method
 * `req_method` (HEAD and CONNECT change the response's framing, §6.3).
 * A 1xx response is interim: parse the next head with a fresh init.
 */
void wf_h1_response_init(wf_h1_parser_t *p, wf_h1_header_t *headers, uint32_t max_headers,
                         wf_h1_method_t req_method);

/*
 * Parses the head at the start of buf[0..len). Returns the head's length in
 * bytes (> 0; the body or the next pipelined message starts there) with
 * p->msg filled; WF_EAGAIN if the head is incomplete; or WF_EPROTO /
 * WF_ELIMIT with p->err and p->status set. After WF_EAGAIN, call again with
 * the same bytes plus more (the buffer may have moved): scanning resumes
 * where it stopped, so a head costs O(its length) however it arrives. The
 * views in p->msg point into the buf of the final call.
 */
int wf_h1_parse_request(wf_h1_parser_t *p, const char *buf, size_t len);
int wf_h1_parse_response(wf_h1_parser_t *p, const char *buf, size_t len);

/* Chunked body decoder (RFC 9112 §7.1); caller-allocated, one per body. */
typedef struct wf_h1_chunked {
    const char *err;       /* static description of the failure, or NULL */
    uint16_t status;       /* HTTP status to answer on failure (400/431, or 502) */
    uint32_t max_ext;      /* limit on chunk-extension bytes per chunk line */
    uint32_t max_trailer;  /* limit on trailer-section bytes */
    uint32_t max_trailers; /* limit on trailer fields */
    uint64_t data_bytes;   /* chunk data decoded so far */
    struct {
        int result;    /* final return value once ended or failed; 0 before */
        uint8_t state; /* position in the chunked-body grammar */
        uint8_t is_response;
        uint8_t ndigits;        /* chunk-size digits so far */
        uint32_t ext;           /* chunk-extension bytes in this chunk line */
        uint64_t left;          /* data bytes left in the current chunk */
        uint32_t trailer_bytes; /* trailer bytes consumed */
        uint32_t ntrailers;     /* trailer fields consumed */
        wf__h1_line_t fl;       /* progress through the current trailer line */
    } st;
} wf_h1_chunked_t;

/* Events of wf_h1_chunked_next(). */
enum {
    WF_H1_CHUNK_DATA = 1, /* ev.data holds chunk data */
    WF_H1_CHUNK_TRAILER,  /* ev.name / ev.value hold one trailer field */
    WF_H1_CHUNK_END,      /* the body, trailers included, is complete */
};

typedef struct wf_h1_chunk_ev {
    size_t consumed; /* bytes of buf this call consumed: all belong to the body */
    wf_str_t data;   /* DATA: borrowed view inside the consumed bytes */
    wf_str_t name;   /* TRAILER: borrowed views inside the consumed bytes */
    wf_str_t value;
} wf_h1_chunk_ev_t;

/* Prepares `c` for one chunked body; `response` picks the error status (502
 * rather than 400/431). Installs default limits (1 KiB of extensions per
 * chunk, 8 KiB and 32 fields of trailers). */
void wf_h1_chunked_init(wf_h1_chunked_t *c, bool response);

/*
 * Decodes the next piece of a chunked body from buf[0..len), where buf
 * starts at the first byte not consumed yet. Returns an event (ev->consumed
 * bytes consumed, ending with its data or trailer), or WF_EAGAIN when all
 * usable input is consumed (ev->consumed may be > 0), or WF_EPROTO /
 * WF_ELIMIT with c->err and c->status set (and ev->consumed 0: a broken
 * body is not forwarded further). The bytes consumed by all calls
 * are exactly the body on the wire, so a proxy passing it through forwards
 * them unchanged; after END the rest of buf is the next message.
 *
 * A trailer field is consumed only whole: on WF_EAGAIN, bytes of buf past
 * ev->consumed are a partial trailer line that must be passed again
 * (followed by more input); they are not rescanned. Trailers are handed
 * out as they complete but stand only once END arrives: a later error
 * (say, an obs-fold continuing the last one) voids the whole body.
 */
int wf_h1_chunked_next(wf_h1_chunked_t *c, const char *buf, size_t len, wf_h1_chunk_ev_t *ev);

/*
 * Returns the first header in msg named `name` (case-insensitive) after
 * `prev` (NULL: from the start), or NULL. Loop with prev to see repeats.
 */
const wf_h1_header_t *wf_h1_find_header(const wf_h1_msg_t *msg, wf_str_t name,
                                        const wf_h1_header_t *prev);

/*
 * True if the comma-separated list `list` (a field value, RFC 9110 §5.6.1)
 * has an element equal to `token`, case-insensitively, ignoring OWS and any
 * ";parameters" of the element. E.g. ("keep-alive, Upgrade", "upgrade").
 */
bool wf_h1_has_token(wf_str_t list, wf_str_t token);

#endif
