/*
 * h1.h — a small, pure, resumable HTTP/1.1 message reader for the bench
 * client (responses) and the bench backend (requests).
 *
 * It frames messages; it is not a validating parser. The head is collected
 * up to LG_H1_HEAD_MAX bytes and then read for the start line and the three
 * headers that frame a message (Content-Length, Transfer-Encoding: chunked,
 * Connection: close; RFC 9112 §6). The body is counted, never copied: a
 * 16 KiB body costs no memcpy.
 *
 * Usage: lg_h1_msg_init(), then feed bytes with lg_h1_feed() until it
 * reports LG_H1_DONE; the bytes after the message (pipelining) are left to
 * the caller, who re-inits the message and feeds them again.
 */
#ifndef LG_H1_H
#define LG_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_H1_HEAD_MAX 8192

typedef enum lg_h1_state {
    LG_H1_S_HEAD,       /* collecting the head up to CRLF CRLF */
    LG_H1_S_BODY,       /* counting Content-Length bytes */
    LG_H1_S_CHUNK_SIZE, /* hex digits of a chunk size */
    LG_H1_S_CHUNK_EXT,  /* chunk extension, up to LF */
    LG_H1_S_CHUNK_DATA, /* chunk payload */
    LG_H1_S_CHUNK_CR,   /* CR after the payload */
    LG_H1_S_CHUNK_LF,   /* LF after the payload */
    LG_H1_S_TRAILER,    /* trailer lines after the last chunk */
    LG_H1_S_DONE,
} lg_h1_state_t;

typedef struct lg_h1_msg {
    bool is_request; /* request (backend) or response (client) */
    lg_h1_state_t state;
    char head[LG_H1_HEAD_MAX]; /* the head, while collecting */
    size_t head_len;
    int status;           /* responses: status code */
    bool is_post;         /* requests: method is not GET/HEAD */
    bool conn_close;      /* "Connection: close" was present */
    uint64_t remaining;   /* body or chunk bytes still to come */
    uint64_t body_len;    /* body bytes seen so far (chunk payloads only) */
    bool chunk_size_seen; /* at least one hex digit in this size line */
    size_t line_len;      /* length of the current trailer line */
    const char *error;    /* static description once lg_h1_feed fails */
} lg_h1_msg_t;

enum {
    LG_H1_AGAIN = 0, /* consumed everything, message not complete */
    LG_H1_DONE = 1,  /* message complete; *used says how far */
    LG_H1_ERROR = -1 /* malformed; msg->error says why */
};

void lg_h1_msg_init(lg_h1_msg_t *m, bool is_request);

/* Consumes bytes of one message from p[0..len). Sets *used to the bytes
 * consumed and returns LG_H1_AGAIN, LG_H1_DONE or LG_H1_ERROR. */
int lg_h1_feed(lg_h1_msg_t *m, const char *p, size_t len, size_t *used);

/*
 * Writes a request into buf (cap bytes): GET when body_len is 0, else a
 * POST with Content-Length and body_len bytes of filler. Returns the length,
 * or 0 if it does not fit.
 */
size_t lg_h1_build_request(char *buf, size_t cap, const char *authority, const char *path,
                           size_t body_len);

#endif
