/*
 * hist.c — see hist.h for the layout and its accuracy guarantee.
 *
 * Slot indexing (sub = 2^(k+1), half = 2^k, k = sub_half_log2):
 *   bucket 0 holds [0, sub) with unit width, in slots 0..sub-1;
 *   bucket b >= 1 holds [half * 2^b, sub * 2^b) in `half` slots of width
 *   2^b, at indexes (b+1)*half .. (b+2)*half - 1.
 * So slots are contiguous and a value's index is found with one clz.
 */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int bits_of(uint64_t v)
{
    return v == 0 ? 0 : 64 - __builtin_clzll(v);
}

static int bucket_of(const lg_hist_t *h, uint64_t v)
{
    return bits_of(v | h->sub_mask) - (h->sub_half_log2 + 1);
}

static size_t index_of(const lg_hist_t *h, uint64_t v)
{
    int b = bucket_of(h, v);
    uint64_t sub_index = v >> b;
    uint64_t half = (uint64_t)1 << h->sub_half_log2;
    return (size_t)((((uint64_t)b + 1) << h->sub_half_log2) + (sub_index - half));
}

/* The lowest value of slot i. */
static uint64_t value_at_index(const lg_hist_t *h, size_t i)
{
    uint64_t half = (uint64_t)1 << h->sub_half_log2;
    if (i < 2 * half)
        return i; /* bucket 0: unit-width slots */
    int b = (int)(i >> h->sub_half_log2) - 1;
    uint64_t sub_index = (i & (half - 1)) + half;
    return sub_index << b;
}

int lg_hist_init(lg_hist_t *h, int digits)
{
    memset(h, 0, sizeof(*h));
    if (digits < 1 || digits > 5)
        return -1;
    uint64_t need = 2;
    for (int i = 0; i < digits; i++)
        need *= 10;
    int sub_log2 = bits_of(need - 1); /* smallest power of two >= need */
    h->digits = digits;
    h->sub_half_log2 = sub_log2 - 1;
    h->sub_mask = ((uint64_t)1 << sub_log2) - 1;
    int top_bucket = LG_HIST_MAX_LOG2 - sub_log2;
    h->ncounts = (size_t)(top_bucket + 2) << h->sub_half_log2;
    h->counts = calloc(h->ncounts, sizeof(*h->counts));
    if (h->counts == NULL)
        return -1;
    lg_hist_reset(h);
    return 0;
}

void lg_hist_free(lg_hist_t *h)
{
    free(h->counts);
    h->counts = NULL;
}

void lg_hist_reset(lg_hist_t *h)
{
    memset(h->counts, 0, h->ncounts * sizeof(*h->counts));
    h->total = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
    h->clamped = 0;
}

void lg_hist_record_n(lg_hist_t *h, uint64_t v, uint64_t count)
{
    if (count == 0)
        return;
    const uint64_t top = ((uint64_t)1 << LG_HIST_MAX_LOG2) - 1;
    if (v > top) {
        v = top;
        h->clamped += count;
    }
    h->counts[index_of(h, v)] += count;
    h->total += count;
    h->sum += (long double)v * (long double)count;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

int lg_hist_add(lg_hist_t *dst, const lg_hist_t *src)
{
    if (dst->digits != src->digits || dst->ncounts != src->ncounts)
        return -1;
    for (size_t i = 0; i < src->ncounts; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
    if (src->total > 0) {
        if (src->min < dst->min)
            dst->min = src->min;
        if (src->max > dst->max)
            dst->max = src->max;
    }
    return 0;
}

uint64_t lg_hist_lowest_equiv(const lg_hist_t *h, uint64_t v)
{
    return value_at_index(h, index_of(h, v));
}

uint64_t lg_hist_highest_equiv(const lg_hist_t *h, uint64_t v)
{
    int b = bucket_of(h, v);
    return lg_hist_lowest_equiv(h, v) + ((uint64_t)1 << b) - 1;
}

/* ceil(p/100 * total), treating values within 1e-9 of an integer as that
 * integer (so p=99.9 of 1000 is 999, not 1000 through rounding noise). */
static uint64_t rank_of(double p, uint64_t total)
{
    if (p >= 100.0)
        return total;
    if (p < 0.0)
        p = 0.0;
    double x = p / 100.0 * (double)total;
    double r = nearbyint(x);
    uint64_t rank = fabs(x - r) < 1e-9 * (1.0 + x) ? (uint64_t)r : (uint64_t)ceil(x);
    return rank < 1 ? 1 : rank;
}

uint64_t lg_hist_percentile(const lg_hist_t *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = rank_of(p, h->total);
    uint64_t seen = 0;
    for (size_t i = 0; i < h->ncounts; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = lg_hist_highest_equiv(h, value_at_index(h, i));
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

uint64_t lg_hist_count_le(const lg_hist_t *h, uint64_t v)
{
    if (v >= ((uint64_t)1 << LG_HIST_MAX_LOG2) - 1)
        return h->total;
    size_t last = index_of(h, v);
    uint64_t n = 0;
    for (size_t i = 0; i <= last; i++)
        n += h->counts[i];
    return n;
}

double lg_hist_mean(const lg_hist_t *h)
{
    return h->total ? (double)(h->sum / (long double)h->total) : 0.0;
}

/* Standard deviation from slot midpoints (as HdrHistogram computes it). */
static double hist_stddev(const lg_hist_t *h)
{
    if (h->total == 0)
        return 0.0;
    double mean = lg_hist_mean(h), acc = 0.0;
    for (size_t i = 0; i < h->ncounts; i++) {
        if (h->counts[i] == 0)
            continue;
        uint64_t lo = value_at_index(h, i);
        double mid = ((double)lo + (double)lg_hist_highest_equiv(h, lo)) / 2.0;
        acc += (mid - mean) * (mid - mean) * (double)h->counts[i];
    }
    return sqrt(acc / (double)h->total);
}

int lg_hist_write_hgrm(const lg_hist_t *h, FILE *f, double scale, int ticks)
{
    if (ticks < 1)
        ticks = 5;
    fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    double p = 0.0;
    /* Each pass halves the distance to 100 % in `ticks` steps; it ends at
     * the rank that covers every value (bounded: ~2*ticks rows per halving,
     * at most 64 halvings of a 64-bit count). */
    for (int rows = 0; h->total > 0 && rows < 4096; rows++) {
        uint64_t v = lg_hist_percentile(h, p);
        uint64_t n = lg_hist_count_le(h, v);
        if (n >= h->total)
            break;
        fprintf(f, "%12.6f %14.12f %10llu %14.2f\n", (double)v / scale, p / 100.0,
                (unsigned long long)n, 1.0 / (1.0 - p / 100.0));
        double halvings = floor(log2(100.0 / (100.0 - p)));
        double step_ticks = ticks * pow(2.0, halvings + 1.0);
        p += 100.0 / step_ticks;
    }
    if (h->total > 0)
        fprintf(f, "%12.6f %14.12f %10llu %14s\n", (double)h->max / scale, 1.0,
                (unsigned long long)h->total, "inf");
    fprintf(f, "#[Mean    = %12.6f, StdDeviation   = %12.6f]\n", lg_hist_mean(h) / scale,
            hist_stddev(h) / scale);
    fprintf(f, "#[Max     = %12.6f, Total count    = %12llu]\n",
            (double)(h->total ? h->max : 0) / scale, (unsigned long long)h->total);
    fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", LG_HIST_MAX_LOG2 - h->sub_half_log2,
            2 << h->sub_half_log2);
    return ferror(f) ? -1 : 0;
}
