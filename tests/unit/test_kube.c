/* Unit tests for the Kubernetes API answers (kube_parse_token_review and
 * kube_parse_access_review in user/kube/kube.h): what a TokenReview or SubjectAccessReview
 * status says, exactly, and -EINVAL for a body that says nothing usable. No network: the
 * HTTP client is tested end to end by tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kube.h"

static void assert_no_identity(const struct identity *id)
{
	struct identity zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(id, &zero, sizeof(zero));
}

static int token_review(const char *body, bool *authenticated, struct identity *id)
{
	memset(id, 0x5a, sizeof(*id));
	*authenticated = true;
	return kube_parse_token_review(body, strlen(body), authenticated, id);
}

static void test_token_review_authenticated(void **state)
{
	static const char body[] =
		"{\"kind\":\"TokenReview\",\"apiVersion\":\"authentication.k8s.io/v1\","
		"\"metadata\":{\"creationTimestamp\":null},"
		"\"spec\":{\"token\":\"redacted\",\"audiences\":[\"ctrlscope\"]},"
		"\"status\":{\"authenticated\":true,"
		"\"user\":{\"username\":\"system:serviceaccount:monitoring:prometheus\","
		"\"uid\":\"4b2c1c29-0f4b-4c4e-9f0a-7b1d4f3e2a10\","
		"\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:monitoring\","
		"\"system:authenticated\"],"
		"\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"prometheus-0\"]}},"
		"\"audiences\":[\"ctrlscope\"]}}";
	struct identity id;
	bool ok;

	(void)state;
	assert_int_equal(token_review(body, &ok, &id), 0);
	assert_true(ok);
	assert_string_equal(id.user, "system:serviceaccount:monitoring:prometheus");
	assert_string_equal(id.uid, "4b2c1c29-0f4b-4c4e-9f0a-7b1d4f3e2a10");
	assert_int_equal(id.n_groups, 3);
	assert_string_equal(id.groups[0], "system:serviceaccounts");
	assert_string_equal(id.groups[1], "system:serviceaccounts:monitoring");
	assert_string_equal(id.groups[2], "system:authenticated");
	identity_free(&id);
}

static void test_token_review_minimal_user(void **state)
{
	struct identity id;
	bool ok;

	(void)state;
	/* No uid, no groups; a group that is not a string is skipped. */
	assert_int_equal(token_review("{\"status\":{\"authenticated\":true,"
				      "\"user\":{\"username\":\"alice\"}}}",
				      &ok, &id),
			 0);
	assert_true(ok);
	assert_string_equal(id.user, "alice");
	assert_null(id.uid);
	assert_int_equal(id.n_groups, 0);
	identity_free(&id);

	assert_int_equal(
		token_review("{\"status\":{\"authenticated\":true,\"user\":{"
			     "\"username\":\"bob\",\"uid\":\"\",\"groups\":[1,\"g\",null]}}}",
			     &ok, &id),
		0);
	assert_true(ok);
	assert_string_equal(id.user, "bob");
	assert_null(id.uid);
	assert_int_equal(id.n_groups, 1);
	assert_string_equal(id.groups[0], "g");
	identity_free(&id);
}

static void test_token_review_not_authenticated(void **state)
{
	static const char *const bodies[] = {
		"{\"status\":{\"authenticated\":false,\"error\":\"token has expired\"}}",
		/* The user of a rejected token is no one. */
		"{\"status\":{\"authenticated\":false,\"user\":{\"username\":\"alice\"}}}",
		/* Absent: the API server omits false. */
		"{\"status\":{}}",
		"{\"status\":{\"error\":\"[invalid bearer token, unknown]\"}}",
	};
	struct identity id;
	bool ok;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(token_review(bodies[i], &ok, &id), 0);
		assert_false(ok);
		assert_no_identity(&id);
	}
}

static void test_token_review_invalid(void **state)
{
	static const char *const bodies[] = {
		"",
		"not json",
		"{\"kind\":\"TokenReview\"}", /* no status */
		"{\"status\":null}",
		"{\"status\":[]}",
		"{\"status\":\"authenticated\"}",
		"[{\"status\":{\"authenticated\":true}}]",
		"{\"status\":{\"authenticated\":\"true\"}}",
		"{\"status\":{\"authenticated\":1}}",
		/* Authenticated as no one: not something we can authorize. */
		"{\"status\":{\"authenticated\":true}}",
		"{\"status\":{\"authenticated\":true,\"user\":{}}}",
		"{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"\"}}}",
		"{\"status\":{\"authenticated\":true,\"user\":{\"username\":7}}}",
		"{\"status\":{\"authenticated\":true,\"user\":\"alice\"}}",
		"{\"status\":{\"authenticated\":true,\"user\":{\"username\":\"a\"}}} trailing",
	};
	struct identity id;
	bool ok;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (token_review(bodies[i], &ok, &id) != -EINVAL)
			fail_msg("accepted: %s", bodies[i]);
		assert_false(ok);
		assert_no_identity(&id);
	}
}

static void test_token_review_length(void **state)
{
	/* The body is (pointer, length), not a C string: what follows is not read. */
	static const char body[] = "{\"status\":{\"authenticated\":false}}{garbage";
	struct identity id;
	bool ok = true;

	(void)state;
	assert_int_equal(kube_parse_token_review(body, strlen(body) - 8, &ok, &id), 0);
	assert_false(ok);
	assert_int_equal(kube_parse_token_review(body, strlen(body) - 9, &ok, &id), -EINVAL);
}

static int access_review(const char *body, bool *allowed)
{
	*allowed = true;
	return kube_parse_access_review(body, strlen(body), allowed);
}

static void test_access_review(void **state)
{
	bool allowed;

	(void)state;
	assert_int_equal(
		access_review("{\"apiVersion\":\"authorization.k8s.io/v1\","
			      "\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":true,"
			      "\"reason\":\"RBAC: allowed by ClusterRoleBinding\"}}",
			      &allowed),
		0);
	assert_true(allowed);

	assert_int_equal(access_review("{\"status\":{\"allowed\":false}}", &allowed), 0);
	assert_false(allowed);
	assert_int_equal(
		access_review("{\"status\":{\"allowed\":false,\"denied\":true}}", &allowed), 0);
	assert_false(allowed);
	assert_int_equal(
		access_review("{\"status\":{\"allowed\":true,\"denied\":false}}", &allowed), 0);
	assert_true(allowed);
	/* Contradictory: denied wins. */
	assert_int_equal(access_review("{\"status\":{\"allowed\":true,\"denied\":true}}", &allowed),
			 0);
	assert_false(allowed);
}

static void test_access_review_invalid(void **state)
{
	static const char *const bodies[] = {
		"",
		"{",
		"{\"kind\":\"SubjectAccessReview\"}",
		"{\"status\":{}}", /* allowed is required */
		"{\"status\":{\"denied\":true}}",
		"{\"status\":{\"allowed\":\"true\"}}",
		"{\"status\":{\"allowed\":1}}",
		"{\"status\":{\"allowed\":null}}",
		"{\"status\":true}",
		"[true]",
	};
	bool allowed;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (access_review(bodies[i], &allowed) != -EINVAL)
			fail_msg("accepted: %s", bodies[i]);
		assert_false(allowed);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_review_authenticated),
		cmocka_unit_test(test_token_review_minimal_user),
		cmocka_unit_test(test_token_review_not_authenticated),
		cmocka_unit_test(test_token_review_invalid),
		cmocka_unit_test(test_token_review_length),
		cmocka_unit_test(test_access_review),
		cmocka_unit_test(test_access_review_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
