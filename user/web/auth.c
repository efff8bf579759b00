/* Authentication and authorization: see auth.h.
 *
 * Order of a decision: always-allowed paths; no authenticator configured (anonymous);
 * the client certificate (required, invalid, or an identity); the Authorization header
 * (static token, then TokenReview; or basic auth); then always-allowed groups, static
 * rules, SubjectAccessReview. An authenticated request is allowed when no authorizer is
 * configured, denied when authorizers are configured and none allows it.
 *
 * Cache keys are HMAC-SHA256 under a per-process random key: a credential never sits in
 * memory longer than the request that carried it. */
#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "httputil.h"
#include "identity.h"
#include "kube.h"
#include "log.h"
#include "tokens.h"

#include <crypt.h>
#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CACHE_SIZE 4096
#define KEY_LEN	   32
/* After a call that failed slowly (a hung or timing-out API server), decide from the cache
 * for this long before calling again: a hung API server costs one timeout, not one per
 * scrape. A fast failure (connection refused) is cheap to retry and trips nothing. */
#define BREAKER_SECONDS 5.0
#define SLOW_FAILURE	1.0

enum authn_source { AN_TLS, AN_TOKEN_FILE, AN_BASIC, AN_APISERVER, AN_CACHE, AN_NONE, AN_N };
static const char *const authn_sources[AN_N] = { "tls",	      "token_file", "basic",
						 "apiserver", "cache",	    "none" };
enum authn_result { AR_SUCCESS, AR_FAILURE, AR_UNAVAILABLE, AR_N };
static const char *const authn_results[AR_N] = { "success", "failure", "unavailable" };
enum authz_source { ZS_ALWAYS, ZS_STATIC, ZS_APISERVER, ZS_CACHE, ZS_DEFAULT, ZS_N };
static const char *const authz_sources[ZS_N] = { "always_allow", "static", "apiserver", "cache",
						 "default" };
enum authz_result { ZR_ALLOWED, ZR_DENIED, ZR_UNAVAILABLE, ZR_N };
static const char *const authz_results[ZR_N] = { "allowed", "denied", "unavailable" };

struct centry {
	bool used;
	bool positive; /* authenticated / allowed */
	unsigned char key[KEY_LEN];
	struct identity id; /* token and basic caches */
	double verified;    /* when the API server (or bcrypt) last said so */
	double expires;
};

struct cache {
	struct centry *e;
	size_t cap;
	size_t used;
};

struct auth {
	const struct web_config *w;
	struct auth_reviewer reviewer; /* the API server, or none */
	struct token_file *tokens;
	pthread_mutex_t lock;
	unsigned char secret[KEY_LEN];
	struct cache tokens_cache, decisions;
	double api_down_until;
	char fake_hash[128]; /* compared against for unknown basic users */
	char challenge[128], challenge_basic[256];
	unsigned long long authn[AR_N][AN_N];
	unsigned long long authz[ZR_N][ZS_N];
};

/* What one decision did, committed to the counters only when it is final. */
struct trail {
	int an_result, an_source;
	int az_result, az_source;
};

/* --- cache ------------------------------------------------------------------------- */

static int cache_init(struct cache *c)
{
	c->cap = CACHE_SIZE;
	c->e = calloc(c->cap, sizeof(*c->e));
	return c->e ? 0 : -ENOMEM;
}

static void cache_free(struct cache *c)
{
	for (size_t i = 0; c->e && i < c->cap; i++)
		identity_free(&c->e[i].id);
	free(c->e);
}

static struct centry *cache_find(struct cache *c, const unsigned char *key)
{
	for (size_t i = 0; i < c->cap; i++) {
		if (c->e[i].used && !CRYPTO_memcmp(c->e[i].key, key, KEY_LEN))
			return &c->e[i];
	}
	return NULL;
}

/* Store, replacing the same key or else a free entry or else the longest unverified. */
static void cache_put(struct cache *c, const unsigned char *key, bool positive,
		      const struct identity *id, double now, double ttl)
{
	struct centry *slot = cache_find(c, key), *oldest = NULL;

	for (size_t i = 0; !slot && i < c->cap; i++) {
		if (!c->e[i].used) {
			slot = &c->e[i];
			c->used++;
		} else if (!oldest || c->e[i].verified < oldest->verified) {
			oldest = &c->e[i];
		}
	}
	if (!slot)
		slot = oldest;
	identity_free(&slot->id);
	slot->used = true;
	slot->positive = positive;
	memcpy(slot->key, key, KEY_LEN);
	if (id && identity_copy(&slot->id, id)) {
		slot->used = false; /* out of memory: do not cache */
		c->used--;
		return;
	}
	slot->verified = now;
	slot->expires = now + ttl;
}

static void derive_key(struct auth *a, const char *kind, const char *const *parts,
		       const size_t *lens, size_t n, unsigned char *out)
{
	size_t len = 0;
	struct buf msg;

	/* Length-prefixed parts: "a" + "bc" never derives the same key as "ab" + "c". */
	buf_init(&msg);
	buf_append(&msg, kind, strlen(kind) + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char l[8];

		for (int b = 0; b < 8; b++)
			l[b] = (unsigned char)((uint64_t)lens[i] >> (8 * b));
		buf_append(&msg, l, sizeof(l));
		buf_append(&msg, parts[i], lens[i]);
	}
	if (msg.failed ||
	    !EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, a->secret, sizeof(a->secret),
		       (const unsigned char *)msg.data, msg.len, out, KEY_LEN, &len))
		RAND_bytes(out, KEY_LEN); /* a key nothing else derives: a cache miss */
	if (msg.data)
		OPENSSL_cleanse(msg.data, msg.len);
	buf_free(&msg);
}

/* --- paths and rules --------------------------------------------------------------- */

bool auth_path_match(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return !strncmp(pattern, path, n - 1);
	return !strcmp(pattern, path);
}

bool auth_path_is_open(const struct auth *a, const char *path)
{
	for (size_t i = 0; i < a->w->always_allow_paths.n; i++) {
		if (auth_path_match(a->w->always_allow_paths.items[i], path))
			return true;
	}
	return false;
}

static bool static_allows(const struct auth *a, const struct identity *id, const char *path)
{
	for (size_t i = 0; i < a->w->n_rules; i++) {
		const struct static_rule *r = &a->w->rules[i];
		bool who = r->user ? !strcmp(r->user, id->user) : identity_in_group(id, r->group);

		if (!who)
			continue;
		for (size_t k = 0; k < r->paths.n; k++) {
			if (auth_path_match(r->paths.items[k], path))
				return true;
		}
	}
	return false;
}

static bool in_always_groups(const struct auth *a, const struct identity *id)
{
	for (size_t i = 0; i < a->w->always_allow_groups.n; i++) {
		if (identity_in_group(id, a->w->always_allow_groups.items[i]))
			return true;
	}
	return false;
}

/* --- authenticators ---------------------------------------------------------------- */

enum step { STEP_YES, STEP_NO, STEP_PENDING, STEP_UNAVAILABLE };

/* A cached answer: fresh, or within the outage grace while the API server is down. */
static enum step from_cache(struct auth *a, struct cache *c, const unsigned char *key,
			    bool stale_ok, struct identity *id)
{
	struct centry *e;
	enum step s = STEP_UNAVAILABLE;
	double now = clock_seconds(CLOCK_MONOTONIC);

	pthread_mutex_lock(&a->lock);
	e = cache_find(c, key);
	if (e && (now < e->expires ||
		  (stale_ok && now - e->verified <= (double)a->w->outage_grace_ms / 1000.0))) {
		s = e->positive ? STEP_YES : STEP_NO;
		if (s == STEP_YES && id && e->id.user && identity_copy(id, &e->id))
			s = STEP_UNAVAILABLE;
	}
	pthread_mutex_unlock(&a->lock);
	return s;
}

static bool breaker_open(struct auth *a)
{
	bool open;

	pthread_mutex_lock(&a->lock);
	open = clock_seconds(CLOCK_MONOTONIC) < a->api_down_until;
	pthread_mutex_unlock(&a->lock);
	return open;
}

static void trip_breaker(struct auth *a, double started)
{
	double now = clock_seconds(CLOCK_MONOTONIC);

	if (now - started < SLOW_FAILURE)
		return;
	pthread_mutex_lock(&a->lock);
	a->api_down_until = now + BREAKER_SECONDS;
	pthread_mutex_unlock(&a->lock);
}

static enum step token_review(struct auth *a, const char *token, size_t len, bool may_block,
			      struct identity *id, struct trail *t)
{
	const struct string_list *aud = &a->w->audiences;
	const char *parts[1 + 64];
	size_t lens[1 + 64], n = 0;
	unsigned char key[KEY_LEN];
	enum step s;
	bool authenticated = false;

	parts[n] = token;
	lens[n++] = len;
	for (size_t i = 0; i < aud->n && n < 65; i++) {
		parts[n] = aud->items[i];
		lens[n++] = strlen(aud->items[i]);
	}
	derive_key(a, "token", parts, lens, n, key);
	s = from_cache(a, &a->tokens_cache, key, false, id);
	if (s == STEP_YES || s == STEP_NO) {
		t->an_source = AN_CACHE;
		return s;
	}
	if (!may_block)
		return STEP_PENDING;
	if (!breaker_open(a)) {
		double started = clock_seconds(CLOCK_MONOTONIC);

		switch (a->reviewer.token_review(a->reviewer.ctx, token, len, aud,
						 a->w->token_timeout_ms, &authenticated, id)) {
		case KUBE_OK:
			pthread_mutex_lock(&a->lock);
			cache_put(&a->tokens_cache, key, authenticated, authenticated ? id : NULL,
				  clock_seconds(CLOCK_MONOTONIC),
				  (double)a->w->token_cache_ttl_ms / 1000.0);
			pthread_mutex_unlock(&a->lock);
			t->an_source = AN_APISERVER;
			return authenticated ? STEP_YES : STEP_NO;
		case KUBE_UNAVAILABLE:
			trip_breaker(a, started);
			break;
		}
	}
	t->an_source = AN_CACHE;
	return from_cache(a, &a->tokens_cache, key, true, id);
}

static const struct basic_user *find_user(const struct auth *a, const char *user)
{
	for (size_t i = 0; i < a->w->n_users; i++) {
		if (!strcmp(a->w->users[i].user, user))
			return &a->w->users[i];
	}
	return NULL;
}

/* user:password from a Basic credential (RFC 7617); false if malformed. */
static bool split_basic(const char *b64, size_t len, char *buf, size_t size, char **user,
			char **pass)
{
	long n;
	char *colon;

	if (len / 4 * 3 + 1 > size)
		return false;
	n = base64_decode(b64, len, (unsigned char *)buf);
	if (n <= 0 || memchr(buf, 0, (size_t)n))
		return false;
	buf[n] = 0;
	colon = strchr(buf, ':');
	if (!colon || colon == buf)
		return false;
	*colon = 0;
	*user = buf;
	*pass = colon + 1;
	return true;
}

static enum step basic_check(struct auth *a, const char *cred, size_t len, bool may_block,
			     struct identity *id, struct trail *t)
{
	char buf[1024], *user, *pass;
	const struct basic_user *u;
	struct crypt_data *data;
	unsigned char key[KEY_LEN];
	const char *parts[2];
	size_t lens[2];
	enum step s = STEP_NO;
	const char *out, *hash;

	t->an_source = AN_BASIC;
	if (!split_basic(cred, len, buf, sizeof(buf), &user, &pass))
		return STEP_NO;
	parts[0] = user;
	lens[0] = strlen(user);
	parts[1] = pass;
	lens[1] = strlen(pass);
	derive_key(a, "basic", parts, lens, 2, key);
	if (from_cache(a, &a->tokens_cache, key, false, id) == STEP_YES) {
		t->an_source = AN_CACHE;
		s = STEP_YES;
		goto out;
	}
	if (!may_block) {
		s = STEP_PENDING;
		goto out;
	}
	/* An unknown user costs the same bcrypt as a known one: no user enumeration. */
	u = find_user(a, user);
	hash = u ? u->hash : a->fake_hash;
	data = calloc(1, sizeof(*data));
	out = data ? crypt_rn(pass, hash, data, sizeof(*data)) : NULL;
	if (u && out && strlen(out) == strlen(hash) && !CRYPTO_memcmp(out, hash, strlen(hash)) &&
	    !identity_set(id, user, NULL)) {
		pthread_mutex_lock(&a->lock);
		cache_put(&a->tokens_cache, key, true, id, clock_seconds(CLOCK_MONOTONIC),
			  (double)a->w->token_cache_ttl_ms / 1000.0);
		pthread_mutex_unlock(&a->lock);
		s = STEP_YES;
	}
	if (data) {
		OPENSSL_cleanse(data, sizeof(*data));
		free(data);
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return s;
}

static int identity_from_cert(const struct tls_peer *p, struct identity *id)
{
	if (identity_set(id, p->user, NULL))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_groups; i++) {
		if (identity_add_group(id, p->groups[i]))
			return -ENOMEM;
	}
	return 0;
}

/* Establish who is asking. */
static enum step authenticate(struct auth *a, const struct auth_request *req, bool may_block,
			      struct identity *id, struct trail *t)
{
	const struct web_config *w = a->w;
	bool cert_identity = req->peer.state == TLS_PEER_VALID &&
			     (w->client_certificates ||
			      (w->tls.client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY &&
			       !w->kube_authn && !w->static_tokens_file && !w->n_users));
	struct http_auth h;
	enum step s = STEP_NO;
	int found;

	t->an_source = AN_TLS;
	if (w->tls.client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY &&
	    req->peer.state != TLS_PEER_VALID)
		return STEP_NO;
	if (req->peer.state == TLS_PEER_INVALID) {
		log_debug("rejected a client certificate: %s", req->peer.reason);
		return STEP_NO;
	}
	http_parse_authorization(req->authorization, &h);
	if (h.scheme == HTTP_AUTH_NONE && !req->authorization) {
		if (cert_identity)
			return identity_from_cert(&req->peer, id) ? STEP_UNAVAILABLE : STEP_YES;
		t->an_source = AN_NONE;
		return STEP_NO;
	}
	switch (h.scheme) {
	case HTTP_AUTH_BEARER:
		t->an_source = AN_TOKEN_FILE;
		if (a->tokens) {
			found = tokens_lookup(a->tokens, h.credentials, h.len, id);
			if (found)
				return found > 0 ? STEP_YES : STEP_UNAVAILABLE;
		}
		if (!w->kube_authn)
			return STEP_NO;
		t->an_source = AN_APISERVER;
		s = token_review(a, h.credentials, h.len, may_block, id, t);
		break;
	case HTTP_AUTH_BASIC:
		t->an_source = AN_BASIC;
		if (w->n_users)
			s = basic_check(a, h.credentials, h.len, may_block, id, t);
		break;
	default:
		t->an_source = AN_NONE; /* an unknown scheme or an empty credential */
		break;
	}
	return s;
}

/* --- authorizers ------------------------------------------------------------------- */

static enum step access_review(struct auth *a, const struct identity *id, const char *path,
			       const char *verb, bool may_block, struct trail *t)
{
	const char *parts[3 + 2 * 64];
	size_t lens[3 + 2 * 64], n = 0;
	unsigned char key[KEY_LEN];
	bool allowed = false;
	enum step s;

	parts[n] = id->user;
	lens[n++] = strlen(id->user);
	parts[n] = path;
	lens[n++] = strlen(path);
	parts[n] = verb;
	lens[n++] = strlen(verb);
	for (size_t i = 0; i < id->n_groups && n < sizeof(parts) / sizeof(parts[0]); i++) {
		parts[n] = id->groups[i];
		lens[n++] = strlen(id->groups[i]);
	}
	derive_key(a, "access", parts, lens, n, key);
	s = from_cache(a, &a->decisions, key, false, NULL);
	if (s == STEP_YES || s == STEP_NO) {
		t->az_source = ZS_CACHE;
		return s;
	}
	if (!may_block)
		return STEP_PENDING;
	if (!breaker_open(a)) {
		double started = clock_seconds(CLOCK_MONOTONIC);

		switch (a->reviewer.access_review(a->reviewer.ctx, id, path, verb,
						  a->w->sar_timeout_ms, &allowed)) {
		case KUBE_OK:
			pthread_mutex_lock(&a->lock);
			cache_put(&a->decisions, key, allowed, NULL, clock_seconds(CLOCK_MONOTONIC),
				  (double)(allowed ? a->w->allowed_ttl_ms : a->w->denied_ttl_ms) /
					  1000.0);
			pthread_mutex_unlock(&a->lock);
			t->az_source = ZS_APISERVER;
			return allowed ? STEP_YES : STEP_NO;
		case KUBE_UNAVAILABLE:
			trip_breaker(a, started);
			break;
		}
	}
	t->az_source = ZS_CACHE;
	return from_cache(a, &a->decisions, key, true, NULL);
}

static enum step authorize(struct auth *a, const struct identity *id, const char *path,
			   const char *method, bool may_block, struct trail *t)
{
	char verb[16];
	size_t i;

	t->az_source = ZS_ALWAYS;
	if (in_always_groups(a, id))
		return STEP_YES;
	t->az_source = ZS_STATIC;
	if (static_allows(a, id, path))
		return STEP_YES;
	if (a->w->kube_authz) {
		/* The verb kube-apiserver uses for a non-resource request: the method, lower-cased. */
		for (i = 0; method[i] && i + 1 < sizeof(verb); i++)
			verb[i] = (char)tolower((unsigned char)method[i]);
		verb[i] = 0;
		return access_review(a, id, path, verb, may_block, t);
	}
	t->az_source = ZS_DEFAULT;
	return webconfig_authorizes(a->w) ? STEP_NO : STEP_YES;
}

/* --- the decision ------------------------------------------------------------------ */

static void commit(struct auth *a, const struct trail *t)
{
	pthread_mutex_lock(&a->lock);
	if (t->an_result >= 0)
		a->authn[t->an_result][t->an_source]++;
	if (t->az_result >= 0)
		a->authz[t->az_result][t->az_source]++;
	pthread_mutex_unlock(&a->lock);
}

enum auth_verdict auth_check(struct auth *a, const struct auth_request *req, bool may_block,
			     struct auth_outcome *out)
{
	struct trail t = { -1, AN_NONE, -1, ZS_DEFAULT };
	struct identity id = { 0 };
	enum auth_verdict v;
	enum step s;

	out->user[0] = 0;
	if (auth_path_is_open(a, req->path)) {
		t.az_result = ZR_ALLOWED;
		t.az_source = ZS_ALWAYS;
		v = AUTH_ALLOW;
		goto done;
	}
	if (!webconfig_authenticates(a->w)) {
		t.az_result = ZR_ALLOWED; /* no authenticator configured: anonymous access */
		v = AUTH_ALLOW;
		goto done;
	}
	s = authenticate(a, req, may_block, &id, &t);
	if (s == STEP_PENDING) {
		v = AUTH_PENDING;
		goto done;
	}
	if (s != STEP_YES) {
		t.an_result = s == STEP_NO ? AR_FAILURE : AR_UNAVAILABLE;
		v = s == STEP_NO ? AUTH_UNAUTHENTICATED : AUTH_UNAVAILABLE;
		goto done;
	}
	t.an_result = AR_SUCCESS;
	/* kube-apiserver adds this group to every authenticated user. */
	if (!identity_in_group(&id, "system:authenticated") &&
	    identity_add_group(&id, "system:authenticated")) {
		v = AUTH_UNAVAILABLE;
		goto done;
	}
	snprintf(out->user, sizeof(out->user), "%s", id.user);
	s = authorize(a, &id, req->path, req->method, may_block, &t);
	switch (s) {
	case STEP_YES:
		t.az_result = ZR_ALLOWED;
		v = AUTH_ALLOW;
		break;
	case STEP_NO:
		t.az_result = ZR_DENIED;
		v = AUTH_FORBIDDEN;
		break;
	case STEP_PENDING:
		v = AUTH_PENDING;
		break;
	default:
		t.az_result = ZR_UNAVAILABLE;
		v = AUTH_UNAVAILABLE;
		break;
	}
done:
	if (v != AUTH_PENDING)
		commit(a, &t);
	identity_free(&id);
	return v;
}

/* --- set-up ------------------------------------------------------------------------ */

static enum kube_result kube_token(void *ctx, const char *token, size_t len,
				   const struct string_list *audiences, long timeout_ms,
				   bool *authenticated, struct identity *id)
{
	return kube_token_review(ctx, token, len, audiences, timeout_ms, authenticated, id);
}

static enum kube_result kube_access(void *ctx, const struct identity *id, const char *path,
				    const char *verb, long timeout_ms, bool *allowed)
{
	return kube_access_review(ctx, id, path, verb, timeout_ms, allowed);
}

int auth_open(const struct web_config *w, struct kube *kube, struct auth **out, char *err,
	      size_t err_size)
{
	const struct auth_reviewer reviewer = { kube_token, kube_access, kube };

	return auth_open_with(w, kube ? &reviewer : NULL, out, err, err_size);
}

int auth_open_with(const struct web_config *w, const struct auth_reviewer *reviewer,
		   struct auth **out, char *err, size_t err_size)
{
	struct auth *a = calloc(1, sizeof(*a));
	char salt[64];
	int ret;

	if (!a)
		return -ENOMEM;
	a->w = w;
	if (reviewer)
		a->reviewer = *reviewer;
	pthread_mutex_init(&a->lock, NULL);
	if (RAND_bytes(a->secret, sizeof(a->secret)) != 1 || cache_init(&a->tokens_cache) ||
	    cache_init(&a->decisions)) {
		auth_close(a);
		return -ENOMEM;
	}
	if ((w->kube_authn || w->kube_authz) && !reviewer) {
		snprintf(err, err_size,
			 "%s: authentication.kubernetes and "
			 "authorization.kubernetes need the API server (--kubeconfig, or "
			 "in-cluster)",
			 w->name);
		auth_close(a);
		return -EINVAL;
	}
	if (w->static_tokens_file) {
		ret = tokens_open(w->static_tokens_file, &a->tokens, err, err_size);
		if (ret) {
			auth_close(a);
			return ret;
		}
	}
	if (w->n_users) {
		/* The hash unknown users are checked against, at the cost of the real ones. */
		unsigned char rnd[16];
		struct crypt_data *data = calloc(1, sizeof(*data));
		const char *h = NULL;

		RAND_bytes(rnd, sizeof(rnd));
		if (data && crypt_gensalt_rn("$2b$", 10, (const char *)rnd, sizeof(rnd), salt,
					     sizeof(salt)))
			h = crypt_rn("ctrlscope-no-such-user", salt, data, sizeof(*data));
		if (h)
			snprintf(a->fake_hash, sizeof(a->fake_hash), "%s", h);
		free(data);
		if (!h) {
			snprintf(err, err_size, "cannot compute bcrypt hashes on this system");
			auth_close(a);
			return -ENOTSUP;
		}
	}
	snprintf(a->challenge, sizeof(a->challenge), "Bearer realm=\"ctrlscope\"");
	snprintf(a->challenge_basic, sizeof(a->challenge_basic),
		 "Basic realm=\"ctrlscope\", charset=\"UTF-8\"");
	*out = a;
	return 0;
}

void auth_close(struct auth *a)
{
	if (!a)
		return;
	tokens_close(a->tokens);
	cache_free(&a->tokens_cache);
	cache_free(&a->decisions);
	OPENSSL_cleanse(a->secret, sizeof(a->secret));
	pthread_mutex_destroy(&a->lock);
	free(a);
}

const char *auth_challenge(const struct auth *a, bool basic)
{
	return basic ? a->challenge_basic : a->challenge;
}

bool auth_has_basic(const struct auth *a)
{
	return a->w->n_users > 0;
}

void auth_collect(struct auth *a, struct expo *e)
{
	struct label labels[2] = { { "result", NULL }, { "source", NULL } };
	struct label cache_label = { "cache", NULL };

	pthread_mutex_lock(&a->lock);
	expo_family(e, "ctrlscope_authentication_total", "counter",
		    "Requests authenticated, by result and by what decided (tls, token_file, "
		    "basic, apiserver, cache, none).");
	for (int r = 0; r < AR_N; r++) {
		for (int s = 0; s < AN_N; s++) {
			if (!a->authn[r][s])
				continue;
			labels[0].value = authn_results[r];
			labels[1].value = authn_sources[s];
			expo_u64(e, labels, 2, a->authn[r][s]);
		}
	}
	expo_family(e, "ctrlscope_authorization_total", "counter",
		    "Requests authorized, by result and by what decided (always_allow, static, "
		    "apiserver, cache, default).");
	for (int r = 0; r < ZR_N; r++) {
		for (int s = 0; s < ZS_N; s++) {
			if (!a->authz[r][s])
				continue;
			labels[0].value = authz_results[r];
			labels[1].value = authz_sources[s];
			expo_u64(e, labels, 2, a->authz[r][s]);
		}
	}
	expo_family(e, "ctrlscope_auth_cache_entries", "gauge",
		    "Entries in the authentication and authorization caches.");
	cache_label.value = "authentication";
	expo_u64(e, &cache_label, 1, a->tokens_cache.used);
	cache_label.value = "authorization";
	expo_u64(e, &cache_label, 1, a->decisions.used);
	pthread_mutex_unlock(&a->lock);
	if (a->tokens)
		tokens_collect(a->tokens, e);
}
