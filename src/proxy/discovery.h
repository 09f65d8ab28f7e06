/*
 * discovery.h — the outbound proxy's view of where a destination's
 * endpoints are and who they are: Destination.Get streams to the
 * destination service, one per original destination (ip:port) in use,
 * cached and shared by every worker.
 *
 * A lookup never blocks: the first one for a target starts a stream and
 * answers WF_DST_PENDING; the discovery thread wakes the asking worker's
 * loop when the first answer arrives. Streams stay open while a target is
 * used (idle ones close after a minute) and are re-opened with backoff when
 * the service goes away; meanwhile the last answer keeps being served
 * (stale-while-disconnected: a control-plane outage never breaks traffic to
 * already-resolved destinations).
 *
 * A target that gets no answer within 3 s (Linkerd's outbound failfast),
 * or is first asked for once the service has been unreachable for that
 * long, is WF_DST_UNAVAILABLE:
 * the request fails (503) rather than going out unverified, in plaintext,
 * to what may be a meshed pod. A reconnect comes within 2 s (jittered
 * backoff) of the service's return, and each stream's first answer then
 * replaces what was cached, so changes made during the outage arrive.
 *
 * The answers' users: balancing (conn.c picks two endpoints, balance.c
 * the better), mTLS tunnels per connection for opaque traffic and HTTP/2
 * per request between proxies (h2_client.c).
 *
 * Threads: one discovery thread; workers call wf_discovery_pick from
 * theirs (a mutex guards the cache; a pick copies what it needs).
 */
#ifndef WF_PROXY_DISCOVERY_H
#define WF_PROXY_DISCOVERY_H

#include "config.h"
#include "core/loop.h"
#include "tls/tls_io.h"

typedef struct wf_discovery wf_discovery_t;
struct wf_identity;

typedef enum wf_dst_result {
    WF_DST_PENDING,      /* asked; the worker's loop is woken on the answer */
    WF_DST_FORWARD,      /* not a meshed destination (or no answer): original destination */
    WF_DST_MESHED,       /* *pick names a meshed endpoint */
    WF_DST_NO_ENDPOINTS, /* a Service without ready endpoints: fail fast */
    WF_DST_UNAVAILABLE,  /* never resolved, and the destination service is away: fail */
} wf_dst_result_t;

/* Longest rendered dst_* label list of one endpoint (dst_pod="...",
 * dst_deployment="...", ...; each value at most 63 bytes). */
#define WF_DST_EP_LABELS_MAX 512

typedef struct wf_dst_pick {
    wf_addr_t addr;      /* where to connect: the endpoint's proxy inbound port */
    uint16_t app_port;   /* the endpoint's application port (transport header) */
    bool opaque;         /* skip detection on the far side */
    char identity[WF_TLS_ID_MAX + 1];
    char labels[WF_DST_EP_LABELS_MAX]; /* the endpoint's own dst_* labels, rendered */
} wf_dst_pick_t;

/* NULL *out (and 0) when WEFT_PROXY_DESTINATION_SVC_ADDR is unset. */
int wf_discovery_new(wf_discovery_t **out, const wf_proxy_config_t *cfg, char *err, size_t errlen);
/* loops[i] is worker i's loop (woken when an answer it waits for comes).
 * With identity (not NULL) and WEFT_PROXY_DESTINATION_SVC_NAME set, the
 * service is reached over mTLS and must prove that name; else plaintext. */
int wf_discovery_start(wf_discovery_t *d, wf_loop_t **loops, uint32_t nloops,
                       struct wf_identity *identity);
void wf_discovery_free(wf_discovery_t *d);

/* Longest rendered dst_* label list of a destination. */
#define WF_DST_LABELS_MAX 192

/* The destination's dst_* metric labels (dst_namespace="...",
 * dst_service="..."), rendered into out; 0 when none are known. */
size_t wf_discovery_labels(wf_discovery_t *d, wf_str_t path, char *out, size_t outlen);

/* Longest destination path asked for ("name.ns.svc.cluster.local:port"). */
#define WF_DST_PATH_MAX 255

/* Any worker thread. By original destination (ip:port)... */
wf_dst_result_t wf_discovery_pick(wf_discovery_t *d, const wf_addr_t *target, uint32_t worker,
                                  wf_dst_pick_t *pick);
/* ...or by name, as ingress mode's l5d-dst-override gives it. */
/* With second non-NULL, also a second (different when there is one)
 * meshed endpoint, for the balancer's power of two choices. */
wf_dst_result_t wf_discovery_pick2(wf_discovery_t *d, wf_str_t path, uint32_t worker,
                                   wf_dst_pick_t *pick, wf_dst_pick_t *second);

#endif
