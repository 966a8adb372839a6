/* regex: PCRE2 compiled once and matched under the suite's limits (see cm/regex.h). Match data
 * and the match context are per thread, so one compiled pattern serves many threads. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "cm/regex.h"

#include "cm/mem.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct thread_regex {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
};

static pthread_key_t regex_key;
static pthread_once_t regex_once = PTHREAD_ONCE_INIT;

static void thread_regex_free(void *p)
{
    struct thread_regex *t = p;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mc);
    pcre2_jit_stack_free(t->stack);
    free(t);
}

static void regex_key_init(void)
{
    pthread_key_create(&regex_key, thread_regex_free);
}

static struct thread_regex *thread_regex(void)
{
    pthread_once(&regex_once, regex_key_init);
    struct thread_regex *t = pthread_getspecific(regex_key);
    if (!t) {
        t = cm_xcalloc(1, sizeof(*t));
        t->md = pcre2_match_data_create(1, NULL); /* a yes-or-no search needs one pair */
        t->mc = pcre2_match_context_create(NULL);
        if (!t->md || !t->mc) {
            abort();
        }
        pcre2_set_match_limit(t->mc, CM_REGEX_MATCH_LIMIT);
        pcre2_set_depth_limit(t->mc, CM_REGEX_DEPTH_LIMIT);
        /* JIT's own stack: 32 KiB by default, which "^(a|b)*$" outgrows on 1,500 characters */
        t->stack = pcre2_jit_stack_create(32 * 1024, CM_REGEX_JIT_STACK, NULL);
        if (t->stack) {
            pcre2_jit_stack_assign(t->mc, NULL, t->stack);
        }
        pthread_setspecific(regex_key, t);
    }
    return t;
}

struct cm_regex *cm_regex_compile(const char *pattern, size_t len, int ucp, char *msg,
                                  size_t msglen)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | (ucp ? PCRE2_UCP : 0),
                                   &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR text[120];
        pcre2_get_error_message(code, text, sizeof(text));
        snprintf(msg, msglen, "%s at offset %zu", (const char *)text, (size_t)offset);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
    return (struct cm_regex *)re;
}

int cm_regex_valid(const char *pattern, size_t len)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF, &code, &offset, NULL);
    pcre2_code_free(re);
    return re != NULL;
}

void cm_regex_free(struct cm_regex *re)
{
    pcre2_code_free((pcre2_code *)re);
}

int cm_regex_search_limit(const struct cm_regex *re, const char *subject, size_t len,
                          unsigned long limit, char *why, size_t whylen)
{
    struct thread_regex *t = thread_regex();
    int own = limit < CM_REGEX_MATCH_LIMIT;
    if (own) {
        pcre2_set_match_limit(t->mc, (uint32_t)limit);
    }
    int rc = pcre2_match((const pcre2_code *)re, (PCRE2_SPTR)subject, len, 0, 0, t->md, t->mc);
    if (own) {
        pcre2_set_match_limit(t->mc, CM_REGEX_MATCH_LIMIT);
    }
    if (rc >= 0) { /* 0: matched, the one-pair vector was just too small for the groups */
        return 1;
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }
    PCRE2_UCHAR text[120];
    pcre2_get_error_message(rc, text, sizeof(text));
    if (why && whylen) {
        snprintf(why, whylen, "%s", (const char *)text);
    }
    return rc == PCRE2_ERROR_MATCHLIMIT ? CM_REGEX_LIMIT_HIT : -1;
}

int cm_regex_search(const struct cm_regex *re, const char *subject, size_t len, char *why,
                    size_t whylen)
{
    int r = cm_regex_search_limit(re, subject, len, CM_REGEX_MATCH_LIMIT, why, whylen);
    return r == CM_REGEX_LIMIT_HIT ? -1 : r;
}
