/* Unit tests for the collector registry (user/core/registry.h): collectors run in order, a
 * failing one is reported by its own ctrlscope_collector_success and keeps every other
 * collector's series, and map fill levels reach the collectors that follow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "registry.h"

static int write_one(void *state, struct scrape *s)
{
	const char *name = state;

	expo_family(s->e, name, "gauge", "A test series.");
	expo_u64(s->e, NULL, 0, 7);
	return 0;
}

/* Writes half a family, then fails: as a module whose second map read fails. */
static int write_then_fail(void *state, struct scrape *s)
{
	(void)state;
	expo_family(s->e, "half_written", "gauge", "Written before the failure.");
	expo_u64(s->e, NULL, 0, 1);
	return -EIO;
}

/* Fails while *state is set. */
static int fails_while(void *state, struct scrape *s)
{
	(void)s;
	return *(int *)state ? -EIO : 0;
}

static int report_map(void *state, struct scrape *s)
{
	(void)state;
	scrape_report_map(s, "test_map", 3, 10, 1);
	return 0;
}

static int count_maps(void *state, struct scrape *s)
{
	*(size_t *)state = s->maps.n;
	return 0;
}

/* One scrape of r into out (a C string). */
static void scrape_into(struct registry *r, struct buf *out, size_t *failed)
{
	struct expo e;
	struct scrape s = { .e = &e, .maps = VEC_INIT(struct map_report) };

	buf_init(out);
	expo_init(&e, out);
	*failed = registry_collect(r, &s);
	vec_free(&s.maps);
	assert_false(out->failed);
	assert_non_null(buf_cstr(out));
}

static void test_a_failing_collector_keeps_the_others_series(void **state)
{
	struct registry r;
	struct buf out;
	size_t failed;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "first", write_one, "first_series"), 0);
	assert_int_equal(registry_add(&r, "broken", write_then_fail, NULL), 0);
	assert_int_equal(registry_add(&r, "last", write_one, "last_series"), 0);
	scrape_into(&r, &out, &failed);
	assert_int_equal(failed, 1);
	assert_non_null(strstr(out.data, "\nfirst_series 7\n"));
	assert_non_null(strstr(out.data, "\nhalf_written 1\n"));
	assert_non_null(strstr(out.data, "\nlast_series 7\n"));
	assert_non_null(strstr(out.data, "ctrlscope_collector_success{collector=\"first\"} 1\n"));
	assert_non_null(strstr(out.data, "ctrlscope_collector_success{collector=\"broken\"} 0\n"));
	assert_non_null(strstr(out.data, "ctrlscope_collector_success{collector=\"last\"} 1\n"));
	assert_non_null(
		strstr(out.data, "ctrlscope_collector_duration_seconds{collector=\"broken\"} "));
	/* In registration order, the outcomes after every collector's own series. */
	assert_true(strstr(out.data, "first_series") < strstr(out.data, "half_written"));
	assert_true(strstr(out.data, "half_written") < strstr(out.data, "last_series"));
	assert_true(strstr(out.data, "last_series") <
		    strstr(out.data, "ctrlscope_collector_success"));
	buf_free(&out);
	registry_free(&r);
}

static void test_a_collector_that_recovers_reports_success_again(void **state)
{
	struct registry r;
	struct buf out;
	size_t failed;
	int broken = 1;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "flaky", fails_while, &broken), 0);
	scrape_into(&r, &out, &failed);
	assert_int_equal(failed, 1);
	assert_non_null(strstr(out.data, "ctrlscope_collector_success{collector=\"flaky\"} 0\n"));
	buf_free(&out);
	broken = 0; /* its outcome is the last collection's */
	scrape_into(&r, &out, &failed);
	assert_int_equal(failed, 0);
	assert_non_null(strstr(out.data, "ctrlscope_collector_success{collector=\"flaky\"} 1\n"));
	buf_free(&out);
	registry_free(&r);
}

static void test_map_reports_reach_later_collectors(void **state)
{
	struct registry r;
	struct buf out;
	size_t failed, seen = 0;

	(void)state;
	registry_init(&r);
	assert_int_equal(registry_add(&r, "reporter", report_map, NULL), 0);
	assert_int_equal(registry_add(&r, "reader", count_maps, &seen), 0);
	scrape_into(&r, &out, &failed);
	assert_int_equal(failed, 0);
	assert_int_equal(seen, 1);
	buf_free(&out);
	registry_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_failing_collector_keeps_the_others_series),
		cmocka_unit_test(test_a_collector_that_recovers_reports_success_again),
		cmocka_unit_test(test_map_reports_reach_later_collectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
