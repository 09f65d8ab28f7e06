/*
 * sched.h — the open-loop schedule and the run verdict. Pure, header-only,
 * unit-tested (bench/loadgen/test_loadgen.c).
 *
 * Schedule: request j (j = 0, 1, 2, ...) is due at
 *     t_j = t0 + j / rate            (rate: requests/s over all connections)
 * and belongs to connection j mod N. So connection c sends at
 *     t0 + c/rate + k * (N/rate),    k = 0, 1, 2, ...
 * a fixed schedule of rate/N per connection, the N phases spread evenly.
 * Times come from the index, never from the previous send, so a late send
 * never shifts the ones after it; latency is measured from t_j (the
 * *intended* time), so time spent waiting behind a slow response counts
 * (no coordinated omission).
 */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lg_sched {
    uint64_t t0;     /* ns, CLOCK_MONOTONIC: when request 0 is due */
    double rate;     /* requests per second, > 0 */
    uint32_t nconns; /* > 0 */
} lg_sched_t;

/* When request j is due (ns). */
static inline uint64_t lg_sched_due(const lg_sched_t *s, uint64_t j)
{
    return s->t0 + (uint64_t)((long double)j * 1e9L / (long double)s->rate);
}

/* Which connection sends request j. */
static inline uint32_t lg_sched_conn(const lg_sched_t *s, uint64_t j)
{
    return (uint32_t)(j % s->nconns);
}

/* The first j due at or after time t (t >= t0). */
static inline uint64_t lg_sched_first_at(const lg_sched_t *s, uint64_t t)
{
    if (t <= s->t0)
        return 0;
    long double x = (long double)(t - s->t0) * (long double)s->rate / 1e9L;
    uint64_t j = (uint64_t)x;
    while (j > 0 && lg_sched_due(s, j - 1) >= t)
        j--;
    while (lg_sched_due(s, j) < t)
        j++;
    return j;
}

/* Why a run failed (flags; 0 = passed). */
enum {
    LG_FAIL_RATE = 1 << 0,   /* achieved < LG_MIN_RATE_RATIO of the target */
    LG_FAIL_ERRORS = 1 << 1, /* at least one request failed or timed out */
};
#define LG_MIN_RATE_RATIO 0.99

/* The verdict of a run: which LG_FAIL_* apply (0 if none). */
static inline unsigned lg_verdict(double target_rate, double achieved_rate, uint64_t errors)
{
    unsigned v = 0;
    if (achieved_rate < LG_MIN_RATE_RATIO * target_rate)
        v |= LG_FAIL_RATE;
    if (errors > 0)
        v |= LG_FAIL_ERRORS;
    return v;
}

#endif
