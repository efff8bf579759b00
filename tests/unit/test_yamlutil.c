/* Unit tests for the duration parser shared by every YAML file (parse_duration_ms in
 * user/lib/yamlutil.h): Prometheus's duration syntax (model.ParseDuration) in milliseconds,
 * units in decreasing order, each at most once, no fractions, no sign, and overflow of a
 * long long rejected; and y_read_file's errors, each naming what was wrong. The schema
 * helpers themselves are covered through test_config and test_webconfig. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamlutil.h"

#define SECOND_MS 1000LL
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS	  (60 * MINUTE_MS)
#define DAY_MS	  (24 * HOUR_MS)
#define WEEK_MS	  (7 * DAY_MS)
#define YEAR_MS	  (365 * DAY_MS)

static void check_ok(const char *s, long long want)
{
	long long ms = -12345;

	if (parse_duration_ms(s, &ms))
		fail_msg("\"%s\" was rejected", s);
	if (ms != want)
		fail_msg("\"%s\": got %lld ms, expected %lld", s, ms, want);
}

static void check_invalid(const char *s)
{
	long long ms = -12345;
	int ret = parse_duration_ms(s, &ms);

	if (ret != -EINVAL)
		fail_msg("\"%s\": returned %d (%lld ms), expected -EINVAL", s, ret, ms);
	/* A rejected duration leaves the output alone. */
	assert_int_equal(ms, -12345);
}

static void test_units(void **state)
{
	(void)state;
	check_ok("0", 0);
	check_ok("250ms", 250);
	check_ok("5s", 5 * SECOND_MS);
	check_ok("1m", MINUTE_MS);
	check_ok("1h", HOUR_MS);
	check_ok("2d", 2 * DAY_MS);
	check_ok("1w", WEEK_MS);
	check_ok("1y", YEAR_MS);
	check_ok("0s", 0);
	check_ok("0ms", 0);
	check_ok("000010s", 10 * SECOND_MS);
}

static void test_compound(void **state)
{
	(void)state;
	check_ok("1m30s", 90 * SECOND_MS);
	check_ok("1s1ms", 1001);
	check_ok("1h30m", 90 * MINUTE_MS);
	check_ok("2h0m5s", 2 * HOUR_MS + 5 * SECOND_MS);
	check_ok("1y1w1d1h1m1s1ms",
		 YEAR_MS + WEEK_MS + DAY_MS + HOUR_MS + MINUTE_MS + SECOND_MS + 1);
	/* Units may be skipped, as long as they decrease. */
	check_ok("1y1ms", YEAR_MS + 1);
	check_ok("90m", 90 * MINUTE_MS);
	check_ok("1500ms", 1500);
}

static void test_invalid(void **state)
{
	(void)state;
	check_invalid("");
	check_invalid("5");    /* no unit: only "0" may omit it */
	check_invalid("00");   /* "0" only, not any zero */
	check_invalid("1.5s"); /* no fractions */
	check_invalid("1x");
	check_invalid("1S");
	check_invalid("1M");
	check_invalid("1us");
	check_invalid("s");
	check_invalid("ms");
	check_invalid("1m1m"); /* each unit once */
	check_invalid("1s1s");
	check_invalid("1m5h"); /* decreasing order */
	check_invalid("1ms1s");
	check_invalid("1s1m");
	check_invalid("1d1y");
	check_invalid("1sms");
	check_invalid("1mss");
	check_invalid("-1s");
	check_invalid("+1s");
	check_invalid(" 1s");
	check_invalid("1s ");
	check_invalid("1 s");
	check_invalid("0x10s");
	check_invalid("1s0");
	check_invalid("5m30");
}

static void test_overflow(void **state)
{
	(void)state;
	/* LLONG_MAX / YEAR_MS = 292471208. */
	check_ok("292471208y", 292471208 * YEAR_MS);
	check_invalid("292471209y");
	check_ok("292471208y0w", 292471208 * YEAR_MS);
	/* The sum may reach LLONG_MAX exactly, not one more. */
	check_ok("292471208y21366775807ms", LLONG_MAX);
	check_invalid("292471208y21366775808ms");
	check_invalid("9223372036854775808ms");
	check_invalid("9223372036854775807s");
	check_invalid("99999999999999999999999999ms");
	check_invalid("18446744073709551616ms"); /* 2^64: wraps to 0 in 64 bits */
	check_invalid("9223372036854775807ms1ms");
	check_invalid("1y9223372036854775807ms");
}

/* Every value up to LLONG_MAX milliseconds is a valid duration. */
static void test_llong_max(void **state)
{
	(void)state;
	check_ok("9223372036854775799ms", LLONG_MAX - 8);
	check_ok("9223372036854775807ms", LLONG_MAX);
}

static int load(const char *text, char *err, size_t size)
{
	struct ydoc y = { .name = "t.yaml", .err = err, .err_size = size };
	int ret = y_load(&y, text, strlen(text));

	if (!ret)
		y_free(&y);
	return ret;
}

static void test_shape_caps(void **state)
{
	struct buf laughs, deep;
	char err[256];

	(void)state;
	/* Anchors that stay small are fine. */
	assert_int_equal(load("a: &x [1, 2]\nb: *x\n", err, sizeof(err)), 0);
	/* Ten levels of ten aliases each: 10^10 nodes from a few hundred bytes. */
	buf_init(&laughs);
	buf_puts(&laughs, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++) {
		buf_printf(&laughs, "l%d: &l%d [", i, i);
		for (int k = 0; k < 10; k++)
			buf_printf(&laughs, "%s*l%d", k ? ", " : "", i - 1);
		buf_puts(&laughs, "]\n");
	}
	assert_int_equal(load(buf_cstr(&laughs), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1: the document expands to more than 1000000 nodes "
				 "(anchors and aliases)");
	buf_free(&laughs);
	/* 64 levels of nesting are fine, 66 are not. */
	buf_init(&deep);
	for (int i = 0; i < 64; i++)
		buf_puts(&deep, "[");
	buf_puts(&deep, "1");
	for (int i = 0; i < 64; i++)
		buf_puts(&deep, "]");
	assert_int_equal(load(buf_cstr(&deep), err, sizeof(err)), 0);
	buf_reset(&deep);
	for (int i = 0; i < 66; i++)
		buf_puts(&deep, "[");
	for (int i = 0; i < 66; i++)
		buf_puts(&deep, "]");
	assert_int_equal(load(buf_cstr(&deep), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1: nested deeper than 64 levels");
	/* An alias inside the node it names. */
	assert_int_equal(load("a: &x [1, *x]\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.yaml:1:1: a node contains itself (a recursive alias)");
	buf_free(&deep);
}

static void test_read_file(void **state)
{
	char dir[] = "/tmp/ctrlscope-yamlutil-XXXXXX", path[64], err[256];
	struct buf text;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* A directory given as the file: said so, not "Input/output error". */
	assert_int_equal(y_read_file(dir, "configuration file", &text, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "the configuration file is a directory, not a file"));
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	assert_int_equal(y_read_file(path, "configuration file", &text, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open the configuration file: No such file"));
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("targets: []\n", f);
	fclose(f);
	assert_int_equal(y_read_file(path, "configuration file", &text, err, sizeof(err)), 0);
	assert_string_equal(text.data, "targets: []\n");
	buf_free(&text);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),	   cmocka_unit_test(test_compound),
		cmocka_unit_test(test_invalid),	   cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_llong_max),  cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_shape_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
