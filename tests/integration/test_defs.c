/* Integration tests for common/defs (the definitions mechanism) against a real PostgreSQL:
 * writes over HTTP with versions, ETag/If-Match and If-None-Match, validation errors naming the
 * field, no-op repeats, racing writers (exactly one wins), another instance learning every change
 * through LISTEN/NOTIFY, and again after its connection is killed, the previous version handed to
 * an instance that starts later, seeding from files (a file content once; API changes survive),
 * and deletion. And a kind's check against the other definitions (409 naming the field; racing
 * writers serialised, so two never each pass a check the other's write fails; files too). And a
 * stored version an instance refuses (as a release stricter than the one that wrote it does)
 * shown as such by that instance's API, with the version it runs instead, and passed over as
 * the version before the next one it takes. */
#include "harness.h"

#include "cm/defs.h"
#include "cm/err.h"
#include "cm/http.h"
#include "cm/mem.h"
#include "cm/metrics.h"
#include "cm/pg.h"
#include "cm/timeutil.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct widget {
    long long size;
};

/* What an instance was told, in order. */
struct seen {
    pthread_mutex_t lock;
    char log[64][160];
    int n;
    /* by version (below 16), as the changes told them: when it was stored, and when the version
     * its run began with was (a_run_begins_at_a_reset_or_after_a_deletion) */
    int64_t created[16], since_created[16];
};

static void *parse(const json_t *doc, const char *name, long long version, char *err, size_t errlen,
                   void *ud)
{
    (void)name;
    (void)version;
    (void)ud;
    const json_t *size = json_object_get(doc, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 1) {
        snprintf(err, errlen, "size: must be a positive integer");
        return NULL;
    }
    struct widget *w = cm_xcalloc(1, sizeof(*w));
    w->size = json_integer_value(size);
    return w;
}

static void release(void *c)
{
    free(c);
}

static void changed(const struct cm_defs_change *c, void *ud)
{
    struct seen *s = ud;
    const struct widget *w = c->compiled, *p = c->prev_compiled;
    pthread_mutex_lock(&s->lock);
    if (s->n < 64) {
        snprintf(s->log[s->n++], sizeof(s->log[0]), "%s v%lld size=%lld prev=v%lld:%lld%s", c->name,
                 c->version, w ? w->size : -1, c->prev_version, p ? p->size : -1,
                 (c->flags & CM_DEFS_RESET) ? " reset" : "");
    }
    pthread_mutex_unlock(&s->lock);
    free(c->compiled);
    free(c->prev_compiled);
}

static char kind_name[64];
static struct seen seen_a, seen_b, seen_c;

/* The database's URL with the kind's name as application_name, so that this test kills its own
 * connections alone (the other tests run alongside, on the same database). */
static const char *tagged_url(void)
{
    static char url[1024];
    const char *base = it_env("DATABASE_URL");
    snprintf(url, sizeof(url), "%s%sapplication_name=%s", base, strchr(base, '?') ? "&" : "?",
             kind_name);
    return url;
}

static struct cm_defs *instance(struct seen *s)
{
    pthread_mutex_init(&s->lock, NULL);
    struct cm_defs_kind k = {.kind = kind_name,
                             .singular = "widget",
                             .parse = parse,
                             .release = release,
                             .changed = changed,
                             .ud = s};
    return cm_defs_new(tagged_url(), &k, NULL);
}

static struct cm_http_server *srv;

/* An HTTP request to server to (hdr: one more header line, or NULL); answers the status, the
 * body into body (4 KiB) and the ETag into etag. */
static long call_on(struct cm_http_server *to, const char *method, const char *path,
                    const char *data, const char *hdr, char *body, char *etag)
{
    struct it_resp r;
    const char *headers[] = {hdr, NULL};
    it_request(cm_http_port(to), method, path, "application/json", headers, data,
               data ? strlen(data) : 0, &r);
    snprintf(body, 4096, "%.4095s", r.body);
    if (etag) {
        const char *e = strstr(r.headers, "ETag: ");
        etag[0] = '\0';
        if (e) {
            sscanf(e + 6, "%31[^\r\n]", etag);
        }
    }
    return r.status;
}

static long call(const char *method, const char *path, const char *data, const char *hdr,
                 char *body, char *etag)
{
    return call_on(srv, method, path, data, hdr, body, etag);
}

struct has_ctx {
    struct seen *s;
    const char *line;
};

static int has(void *ud)
{
    struct has_ctx *c = ud;
    pthread_mutex_lock(&c->s->lock);
    int found = 0;
    for (int i = 0; i < c->s->n && !found; i++) {
        found = strcmp(c->s->log[i], c->line) == 0;
    }
    pthread_mutex_unlock(&c->s->lock);
    return found;
}

static int told(struct seen *s, const char *line)
{
    struct has_ctx c = {s, line};
    return it_wait_until(10000, has, &c);
}

struct racer {
    char path[128];
    long status;
    struct cm_http_server *to;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char body[4096], etag[32];
    r->status = call("PUT", r->path, "{\"size\": 9}", "If-Match: \"2\"", body, etag);
    return NULL;
}

/* Runs fn for both racers at once, and waits for both. */
static void at_once(struct racer *a, struct racer *b, void *(*fn)(void *))
{
    pthread_t t1, t2;
    pthread_create(&t1, NULL, fn, a);
    pthread_create(&t2, NULL, fn, b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
}

static void a_check_against_the_others(void);
static void a_version_refused_is_shown(void);

Test(defs, versions_notify_races_files_and_history, .timeout = 120)
{
    it_unique(kind_name, sizeof(kind_name), "widgets");
    for (char *p = kind_name; *p; p++) {
        *p = *p == '-' ? '_' : *p;
    }
    struct cm_defs *a = instance(&seen_a), *b = instance(&seen_b);
    cr_assert_eq(cm_defs_start(a), 0);
    cr_assert_eq(cm_defs_start(b), 0);
    struct cm_http_options o = {.bind_addr = "127.0.0.1", .threads = 4};
    srv = cm_http_new(&o);
    cm_defs_routes(a, srv, NULL, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    char path[128], body[4096], etag[32];
    snprintf(path, sizeof(path), "/%s/w1", kind_name);

    /* validation, creation, a no-op repeat, preconditions */
    cr_assert_eq(call("PUT", path, "{\"size\": 0}", NULL, body, etag), 422);
    cr_assert(strstr(body, "size:") != NULL, "%s", body);
    cr_assert_eq(call("PUT", path, "{\"size\": 3, \"size\": 4}", NULL, body, etag), 422, "%s",
                 body);
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 404);
    cr_assert_eq(call("PUT", path, "{\"size\": 3}", NULL, body, etag), 201, "%s", body);
    cr_assert_str_eq(etag, "\"1\"");
    /* told before the next version is written: a listener that comes to a name late reads only
     * its newest version */
    cr_assert(told(&seen_a, "w1 v1 size=3 prev=v0:-1"));
    cr_assert_eq(call("PUT", path, "{\"size\": 3}", NULL, body, etag), 200);
    cr_assert_str_eq(etag, "\"1\"");
    cr_assert(strstr(body, "\"unchanged\":true") != NULL, "%s", body);
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", "If-None-Match: *", body, etag), 412);
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", "If-Match: \"3\"", body, etag), 412);
    cr_assert_str_eq(etag, "\"1\"");
    /* entity-tag lists as RFC 9110 has them: If-None-Match with the current one (weakly), and
     * If-Match with a weak one, are refused; a list holding the current one passes */
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", "If-None-Match: \"0\", W/\"1\"", body, etag),
                 412);
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", "If-Match: W/\"1\"", body, etag), 412);
    cr_assert_eq(call("PUT", path, "{\"size\": 3}", "If-Match: \"0\", \"1\"", body, etag), 200);
    cr_assert(strstr(body, "\"unchanged\":true") != NULL, "%s", body);
    cr_assert_eq(call("PUT", path, "{\"size\": 3}", "If-None-Match: \"7\"", body, etag), 200);
    cr_assert_str_eq(etag, "\"1\"");
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", "If-Match: \"1\"", body, etag), 200);
    cr_assert_str_eq(etag, "\"2\"");
    cr_assert(told(&seen_b, "w1 v2 size=4 prev=v1:3"), "the other instance hears of v2");

    /* two writers with the same If-Match: exactly one wins */
    struct racer r1 = {.to = srv}, r2 = {.to = srv};
    snprintf(r1.path, sizeof(r1.path), "%s", path);
    snprintf(r2.path, sizeof(r2.path), "%s", path);
    at_once(&r1, &r2, race);
    cr_assert((r1.status == 200 && r2.status == 412) || (r1.status == 412 && r2.status == 200),
              "statuses %ld and %ld", r1.status, r2.status);
    cr_assert(told(&seen_b, "w1 v3 size=9 prev=v2:4"));

    /* the listener's connection killed (with the instances' others; not those of the tests
     * alongside): it comes back and catches up on what it missed */
    struct cm_pg *admin = cm_pg_new(it_env("DATABASE_URL"));
    const char *tag[] = {kind_name};
    struct cm_pg_result *killed;
    cr_assert_eq(cm_pg_exec(admin,
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            " AND application_name = $1",
                            1, tag, &killed, NULL),
                 0);
    cr_assert_gt(atoi(cm_pg_value(killed, 0, 0)), 1, "the instances' connections found");
    cm_pg_result_free(killed);
    long st = 0;
    for (int i = 0; i < 100 && st != 200; i++) { /* the pool reconnects on a later use */
        st = call("PUT", path, "{\"size\": 10, \"reset\": 1}", "If-Match: \"3\"", body, etag);
        if (st != 200) {
            cm_sleep_ms(100);
        }
    }
    cr_assert_eq(st, 200, "%s", body);
    cr_assert(told(&seen_b, "w1 v4 size=10 prev=v3:9"), "missed while disconnected, caught up");
    cm_pg_free(admin);

    /* history and an old version */
    char hpath[160];
    snprintf(hpath, sizeof(hpath), "%s/versions", path);
    cr_assert_eq(call("GET", hpath, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, "\"version\":4") != NULL && strstr(body, "\"version\":1") != NULL, "%s",
              body);
    snprintf(hpath, sizeof(hpath), "%s?version=2", path);
    cr_assert_eq(call("GET", hpath, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, "\"size\":4") != NULL, "%s", body);

    /* files: a content once; an API change survives; a changed file takes effect */
    char file[] = "/tmp/defs-seed-XXXXXX";
    int fd = mkstemp(file);
    cr_assert(fd >= 0);
    dprintf(fd, "{\"name\": \"w2\", \"size\": 5}\n");
    close(fd);
    cr_assert_eq(cm_defs_seed(a, file), 0);
    cr_assert(told(&seen_b, "w2 v1 size=5 prev=v0:-1"));
    snprintf(path, sizeof(path), "/%s/w2", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 6}", NULL, body, etag), 200);
    cr_assert_eq(cm_defs_seed(a, file), 0); /* the same file again: left as it is */
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 200);
    cr_assert_str_eq(etag, "\"2\"");
    FILE *f = fopen(file, "w");
    fprintf(f, "{\"name\": \"w2\", \"size\": 7}\n");
    fclose(f);
    cr_assert_eq(cm_defs_seed(a, file), 0);
    cr_assert(told(&seen_b, "w2 v3 size=7 prev=v2:6"));
    f = fopen(file, "w");
    fprintf(f, "{\"name\": \"w2\", \"size\": -1}\n");
    fclose(f);
    cr_assert_neq(cm_defs_seed(a, file), 0, "an invalid file is refused");
    unlink(file);

    /* an instance starting now is told the current versions and the ones before them */
    struct cm_defs *c = instance(&seen_c);
    cr_assert_eq(cm_defs_start(c), 0);
    cr_assert(told(&seen_c, "w1 v4 size=10 prev=v3:9"));
    cr_assert(told(&seen_c, "w2 v3 size=7 prev=v2:6"));

    /* deletion */
    cr_assert_eq(call("DELETE", path, NULL, "If-Match: \"2\"", body, etag), 412);
    cr_assert_eq(call("DELETE", path, NULL, "If-Match: \"3\"", body, etag), 204);
    cr_assert_eq(call("DELETE", path, NULL, NULL, body, etag), 404);
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 404);
    cr_assert(told(&seen_b, "w2 v4 size=-1 prev=v3:7"));
    cr_assert(told(&seen_c, "w2 v4 size=-1 prev=v3:7"));
    json_t *doc = cm_defs_document(b, "w2", NULL);
    cr_assert_null(doc);
    long long v = 0;
    doc = cm_defs_document(b, "w1", &v);
    cr_assert_not_null(doc);
    cr_assert_eq(v, 4);
    json_decref(doc);

    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_defs_free(a);
    cm_defs_free(b);
    cm_defs_free(c);
    a_check_against_the_others();
    a_version_refused_is_shown();
}

/* ---- a kind's check against the others: widgets whose sizes may total at most 10 ---- */

static int budget_checks;

static int budget(const json_t *doc, const char *name, const json_t *others, char *err,
                  size_t errlen, void *ud)
{
    (void)name;
    (void)ud;
    long long total = json_integer_value(json_object_get(doc, "size"));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)others, k, v)
    {
        total += json_integer_value(json_object_get(v, "size"));
    }
    __atomic_add_fetch(&budget_checks, 1, __ATOMIC_SEQ_CST);
    cm_sleep_ms(
        300); /* two racing writers both get here before either commits, unless serialised */
    if (total > 10) {
        snprintf(err, errlen, "size: all widgets would total %lld, more than 10", total);
        return -1;
    }
    return 0;
}

static struct cm_defs *budget_instance(const char *url, struct seen *s)
{
    pthread_mutex_init(&s->lock, NULL);
    struct cm_defs_kind k = {.kind = kind_name,
                             .singular = "widget",
                             .parse = parse,
                             .release = release,
                             .changed = changed,
                             .ud = s,
                             .check = budget};
    return cm_defs_new(url, &k, NULL);
}

static void *race_new(void *arg)
{
    struct racer *r = arg;
    char body[4096], etag[32];
    r->status = call_on(r->to, "PUT", r->path, "{\"size\": 4}", NULL, body, etag);
    return NULL;
}

static char *seed_file(const char *text)
{
    char *file = cm_xstrdup("/tmp/defs-check-XXXXXX");
    int fd = mkstemp(file);
    cr_assert(fd >= 0);
    dprintf(fd, "%s\n", text);
    close(fd);
    return file;
}

/* Run at the end of the test above, not beside it: that one kills every connection to the
 * database. */
static void a_check_against_the_others(void)
{
    it_unique(kind_name, sizeof(kind_name), "budgets");
    for (char *p = kind_name; *p; p++) {
        *p = *p == '-' ? '_' : *p;
    }
    struct seen s1 = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* (changed() writes to it) */
    struct cm_defs *a = budget_instance(it_env("DATABASE_URL"), &s1);
    cr_assert_eq(cm_defs_start(a), 0);
    struct cm_http_options o = {.bind_addr = "127.0.0.1", .threads = 4};
    srv = cm_http_new(&o);
    cm_defs_routes(a, srv, NULL, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    char path[128], body[4096], etag[32];

    snprintf(path, sizeof(path), "/%s/a1", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 4}", NULL, body, etag), 201, "%s", body);
    snprintf(path, sizeof(path), "/%s/a2", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 5}", NULL, body, etag), 201, "%s", body);
    snprintf(path, sizeof(path), "/%s/a3", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 2}", NULL, body, etag), 409, "%s", body);
    cr_assert(strstr(body, "size: all widgets would total 11, more than 10") != NULL, "%s", body);
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 404, "nothing stored");
    /* a definition replacing itself is checked against the others only */
    snprintf(path, sizeof(path), "/%s/a2", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 6}", NULL, body, etag), 200, "%s", body);
    /* the body in force again is no write: not checked */
    int before = __atomic_load_n(&budget_checks, __ATOMIC_SEQ_CST);
    cr_assert_eq(call("PUT", path, "{\"size\": 6}", NULL, body, etag), 200, "%s", body);
    cr_assert(strstr(body, "\"unchanged\":true") != NULL, "%s", body);
    cr_assert_eq(__atomic_load_n(&budget_checks, __ATOMIC_SEQ_CST), before);
    /* a deleted definition counts no more */
    snprintf(path, sizeof(path), "/%s/a1", kind_name);
    cr_assert_eq(call("DELETE", path, NULL, NULL, body, etag), 204);
    snprintf(path, sizeof(path), "/%s/a3", kind_name);
    cr_assert_eq(call("PUT", path, "{\"size\": 3}", NULL, body, etag), 201, "%s", body);
    snprintf(path, sizeof(path), "/%s/a2", kind_name);
    cr_assert_eq(call("DELETE", path, NULL, NULL, body, etag), 204);

    /* two new widgets at once through two instances, each within the budget alone (3 + 4), not
     * together (3 + 4 + 4): exactly one is stored */
    struct seen s3 = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* (changed() writes to it) */
    struct cm_defs *a2 = budget_instance(it_env("DATABASE_URL"), &s3);
    cr_assert_eq(cm_defs_start(a2), 0);
    struct cm_http_server *srv2 = cm_http_new(&o);
    cm_defs_routes(a2, srv2, NULL, NULL);
    cr_assert_eq(cm_http_start(srv2), 0);
    struct racer r1 = {.to = srv}, r2 = {.to = srv2};
    snprintf(r1.path, sizeof(r1.path), "/%s/b1", kind_name);
    snprintf(r2.path, sizeof(r2.path), "/%s/b2", kind_name);
    at_once(&r1, &r2, race_new);
    cr_assert((r1.status == 201 && r2.status == 409) || (r1.status == 409 && r2.status == 201),
              "statuses %ld and %ld", r1.status, r2.status);
    cm_http_stop(srv2, 1000);
    cm_http_free(srv2);
    cm_defs_free(a2);

    /* a file the check refuses is refused like an invalid one */
    char *file = seed_file("{\"name\": \"c1\", \"size\": 5}");
    cr_assert_eq(cm_defs_seed(a, file), CM_E_INVAL);
    unlink(file);
    free(file);
    snprintf(path, sizeof(path), "/%s/c1", kind_name);
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 404);
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_defs_free(a);

    /* files only (no store): each file checked against those applied before it */
    struct seen s2 = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* (changed() writes to it) */
    struct cm_defs *f = budget_instance(NULL, &s2);
    char *f1 = seed_file("{\"name\": \"d1\", \"size\": 6}");
    char *f2 = seed_file("{\"name\": \"d2\", \"size\": 5}");
    char *f3 = seed_file("{\"name\": \"d3\", \"size\": 4}");
    cr_assert_eq(cm_defs_seed(f, f1), 0);
    cr_assert_eq(cm_defs_seed(f, f2), CM_E_INVAL);
    cr_assert_eq(cm_defs_seed(f, f3), 0);
    json_t *doc = cm_defs_document(f, "d2", NULL);
    cr_assert_null(doc);
    doc = cm_defs_document(f, "d3", NULL);
    cr_assert_not_null(doc);
    json_decref(doc);
    for (char *const *p = (char *const[]){f1, f2, f3}, *const *end = p + 3; p < end; p++) {
        unlink(*p);
        free(*p);
    }
    cm_defs_free(f);
}

/* ---- a stored version that one instance refuses: a release stricter than the writer's ---- */

static void *strict_parse(const json_t *doc, const char *name, long long version, char *err,
                          size_t errlen, void *ud)
{
    if (json_integer_value(json_object_get(doc, "size")) > 100) {
        snprintf(err, errlen, "size: at most 100 here");
        return NULL;
    }
    return parse(doc, name, version, err, errlen, ud);
}

struct wait_body {
    struct cm_http_server *to;
    const char *path, *want;
    char body[4096];
};

static int body_has(void *ud)
{
    struct wait_body *w = ud;
    char etag[32];
    return call_on(w->to, "GET", w->path, NULL, NULL, w->body, etag) == 200 &&
           strstr(w->body, w->want) != NULL;
}

/* The value of mx's definitions_refused for the kind under test (-1: no such series). */
static double refused(struct cm_metrics *mx)
{
    char *text = cm_metrics_render(mx), series[160];
    snprintf(series, sizeof(series), "t_definitions_refused{kind=\"%s\"} ", kind_name);
    const char *at = strstr(text, series);
    double v = at ? strtod(at + strlen(series), NULL) : -1;
    free(text);
    return v;
}

static void a_version_refused_is_shown(void)
{
    it_unique(kind_name, sizeof(kind_name), "upgrades");
    for (char *p = kind_name; *p; p++) {
        *p = *p == '-' ? '_' : *p;
    }
    struct seen sl = {.lock = PTHREAD_MUTEX_INITIALIZER}, ss = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cm_defs *lenient = instance(&sl);
    cr_assert_eq(cm_defs_start(lenient), 0);
    struct cm_http_options o = {.bind_addr = "127.0.0.1", .threads = 2};
    struct cm_http_server *srv_l = cm_http_new(&o), *srv_s = cm_http_new(&o);
    cm_defs_routes(lenient, srv_l, NULL, NULL);
    cr_assert_eq(cm_http_start(srv_l), 0);
    char path[128], list[128], body[4096], etag[32];
    snprintf(path, sizeof(path), "/%s/u1", kind_name);
    snprintf(list, sizeof(list), "/%s", kind_name);
    cr_assert_eq(call_on(srv_l, "PUT", path, "{\"size\": 500}", NULL, body, etag), 201, "%s", body);

    /* an instance that refuses version 1 starts: it runs nothing of u1, and says so */
    struct cm_defs_kind k = {.kind = kind_name,
                             .singular = "widget",
                             .parse = strict_parse,
                             .release = release,
                             .changed = changed,
                             .ud = &ss};
    struct cm_metrics *mx = cm_metrics_new("t_");
    struct cm_defs *strict = cm_defs_new(it_env("DATABASE_URL"), &k, mx);
    cr_assert_eq(refused(mx), 0);
    cr_assert_eq(cm_defs_start(strict), 0);
    cm_defs_routes(strict, srv_s, NULL, NULL);
    cr_assert_eq(cm_http_start(srv_s), 0);
    const char *refused_v1 =
        "\"rejected\":{\"version\":1,\"error\":\"size: at most 100 here\"},\"in_force\":null";
    cr_assert_eq(call_on(srv_s, "GET", path, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, refused_v1) != NULL, "%s", body);
    cr_assert_eq(refused(mx), 1);
    cr_assert_str_eq(etag, "\"1\"", "the ETag is the stored version's, to write over it");
    cr_assert_eq(call_on(srv_s, "GET", list, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, refused_v1) != NULL, "%s", body);
    cr_assert_eq(call_on(srv_l, "GET", path, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, "rejected") == NULL && strstr(body, "in_force") == NULL,
              "the instance running it says nothing: %s", body);

    /* a version it takes clears it; a newer one it refuses shows the one it keeps */
    cr_assert_eq(call_on(srv_l, "PUT", path, "{\"size\": 50}", NULL, body, etag), 200, "%s", body);
    cr_assert(told(&ss, "u1 v2 size=50 prev=v0:-1"), "v1 never ran here: no version before");
    cr_assert_eq(call_on(srv_s, "GET", path, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, "rejected") == NULL && strstr(body, "\"size\":50") != NULL, "%s", body);
    cr_assert_eq(call_on(srv_l, "PUT", path, "{\"size\": 200}", NULL, body, etag), 200, "%s", body);
    struct wait_body w = {srv_s, path,
                          "\"rejected\":{\"version\":3,\"error\":\"size: at most 100 here\"},"
                          "\"in_force\":2",
                          ""};
    cr_assert(it_wait_until(10000, body_has, &w), "%s", w.body);
    cr_assert(told(&sl, "u1 v3 size=200 prev=v2:50"));
    cr_assert_eq(refused(mx), 1);

    /* a body written into the table by hand that is no object: refused by both, said by both */
    struct cm_pg *admin = cm_pg_new(it_env("DATABASE_URL"));
    const char *params[] = {kind_name};
    cr_assert_eq(cm_pg_exec(admin,
                            "INSERT INTO definitions (kind, name, version, body)"
                            " VALUES ($1, 'u1', 4, '[1]')",
                            1, params, NULL, NULL),
                 0);
    cm_pg_free(admin);
    w.want = "\"rejected\":{\"version\":4,\"error\":\"stored body is not a JSON object\"},"
             "\"in_force\":2";
    cr_assert(it_wait_until(10000, body_has, &w), "%s", w.body);
    w.to = srv_l;
    w.want = "\"rejected\":{\"version\":4,\"error\":\"stored body is not a JSON object\"},"
             "\"in_force\":3";
    cr_assert(it_wait_until(10000, body_has, &w), "%s", w.body);

    /* a version both take: the one before it is, for each, the newest it took (the strict one
     * passes over v4, no definition, and v3, refused), also for an instance that starts now,
     * which must drain what ran before on its partitions */
    cr_assert_eq(call_on(srv_l, "PUT", path, "{\"size\": 60}", NULL, body, etag), 200, "%s", body);
    cr_assert(told(&sl, "u1 v5 size=60 prev=v3:200"));
    cr_assert(told(&ss, "u1 v5 size=60 prev=v2:50"));
    struct seen s2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    k.ud = &s2;
    struct cm_defs *strict2 = cm_defs_new(it_env("DATABASE_URL"), &k, NULL);
    cr_assert_eq(cm_defs_start(strict2), 0);
    cr_assert(told(&s2, "u1 v5 size=60 prev=v2:50"));
    cm_defs_free(strict2);

    /* deleted: nothing to say */
    cr_assert_eq(call_on(srv_l, "DELETE", path, NULL, NULL, body, etag), 204, "%s", body);
    cr_assert(told(&ss, "u1 v6 size=-1 prev=v5:60"));
    cr_assert_eq(call_on(srv_s, "GET", path, NULL, NULL, body, etag), 404);
    cr_assert_eq(call_on(srv_s, "GET", list, NULL, NULL, body, etag), 200);
    cr_assert(strstr(body, "rejected") == NULL, "%s", body);
    cr_assert_eq(refused(mx), 0);

    cm_http_stop(srv_l, 1000);
    cm_http_stop(srv_s, 1000);
    cm_http_free(srv_l);
    cm_http_free(srv_s);
    cm_defs_free(lenient);
    cm_defs_free(strict);
    cm_metrics_free(mx);
}

/* A kind whose "color" may change only with ?reset=true (its successor hook), each change
 * logged with the version its run began with (since_version). */
static int successor(const json_t *cur, const json_t *doc, int reset, char *err, size_t errlen,
                     void *ud)
{
    (void)ud;
    if (reset || json_equal(json_object_get(cur, "color"), json_object_get(doc, "color"))) {
        return 0;
    }
    snprintf(err, errlen, "color: fixed while the widget runs");
    return -1;
}

static void changed_since(const struct cm_defs_change *c, void *ud)
{
    struct seen *s = ud;
    pthread_mutex_lock(&s->lock);
    if (s->n < 64) {
        snprintf(s->log[s->n++], sizeof(s->log[0]), "%s v%lld since=v%lld%s", c->name, c->version,
                 c->since_version, c->compiled ? "" : " deleted");
    }
    if (c->version > 0 && c->version < 16) {
        s->created[c->version] = c->created_ms;
        s->since_created[c->version] = c->since_created_ms;
    }
    pthread_mutex_unlock(&s->lock);
    free(c->compiled);
    free(c->prev_compiled);
}

static struct cm_defs *run_instance(struct seen *s)
{
    struct cm_defs_kind k = {.kind = kind_name,
                             .singular = "widget",
                             .parse = parse,
                             .release = release,
                             .changed = changed_since,
                             .successor = successor,
                             .ud = s};
    return cm_defs_new(it_env("DATABASE_URL"), &k, NULL);
}

/* A field of s read under its lock. */
static int64_t seen_ms(struct seen *s, const int64_t *field)
{
    pthread_mutex_lock(&s->lock);
    int64_t v = *field;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static int clock_past(void *ud)
{
    return cm_now_ms() > *(const int64_t *)ud + 1;
}

/* Waits until this clock (the database's, on this machine) is past when version v was stored, so
 * the next version is stored at another millisecond. */
static void after(struct seen *s, int v)
{
    int64_t at = seen_ms(s, &s->created[v]);
    cr_assert_gt(at, 0, "version %d was told with its creation time", v);
    cr_assert(it_wait_until(2000, clock_past, &at));
}

/* since_created_ms of version v is when version `since` was stored, another moment than v's
 * own when they differ. */
static void since_at(struct seen *s, int v, int since)
{
    int64_t got = seen_ms(s, &s->since_created[v]), want = seen_ms(s, &s->created[since]);
    cr_assert_gt(want, 0);
    cr_assert_eq(got, want, "version %d's run began at version %d's creation (%lld), not %lld", v,
                 since, (long long)want, (long long)got);
    cr_assert(v == since || seen_ms(s, &s->created[v]) > want);
}

Test(defs, a_run_begins_at_a_reset_or_after_a_deletion, .timeout = 60)
{
    it_unique(kind_name, sizeof(kind_name), "runs");
    for (char *p = kind_name; *p; p++) {
        *p = *p == '-' ? '_' : *p;
    }
    struct seen s1 = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* (changed_since() writes to it) */
    struct cm_defs *a = run_instance(&s1);
    cr_assert_eq(cm_defs_start(a), 0);
    struct cm_http_options o = {.bind_addr = "127.0.0.1", .threads = 2};
    srv = cm_http_new(&o);
    cm_defs_routes(a, srv, NULL, NULL);
    cr_assert_eq(cm_http_start(srv), 0);
    char path[128], reset[160], body[4096], etag[32];
    snprintf(path, sizeof(path), "/%s/r1", kind_name);
    snprintf(reset, sizeof(reset), "%s?reset=true", path);

    cr_assert_eq(call("PUT", path, "{\"size\": 1, \"color\": \"red\"}", NULL, body, etag), 201);
    cr_assert(told(&s1, "r1 v1 since=v1"));
    since_at(&s1, 1, 1);
    after(&s1, 1);
    cr_assert_eq(call("PUT", path, "{\"size\": 2, \"color\": \"red\"}", NULL, body, etag), 200);
    cr_assert(told(&s1, "r1 v2 since=v1"), "a new version carries the run on");
    since_at(&s1, 2, 1);
    /* the successor hook: refused with 409 naming the field, nothing stored */
    cr_assert_eq(call("PUT", path, "{\"size\": 2, \"color\": \"blue\"}", NULL, body, etag), 409);
    cr_assert(strstr(body, "color: fixed while the widget runs") != NULL, "%s", body);
    cr_assert_eq(call("GET", path, NULL, NULL, body, etag), 200);
    cr_assert_str_eq(etag, "\"2\"");
    /* with reset: stored, and a new run */
    cr_assert_eq(call("PUT", reset, "{\"size\": 2, \"color\": \"blue\"}", NULL, body, etag), 200,
                 "%s", body);
    cr_assert(told(&s1, "r1 v3 since=v3"));
    since_at(&s1, 3, 3);
    after(&s1, 3);
    cr_assert_eq(call("PUT", path, "{\"size\": 4, \"color\": \"blue\"}", NULL, body, etag), 200);
    cr_assert(told(&s1, "r1 v4 since=v3"), "the run goes on from the reset");
    since_at(&s1, 4, 3);
    /* deleted, then put again: a new run, whatever the color */
    cr_assert_eq(call("DELETE", path, NULL, NULL, body, etag), 204);
    cr_assert(told(&s1, "r1 v5 since=v3 deleted"), "a deletion ends the run");
    since_at(&s1, 5, 3);
    cr_assert_eq(call("PUT", path, "{\"size\": 1, \"color\": \"green\"}", NULL, body, etag), 201,
                 "%s", body);
    cr_assert(told(&s1, "r1 v6 since=v6"));
    since_at(&s1, 6, 6);
    after(&s1, 6);
    cr_assert_eq(call("PUT", path, "{\"size\": 5, \"color\": \"green\"}", NULL, body, etag), 200);
    cr_assert(told(&s1, "r1 v7 since=v6"));
    since_at(&s1, 7, 6);

    /* an instance that starts now is told the same run of the version in force */
    struct seen s2 = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cm_defs *b = run_instance(&s2);
    cr_assert_eq(cm_defs_start(b), 0);
    cr_assert(told(&s2, "r1 v7 since=v6"));
    int64_t began = seen_ms(&s2, &s2.since_created[7]);
    cr_assert_eq(began, seen_ms(&s1, &s1.created[6]),
                 "an instance that starts later is told when "
                 "the run began, as the first one was");
    cm_http_stop(srv, 1000);
    cm_http_free(srv);
    cm_defs_free(b);
    cm_defs_free(a);
}
