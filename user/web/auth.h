/* Authentication and authorization of HTTP requests: who is asking (client certificate,
 * static token, Kubernetes TokenReview, bcrypt basic auth) and whether they may (always
 * allowed paths and groups, static rules, SubjectAccessReview), with a decision cache
 * that keeps honouring recent decisions while the API server is unreachable. Knows no
 * HTTP library: server.c turns verdicts into status codes. */
#ifndef CTRLSCOPE_AUTH_H
#define CTRLSCOPE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "expo.h"
#include "identity.h"
#include "kube.h"
#include "tls.h"
#include "webconfig.h"

struct auth;

/* How decisions reach the API server: kube.h's TokenReview and SubjectAccessReview for
 * auth_open; a test passes its own to auth_open_with. */
struct auth_reviewer {
	enum kube_result (*token_review)(void *ctx, const char *token, size_t len,
					 const struct string_list *audiences, long timeout_ms,
					 bool *authenticated, struct identity *id);
	enum kube_result (*access_review)(void *ctx, const struct identity *id, const char *path,
					  const char *verb, long timeout_ms, bool *allowed);
	void *ctx;
};

enum auth_verdict {
	AUTH_ALLOW,
	AUTH_UNAUTHENTICATED, /* 401: missing or rejected credentials */
	AUTH_FORBIDDEN,	      /* 403: authenticated, not authorized */
	AUTH_UNAVAILABLE,     /* 503: a decision needs the API server, which is unreachable */
	AUTH_PENDING,	      /* needs a blocking call: ask again with may_block */
};

struct auth_request {
	const char *path;
	const char *method;	   /* upper-case HTTP method */
	const char *authorization; /* the Authorization header, or NULL */
	struct tls_peer peer;	   /* the verified client certificate, if any */
};

/* The request's user, for the log (never a credential). */
struct auth_outcome {
	char user[128];
};

/* kube may be NULL when the web config uses no Kubernetes authenticator or authorizer. */
int auth_open(const struct web_config *w, struct kube *kube, struct auth **out, char *err,
	      size_t err_size);
/* The same with its own reviewer (NULL: none, as kube NULL). */
int auth_open_with(const struct web_config *w, const struct auth_reviewer *reviewer,
		   struct auth **out, char *err, size_t err_size);
void auth_close(struct auth *a);
/* Decide. Without may_block, answers AUTH_PENDING where an API call or a bcrypt
 * comparison is needed; with it, makes them (up to the configured timeouts). */
enum auth_verdict auth_check(struct auth *a, const struct auth_request *req, bool may_block,
			     struct auth_outcome *out);
/* Whether the path needs no credentials at all. */
bool auth_path_is_open(const struct auth *a, const char *path);
/* The WWW-Authenticate challenges for a 401 ("Bearer realm=..." and maybe "Basic ..."). */
const char *auth_challenge(const struct auth *a, bool basic);
bool auth_has_basic(const struct auth *a);
void auth_collect(struct auth *a, struct expo *e);

/* Exposed for tests: RBAC-style path matching (exact, or a prefix ending in '*'). */
bool auth_path_match(const char *pattern, const char *path);

#endif
