/* Unit tests for user/modules/sched_cpustat.c: cpu.stat and CPU limit parsing for cgroup v2 and v1,
 * /proc/<pid>/cgroup lines, and the throttling totals of cgroups that come and go. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "cgroups.h"
#include "sched_cpustat.h"

static void test_parse_v2(void **state)
{
	struct throttling r = { 1, 1 };

	(void)state;
	assert_int_equal(cpustat_parse("usage_usec 100\nuser_usec 60\nsystem_usec 40\n"
				       "nr_periods 30\nnr_throttled 27\nthrottled_usec 2500001\n"
				       "nr_bursts 0\nburst_usec 0\n",
				       &r),
			 0);
	assert_int_equal(r.periods, 27);
	assert_int_equal(r.ns, 2500001000ull);
}

static void test_parse_v1(void **state)
{
	struct throttling r;

	(void)state;
	assert_int_equal(
		cpustat_parse("nr_periods 5\nnr_throttled 4\nthrottled_time 123456789", &r), 0);
	assert_int_equal(r.periods, 4);
	assert_int_equal(r.ns, 123456789);
}

static void test_parse_rejects(void **state)
{
	struct throttling r = { 7, 7 };

	(void)state;
	/* v2 without the cpu controller: no throttling counters. */
	assert_int_equal(cpustat_parse("usage_usec 1\nuser_usec 1\nsystem_usec 0\n", &r), -ENOENT);
	assert_int_equal(cpustat_parse("nr_throttled 1\n", &r), -ENOENT);
	assert_int_equal(cpustat_parse("", &r), -ENOENT);
	assert_int_equal(cpustat_parse("nr_throttled x\nthrottled_usec 1\n", &r), -EINVAL);
	assert_int_equal(cpustat_parse("nr_throttled -1\nthrottled_usec 1\n", &r), -EINVAL);
	assert_int_equal(cpustat_parse("nr_throttled 1\nthrottled_usec 18446744073709552\n", &r),
			 -EINVAL); /* overflows as nanoseconds */
	assert_int_equal(cpustat_parse("nr_throttled 18446744073709551616\nthrottled_usec 1\n", &r),
			 -EINVAL);
	assert_int_equal(r.periods, 7); /* untouched on error */
	/* Keys that only start like ours are other keys. */
	assert_int_equal(cpustat_parse("nr_throttled_x 1\nthrottled_usec 1\n", &r), -ENOENT);
}

static void test_limits(void **state)
{
	(void)state;
	assert_int_equal(cpustat_limited_v2("max 100000\n"), 0);
	assert_int_equal(cpustat_limited_v2("50000 100000\n"), 1);
	assert_int_equal(cpustat_limited_v2("50000 100000"), 1);
	assert_int_equal(cpustat_limited_v2("max\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v2("maxi 100000\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v2("50000\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v2("50000 100000 7\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v2(""), -EINVAL);
	assert_int_equal(cpustat_limited_v1("-1\n"), 0);
	assert_int_equal(cpustat_limited_v1("10000\n"), 1);
	assert_int_equal(cpustat_limited_v1("-2\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v1("10k\n"), -EINVAL);
	assert_int_equal(cpustat_limited_v1(""), -EINVAL);
}

static void test_v1_path(void **state)
{
	const char *text = "12:pids:/user.slice\n"
			   "4:cpu,cpuacct:/kubepods/burstable/pod1/abc\n"
			   "3:cpuset:/\n"
			   "0::/kubepods/burstable/pod1/abc\n";
	char out[64];

	(void)state;
	assert_int_equal(cpustat_v1_path(text, "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/kubepods/burstable/pod1/abc");
	assert_int_equal(cpustat_v1_path("5:cpu:/a b\n", "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/a b");
	/* cpuset is not cpu; the v2 line has no controllers. */
	assert_int_equal(cpustat_v1_path("3:cpuset:/\n0::/x\n", "cpu", out, sizeof(out)), -ENOENT);
	assert_int_equal(cpustat_v1_path("garbage\n", "cpu", out, sizeof(out)), -ENOENT);
	assert_int_equal(cpustat_v1_path("4:cpu:/abcdef\n", "cpu", out, 7), -ENAMETOOLONG);
}

static void test_v1_mount(void **state)
{
	const char *text =
		"26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
		"27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
		"28 25 0:25 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
		"29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
		"rw,cpu,cpuacct\n"
		"30 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
	char out[64];

	(void)state;
	assert_int_equal(cgroups_find_mount_of(text, "cpu", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(cgroups_find_mount_of(text, "memory", out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory");
	assert_int_equal(cgroups_find_mount_of(text, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
	assert_int_equal(cgroups_find_mount_of(text, "blkio", out, sizeof(out)), -ENOENT);
	/* name=systemd is not a controller called systemd. */
	assert_int_equal(cgroups_find_mount_of(text, "systemd", out, sizeof(out)), -ENOENT);
}

static void test_totals(void **state)
{
	struct throttle_table *t = throttle_new(4);
	struct throttling r, total;

	(void)state;
	assert_non_null(t);
	assert_false(throttle_total(t, 1, &total)); /* no limited cgroup read yet */
	/* A new cgroup brings what it counted since its creation. */
	r = (struct throttling){ 10, 1000 };
	assert_int_equal(throttle_observe(t, 1, 100, &r, 1.0), 0);
	r = (struct throttling){ 15, 1500 };
	assert_int_equal(throttle_observe(t, 1, 100, &r, 2.0), 0);
	assert_true(throttle_total(t, 1, &total));
	assert_int_equal(total.periods, 15);
	assert_int_equal(total.ns, 1500);
	/* The container restarts: a new cgroup for the same label set; the old one's last
	 * reading stays counted, the total only grows. */
	r = (struct throttling){ 2, 200 };
	assert_int_equal(throttle_observe(t, 1, 101, &r, 3.0), 0);
	assert_true(throttle_total(t, 1, &total));
	assert_int_equal(total.periods, 17);
	assert_int_equal(total.ns, 1700);
	/* Counters that went back (a recycled id) count from zero. */
	r = (struct throttling){ 1, 50 };
	assert_int_equal(throttle_observe(t, 1, 101, &r, 4.0), 0);
	assert_true(throttle_total(t, 1, &total));
	assert_int_equal(total.periods, 18);
	assert_int_equal(total.ns, 1750);
	/* The same cgroup for another label set counts there separately. */
	r = (struct throttling){ 15, 1500 };
	assert_int_equal(throttle_observe(t, 2, 100, &r, 4.0), 0);
	assert_true(throttle_total(t, 2, &total));
	assert_int_equal(total.periods, 15);
	/* Expired: read again later, it would count in full as a new cgroup. */
	throttle_expire(t, 3.5);
	r = (struct throttling){ 16, 1600 };
	assert_int_equal(throttle_observe(t, 1, 100, &r, 5.0), 0);
	assert_true(throttle_total(t, 1, &total));
	assert_int_equal(total.periods, 34);
	/* Forgetting a slot clears it and leaves the others. */
	throttle_forget_slot(t, 1);
	assert_false(throttle_total(t, 1, &total));
	assert_true(throttle_total(t, 2, &total));
	assert_int_equal(total.periods, 15);
	r = (struct throttling){ 16, 1600 };
	assert_int_equal(throttle_observe(t, 1, 100, &r, 6.0), 0);
	assert_true(throttle_total(t, 1, &total));
	assert_int_equal(total.periods, 16);
	assert_int_equal(throttle_observe(t, 4, 100, &r, 6.0), -ERANGE);
	throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v2),      cmocka_unit_test(test_parse_v1),
		cmocka_unit_test(test_parse_rejects), cmocka_unit_test(test_limits),
		cmocka_unit_test(test_v1_path),	      cmocka_unit_test(test_v1_mount),
		cmocka_unit_test(test_totals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
