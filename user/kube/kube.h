/* The Kubernetes API client: TokenReview and SubjectAccessReview for the endpoint, and the
 * node's pods (list and watch) for Kubernetes targets, over HTTPS (libcurl with OpenSSL,
 * JSON with jansson). Calls block up to their timeout; auth.c and pods.c run them off the
 * HTTP server's and the main loop's threads. The service account token is re-read when
 * its file changes. */
#ifndef CTRLSCOPE_KUBE_H
#define CTRLSCOPE_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "expo.h"
#include "identity.h"
#include "kubeconfig.h"
#include "yamlutil.h"

struct kube;

enum kube_result {
	KUBE_OK,	  /* the API server answered */
	KUBE_UNAVAILABLE, /* it could not be reached, timed out, or answered with an error */
};

/* Takes ownership of conn's strings (conn is left empty). */
int kube_open(struct kube_conn *conn, struct kube **out, char *err, size_t err_size);
void kube_close(struct kube *k);
/* End every transfer in progress (within about a second) and refuse new ones: for a
 * prompt stop while the API server hangs. Thread-safe; k may be NULL. */
void kube_cancel(struct kube *k);
const char *kube_server(const struct kube *k);

/* On KUBE_OK, *authenticated says whether the token is valid for the audiences (empty
 * list: the API server's own), and id is filled when it is. */
enum kube_result kube_token_review(struct kube *k, const char *token, size_t len,
				   const struct string_list *audiences, long timeout_ms,
				   bool *authenticated, struct identity *id);
/* nonResourceAttributes{path, verb} for the identity. */
enum kube_result kube_access_review(struct kube *k, const struct identity *id, const char *path,
				    const char *verb, long timeout_ms, bool *allowed);
/* List the pods (query: "fieldSelector=..."); the answer's body in body. */
enum kube_result kube_list_pods(struct kube *k, const char *query, long timeout_ms,
				struct buf *body, long *code);
/* Watch the pods: on_line gets every line of the stream (one event each); stop is polled
 * about once a second. Returns when the stream ends: KUBE_OK when the server closed it
 * after a 200, KUBE_UNAVAILABLE on an error (code says which, 0 without an answer), when
 * on_line returned non-zero, or when stop asked. */
enum kube_result kube_watch_pods(struct kube *k, const char *query,
				 int (*on_line)(const char *line, size_t len, void *ctx),
				 int (*stop)(void *ctx), void *ctx, long *code);
/* ctrlscope_kube_requests_total{resource,verb,code}, ctrlscope_kube_request_seconds_total. */
void kube_collect(struct kube *k, struct expo *e);

/* Exposed for tests and fuzzing: decode response bodies. Return 0 or -EINVAL. */
int kube_parse_token_review(const char *body, size_t len, bool *authenticated, struct identity *id);
int kube_parse_access_review(const char *body, size_t len, bool *allowed);

#endif
