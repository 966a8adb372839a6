/* proc_ckpt: window state in Redis (see proc_ckpt.h). */
#include "proc_ckpt.h"

#include "proc_def.h"
#include "proc_engine.h"
#include "proc_window.h"

#include "cm/err.h"
#include "cm/jsonw.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/redis.h"
#include "cm/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS_PER_COMMAND 1000

char *proc_ckpt_key(const struct proc_def *d, int32_t source)
{
    return cm_xasprintf("{processor:%s:%d}:v%lld", d->name, (int)source, d->version);
}

/* Commands being built: every argument in one buffer (NUL-terminated, one after the other),
 * found by offset, so a snapshot of thousands of keys costs a few allocations, not one per
 * field. */
struct batch {
    char *buf;
    size_t len, bufcap;
    size_t *off; /* where each argument starts */
    size_t nargs, capargs;
    size_t *first; /* each command's first argument */
    int *argc;
    size_t n, cap;
};

static void new_command(struct batch *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->first = cm_xrealloc(b->first, b->cap * sizeof(*b->first));
        b->argc = cm_xrealloc(b->argc, b->cap * sizeof(*b->argc));
    }
    b->first[b->n] = b->nargs;
    b->argc[b->n++] = 0;
}

/* Appends an argument made of two parts (the second may be empty). */
static void arg2(struct batch *bt, const char *a, size_t alen, const char *c, size_t clen)
{
    if (bt->len + alen + clen + 1 > bt->bufcap) {
        bt->bufcap = bt->bufcap ? bt->bufcap * 2 : 4096;
        while (bt->bufcap < bt->len + alen + clen + 1) {
            bt->bufcap *= 2;
        }
        bt->buf = cm_xrealloc(bt->buf, bt->bufcap);
    }
    if (bt->nargs == bt->capargs) {
        bt->capargs = bt->capargs ? bt->capargs * 2 : 64;
        bt->off = cm_xrealloc(bt->off, bt->capargs * sizeof(*bt->off));
    }
    bt->off[bt->nargs++] = bt->len;
    memcpy(bt->buf + bt->len, a, alen);
    if (clen) {
        memcpy(bt->buf + bt->len + alen, c, clen);
    }
    bt->len += alen + clen;
    bt->buf[bt->len++] = '\0';
    bt->argc[bt->n - 1]++;
}

static void arg(struct batch *b, const char *s)
{
    arg2(b, s, strlen(s), NULL, 0);
}

static void arg_int(struct batch *b, long long v)
{
    char text[24];
    arg2(b, text, (size_t)snprintf(text, sizeof(text), "%lld", v), NULL, 0);
}

static void batch_free(struct batch *b)
{
    free(b->buf);
    free(b->off);
    free(b->first);
    free(b->argc);
    memset(b, 0, sizeof(*b));
}

struct save_ctx {
    struct batch b;
    const char *key;
    size_t in_hset, in_hdel; /* fields in the open HSET / HDEL command */
    int hset_open, hdel_open;
};

static void on_change(const char *name, int block, const char *state, size_t len, void *ud)
{
    struct save_ctx *c = ud;
    struct batch *b = &c->b;
    char prefix[16] = "k:"; /* a key's state; "d<n>:" a block of its ids */
    if (block != PROC_KEY_STATE) {
        snprintf(prefix, sizeof(prefix), "d%d:", block);
    }
    if (state) {
        if (!c->hset_open || c->in_hset == FIELDS_PER_COMMAND) {
            new_command(b);
            arg(b, "HSET");
            arg(b, c->key);
            c->hset_open = 1;
            c->hdel_open = 0;
            c->in_hset = 0;
        }
        arg2(b, prefix, strlen(prefix), name, strlen(name));
        arg2(b, state, len, NULL, 0);
        c->in_hset++;
    } else {
        if (!c->hdel_open || c->in_hdel == FIELDS_PER_COMMAND) {
            new_command(b);
            arg(b, "HDEL");
            arg(b, c->key);
            c->hdel_open = 1;
            c->hset_open = 0;
            c->in_hdel = 0;
        }
        arg2(b, prefix, strlen(prefix), name, strlen(name));
        c->in_hdel++;
    }
}

/* One source's checkpoint: the commands of its atomic write (write_script). */
struct source_ckpt {
    char *key;
    char owner[CM_UUID_STR_LEN]; /* the writer's fencing token (proc_ckpt_claim) */
    int full;
    long long seq; /* its number (proc_windows_next_seq) */
    struct batch b;
};

struct proc_ckpt_snap {
    struct source_ckpt *v;
    size_t n, cap;
};

struct each_ctx {
    struct proc_engine *engine;
    const struct proc_def *d;
    proc_ckpt_position_fn position;
    void *ud;
    const char *owner;
    struct proc_ckpt_snap *snap;
};

static void snapshot_report(int32_t origin, int64_t wm, int idle, int64_t sent_ms, void *ud)
{
    struct save_ctx *c = ud;
    char f[24], v[72];
    int fl = snprintf(f, sizeof(f), "r:%d", (int)origin);
    int vl =
        snprintf(v, sizeof(v), "%lld:%d:%lld", (long long)wm, idle ? 1 : 0, (long long)sent_ms);
    arg2(&c->b, f, (size_t)fl, NULL, 0);
    arg2(&c->b, v, (size_t)vl, NULL, 0);
}

static void snapshot_source(int32_t source, int64_t max_time, int64_t resume,
                            struct proc_windows *w, void *ud)
{
    struct each_ctx *e = ud;
    int64_t offset = e->position(source, e->ud);
    if (offset < 0) {
        offset = resume;
    }
    if (offset < 0) {
        return; /* nothing read from it yet */
    }
    struct proc_ckpt_snap *snap = e->snap;
    if (snap->n == snap->cap) {
        snap->cap = snap->cap ? snap->cap * 2 : 8;
        snap->v = cm_xrealloc(snap->v, snap->cap * sizeof(*snap->v));
    }
    struct source_ckpt *sc = &snap->v[snap->n++];
    memset(sc, 0, sizeof(*sc));
    sc->key = proc_ckpt_key(e->d, source);
    sc->full = proc_windows_full(w);
    sc->seq = proc_windows_next_seq(w);
    snprintf(sc->owner, sizeof(sc->owner), "%s", e->owner);
    struct save_ctx c = {.key = sc->key};
    /* The commands run in one Lua script (write_script), atomically, as a MULTI/EXEC would.
     * A full checkpoint replaces the hash and marks it whole; an incremental one reads the mark
     * first: when Redis lost the hash meanwhile, the mark is gone and a full one must follow.
     * Each is numbered: a full one sets `seq` and `wseq` to its number, an incremental one adds 1
     * to `seq` and sets `wseq`. When Redis no longer holds the one before (a replica promoted
     * before an incremental write reached it), `seq` comes out short, is told, and stays unequal
     * to `wseq`, so the hash is never loaded until a full one replaces it. */
    new_command(&c.b);
    arg(&c.b, sc->full ? "DEL" : "HGET");
    arg(&c.b, sc->key);
    if (!sc->full) {
        arg(&c.b, "whole");
        new_command(&c.b);
        arg(&c.b, "HINCRBY");
        arg(&c.b, sc->key);
        arg(&c.b, "seq");
        arg(&c.b, "1");
    }
    new_command(&c.b);
    arg(&c.b, "HSET");
    arg(&c.b, sc->key);
    arg(&c.b, "wseq");
    arg_int(&c.b, sc->seq);
    if (sc->full) {
        arg(&c.b, "seq");
        arg_int(&c.b, sc->seq);
    }
    arg(&c.b, "offset");
    arg_int(&c.b, (long long)offset);
    arg(&c.b, "def");
    arg(&c.b, e->d->digest);
    arg(&c.b, "wm");
    arg_int(&c.b, (long long)max_time);
    /* a partition's own watermark (and, in a second stage, the reports it heard), so what it reads
     * again after this point is judged as the first time */
    int64_t swm = proc_engine_source_watermark(e->engine, source, snapshot_report, &c);
    if (swm > INT64_MIN) {
        arg(&c.b, "swm");
        arg_int(&c.b, (long long)swm);
    }
    /* a horizon restored from Kafka's offset metadata that the watermark has not reached yet
     * (proc_engine_restore_horizon): "<offset>,<watermark>" */
    int64_t hz_until = -1;
    int64_t hz = proc_engine_horizon(e->engine, source, &hz_until);
    if (hz_until >= 0) {
        char text[48];
        snprintf(text, sizeof(text), "%lld,%lld", (long long)hz_until, (long long)hz);
        arg(&c.b, "hz");
        arg(&c.b, text);
    }
    if (sc->full) {
        arg(&c.b, "whole");
        arg(&c.b, "1");
    }
    const struct proc_origin *marks;
    size_t nmarks = proc_engine_marks(e->engine, source, &marks);
    if (nmarks > 0) {
        new_command(&c.b);
        arg(&c.b, "HSET");
        arg(&c.b, sc->key);
        for (size_t i = 0; i < nmarks; i++) {
            char o[24], m[48];
            int ol = snprintf(o, sizeof(o), "o:%d", (int)marks[i].origin);
            int ml =
                snprintf(m, sizeof(m), "%lld:%d", (long long)marks[i].offset, (int)marks[i].seq);
            arg2(&c.b, o, (size_t)ol, NULL, 0);
            arg2(&c.b, m, (size_t)ml, NULL, 0);
        }
    }
    proc_windows_changes(w, on_change, &c);
    sc->b = c.b;
}

void proc_ckpt_snapshot(struct proc_engine *e, proc_ckpt_position_fn position, void *ud,
                        const char *owner, struct proc_ckpt_snap **snap)
{
    if (!*snap) {
        *snap = cm_xcalloc(1, sizeof(**snap));
    }
    struct each_ctx c = {e, proc_engine_def(e), position, ud, owner, *snap};
    proc_engine_each_source(e, snapshot_source, &c);
}

static void whole_next(int32_t source, int64_t max_time, int64_t resume, struct proc_windows *w,
                       void *ud)
{
    (void)source;
    (void)max_time;
    (void)resume;
    (void)ud;
    proc_windows_set_full(w, 1);
}

void proc_ckpt_whole_next(struct proc_engine *e)
{
    proc_engine_each_source(e, whole_next, NULL);
}

/* A checkpoint's write: KEYS[1] the hash, ARGV[1] the writer's fencing token, ARGV[2] an
 * incremental checkpoint's number (empty for a full one), then each command as its number of
 * words and the words. An incremental checkpoint the hash already holds (its `seq` and `wseq`
 * both its number: a write that timed out but went in, sent again) is not applied twice, which
 * would count it twice; its first two replies (the `whole` mark and the number) come back as
 * they did. Refused whole (FENCED) when the hash names another owner:
 * another instance took the partition over (proc_ckpt_claim) since this one was given it. A hash
 * that names none (lost by Redis, or written by an earlier build) takes the write. Only a claim
 * names an owner: a full checkpoint (DEL, then the fields) keeps the one the hash had, so a
 * zombie's write never makes a hash its own. The commands' replies come back in order, as EXEC's
 * would. */
static const char write_script[] =
    "local o = redis.call('HGET', KEYS[1], 'owner')\n"
    "if o and o ~= ARGV[1] then return redis.error_reply('FENCED by ' .. o) end\n"
    "if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'seq') == ARGV[2] and\n"
    "    redis.call('HGET', KEYS[1], 'wseq') == ARGV[2] then\n"
    "  return {redis.call('HGET', KEYS[1], 'whole'), tonumber(ARGV[2])}\n"
    "end\n"
    "local out, i = {}, 3\n"
    "while i <= #ARGV do\n"
    "  local n = tonumber(ARGV[i])\n"
    "  out[#out + 1] = redis.call(unpack(ARGV, i + 1, i + n))\n"
    "  i = i + n + 1\n"
    "end\n"
    "if o then redis.call('HSET', KEYS[1], 'owner', o) end\n"
    "return out\n";

/* One source's write: 0, PROC_CKPT_LOST, PROC_CKPT_FENCED or CM_E_UNAVAIL. */
static int write_source(struct cm_redis *r, const struct source_ckpt *sc)
{
    const struct batch *b = &sc->b;
    size_t argc = 3 + b->n + b->nargs;
    const char **argv = cm_xmalloc(argc * sizeof(*argv));
    char(*counts)[12] = cm_xmalloc((b->n ? b->n : 1) * sizeof(*counts));
    size_t k = 0;
    argv[k++] = sc->key;
    argv[k++] = sc->owner;
    char number[24] = "";
    if (!sc->full) {
        snprintf(number, sizeof(number), "%lld", sc->seq);
    }
    argv[k++] = number;
    for (size_t i = 0; i < b->n; i++) {
        snprintf(counts[i], sizeof(counts[i]), "%d", b->argc[i]);
        argv[k++] = counts[i];
        for (int j = 0; j < b->argc[i]; j++) {
            argv[k++] = b->buf + b->off[b->first[i] + (size_t)j];
        }
    }
    struct cm_redis_script script;
    cm_redis_script_init(&script, write_script);
    struct cm_redis_reply *rep = NULL;
    int rc = cm_redis_eval(r, &script, 1, (int)k, argv, NULL, &rep);
    free(counts);
    free(argv);
    if (rc != 0) {
        return CM_E_UNAVAIL;
    }
    const char *msg = cm_redis_reply_str(rep, NULL);
    if (cm_redis_reply_type(rep) == CM_REDIS_ERROR && msg && strncmp(msg, "FENCED", 6) == 0) {
        CM_LOG_WARN("checkpoint_fenced",
                    "%s: not written: another instance took this partition over (%s), so this "
                    "one no longer holds it (paused past the consumer group's session "
                    "timeout?); its offsets are not committed",
                    sc->key, msg);
        rc = PROC_CKPT_FENCED;
    } else if (cm_redis_reply_type(rep) != CM_REDIS_ARRAY) {
        CM_LOG_ERROR("checkpoint_failed", "%s: %s", sc->key, msg ? msg : "no answer");
        rc = CM_E_UNAVAIL;
    } else if (!sc->full) {
        const char *mark = cm_redis_reply_str(cm_redis_reply_elem(rep, 0), NULL);
        const struct cm_redis_reply *seq = cm_redis_reply_elem(rep, 1);
        if (!mark || strcmp(mark, "1") != 0) {
            CM_LOG_WARN("checkpoint_lost",
                        "%s: Redis lost this checkpoint; the next one writes it whole", sc->key);
            rc = PROC_CKPT_LOST;
        } else if (!seq || cm_redis_reply_type(seq) != CM_REDIS_INTEGER ||
                   cm_redis_reply_integer(seq) != sc->seq) {
            CM_LOG_WARN("checkpoint_lost",
                        "%s: Redis holds checkpoint %lld, not %lld: it lost a write (a "
                        "replica promoted before it had all of them?); the next one writes "
                        "it whole",
                        sc->key,
                        seq && cm_redis_reply_type(seq) == CM_REDIS_INTEGER
                            ? cm_redis_reply_integer(seq) - 1
                            : -1LL,
                        sc->seq - 1);
            rc = PROC_CKPT_LOST;
        }
    }
    cm_redis_reply_free(rep);
    return rc;
}

int proc_ckpt_write(struct cm_redis *r, const struct proc_ckpt_snap *snap)
{
    int told = 0;
    for (size_t i = 0; snap && i < snap->n; i++) {
        int rc = write_source(r, &snap->v[i]);
        if (rc < 0) {
            return rc; /* retried whole: each transaction is idempotent */
        }
        told |= rc;
    }
    return told;
}

int proc_ckpt_claim(struct cm_redis *r, const struct proc_def *d, int32_t source, const char *owner)
{
    char *key = proc_ckpt_key(d, source);
    const char *argv[] = {"HSET", key, "owner", owner};
    struct cm_redis_reply *rep = NULL;
    int rc = cm_redis_command(r, 4, argv, NULL, &rep);
    if (rc == 0 && cm_redis_reply_type(rep) != CM_REDIS_INTEGER) {
        const char *msg = cm_redis_reply_str(rep, NULL);
        CM_LOG_WARN("checkpoint_unclaimed", "%s: %s", key, msg ? msg : "not claimed");
        rc = CM_E_UNAVAIL;
    }
    cm_redis_reply_free(rep);
    free(key);
    return rc;
}

void proc_ckpt_snap_free(struct proc_ckpt_snap *snap)
{
    if (!snap) {
        return;
    }
    for (size_t i = 0; i < snap->n; i++) {
        free(snap->v[i].key);
        batch_free(&snap->v[i].b);
    }
    free(snap->v);
    free(snap);
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end) {
        return -1;
    }
    *out = v;
    return 0;
}

/* The key's name in a field holding a block of its ids, "d<n>:<name>" (n in decimal, without
 * leading zeros: one field per block), with n; NULL for any other field. */
static const char *ids_block(const char *f, unsigned *block)
{
    if (f[0] != 'd' || f[1] < '0' || f[1] > '9' || (f[1] == '0' && f[2] != ':')) {
        return NULL;
    }
    unsigned long long n = 0;
    const char *p = f + 1;
    for (; *p >= '0' && *p <= '9' && n <= PROC_DEDUP_BLOCKS_MAX; p++) {
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (*p != ':' || n > PROC_DEDUP_BLOCKS_MAX) {
        return NULL;
    }
    *block = (unsigned)n;
    return p + 1;
}

struct block {
    const char *name; /* the key's */
    unsigned n;
    const struct proc_ckpt_field *field;
};

static int by_block(const void *a, const void *b)
{
    const struct block *x = a, *y = b;
    return x->n < y->n ? -1 : x->n > y->n;
}

int proc_ckpt_restore(struct proc_engine *e, int32_t source, const char *key,
                      const struct proc_ckpt_field *fields, size_t n, int64_t now_ms,
                      int64_t *offset)
{
    const struct proc_def *d = proc_engine_def(e);
    int64_t off = -1, wm = INT64_MIN, swm = INT64_MIN, hz_until = -1, hz = INT64_MIN;
    int64_t nseq = -1, nwseq = -1; /* its numbers (checkpoints of earlier builds have neither) */
    int whole = 0, other = 0, rc = 0;
    size_t claims = 0; /* `owner` (proc_ckpt_claim): a hash holding only it holds no checkpoint */
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i].name, *v = fields[i].value;
        if (strcmp(f, "owner") == 0) {
            claims++;
        } else if (strcmp(f, "whole") == 0) {
            whole = v && strcmp(v, "1") == 0;
        } else if (strcmp(f, "def") == 0) {
            other = !v || strcmp(v, d->digest) != 0; /* (checkpoints of earlier builds lack it) */
        } else if (strcmp(f, "offset") == 0) {
            rc = parse_i64(v, &off) ? CM_E_INVAL : rc;
        } else if (strcmp(f, "seq") == 0) {
            rc = parse_i64(v, &nseq) || nseq < 1 ? CM_E_INVAL : rc;
        } else if (strcmp(f, "wseq") == 0) {
            rc = parse_i64(v, &nwseq) || nwseq < 1 ? CM_E_INVAL : rc;
        } else if (strcmp(f, "wm") == 0) {
            rc = parse_i64(v, &wm) || !proc_watermark_ok(wm) ? CM_E_INVAL : rc;
        } else if (strcmp(f, "swm") == 0) {
            rc = parse_i64(v, &swm) || !proc_watermark_ok(swm) ? CM_E_INVAL : rc;
        } else if (strcmp(f, "hz") == 0) {
            long long a, b;
            char end;
            rc = v && sscanf(v, "%lld,%lld%c", &a, &b, &end) == 2 && a >= 0 && proc_watermark_ok(b)
                     ? rc
                     : CM_E_INVAL;
            hz_until = rc == 0 ? a : hz_until;
            hz = rc == 0 ? b : hz;
        }
    }
    if (other && rc == 0) {
        CM_LOG_WARN("checkpoint_other_definition",
                    "%s: a checkpoint of another definition of %s under the same version (a "
                    "changed file without a new \"version\"); recomputing from Kafka",
                    key, d->name);
        return 0;
    }
    if (n == claims || rc != 0 || off < 0 || !whole || nseq != nwseq) {
        if (n > claims) {
            CM_LOG_WARN("checkpoint_partial",
                        "%s: not a whole checkpoint (Redis lost part of "
                        "it); recomputing from Kafka",
                        key);
        }
        return n == claims ? 0 : CM_E_INVAL;
    }
    struct proc_windows *w = proc_engine_restore_source(e, source, wm, off, now_ms);
    if (swm > INT64_MIN) {
        proc_engine_restore_watermark(e, source, swm);
    }
    if (hz_until >= 0) {
        proc_engine_restore_horizon(e, source, hz_until, hz, now_ms);
    }
    size_t keys = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *f = fields[i].name, *v = fields[i].value;
        if (strncmp(f, "o:", 2) == 0) {
            struct proc_origin o;
            long long off2;
            int id, seq;
            char end;
            if (!v || sscanf(f + 2, "%d%c", &id, &end) != 1 ||
                sscanf(v, "%lld:%d%c", &off2, &seq, &end) != 2 || off2 < 0) {
                rc = CM_E_INVAL;
                continue;
            }
            o = (struct proc_origin){id, off2, seq};
            proc_engine_restore_mark(e, source, &o);
            continue;
        }
        if (strncmp(f, "r:", 2) == 0) { /* wm:idle:sent (an earlier build's without sent) */
            long long rwm, sent = 0;
            int id, idle, n2 = -1, n3 = -1;
            char end;
            if (!v || sscanf(f + 2, "%d%c", &id, &end) != 1 ||
                !((sscanf(v, "%lld:%d%n", &rwm, &idle, &n2) == 2 && n2 >= 0 && !v[n2]) ||
                  (sscanf(v, "%lld:%d:%lld%n", &rwm, &idle, &sent, &n3) == 3 && n3 >= 0 &&
                   !v[n3])) ||
                !proc_watermark_ok(rwm) || sent < 0 || sent > CM_TIME_MAX_MS) {
                rc = CM_E_INVAL;
                continue;
            }
            proc_engine_restore_report(e, source, id, rwm, idle, sent);
            continue;
        }
        if (strncmp(f, "k:", 2) != 0) {
            continue;
        }
        json_t *state = v ? json_loadb(v, fields[i].len, 0, NULL) : NULL;
        rc = state && proc_windows_restore(w, f + 2, state) == 0 ? 0 : CM_E_INVAL;
        json_decref(state);
        keys++;
    }
    /* then the blocks of ids of the keys that keep many ("d<n>:<name>", after their keys), in
     * the order of their numbers: a key takes its ids back in the order it took them */
    struct block *blocks = cm_xmalloc((n ? n : 1) * sizeof(*blocks));
    size_t nblocks = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = ids_block(fields[i].name, &blocks[nblocks].n);
        if (name) {
            blocks[nblocks].name = name;
            blocks[nblocks++].field = &fields[i];
        }
    }
    if (nblocks > 1) {
        qsort(blocks, nblocks, sizeof(*blocks), by_block);
    }
    for (size_t i = 0; i < nblocks && rc == 0; i++) {
        const struct proc_ckpt_field *f = blocks[i].field;
        json_t *ids = f->value ? json_loadb(f->value, f->len, 0, NULL) : NULL;
        rc = ids && proc_windows_restore_ids(w, blocks[i].name, blocks[i].n, ids) == 0 ? 0
                                                                                       : CM_E_INVAL;
        json_decref(ids);
    }
    free(blocks);
    rc = rc == 0 ? proc_windows_restored(w) : rc;
    if (rc != 0) {
        CM_LOG_ERROR("checkpoint_invalid",
                     "%s: a key's state does not fit pipeline %s; "
                     "recomputing from Kafka",
                     key, d->name);
        proc_engine_drop_source(e, source);
        return rc;
    }
    proc_windows_set_full(w, 0); /* Redis holds exactly this state */
    proc_windows_set_seq(w, nseq > 0 ? nseq : 0);
    CM_LOG_INFO("checkpoint_loaded", "%s: %zu keys, resuming at offset %lld", key, keys,
                (long long)off);
    *offset = off;
    return 1;
}

int proc_ckpt_load(struct cm_redis *r, struct proc_engine *e, int32_t source, int64_t now_ms,
                   int64_t *offset)
{
    char *key = proc_ckpt_key(proc_engine_def(e), source);
    const char *argv[] = {"HGETALL", key};
    struct cm_redis_reply *rep = NULL;
    int rc = cm_redis_command(r, 2, argv, NULL, &rep);
    if (rc != 0 || cm_redis_reply_type(rep) != CM_REDIS_ARRAY) {
        CM_LOG_WARN("checkpoint_unreadable", "%s: %s; recomputing from Kafka", key,
                    rc ? cm_strerror(rc) : "not a hash");
        cm_redis_reply_free(rep);
        free(key);
        return rc ? rc : CM_E_PROTO;
    }
    size_t n = cm_redis_reply_len(rep) / 2, nf = 0;
    struct proc_ckpt_field *fields = cm_xcalloc(n ? n : 1, sizeof(*fields));
    for (size_t i = 0; i < n; i++) {
        const char *f = cm_redis_reply_str(cm_redis_reply_elem(rep, 2 * i), NULL);
        size_t vlen = 0;
        const char *v = cm_redis_reply_str(cm_redis_reply_elem(rep, 2 * i + 1), &vlen);
        if (f) { /* (a hash's field is always a string) */
            fields[nf++] = (struct proc_ckpt_field){f, v, v ? vlen : 0};
        }
    }
    rc = proc_ckpt_restore(e, source, key, fields, nf, now_ms, offset);
    free(fields);
    cm_redis_reply_free(rep);
    free(key);
    return rc;
}

struct drop_ctx {
    struct cm_redis *r;
    const struct proc_def *d;
    int rc;
};

static void drop_source(int32_t source, int64_t max_time, int64_t resume, struct proc_windows *w,
                        void *ud)
{
    (void)max_time;
    (void)resume;
    (void)w;
    struct drop_ctx *c = ud;
    char *key = proc_ckpt_key(c->d, source);
    const char *argv[] = {"DEL", key};
    struct cm_redis_reply *rep = NULL;
    if (cm_redis_command(c->r, 2, argv, NULL, &rep) != 0) {
        c->rc = CM_E_UNAVAIL;
    }
    cm_redis_reply_free(rep);
    free(key);
}

int proc_ckpt_drop(struct cm_redis *r, struct proc_engine *e)
{
    struct drop_ctx c = {r, proc_engine_def(e), 0};
    proc_engine_each_source(e, drop_source, &c);
    return c.rc;
}

/* 1 when key is exactly "{processor:<name>:<source>}:v<version>" with version below `below`. */
static int key_below(const char *key, size_t len, const char *name, long long below)
{
    char prefix[160];
    int n = snprintf(prefix, sizeof(prefix), "{processor:%s:", name);
    if (n < 0 || (size_t)n >= sizeof(prefix) || len <= (size_t)n ||
        memcmp(key, prefix, (size_t)n) != 0) {
        return 0;
    }
    size_t i = (size_t)n, digits = 0;
    for (; i < len && key[i] >= '0' && key[i] <= '9'; i++) {
        digits++;
    }
    if (digits == 0 || len - i < 4 || memcmp(key + i, "}:v", 3) != 0) {
        return 0;
    }
    long long version = 0;
    for (i += 3, digits = 0; i < len && key[i] >= '0' && key[i] <= '9' && digits < 18; i++) {
        version = version * 10 + (key[i] - '0');
        digits++;
    }
    return i == len && digits > 0 && version < below;
}

struct doomed {
    const char *name;
    long long below;
    char **keys;
    size_t n;
};

static void doom_key(const char *key, size_t len, void *ud)
{
    struct doomed *d = ud;
    for (size_t i = 0; i < d->n; i++) { /* (SCAN may name a key twice) */
        if (strlen(d->keys[i]) == len && memcmp(d->keys[i], key, len) == 0) {
            return;
        }
    }
    if (key_below(key, len, d->name, d->below) && !memchr(key, '\0', len)) {
        d->keys = cm_xrealloc(d->keys, (d->n + 1) * sizeof(*d->keys));
        d->keys[d->n++] = cm_xstrndup(key, len);
    }
}

long proc_ckpt_drop_versions(struct cm_redis *r, const char *name, long long below)
{
    char *pattern = cm_xasprintf("{processor:%s:*}:v*", name);
    struct doomed d = {name, below, NULL, 0};
    int rc = cm_redis_scan(r, pattern, doom_key, &d);
    free(pattern);
    long dropped = 0;
    if (rc == 0 && d.n > 0) { /* one DEL each: a cluster keeps each partition's in its slot */
        const char *(*argvs)[2] = cm_xmalloc(d.n * sizeof(*argvs));
        const char *const **args = cm_xmalloc(d.n * sizeof(*args));
        int *argcs = cm_xmalloc(d.n * sizeof(*argcs));
        struct cm_redis_reply **gone = cm_xcalloc(d.n, sizeof(*gone));
        for (size_t i = 0; i < d.n; i++) {
            argvs[i][0] = "DEL";
            argvs[i][1] = d.keys[i];
            args[i] = argvs[i];
            argcs[i] = 2;
        }
        rc = cm_redis_pipeline(r, d.n, argcs, args, gone);
        for (size_t i = 0; i < d.n; i++) {
            dropped += rc == 0 && cm_redis_reply_type(gone[i]) == CM_REDIS_INTEGER
                           ? cm_redis_reply_integer(gone[i])
                           : 0;
            cm_redis_reply_free(gone[i]);
        }
        free(gone);
        free(argcs);
        free(args);
        free(argvs);
    }
    for (size_t i = 0; i < d.n; i++) {
        free(d.keys[i]);
    }
    free(d.keys);
    return rc ? rc : dropped;
}
