/*
 * ctl.h — what every weft-controller subcommand shares: the common flags,
 * one event loop on the main thread, structured logs, the admin listener
 * (/metrics, /ready, /live) and graceful shutdown on SIGTERM/SIGINT.
 *
 * A subcommand embeds wf_ctl_t in its own struct, fills the hooks, and
 * recovers itself in them with wf_container_of(). Everything runs on the
 * main thread's loop: the controller's work (signing a certificate) is
 * short and CPU-bound, so a second thread would buy nothing but locks.
 *
 * Shutdown: the first SIGTERM/SIGINT marks the process not ready, calls
 * on_drain (stop accepting; calls already in flight go on), waits the
 * grace period, calls on_close (close what is left), lets the loop flush
 * for a moment and returns from wf_ctl_run with 0. A second signal exits 1
 * at once.
 */
#ifndef WF_CONTROLLER_CTL_H
#define WF_CONTROLLER_CTL_H

#include "core/log.h"
#include "core/loop.h"
#include "metrics/metrics.h"
#include "net/addr.h"

#include <getopt.h>

/* Prints "weft-controller SUB: <message>" and the --help hint to stderr;
 * returns WF_CTL_EXIT_USAGE. */
int wf_ctl_usage_error(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True for a DNS name as the flags take them (trust domain, namespaces,
 * identities): labels of [a-z0-9-] separated by single dots, ≤ 200 bytes. */
bool wf_ctl_dns_name(const char *s);
/* Reads a whole file of at most 1 MiB (PEM, tokens): *out is malloc'ed and
 * NUL-terminated. Not 0: err names the file and the problem. */
int wf_ctl_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* Exit codes: 0 after a graceful shutdown, 1 when start-up fails (bad
 * files, a port in use), 2 for a usage error. */
enum { WF_CTL_EXIT_OK = 0, WF_CTL_EXIT_FAIL = 1, WF_CTL_EXIT_USAGE = 2 };

typedef struct wf_ctl_cfg {
    wf_addr_t admin_addr;       /* --admin-addr, default 0.0.0.0:9990 */
    uint64_t shutdown_grace_ms; /* --shutdown-grace, default 1s */
    wf_log_level_t log_level;   /* --log-level, default info */
    bool log_json;              /* --log-format json */
} wf_ctl_cfg_t;

/* getopt_long ids of the common flags (above any short option). */
enum {
    WF_CTL_OPT_ADMIN_ADDR = 0x1000,
    WF_CTL_OPT_LOG_LEVEL,
    WF_CTL_OPT_LOG_FORMAT,
    WF_CTL_OPT_SHUTDOWN_GRACE,
    WF_CTL_OPT_HELP,
    WF_CTL_OPT_SUB = 0x1100, /* first id free for a subcommand's flags */
};

#define WF_CTL_COMMON_OPTIONS                                                                      \
    {"admin-addr", required_argument, NULL, WF_CTL_OPT_ADMIN_ADDR},                                \
        {"log-level", required_argument, NULL, WF_CTL_OPT_LOG_LEVEL},                              \
        {"log-format", required_argument, NULL, WF_CTL_OPT_LOG_FORMAT},                            \
        {"shutdown-grace", required_argument, NULL, WF_CTL_OPT_SHUTDOWN_GRACE},                    \
    {                                                                                              \
        "help", no_argument, NULL, WF_CTL_OPT_HELP                                                 \
    }

#define WF_CTL_COMMON_USAGE                                                                        \
    "common flags:\n"                                                                              \
    "  --admin-addr ADDR       admin listener: /metrics, /ready, /live (default 0.0.0.0:9990)\n"   \
    "  --log-level LEVEL       error, warn, info, debug, trace or off (default info)\n"            \
    "  --log-format FORMAT     plain or json (default plain)\n"                                    \
    "  --shutdown-grace D      after SIGTERM, keep serving in-flight calls this long (default "    \
    "1s)\n"                                                                                        \
    "  --help                  this text\n"

void wf_ctl_cfg_defaults(wf_ctl_cfg_t *cfg);
/* Applies one common flag (opt is a WF_CTL_OPT_* id). Returns 0, or
 * WF_EINVAL with a message naming the flag and the value. */
int wf_ctl_cfg_apply(wf_ctl_cfg_t *cfg, int opt, const char *arg, char *err, size_t errlen);

typedef struct wf_ctl wf_ctl_t;
typedef struct wf_ctl_admin wf_ctl_admin_t;

struct wf_ctl {
    wf_ctl_cfg_t cfg;
    wf_loop_t loop;
    bool loop_ok;              /* loop initialised (destroy may run after a failed init) */
    wf_metrics_shard_t *shard; /* owned: the main thread's metrics shard */
    wf_ctl_admin_t *admin;     /* owned */
    bool ready;                /* /ready answers 200 (set by the subcommand once serving) */
    bool draining;             /* a shutdown signal arrived */
    int sigfd;                 /* owned: signalfd for SIGTERM/SIGINT */
    wf_watch_t sig_watch;
    wf_timer_t shutdown_timer;
    int shutdown_step;
    void (*on_drain)(wf_ctl_t *ctl); /* stop accepting new work */
    void (*on_close)(wf_ctl_t *ctl); /* close everything that is left */
};

/*
 * Sets the process up: logging as configured (component shown on each
 * line), signals (blocked and read from a signalfd; SIGPIPE ignored), the
 * loop, the metrics shard and the admin listener. On failure writes a
 * message and returns a negative code; wf_ctl_destroy is still safe.
 */
int wf_ctl_init(wf_ctl_t *ctl, const wf_ctl_cfg_t *cfg, const char *component, char *err,
                size_t errlen);
/* Runs the loop until shutdown has completed. */
int wf_ctl_run(wf_ctl_t *ctl);
void wf_ctl_destroy(wf_ctl_t *ctl);

/* --- admin (admin.c) ----------------------------------------------------------- */

/* Listens on ctl->cfg.admin_addr and serves on ctl->loop. */
int wf_ctl_admin_start(wf_ctl_t *ctl, wf_ctl_admin_t **out);
void wf_ctl_admin_stop(wf_ctl_admin_t *admin);

#endif
