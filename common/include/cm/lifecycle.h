/* lifecycle: signals and the bounded graceful shutdown of STYLE.md.
 * SIGTERM/SIGINT only set a flag and wake waiters through a pipe; a second one exits at once.
 * SIGHUP sets a reload flag. SIGPIPE is ignored. Call cm_lifecycle_install() once from main. */
#ifndef CM_LIFECYCLE_H
#define CM_LIFECYCLE_H

void cm_lifecycle_install(void);
/* 1 once a stop was requested by a signal or cm_lifecycle_request_stop(). */
int cm_lifecycle_stopping(void);
/* Requests a stop as a signal would (for fatal errors and tests). Async-signal-safe. */
void cm_lifecycle_request_stop(void);
/* Sleeps up to timeout_ms or until a stop is requested; returns cm_lifecycle_stopping(). */
int cm_lifecycle_wait(int timeout_ms);
/* Returns 1 once per SIGHUP received since the last call. */
int cm_lifecycle_reload_requested(void);
/* Starts a watchdog: if the process is still running timeout_ms after this call it logs and exits
 * with status 1, so shutdown is bounded even when a dependency hangs. */
void cm_lifecycle_arm_watchdog(int timeout_ms);

#endif
