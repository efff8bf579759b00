/* Unit tests for the growable array (user/lib/vec.h) and for making rows of aliased label sets
 * into one row per series (user/core/rowset.h), as every module does before it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rowset.h"
#include "vec.h"

struct key {
	uint32_t slot;
	uint32_t nr;
};

struct row {
	struct key key;
	uint64_t count;
	uint64_t sum;
};

static int cmp_row(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

static const struct row_shape shape = { sizeof(struct key), offsetof(struct row, count), cmp_row };

/* Slots 0 to 4; 2 and 4 stand for 0's labels, 3 for 1's. */
static struct slot_info infos[5];
static const struct slot_table slots = { infos, 5 };

static int setup(void **state)
{
	static const uint32_t alias[5] = { 0, 1, 0, 1, 0 };

	(void)state;
	memset(infos, 0, sizeof(infos));
	for (int s = 0; s < 5; s++) {
		infos[s].slot = (uint32_t)s;
		infos[s].alias = alias[s];
		infos[s].alias_at = alias[s];
	}
	return 0;
}

static void push(struct vec *v, uint32_t slot, uint32_t nr, uint64_t count, uint64_t sum)
{
	struct row *r = vec_push(v);

	assert_non_null(r);
	*r = (struct row){ { slot, nr }, count, sum };
}

static void test_vec_grows_and_zeroes(void **state)
{
	struct vec v = VEC_INIT(struct row);

	(void)state;
	for (uint32_t i = 0; i < 1000; i++) {
		struct row *r = vec_push(&v);

		assert_non_null(r);
		assert_int_equal(r->key.slot, 0); /* zeroed, whatever realloc left there */
		assert_int_equal(r->count, 0);
		r->key.nr = i;
	}
	assert_int_equal(v.n, 1000);
	assert_true(v.cap >= 1000);
	assert_false(v.failed);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(((struct row *)vec_at(&v, i))->key.nr, i);
	vec_free(&v);
	assert_null(v.items);
	assert_int_equal(v.n, 0);
	assert_int_equal(v.size, sizeof(struct row)); /* ready for reuse */
}

static void test_aliased_rows_become_one_sum(void **state)
{
	struct vec v = VEC_INIT(struct row);
	const struct row *r;

	(void)state;
	push(&v, 4, 7, 1, 10); /* alias of 0 */
	push(&v, 1, 7, 2, 20);
	push(&v, 0, 7, 4, 40);
	push(&v, 3, 9, 8, 80);	 /* alias of 1, another nr: its own row */
	push(&v, 2, 7, 16, 160); /* alias of 0 */
	push(&v, 0, 5, 32, 320);
	rows_merge_aliases(&v, &shape, &slots);
	assert_int_equal(v.n, 4);
	r = v.items;
	/* In key order, every slot its alias, counters summed. */
	assert_int_equal(r[0].key.slot, 0);
	assert_int_equal(r[0].key.nr, 5);
	assert_int_equal(r[0].count, 32);
	assert_int_equal(r[1].key.slot, 0);
	assert_int_equal(r[1].key.nr, 7);
	assert_int_equal(r[1].count, 1 + 4 + 16);
	assert_int_equal(r[1].sum, 10 + 40 + 160);
	assert_int_equal(r[2].key.slot, 1);
	assert_int_equal(r[2].key.nr, 7);
	assert_int_equal(r[2].count, 2);
	assert_int_equal(r[3].key.slot, 1);
	assert_int_equal(r[3].key.nr, 9);
	assert_int_equal(r[3].count, 8);
	assert_int_equal(r[3].sum, 80);
	vec_free(&v);
}

static void test_no_alias_keeps_every_row_and_empty_is_fine(void **state)
{
	struct vec v = VEC_INIT(struct row);

	(void)state;
	rows_merge_aliases(&v, &shape, &slots); /* empty: nothing to sort */
	assert_int_equal(v.n, 0);
	push(&v, 1, 2, 3, 4);
	push(&v, 0, 2, 5, 6);
	push(&v, 7, 2, 9, 9); /* a slot the table does not know stays itself */
	rows_merge_aliases(&v, &shape, &slots);
	assert_int_equal(v.n, 3);
	assert_int_equal(((struct row *)vec_at(&v, 0))->count, 5);
	assert_int_equal(((struct row *)vec_at(&v, 1))->count, 3);
	assert_int_equal(((struct row *)vec_at(&v, 2))->key.slot, 7);
	vec_free(&v);
}

static void test_fold_per_slot_values(void **state)
{
	uint64_t values[5][2] = { { 1, 10 }, { 2, 20 }, { 4, 40 }, { 8, 80 }, { 16, 160 } };

	(void)state;
	slots_fold_aliases(values, sizeof(values[0]), &slots);
	assert_int_equal(values[0][0], 1 + 4 + 16);
	assert_int_equal(values[0][1], 10 + 40 + 160);
	assert_int_equal(values[1][0], 2 + 8);
	assert_int_equal(values[1][1], 20 + 80);
	for (int s = 2; s < 5; s++) {
		assert_int_equal(values[s][0], 0);
		assert_int_equal(values[s][1], 0);
	}
}

/* Positions, not slot numbers: slots 3, 70 and 9000 in use, 9000 standing for 3's labels. */
static void test_fold_by_position_and_find_slots(void **state)
{
	struct slot_info few[3] = { { .slot = 3, .alias = 3, .alias_at = 0 },
				    { .slot = 70, .alias = 70, .alias_at = 1 },
				    { .slot = 9000, .alias = 3, .alias_at = 0 } };
	const struct slot_table t = { few, 3 };
	uint64_t values[3] = { 1, 2, 4 };

	(void)state;
	slots_fold_aliases(values, sizeof(values[0]), &t);
	assert_int_equal(values[0], 5);
	assert_int_equal(values[1], 2);
	assert_int_equal(values[2], 0);
	assert_int_equal(slot_index(&t, 3), 0);
	assert_int_equal(slot_index(&t, 70), 1);
	assert_int_equal(slot_index(&t, 9000), 2);
	assert_int_equal(slot_index(&t, 4), -1);
	assert_int_equal(slot_index(&t, 0), -1);
	assert_int_equal(slot_index(&t, 9001), -1);
	assert_int_equal(slot_alias(&t, 9000), 3);
	assert_int_equal(slot_alias(&t, 5), 5); /* unknown: itself */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vec_grows_and_zeroes),
		cmocka_unit_test_setup(test_aliased_rows_become_one_sum, setup),
		cmocka_unit_test_setup(test_no_alias_keeps_every_row_and_empty_is_fine, setup),
		cmocka_unit_test_setup(test_fold_per_slot_values, setup),
		cmocka_unit_test(test_fold_by_position_and_find_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
