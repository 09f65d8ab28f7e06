/*
 * hist.h — a log-linear latency histogram with a fixed number of
 * significant digits (HdrHistogram's layout, our own small implementation).
 *
 * Values are unsigned 64-bit integers (the loadgen records nanoseconds).
 * The range [0, 2^LG_HIST_MAX_LOG2) is split into power-of-two buckets; each
 * bucket is split linearly into `sub` slots, where `sub` is the smallest
 * power of two >= 2 * 10^digits. So any recorded value v is represented by
 * a slot whose width is <= v / 10^digits: 3 digits means every reported
 * value is within 0.1 % of a real sample (HdrHistogram's guarantee).
 *
 * Larger values are clamped to the top of the range and counted in
 * `clamped`, so a run never loses a sample silently.
 *
 * Not thread-safe: one histogram per thread, merge with lg_hist_add().
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Highest trackable value is 2^40 - 1 (ns: ~18 minutes). */
#define LG_HIST_MAX_LOG2 40

typedef struct lg_hist {
    uint64_t *counts; /* owned (calloc); ncounts slots */
    size_t ncounts;
    int digits;        /* significant decimal digits, 1..5 */
    int sub_half_log2; /* log2(sub / 2) */
    uint64_t sub_mask; /* sub - 1 */
    uint64_t total;    /* number of recorded values */
    uint64_t min, max; /* exact extremes of recorded values */
    long double sum;   /* for the mean; long double keeps ns sums exact enough */
    uint64_t clamped;  /* values >= 2^LG_HIST_MAX_LOG2, recorded as the top */
} lg_hist_t;

/* Returns 0, or -1 if digits is outside 1..5 or memory is short. */
int lg_hist_init(lg_hist_t *h, int digits);
void lg_hist_free(lg_hist_t *h);
void lg_hist_reset(lg_hist_t *h);

/* Records `count` occurrences of value v. */
void lg_hist_record_n(lg_hist_t *h, uint64_t v, uint64_t count);
static inline void lg_hist_record(lg_hist_t *h, uint64_t v)
{
    lg_hist_record_n(h, v, 1);
}

/* Adds every count of src into dst; both must have the same digits.
 * Returns 0 or -1 on a mismatch. */
int lg_hist_add(lg_hist_t *dst, const lg_hist_t *src);

/*
 * The value at percentile p (0..100): the smallest slot such that at least
 * ceil(p/100 * total) values (and at least one) are at or below it,
 * reported as the slot's highest equivalent value but never above the
 * exact max (HdrHistogram's getValueAtPercentile). 0 when empty.
 */
uint64_t lg_hist_percentile(const lg_hist_t *h, double p);

/* Number of recorded values <= v (counting whole slots). */
uint64_t lg_hist_count_le(const lg_hist_t *h, uint64_t v);

double lg_hist_mean(const lg_hist_t *h);

/* The lowest and highest values that share v's slot. */
uint64_t lg_hist_lowest_equiv(const lg_hist_t *h, uint64_t v);
uint64_t lg_hist_highest_equiv(const lg_hist_t *h, uint64_t v);

/*
 * Writes the percentile distribution in HdrHistogram's .hgrm text layout:
 * "Value Percentile TotalCount 1/(1-Percentile)", values divided by `scale`
 * (1e6 prints ns as ms), `ticks` rows per halving of the remaining
 * distance to 100 %, then a summary footer. Returns 0 or -1 on I/O error.
 */
int lg_hist_write_hgrm(const lg_hist_t *h, FILE *f, double scale, int ticks);

#endif
