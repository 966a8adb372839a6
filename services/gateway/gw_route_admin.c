/* gw_route_admin: versioned changes of the routing table (see gw_route_admin.h). One lock orders
 * the changes (PUT and file reloads) and guards the version and the file's last seen mtime;
 * requests in flight keep the table they took from the cm_swap. */
#include "gw_route_admin.h"

#include "cm/auth.h"
#include "gw_route.h"

#include "cm/http.h"
#include "cm/log.h"
#include "cm/mem.h"
#include "cm/swap.h"
#include "cm/text.h"
#include "cm/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gw_route_admin {
    struct cm_swap *table;
    char *file;
    char *default_topic;
    struct cm_swap *auth;
    char *scope;
    pthread_mutex_t lock;
    long long version;
    struct timespec mtime; /* of the file as last loaded or written */
};

struct gw_route_admin *gw_route_admin_new(struct cm_swap *table, const char *file,
                                          const char *default_topic, struct cm_swap *auth,
                                          const char *scope)
{
    struct gw_route_admin *a = cm_xcalloc(1, sizeof(*a));
    a->table = table;
    a->file = file ? cm_xstrdup(file) : NULL;
    a->default_topic = cm_xstrdup(default_topic);
    a->auth = auth;
    a->scope = scope && *scope ? cm_xstrdup(scope) : NULL;
    pthread_mutex_init(&a->lock, NULL);
    a->version = 1;
    cm_file_changed(a->file, &a->mtime);
    return a;
}

void gw_route_admin_free(struct gw_route_admin *a)
{
    if (!a) {
        return;
    }
    pthread_mutex_destroy(&a->lock);
    free(a->file);
    free(a->default_topic);
    free(a->scope);
    free(a);
}

void gw_route_admin_poll(struct gw_route_admin *a, int hup)
{
    if (!a->file) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (cm_file_changed(a->file, &a->mtime) || hup) {
        char err[512];
        struct gw_routes *next = gw_routes_load_file(a->file, a->default_topic, err, sizeof(err));
        if (next) {
            cm_swap_replace(a->table, next);
            a->version++;
            CM_LOG_INFO("routes_reloaded", "routing table version %lld loaded from %s", a->version,
                        a->file);
        } else {
            CM_LOG_ERROR("routes_reload_failed", "%s: %s; keeping version %lld", a->file, err,
                         a->version);
        }
    }
    pthread_mutex_unlock(&a->lock);
}

static int authorized(struct gw_route_admin *a, struct cm_http_req *req)
{
    return cm_auth_require(a->auth, req, a->scope, NULL);
}

static void set_etag(struct cm_http_req *req, long long version)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%lld\"", version);
    cm_http_add_header(req, "ETag", etag);
}

void gw_route_admin_get(struct cm_http_req *req, void *ud)
{
    struct gw_route_admin *a = ud;
    if (!authorized(a, req)) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    struct cm_swap_hold h = cm_swap_get(a->table);
    json_t *body = json_deep_copy(gw_routes_document(h.value));
    long long version = a->version;
    cm_swap_put(h);
    pthread_mutex_unlock(&a->lock);
    json_object_set_new(body, "version", json_integer(version));
    set_etag(req, version);
    cm_http_respond_json(req, 200, body);
}

/* Writes text to path through a temporary file and a rename (never half a file). */
static int write_atomically(const char *path, const char *text, char *err, size_t errlen)
{
    char *tmp = cm_xasprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
    }
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

void gw_route_admin_put(struct cm_http_req *req, void *ud)
{
    struct gw_route_admin *a = ud;
    if (!authorized(a, req)) {
        return;
    }
    const char *ctype = cm_http_header(req, "Content-Type");
    if (!cm_http_media_type_is(ctype, "application/json")) {
        cm_http_respond_error(req, 415, 0, "a routing document is application/json");
        return;
    }
    size_t len;
    const char *body = cm_http_body(req, &len);
    char err[512];
    struct gw_routes *next = gw_routes_parse(body, len, a->default_topic, err, sizeof(err));
    if (!next) {
        cm_http_respond_error(req, 422, 0, "invalid routing document: %s", err);
        return;
    }
    const char *if_match = cm_http_header(req, "If-Match");
    pthread_mutex_lock(&a->lock);
    char current[32];
    snprintf(current, sizeof(current), "\"%lld\"", a->version);
    if (if_match && !cm_http_etag_matches(if_match, current, 1, 0)) {
        long long version = a->version;
        pthread_mutex_unlock(&a->lock);
        gw_routes_free(next);
        set_etag(req, version);
        cm_http_respond_error(req, 412, 0, "the routing table is at version %lld, not %s", version,
                              if_match);
        return;
    }
    if (a->file) {
        char *text = json_dumps(gw_routes_document(next), JSON_INDENT(2));
        int rc = write_atomically(a->file, text, err, sizeof(err));
        free(text);
        if (rc != 0) {
            pthread_mutex_unlock(&a->lock);
            gw_routes_free(next);
            CM_LOG_ERROR("routes_write_failed", "%s", err);
            cm_http_respond_error(req, 500, 0, "%s; the table in force is unchanged", err);
            return;
        }
        cm_file_changed(a->file, &a->mtime); /* our own write: not a change to reload */
    }
    cm_swap_replace(a->table, next);
    long long version = ++a->version;
    pthread_mutex_unlock(&a->lock);
    CM_LOG_INFO("routes_replaced", "routing table version %lld installed through the API", version);
    set_etag(req, version);
    cm_http_respond_json(req, 200, json_pack("{s:I}", "version", (json_int_t)version));
}
