/* rules_set: the set of alert rules, loaded from a JSON file, and matching events against it.
 * File format: {"rules": [{"id": "big-payment", "condition": "type == 'payment.created' &&
 * data.amount > 1000"}, ...]}; a condition is an expression of docs/expressions.md. The shorthand
 * "types": ["a", "b"] stands for the condition `type in ["a", "b"]`.
 * A rules_set is immutable after loading; share it freely between threads. */
#ifndef RULES_SET_H
#define RULES_SET_H

#include <jansson.h>
#include <stddef.h>

struct rules_set;

/* Loads and validates a rules document. Returns the set (caller frees with rules_set_free) or
 * NULL with one line naming the problem in err. */
struct rules_set *rules_set_parse(const char *text, size_t len, char *err, size_t errlen);
struct rules_set *rules_set_load_file(const char *path, char *err, size_t errlen);
void rules_set_free(struct rules_set *set);

size_t rules_set_count(const struct rules_set *set);
/* Id of the next rule whose condition is true for ev, counting from `*cursor` (start at 0); NULL
 * when no more match. A condition that fails to evaluate counts as false and adds one to *errors
 * (may be NULL). Borrowed from the set. */
const char *rules_set_next_match(const struct rules_set *set, const json_t *ev, size_t *cursor,
                                 size_t *errors);

/* The alert CloudEvent for a rule match (caller owns): deterministic id from rule id and the
 * event's source and id, so a replay yields the same alert. */
json_t *rules_alert_new(const char *rule_id, const json_t *ev);

#endif
