/* Unit tests for the exposition writer (user/lib/expo.h): escaping of label values and help
 * text (attacker-controlled process names must never forge a series), number formatting
 * and the exact text of counter and histogram families. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

#define FFFD "\xef\xbf\xbd"

static char *label_value(const char *value)
{
	struct buf b;

	buf_init(&b);
	expo_escape_label_value(&b, value);
	return buf_steal(&b, NULL);
}

static char *help(const char *text)
{
	struct buf b;

	buf_init(&b);
	expo_escape_help(&b, text);
	return buf_steal(&b, NULL);
}

static char *f64(double v)
{
	struct buf b;

	buf_init(&b);
	expo_format_f64(&b, v);
	return buf_steal(&b, NULL);
}

#define assert_label_value(in, want)                                                               \
	do {                                                                                       \
		char *got_ = label_value(in);                                                      \
		assert_non_null(got_);                                                             \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

#define assert_help(in, want)                                                                      \
	do {                                                                                       \
		char *got_ = help(in);                                                             \
		assert_non_null(got_);                                                             \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

#define assert_f64(v, want)                                                                        \
	do {                                                                                       \
		char *got_ = f64(v);                                                               \
		assert_non_null(got_);                                                             \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static void test_label_value_escapes(void **state)
{
	(void)state;
	assert_label_value("", "");
	assert_label_value("plain-name_1.2", "plain-name_1.2");
	assert_label_value("a\\b", "a\\\\b");
	assert_label_value("a\"b", "a\\\"b");
	assert_label_value("a\nb", "a\\nb");
	assert_label_value("a\"b\\c\n", "a\\\"b\\\\c\\n");
	assert_label_value("\\\\", "\\\\\\\\");
	/* Only backslash, quote and newline are escaped by the 0.0.4 format. */
	assert_label_value("tab\tcr\r{}=,", "tab\tcr\r{}=,");
}

static void test_label_value_valid_utf8_kept(void **state)
{
	(void)state;
	assert_label_value("h\xc3\xa9llo", "h\xc3\xa9llo");	    /* U+00E9 */
	assert_label_value("\xc2\x80", "\xc2\x80");		    /* U+0080 */
	assert_label_value("\xdf\xbf", "\xdf\xbf");		    /* U+07FF */
	assert_label_value("\xe0\xa0\x80", "\xe0\xa0\x80");	    /* U+0800 */
	assert_label_value("\xe2\x82\xac", "\xe2\x82\xac");	    /* U+20AC */
	assert_label_value("\xed\x9f\xbf", "\xed\x9f\xbf");	    /* U+D7FF */
	assert_label_value("\xee\x80\x80", "\xee\x80\x80");	    /* U+E000 */
	assert_label_value("\xef\xbf\xbf", "\xef\xbf\xbf");	    /* U+FFFF */
	assert_label_value("\xf0\x90\x80\x80", "\xf0\x90\x80\x80"); /* U+10000 */
	assert_label_value("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600 */
	assert_label_value("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	assert_label_value("\xe2\x82\xac\"\\", "\xe2\x82\xac\\\"\\\\");
}

static void test_label_value_invalid_utf8_replaced(void **state)
{
	(void)state;
	/* One U+FFFD per offending byte. */
	assert_label_value("\xff", FFFD);
	assert_label_value("a\xfe"
			   "b",
			   "a" FFFD "b");
	assert_label_value("\x80", FFFD);      /* lone continuation byte */
	assert_label_value("a\xc3", "a" FFFD); /* truncated at the end */
	assert_label_value("\xc3(", FFFD "("); /* bad continuation */
	assert_label_value("\xe2\x82"
			   "A",
			   FFFD FFFD "A");
	assert_label_value("\xe2\x82", FFFD FFFD);
	assert_label_value("\xf0\x9f\x98", FFFD FFFD FFFD);
	assert_label_value("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);
	/* A replaced byte does not swallow an escape that follows it. */
	assert_label_value("\xc3\"", FFFD "\\\"");
	assert_label_value("\xe2\n", FFFD "\\n");
}

static void test_label_value_overlong_and_surrogates(void **state)
{
	(void)state;
	/* Overlong encodings of '/' and NUL: a classic filter bypass. */
	assert_label_value("\xc0\xaf", FFFD FFFD);
	assert_label_value("\xc1\xbf", FFFD FFFD);
	assert_label_value("\xe0\x80\xaf", FFFD FFFD FFFD);
	assert_label_value("\xe0\x9f\xbf", FFFD FFFD FFFD); /* U+07FF in three bytes */
	assert_label_value("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD);
	assert_label_value("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD); /* U+FFFF in four */
	/* UTF-16 surrogates are not characters. */
	assert_label_value("\xed\xa0\x80", FFFD FFFD FFFD); /* U+D800 */
	assert_label_value("\xed\xbf\xbf", FFFD FFFD FFFD); /* U+DFFF */
	/* Above U+10FFFF. */
	assert_label_value("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
	/* An overlong quote must not turn into a quote. */
	assert_label_value("\xc0\xa2", FFFD FFFD);
}

static void test_help_escapes(void **state)
{
	(void)state;
	assert_help("Plain help.", "Plain help.");
	/* In help text only backslash and newline are escaped, not the quote. */
	assert_help("a\"b\\c\n", "a\"b\\\\c\\n");
	assert_help("two\nlines", "two\\nlines");
	assert_help("bad \xff byte", "bad " FFFD " byte");
	assert_help("\xe2\x82\xac", "\xe2\x82\xac");
}

static void test_format_f64(void **state)
{
	(void)state;
	assert_f64(0.1, "0.10000000000000001");
	assert_f64(3, "3");
	assert_f64(0, "0");
	assert_f64(-0.0, "-0");
	assert_f64(-2.5, "-2.5");
	assert_f64(1.5e-7, "1.4999999999999999e-07");
	assert_f64(1e21, "1e+21");
	assert_f64(1.0 / 3, "0.33333333333333331");
	assert_f64(18446744073709551615.0, "1.8446744073709552e+19");
	assert_f64(NAN, "NaN");
	assert_f64(-NAN, "NaN");
	assert_f64(INFINITY, "+Inf");
	assert_f64(-INFINITY, "-Inf");
}

static void assert_pow2(unsigned int exp, const char *want)
{
	char out[32];

	memset(out, 'Z', sizeof(out));
	expo_format_pow2_ns(out, sizeof(out), exp);
	assert_string_equal(out, want);
}

static void test_format_pow2_ns(void **state)
{
	(void)state;
	assert_pow2(0, "0.000000001");
	assert_pow2(1, "0.000000002");
	assert_pow2(8, "0.000000256");
	assert_pow2(9, "0.000000512");
	assert_pow2(10, "0.000001024");
	assert_pow2(20, "0.001048576");
	assert_pow2(29, "0.536870912");
	assert_pow2(30, "1.073741824");
	assert_pow2(33, "8.589934592");
	assert_pow2(34, "17.179869184");
	assert_pow2(40, "1099.511627776");
	assert_pow2(63, "9223372036.854775808");
}

static void test_format_pow2_ns_matches_value(void **state)
{
	(void)state;
	/* Every le label reads back as exactly 2^exp ns (to double precision). */
	for (unsigned int exp = 0; exp < 64; exp++) {
		char out[32];

		expo_format_pow2_ns(out, sizeof(out), exp);
		assert_true(strtod(out, NULL) == ldexp(1.0, (int)exp) / 1e9);
	}
}

static char *render(void (*fn)(struct expo *e))
{
	struct buf b;
	struct expo e;

	buf_init(&b);
	expo_init(&e, &b);
	fn(&e);
	return buf_steal(&b, NULL);
}

static void write_counters(struct expo *e)
{
	const struct label labels[] = {
		{ "target", "ctl" },
		{ "comm", "a\"b\\c\n" },
		{ "syscall", "read" },
	};
	const struct label one[] = { { "target", "other" } };

	expo_family(e, "ctrlscope_syscalls_total", "counter",
		    "System calls made by \"targets\", a\\b\nnext line.");
	expo_u64(e, labels, 3, 42);
	expo_u64(e, one, 1, 18446744073709551615ULL);
	expo_u64(e, NULL, 0, 0);
	expo_family(e, "ctrlscope_ratio", "gauge", "A gauge.");
	expo_f64(e, one, 1, 0.1);
	expo_f64(e, NULL, 0, NAN);
	expo_f64(e, one, 1, -INFINITY);
}

static void test_counter_family_text(void **state)
{
	char *got = render(write_counters);

	(void)state;
	assert_non_null(got);
	assert_string_equal(got, "# HELP ctrlscope_syscalls_total System calls made by "
				 "\"targets\", a\\\\b\\nnext line.\n"
				 "# TYPE ctrlscope_syscalls_total counter\n"
				 "ctrlscope_syscalls_total{target=\"ctl\",comm=\"a\\\"b\\\\c\\n\","
				 "syscall=\"read\"} 42\n"
				 "ctrlscope_syscalls_total{target=\"other\"} 18446744073709551615\n"
				 "ctrlscope_syscalls_total 0\n"
				 "# HELP ctrlscope_ratio A gauge.\n"
				 "# TYPE ctrlscope_ratio gauge\n"
				 "ctrlscope_ratio{target=\"other\"} 0.10000000000000001\n"
				 "ctrlscope_ratio NaN\n"
				 "ctrlscope_ratio{target=\"other\"} -Inf\n");
	free(got);
}

static void write_label_injection(struct expo *e)
{
	const struct label l[] = { { "comm", "a\"b\\c\n" } };

	expo_family(e, "m", "counter", "h");
	expo_u64(e, l, 1, 1);
}

static void test_label_value_in_series(void **state)
{
	char *got = render(write_label_injection);

	(void)state;
	assert_non_null(got);
	assert_non_null(strstr(got, "comm=\"a\\\"b\\\\c\\n\""));
	assert_string_equal(got, "# HELP m h\n# TYPE m counter\nm{comm=\"a\\\"b\\\\c\\n\"} 1\n");
	free(got);
}

static void write_forgery(struct expo *e)
{
	const struct label l[] = { { "target", "t" }, { "comm", "x\"} 1\nfake_metric 1" } };

	expo_family(e, "ctrlscope_syscalls_total", "counter", "Calls.");
	expo_u64(e, l, 2, 5);
}

static void test_process_name_cannot_forge_a_series(void **state)
{
	char *got = render(write_forgery);

	(void)state;
	assert_non_null(got);
	assert_string_equal(
		got,
		"# HELP ctrlscope_syscalls_total Calls.\n"
		"# TYPE ctrlscope_syscalls_total counter\n"
		"ctrlscope_syscalls_total{target=\"t\",comm=\"x\\\"} 1\\nfake_metric 1\"} 5\n");
	free(got);
}

static const char *const test_le[] = { "0.000000256", "0.000000512", "0.000001024" };

static void write_histograms(struct expo *e)
{
	const struct label labels[] = { { "target", "t" }, { "syscall", "read" } };
	const uint64_t counts[] = { 1, 0, 2, 5 };
	const uint64_t zeros[] = { 0, 0, 0, 0 };
	const struct expo_hist h = { test_le, counts, 4, 1.5 };
	const struct expo_hist empty = { test_le, zeros, 4, 0 };
	const struct expo_hist tenth = { test_le, counts, 4, 0.1 };

	expo_family(e, "ctrlscope_syscall_duration_seconds", "histogram", "Time in syscalls.");
	expo_histogram(e, labels, 2, &h);
	expo_histogram(e, NULL, 0, &empty);
	expo_histogram(e, labels, 1, &tenth);
}

static void test_histogram_text(void **state)
{
	char *got = render(write_histograms);

	(void)state;
	assert_non_null(got);
	assert_string_equal(
		got,
		"# HELP ctrlscope_syscall_duration_seconds Time in syscalls.\n"
		"# TYPE ctrlscope_syscall_duration_seconds histogram\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",syscall=\"read\",le=\"0."
		"000000256\"} 1\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",syscall=\"read\",le=\"0."
		"000000512\"} 1\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",syscall=\"read\",le=\"0."
		"000001024\"} 3\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",syscall=\"read\",le=\"+"
		"Inf\"} 8\n"
		"ctrlscope_syscall_duration_seconds_sum{target=\"t\",syscall=\"read\"} 1.5\n"
		"ctrlscope_syscall_duration_seconds_count{target=\"t\",syscall=\"read\"} 8\n"
		"ctrlscope_syscall_duration_seconds_bucket{le=\"0.000000256\"} 0\n"
		"ctrlscope_syscall_duration_seconds_bucket{le=\"0.000000512\"} 0\n"
		"ctrlscope_syscall_duration_seconds_bucket{le=\"0.000001024\"} 0\n"
		"ctrlscope_syscall_duration_seconds_bucket{le=\"+Inf\"} 0\n"
		"ctrlscope_syscall_duration_seconds_sum 0\n"
		"ctrlscope_syscall_duration_seconds_count 0\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",le=\"0.000000256\"} 1\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",le=\"0.000000512\"} 1\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",le=\"0.000001024\"} 3\n"
		"ctrlscope_syscall_duration_seconds_bucket{target=\"t\",le=\"+Inf\"} 8\n"
		"ctrlscope_syscall_duration_seconds_sum{target=\"t\"} 0.10000000000000001\n"
		"ctrlscope_syscall_duration_seconds_count{target=\"t\"} 8\n");
	free(got);
}

static char *render_openmetrics(void (*fn)(struct expo *e))
{
	struct buf b;
	struct expo e;

	buf_init(&b);
	expo_init_format(&e, &b, EXPO_OPENMETRICS);
	fn(&e);
	expo_finish(&e);
	return buf_steal(&b, NULL);
}

static void write_openmetrics(struct expo *e)
{
	const struct label one[] = { { "code", "200" } };
	const uint64_t counts[] = { 1, 2 };
	const struct expo_hist h = { test_le, counts, 2, 0.5 };

	expo_family(e, "ctrlscope_http_requests_total", "counter", "Requests \"answered\".");
	expo_created(e, 1700000000.25);
	expo_u64(e, one, 1, 3);
	expo_u64(e, NULL, 0, 4);
	expo_family(e, "ctrlscope_syscalls_total", "counter", "No creation time.");
	expo_u64(e, one, 1, 5);
	expo_family(e, "m", "counter", "Named without _total.");
	expo_u64(e, NULL, 0, 6);
	expo_family(e, "g", "gauge", "A gauge.");
	expo_created(e, 1700000000); /* never for a gauge */
	expo_f64(e, NULL, 0, 0.5);
	expo_family(e, "h_seconds", "histogram", "A histogram.");
	expo_created(e, 1700000000);
	expo_histogram(e, one, 1, &h);
}

/* OpenMetrics 1.0: a counter family's name without _total, quotes escaped in help text,
 * _created where the family has a creation time (counters and histograms only), # EOF. */
static void test_openmetrics(void **state)
{
	char *got = render_openmetrics(write_openmetrics);

	(void)state;
	assert_non_null(got);
	assert_string_equal(got, "# HELP ctrlscope_http_requests Requests \\\"answered\\\".\n"
				 "# TYPE ctrlscope_http_requests counter\n"
				 "ctrlscope_http_requests_total{code=\"200\"} 3\n"
				 "ctrlscope_http_requests_created{code=\"200\"} 1700000000.25\n"
				 "ctrlscope_http_requests_total 4\n"
				 "ctrlscope_http_requests_created 1700000000.25\n"
				 "# HELP ctrlscope_syscalls No creation time.\n"
				 "# TYPE ctrlscope_syscalls counter\n"
				 "ctrlscope_syscalls_total{code=\"200\"} 5\n"
				 "# HELP m Named without _total.\n"
				 "# TYPE m counter\n"
				 "m_total 6\n"
				 "# HELP g A gauge.\n"
				 "# TYPE g gauge\n"
				 "g 0.5\n"
				 "# HELP h_seconds A histogram.\n"
				 "# TYPE h_seconds histogram\n"
				 "h_seconds_bucket{code=\"200\",le=\"0.000000256\"} 1\n"
				 "h_seconds_bucket{code=\"200\",le=\"+Inf\"} 3\n"
				 "h_seconds_sum{code=\"200\"} 0.5\n"
				 "h_seconds_count{code=\"200\"} 3\n"
				 "h_seconds_created{code=\"200\"} 1700000000\n"
				 "# EOF\n");
	free(got);
}

/* The text format is unchanged by the same calls: no _created, help quotes as they are. */
static void test_text_ignores_openmetrics_calls(void **state)
{
	char *got = render(write_openmetrics);

	(void)state;
	assert_non_null(got);
	assert_null(strstr(got, "_created"));
	assert_null(strstr(got, "# EOF"));
	assert_non_null(strstr(got, "# HELP ctrlscope_http_requests_total Requests \"answered\".\n"
				    "# TYPE ctrlscope_http_requests_total counter\n"));
	assert_non_null(strstr(got, "\nm 6\n"));
	free(got);
}

static void write_single_bucket(struct expo *e)
{
	const uint64_t counts[] = { 7 };
	const struct expo_hist h = { NULL, counts, 1, 2 };

	expo_family(e, "h", "histogram", "Only +Inf.");
	expo_histogram(e, NULL, 0, &h);
}

static void test_histogram_single_bucket(void **state)
{
	char *got = render(write_single_bucket);

	(void)state;
	assert_non_null(got);
	assert_string_equal(got, "# HELP h Only +Inf.\n"
				 "# TYPE h histogram\n"
				 "h_bucket{le=\"+Inf\"} 7\n"
				 "h_sum 2\n"
				 "h_count 7\n");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_value_escapes),
		cmocka_unit_test(test_label_value_valid_utf8_kept),
		cmocka_unit_test(test_label_value_invalid_utf8_replaced),
		cmocka_unit_test(test_label_value_overlong_and_surrogates),
		cmocka_unit_test(test_help_escapes),
		cmocka_unit_test(test_format_f64),
		cmocka_unit_test(test_format_pow2_ns),
		cmocka_unit_test(test_format_pow2_ns_matches_value),
		cmocka_unit_test(test_counter_family_text),
		cmocka_unit_test(test_label_value_in_series),
		cmocka_unit_test(test_process_name_cannot_forge_a_series),
		cmocka_unit_test(test_histogram_text),
		cmocka_unit_test(test_histogram_single_bucket),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_text_ignores_openmetrics_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
