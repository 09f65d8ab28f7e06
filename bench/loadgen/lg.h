/*
 * lg.h — the loadgen's internal types: the run (one load test), its
 * connections, and the small vtable each protocol (HTTP/1.1, HTTP/2, gRPC)
 * implements.
 *
 * Threading: the loadgen is one thread with one epoll loop; a run and all
 * its connections belong to that thread.
 *
 * Names: `lg_` is the loadgen's prefix. The bench tools do not link
 * libweft, so they can measure any proxy, old or new weft included.
 *
 * Request life: the run's schedule makes request j due at t_j and hands it
 * to its connection (ops->submit); the protocol writes it when it can and
 * reports its end through lg_run_complete() with the intended time t_j, so
 * latency = completion time - t_j, whatever made it late.
 */
#ifndef LG_LG_H
#define LG_LG_H

#include "hist.h"
#include "sched.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef enum lg_proto {
    LG_PROTO_H1,   /* HTTP/1.1 keep-alive, one request at a time per connection */
    LG_PROTO_H2,   /* HTTP/2 over cleartext, prior knowledge (RFC 9113 §3.3) */
    LG_PROTO_GRPC, /* gRPC unary over h2c */
} lg_proto_t;

typedef enum lg_outcome {
    LG_OK,
    LG_ERR_STATUS,  /* non-2xx HTTP status, or grpc-status != 0 */
    LG_ERR_PROTO,   /* malformed or wrong-sized response, stream reset */
    LG_ERR_IO,      /* the connection failed while the request was out */
    LG_ERR_TIMEOUT, /* still outstanding at the drain deadline */
    LG_ERR_BACKLOG, /* could not even be queued (far behind schedule) */
    LG_NOUTCOMES
} lg_outcome_t;

#define LG_MAX_PROCS 8
#define LG_MAX_TAGS 16

/* A process whose CPU and memory the run samples over its window. */
typedef struct lg_proc {
    const char *name; /* borrowed (argv) */
    pid_t pid;
} lg_proc_t;

/* Everything the command line decides. Read-only during a run. */
typedef struct lg_config {
    struct sockaddr_storage addr; /* where to connect */
    socklen_t addrlen;
    const char *target;    /* borrowed: "host:port" as given */
    const char *authority; /* borrowed: Host / :authority */
    const char *path;      /* borrowed: request path */
    lg_proto_t proto;
    double rate; /* requests/s, all connections together */
    uint32_t conns;
    uint32_t depth;   /* HTTP/1.1: requests in flight per connection */
    size_t body;      /* request payload bytes */
    long long expect; /* response payload bytes to insist on; -1: any */
    double warmup_s, duration_s, drain_s;
    int cpu;               /* pin to this CPU; -1: no pinning */
    uint64_t spin_ns;      /* poll, not sleep, this close to a due time */
    const char *hist_path; /* borrowed: where to write the .hgrm dump, or NULL */
    lg_proc_t procs[LG_MAX_PROCS];
    int nprocs;
    const char *tags[LG_MAX_TAGS]; /* borrowed: "key=value" echoed in RESULT */
    int ntags;
    bool quiet; /* only the RESULT line */
} lg_config_t;

typedef struct lg_conn lg_conn_t;
typedef struct lg_run lg_run_t;
typedef struct lg_h1c lg_h1c_t; /* client_h1.c */
typedef struct lg_h2c lg_h2c_t; /* client_h2.c */

/*
 * What a protocol does on a connection. Every function is called on the
 * loop thread. Returns are 0 or -1 (a protocol failure: the connection is
 * dropped and its written requests fail with LG_ERR_PROTO).
 */
typedef struct lg_proto_ops {
    const char *name;
    /* A new (or re-opened) connection is starting: set up fresh state. */
    int (*init)(lg_conn_t *c);
    /* Request due at `due` (ns) joins this connection. */
    int (*submit)(lg_conn_t *c, uint64_t due);
    /* Bytes from the server. Returns 0, -1, or 1 when the server asked to
     * close (HTTP/1.1 "Connection: close") and nothing is left in flight. */
    int (*input)(lg_conn_t *c, const char *p, size_t n);
    /* Append whatever is ready to send to c->out. Returns 0, -1, or 1 when
     * the connection is done (HTTP/2 drained after GOAWAY) and should be
     * reopened at once. */
    int (*output)(lg_conn_t *c);
    /* The connection is gone: complete every request already written with
     * `why`; requests never written stay queued for the next connection
     * unless `all` (then they complete with `why` too). */
    void (*fail)(lg_conn_t *c, lg_outcome_t why, bool all);
    /* Free everything (end of run). */
    void (*destroy)(lg_conn_t *c);
} lg_proto_ops_t;

typedef enum lg_conn_state {
    LG_CONN_CLOSED,     /* no socket; reopened at reopen_at */
    LG_CONN_CONNECTING, /* non-blocking connect in progress */
    LG_CONN_OPEN,
} lg_conn_state_t;

struct lg_conn {
    lg_run_t *run;             /* borrowed: owner */
    const lg_proto_ops_t *ops; /* borrowed: static table */
    uint32_t idx;
    int fd; /* owned; -1 when closed */
    lg_conn_state_t state;
    bool want_out;         /* EPOLLOUT is armed */
    bool dirty;            /* has output to produce; on run->dirty list */
    lg_conn_t *next_dirty; /* borrowed: run's dirty list */
    uint64_t reopen_at;    /* ns; when CLOSED */
    char *out;             /* owned: bytes to write, [out_off, out_len) */
    size_t out_off, out_len, out_cap;
    union {
        lg_h1c_t *h1; /* owned, for LG_PROTO_H1 */
        lg_h2c_t *h2; /* owned, for LG_PROTO_H2 / LG_PROTO_GRPC */
    } p;
};

typedef struct lg_stats {
    uint64_t submitted;               /* requests scheduled (whole run) */
    uint64_t completed[LG_NOUTCOMES]; /* by outcome (whole run) */
    uint64_t ok_in_window;            /* successes completing inside the window */
    uint64_t connects, reconnects, conn_failures;
} lg_stats_t;

struct lg_run {
    const lg_config_t *cfg; /* borrowed */
    int ep;                 /* owned epoll fd */
    uint64_t now;           /* ns, latest CLOCK_MONOTONIC reading */
    lg_sched_t sched;
    uint64_t t_win, t_end, t_deadline; /* window [t_win, t_end); drain until t_deadline */
    uint64_t outstanding;              /* submitted, not yet completed */
    lg_stats_t st;
    lg_hist_t hist;   /* latency (ns) of successes due inside the window */
    lg_hist_t lag;    /* how late the loop handed requests due inside the
                       * window to their connection (ns): the loadgen's own
                       * scheduling delay, already part of `hist` */
    lg_conn_t *conns; /* owned array of cfg->conns */
    lg_conn_t *dirty; /* borrowed: connections with output to produce */
    /* The request, prebuilt once (owned): the whole HTTP/1.1 request, or
     * the HTTP/2 body (the framed gRPC message for gRPC). */
    char *req;
    size_t req_len;
    char clen[24];         /* req_len as decimal (HTTP/2 content-length) */
    long long resp_expect; /* expected response payload bytes; -1: any */
};

/* Called by protocols when a request ends. Uses run->now as its end. */
void lg_run_complete(lg_run_t *r, uint64_t due, lg_outcome_t o);

/* Marks c as having output to produce before the loop sleeps. */
void lg_conn_mark_dirty(lg_conn_t *c);

/* Appends bytes to c->out. Returns 0 or -1 (out of memory). */
int lg_conn_append(lg_conn_t *c, const void *p, size_t n);

/* Reads CLOCK_MONOTONIC in ns. */
uint64_t lg_now_ns(void);

extern const lg_proto_ops_t lg_h1_ops;
extern const lg_proto_ops_t lg_h2_ops; /* plain HTTP/2 and gRPC */

#endif
