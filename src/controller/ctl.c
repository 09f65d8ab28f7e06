/*
 * ctl.c — common process scaffolding of weft-controller (see ctl.h).
 */
#include "ctl.h"

#include "core/time.h"
#include "k8s/object.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* After on_close, how long the loop runs on to flush GOAWAYs and trailers. */
#define CTL_FLUSH_MS 100

void wf_ctl_cfg_defaults(wf_ctl_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    wf_addr_parse(&cfg->admin_addr, WF_STR("0.0.0.0:9990"));
    cfg->shutdown_grace_ms = 1000;
    cfg->log_level = WF_LOG_INFO;
}

int wf_ctl_cfg_apply(wf_ctl_cfg_t *cfg, int opt, const char *arg, char *err, size_t errlen)
{
    switch (opt) {
    case WF_CTL_OPT_ADMIN_ADDR:
        if (wf_addr_parse(&cfg->admin_addr, wf_str_from(arg)) != 0) {
            snprintf(err, errlen, "--admin-addr: invalid address \"%s\" (expected IP:PORT)", arg);
            return WF_EINVAL;
        }
        return 0;
    case WF_CTL_OPT_LOG_LEVEL:
        if (wf_log_level_parse(wf_str_from(arg), &cfg->log_level) != 0) {
            snprintf(err, errlen,
                     "--log-level: invalid level \"%s\" (expected error, warn, info, debug, trace "
                     "or off)",
                     arg);
            return WF_EINVAL;
        }
        return 0;
    case WF_CTL_OPT_LOG_FORMAT:
        if (strcmp(arg, "json") == 0 || strcmp(arg, "plain") == 0) {
            cfg->log_json = strcmp(arg, "json") == 0;
            return 0;
        }
        snprintf(err, errlen, "--log-format: invalid format \"%s\" (expected plain or json)", arg);
        return WF_EINVAL;
    case WF_CTL_OPT_SHUTDOWN_GRACE:
        if (wf_duration_parse(wf_str_from(arg), &cfg->shutdown_grace_ms) != 0) {
            snprintf(err, errlen,
                     "--shutdown-grace: invalid duration \"%s\" (expected e.g. 1s, 500ms)", arg);
            return WF_EINVAL;
        }
        return 0;
    }
    snprintf(err, errlen, "unknown flag");
    return WF_EINVAL;
}

static void shutdown_timer_cb(wf_loop_t *loop, wf_timer_t *t)
{
    wf_ctl_t *ctl = wf_container_of(t, wf_ctl_t, shutdown_timer);
    if (ctl->shutdown_step == 0) {
        ctl->shutdown_step = 1;
        if (ctl->on_close != NULL)
            ctl->on_close(ctl);
        wf_timer_start(loop, t, CTL_FLUSH_MS);
        return;
    }
    wf_loop_stop(loop);
}

static void sig_cb(wf_loop_t *loop, wf_watch_t *w, uint32_t events)
{
    wf_ctl_t *ctl = wf_container_of(w, wf_ctl_t, sig_watch);
    struct signalfd_siginfo si;
    while (read(ctl->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        const char *name = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
        if (ctl->draining) {
            wf_log_warn("second %s: exiting without draining", name);
            _exit(WF_CTL_EXIT_FAIL);
        }
        wf_log_info("received %s; draining (grace period %llums)", name,
                    (unsigned long long)ctl->cfg.shutdown_grace_ms);
        ctl->draining = true;
        ctl->ready = false;
        if (ctl->on_drain != NULL)
            ctl->on_drain(ctl);
        wf_timer_start(loop, &ctl->shutdown_timer, ctl->cfg.shutdown_grace_ms);
    }
}

int wf_ctl_init(wf_ctl_t *ctl, const wf_ctl_cfg_t *cfg, const char *component, char *err,
                size_t errlen)
{
    ctl->cfg = *cfg;
    ctl->sigfd = -1;
    wf_timer_init(&ctl->shutdown_timer, shutdown_timer_cb);
    wf_log_set_component(component);
    wf_log_set_level(cfg->log_level);
    wf_log_set_json(cfg->log_json);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = wf_loop_init(&ctl->loop);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the event loop: %s", wf_strerror(rc));
        return rc;
    }
    ctl->loop_ok = true;
    ctl->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (ctl->sigfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "signalfd: %s", wf_strerror(rc));
        return rc;
    }
    wf_watch_init(&ctl->sig_watch, ctl->sigfd, sig_cb);
    if ((rc = wf_watch_start(&ctl->loop, &ctl->sig_watch, EPOLLIN)) != 0) {
        snprintf(err, errlen, "cannot watch signals: %s", wf_strerror(rc));
        return rc;
    }
    ctl->shard = wf_metrics_shard_new();
    if (ctl->shard == NULL) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    if ((rc = wf_ctl_admin_start(ctl, &ctl->admin)) != 0) {
        char a[WF_ADDR_STRLEN];
        wf_addr_format(&cfg->admin_addr, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on admin address %s: %s", a, wf_strerror(rc));
        return rc;
    }
    return 0;
}

int wf_ctl_run(wf_ctl_t *ctl)
{
    return wf_loop_run(&ctl->loop);
}

void wf_ctl_destroy(wf_ctl_t *ctl)
{
    if (!ctl->loop_ok)
        return;
    if (ctl->admin != NULL) {
        wf_ctl_admin_stop(ctl->admin);
        ctl->admin = NULL;
        wf_loop_run_once(&ctl->loop, 0); /* deferred frees */
    }
    if (ctl->sigfd >= 0) {
        wf_watch_stop(&ctl->loop, &ctl->sig_watch);
        close(ctl->sigfd);
        ctl->sigfd = -1;
    }
    wf_timer_stop(&ctl->loop, &ctl->shutdown_timer);
    if (ctl->shard != NULL) {
        wf_metrics_shard_free(ctl->shard);
        ctl->shard = NULL;
    }
    wf_loop_destroy(&ctl->loop);
    ctl->loop_ok = false;
}

int wf_ctl_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft-controller %s: ", sub);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'weft-controller %s --help' for usage.\n", sub);
    va_end(ap);
    return WF_CTL_EXIT_USAGE;
}

bool wf_ctl_dns_name(const char *s)
{
    return strlen(s) <= 200 && wf_k8s_name_valid(s);
}

int wf_ctl_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf != NULL ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    bool big = buf != NULL && n == (1 << 20) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (buf == NULL || big) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, big ? "larger than 1 MiB" : "out of memory");
        return WF_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
