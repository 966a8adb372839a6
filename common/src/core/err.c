/* err: descriptions for the CM_E_* codes of err.h. */
#include "cm/err.h"

const char *cm_strerror(int code)
{
    switch (code) {
    case CM_OK:
        return "success";
    case CM_E_INVAL:
        return "invalid argument";
    case CM_E_NOMEM:
        return "out of memory";
    case CM_E_IO:
        return "input/output error";
    case CM_E_TIMEDOUT:
        return "timed out";
    case CM_E_UNAVAIL:
        return "dependency unavailable";
    case CM_E_TOOBIG:
        return "too large";
    case CM_E_FULL:
        return "queue full";
    case CM_E_PROTO:
        return "protocol error";
    case CM_E_STATE:
        return "invalid state";
    case CM_E_AUTH:
        return "authentication failed";
    case CM_E_INTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}
