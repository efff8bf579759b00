/* Unit tests for process selectors (user/targets/selector.h): AND across fields, OR within a field,
 * fnmatch globs with FNM_PATHNAME, unknown facts never matching, first target wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "selector.h"

#define LIST(...) { (char *[]){ __VA_ARGS__ }, sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *) }
#define NONE	  { NULL, 0 }

static bool match(const struct process_selector *sel, const char *comm, const char *exe,
		  const char *cgroup)
{
	const struct process_facts f = { comm, exe, cgroup };

	return selector_match(sel, &f);
}

static void test_comm_exact(void **state)
{
	const struct process_selector sel = { LIST("manager"), NONE, NONE };
	const struct process_selector star = { LIST("man*"), NONE, NONE };

	(void)state;
	assert_true(match(&sel, "manager", NULL, NULL));
	assert_true(match(&sel, "manager", "/bin/x", "/a"));
	assert_false(match(&sel, "manage", NULL, NULL));
	assert_false(match(&sel, "manager2", NULL, NULL));
	assert_false(match(&sel, "Manager", NULL, NULL));
	assert_false(match(&sel, "", NULL, NULL));
	assert_false(match(&sel, NULL, "/bin/manager", "/manager"));
	/* comm is exact, not a glob */
	assert_false(match(&star, "manager", NULL, NULL));
	assert_true(match(&star, "man*", NULL, NULL));
}

static void test_any_entry_within_a_field(void **state)
{
	const struct process_selector comm = { LIST("a", "b", "c"), NONE, NONE };
	const struct process_selector exe = { NONE, LIST("/usr/bin/*", "/opt/*/bin/x"), NONE };
	const struct process_selector cg = { NONE, NONE, LIST("/a/*", "/b") };

	(void)state;
	assert_true(match(&comm, "a", NULL, NULL));
	assert_true(match(&comm, "b", NULL, NULL));
	assert_true(match(&comm, "c", NULL, NULL));
	assert_false(match(&comm, "d", NULL, NULL));
	assert_true(match(&exe, "x", "/usr/bin/ls", NULL));
	assert_true(match(&exe, "x", "/opt/tool/bin/x", NULL));
	assert_false(match(&exe, "x", "/opt/tool/bin/y", NULL));
	assert_true(match(&cg, "x", NULL, "/a/1"));
	assert_true(match(&cg, "x", NULL, "/b"));
	assert_false(match(&cg, "x", NULL, "/b/1"));
	assert_false(match(&cg, "x", NULL, "/c"));
}

static void test_every_field_given(void **state)
{
	const struct process_selector sel = {
		LIST("manager", "operator"),
		LIST("/usr/local/bin/*"),
		LIST("/system.slice/*.service"),
	};

	(void)state;
	assert_true(match(&sel, "manager", "/usr/local/bin/manager", "/system.slice/m.service"));
	assert_true(match(&sel, "operator", "/usr/local/bin/op", "/system.slice/o.service"));
	assert_false(match(&sel, "other", "/usr/local/bin/manager", "/system.slice/m.service"));
	assert_false(match(&sel, "manager", "/usr/bin/manager", "/system.slice/m.service"));
	assert_false(match(&sel, "manager", "/usr/local/bin/manager", "/user.slice/m.service"));
	/* Unknown facts never satisfy a field that needs them. */
	assert_false(match(&sel, "manager", NULL, "/system.slice/m.service"));
	assert_false(match(&sel, "manager", "/usr/local/bin/manager", NULL));
	assert_false(match(&sel, NULL, "/usr/local/bin/manager", "/system.slice/m.service"));
}

static void test_two_fields(void **state)
{
	const struct process_selector sel = { LIST("manager"), LIST("/bin/*"), NONE };

	(void)state;
	assert_true(match(&sel, "manager", "/bin/manager", NULL));
	assert_true(match(&sel, "manager", "/bin/manager", "/anything"));
	assert_false(match(&sel, "manager", "/sbin/manager", NULL));
	assert_false(match(&sel, "other", "/bin/manager", NULL));
	assert_false(match(&sel, "manager", NULL, NULL));
}

static void test_glob_does_not_cross_slash(void **state)
{
	const struct process_selector exe = { NONE, LIST("/usr/local/bin/*"), NONE };
	const struct process_selector mid = { NONE, LIST("/usr/*/manager"), NONE };
	const struct process_selector q = { NONE, LIST("/a?b"), NONE };
	const struct process_selector cg = { NONE, NONE, LIST("/system.slice/*.service") };
	const struct process_selector star = { NONE, NONE, LIST("*") };

	(void)state;
	assert_true(match(&exe, "x", "/usr/local/bin/manager", NULL));
	assert_false(match(&exe, "x", "/usr/local/bin/sub/manager", NULL));
	assert_false(match(&exe, "x", "/usr/local/bin", NULL));
	assert_true(match(&mid, "x", "/usr/bin/manager", NULL));
	assert_false(match(&mid, "x", "/usr/local/bin/manager", NULL));
	assert_true(match(&q, "x", "/axb", NULL));
	assert_false(match(&q, "x", "/a/b", NULL));
	assert_true(match(&cg, "x", NULL, "/system.slice/foo.service"));
	assert_false(match(&cg, "x", NULL, "/system.slice/a/b.service"));
	assert_false(match(&cg, "x", NULL, "/system.slice/foo.service/sub"));
	assert_false(match(&cg, "x", NULL, "/system.slice/foo.socket"));
	assert_false(match(&star, "x", NULL, "/a"));
	assert_false(match(&star, "x", NULL, "/"));
}

static void test_glob_classes(void **state)
{
	const struct process_selector sel = { NONE, NONE, LIST("/kubepods/pod[0-9a-f]*/*") };

	(void)state;
	assert_true(match(&sel, "x", NULL, "/kubepods/pod1234/abc"));
	assert_false(match(&sel, "x", NULL, "/kubepods/podz/abc"));
	assert_false(match(&sel, "x", NULL, "/kubepods/pod1234"));
}

static void test_empty_selector_never_matches(void **state)
{
	const struct process_selector sel = { NONE, NONE, NONE };

	(void)state;
	assert_false(match(&sel, "x", "/bin/x", "/"));
	assert_false(match(&sel, NULL, NULL, NULL));
	assert_false(selector_is_cgroup_only(&sel));
	assert_false(selector_needs_exe(&sel));
}

static void test_cgroup_only(void **state)
{
	const struct process_selector cg = { NONE, NONE, LIST("/a") };
	const struct process_selector cg_comm = { LIST("x"), NONE, LIST("/a") };
	const struct process_selector cg_exe = { NONE, LIST("/x"), LIST("/a") };
	const struct process_selector comm = { LIST("x"), NONE, NONE };
	const struct process_selector exe = { NONE, LIST("/x"), NONE };

	(void)state;
	assert_true(selector_is_cgroup_only(&cg));
	assert_false(selector_is_cgroup_only(&cg_comm));
	assert_false(selector_is_cgroup_only(&cg_exe));
	assert_false(selector_is_cgroup_only(&comm));
	assert_false(selector_is_cgroup_only(&exe));

	assert_false(selector_needs_exe(&cg));
	assert_false(selector_needs_exe(&cg_comm));
	assert_true(selector_needs_exe(&cg_exe));
	assert_false(selector_needs_exe(&comm));
	assert_true(selector_needs_exe(&exe));
}

static void test_cgroup_match(void **state)
{
	const struct process_selector sel = { LIST("ignored"), NONE, LIST("/a/*", "/b") };

	(void)state;
	assert_true(selector_cgroup_match(&sel, "/a/x"));
	assert_true(selector_cgroup_match(&sel, "/b"));
	assert_false(selector_cgroup_match(&sel, "/a/x/y"));
	assert_false(selector_cgroup_match(&sel, "/c"));
}

static void test_first_target_in_order(void **state)
{
	struct target_config targets[] = {
		{ .name = "exact", .process = { LIST("ctl"), LIST("/bin/ctl"), NONE } },
		{ .name = "by-comm", .process = { LIST("ctl", "other"), NONE, NONE } },
		{ .name = "by-cgroup", .process = { NONE, NONE, LIST("/kubepods/*") } },
		{ .name = "also-by-comm", .process = { LIST("other"), NONE, NONE } },
	};
	struct config cfg = { .targets = targets, .n_targets = 4 };
	const struct process_facts ctl_bin = { "ctl", "/bin/ctl", "/kubepods/x" };
	const struct process_facts ctl_usr = { "ctl", "/usr/bin/ctl", "/kubepods/x" };
	const struct process_facts other = { "other", "/bin/ctl", "/kubepods/x" };
	const struct process_facts pod = { "sh", "/bin/sh", "/kubepods/x" };
	const struct process_facts none = { "sh", "/bin/sh", "/user.slice" };
	const struct process_facts unknown = { "sh", NULL, NULL };

	(void)state;
	assert_int_equal(selector_first_target(&cfg, &ctl_bin), 0);
	assert_int_equal(selector_first_target(&cfg, &ctl_usr), 1);
	assert_int_equal(selector_first_target(&cfg, &other), 1);
	assert_int_equal(selector_first_target(&cfg, &pod), 2);
	assert_int_equal(selector_first_target(&cfg, &none), -1);
	assert_int_equal(selector_first_target(&cfg, &unknown), -1);
	cfg.n_targets = 0;
	assert_int_equal(selector_first_target(&cfg, &ctl_bin), -1);
}

static void test_with_parsed_config(void **state)
{
	static const char yaml[] = "targets:\n"
				   "  - name: web\n"
				   "    process:\n"
				   "      comm: [nginx]\n"
				   "      cgroup: [/system.slice/*.service]\n"
				   "  - name: any-nginx\n"
				   "    process: {comm: [nginx]}\n";
	const struct process_facts svc = { "nginx", "/usr/sbin/nginx", "/system.slice/n.service" };
	const struct process_facts pod = { "nginx", "/usr/sbin/nginx", "/kubepods/p/c" };
	const struct process_facts gone = { "nginx", NULL, NULL };
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(
		config_parse("t.yaml", yaml, strlen(yaml), NULL, 0, &cfg, err, sizeof(err)), 0);
	assert_int_equal(selector_first_target(&cfg, &svc), 0);
	assert_int_equal(selector_first_target(&cfg, &pod), 1);
	assert_int_equal(selector_first_target(&cfg, &gone), 1);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comm_exact),
		cmocka_unit_test(test_any_entry_within_a_field),
		cmocka_unit_test(test_every_field_given),
		cmocka_unit_test(test_two_fields),
		cmocka_unit_test(test_glob_does_not_cross_slash),
		cmocka_unit_test(test_glob_classes),
		cmocka_unit_test(test_empty_selector_never_matches),
		cmocka_unit_test(test_cgroup_only),
		cmocka_unit_test(test_cgroup_match),
		cmocka_unit_test(test_first_target_in_order),
		cmocka_unit_test(test_with_parsed_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
