/* Running the collectors of a scrape: see registry.h. */
#include "registry.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <string.h>

struct registry_entry {
	const char *name;
	collect_fn fn;
	void *state;
	int err;	 /* of the last collection */
	double duration; /* of the last collection, seconds */
	int logged_err;	 /* the last error logged, so that a failure is logged once */
};

void scrape_report_map(struct scrape *s, const char *name, uint64_t entries, uint64_t max_entries,
		       uint64_t full)
{
	struct map_report *m = vec_push(&s->maps);

	if (m)
		*m = (struct map_report){ name, entries, max_entries, full };
}

void registry_init(struct registry *r)
{
	r->entries = VEC_INIT(struct registry_entry);
}

int registry_add(struct registry *r, const char *name, collect_fn fn, void *state)
{
	struct registry_entry *e = vec_push(&r->entries);

	if (!e)
		return -ENOMEM;
	*e = (struct registry_entry){ .name = name, .fn = fn, .state = state };
	return 0;
}

static void write_outcomes(const struct registry *r, struct expo *e)
{
	struct label l = { "collector", NULL };

	expo_family(e, "ctrlscope_collector_success", "gauge",
		    "1 when the collector's last collection succeeded, else 0.");
	for (size_t i = 0; i < r->entries.n; i++) {
		const struct registry_entry *c = vec_at(&r->entries, i);

		l.value = c->name;
		expo_u64(e, &l, 1, c->err ? 0 : 1);
	}
	expo_family(e, "ctrlscope_collector_duration_seconds", "gauge",
		    "Time the collector's last collection took.");
	for (size_t i = 0; i < r->entries.n; i++) {
		const struct registry_entry *c = vec_at(&r->entries, i);

		l.value = c->name;
		expo_f64(e, &l, 1, c->duration);
	}
}

size_t registry_collect(struct registry *r, struct scrape *s)
{
	size_t failed = 0;

	for (size_t i = 0; i < r->entries.n; i++) {
		struct registry_entry *c = vec_at(&r->entries, i);
		double t0 = clock_seconds(CLOCK_MONOTONIC);

		c->err = c->fn(c->state, s);
		c->duration = clock_seconds(CLOCK_MONOTONIC) - t0;
		if (c->err)
			failed++;
		/* Once per change, not at every scrape. */
		if (c->err && c->err != c->logged_err)
			log_warn("collector %s failed: %s", c->name, strerror(-c->err));
		else if (!c->err && c->logged_err)
			log_info("collector %s collects again", c->name);
		c->logged_err = c->err;
	}
	write_outcomes(r, s->e);
	return failed;
}

void registry_free(struct registry *r)
{
	vec_free(&r->entries);
}
