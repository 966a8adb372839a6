/* err: the one table of error codes shared by every module and daemon.
 * Functions that can fail return 0 or a negative CM_E_* code; cm_strerror() names it.
 * Domain outcomes (not found, duplicate) are enums of their module, not errors. */
#ifndef CM_ERR_H
#define CM_ERR_H

enum cm_err {
    CM_OK = 0,
    CM_E_INVAL = -1,    /* bad argument or malformed input */
    CM_E_NOMEM = -2,    /* allocation failed (only where aborting is wrong) */
    CM_E_IO = -3,       /* system call or socket failure */
    CM_E_TIMEDOUT = -4, /* a deadline passed */
    CM_E_UNAVAIL = -5,  /* a dependency (broker, database, redis) is unreachable */
    CM_E_TOOBIG = -6,   /* input exceeds a configured limit */
    CM_E_FULL = -7,     /* a queue is above its high-water mark */
    CM_E_PROTO = -8,    /* the peer answered something unexpected */
    CM_E_STATE = -9,    /* call not valid in the object's current state */
    CM_E_AUTH = -10,    /* credentials missing or rejected */
    CM_E_INTERNAL = -11 /* a library reported an error we cannot classify */
};

/* Returns a static string describing `code` (never NULL). */
const char *cm_strerror(int code);

#endif
