/* proc_time: the range of times the processor computes with. Event times are what an event's
 * `time` can state (cm_time_in_range: years 0000..9999); a Kafka record's timestamp, a
 * repartition frame, a checkpoint in Redis and the horizon in Kafka's offset metadata come from
 * outside the process and may hold any int64, on which window arithmetic would overflow. */
#ifndef PROC_TIME_H
#define PROC_TIME_H

#include "cm/timeutil.h"

#include <stdint.h>

#define PROC_WATERMARK_MAX (INT64_MAX / 4) /* "max": flushes every window */

/* Times state may hold (window bounds, watermarks): event times moved by a few durations of a
 * definition (each at most 366 days). */
#define PROC_STATE_SLACK_MS (4 * 366LL * 86400000)
static inline int proc_state_time_ok(int64_t t)
{
    return t >= CM_TIME_MIN_MS - PROC_STATE_SLACK_MS && t <= CM_TIME_MAX_MS + PROC_STATE_SLACK_MS;
}

/* A watermark read back: none yet (INT64_MIN), "max", or a time state may hold. */
static inline int proc_watermark_ok(int64_t wm)
{
    return wm == INT64_MIN || wm == PROC_WATERMARK_MAX || proc_state_time_ok(wm);
}

#endif
