/* libFuzzer target for the Kubernetes API answers (kube_parse_token_review and
 * kube_parse_access_review in user/kube/kube.c): bodies come from the API server, or from
 * whatever answers in its place. Both decoders must agree with a reference reading of the
 * same JSON here (status.authenticated true and a non-empty status.user.username; status.
 * allowed a boolean, denied winning), return 0 or -EINVAL, and leave no identity behind
 * unless authenticated. */
#include "kube.h"
#include "check.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_token_review(const char *body, size_t size, json_t *root)
{
	json_t *status = json_object_get(root, "status"), *user, *name, *groups;
	struct identity id;
	bool authenticated = true;
	int ret = kube_parse_token_review(body, size, &authenticated, &id);
	int want_ret = 0;
	bool want_auth = false;
	size_t n_groups = 0;

	CHECK(ret == 0 || ret == -EINVAL);
	if (!json_is_object(status)) {
		want_ret = -EINVAL;
	} else if (json_object_get(status, "authenticated") &&
		   !json_is_boolean(json_object_get(status, "authenticated"))) {
		want_ret = -EINVAL;
	} else if (json_is_true(json_object_get(status, "authenticated"))) {
		user = json_object_get(status, "user");
		name = json_object_get(user, "username");
		if (!json_is_string(name) || !json_string_length(name))
			want_ret = -EINVAL;
		else
			want_auth = true;
	}
	if (ret != want_ret || authenticated != want_auth) {
		note("body", body, size);
		fprintf(stderr, "fuzz: token review: %d, %d; expected %d, %d\n", ret, authenticated,
			want_ret, want_auth);
	}
	CHECK(ret == want_ret && authenticated == want_auth);
	if (!authenticated) {
		static const struct identity none;

		CHECK(!memcmp(&id, &none, sizeof(id)));
		return;
	}
	user = json_object_get(status, "user");
	CHECK(!strcmp(id.user, json_string_value(json_object_get(user, "username"))));
	if (json_is_string(json_object_get(user, "uid")) &&
	    json_string_length(json_object_get(user, "uid")))
		CHECK(id.uid && !strcmp(id.uid, json_string_value(json_object_get(user, "uid"))));
	else
		CHECK(!id.uid);
	/* The string groups, in order; anything else in the list is skipped. */
	groups = json_object_get(user, "groups");
	for (size_t i = 0; json_is_array(groups) && i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);

		if (!json_is_string(g))
			continue;
		CHECK(n_groups < id.n_groups);
		CHECK(!strcmp(id.groups[n_groups], json_string_value(g)));
		n_groups++;
	}
	CHECK(n_groups == id.n_groups);
	identity_free(&id);
}

static void check_access_review(const char *body, size_t size, json_t *root)
{
	json_t *status = json_object_get(root, "status");
	json_t *allowed_v = json_object_get(status, "allowed");
	bool allowed = true;
	int ret = kube_parse_access_review(body, size, &allowed);
	int want_ret = json_is_object(status) && json_is_boolean(allowed_v) ? 0 : -EINVAL;
	bool want = !want_ret && json_is_true(allowed_v) &&
		    !json_is_true(json_object_get(status, "denied"));

	if (ret != want_ret || allowed != want) {
		note("body", body, size);
		fprintf(stderr, "fuzz: access review: %d, %d; expected %d, %d\n", ret, allowed,
			want_ret, want);
	}
	CHECK(ret == want_ret && allowed == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly size bytes, not NUL-terminated, as libcurl hands a body over. */
	char *body = malloc(size ? size : 1);
	json_t *root;

	CHECK(body);
	memcpy(body, data, size);
	/* The reference reading: the same JSON library, the same flags. */
	root = json_loadb(body, size, 0, NULL);
	check_token_review(body, size, root);
	check_access_review(body, size, root);
	json_decref(root);
	free(body);
	return 0;
}
