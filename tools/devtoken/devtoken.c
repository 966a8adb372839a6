/* devtoken: prints an HS256 bearer token for development and tests, signed with
 * JWT_HS256_SECRET. Claims: sub, tenant (DEVTOKEN_TENANT), iat, exp (now + DEVTOKEN_TTL), and iss /
 * aud when JWT_ISSUER / JWT_AUDIENCE are set, so the token passes the gateway's checks. */
#include "cm/auth.h"

#include "cm/config.h"
#include "cm/log.h"
#include "cm/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cm_config_entry config_table[] = {
    {"JWT_HS256_SECRET", CM_CFG_STRING, NULL, 1, 1, "HS256 signing key", 0, 0, NULL},
    {"JWT_ISSUER", CM_CFG_STRING, NULL, 0, 0, "iss claim", 0, 0, NULL},
    {"JWT_AUDIENCE", CM_CFG_STRING, NULL, 0, 0, "aud claim", 0, 0, NULL},
    {"DEVTOKEN_TENANT", CM_CFG_STRING, "dev", 0, 0, "tenant claim", 0, 0, NULL},
    {"DEVTOKEN_SUBJECT", CM_CFG_STRING, "developer", 0, 0, "sub claim", 0, 0, NULL},
    {"DEVTOKEN_SCOPE", CM_CFG_STRING, "events:write", 0, 0,
     "scope claim (space-separated; \"events:write gateway:admin\" for the routes API)", 0, 0,
     NULL},
    {"DEVTOKEN_TTL", CM_CFG_DURATION, "24h", 0, 0, "token lifetime", 1000, 31536000000LL, NULL},
    {"DEVTOKEN_EXP_OFFSET", CM_CFG_INT, "0", 0, 0,
     "seconds added to exp after TTL (tests make expired tokens with a negative value)", -31536000,
     31536000, NULL},
};

int main(int argc, char **argv)
{
    cm_log_init("devtoken");
    struct cm_config *cfg = cm_config_load_or_exit("devtoken", config_table,
                                                   sizeof(config_table) / sizeof(config_table[0]),
                                                   "DEVTOKEN_", argc, argv);
    int64_t now = cm_now_ms() / 1000;
    json_t *claims = json_object();
    json_object_set_new(claims, "sub", json_string(cm_config_str(cfg, "DEVTOKEN_SUBJECT")));
    json_object_set_new(claims, "tenant", json_string(cm_config_str(cfg, "DEVTOKEN_TENANT")));
    json_object_set_new(claims, "iat", json_integer(now));
    json_object_set_new(claims, "exp",
                        json_integer(now + cm_config_int(cfg, "DEVTOKEN_TTL") / 1000 +
                                     cm_config_int(cfg, "DEVTOKEN_EXP_OFFSET")));
    json_object_set_new(claims, "scope", json_string(cm_config_str(cfg, "DEVTOKEN_SCOPE")));
    if (cm_config_str(cfg, "JWT_ISSUER")) {
        json_object_set_new(claims, "iss", json_string(cm_config_str(cfg, "JWT_ISSUER")));
    }
    if (cm_config_str(cfg, "JWT_AUDIENCE")) {
        json_object_set_new(claims, "aud", json_string(cm_config_str(cfg, "JWT_AUDIENCE")));
    }
    char *text = json_dumps(claims, JSON_COMPACT);
    char *token = cm_auth_sign_hs256(cm_config_str(cfg, "JWT_HS256_SECRET"), text);
    int status = 1;
    if (token) {
        printf("%s\n", token);
        status = 0;
    }
    free(token);
    free(text);
    json_decref(claims);
    cm_config_free(cfg);
    return status;
}
