/* The collectors of the /metrics page: every series the endpoint serves is written by one
 * of them, run in the order they registered (node_exporter's registerCollector). Each
 * returns 0 or -errno; its outcome and duration are series of their own
 * (ctrlscope_collector_success, ctrlscope_collector_duration_seconds), so a collector that
 * fails shows as such and never takes another's series with it. Not for what a collector
 * reads or how series are written (expo.h). */
#ifndef CTRLSCOPE_REGISTRY_H
#define CTRLSCOPE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "expo.h"
#include "slots.h"
#include "vec.h"

struct targets;

/* What one scrape hands every collector. */
struct scrape {
	struct expo *e;
	struct slot_table *slots;      /* the label sets (the label_sets collector reads them) */
	const struct targets *targets; /* the targets core, or NULL */
	struct vec maps;	       /* of struct map_report: fill levels of counting maps */
};

/* A counting map's fill level, which the agent writes as one family each. */
struct map_report {
	const char *name;
	uint64_t entries;
	uint64_t max_entries;
	uint64_t full; /* inserts refused because the map was full */
};

/* Record a map's fill level for this scrape (dropped if memory runs out). */
void scrape_report_map(struct scrape *s, const char *name, uint64_t entries, uint64_t max_entries,
		       uint64_t full);

/* Writes its series to s->e; 0, or -errno when it could not collect (what it wrote
 * before failing stays). */
typedef int (*collect_fn)(void *state, struct scrape *s);

struct registry {
	struct vec entries; /* of struct registry_entry (registry.c) */
};

void registry_init(struct registry *r);
/* Add a collector; name labels its series (static storage). 0 or -ENOMEM. */
int registry_add(struct registry *r, const char *name, collect_fn fn, void *state);
/* Run every collector in order, then write each one's success and duration. The number
 * of collectors that failed. */
size_t registry_collect(struct registry *r, struct scrape *s);
void registry_free(struct registry *r);

#endif
