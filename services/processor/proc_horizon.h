/* proc_horizon: the event-time horizon of a partition's window state, kept in Kafka's offset
 * metadata next to the committed offset, so that it outlives the checkpoints in Redis. When a
 * partition is recomputed from its committed offset without a checkpoint (Redis lost its data),
 * the horizon says which windows had already gone out whole and how late the records after the
 * commit were (docs/pipelines.md, State, checkpoints and faults). Text, one entry per pipeline
 * version holding state on the partition:
 *   h1;<name>/<version>/<digest>=<position>,<watermark>;...
 * digest: the first 8 characters of the definition's (proc_def.h), so a horizon is never taken
 * over by another definition under the same version, whose windows are others; position: the
 * partition's stream position at the commit point; watermark: the one that judged its events
 * there. Names are [A-Za-z0-9._-], so the separators cannot occur in them. A watermark no state
 * can hold (proc_time.h) makes the text unreadable, as any malformed entry does. */
#ifndef PROC_HORIZON_H
#define PROC_HORIZON_H

#include "cm/kafka.h"

#include <stddef.h>
#include <stdint.h>

struct proc_horizon_text {
    char text[CM_KAFKA_METADATA_MAX + 1];
    size_t len; /* 0: no entry yet */
};

#define PROC_HORIZON_KEY_MAX 160

/* The entry key of a pipeline version: "<name>/<version>/<first 8 characters of digest>". */
void proc_horizon_key(char *key, size_t len, const char *name, long long version,
                      const char *digest);
/* Adds an entry; 0, or -1 when it would take the text past CM_KAFKA_METADATA_MAX (left out). */
int proc_horizon_add(struct proc_horizon_text *t, const char *key, int64_t position, int64_t wm);
/* The entry of key in metadata: 1 (position and wm set), 0 when there is none, -1 when the text
 * is not one this writes (nothing set). */
int proc_horizon_find(const char *metadata, const char *key, int64_t *position, int64_t *wm);

#endif
