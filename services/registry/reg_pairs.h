/* reg_pairs: what one compatibility check has learnt of its (reader, writer) pairs, so each pair
 * is compared once, as the subtyping of recursive types is decided (Amadio and Cardelli): without
 * it, schemas whose levels name the next twice (JSON Schema's $ref, Avro's named types) ask for
 * a number of comparisons exponential in their length. A pair met again gives its outcome. A pair
 * met again while still under comparison (a cycle) is taken as accepted there; what rests on
 * that stays provisional until that pair is decided, and is forgotten if it is refused, so no
 * pair is ever accepted on an assumption that failed. Keys name a pair and the context it is
 * compared in (reported, or probed for an answer only). Not thread-safe: one per check. */
#ifndef REG_PAIRS_H
#define REG_PAIRS_H

#include <stddef.h>

/* Pairs compared in one check at most; past it every new pair is refused. */
#define REG_PAIRS_MAX 100000
/* A depth deeper than any: nothing open further up was met. */
#define REG_PAIRS_NONE 1000000

struct reg_pairs;

enum reg_pair_seen {
    REG_PAIR_NEW,      /* now open: compare it, then reg_pairs_end */
    REG_PAIR_ACCEPTED, /* compared before and accepted */
    REG_PAIR_REFUSED,  /* compared before and refused, or past REG_PAIRS_MAX */
    REG_PAIR_ASSUMED   /* under comparison further up, or resting on such a pair: take it as
                        * accepted (*low now says how far up it rests) */
};

struct reg_pairs *reg_pairs_new(void);
void reg_pairs_free(struct reg_pairs *p);

/* Before comparing the pair `key` at `depth` (the comparison's nesting, probes included, below
 * 1000). *low is the comparison's running minimum of the depths it rests on; *mark is set for
 * reg_pairs_end. */
enum reg_pair_seen reg_pairs_begin(struct reg_pairs *p, const char *key, int depth, int *low,
                                   size_t *mark);
/* After comparing the pair reg_pairs_begin opened: refused or not, and `low`, the lowest depth
 * of an open pair the comparison met (through its probes too; REG_PAIRS_NONE when none). */
void reg_pairs_end(struct reg_pairs *p, const char *key, int depth, size_t mark, int refused,
                   int low);
/* Whether the check went past REG_PAIRS_MAX (its verdict is then a refusal). */
int reg_pairs_exhausted(const struct reg_pairs *p);

#endif
