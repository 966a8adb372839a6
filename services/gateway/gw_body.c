/* gw_body: request body decoding and splitting into events (see gw_body.h). */
#include "gw_body.h"

#include "cm/http.h"
#include "cm/jsonscan.h"
#include "cm/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

enum kind { K_JSON, K_BATCH, K_NDJSON };

static int media_type(const char *ct, enum kind *kind)
{
    static const struct {
        const char *name;
        enum kind kind;
    } types[] = {{"application/json", K_JSON},
                 {"application/cloudevents+json", K_JSON},
                 {"application/cloudevents-batch+json", K_BATCH},
                 {"application/x-ndjson", K_NDJSON},
                 {"application/ndjson", K_NDJSON}};
    if (!ct) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (cm_http_media_type_is(ct, types[i].name)) {
            *kind = types[i].kind;
            return 0;
        }
    }
    return -1;
}

/* Inflates gzip data into a fresh buffer of at most max bytes. 0, 400 (corrupt) or 413. */
static int gunzip(const char *in, size_t len, size_t max, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return 400;
    }
    size_t cap = len * 4 + 1024 < max + 1 ? len * 4 + 1024 : max + 1;
    char *buf = cm_xmalloc(cap + 1);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    int rc = Z_OK, status = 0;
    size_t used = 0;
    while (rc != Z_STREAM_END) {
        if (used == cap) {
            if (cap > max) {
                status = 413; /* decoded size past the cap: stop before allocating more */
                break;
            }
            cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
            buf = cm_xrealloc(buf, cap + 1);
        }
        zs.next_out = (Bytef *)buf + used;
        zs.avail_out = (uInt)(cap - used);
        rc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END) {
            status = 400;
            break;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            status = 400; /* truncated stream */
            break;
        }
    }
    inflateEnd(&zs);
    if (status == 0 && used > max) {
        status = 413;
    }
    if (status) {
        free(buf);
        return status;
    }
    buf[used] = '\0';
    *out = buf;
    *outlen = used;
    return 0;
}

static struct gw_item *add_item(struct gw_body *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->items = cm_xrealloc(b->items, b->cap * sizeof(*b->items));
    }
    struct gw_item *it = &b->items[b->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

static void add(struct gw_body *b, json_t *ev, const char *error)
{
    struct gw_item *it = add_item(b);
    it->event = ev;
    it->parse_error = error ? cm_xstrdup(error) : NULL;
}

static void add_text(struct gw_body *b, const struct cm_jscan_span *v)
{
    struct gw_item *it = add_item(b);
    it->text = v->text;
    it->len = v->len;
    it->members = v->members;
    it->nmembers = v->nmembers;
}

/* Adds a scanned value: an object as its text, anything else (or an object jsonscan is unsure
 * of) parsed. 0, or -1 when jansson refuses it (the caller then parses the whole body). */
static int add_scanned(struct gw_body *b, const struct cm_jscan_span *v)
{
    if (v->type == 'o' && !v->unsure) {
        add_text(b, v);
        return 0;
    }
    json_t *ev = json_loadb(v->text, v->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!ev) {
        return -1;
    }
    add(b, ev, NULL);
    return 0;
}

void gw_body_clear(struct gw_body *b)
{
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->items[i].event);
        free(b->items[i].parse_error);
    }
    free(b->items);
    free(b->decoded);
    free(b->members);
    memset(b, 0, sizeof(*b));
}

/* Each thread's room for a batch's spans, reused from request to request: a body is scanned,
 * used and cleared on one thread, in one call. Larger batches allocate. */
#define ROOM_ELEMS 1024
#define ROOM_MEMBERS 2048
static _Thread_local struct cm_jscan_span room_elems[ROOM_ELEMS];
static _Thread_local struct cm_jscan_member room_members[ROOM_MEMBERS];

/* A JSON (not NDJSON) body through jsonscan: 0 when every event was taken, -1 when jansson has
 * to read the body (an error to report, or something only jansson can decide). */
static int scan_body(const char *body, size_t len, enum kind kind, size_t max_events,
                     struct gw_body *out)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) {
        i++;
    }
    if (i < len && body[i] == '[') {
        size_t n;
        /* room for the members of events averaging 16 bytes of text per member (more: split
         * later); this thread's own arrays when they are large enough */
        size_t pool_max = len / 16 + 16;
        struct cm_jscan_span *elems =
            max_events <= ROOM_ELEMS ? room_elems : cm_xmalloc(max_events * sizeof(*elems));
        struct cm_jscan_member *pool = room_members;
        if (pool_max > ROOM_MEMBERS) {
            pool = out->members = cm_xmalloc(pool_max * sizeof(*pool));
        }
        int rc = cm_jscan_array(body, len, elems, max_events, &n, pool, pool_max);
        if (rc == 0 && n > 0) {
            out->cap = n;
            out->items = cm_xmalloc(n * sizeof(*out->items));
            for (size_t k = 0; k < n && rc == 0; k++) {
                rc = add_scanned(out, &elems[k]);
            }
        }
        if (elems != room_elems) {
            free(elems);
        }
        return rc == 0 && n > 0 ? 0 : -1;
    }
    struct cm_jscan_span v;
    if (kind == K_JSON && cm_jscan_document(body, len, &v) == 0 && v.type == 'o' && !v.unsure) {
        out->single = 1;
        add_text(out, &v);
        return 0;
    }
    return -1;
}

/* Applies Content-Encoding: *body and *len become the decoded body (owned by out). 0 or the
 * status with msg set. */
static int decode(const char *content_encoding, const char **body, size_t *len, size_t max_bytes,
                  struct gw_body *out, char *msg, size_t msglen)
{
    if (!content_encoding || !*content_encoding || strcasecmp(content_encoding, "identity") == 0) {
        return 0;
    }
    if (strcasecmp(content_encoding, "gzip") != 0 && strcasecmp(content_encoding, "x-gzip") != 0) {
        snprintf(msg, msglen, "Content-Encoding must be gzip or identity");
        return 415;
    }
    char *decoded = NULL;
    int rc = gunzip(*body, *len, max_bytes, &decoded, len);
    if (rc) {
        if (rc == 413) {
            snprintf(msg, msglen, "decoded body exceeds %zu bytes", max_bytes);
        } else {
            snprintf(msg, msglen, "body is not valid gzip");
        }
        return rc;
    }
    *body = decoded;
    out->decoded = decoded;
    return 0;
}

int gw_body_parse_binary(const struct gw_header *hdrs, size_t nhdrs, const char *content_type,
                         const char *content_encoding, const char *body, size_t len,
                         size_t max_bytes, struct gw_body *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof(*out));
    int status = decode(content_encoding, &body, &len, max_bytes, out, msg, msglen);
    if (status) {
        return status;
    }
    json_t *ev = gw_binary_event(hdrs, nhdrs, content_type, body, len, msg, msglen);
    if (!ev) {
        gw_body_clear(out);
        return 400;
    }
    out->single = 1;
    add(out, ev, NULL);
    return 0;
}

int gw_body_parse(const char *content_type, const char *content_encoding, const char *body,
                  size_t len, size_t max_bytes, size_t max_events, struct gw_body *out, char *msg,
                  size_t msglen)
{
    memset(out, 0, sizeof(*out));
    enum kind kind;
    if (media_type(content_type, &kind) != 0) {
        snprintf(msg, msglen,
                 "Content-Type must be application/json, application/cloudevents+json, "
                 "application/cloudevents-batch+json or application/x-ndjson (or a "
                 "binary-mode CloudEvent with ce- headers)");
        return 415;
    }
    int rc = decode(content_encoding, &body, &len, max_bytes, out, msg, msglen);
    if (rc) {
        return rc;
    }
    char *decoded = out->decoded;
    int status = 0;
    json_error_t jerr;
    if (kind == K_NDJSON) {
        const char *p = body, *end = body + len;
        while (p < end && !status) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *line_end = nl ? nl : end;
            size_t n = (size_t)(line_end - p);
            while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t')) {
                n--;
            }
            if (n > 0) {
                if (out->n == max_events) {
                    snprintf(msg, msglen, "more than %zu events in one request", max_events);
                    status = 413;
                    break;
                }
                struct cm_jscan_span v;
                if (cm_jscan_document(p, n, &v) == 0 && v.type == 'o' && !v.unsure) {
                    add_text(out, &v);
                    p = line_end + 1;
                    continue;
                }
                json_t *ev = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
                char err[200];
                if (!ev) {
                    snprintf(err, sizeof(err), "invalid JSON at column %d: %s", jerr.column,
                             jerr.text);
                }
                add(out, ev, ev ? NULL : err);
            }
            p = line_end + 1;
        }
        if (!status && out->n == 0) {
            snprintf(msg, msglen, "no events in the body");
            status = 400;
        }
    } else if (scan_body(body, len, kind, max_events, out) != 0) {
        out->decoded = NULL; /* keep it: the body */
        gw_body_clear(out);
        out->decoded = decoded;
        json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            snprintf(msg, msglen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                     jerr.text);
            status = 400;
        } else if (json_is_array(doc)) {
            if (json_array_size(doc) == 0 || json_array_size(doc) > max_events) {
                snprintf(msg, msglen, "a batch holds 1 to %zu events", max_events);
                status = json_array_size(doc) ? 413 : 400;
            }
            size_t i;
            json_t *ev;
            json_array_foreach(status ? NULL : doc, i, ev)
            {
                add(out, json_incref(ev), NULL);
            }
        } else if (kind == K_BATCH) {
            snprintf(msg, msglen, "application/cloudevents-batch+json must be a JSON array");
            status = 400;
        } else {
            out->single = 1;
            add(out, json_incref(doc), NULL);
        }
        json_decref(doc);
    }
    if (status) {
        gw_body_clear(out);
    }
    return status;
}
