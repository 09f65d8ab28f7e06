/*
 * log.h — leveled logging to stderr, plain or JSON lines.
 *
 * The level is one process-wide atomic, so the admin server's
 * /proxy-log-level can change it from its own thread while workers log.
 * A log line is formatted into a stack buffer and written with one write(2),
 * so lines from different threads never interleave.
 */
#ifndef WF_CORE_LOG_H
#define WF_CORE_LOG_H

#include "core/common.h"

typedef enum wf_log_level {
    WF_LOG_OFF = 0,
    WF_LOG_ERROR,
    WF_LOG_WARN,
    WF_LOG_INFO,
    WF_LOG_DEBUG,
    WF_LOG_TRACE,
} wf_log_level_t;

/* Parses "error|warn|info|debug|trace|off". Linkerd-style directive lists
 * ("warn,linkerd=info,…") are accepted: the most verbose level named in the
 * list wins, since weft has one level for the whole process. */
int wf_log_level_parse(wf_str_t s, wf_log_level_t *out);
const char *wf_log_level_name(wf_log_level_t level);

void wf_log_set_level(wf_log_level_t level);
wf_log_level_t wf_log_get_level(void);
void wf_log_set_json(bool json);
/* The component name shown on every line ("proxy", "init", ...). */
void wf_log_set_component(const char *name);

bool wf_log_enabled(wf_log_level_t level);
void wf_log_write(wf_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wf_log(level, ...)                                                                         \
    do {                                                                                           \
        if (wf_log_enabled(level))                                                                 \
            wf_log_write(level, __VA_ARGS__);                                                      \
    } while (0)
#define wf_log_error(...) wf_log(WF_LOG_ERROR, __VA_ARGS__)
#define wf_log_warn(...) wf_log(WF_LOG_WARN, __VA_ARGS__)
#define wf_log_info(...) wf_log(WF_LOG_INFO, __VA_ARGS__)
#define wf_log_debug(...) wf_log(WF_LOG_DEBUG, __VA_ARGS__)
#define wf_log_trace(...) wf_log(WF_LOG_TRACE, __VA_ARGS__)

#endif
