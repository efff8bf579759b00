/* Kubernetes API client: see kube.h. One connection, reused, behind a mutex: reviews are
 * rare (their answers are cached) and the caller serialises them anyway. Never logs a
 * token or a request body. */
#include "kube.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#define MAX_BODY (1 << 20)

enum resource {
	RES_TOKENREVIEWS,
	RES_SUBJECTACCESSREVIEWS,
	RES_PODS_LIST,
	RES_PODS_WATCH,
	RES_COUNT
};
static const struct {
	const char *resource, *verb, *path;
} calls[RES_COUNT] = {
	[RES_TOKENREVIEWS] = { "tokenreviews", "create",
			       "/apis/authentication.k8s.io/v1/tokenreviews" },
	[RES_SUBJECTACCESSREVIEWS] = { "subjectaccessreviews", "create",
				       "/apis/authorization.k8s.io/v1/subjectaccessreviews" },
	[RES_PODS_LIST] = { "pods", "list", "/api/v1/pods" },
	[RES_PODS_WATCH] = { "pods", "watch", "/api/v1/pods" },
};

/* Codes counted; anything else is "other", transport failures "error". */
static const char *const code_names[] = { "200", "201", "400", "401", "403",   "404",
					  "429", "500", "503", "504", "other", "error" };
#define N_CODES (sizeof(code_names) / sizeof(code_names[0]))

struct kube {
	struct kube_conn conn;
	pthread_mutex_t lock;	   /* the reviews' connection */
	pthread_mutex_t stat_lock; /* the token and the counters, shared with the pod watch */
	CURL *curl;
	char *token; /* current bearer token (from conn.token or conn.token_file) */
	struct timespec token_mtime;
	ino_t token_ino;
	unsigned long long requests[RES_COUNT][N_CODES];
	double seconds[RES_COUNT];
	atomic_bool cancelled; /* kube_cancel: every transfer ends, none starts */
};

const char *kube_server(const struct kube *k)
{
	return k->conn.server;
}

static void set_token(struct kube *k, char *token)
{
	if (k->token) {
		OPENSSL_cleanse(k->token, strlen(k->token));
		free(k->token);
	}
	k->token = token;
}

/* Re-read the token file when it changed: projected service account tokens rotate. */
static int refresh_token(struct kube *k)
{
	struct stat st;
	char *text;
	size_t len;
	FILE *f;

	if (!k->conn.token_file)
		return 0;
	if (stat(k->conn.token_file, &st))
		return k->token ? 0 : -errno;
	if (k->token && st.st_ino == k->token_ino && st.st_mtim.tv_sec == k->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == k->token_mtime.tv_nsec)
		return 0;
	f = fopen(k->conn.token_file, "re");
	if (!f)
		return k->token ? 0 : -errno;
	text = calloc(1, 16384);
	len = text ? fread(text, 1, 16383, f) : 0;
	fclose(f);
	if (!text)
		return -ENOMEM;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = 0;
	if (!len) {
		free(text);
		return k->token ? 0 : -EINVAL;
	}
	if (k->token)
		log_info("re-read the API server token from %s", k->conn.token_file);
	set_token(k, text);
	k->token_ino = st.st_ino;
	k->token_mtime = st.st_mtim;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (b->len + size * n > MAX_BODY)
		return 0; /* abort: nothing sane is that large */
	buf_append(b, data, size * n);
	return b->failed ? 0 : size * n;
}

static void blob(CURL *c, CURLoption opt, const char *pem)
{
	struct curl_blob b = { (void *)pem, strlen(pem), CURL_BLOB_COPY };

	curl_easy_setopt(c, opt, &b);
}

int kube_open(struct kube_conn *conn, struct kube **out, char *err, size_t err_size)
{
	struct kube *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return -ENOMEM;
	k->conn = *conn;
	memset(conn, 0, sizeof(*conn));
	pthread_mutex_init(&k->lock, NULL);
	pthread_mutex_init(&k->stat_lock, NULL);
	k->curl = curl_easy_init();
	if (!k->curl) {
		kube_close(k);
		return -ENOMEM;
	}
	if (k->conn.token)
		k->token = strdup(k->conn.token);
	ret = refresh_token(k);
	if (ret) {
		snprintf(err, err_size, "%s: cannot read the API server token: %s",
			 k->conn.token_file, strerror(-ret));
		kube_close(k);
		return ret;
	}
	*out = k;
	return 0;
}

void kube_close(struct kube *k)
{
	if (!k)
		return;
	if (k->curl)
		curl_easy_cleanup(k->curl);
	set_token(k, NULL);
	kube_conn_free(&k->conn);
	pthread_mutex_destroy(&k->lock);
	pthread_mutex_destroy(&k->stat_lock);
	free(k);
}

static void count(struct kube *k, enum resource r, const char *code, double seconds)
{
	size_t i;

	for (i = 0; i < N_CODES - 2 && strcmp(code_names[i], code); i++)
		;
	if (i == N_CODES - 2 && strcmp(code, "other"))
		i = strcmp(code, "error") ? N_CODES - 2 : N_CODES - 1;
	pthread_mutex_lock(&k->stat_lock);
	k->requests[r][i]++;
	k->seconds[r] += seconds;
	pthread_mutex_unlock(&k->stat_lock);
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* One request: a POST with a body, or a GET; its answer goes to write(). */
struct request {
	enum resource r;
	const char *query; /* appended to the path, or NULL */
	const char *body;  /* POST body, or NULL for a GET */
	long timeout_ms;   /* 0: none (a watch) */
	curl_write_callback write;
	void *write_data;
	int (*stop)(void *ctx); /* polled about once a second; non-zero ends the transfer */
	void *stop_ctx;
};

struct transfer {
	struct kube *k;
	const struct request *req;
};

static int progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	const struct transfer *x = ctx;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&x->k->cancelled) || (x->req->stop && x->req->stop(x->req->stop_ctx));
}

void kube_cancel(struct kube *k)
{
	if (k)
		atomic_store(&k->cancelled, true);
}

static enum kube_result perform(struct kube *k, CURL *c, const struct request *req, long *code)
{
	struct curl_slist *headers = NULL;
	struct transfer x = { k, req };
	char *url = NULL, *auth = NULL, code_text[16];
	struct timespec t0, t1;
	CURLcode rc;
	enum kube_result result = KUBE_UNAVAILABLE;

	*code = 0;
	if (atomic_load(&k->cancelled))
		return KUBE_UNAVAILABLE;
	pthread_mutex_lock(&k->stat_lock);
	if (refresh_token(k))
		log_warn("cannot read the API server token from %s", k->conn.token_file);
	if (k->token && asprintf(&auth, "Authorization: Bearer %s", k->token) < 0)
		auth = NULL;
	pthread_mutex_unlock(&k->stat_lock);
	if (asprintf(&url, "%s%s%s%s", k->conn.server, calls[req->r].path, req->query ? "?" : "",
		     req->query ? req->query : "") < 0) {
		free_secret(auth);
		count(k, req->r, "error", 0);
		return KUBE_UNAVAILABLE;
	}
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 req->timeout_ms && req->timeout_ms < 3000 ? req->timeout_ms : 3000L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (req->body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, req->write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, req->write_data);
	/* Polled about once a second however the transfer goes: a hung API server never
	 * holds up kube_cancel (the agent stopping) longer than that. */
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	if (k->conn.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, k->conn.ca_file);
	else if (k->conn.ca_pem)
		blob(c, CURLOPT_CAINFO_BLOB, k->conn.ca_pem);
	if (k->conn.cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, k->conn.cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEY, k->conn.key_file);
	} else if (k->conn.cert_pem) {
		blob(c, CURLOPT_SSLCERT_BLOB, k->conn.cert_pem);
		blob(c, CURLOPT_SSLKEY_BLOB, k->conn.key_pem);
	}
	if (req->body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	if (auth) {
		headers = curl_slist_append(headers, auth);
		free_secret(auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ctrlscope");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = curl_easy_perform(c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	curl_slist_free_all(headers); /* the token in it: curl copied it to its own buffers */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	free(url);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(code_text, sizeof(code_text), "error");
	} else if (rc != CURLE_OK) {
		log_warn("API server %s: %s %s failed: %s", k->conn.server, calls[req->r].verb,
			 calls[req->r].resource, curl_easy_strerror(rc));
		snprintf(code_text, sizeof(code_text), "error");
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
		snprintf(code_text, sizeof(code_text), "%ld", *code);
		if (*code == 200 || *code == 201)
			result = KUBE_OK;
		else if (*code == 401 || *code == 403)
			/* Not an outage: this agent's own credentials or RBAC. */
			log_error("API server %s refused this agent's %s %s (%ld): %s",
				  k->conn.server, calls[req->r].verb, calls[req->r].resource, *code,
				  *code == 401
					  ? "its token is not accepted (kubeconfig or the "
					    "service account's token)"
					  : "its ClusterRole lacks that permission (the chart's "
					    "rbac.yaml grants it)");
		else
			log_warn("API server %s: %s %s answered %ld", k->conn.server,
				 calls[req->r].verb, calls[req->r].resource, *code);
	}
	count(k, req->r, code_text,
	      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return result;
}

/* POST body to the resource; the answer's body in *resp on a 2xx. */
static enum kube_result post(struct kube *k, enum resource r, const char *body, long timeout_ms,
			     struct buf *resp)
{
	struct request req = {
		.r = r, .body = body, .timeout_ms = timeout_ms, .write = on_body, .write_data = resp
	};
	enum kube_result result;
	long code;

	pthread_mutex_lock(&k->lock);
	result = perform(k, k->curl, &req, &code);
	pthread_mutex_unlock(&k->lock);
	return result;
}

enum kube_result kube_list_pods(struct kube *k, const char *query, long timeout_ms,
				struct buf *body, long *code)
{
	struct request req = { .r = RES_PODS_LIST,
			       .query = query,
			       .timeout_ms = timeout_ms,
			       .write = on_body,
			       .write_data = body };
	CURL *c = curl_easy_init();
	enum kube_result result;

	if (!c)
		return KUBE_UNAVAILABLE;
	result = perform(k, c, &req, code);
	curl_easy_cleanup(c);
	return result;
}

/* Splits the watch stream into lines for the caller. */
struct line_splitter {
	struct buf pending;
	int (*on_line)(const char *line, size_t len, void *ctx);
	void *ctx;
	bool failed;
};

static size_t on_stream(char *data, size_t size, size_t n, void *ctx)
{
	struct line_splitter *ls = ctx;
	size_t len = size * n, start = 0;

	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		buf_append(&ls->pending, data + start, i - start);
		if (ls->pending.failed || ls->on_line(ls->pending.data ? ls->pending.data : "",
						      ls->pending.len, ls->ctx)) {
			ls->failed = true;
			return 0;
		}
		buf_reset(&ls->pending);
		start = i + 1;
	}
	buf_append(&ls->pending, data + start, len - start);
	/* One event larger than this is not a pod. */
	if (ls->pending.failed || ls->pending.len > MAX_BODY * 4) {
		ls->failed = true;
		return 0;
	}
	return len;
}

enum kube_result kube_watch_pods(struct kube *k, const char *query,
				 int (*on_line)(const char *line, size_t len, void *ctx),
				 int (*stop)(void *ctx), void *ctx, long *code)
{
	struct line_splitter ls = { .on_line = on_line, .ctx = ctx };
	struct request req = { .r = RES_PODS_WATCH,
			       .query = query,
			       .write = on_stream,
			       .write_data = &ls,
			       .stop = stop,
			       .stop_ctx = ctx };
	CURL *c = curl_easy_init();
	enum kube_result result;

	if (!c)
		return KUBE_UNAVAILABLE;
	buf_init(&ls.pending);
	result = perform(k, c, &req, code);
	curl_easy_cleanup(c);
	buf_free(&ls.pending);
	return ls.failed ? KUBE_UNAVAILABLE : result;
}

static char *dump(json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	return s;
}

int kube_parse_token_review(const char *body, size_t len, bool *authenticated, struct identity *id)
{
	json_t *root = json_loadb(body, len, 0, NULL), *status, *user, *groups, *v;
	int ret = -EINVAL;

	memset(id, 0, sizeof(*id));
	*authenticated = false;
	status = root ? json_object_get(root, "status") : NULL;
	if (!json_is_object(status))
		goto out;
	v = json_object_get(status, "authenticated");
	if (v && !json_is_boolean(v))
		goto out;
	if (!json_is_true(v)) {
		ret = 0; /* absent or false: not authenticated */
		goto out;
	}
	user = json_object_get(status, "user");
	v = json_object_get(user, "username");
	if (!json_is_string(v) || !*json_string_value(v))
		goto out;
	if (identity_set(id, json_string_value(v),
			 json_string_value(json_object_get(user, "uid")))) {
		ret = -ENOMEM;
		goto out;
	}
	groups = json_object_get(user, "groups");
	for (size_t i = 0; json_is_array(groups) && i < json_array_size(groups); i++) {
		v = json_array_get(groups, i);
		if (json_is_string(v) && identity_add_group(id, json_string_value(v))) {
			identity_free(id);
			ret = -ENOMEM;
			goto out;
		}
	}
	*authenticated = true;
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int kube_parse_access_review(const char *body, size_t len, bool *allowed)
{
	json_t *root = json_loadb(body, len, 0, NULL), *status, *v;
	int ret = -EINVAL;

	*allowed = false;
	status = root ? json_object_get(root, "status") : NULL;
	if (!json_is_object(status))
		goto out;
	v = json_object_get(status, "allowed");
	if (!json_is_boolean(v))
		goto out;
	/* allowed and denied together is contradictory: deny (as kube-apiserver's webhook
	 * authorizer does). */
	*allowed = json_is_true(v) && !json_is_true(json_object_get(status, "denied"));
	ret = 0;
out:
	json_decref(root);
	return ret;
}

enum kube_result kube_token_review(struct kube *k, const char *token, size_t len,
				   const struct string_list *audiences, long timeout_ms,
				   bool *authenticated, struct identity *id)
{
	json_t *aud = json_array(), *spec;
	enum kube_result result;
	struct buf resp;
	char *body;

	for (size_t i = 0; audiences && i < audiences->n; i++)
		json_array_append_new(aud, json_string(audiences->items[i]));
	spec = json_pack("{s:s%, s:o}", "token", token, len, "audiences", aud);
	body = dump(json_pack("{s:s, s:s, s:o}", "apiVersion", "authentication.k8s.io/v1", "kind",
			      "TokenReview", "spec", spec));
	if (!body)
		return KUBE_UNAVAILABLE;
	buf_init(&resp);
	result = post(k, RES_TOKENREVIEWS, body, timeout_ms, &resp);
	free_secret(body);
	if (result == KUBE_OK &&
	    kube_parse_token_review(resp.data ? resp.data : "", resp.len, authenticated, id)) {
		log_warn("API server %s: cannot decode a TokenReview answer", k->conn.server);
		result = KUBE_UNAVAILABLE;
	}
	buf_free(&resp);
	return result;
}

enum kube_result kube_access_review(struct kube *k, const struct identity *id, const char *path,
				    const char *verb, long timeout_ms, bool *allowed)
{
	json_t *groups = json_array(), *spec;
	enum kube_result result;
	struct buf resp;
	char *body;

	for (size_t i = 0; i < id->n_groups; i++)
		json_array_append_new(groups, json_string(id->groups[i]));
	spec = json_pack("{s:s, s:o, s:{s:s, s:s}}", "user", id->user, "groups", groups,
			 "nonResourceAttributes", "path", path, "verb", verb);
	if (spec && id->uid)
		json_object_set_new(spec, "uid", json_string(id->uid));
	body = dump(json_pack("{s:s, s:s, s:o}", "apiVersion", "authorization.k8s.io/v1", "kind",
			      "SubjectAccessReview", "spec", spec));
	if (!body)
		return KUBE_UNAVAILABLE;
	buf_init(&resp);
	result = post(k, RES_SUBJECTACCESSREVIEWS, body, timeout_ms, &resp);
	free(body);
	if (result == KUBE_OK &&
	    kube_parse_access_review(resp.data ? resp.data : "", resp.len, allowed)) {
		log_warn("API server %s: cannot decode a SubjectAccessReview answer",
			 k->conn.server);
		result = KUBE_UNAVAILABLE;
	}
	buf_free(&resp);
	return result;
}

void kube_collect(struct kube *k, struct expo *e)
{
	struct label labels[3] = { { "resource", NULL }, { "verb", NULL }, { "code", NULL } };

	pthread_mutex_lock(&k->stat_lock);
	expo_family(e, "ctrlscope_kube_requests_total", "counter",
		    "Requests to the Kubernetes API server, by resource, verb and status code "
		    "(\"error\": no answer).");
	for (int r = 0; r < RES_COUNT; r++) {
		for (size_t i = 0; i < N_CODES; i++) {
			if (!k->requests[r][i])
				continue;
			labels[0].value = calls[r].resource;
			labels[1].value = calls[r].verb;
			labels[2].value = code_names[i];
			expo_u64(e, labels, 3, k->requests[r][i]);
		}
	}
	expo_family(e, "ctrlscope_kube_request_seconds_total", "counter",
		    "Time spent in requests to the Kubernetes API server (watches: while open).");
	for (int r = 0; r < RES_COUNT; r++) {
		labels[0].value = calls[r].resource;
		labels[1].value = calls[r].verb;
		expo_f64(e, labels, 2, k->seconds[r]);
	}
	pthread_mutex_unlock(&k->stat_lock);
}
