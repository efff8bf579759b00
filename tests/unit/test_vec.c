/* The growable arrays (vec.h): vec_push and array_push keep every element through their
 * growth, hand out zeroed elements, and array_push's implied capacity holds at each
 * boundary where it grows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "vec.h"

struct item {
	uint64_t a;
	uint32_t b;
};

static void test_vec_keeps_every_element(void **state)
{
	struct vec v = VEC_INIT(struct item);

	(void)state;
	for (uint64_t i = 0; i < 1000; i++) {
		struct item *it = vec_push(&v);

		assert_non_null(it);
		assert_int_equal(it->a, 0);
		assert_int_equal(it->b, 0);
		it->a = i;
		it->b = (uint32_t)(i * 3);
	}
	assert_int_equal(v.n, 1000);
	assert_false(v.failed);
	for (uint64_t i = 0; i < 1000; i++) {
		const struct item *it = vec_at(&v, i);

		assert_int_equal(it->a, i);
		assert_int_equal(it->b, i * 3);
	}
	vec_free(&v);
	assert_int_equal(v.n, 0);
	assert_null(v.items);
}

static void test_array_push_grows_at_powers_of_two(void **state)
{
	struct item *items = NULL;
	size_t n = 0;

	(void)state;
	/* Through several doublings (4, 8, ..., 1024): each element written is still there;
	 * under ASan a capacity short by one element is a heap overflow. */
	for (uint64_t i = 0; i < 1025; i++) {
		struct item *it = ARRAY_PUSH(items, n);

		assert_non_null(it);
		assert_ptr_equal(it, &items[n]);
		assert_int_equal(it->a, 0);
		it->a = i + 1;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(items[i].a, i + 1);
	/* A count that shrank (deduplication) still has the room it had. */
	n = 3;
	assert_non_null(ARRAY_PUSH(items, n));
	n++;
	assert_int_equal(items[2].a, 3);
	assert_int_equal(items[3].a, 0);
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vec_keeps_every_element),
		cmocka_unit_test(test_array_push_grows_at_powers_of_two),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
