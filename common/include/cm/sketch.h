/* sketch: mergeable summaries for streaming aggregates (hashed with cm/hash.h).
 *  - cm_hll: HyperLogLog distinct count, 2^14 registers (standard error 0.81 %), exact while it
 *    holds at most 128 distinct hashes (a sorted list), then dense; estimated with Ertl's improved
 *    raw estimator (unbiased over the whole range, no empirical tables).
 *  - cm_dds: DDSketch quantiles with 1 % relative accuracy (a returned quantile is within 1 % of
 *    the true value of that rank), logarithmic buckets, at most 2048 per sign (the lowest ones
 *    collapse beyond that); it keeps the exact least and greatest values too, so quantile 0 and
 *    1 are exact and no estimate lies outside them (a single value comes back as it was).
 * Both merge (associative, commutative, the empty sketch the identity) and serialize to a
 * compact byte string for checkpoints. Not thread-safe; one owner. */
#ifndef CM_SKETCH_H
#define CM_SKETCH_H

#include <stddef.h>
#include <stdint.h>

struct cm_hll;
struct cm_hll *cm_hll_new(void);
void cm_hll_free(struct cm_hll *h);
struct cm_hll *cm_hll_copy(const struct cm_hll *h);
void cm_hll_add_hash(struct cm_hll *h, uint64_t hash);
void cm_hll_add(struct cm_hll *h, const void *data, size_t len);
/* into += from. */
void cm_hll_merge(struct cm_hll *into, const struct cm_hll *from);
double cm_hll_estimate(const struct cm_hll *h);
/* Serialized form: caller frees *out; returns its length. */
size_t cm_hll_serialize(const struct cm_hll *h, unsigned char **out);
/* NULL when buf is not a serialized HLL. */
struct cm_hll *cm_hll_deserialize(const unsigned char *buf, size_t len);

struct cm_dds;
#define CM_DDS_ACCURACY 0.01
struct cm_dds *cm_dds_new(void);
void cm_dds_free(struct cm_dds *d);
struct cm_dds *cm_dds_copy(const struct cm_dds *d);
/* Adds v; NaN and infinities are not values it holds and are left out. */
void cm_dds_add(struct cm_dds *d, double v);
void cm_dds_merge(struct cm_dds *into, const struct cm_dds *from);
uint64_t cm_dds_count(const struct cm_dds *d);
/* The q-quantile (0 <= q <= 1); NaN when empty. */
double cm_dds_quantile(const struct cm_dds *d, double q);
/* The least and greatest values added; NaN when empty or unknown (read from format 1). */
double cm_dds_min(const struct cm_dds *d);
double cm_dds_max(const struct cm_dds *d);
size_t cm_dds_serialize(const struct cm_dds *d, unsigned char **out);
/* NULL when buf is not a sketch cm_dds_serialize wrote (bins outside the values' range too). */
struct cm_dds *cm_dds_deserialize(const unsigned char *buf, size_t len);

#endif
