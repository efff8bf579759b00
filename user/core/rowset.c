/* Merging rows of aliased label sets: see rowset.h. */
#include "rowset.h"

#include <stdlib.h>
#include <string.h>

/* Add the counters of src into dst: the __u64s from off to size. */
static void add_counters(void *dst, const void *src, size_t off, size_t size)
{
	uint64_t *d = (uint64_t *)((char *)dst + off);
	const uint64_t *s = (const uint64_t *)((const char *)src + off);

	for (size_t k = 0; k < (size - off) / sizeof(uint64_t); k++)
		d[k] += s[k];
}

void rows_merge_aliases(struct vec *rows, const struct row_shape *shape,
			const struct slot_table *slots)
{
	size_t out = 0;

	for (size_t i = 0; i < rows->n; i++) {
		uint32_t *slot = vec_at(rows, i); /* every key starts with its slot */

		*slot = slot_alias(slots, *slot);
	}
	if (!rows->n) /* qsort's array may not be NULL, even when empty */
		return;
	qsort(rows->items, rows->n, rows->size, shape->cmp);
	for (size_t i = 0; i < rows->n; i++) {
		void *row = vec_at(rows, i);

		if (out && !shape->cmp(vec_at(rows, out - 1), row)) {
			add_counters(vec_at(rows, out - 1), row, shape->counters_off, rows->size);
			continue;
		}
		if (out != i)
			memcpy(vec_at(rows, out), row, rows->size);
		out++;
	}
	rows->n = out;
}

void slots_fold_aliases(void *values, size_t value_size, const struct slot_table *slots)
{
	for (size_t u = 0; u < slots->n; u++) {
		size_t a = slots->slots[u].alias_at;
		char *mine = (char *)values + u * value_size;

		if (a == u)
			continue;
		add_counters((char *)values + a * value_size, mine, 0, value_size);
		memset(mine, 0, value_size);
	}
}
