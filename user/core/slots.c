/* Slot labels: see slots.h. */
#include "slots.h"
#include "mapread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	struct slot_table *table;
	uint32_t max;
};

static void read_slot(const void *key, const void *value, void *ctx)
{
	struct reader *r = ctx;
	uint32_t slot = *(const uint32_t *)value;
	struct slot_info *s;

	if (slot >= r->max)
		return;
	s = &r->table->slots[slot];
	s->valid = true;
	memcpy(&s->key, key, sizeof(s->key));
	memcpy(s->comm, s->key.comm, CS_COMM_LEN);
	s->comm[CS_COMM_LEN] = 0;
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

/* A slot to order by its labels, then by number (the lowest of equals comes first). */
struct ordered {
	struct slot_info *info;
	uint32_t slot;
};

static int cmp_ordered(const void *x, const void *y)
{
	const struct ordered *a = x, *b = y;
	int d = cmp_labels(a->info, b->info);

	return d ? d : (a->slot < b->slot ? -1 : a->slot > b->slot);
}

/* Slots with equal labels alias the lowest of them: sort by labels, then walk. */
static int find_aliases(struct slot_table *table)
{
	struct ordered *order = calloc(table->n ? table->n : 1, sizeof(*order));
	size_t n = 0;

	if (!order)
		return -ENOMEM;
	for (uint32_t i = 0; i < table->n; i++) {
		table->slots[i].alias = i;
		if (table->slots[i].valid && table->slots[i].n_labels)
			order[n++] = (struct ordered){ &table->slots[i], i };
	}
	if (n)
		qsort(order, n, sizeof(*order), cmp_ordered);
	for (size_t i = 1; i < n; i++) {
		if (!cmp_labels(order[i - 1].info, order[i].info))
			order[i].info->alias = order[i - 1].info->alias;
	}
	free(order);
	return 0;
}

int slots_read(int label_sets_fd, uint32_t max, const struct config *cfg,
	       container_labels_fn containers, void *ctx, struct slot_table *table)
{
	struct reader r = { table, max };
	int n;

	table->n = max;
	table->slots = calloc(max ? max : 1, sizeof(*table->slots));
	if (!table->slots)
		return -ENOMEM;
	n = mapread_raw(label_sets_fd, sizeof(struct cs_slot_key), sizeof(uint32_t), read_slot, &r);
	if (n < 0) {
		slot_table_free(table);
		return n;
	}
	for (uint32_t i = 0; i < max; i++) {
		if (table->slots[i].valid)
			resolve(&table->slots[i], cfg, containers, ctx);
	}
	return find_aliases(table);
}

void slot_table_free(struct slot_table *table)
{
	for (size_t i = 0; table->slots && i < table->n; i++)
		container_labels_free(&table->slots[i].kube);
	free(table->slots);
	table->slots = NULL;
	table->n = 0;
}

size_t slot_labels(const struct slot_table *table, uint32_t slot, struct label *labels)
{
	const struct slot_info *s;

	if (slot >= table->n || !table->slots[slot].valid)
		return 0;
	s = &table->slots[slot];
	memcpy(labels, s->labels, s->n_labels * sizeof(*labels));
	return s->n_labels;
}

uint32_t slot_alias(const struct slot_table *table, uint32_t slot)
{
	return slot < table->n ? table->slots[slot].alias : slot;
}
