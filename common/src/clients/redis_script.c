/* redis_script: a Lua script run by its SHA-1 (EVALSHA), loaded into Redis the first time and
 * again whenever Redis answers NOSCRIPT (a restart, a failover, SCRIPT FLUSH); on a cluster the
 * load goes to every node (cm_redis_command's SCRIPT). See cm/redis.h. */
#include "cm/redis.h"

#include "cm/err.h"
#include "cm/mem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cm_redis_script_init(struct cm_redis_script *s, const char *text)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    s->text = text;
    s->sha[0] = '\0';
    /* the name Redis gives a script: the SHA-1 of its text, in lower-case hex */
    if (EVP_Digest(text, strlen(text), md, &len, EVP_sha1(), NULL) && len == 20) {
        for (unsigned i = 0; i < len; i++) {
            snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
        }
    }
}

static int is_noscript(const struct cm_redis_reply *rep)
{
    const char *err =
        cm_redis_reply_type(rep) == CM_REDIS_ERROR ? cm_redis_reply_str(rep, NULL) : NULL;
    return err && strncmp(err, "NOSCRIPT", 8) == 0;
}

int cm_redis_eval(struct cm_redis *r, const struct cm_redis_script *s, int nkeys, int argc,
                  const char *const *argv, const size_t *lens, struct cm_redis_reply **out)
{
    *out = NULL;
    char keys[16];
    snprintf(keys, sizeof(keys), "%d", nkeys);
    const char **all = cm_xmalloc((size_t)(argc + 3) * sizeof(*all));
    size_t *all_lens = lens ? cm_xmalloc((size_t)(argc + 3) * sizeof(*all_lens)) : NULL;
    all[0] = "EVALSHA";
    all[1] = s->sha;
    all[2] = keys;
    for (int i = 0; i < argc; i++) {
        all[3 + i] = argv[i];
    }
    if (all_lens) {
        all_lens[0] = 7;
        all_lens[1] = strlen(s->sha);
        all_lens[2] = strlen(keys);
        memcpy(all_lens + 3, lens, (size_t)argc * sizeof(*lens));
    }
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = cm_redis_command(r, argc + 3, all, all_lens, out)) != 0 || !is_noscript(*out)) {
            break;
        }
        cm_redis_reply_free(*out);
        *out = NULL;
        const char *load[] = {"SCRIPT", "LOAD", s->text};
        struct cm_redis_reply *lr = NULL;
        rc = cm_redis_command(r, 3, load, NULL, &lr);
        size_t len = 0;
        const char *sha = rc == 0 && cm_redis_reply_type(lr) == CM_REDIS_STRING
                              ? cm_redis_reply_str(lr, &len)
                              : NULL;
        int same = sha && len == strlen(s->sha) && memcmp(sha, s->sha, len) == 0;
        cm_redis_reply_free(lr);
        if (rc != 0) {
            break;
        }
        if (!same) {
            rc = CM_E_PROTO; /* Redis names it otherwise: not a Redis we know */
            break;
        }
        rc = CM_E_UNAVAIL; /* (if NOSCRIPT comes again: loaded, then lost at once) */
    }
    free(all);
    free(all_lens);
    if (rc != 0) {
        cm_redis_reply_free(*out);
        *out = NULL;
    }
    return rc;
}
