/* sketch: HyperLogLog and DDSketch (see sketch.h).
 * HLL registers hold, for the 2^14 buckets chosen by a hash's top 14 bits, the position of the
 * first 1 bit in the other 50 (1..51). The estimate is Ertl's improved raw estimator ("New
 * cardinality estimation algorithms for HyperLogLog sketches", 2017), from the histogram of
 * register values. DDSketch keeps counts in buckets i = ceil(log_gamma(|v|)), gamma =
 * (1 + a) / (1 - a); a bucket's value 2 gamma^i / (gamma + 1) is within a of every value in it.
 * Serialized forms are little-endian; dense HLL registers are zlib-compressed. */
#include "cm/sketch.h"

#include "cm/bits.h"
#include "cm/hash.h"

#include "cm/mem.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- hash ---- */

/* ---- byte helpers ---- */

static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint64_t get64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

/* ---- HyperLogLog ---- */

#define HLL_P 14
#define HLL_M (1u << HLL_P)
#define HLL_Q (64 - HLL_P)
#define HLL_SPARSE_MAX 128

struct cm_hll {
    uint64_t *sparse; /* sorted distinct hashes while dense == NULL */
    size_t n;
    unsigned char *dense; /* HLL_M registers */
};

struct cm_hll *cm_hll_new(void)
{
    return cm_xcalloc(1, sizeof(struct cm_hll));
}

void cm_hll_free(struct cm_hll *h)
{
    if (h) {
        free(h->sparse);
        free(h->dense);
        free(h);
    }
}

struct cm_hll *cm_hll_copy(const struct cm_hll *h)
{
    struct cm_hll *c = cm_hll_new();
    if (h->dense) {
        c->dense = cm_xmalloc(HLL_M);
        memcpy(c->dense, h->dense, HLL_M);
    } else if (h->n) {
        size_t cap = 1; /* the capacity cm_hll_add_hash assumes: n rounded up to a power of two */
        while (cap < h->n) {
            cap *= 2;
        }
        c->sparse = cm_xmalloc(cap * sizeof(uint64_t));
        memcpy(c->sparse, h->sparse, h->n * sizeof(uint64_t));
        c->n = h->n;
    }
    return c;
}

static void dense_add(unsigned char *reg, uint64_t hash)
{
    uint32_t idx = (uint32_t)(hash >> HLL_Q);
    uint64_t rest = hash << HLL_P; /* the other 50 bits, at the top */
    unsigned rank = rest ? (unsigned)__builtin_clzll(rest) + 1 : HLL_Q + 1;
    if (rank > HLL_Q + 1) {
        rank = HLL_Q + 1;
    }
    if (reg[idx] < rank) {
        reg[idx] = (unsigned char)rank;
    }
}

static void to_dense(struct cm_hll *h)
{
    h->dense = cm_xcalloc(HLL_M, 1);
    for (size_t i = 0; i < h->n; i++) {
        dense_add(h->dense, h->sparse[i]);
    }
    free(h->sparse);
    h->sparse = NULL;
    h->n = 0;
}

void cm_hll_add_hash(struct cm_hll *h, uint64_t hash)
{
    if (h->dense) {
        dense_add(h->dense, hash);
        return;
    }
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->sparse[mid] < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < h->n && h->sparse[lo] == hash) {
        return;
    }
    if (h->n == HLL_SPARSE_MAX) {
        to_dense(h);
        dense_add(h->dense, hash);
        return;
    }
    if ((h->n & (h->n - 1)) == 0) { /* capacity doubles at powers of two */
        h->sparse = cm_xrealloc(h->sparse, (h->n ? h->n * 2 : 1) * sizeof(uint64_t));
    }
    memmove(h->sparse + lo + 1, h->sparse + lo, (h->n - lo) * sizeof(uint64_t));
    h->sparse[lo] = hash;
    h->n++;
}

void cm_hll_add(struct cm_hll *h, const void *data, size_t len)
{
    cm_hll_add_hash(h, cm_hash64(data, len));
}

void cm_hll_merge(struct cm_hll *into, const struct cm_hll *from)
{
    if (from->dense) {
        if (!into->dense) {
            to_dense(into);
        }
        for (uint32_t i = 0; i < HLL_M; i++) {
            if (into->dense[i] < from->dense[i]) {
                into->dense[i] = from->dense[i];
            }
        }
        return;
    }
    for (size_t i = 0; i < from->n; i++) {
        cm_hll_add_hash(into, from->sparse[i]);
    }
}

static double hll_sigma(double x)
{
    if (x == 1.0) {
        return INFINITY;
    }
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0) {
        return 0.0;
    }
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

double cm_hll_estimate(const struct cm_hll *h)
{
    if (!h->dense) {
        return (double)h->n;
    }
    uint32_t c[HLL_Q + 2] = {0};
    for (uint32_t i = 0; i < HLL_M; i++) {
        c[h->dense[i]]++;
    }
    double m = HLL_M;
    double z = m * hll_tau(1.0 - c[HLL_Q + 1] / m);
    for (int k = HLL_Q; k >= 1; k--) {
        z = 0.5 * (z + c[k]);
    }
    z += m * hll_sigma(c[0] / m);
    return (0.5 / log(2.0)) * m * m / z;
}

size_t cm_hll_serialize(const struct cm_hll *h, unsigned char **out)
{
    if (!h->dense) {
        unsigned char *b = cm_xmalloc(2 + 8 * h->n);
        b[0] = 'H';
        b[1] = 's';
        for (size_t i = 0; i < h->n; i++) {
            put64(b + 2 + 8 * i, h->sparse[i]);
        }
        *out = b;
        return 2 + 8 * h->n;
    }
    uLongf clen = compressBound(HLL_M);
    unsigned char *b = cm_xmalloc(2 + clen);
    b[0] = 'H';
    b[1] = 'z';
    if (compress2(b + 2, &clen, h->dense, HLL_M, 1) != Z_OK) {
        abort(); /* the buffer is compressBound: cannot fail but for memory */
    }
    *out = b;
    return 2 + clen;
}

struct cm_hll *cm_hll_deserialize(const unsigned char *buf, size_t len)
{
    if (len < 2 || buf[0] != 'H') {
        return NULL;
    }
    struct cm_hll *h = cm_hll_new();
    if (buf[1] == 's' && (len - 2) % 8 == 0 && (len - 2) / 8 <= HLL_SPARSE_MAX) {
        for (size_t i = 0; i < (len - 2) / 8; i++) {
            cm_hll_add_hash(h, get64(buf + 2 + 8 * i));
        }
        return h;
    }
    if (buf[1] == 'z') {
        h->dense = cm_xmalloc(HLL_M);
        uLongf dlen = HLL_M;
        if (uncompress(h->dense, &dlen, buf + 2, len - 2) == Z_OK && dlen == HLL_M) {
            int ok = 1;
            for (uint32_t i = 0; i < HLL_M; i++) {
                ok &= h->dense[i] <= HLL_Q + 1;
            }
            if (ok) {
                return h;
            }
        }
    }
    cm_hll_free(h);
    return NULL;
}

/* ---- DDSketch ---- */

#define DDS_MAX_BINS 2048
#define DDS_MIN_VALUE 1e-9

struct dds_store {
    int32_t offset; /* index of bins[0] */
    uint32_t len;
    uint64_t *bins;
};

struct cm_dds {
    struct dds_store pos, neg;
    uint64_t zero;
    uint64_t count;
    /* the least and greatest value added, exactly (as Datadog's sketches with exact summary
     * statistics): +inf and -inf while empty; -inf and +inf once read from a sketch of format 1,
     * which did not keep them (unknown, so nothing is clamped to them) */
    double min, max;
};

static double dds_gamma(void)
{
    return (1.0 + CM_DDS_ACCURACY) / (1.0 - CM_DDS_ACCURACY);
}

static int32_t dds_index(double v)
{
    return (int32_t)ceil(log(v) / log(dds_gamma()));
}

/* The value bin i stands for, 2·γ^i/(γ+1), in logs so that the bins of values near DBL_MAX do not
 * overflow to infinity on the way (a percentile of 1e308 came out null); the top bin's value may
 * still pass DBL_MAX and is DBL_MAX then, within the accuracy of what it holds. */
static double dds_value(int32_t i)
{
    double g = dds_gamma();
    double v = exp((double)i * log(g) + log(2.0 / (g + 1.0)));
    return isinf(v) ? DBL_MAX : v;
}

struct cm_dds *cm_dds_new(void)
{
    struct cm_dds *d = cm_xcalloc(1, sizeof(struct cm_dds));
    d->min = INFINITY;
    d->max = -INFINITY;
    return d;
}

void cm_dds_free(struct cm_dds *d)
{
    if (d) {
        free(d->pos.bins);
        free(d->neg.bins);
        free(d);
    }
}

static void store_copy(struct dds_store *dst, const struct dds_store *src)
{
    *dst = *src;
    dst->bins = NULL;
    if (src->len) {
        dst->bins = cm_xmalloc(src->len * sizeof(uint64_t));
        memcpy(dst->bins, src->bins, src->len * sizeof(uint64_t));
    }
}

struct cm_dds *cm_dds_copy(const struct cm_dds *d)
{
    struct cm_dds *c = cm_dds_new();
    store_copy(&c->pos, &d->pos);
    store_copy(&c->neg, &d->neg);
    c->zero = d->zero;
    c->count = d->count;
    c->min = d->min;
    c->max = d->max;
    return c;
}

/* Adds n at index i, growing the range; beyond DDS_MAX_BINS the lowest indices collapse. */
static void store_add(struct dds_store *s, int32_t i, uint64_t n)
{
    if (s->len == 0) {
        s->bins = cm_xcalloc(1, sizeof(uint64_t));
        s->offset = i;
        s->len = 1;
    }
    int64_t lo = s->offset < i ? s->offset : i;
    int64_t hi = (int64_t)s->offset + s->len - 1 > i ? (int64_t)s->offset + s->len - 1 : i;
    if (hi - lo + 1 > DDS_MAX_BINS) {
        lo = hi - DDS_MAX_BINS + 1;
    }
    if (lo != s->offset || hi != (int64_t)s->offset + s->len - 1) {
        uint32_t nlen = (uint32_t)(hi - lo + 1);
        uint64_t *nb = cm_xcalloc(nlen, sizeof(uint64_t));
        for (uint32_t k = 0; k < s->len; k++) {
            int64_t idx = (int64_t)s->offset + k;
            nb[idx < lo ? 0 : idx - lo] += s->bins[k];
        }
        free(s->bins);
        s->bins = nb;
        s->offset = (int32_t)lo;
        s->len = nlen;
    }
    s->bins[i < lo ? 0 : i - lo] += n;
}

void cm_dds_add(struct cm_dds *d, double v)
{
    if (!isfinite(v)) { /* (an infinity's bin index would not fit an int32) */
        return;
    }
    d->count++;
    d->min = v < d->min ? v : d->min;
    d->max = v > d->max ? v : d->max;
    if (fabs(v) < DDS_MIN_VALUE) {
        d->zero++;
    } else if (v > 0) {
        store_add(&d->pos, dds_index(v), 1);
    } else {
        store_add(&d->neg, dds_index(-v), 1);
    }
}

static void store_merge(struct dds_store *into, const struct dds_store *from)
{
    for (uint32_t k = 0; k < from->len; k++) {
        if (from->bins[k]) {
            store_add(into, from->offset + (int32_t)k, from->bins[k]);
        }
    }
}

void cm_dds_merge(struct cm_dds *into, const struct cm_dds *from)
{
    store_merge(&into->pos, &from->pos);
    store_merge(&into->neg, &from->neg);
    into->zero += from->zero;
    into->count += from->count;
    into->min = from->min < into->min ? from->min : into->min;
    into->max = from->max > into->max ? from->max : into->max;
}

uint64_t cm_dds_count(const struct cm_dds *d)
{
    return d->count;
}

double cm_dds_min(const struct cm_dds *d)
{
    return d->count && isfinite(d->min) ? d->min : NAN;
}

double cm_dds_max(const struct cm_dds *d)
{
    return d->count && isfinite(d->max) ? d->max : NAN;
}

/* The estimate of the bin that holds rank q·(count − 1). */
static double dds_estimate(const struct cm_dds *d, double q)
{
    double rank = q * (double)(d->count - 1);
    double seen = 0;
    for (uint32_t k = d->neg.len; k-- > 0;) { /* most negative first */
        seen += (double)d->neg.bins[k];
        if (seen > rank) {
            return -dds_value(d->neg.offset + (int32_t)k);
        }
    }
    seen += (double)d->zero;
    if (seen > rank) {
        return 0.0;
    }
    for (uint32_t k = 0; k < d->pos.len; k++) {
        seen += (double)d->pos.bins[k];
        if (seen > rank) {
            return dds_value(d->pos.offset + (int32_t)k);
        }
    }
    return d->pos.len ? dds_value(d->pos.offset + (int32_t)d->pos.len - 1) : 0.0;
}

double cm_dds_quantile(const struct cm_dds *d, double q)
{
    if (d->count == 0 || !(q >= 0 && q <= 1)) {
        return NAN;
    }
    if (q == 0 && isfinite(d->min)) {
        return d->min;
    }
    if (q == 1 && isfinite(d->max)) {
        return d->max;
    }
    /* every value lies in [min, max], so a bin's estimate beyond them is pulled back: never
     * further from the truth, and exact for a single value */
    double v = dds_estimate(d, q);
    v = v < d->min ? d->min : v;
    return v > d->max ? d->max : v;
}

static size_t store_size(const struct dds_store *s)
{
    return 8 + 8 * (size_t)s->len;
}

static unsigned char *store_put(unsigned char *b, const struct dds_store *s)
{
    put64(b, ((uint64_t)(uint32_t)s->offset << 32) | s->len);
    for (uint32_t k = 0; k < s->len; k++) {
        put64(b + 8 + 8 * k, s->bins[k]);
    }
    return b + store_size(s);
}

/* Format 2: "D2", the zero count, min and max (IEEE 754 bits), the positive bins, the negative
 * ones. Format 1 lacked min and max. */
size_t cm_dds_serialize(const struct cm_dds *d, unsigned char **out)
{
    size_t len = 2 + 24 + store_size(&d->pos) + store_size(&d->neg);
    unsigned char *b = cm_xmalloc(len);
    b[0] = 'D';
    b[1] = '2';
    put64(b + 2, d->zero);
    put64(b + 10, cm_double_bits(d->min));
    put64(b + 18, cm_double_bits(d->max));
    store_put(store_put(b + 26, &d->pos), &d->neg);
    *out = b;
    return len;
}

static const unsigned char *store_get(const unsigned char *b, const unsigned char *end,
                                      struct dds_store *s, uint64_t *count)
{
    if (end - b < 8) {
        return NULL;
    }
    uint64_t head = get64(b);
    uint32_t len = (uint32_t)head;
    if (len > DDS_MAX_BINS || (size_t)(end - b - 8) < 8 * (size_t)len) {
        return NULL;
    }
    s->offset = (int32_t)(uint32_t)(head >> 32);
    /* the bins a value can have, from DDS_MIN_VALUE to DBL_MAX: any other range is not a sketch
     * this code wrote, and index arithmetic past it would overflow */
    if (len > 0 && (s->offset < dds_index(DDS_MIN_VALUE) ||
                    (int64_t)s->offset + len - 1 > (int64_t)dds_index(DBL_MAX))) {
        return NULL;
    }
    s->len = len;
    s->bins = len ? cm_xmalloc(len * sizeof(uint64_t)) : NULL;
    for (uint32_t k = 0; k < len; k++) {
        s->bins[k] = get64(b + 8 + 8 * k);
        *count += s->bins[k];
    }
    return b + 8 + 8 * (size_t)len;
}

struct cm_dds *cm_dds_deserialize(const unsigned char *buf, size_t len)
{
    int v2 = len >= 2 && buf[0] == 'D' && buf[1] == '2';
    size_t head = v2 ? 26 : 10;
    if (len < head || buf[0] != 'D' || (buf[1] != '1' && !v2)) {
        return NULL;
    }
    struct cm_dds *d = cm_dds_new();
    const unsigned char *end = buf + len;
    d->zero = get64(buf + 2);
    d->count = d->zero;
    const unsigned char *p = store_get(buf + head, end, &d->pos, &d->count);
    p = p ? store_get(p, end, &d->neg, &d->count) : NULL;
    int ok = p && p == end;
    if (ok && v2) {
        d->min = cm_bits_double(get64(buf + 10));
        d->max = cm_bits_double(get64(buf + 18));
        /* empty: the identities; unknown (one read from format 1 and written again): -inf and
         * +inf; otherwise finite, in order, and on the side of zero the bins say (a least value
         * of 5 with values counted below zero is not a sketch this code wrote) */
        int unknown = d->min == -INFINITY && d->max == INFINITY;
        ok = d->count == 0
                 ? d->min == INFINITY && d->max == -INFINITY
                 : unknown ||
                       (isfinite(d->min) && isfinite(d->max) && d->min <= d->max &&
                        (d->neg.len == 0 || d->min < 0) && (d->pos.len == 0 || d->max > 0) &&
                        (d->zero == 0 || (d->min < DDS_MIN_VALUE && d->max > -DDS_MIN_VALUE)));
    } else if (ok && d->count) {
        d->min = -INFINITY;
        d->max = INFINITY;
    }
    if (!ok) {
        cm_dds_free(d);
        return NULL;
    }
    return d;
}
