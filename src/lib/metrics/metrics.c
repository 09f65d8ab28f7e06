#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

const double wf_latency_ms_bounds[] = {1,    2,    3,    4,     5,     10,    20,    30,   40,
                                       50,   100,  200,  300,   400,   500,   1000,  2000, 3000,
                                       4000, 5000, 10000, 20000, 30000, 40000, 50000};
const uint32_t wf_latency_ms_nbounds = WF_ARRAY_LEN(wf_latency_ms_bounds);

struct wf_series {
    _Atomic(wf_series_t *) next; /* family list of the shard; read by scrapers */
    wf_series_t *hnext;          /* owner's hash chain */
    wf_metric_family_t *family;  /* borrowed: static descriptor */
    uint32_t hash;
    uint32_t refs;       /* owner thread only */
    uint64_t touched_ms; /* owner thread only: last put */
    _Atomic uint64_t value; /* counter / gauge (two's complement) / histogram count */
    _Atomic uint64_t sum;   /* histogram: bits of a double */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1 non-cumulative counts */
    uint32_t labels_len;
    char labels[]; /* owned, NUL-terminated */
};

#define SHARD_HASH_SIZE 1024 /* power of two */

struct wf_metrics_shard {
    pthread_mutex_t mu; /* guards the family lists against a concurrent scrape */
    _Atomic(wf_series_t *) lists[WF_METRICS_MAX_FAMILIES];
    wf_series_t *hash[SHARD_HASH_SIZE];
    wf_metrics_shard_t *next; /* in the global shard list */
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static wf_metric_family_t *families[WF_METRICS_MAX_FAMILIES];
static uint32_t nfamilies;
static wf_metrics_shard_t *shards;
/* Values of freed shards, folded in so counters never go backwards when a
 * worker thread exits: kept as a shard that no thread owns. */
static wf_metrics_shard_t *retired;

int wf_metrics_register(wf_metric_family_t *family)
{
    pthread_mutex_lock(&registry_mu);
    for (uint32_t i = 0; i < nfamilies; i++) {
        if (families[i] == family) {
            pthread_mutex_unlock(&registry_mu);
            return 0;
        }
    }
    if (nfamilies == WF_METRICS_MAX_FAMILIES) {
        pthread_mutex_unlock(&registry_mu);
        return WF_ELIMIT;
    }
    family->id = nfamilies;
    families[nfamilies++] = family;
    pthread_mutex_unlock(&registry_mu);
    return 0;
}

wf_metrics_shard_t *wf_metrics_shard_new(void)
{
    wf_metrics_shard_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_lock(&registry_mu);
    s->next = shards;
    shards = s;
    pthread_mutex_unlock(&registry_mu);
    return s;
}

static uint32_t hash_labels(const wf_metric_family_t *f, wf_str_t labels)
{
    uint32_t h = 2166136261u ^ f->id; /* FNV-1a */
    for (size_t i = 0; i < labels.len; i++)
        h = (h ^ (uint8_t)labels.ptr[i]) * 16777619u;
    return h;
}

static wf_series_t *series_new(wf_metric_family_t *f, wf_str_t labels, uint32_t hash)
{
    wf_series_t *s = calloc(1, sizeof(*s) + labels.len + 1);
    if (s == NULL)
        return NULL;
    if (f->type == WF_METRIC_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
        if (s->buckets == NULL) {
            free(s);
            return NULL;
        }
    }
    s->family = f;
    s->hash = hash;
    s->labels_len = (uint32_t)labels.len;
    if (labels.len > 0) /* an empty label set may come as (NULL, 0) */
        memcpy(s->labels, labels.ptr, labels.len);
    s->labels[labels.len] = '\0';
    return s;
}

static void series_free(wf_series_t *s)
{
    free(s->buckets);
    free(s);
}

wf_series_t *wf_metrics_get(wf_metrics_shard_t *shard, wf_metric_family_t *family, wf_str_t labels)
{
    uint32_t h = hash_labels(family, labels);
    wf_series_t **slot = &shard->hash[h & (SHARD_HASH_SIZE - 1)];
    for (wf_series_t *s = *slot; s != NULL; s = s->hnext) {
        if (s->hash == h && s->family == family && s->labels_len == labels.len &&
            (labels.len == 0 || memcmp(s->labels, labels.ptr, labels.len) == 0)) {
            s->refs++;
            return s;
        }
    }
    wf_series_t *s = series_new(family, labels, h);
    if (s == NULL)
        return NULL;
    s->refs = 1;
    s->hnext = *slot;
    *slot = s;
    pthread_mutex_lock(&shard->mu);
    atomic_store_explicit(&s->next, atomic_load_explicit(&shard->lists[family->id],
                                                         memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&shard->lists[family->id], s, memory_order_release);
    pthread_mutex_unlock(&shard->mu);
    return s;
}

void wf_metrics_put(wf_metrics_shard_t *shard, wf_series_t *s, uint64_t now_ms)
{
    (void)shard;
    if (s == NULL)
        return;
    s->refs--;
    s->touched_ms = now_ms;
}

/* Single-writer updates: a relaxed load and store, no locked instruction. */
static inline void relaxed_add(_Atomic uint64_t *v, uint64_t n)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void wf_counter_add(wf_series_t *s, uint64_t n)
{
    if (s != NULL)
        relaxed_add(&s->value, n);
}

void wf_gauge_add(wf_series_t *s, int64_t delta)
{
    if (s != NULL)
        relaxed_add(&s->value, (uint64_t)delta);
}

void wf_histogram_observe(wf_series_t *s, double value)
{
    if (s == NULL)
        return;
    const wf_metric_family_t *f = s->family;
    uint32_t i = 0;
    while (i < f->nbounds && value > f->bounds[i])
        i++;
    relaxed_add(&s->buckets[i], 1);
    relaxed_add(&s->value, 1);
    double sum;
    uint64_t bits = atomic_load_explicit(&s->sum, memory_order_relaxed);
    memcpy(&sum, &bits, sizeof(sum));
    sum += value;
    memcpy(&bits, &sum, sizeof(bits));
    atomic_store_explicit(&s->sum, bits, memory_order_relaxed);
}

size_t wf_metrics_expire(wf_metrics_shard_t *shard, uint64_t now_ms, uint64_t retain_ms)
{
    size_t freed = 0;
    pthread_mutex_lock(&shard->mu);
    for (uint32_t f = 0; f < WF_METRICS_MAX_FAMILIES; f++) {
        _Atomic(wf_series_t *) *link = &shard->lists[f];
        wf_series_t *s;
        while ((s = atomic_load_explicit(link, memory_order_relaxed)) != NULL) {
            if (s->refs == 0 && now_ms - s->touched_ms > retain_ms) {
                atomic_store_explicit(link, atomic_load_explicit(&s->next, memory_order_relaxed),
                                      memory_order_relaxed);
                wf_series_t **h = &shard->hash[s->hash & (SHARD_HASH_SIZE - 1)];
                while (*h != s)
                    h = &(*h)->hnext;
                *h = s->hnext;
                series_free(s);
                freed++;
            } else {
                link = &s->next;
            }
        }
    }
    pthread_mutex_unlock(&shard->mu);
    return freed;
}

/* Moves every series of `from` into `to` (both locked by the caller),
 * summing into an existing series with the same labels. */
static void shard_fold(wf_metrics_shard_t *to, wf_metrics_shard_t *from)
{
    for (uint32_t f = 0; f < nfamilies; f++) {
        wf_series_t *s = atomic_load_explicit(&from->lists[f], memory_order_relaxed);
        while (s != NULL) {
            wf_series_t *next = atomic_load_explicit(&s->next, memory_order_relaxed);
            wf_str_t labels = {s->labels, s->labels_len};
            uint32_t h = s->hash;
            wf_series_t *dst = NULL;
            for (wf_series_t *d = to->hash[h & (SHARD_HASH_SIZE - 1)]; d; d = d->hnext)
                if (d->hash == h && d->family == s->family && wf_str_eq((wf_str_t){d->labels, d->labels_len}, labels))
                    dst = d;
            /* Open-connection gauges of a stopped thread are zero by then;
             * counters and histograms are what must survive. */
            if (dst == NULL) {
                s->refs = 0;
                s->hnext = to->hash[h & (SHARD_HASH_SIZE - 1)];
                to->hash[h & (SHARD_HASH_SIZE - 1)] = s;
                atomic_store_explicit(&s->next, atomic_load_explicit(&to->lists[f], memory_order_relaxed), memory_order_relaxed);
                atomic_store_explicit(&to->lists[f], s, memory_order_release);
            } else {
                relaxed_add(&dst->value, atomic_load_explicit(&s->value, memory_order_relaxed));
                if (s->buckets != NULL) {
                    for (uint32_t b = 0; b <= s->family->nbounds; b++)
                        relaxed_add(&dst->buckets[b], atomic_load_explicit(&s->buckets[b], memory_order_relaxed));
                    double a, c;
                    uint64_t ab = atomic_load_explicit(&dst->sum, memory_order_relaxed);
                    uint64_t cb = atomic_load_explicit(&s->sum, memory_order_relaxed);
                    memcpy(&a, &ab, 8);
                    memcpy(&c, &cb, 8);
                    a += c;
                    memcpy(&ab, &a, 8);
                    atomic_store_explicit(&dst->sum, ab, memory_order_relaxed);
                }
                series_free(s);
            }
            s = next;
        }
        atomic_store_explicit(&from->lists[f], NULL, memory_order_relaxed);
    }
}

void wf_metrics_shard_free(wf_metrics_shard_t *shard)
{
    if (shard == NULL)
        return;
    pthread_mutex_lock(&registry_mu);
    for (wf_metrics_shard_t **p = &shards; *p != NULL; p = &(*p)->next) {
        if (*p == shard) {
            *p = shard->next;
            break;
        }
    }
    if (retired == NULL) {
        retired = calloc(1, sizeof(*retired));
        if (retired != NULL)
            pthread_mutex_init(&retired->mu, NULL);
    }
    if (retired != NULL) {
        pthread_mutex_lock(&retired->mu);
        pthread_mutex_lock(&shard->mu);
        shard_fold(retired, shard);
        pthread_mutex_unlock(&shard->mu);
        pthread_mutex_unlock(&retired->mu);
    }
    pthread_mutex_unlock(&registry_mu);
    pthread_mutex_destroy(&shard->mu);
    free(shard);
}

/* --- scrape ---------------------------------------------------------------- */

/* One label set's totals across shards while rendering a family. */
typedef struct agg {
    const char *labels; /* borrowed from a series; shards stay locked */
    uint32_t labels_len, hash;
    uint64_t value;
    double sum;
    uint64_t *buckets; /* owned */
} agg_t;

typedef struct agg_table {
    agg_t *slots;
    size_t cap, count;
} agg_table_t;

static agg_t *agg_find(agg_table_t *t, const wf_series_t *s)
{
    if (t->count * 2 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        agg_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slots[i].labels == NULL)
                continue;
            size_t j = t->slots[i].hash & (cap - 1);
            while (slots[j].labels != NULL)
                j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t j = s->hash & (t->cap - 1);
    while (t->slots[j].labels != NULL) {
        agg_t *a = &t->slots[j];
        if (a->hash == s->hash && a->labels_len == s->labels_len &&
            memcmp(a->labels, s->labels, s->labels_len) == 0)
            return a;
        j = (j + 1) & (t->cap - 1);
    }
    agg_t *a = &t->slots[j];
    a->labels = s->labels;
    a->labels_len = s->labels_len;
    a->hash = s->hash;
    if (s->family->type == WF_METRIC_HISTOGRAM) {
        a->buckets = calloc(s->family->nbounds + 1, sizeof(uint64_t));
        if (a->buckets == NULL) {
            a->labels = NULL;
            return NULL;
        }
    }
    t->count++;
    return a;
}

static void agg_series(agg_table_t *t, const wf_series_t *s)
{
    agg_t *a = agg_find(t, s);
    if (a == NULL)
        return;
    a->value += atomic_load_explicit(&s->value, memory_order_relaxed);
    if (s->buckets != NULL) {
        for (uint32_t b = 0; b <= s->family->nbounds; b++)
            a->buckets[b] += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        uint64_t bits = atomic_load_explicit(&s->sum, memory_order_relaxed);
        double d;
        memcpy(&d, &bits, sizeof(d));
        a->sum += d;
    }
}

static void fmt_double(char *out, size_t len, double v)
{
    if (isinf(v))
        snprintf(out, len, "+Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        snprintf(out, len, "%lld", (long long)v);
    else
        snprintf(out, len, "%.17g", v);
}

static void render_family(wf_sbuf_t *out, const wf_metric_family_t *f, agg_table_t *t)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    wf_sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    for (size_t i = 0; i < t->cap; i++) {
        agg_t *a = &t->slots[i];
        if (a->labels == NULL)
            continue;
        const char *open = a->labels_len ? "{" : "", *close = a->labels_len ? "}" : "";
        if (f->type == WF_METRIC_COUNTER) {
            wf_sbuf_printf(out, "%s%s%.*s%s %llu\n", f->name, open, (int)a->labels_len, a->labels,
                           close, (unsigned long long)a->value);
        } else if (f->type == WF_METRIC_GAUGE) {
            wf_sbuf_printf(out, "%s%s%.*s%s %lld\n", f->name, open, (int)a->labels_len, a->labels,
                           close, (long long)(int64_t)a->value);
        } else {
            const char *sep = a->labels_len ? "," : "";
            uint64_t cum = 0;
            char le[32];
            for (uint32_t b = 0; b <= f->nbounds; b++) {
                cum += a->buckets[b];
                fmt_double(le, sizeof(le), b < f->nbounds ? f->bounds[b] : INFINITY);
                wf_sbuf_printf(out, "%s_bucket{%.*s%sle=\"%s\"} %llu\n", f->name,
                               (int)a->labels_len, a->labels, sep, le, (unsigned long long)cum);
            }
            char sum[40];
            fmt_double(sum, sizeof(sum), a->sum);
            wf_sbuf_printf(out, "%s_sum%s%.*s%s %s\n", f->name, open, (int)a->labels_len,
                           a->labels, close, sum);
            wf_sbuf_printf(out, "%s_count%s%.*s%s %llu\n", f->name, open, (int)a->labels_len,
                           a->labels, close, (unsigned long long)a->value);
        }
    }
}

static void agg_clear(agg_table_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].buckets);
    free(t->slots);
    *t = (agg_table_t){0};
}

/* Calls fn for each family with its aggregated label sets, shards locked. */
static void scrape(void (*fn)(const wf_metric_family_t *, agg_table_t *, void *), void *arg)
{
    pthread_mutex_lock(&registry_mu);
    for (wf_metrics_shard_t *s = shards; s != NULL; s = s->next)
        pthread_mutex_lock(&s->mu);
    if (retired != NULL)
        pthread_mutex_lock(&retired->mu);
    for (uint32_t f = 0; f < nfamilies; f++) {
        agg_table_t t = {0};
        for (wf_metrics_shard_t *s = shards;; s = s->next) {
            wf_metrics_shard_t *sh = s != NULL ? s : retired;
            if (sh != NULL)
                for (wf_series_t *x = atomic_load_explicit(&sh->lists[f], memory_order_acquire);
                     x != NULL; x = atomic_load_explicit(&x->next, memory_order_acquire))
                    agg_series(&t, x);
            if (s == NULL)
                break;
        }
        fn(families[f], &t, arg);
        agg_clear(&t);
    }
    if (retired != NULL)
        pthread_mutex_unlock(&retired->mu);
    for (wf_metrics_shard_t *s = shards; s != NULL; s = s->next)
        pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&registry_mu);
}

static void render_cb(const wf_metric_family_t *f, agg_table_t *t, void *arg)
{
    if (t->count > 0)
        render_family(arg, f, t);
}

void wf_metrics_render(wf_sbuf_t *out)
{
    scrape(render_cb, out);
}

typedef struct sum_query {
    const char *name;
    const char *match;
    double total;
} sum_query_t;

/* True if every k="v" item of match appears in labels. Both are rendered
 * label lists, so items compare as whole `k="v"` strings. */
static bool labels_match(const char *labels, size_t len, const char *match)
{
    const char *m = match;
    while (*m) {
        const char *end = m;
        bool inq = false;
        while (*end && (inq || *end != ',')) {
            if (*end == '"' && (end == m || end[-1] != '\\'))
                inq = !inq;
            end++;
        }
        size_t ml = (size_t)(end - m);
        bool found = false;
        for (size_t i = 0; i + ml <= len; i++) {
            if ((i == 0 || labels[i - 1] == ',') && memcmp(labels + i, m, ml) == 0 &&
                (i + ml == len || labels[i + ml] == ',')) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
        m = *end ? end + 1 : end;
    }
    return true;
}

static void sum_cb(const wf_metric_family_t *f, agg_table_t *t, void *arg)
{
    sum_query_t *q = arg;
    if (strcmp(f->name, q->name) != 0)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].labels != NULL &&
            labels_match(t->slots[i].labels, t->slots[i].labels_len, q->match))
            q->total += f->type == WF_METRIC_GAUGE ? (double)(int64_t)t->slots[i].value
                                                   : (double)t->slots[i].value;
}

double wf_metrics_sum(const char *family_name, const char *match)
{
    sum_query_t q = {family_name, match ? match : "", 0};
    scrape(sum_cb, &q);
    return q.total;
}

void wf_labels_add(wf_sbuf_t *labels, const char *name, wf_str_t value)
{
    if (labels->len > 0)
        wf_sbuf_append(labels, ",", 1);
    wf_sbuf_puts(labels, name);
    wf_sbuf_append(labels, "=\"", 2);
    for (size_t i = 0; i < value.len; i++) {
        char c = value.ptr[i];
        if (c == '\\' || c == '"')
            wf_sbuf_append(labels, "\\", 1);
        if (c == '\n')
            wf_sbuf_append(labels, "\\n", 2);
        else
            wf_sbuf_append(labels, &c, 1);
    }
    wf_sbuf_append(labels, "\"", 1);
}
