/* Unit tests for common/uuid: UUIDv7 layout and ordering, deterministic hash ids, validation. */
#include "cm/uuid.h"

#include <criterion/criterion.h>
#include <string.h>

Test(uuid, v7_layout)
{
    char id[CM_UUID_STR_LEN];
    cm_uuid_v7_at(0x0123456789ABLL, id);
    cr_assert_eq(strlen(id), 36);
    cr_assert(cm_uuid_valid(id));
    cr_assert_eq(strncmp(id, "01234567-89ab-7", 15), 0, "%s", id);
    cr_assert(strchr("89ab", id[19]) != NULL, "variant bits: %s", id);
}

Test(uuid, v7_sorted_within_a_millisecond)
{
    char prev[CM_UUID_STR_LEN], cur[CM_UUID_STR_LEN];
    cm_uuid_v7_at(1795397331123LL, prev);
    for (int i = 0; i < 10000; i++) {
        cm_uuid_v7_at(1795397331123LL, cur);
        cr_assert_lt(strcmp(prev, cur), 0, "%s !< %s", prev, cur);
        memcpy(prev, cur, sizeof(cur));
    }
}

Test(uuid, from_parts_is_deterministic_and_framed)
{
    char a[CM_UUID_STR_LEN], b[CM_UUID_STR_LEN], c[CM_UUID_STR_LEN];
    const char *p1[] = {"ab", "c"};
    const char *p2[] = {"a", "bc"};
    cm_uuid_from_parts(p1, 2, a);
    cm_uuid_from_parts(p1, 2, b);
    cm_uuid_from_parts(p2, 2, c);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    cr_assert(cm_uuid_valid(a));
    cr_assert_eq(a[14], '8', "version 8: %s", a);
}

Test(uuid, validation)
{
    cr_assert(cm_uuid_valid("01234567-89ab-7def-8123-456789abcdef"));
    cr_assert(cm_uuid_valid("01234567-89AB-7DEF-8123-456789ABCDEF"));
    cr_assert_not(cm_uuid_valid("01234567-89ab-7def-8123-456789abcde"));
    cr_assert_not(cm_uuid_valid("01234567-89ab-7def-8123-456789abcdeff"));
    cr_assert_not(cm_uuid_valid("0123456789ab-7def-8123-456789abcdef0"));
    cr_assert_not(cm_uuid_valid("g1234567-89ab-7def-8123-456789abcdef"));
    cr_assert_not(cm_uuid_valid(""));
}
