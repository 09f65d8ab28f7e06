/*
 * time.h — clocks and durations.
 */
#ifndef WF_CORE_TIME_H
#define WF_CORE_TIME_H

#include "core/common.h"

#include <time.h>

/* Monotonic milliseconds / microseconds since an arbitrary point. */
static inline uint64_t wf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t wf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Parses a duration the way Linkerd's proxy configuration writes them:
 * an unsigned integer followed by a unit — "ms", "s", "m", "h" or "d"
 * ("100ms", "10s", "2m"). A bare number is rejected: the unit is never
 * guessed. Result in milliseconds.
 */
int wf_duration_parse(wf_str_t s, uint64_t *out_ms);

/* Formats milliseconds as the shortest exact duration ("1500ms", "10s"). */
size_t wf_duration_format(uint64_t ms, char *out, size_t outlen);

#endif
