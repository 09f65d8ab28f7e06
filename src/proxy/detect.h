/*
 * detect.h — protocol detection: a table of probes run over the first
 * bytes a client sends (linkerd2-proxy's http/detect). Each probe says
 * MATCH, NO_MATCH or NEED_MORE for the bytes so far; detection ends at the
 * first MATCH, when every probe says NO_MATCH (opaque), or — decided by
 * the caller — at the byte cap or the timeout (opaque).
 *
 * Pure: no I/O, no state beyond the bytes given.
 */
#ifndef WF_PROXY_DETECT_H
#define WF_PROXY_DETECT_H

#include "core/common.h"

/* Detection never looks past this many bytes. */
#define WF_DETECT_MAX_BYTES 1024

typedef enum wf_proto {
    WF_PROTO_UNKNOWN = 0, /* undecided yet */
    WF_PROTO_OPAQUE,      /* none matched: relay bytes */
    WF_PROTO_HTTP1,
    WF_PROTO_HTTP2,       /* client connection preface (RFC 9113 §3.4) */
    WF_PROTO_TLS,         /* a TLS ClientHello record (RFC 8446 §5.1, §4.1.2) */
} wf_proto_t;

typedef enum wf_probe_result {
    WF_PROBE_NO_MATCH,
    WF_PROBE_MATCH,
    WF_PROBE_NEED_MORE,
} wf_probe_result_t;

typedef struct wf_probe {
    const char *name;
    wf_proto_t proto;
    size_t min_bytes; /* fewer bytes can only give NEED_MORE or NO_MATCH */
    wf_probe_result_t (*match)(const uint8_t *p, size_t len);
} wf_probe_t;

/* The probes, in the order they are tried. */
extern const wf_probe_t wf_probes[];
extern const size_t wf_nprobes;

/*
 * Runs the probes over the first len bytes (len is capped at
 * WF_DETECT_MAX_BYTES). Returns the matched protocol, WF_PROTO_OPAQUE when
 * none can match, or WF_PROTO_UNKNOWN when more bytes are needed — which
 * the caller turns into OPAQUE at the cap, on EOF, or on timeout.
 */
wf_proto_t wf_detect(const uint8_t *p, size_t len);

const char *wf_proto_name(wf_proto_t proto);

#endif
