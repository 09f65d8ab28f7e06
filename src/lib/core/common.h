/*
 * common.h — the few definitions every libweft module shares: strings as
 * (ptr, len), the error convention, and small helpers.
 *
 * Errors: functions return 0 (or a count) on success and a negative WF_E*
 * code on failure; wf_strerror() gives its static description. System
 * errors are carried as -errno (all below WF_E_BASE in magnitude).
 */
#ifndef WF_CORE_COMMON_H
#define WF_CORE_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct wf_str {
    const char *ptr; /* borrowed; not NUL-terminated in general */
    size_t len;
} wf_str_t;

#define WF_STR(lit) ((wf_str_t){(lit), sizeof(lit) - 1})
#define WF_STR_NULL ((wf_str_t){NULL, 0})

static inline wf_str_t wf_str_from(const char *s)
{
    return (wf_str_t){s, s ? strlen(s) : 0};
}

static inline bool wf_str_eq(wf_str_t a, wf_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool wf_str_eq_nocase(wf_str_t a, wf_str_t b);

/* Library error codes, beyond -errno. */
enum {
    WF_E_BASE = 10000,
    WF_EAGAIN = -(WF_E_BASE + 1),    /* would block; retry on readiness */
    WF_EINVAL = -(WF_E_BASE + 2),    /* malformed input */
    WF_ERANGE = -(WF_E_BASE + 3),    /* value out of its allowed range */
    WF_ENOMEM = -(WF_E_BASE + 4),    /* allocation failed */
    WF_ELIMIT = -(WF_E_BASE + 5),    /* an explicit limit was exceeded */
    WF_ETIMEDOUT = -(WF_E_BASE + 6), /* a deadline passed */
    WF_ECLOSED = -(WF_E_BASE + 7),   /* the peer or object is gone */
    WF_EPROTO = -(WF_E_BASE + 8),    /* protocol violation by the peer */
    WF_ENOTFOUND = -(WF_E_BASE + 9), /* no such object */
    WF_EUNAVAILABLE = -(WF_E_BASE + 10), /* a service this needs cannot be reached */
};

/* Static description of a WF_E* or -errno code. */
const char *wf_strerror(int err);

#define WF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define WF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define wf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define wf_likely(x) __builtin_expect(!!(x), 1)
#define wf_unlikely(x) __builtin_expect(!!(x), 0)

#endif
