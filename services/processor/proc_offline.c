/* proc_offline: the engine's input offline (see proc_offline.h): events, watermarks, table rows
 * and input partitions, as pipeline-run's lines and the dry run's entries give them. */
#include "proc_offline.h"

#include "proc_def.h"
#include "proc_engine.h"
#include "proc_table.h"

#include "cm/event.h"

void proc_offline_init(struct proc_offline *o, struct proc_engine *e)
{
    *o = (struct proc_offline){e, json_object(), 0, 0, PROC_NO_RECORD_TIME};
}

void proc_offline_clear(struct proc_offline *o)
{
    json_decref(o->tables);
    o->tables = NULL;
}

json_t *proc_offline_lookup(const char *topic, const char *key, void *ud)
{
    const struct proc_offline *o = ud;
    return proc_tables_fixed_lookup(topic, key, o->tables);
}

/* 1 when v is a partition line (setting *p), 0 when it is not one, -1 when it is malformed. */
static int partition_input(const json_t *v, int32_t *p, const char **why)
{
    const json_t *n = json_object_get(v, "partition");
    if (!n || json_object_size(v) != 1) {
        return 0;
    }
    if (!json_is_integer(n) || json_integer_value(n) < 0 ||
        json_integer_value(n) > PROC_OFFLINE_MAX_PARTITION) {
        *why = "partition: must be a whole number from 0 to 1023";
        return -1;
    }
    *p = (int32_t)json_integer_value(n);
    return 1;
}

int proc_offline_take(struct proc_offline *o, const char *text, size_t len, int64_t index,
                      const char **why)
{
    *why = NULL;
    o->index = index;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!json_is_object(v)) {
        *why = v ? "not a JSON object" : "not JSON";
        json_decref(v);
        return -1;
    }
    if (!json_object_get(v, "type") &&
        (json_object_get(v, "late") || json_object_get(v, "dead_letter"))) {
        /* pipeline-run's own output fed to another (a rollup): what is no result never reaches
         * a sink topic */
        *why = json_object_get(v, "late")
                   ? "a late event as pipeline-run writes it: late events go to TOPIC_LATE, not "
                     "to the sink a pipeline reading these results reads; leave such lines out"
                   : "a dead letter as pipeline-run writes it: dead letters go to the dead-letter "
                     "topic, not to the sink a pipeline reading these results reads; leave such "
                     "lines out";
        json_decref(v);
        return -1;
    }
    int64_t wm = 0;
    int32_t part = 0;
    int kind = proc_engine_watermark_input(v, &wm, why);
    if (kind == 0) {
        kind = partition_input(v, &part, why) == 0 ? 0 : 2;
        kind = *why ? -1 : kind;
    }
    if (kind == 0) {
        int table = proc_tables_fixed_entry(o->tables, v, why);
        kind = table < 0 ? -1 : table == 1 ? 3 : 0;
    }
    json_decref(v);
    if (kind == 1) {
        proc_engine_watermark(o->e, wm);
    } else if (kind == 2) {
        o->partition = part;
        proc_engine_expect_source(o->e, part, 0);
    } else if (kind == 0) {
        struct cm_event ev;
        if (cm_event_from_text(text, len, INT64_MIN, CM_EVENT_ENVELOPE, &ev, why) != 0) {
            return -1;
        }
        if (ev.time_ms == INT64_MIN && !proc_engine_def(o->e)->time) {
            *why = "an event needs a `time` (or the pipeline a source.time)";
        } else {
            proc_engine_process_record(o->e, o->partition, ev.ev, ev.time_ms, o->record_ms, index,
                                       NULL, 0);
        }
        cm_event_clear(&ev);
    }
    return *why ? -1 : 0;
}
