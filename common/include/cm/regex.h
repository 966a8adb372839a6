/* regex: the suite's one use of PCRE2, for the expression language's matches() and JSON Schema's
 * pattern and patternProperties. Patterns are compiled once (JIT where available) and may be
 * shared by threads; each match runs under the suite's limits, so a pattern that backtracks
 * without end ("^(a|a)*$" against "aaa...a!") gives up after CM_REGEX_MATCH_LIMIT steps rather
 * than holding a thread for each event (PCRE2's own default allows ten times as many: about
 * 30 ms an event for such a pattern in a schema). */
#ifndef CM_REGEX_H
#define CM_REGEX_H

#include <stddef.h>

#define CM_REGEX_MATCH_LIMIT 1000000
#define CM_REGEX_DEPTH_LIMIT 10000
#define CM_REGEX_JIT_STACK (8 * 1024 * 1024) /* per thread, used as a match needs it */

struct cm_regex;

/* Compiles len bytes of pattern (UTF-8; ucp: \w, \d and the like take Unicode properties, as
 * ECMA-262's "u" patterns of JSON Schema do). NULL with the reason and offset in msg. */
struct cm_regex *cm_regex_compile(const char *pattern, size_t len, int ucp, char *msg,
                                  size_t msglen);
void cm_regex_free(struct cm_regex *re);
/* 1 when pattern compiles (as cm_regex_compile without ucp would), without keeping it. */
int cm_regex_valid(const char *pattern, size_t len);

/* Searches subject (len bytes) for a match: 1 when found, 0 when not, -1 when the match could
 * not be decided within the limits or failed (the reason in why, e.g. "match limit exceeded"). */
int cm_regex_search(const struct cm_regex *re, const char *subject, size_t len, char *why,
                    size_t whylen);
/* The same with a match limit of its own (PCRE2's backtracks; above CM_REGEX_MATCH_LIMIT counts
 * as it): CM_REGEX_LIMIT_HIT when the match reached it undecided, -1 for other failures. With
 * JIT a typical pattern decides within a few backtracks whatever the subject's length. */
#define CM_REGEX_LIMIT_HIT (-2)
int cm_regex_search_limit(const struct cm_regex *re, const char *subject, size_t len,
                          unsigned long limit, char *why, size_t whylen);

#endif
