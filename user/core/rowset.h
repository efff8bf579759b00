/* Rows of label sets, as every module reads them from its counting maps, made into
 * series: slots that stand for the same labels (slots.h: a pod recreated under its old
 * name) must become one series, their sum, or Prometheus would get the same series twice.
 * Not for reading maps (mapread.h) nor for writing series (expo.h). */
#ifndef CTRLSCOPE_ROWSET_H
#define CTRLSCOPE_ROWSET_H

#include <stddef.h>
#include <stdint.h>

#include "slots.h"
#include "vec.h"

/* The shape of a module's rows: a key at offset 0 that starts with the __u32 slot and
 * key_size bytes long, and __u64 counters from counters_off to the end of the row. cmp
 * orders two rows by key (the order series are written in); equal keys compare 0. */
struct row_shape {
	size_t key_size;
	size_t counters_off;
	int (*cmp)(const void *a, const void *b);
};

/* Give every row of rows its slot's alias, order the rows by key and sum the counters of
 * rows whose keys are then equal: one row per series. */
void rows_merge_aliases(struct vec *rows, const struct row_shape *shape,
			const struct slot_table *slots);

/* For values by position in slots (slots->n of them, each value_size bytes of __u64
 * counters): add every aliased slot's counters into its alias's and zero its own. */
void slots_fold_aliases(void *values, size_t value_size, const struct slot_table *slots);

#endif
