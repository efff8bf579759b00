/* CPU throttling of cgroups: see cpustat.h. */
#include "sched_cpustat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A decimal u64 that ends at a space, newline or NUL; NULL when malformed. */
static const char *parse_u64(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && *p != '\n' && *p != ' ')
		return NULL;
	*out = v;
	return p;
}

int cpustat_parse(const char *text, struct throttling *out)
{
	bool periods = false, time = false;
	struct throttling r = { 0 };

	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n'), *sp = strchr(line, ' ');
		uint64_t v, *dst = NULL, scale = 1;

		if (sp && (!eol || sp < eol)) {
			size_t klen = (size_t)(sp - line);

			if (klen == 12 && !strncmp(line, "nr_throttled", 12)) {
				dst = &r.periods;
				periods = true;
			} else if (klen == 14 && !strncmp(line, "throttled_usec", 14)) {
				dst = &r.ns;
				scale = 1000;
				time = true;
			} else if (klen == 14 && !strncmp(line, "throttled_time", 14)) {
				dst = &r.ns;
				time = true;
			}
			if (dst) {
				if (!parse_u64(sp + 1, &v) || v > UINT64_MAX / scale)
					return -EINVAL;
				*dst = v * scale;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	if (!periods || !time)
		return -ENOENT;
	*out = r;
	return 0;
}

int cpustat_limited_v2(const char *cpu_max)
{
	uint64_t v;
	const char *p;

	if (!strncmp(cpu_max, "max", 3))
		p = cpu_max + 3;
	else if (!(p = parse_u64(cpu_max, &v)))
		return -EINVAL;
	if (*p != ' ' || !(p = parse_u64(p + 1, &v)) || (*p && strcmp(p, "\n")))
		return -EINVAL;
	return cpu_max[0] != 'm';
}

int cpustat_limited_v1(const char *cfs_quota_us)
{
	uint64_t v;
	const char *p = cfs_quota_us;

	if (*p == '-')
		return strcmp(p, "-1") && strcmp(p, "-1\n") ? -EINVAL : 0;
	p = parse_u64(p, &v);
	if (!p || (*p && strcmp(p, "\n")))
		return -EINVAL;
	return 1;
}

int cpustat_v1_path(const char *text, const char *controller, char *out, size_t size)
{
	size_t clen = strlen(controller);

	/* hierarchy-ID:controller-list:cgroup-path, one line per hierarchy (cgroups(7)). */
	for (const char *line = text; line && *line;) {
		const char *eol = strchr(line, '\n'), *end = eol ? eol : line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;

		for (const char *p = c1 ? c1 + 1 : c2; c2 && p < c2;) {
			const char *comma = memchr(p, ',', (size_t)(c2 - p)),
				   *tok_end = comma ? comma : c2;

			if ((size_t)(tok_end - p) == clen && !strncmp(p, controller, clen)) {
				size_t len = (size_t)(end - c2 - 1);

				if (len >= size)
					return -ENAMETOOLONG;
				memcpy(out, c2 + 1, len);
				out[len] = 0;
				return 0;
			}
			p = tok_end + 1;
		}
		line = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

struct entry {
	uint32_t slot;
	uint64_t cgroup;
	struct throttling last;
	double seen;
};

struct throttle_table {
	uint32_t max_slots;
	struct throttling *totals; /* per slot */
	bool *limited;		   /* per slot */
	struct entry *entries;
	size_t n, cap;
};

struct throttle_table *throttle_new(uint32_t max_slots)
{
	struct throttle_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max_slots = max_slots;
	t->totals = calloc(max_slots ? max_slots : 1, sizeof(*t->totals));
	t->limited = calloc(max_slots ? max_slots : 1, sizeof(*t->limited));
	if (!t->totals || !t->limited) {
		throttle_free(t);
		return NULL;
	}
	return t;
}

void throttle_free(struct throttle_table *t)
{
	if (!t)
		return;
	free(t->totals);
	free(t->limited);
	free(t->entries);
	free(t);
}

static uint64_t grown(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

int throttle_observe(struct throttle_table *t, uint32_t slot, uint64_t cgroup,
		     const struct throttling *r, double now)
{
	struct entry *e = NULL;
	struct throttling before = { 0 };

	if (slot >= t->max_slots)
		return -ERANGE;
	for (size_t i = 0; i < t->n; i++) {
		if (t->entries[i].slot == slot && t->entries[i].cgroup == cgroup) {
			e = &t->entries[i];
			before = e->last;
			break;
		}
	}
	if (!e) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 16;
			struct entry *grown_entries =
				realloc(t->entries, cap * sizeof(*grown_entries));

			if (!grown_entries)
				return -ENOMEM;
			t->entries = grown_entries;
			t->cap = cap;
		}
		e = &t->entries[t->n++];
		e->slot = slot;
		e->cgroup = cgroup;
	}
	t->totals[slot].periods += grown(r->periods, before.periods);
	t->totals[slot].ns += grown(r->ns, before.ns);
	t->limited[slot] = true;
	e->last = *r;
	e->seen = now;
	return 0;
}

static void keep_if(struct throttle_table *t, bool (*drop)(const struct entry *, const void *),
		    const void *arg)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (!drop(&t->entries[i], arg))
			t->entries[kept++] = t->entries[i];
	}
	t->n = kept;
}

static bool older(const struct entry *e, const void *arg)
{
	return e->seen < *(const double *)arg;
}

static bool of_slot(const struct entry *e, const void *arg)
{
	return e->slot == *(const uint32_t *)arg;
}

void throttle_expire(struct throttle_table *t, double cutoff)
{
	keep_if(t, older, &cutoff);
}

void throttle_forget_slot(struct throttle_table *t, uint32_t slot)
{
	if (slot >= t->max_slots)
		return;
	keep_if(t, of_slot, &slot);
	t->totals[slot] = (struct throttling){ 0 };
	t->limited[slot] = false;
}

bool throttle_total(const struct throttle_table *t, uint32_t slot, struct throttling *out)
{
	if (slot >= t->max_slots || !t->limited[slot])
		return false;
	*out = t->totals[slot];
	return true;
}
