/* Slot labels: see slots.h. */
#include "slots.h"
#include "mapread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	struct slot_table *table;
	uint32_t max;
	size_t cap;
	bool failed;
};

static void read_slot(const void *key, const void *value, void *ctx)
{
	struct reader *r = ctx;
	struct slot_table *t = r->table;
	uint32_t slot = *(const uint32_t *)value;
	struct slot_info *s;

	if (slot >= r->max || r->failed)
		return;
	if (t->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct slot_info *grown = realloc(t->slots, cap * sizeof(*grown));

		if (!grown) {
			r->failed = true;
			return;
		}
		t->slots = grown;
		r->cap = cap;
	}
	s = &t->slots[t->n++];
	memset(s, 0, sizeof(*s));
	s->slot = slot;
	memcpy(&s->key, key, sizeof(s->key));
	memcpy(s->comm, s->key.comm, CS_COMM_LEN);
	s->comm[CS_COMM_LEN] = 0;
}

static int cmp_slot(const void *x, const void *y)
{
	const struct slot_info *a = x, *b = y;

	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

void container_labels_free(struct container_labels *l)
{
	free(l->namespace);
	free(l->pod);
	free(l->container);
	free(l->workload);
	memset(l, 0, sizeof(*l));
}

static void resolve(struct slot_info *s, const struct config *cfg, container_labels_fn containers,
		    void *ctx)
{
	const struct target_config *tc = config_target(cfg, s->key.target);

	s->n_labels = 0;
	if (!tc)
		return; /* a target removed by a reload: its label sets go with their grace */
	s->labels[0] = (struct label){ "target", tc->name };
	if (s->key.key_by == CS_KEY_BY_COMM) {
		s->labels[1] = (struct label){ "comm", s->comm };
		s->n_labels = 2;
		return;
	}
	/* A container forgotten since the kernel allocated its slot: nothing to show. */
	if (!containers || containers(ctx, s->key.container, &s->kube))
		return;
	s->labels[1] = (struct label){ "namespace", s->kube.namespace };
	s->labels[2] = (struct label){ "pod", s->kube.pod };
	s->labels[3] = (struct label){ "container", s->kube.container };
	s->labels[4] = (struct label){ "workload", s->kube.workload };
	s->n_labels = 5;
}

static int cmp_labels(const struct slot_info *a, const struct slot_info *b)
{
	int d;

	if (a->n_labels != b->n_labels)
		return a->n_labels < b->n_labels ? -1 : 1;
	for (size_t i = 0; i < a->n_labels; i++) {
		if ((d = strcmp(a->labels[i].value, b->labels[i].value)))
			return d;
	}
	return 0;
}

/* Positions ordered by labels, then by slot (the lowest of equals comes first). */
static int cmp_by_labels(const void *x, const void *y, void *ctx)
{
	const struct slot_table *t = ctx;
	const struct slot_info *a = &t->slots[*(const size_t *)x];
	const struct slot_info *b = &t->slots[*(const size_t *)y];
	int d = cmp_labels(a, b);

	return d ? d : (a->slot < b->slot ? -1 : a->slot > b->slot);
}

/* Slots with equal labels alias the lowest of them: sort by labels, then walk. */
static int find_aliases(struct slot_table *table)
{
	size_t *order = calloc(table->n ? table->n : 1, sizeof(*order));
	size_t n = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < table->n; i++) {
		table->slots[i].alias = table->slots[i].slot;
		table->slots[i].alias_at = i;
		if (table->slots[i].n_labels)
			order[n++] = i;
	}
	if (n)
		qsort_r(order, n, sizeof(*order), cmp_by_labels, table);
	for (size_t i = 1; i < n; i++) {
		struct slot_info *prev = &table->slots[order[i - 1]],
				 *cur = &table->slots[order[i]];

		if (!cmp_labels(prev, cur)) {
			cur->alias = prev->alias;
			cur->alias_at = prev->alias_at;
		}
	}
	free(order);
	return 0;
}

int slots_read(int label_sets_fd, uint32_t max, const struct config *cfg,
	       container_labels_fn containers, void *ctx, struct slot_table *table)
{
	struct reader r = { .table = table, .max = max };
	size_t out = 0;
	int n;

	memset(table, 0, sizeof(*table));
	n = mapread_raw(label_sets_fd, sizeof(struct cs_slot_key), sizeof(uint32_t), read_slot, &r);
	if (n < 0 || r.failed) {
		slot_table_free(table);
		return n < 0 ? n : -ENOMEM;
	}
	if (table->n)
		qsort(table->slots, table->n, sizeof(*table->slots), cmp_slot);
	/* Two keys of one slot (a stale entry): the first stays. */
	for (size_t i = 0; i < table->n; i++) {
		if (out && table->slots[out - 1].slot == table->slots[i].slot)
			continue;
		table->slots[out++] = table->slots[i];
	}
	table->n = out;
	for (size_t i = 0; i < table->n; i++)
		resolve(&table->slots[i], cfg, containers, ctx);
	return find_aliases(table);
}

void slot_table_free(struct slot_table *table)
{
	for (size_t i = 0; table->slots && i < table->n; i++)
		container_labels_free(&table->slots[i].kube);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}

long slot_index(const struct slot_table *table, uint32_t slot)
{
	size_t lo = 0, hi = table->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (table->slots[mid].slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < table->n && table->slots[lo].slot == slot ? (long)lo : -1;
}

size_t slot_labels_at(const struct slot_table *table, size_t u, struct label *labels)
{
	const struct slot_info *s = &table->slots[u];

	memcpy(labels, s->labels, s->n_labels * sizeof(*labels));
	return s->n_labels;
}

size_t slot_labels(const struct slot_table *table, uint32_t slot, struct label *labels)
{
	long i = slot_index(table, slot);

	return i < 0 ? 0 : slot_labels_at(table, (size_t)i, labels);
}

uint32_t slot_alias(const struct slot_table *table, uint32_t slot)
{
	long i = slot_index(table, slot);

	return i < 0 ? slot : table->slots[i].alias;
}

/* Rows further apart than this are read by two batches rather than one spanning both;
 * a batch spans at most SLOT_SPAN rows. */
#define SLOT_GAP  64
#define SLOT_SPAN 4096

int slots_read_array(const struct slot_table *table, int fd, size_t value_size, int percpu,
		     void *out)
{
	char *span = NULL;
	int err = 0;

	for (size_t u = 0; !err && u < table->n;) {
		uint32_t first = table->slots[u].slot, last = first;
		size_t from = u;

		while (++u < table->n && table->slots[u].slot - last <= SLOT_GAP &&
		       table->slots[u].slot - first < SLOT_SPAN)
			last = table->slots[u].slot;
		if (!span && !(span = malloc((size_t)SLOT_SPAN * value_size)))
			return -ENOMEM;
		err = mapread_array(fd, first, last - first + 1, value_size, percpu, span);
		for (size_t k = from; !err && k < u; k++)
			memcpy((char *)out + k * value_size,
			       span + (size_t)(table->slots[k].slot - first) * value_size,
			       value_size);
	}
	free(span);
	return err;
}
