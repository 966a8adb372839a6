/* proc_fleet: the processor's pipelines on their consumer groups. Most run on one host on the
 * processor's group (PROCESSOR_GROUP), which reads each topic once for all of them and starts a
 * new pipeline at its position. A pipeline with a `source.start` runs on a host of its own, on
 * the group `<group>.<pipeline>.<run>`, which starts at the beginning of its topics ("earliest")
 * or at the records stamped at or after a time (cm_stream_config.start_ms; "latest": the time
 * its run began, cm_defs_change.since_created_ms), and keeps positions of its own, as a Kafka
 * Streams application under its own application.id: it computes the events already in its topics,
 * then goes on with the new ones. A new run (the pipeline put again after a deletion, or a version
 * put with ?reset=true; `run` is the version it began with, cm_defs_change.since_version) gets a
 * new group, so it starts over; a new version of the same run carries on where the one before
 * stopped. Each host's stream runs on a thread of its own, with its own Redis connections. */
#ifndef PROC_FLEET_H
#define PROC_FLEET_H

#include <jansson.h>

struct cm_defs_change;
struct cm_http_server;
struct cm_metrics;
struct cm_stream;
struct proc_fleet;
struct proc_host_config;

/* The processor's host is made at once with cfg (its Redis connections borrowed); a pipeline's
 * own host gets two connections of its own to redis_url. NULL after logging. Caller frees with
 * proc_fleet_free. */
struct proc_fleet *proc_fleet_new(const struct proc_host_config *cfg, const char *redis_url,
                                  struct cm_metrics *metrics);
/* A definition changed (any thread): handed to the host that runs the pipeline; one that moves
 * to another host (its run or its start changed) is deleted from the one before. */
void proc_fleet_changed(struct proc_fleet *f, const struct cm_defs_change *c);
/* Creates the consumers of the pipelines so far. 0, or -1 after logging (callers exit 78). */
int proc_fleet_start(struct proc_fleet *f);
/* Runs every host's stream on a thread of its own. 0, or -1 when no thread could be made. */
int proc_fleet_run(struct proc_fleet *f);
/* Starts the hosts made since (their consumers are created here, not on the definitions'
 * thread) and stops those whose pipeline has left them. Call about every second. */
void proc_fleet_poll(struct proc_fleet *f);
/* proc_host_status of the host running name, with "consumer_group" for a pipeline on a group of
 * its own; NULL when none runs it. */
json_t *proc_fleet_status(struct proc_fleet *f, const char *name);
/* proc_host_versions of the host running name, or NULL. */
json_t *proc_fleet_versions(struct proc_fleet *f, const char *name);
/* The processor's host's stream, for questions to the cluster (topics, partitions). */
struct cm_stream *proc_fleet_stream(struct proc_fleet *f);
/* The processor's stream's checks on /readyz, and the detail "pipeline_groups": each own group's
 * stream detail (records lost, lag, ...) by pipeline. */
void proc_fleet_add_checks(struct proc_fleet *f, struct cm_http_server *srv);
/* Stops every stream and waits for its thread (their last commit points). */
void proc_fleet_stop(struct proc_fleet *f);
void proc_fleet_free(struct proc_fleet *f);

#endif
