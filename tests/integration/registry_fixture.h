/* registry_fixture: what the registry's integration tests share (registry_fixture.c): registry
 * processes over a database of their own, and a client for the Confluent API they serve. */
#ifndef IT_REGISTRY_FIXTURE_H
#define IT_REGISTRY_FIXTURE_H

#include <jansson.h>
#include <stddef.h>

#define CT "Content-Type: application/vnd.schemaregistry.v1+json"

#define SECRET "registry-it-secret-0123456789abcdef0123456789"
/* openssl passwd -6 -salt Qx7Lp2aZ 'ci-secret' */
#define HASH                                                                                       \
    "$6$Qx7Lp2aZ$xT0LDMBrGhJwqPff.mCdhYU9AG9tQaPlIH11dsfJjETb9QrIAbUL/WgGwcvkkeewfD.WXRHt/"        \
    "pZHJfgzw8l/T1"
/* the users file the registries start with */
#define USERS                                                                                      \
    "admin:" HASH "::schema:admin\n"                                                               \
    "reader:" HASH "::schema:read\n"                                                               \
    "acme:" HASH ":acme:schema:write\n"

#define AVRO_V1                                                                                    \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"
#define AVRO_V2                                                                                    \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{"     \
    "\"name\":\"name\",\"type\":\"string\",\"default\":\"\"}]}"
#define AVRO_BAD                                                                                   \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{"     \
    "\"name\":\"age\",\"type\":\"int\"}]}"

/* The URL of the test's own database. */
extern char rit_dburl[512];
/* The credentials requests carry: "user:password" (Basic), "Bearer <token>", or NULL. */
extern const char *rit_auth_as;
/* The ports of registry instances 0 and 1. */
extern int rit_ports[2];

struct rit_resp {
    long status;
    char body[65536];
    char www[512]; /* the WWW-Authenticate headers, one per line */
};

/* A test suite's init and fini: a database of the test's own, the users file, instance 0
 * started; both instances stopped (each must exit cleanly). */
void rit_setup(void);
void rit_teardown(void);
/* Starts instance `which` with env's NAME, value pairs (NULL-terminated, or NULL) set too, and
 * waits until it is ready. */
void rit_start_env(int which, const char *const *env);
void rit_start(int which);
/* Stops instance `which` (SIGTERM) and checks it exited with 0. */
void rit_stop(int which);
/* Replaces the users file (atomically: a rename). */
void rit_write_users(const char *text);
/* method path [body] against instance `which` with Content-Type ctype (CT when NULL), as
 * rit_auth_as; the status, or -1 when no answer came. */
long rit_call(int which, const char *method, const char *path, const char *body, const char *ctype,
              struct rit_resp *r);
/* The answer's body parsed (fails the test when it is not JSON). */
json_t *rit_js(const struct rit_resp *r);
/* The answer is Confluent's error body {error_code, message} with this status and code. */
void rit_expect_error(const struct rit_resp *r, long status, int code);
/* The request body {"schema": "<text>"} with text JSON-escaped, and extra's members (a JSON
 * object, or NULL). */
char *rit_schema_body(const char *text, const char *extra);
/* Registers text under subject on instance `which`: its id, or -1 (the answer in *r). */
int rit_register(int which, const char *subject, const char *text, const char *extra,
                 struct rit_resp *r);
/* 1 when o has exactly the n members named. */
int rit_keys_are(const json_t *o, const char *const *keys, size_t n);

#endif
