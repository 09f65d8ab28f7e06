/*
 * weft-proxy — the sidecar. main() only wires libweft's pieces together:
 * configuration from WEFT_PROXY_*, worker threads with their listeners,
 * the admin server, and signal-driven graceful shutdown.
 *
 * Shutdown: the first SIGTERM/SIGINT (or POST /shutdown) stops accepting
 * and lets open connections finish within WEFT_PROXY_SHUTDOWN_GRACE_PERIOD,
 * then exits 0. A second signal during the drain exits at once (1).
 */
#include "admin.h"
#include "core/log.h"
#include "http_metrics.h"
#include "discovery.h"
#include "mesh/identity_client.h"
#include "proxy.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void warn_config(const char *msg)
{
    wf_log_warn("%s", msg);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: weft-proxy [--version]\n"
            "Configured through WEFT_PROXY_* environment variables; see README.md.\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--version") == 0) {
            printf("weft-proxy %s\n", WEFT_VERSION);
            return 0;
        }
        usage();
        return 2;
    }
    wf_log_set_component("proxy");

    static wf_proxy_t proxy;
    char err[512];
    if (wf_proxy_config_load(&proxy.cfg, environ, err, sizeof(err), warn_config) != 0) {
        fprintf(stderr, "weft-proxy: invalid configuration: %s\n", err);
        return 1;
    }
    wf_log_set_level(proxy.cfg.log_level);
    wf_log_set_json(proxy.cfg.log_json);
    proxy.env = environ;
    proxy.start_time = (double)time(NULL);
    proxy.inbound = (wf_side_t){WF_DIR_INBOUND, "inbound", &proxy.cfg.inbound_opaque,
                                proxy.cfg.inbound_detect_timeout_ms,
                                proxy.cfg.inbound_connect_timeout_ms};
    proxy.outbound = (wf_side_t){WF_DIR_OUTBOUND, "outbound", &proxy.cfg.outbound_opaque,
                                 proxy.cfg.outbound_detect_timeout_ms,
                                 proxy.cfg.outbound_connect_timeout_ms};
    wf_tcp_metrics_register();
    wf_http_metrics_register();
    if (wf_proxy_identity_enabled(&proxy.cfg)) {
        wf_identity_metrics_register();
        wf_idc_conf_t idc = {
            .trust_anchors = proxy.cfg.identity_trust_anchors,
            .token_file = proxy.cfg.identity_token_file,
            .svc_addr = proxy.cfg.identity_svc_addr,
            .svc_name = proxy.cfg.identity_svc_name,
            .local_name = proxy.cfg.identity_local_name,
            .anchors_source = "WEFT_PROXY_IDENTITY_TRUST_ANCHORS",
        };
        if (wf_identity_new(&proxy.identity, &idc, err, sizeof(err)) != 0) {
            fprintf(stderr, "weft-proxy: invalid configuration: %s\n", err);
            return 1;
        }
    }
    if (wf_discovery_new(&proxy.discovery, &proxy.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "weft-proxy: cannot start discovery: %s\n", err);
        return 1;
    }
    if (proxy.identity == NULL) {
        wf_log_info("identity is off (%s): inbound mesh mTLS is not terminated",
                    proxy.cfg.identity_disabled ? "WEFT_PROXY_IDENTITY_DISABLED=true"
                                                : "no WEFT_PROXY_IDENTITY_TRUST_ANCHORS");
    }

    /* Threads inherit this mask: signals are taken only by sigtimedwait. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    proxy.nworkers = proxy.cfg.cores;
    proxy.workers = calloc(proxy.nworkers, sizeof(*proxy.workers));
    if (proxy.workers == NULL) {
        fprintf(stderr, "weft-proxy: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < proxy.nworkers; i++) {
        int rc = wf_worker_init(&proxy.workers[i], &proxy, i);
        if (rc != 0) {
            fprintf(stderr, "weft-proxy: cannot start worker %u: %s\n", i, wf_strerror(rc));
            return 1;
        }
    }
    wf_admin_t *admin;
    int rc = wf_admin_init(&admin, &proxy);
    if (rc != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(&proxy.cfg.admin_addr, a, sizeof(a));
        fprintf(stderr, "weft-proxy: cannot listen on admin address %s: %s\n", a,
                wf_strerror(rc));
        return 1;
    }
    if ((rc = wf_admin_start(admin)) != 0) {
        fprintf(stderr, "weft-proxy: cannot start admin thread: %s\n", wf_strerror(rc));
        return 1;
    }
    /* Listeners and admin are bound; now obtain the certificate (Linkerd's
     * order): /ready says 503 until it arrives. */
    if (proxy.identity != NULL && (rc = wf_identity_start(proxy.identity)) != 0) {
        fprintf(stderr, "weft-proxy: cannot start the identity client: %s\n", wf_strerror(rc));
        return 1;
    }
    wf_loop_t *loops[WF_PROXY_MAX_CORES];
    for (uint32_t i = 0; i < proxy.nworkers; i++)
        loops[i] = &proxy.workers[i].loop;
    if (proxy.discovery != NULL &&
        (rc = wf_discovery_start(proxy.discovery, loops, proxy.nworkers, proxy.identity)) != 0) {
        fprintf(stderr, "weft-proxy: cannot start discovery: %s\n", wf_strerror(rc));
        return 1;
    }
    for (uint32_t i = 0; i < proxy.nworkers; i++) {
        if ((rc = wf_worker_start(&proxy.workers[i])) != 0) {
            fprintf(stderr, "weft-proxy: cannot start worker thread: %s\n", wf_strerror(rc));
            return 1;
        }
    }
    atomic_store(&proxy.ready, true);
    {
        char in[WF_ADDR_STRLEN], out[WF_ADDR_STRLEN], ad[WF_ADDR_STRLEN];
        wf_addr_format(&proxy.cfg.inbound_addr, in, sizeof(in));
        wf_addr_format(&proxy.cfg.outbound_addrs[0], out, sizeof(out));
        wf_addr_format(&proxy.cfg.admin_addr, ad, sizeof(ad));
        wf_log_info("weft-proxy %s listening: inbound %s, outbound %s, admin %s, %u worker(s)%s%s",
                    WEFT_VERSION, in, out, ad, proxy.nworkers,
                    proxy.identity != NULL ? "; identity " : "",
                    proxy.identity != NULL ? proxy.cfg.identity_local_name : "");
    }

    int sig;
    do {
        sig = sigwaitinfo(&sigs, NULL);
    } while (sig < 0);
    wf_log_info("received %s; draining (grace period %llums)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT",
                (unsigned long long)proxy.cfg.shutdown_grace_ms);
    atomic_store(&proxy.draining, true);
    for (uint32_t i = 0; i < proxy.nworkers; i++)
        wf_worker_drain(&proxy.workers[i]);

    /* Wait for the workers; a second signal cuts the drain short. */
    for (uint32_t i = 0; i < proxy.nworkers; i++) {
        while (!atomic_load(&proxy.workers[i].done)) {
            struct timespec wait = {0, 50 * 1000000};
            if (sigtimedwait(&sigs, NULL, &wait) > 0) {
                wf_log_warn("second signal: exiting without draining");
                _exit(1);
            }
        }
        wf_worker_join(&proxy.workers[i]);
    }
    wf_admin_stop(admin);
    wf_discovery_free(proxy.discovery);
    wf_identity_free(proxy.identity);
    free(proxy.workers);
    wf_log_info("drained; exiting");
    return 0;
}
