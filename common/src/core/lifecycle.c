/* lifecycle: flag-only signal handlers, a self-pipe to wake waiters, and a shutdown watchdog
 * (see lifecycle.h). */
#include "cm/lifecycle.h"

#include "cm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;
static int wake_pipe[2] = {-1, -1};

static void on_stop_signal(int signo)
{
    if (stop_flag) {
        _exit(128 + signo); /* second signal: the operator insists */
    }
    cm_lifecycle_request_stop();
}

static void on_hup(int signo)
{
    (void)signo;
    reload_flag = 1;
}

void cm_lifecycle_request_stop(void)
{
    int saved = errno;
    stop_flag = 1;
    if (wake_pipe[1] >= 0) {
        ssize_t ignored = write(wake_pipe[1], "x", 1);
        (void)ignored;
    }
    errno = saved;
}

void cm_lifecycle_install(void)
{
    if (wake_pipe[0] < 0 && pipe(wake_pipe) == 0) {
        for (int i = 0; i < 2; i++) {
            fcntl(wake_pipe[i], F_SETFL, fcntl(wake_pipe[i], F_GETFL) | O_NONBLOCK);
            fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int cm_lifecycle_stopping(void)
{
    return stop_flag != 0;
}

int cm_lifecycle_wait(int timeout_ms)
{
    if (stop_flag) {
        return 1;
    }
    if (wake_pipe[0] < 0) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return stop_flag != 0;
    }
    struct pollfd pfd = {wake_pipe[0], POLLIN, 0};
    poll(&pfd, 1, timeout_ms); /* the pipe stays readable once written: every waiter wakes */
    return stop_flag != 0;
}

int cm_lifecycle_reload_requested(void)
{
    if (reload_flag) {
        reload_flag = 0;
        return 1;
    }
    return 0;
}

static void *watchdog_main(void *arg)
{
    int ms = (int)(long)arg;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    CM_LOG_ERROR("shutdown_timeout", "graceful shutdown exceeded %d ms; exiting", ms);
    _exit(1);
    return NULL;
}

void cm_lifecycle_arm_watchdog(int timeout_ms)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, watchdog_main, (void *)(long)timeout_ms) != 0) {
        CM_LOG_WARN("watchdog_failed", "could not start the shutdown watchdog");
    }
    pthread_attr_destroy(&attr);
}
