/* Unit tests for the log2 histogram buckets shared by BPF and user space
 * (include/ctrlscope/hist.h): the log2 is rounded up, so bucket i really is le 2^(MIN+i). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctrlscope/hist.h"

#define P2(k) (1ULL << (k))

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(CS_HIST_MIN_EXP, 8);
	assert_int_equal(CS_HIST_MAX_EXP, 34);
	/* One bucket per exponent from MIN to MAX, plus the +Inf-only bucket. */
	assert_int_equal(CS_HIST_BUCKETS, 28);
}

static void test_log2_ceil_small(void **state)
{
	(void)state;
	assert_int_equal(cs_log2_ceil(0), 0);
	assert_int_equal(cs_log2_ceil(1), 0);
	assert_int_equal(cs_log2_ceil(2), 1);
	assert_int_equal(cs_log2_ceil(3), 2);
	assert_int_equal(cs_log2_ceil(4), 2);
	assert_int_equal(cs_log2_ceil(5), 3);
	assert_int_equal(cs_log2_ceil(7), 3);
	assert_int_equal(cs_log2_ceil(8), 3);
	assert_int_equal(cs_log2_ceil(9), 4);
	assert_int_equal(cs_log2_ceil(1000), 10);
	assert_int_equal(cs_log2_ceil(1024), 10);
	assert_int_equal(cs_log2_ceil(1025), 11);
}

static void test_log2_ceil_powers(void **state)
{
	(void)state;
	for (unsigned int k = 1; k < 64; k++) {
		assert_int_equal(cs_log2_ceil(P2(k)), k);
		assert_int_equal(cs_log2_ceil(P2(k) + 1), k + 1);
		assert_int_equal(cs_log2_ceil(P2(k) - 1), k == 1 ? 0 : k);
	}
	assert_int_equal(cs_log2_ceil(UINT64_MAX), 64);
	assert_int_equal(cs_log2_ceil(P2(63) + 1), 64);
}

static void test_bucket_small_values(void **state)
{
	(void)state;
	/* Everything up to 2^MIN ns is in the first bucket. */
	assert_int_equal(cs_hist_bucket(0), 0);
	assert_int_equal(cs_hist_bucket(1), 0);
	assert_int_equal(cs_hist_bucket(2), 0);
	assert_int_equal(cs_hist_bucket(3), 0);
	assert_int_equal(cs_hist_bucket(4), 0);
	assert_int_equal(cs_hist_bucket(5), 0);
	assert_int_equal(cs_hist_bucket(255), 0);
}

static void test_bucket_min_boundary(void **state)
{
	(void)state;
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MIN_EXP)), 0); /* 256 ns: le="0.000000256" */
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MIN_EXP) + 1), 1);
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MIN_EXP + 1)), 1); /* 512 */
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MIN_EXP + 1) + 1), 2);
	assert_int_equal(cs_hist_bucket(1000), 2); /* 1000 <= 1024 */
	assert_int_equal(cs_hist_bucket(1024), 2);
	assert_int_equal(cs_hist_bucket(1025), 3);
}

static void test_bucket_max_boundary(void **state)
{
	(void)state;
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP - 1)), 25);
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP - 1) + 1), 26);
	/* 2^34 ns is still covered by the last finite le. */
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP)), CS_HIST_BUCKETS - 2);
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP) - 1), CS_HIST_BUCKETS - 2);
	/* Anything above only +Inf covers. */
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP) + 1), CS_HIST_BUCKETS - 1);
	assert_int_equal(cs_hist_bucket(P2(CS_HIST_MAX_EXP + 1)), CS_HIST_BUCKETS - 1);
	assert_int_equal(cs_hist_bucket(P2(63)), CS_HIST_BUCKETS - 1);
	assert_int_equal(cs_hist_bucket(UINT64_MAX), CS_HIST_BUCKETS - 1);
}

static void test_bucket_every_exponent(void **state)
{
	(void)state;
	for (unsigned int i = 0; i + 1 < CS_HIST_BUCKETS; i++) {
		uint64_t le = P2(CS_HIST_MIN_EXP + i);

		assert_int_equal(cs_hist_bucket(le), i);
		assert_int_equal(cs_hist_bucket(le + 1), i + 1);
		if (i > 0)
			assert_int_equal(cs_hist_bucket(le - 1), i);
	}
}

/* The smallest i with v <= 2^(MIN+i), else the +Inf bucket: the definition, by brute force. */
static unsigned int reference_bucket(uint64_t v)
{
	for (unsigned int i = 0; i + 1 < CS_HIST_BUCKETS; i++) {
		if (v <= P2(CS_HIST_MIN_EXP + i))
			return i;
	}
	return CS_HIST_BUCKETS - 1;
}

static void test_bucket_matches_definition(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (uint64_t v = 0; v < 5000; v++)
		assert_int_equal(cs_hist_bucket(v), reference_bucket(v));
	for (int i = 0; i < 100000; i++) {
		uint64_t v;

		/* xorshift64, shifted so that every magnitude is covered */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = x >> (x % 64);
		assert_int_equal(cs_hist_bucket(v), reference_bucket(v));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_log2_ceil_small),
		cmocka_unit_test(test_log2_ceil_powers),
		cmocka_unit_test(test_bucket_small_values),
		cmocka_unit_test(test_bucket_min_boundary),
		cmocka_unit_test(test_bucket_max_boundary),
		cmocka_unit_test(test_bucket_every_exponent),
		cmocka_unit_test(test_bucket_matches_definition),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
