/* proc_window_tenants: how many keys each tenant holds in one partition's window state, for the
 * definition's max_keys_per_tenant (proc_window_int.h). A chained hash table of tenant names; a
 * tenant holding no key any more is removed, so the table never outgrows the keys. Kept only
 * when the bound is set. */
#include "proc_window_int.h"

#include "cm/hash.h"
#include "cm/mem.h"

#include <stdlib.h>
#include <string.h>

struct tenant_keys {
    struct tenant_keys *next;
    uint64_t hash;
    size_t keys;
    char name[]; /* "" for events without a tenant */
};

static void grow(struct proc_windows *w)
{
    size_t n = w->ntbuckets ? w->ntbuckets * 2 : 16;
    struct tenant_keys **b = cm_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < w->ntbuckets; i++) {
        for (struct tenant_keys *t = w->tbuckets[i], *next; t; t = next) {
            next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
    }
    free(w->tbuckets);
    w->tbuckets = b;
    w->ntbuckets = n;
}

/* The link that points at tenant's entry (at the end of its chain when there is none). */
static struct tenant_keys **find(struct proc_windows *w, const char *tenant, uint64_t h)
{
    struct tenant_keys **pp = &w->tbuckets[h & (w->ntbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->name, tenant) != 0)) {
        pp = &(*pp)->next;
    }
    return pp;
}

size_t proc_window_tenant_keys(struct proc_windows *w, const char *tenant)
{
    if (!w->ntbuckets) {
        return 0;
    }
    struct tenant_keys *t = *find(w, tenant, cm_hash64_table(tenant, strlen(tenant)));
    return t ? t->keys : 0;
}

void proc_window_tenant_add(struct proc_windows *w, const char *tenant, int delta)
{
    if (!w->max_per_tenant) {
        return;
    }
    if (w->ntenants >= w->ntbuckets) {
        grow(w);
    }
    size_t len = strlen(tenant);
    uint64_t h = cm_hash64_table(tenant, len); /* tenants come from tokens and events */
    struct tenant_keys **pp = find(w, tenant, h);
    if (!*pp) {
        if (delta < 0) {
            return; /* (never: each key was counted when it was made) */
        }
        *pp = cm_xcalloc(1, sizeof(**pp) + len + 1);
        (*pp)->hash = h;
        memcpy((*pp)->name, tenant, len + 1);
        w->ntenants++;
    }
    if (delta > 0) {
        (*pp)->keys++;
    } else if (--(*pp)->keys == 0) {
        struct tenant_keys *gone = *pp;
        *pp = gone->next;
        free(gone);
        w->ntenants--;
    }
}

void proc_window_tenants_free(struct proc_windows *w)
{
    for (size_t i = 0; i < w->ntbuckets; i++) {
        for (struct tenant_keys *t = w->tbuckets[i], *next; t; t = next) {
            next = t->next;
            free(t);
        }
    }
    free(w->tbuckets);
    w->tbuckets = NULL;
    w->ntbuckets = w->ntenants = 0;
}
