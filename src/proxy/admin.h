/*
 * admin.h — the proxy's admin server (default 0.0.0.0:4191) on its own
 * thread and loop, so a scrape never competes with the data path for a
 * worker's loop: /metrics, /ready, /live, /env.json, /proxy-log-level
 * (GET; PUT from localhost), /shutdown (POST from localhost, only when
 * WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true).
 */
#ifndef WF_PROXY_ADMIN_H
#define WF_PROXY_ADMIN_H

#include "proxy.h"

typedef struct wf_admin wf_admin_t;

/* Binds the admin listener (errors are reported at start). */
int wf_admin_init(wf_admin_t **out, wf_proxy_t *proxy);
int wf_admin_start(wf_admin_t *a);
/* Stops the thread and frees everything. */
void wf_admin_stop(wf_admin_t *a);

/* The metrics exposition the admin serves (also for tests). */
void wf_admin_render_metrics(wf_sbuf_t *out);

#endif
