/* gw_route_admin: the routing table in force, its version, and the two ways it changes.
 *   GET /routes  → 200 {"version": n, "routes": [...], "default": [...]} with ETag "n".
 *   PUT /routes  (a routing document, application/json) → validated before activation (422
 *                naming the field otherwise), written back to GATEWAY_ROUTES_FILE when one is
 *                configured (so a restart keeps it), switched atomically: 200 {"version": n+1}.
 *                If-Match with the current ETag makes the change conditional (412 when another
 *                change came first).
 *   The file is reloaded on SIGHUP or when it changes (gw_route_admin_poll); a bad file keeps
 *   the table in force.
 * Both endpoints need a bearer token with the admin scope (unless authentication is off). */
#ifndef GW_ROUTE_ADMIN_H
#define GW_ROUTE_ADMIN_H

struct cm_http_req;
struct cm_swap;
struct gw_route_admin;

/* Borrows table (a cm_swap of gw_routes) and auth (a cm_swap of cm_auth; NULL = no
 * authentication); copies the strings. file may be NULL (changes then live until a restart). */
struct gw_route_admin *gw_route_admin_new(struct cm_swap *table, const char *file,
                                          const char *default_topic, struct cm_swap *auth,
                                          const char *scope);
void gw_route_admin_free(struct gw_route_admin *a);
/* Reloads the file when it changed, or when hup is set. Called from the main loop. */
void gw_route_admin_poll(struct gw_route_admin *a, int hup);
/* cm_http_handlers for GET and PUT /routes; ud is the gw_route_admin. */
void gw_route_admin_get(struct cm_http_req *req, void *ud);
void gw_route_admin_put(struct cm_http_req *req, void *ud);

#endif
