#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = WF_LOG_INFO;
static bool log_json;
static const char *log_component = "weft";

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

const char *wf_log_level_name(wf_log_level_t level)
{
    return (unsigned)level < WF_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

static int parse_one(wf_str_t s, wf_log_level_t *out)
{
    for (size_t i = 0; i < WF_ARRAY_LEN(level_names); i++) {
        if (wf_str_eq_nocase(s, wf_str_from(level_names[i]))) {
            *out = (wf_log_level_t)i;
            return 0;
        }
    }
    return WF_EINVAL;
}

int wf_log_level_parse(wf_str_t s, wf_log_level_t *out)
{
    bool any = false;
    wf_log_level_t best = WF_LOG_OFF;
    const char *p = s.ptr, *end = s.ptr + s.len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        /* "target=level" directives: only the level matters here. */
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        const char *lv = eq ? eq + 1 : p;
        while (lv < item_end && (*lv == ' ' || *lv == '\t'))
            lv++;
        const char *lv_end = item_end;
        while (lv_end > lv && (lv_end[-1] == ' ' || lv_end[-1] == '\t' || lv_end[-1] == '\n'))
            lv_end--;
        if (lv_end > lv) {
            wf_log_level_t l;
            if (parse_one((wf_str_t){lv, (size_t)(lv_end - lv)}, &l) != 0)
                return WF_EINVAL;
            if (l > best)
                best = l;
            any = true;
        }
        p = comma ? comma + 1 : end;
    }
    if (!any)
        return WF_EINVAL;
    *out = best;
    return 0;
}

void wf_log_set_level(wf_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

wf_log_level_t wf_log_get_level(void)
{
    return (wf_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void wf_log_set_json(bool json)
{
    log_json = json;
}

void wf_log_set_component(const char *name)
{
    log_component = name;
}

bool wf_log_enabled(wf_log_level_t level)
{
    return (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void wf_log_write(wf_log_level_t level, const char *fmt, ...)
{
    char msg[1024], line[1400];
    va_list ap;
    va_start(ap, fmt);
    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (mlen < 0)
        return;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);

    int n;
    if (log_json) {
        /* Escape the message for JSON: quotes, backslashes and controls. */
        char esc[2100];
        size_t e = 0;
        for (const char *c = msg; *c && e + 7 < sizeof(esc); c++) {
            unsigned char ch = (unsigned char)*c;
            if (ch == '"' || ch == '\\') {
                esc[e++] = '\\';
                esc[e++] = (char)ch;
            } else if (ch < 0x20) {
                e += (size_t)snprintf(esc + e, sizeof(esc) - e, "\\u%04x", ch);
            } else {
                esc[e++] = (char)ch;
            }
        }
        esc[e] = '\0';
        n = snprintf(line, sizeof(line),
                     "{\"timestamp\":\"%s\",\"level\":\"%s\",\"component\":\"%s\","
                     "\"message\":\"%s\"}\n",
                     when, wf_log_level_name(level), log_component, esc);
    } else {
        n = snprintf(line, sizeof(line), "[%s] %5s %s: %s\n", when, wf_log_level_name(level),
                     log_component, msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
