/* Unit tests for RBAC-style path matching (auth_path_match in user/web/auth.h), which decides
 * always_allow_paths and static rules: a pattern is an exact path, or a prefix when it ends
 * in '*'. The authenticators and the decision cache are tested end to end by tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"

static void check(const char *pattern, const char *path, bool want)
{
	if (auth_path_match(pattern, path) != want)
		fail_msg("\"%s\" %s \"%s\"", pattern, want ? "should match" : "should not match",
			 path);
}

static void test_exact(void **state)
{
	(void)state;
	check("/metrics", "/metrics", true);
	check("/metrics", "/metricsx", false);
	check("/metrics", "/metrics/", false);
	check("/metrics", "/metric", false);
	check("/metrics", "/Metrics", false);
	check("/metrics", "/metrics?x=1", false);
	check("/metrics", "", false);
	check("/", "/", true);
	check("/", "/metrics", false);
}

static void test_prefix(void **state)
{
	(void)state;
	check("/metrics*", "/metrics", true);
	check("/metrics*", "/metricsx", true);
	check("/metrics*", "/metrics/cadvisor", true);
	check("/metrics*", "/metric", false);
	check("/metrics*", "/", false);
	check("/debug/*", "/debug/pprof/heap", true);
	check("/debug/*", "/debug/", true);
	check("/debug/*", "/debug", false);
	check("/*", "/", true);
	check("/*", "/anything/at/all", true);
	/* Only a final '*' is special. */
	check("/a*b", "/a*b", true);
	check("/a*b", "/axb", false);
}

static void test_all(void **state)
{
	(void)state;
	check("*", "/metrics", true);
	check("*", "/", true);
	check("*", "", true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
