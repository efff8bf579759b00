/* Unit tests for authentication and authorization (user/web/auth.h): RBAC-style path
 * matching, which decides always_allow_paths and static rules (a pattern is an exact path,
 * or a prefix when it ends in '*'); and auth_check's decision order, through a fake API
 * server (auth_open_with's reviewer) that counts the reviews it is asked for. The real
 * reviews, TLS and the HTTP status codes are tested end to end by tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "identity.h"
#include "webconfig.h"

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

/* --- the decision order ------------------------------------------------------------ */

/* The fake API server: tokens "alice" (no group), "master" (system:masters), "monitor"
 * (monitors) are valid; anything else is not. SubjectAccessReview allows alice on
 * /metrics only. While down, it answers KUBE_UNAVAILABLE. */
struct fake {
	int token_reviews;
	int access_reviews;
	bool down;
};

static enum kube_result fake_token(void *ctx, const char *token, size_t len,
				   const struct string_list *aud, long timeout_ms, bool *ok,
				   struct identity *id)
{
	static const char *const users[][2] = { { "alice", NULL },
						{ "master", "system:masters" },
						{ "monitor", "monitors" } };
	struct fake *f = ctx;

	(void)aud;
	(void)timeout_ms;
	f->token_reviews++;
	if (f->down)
		return KUBE_UNAVAILABLE;
	*ok = false;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		if (strlen(users[i][0]) != len || memcmp(users[i][0], token, len))
			continue;
		assert_int_equal(identity_set(id, users[i][0], NULL), 0);
		if (users[i][1])
			assert_int_equal(identity_add_group(id, users[i][1]), 0);
		*ok = true;
	}
	return KUBE_OK;
}

static enum kube_result fake_access(void *ctx, const struct identity *id, const char *path,
				    const char *verb, long timeout_ms, bool *allowed)
{
	struct fake *f = ctx;

	(void)timeout_ms;
	f->access_reviews++;
	if (f->down)
		return KUBE_UNAVAILABLE;
	assert_string_equal(verb, "get"); /* the method, lower-cased */
	*allowed = !strcmp(id->user, "alice") && !strcmp(path, "/metrics");
	return KUBE_OK;
}

static const char kube_web[] = "authentication:\n"
			       "  kubernetes: {}\n"
			       "authorization:\n"
			       "  kubernetes: {}\n"
			       "  always_allow_groups: [\"system:masters\"]\n"
			       "  static:\n"
			       "    - {group: monitors, paths: [/metrics]}\n";

struct env {
	struct web_config w;
	struct fake fake;
	struct auth *a;
};

static int open_auth(void **state, const char *yaml)
{
	struct env *e = calloc(1, sizeof(*e));
	struct auth_reviewer r = { fake_token, fake_access, NULL };
	char err[512] = "";

	if (!e || webconfig_parse("web.yml", NULL, yaml, strlen(yaml), &e->w, err, sizeof(err)))
		return -1;
	r.ctx = &e->fake;
	if (auth_open_with(&e->w, &r, &e->a, err, sizeof(err)))
		return -1;
	*state = e;
	return 0;
}

static int setup_kube(void **state)
{
	return open_auth(state, kube_web);
}

static int setup_open(void **state)
{
	return open_auth(state, "basic_auth_users: {}\n");
}

static int teardown(void **state)
{
	struct env *e = *state;

	auth_close(e->a);
	webconfig_free(&e->w);
	free(e);
	return 0;
}

/* One request: GET path with "Bearer <token>" (no header when token is NULL). */
static enum auth_verdict ask(struct env *e, const char *path, const char *token, bool may_block)
{
	char header[64];
	struct auth_request req = { .path = path, .method = "GET" };
	struct auth_outcome out;

	if (token) {
		snprintf(header, sizeof(header), "Bearer %s", token);
		req.authorization = header;
	}
	return auth_check(e->a, &req, may_block, &out);
}

static void test_open_paths_and_missing_credentials_ask_nobody(void **state)
{
	struct env *e = *state;

	assert_int_equal(ask(e, "/healthz", NULL, false), AUTH_ALLOW);
	assert_int_equal(ask(e, "/metrics", NULL, true), AUTH_UNAUTHENTICATED);
	assert_int_equal(e->fake.token_reviews, 0);
	assert_int_equal(e->fake.access_reviews, 0);
}

static void test_token_then_access_review_then_cache(void **state)
{
	struct env *e = *state;

	/* Both reviews need the API server: not on the server's own thread. */
	assert_int_equal(ask(e, "/metrics", "alice", false), AUTH_PENDING);
	assert_int_equal(e->fake.token_reviews, 0);
	assert_int_equal(ask(e, "/metrics", "alice", true), AUTH_ALLOW);
	assert_int_equal(e->fake.token_reviews, 1);
	assert_int_equal(e->fake.access_reviews, 1);
	/* Both answers are cached: no call, no need to block. */
	assert_int_equal(ask(e, "/metrics", "alice", false), AUTH_ALLOW);
	assert_int_equal(e->fake.token_reviews, 1);
	assert_int_equal(e->fake.access_reviews, 1);
	/* Another path is another decision: the identity is cached, the decision is not. */
	assert_int_equal(ask(e, "/debug", "alice", true), AUTH_FORBIDDEN);
	assert_int_equal(e->fake.token_reviews, 1);
	assert_int_equal(e->fake.access_reviews, 2);
}

static void test_invalid_token_is_unauthenticated(void **state)
{
	struct env *e = *state;

	assert_int_equal(ask(e, "/metrics", "mallory", true), AUTH_UNAUTHENTICATED);
	assert_int_equal(e->fake.token_reviews, 1);
	assert_int_equal(e->fake.access_reviews, 0); /* never authorized */
}

static void test_groups_and_static_rules_come_before_access_review(void **state)
{
	struct env *e = *state;

	assert_int_equal(ask(e, "/anything", "master", true), AUTH_ALLOW);
	assert_int_equal(ask(e, "/metrics", "monitor", true), AUTH_ALLOW);
	assert_int_equal(e->fake.access_reviews, 0);
	/* Beyond its rule's paths, monitor goes to the API server, which denies. */
	assert_int_equal(ask(e, "/debug", "monitor", true), AUTH_FORBIDDEN);
	assert_int_equal(e->fake.access_reviews, 1);
}

static void test_api_server_down_is_unavailable_not_denied(void **state)
{
	struct env *e = *state;

	e->fake.down = true;
	assert_int_equal(ask(e, "/metrics", "alice", true), AUTH_UNAVAILABLE);
	assert_int_equal(e->fake.token_reviews, 1);
}

static void test_without_authenticators_anyone_may_read(void **state)
{
	struct env *e = *state;

	assert_int_equal(ask(e, "/metrics", NULL, false), AUTH_ALLOW);
	assert_int_equal(ask(e, "/metrics", "whoever", false), AUTH_ALLOW);
	assert_int_equal(e->fake.token_reviews, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_all),
		cmocka_unit_test_setup_teardown(test_open_paths_and_missing_credentials_ask_nobody,
						setup_kube, teardown),
		cmocka_unit_test_setup_teardown(test_token_then_access_review_then_cache,
						setup_kube, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_token_is_unauthenticated, setup_kube,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_groups_and_static_rules_come_before_access_review, setup_kube,
			teardown),
		cmocka_unit_test_setup_teardown(test_api_server_down_is_unavailable_not_denied,
						setup_kube, teardown),
		cmocka_unit_test_setup_teardown(test_without_authenticators_anyone_may_read,
						setup_open, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
