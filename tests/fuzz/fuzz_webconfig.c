/* libFuzzer target for the web configuration parser (webconfig_parse in
 * user/web/webconfig.c). Beyond "does not crash": the result is 0 or -EINVAL; an error is one
 * line that starts with the file name and leaves the struct empty; a parsed config keeps
 * every constraint webconfig.h documents (TLS versions in order, a certificate only with
 * its key, a CA exactly when client_auth_type verifies, bcrypt-shaped hashes, unique users
 * without ':', allowed headers without line breaks, rules with one of user and group and
 * '/' paths, durations in range, absolute paths once resolved); and written back as YAML it
 * parses to the same config. Not for webconfig_load (file I/O). */
#include "webconfig.h"
#include "check.h"
#include "yaml_quote.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME	 "web.yml"
#define DIR	 "/etc/ctrlscope"
#define ERR_SIZE 512
#define DAY_MS	 (24LL * 3600 * 1000)

static const char *const client_auth_names[] = {
	"NoClientCert",
	"RequestClientCert",
	"RequireAnyClientCert",
	"VerifyClientCertIfGiven",
	"RequireAndVerifyClientCert",
};

static const char *const headers[] = { "Content-Security-Policy", "X-Frame-Options",
				       "X-Content-Type-Options", "X-XSS-Protection",
				       "Strict-Transport-Security" };

static void check_error(int ret, const char *err, const struct web_config *w)
{
	static const struct web_config empty;

	check_one_line_error(ret, err, ERR_SIZE, NAME ":");
	CHECK(!memcmp(w, &empty, sizeof(empty)));
}

static void check_string(const char *s, bool path)
{
	CHECK(!s || *s);
	CHECK(!s || !path || s[0] == '/');
}

static void check_list(const struct string_list *l, bool required)
{
	CHECK(!l->n == !l->items);
	CHECK(!required || l->n);
	for (size_t i = 0; i < l->n; i++)
		CHECK(l->items[i] && l->items[i][0]);
}

/* What check_path in webconfig.c promises: '/' first, '*' only last. */
static void check_paths(const struct string_list *l)
{
	check_list(l, true);
	for (size_t i = 0; i < l->n; i++) {
		const char *p = l->items[i], *star = strchr(p, '*');

		CHECK(p[0] == '/');
		CHECK(!star || star[1] == 0);
	}
}

static bool in_range(long long v, long long lo, long long hi)
{
	return v >= lo && v <= hi;
}

static void check_tls(const struct web_tls *t)
{
	bool ca = t->client_ca_file || t->client_ca_pem;

	if (!t->present) {
		static const struct web_tls none;

		CHECK(!memcmp(t, &none, sizeof(none)));
		return;
	}
	CHECK(in_range(t->min_version, 10, 13) && in_range(t->max_version, 10, 13));
	CHECK(t->min_version <= t->max_version);
	check_string(t->cert_file, true);
	check_string(t->key_file, true);
	check_string(t->client_ca_file, true);
	check_string(t->cert_pem, false);
	check_string(t->key_pem, false);
	check_string(t->client_ca_pem, false);
	CHECK(!(t->cert_file && t->cert_pem) && !(t->key_file && t->key_pem) &&
	      !(t->client_ca_file && t->client_ca_pem));
	CHECK(!(t->cert_file || t->cert_pem) == !(t->key_file || t->key_pem));
	CHECK((unsigned)t->client_auth <= CLIENT_AUTH_REQUIRE_AND_VERIFY);
	if (t->client_auth == CLIENT_AUTH_VERIFY_IF_GIVEN ||
	    t->client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY)
		CHECK(ca);
	if (t->client_auth == CLIENT_AUTH_NONE)
		CHECK(!ca);
	check_list(&t->cipher_suites, false);
	check_list(&t->curves, false);
	check_list(&t->client_allowed_sans, false);
}

static void check_config(const struct web_config *w)
{
	CHECK(w->name && !strcmp(w->name, NAME));
	check_tls(&w->tls);
	CHECK(!w->n_headers == !w->headers && w->n_headers <= 5);
	for (size_t i = 0; i < w->n_headers; i++) {
		bool known = false;

		for (size_t k = 0; k < 5; k++)
			known = known || !strcmp(w->headers[i].name, headers[k]);
		CHECK(known);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(w->headers[i].name, w->headers[j].name));
		CHECK(w->headers[i].value[0] && !strpbrk(w->headers[i].value, "\r\n"));
	}
	CHECK(!w->n_users == !w->users);
	for (size_t i = 0; i < w->n_users; i++) {
		const char *u = w->users[i].user, *h = w->users[i].hash;

		CHECK(u[0] && !strchr(u, ':'));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(u, w->users[j].user));
		CHECK(strlen(h) == 60 && !strncmp(h, "$2", 2) && strchr("aby", h[2]) &&
		      h[3] == '$' && h[6] == '$');
	}
	CHECK((!w->rate_interval_ms && !w->rate_burst) ||
	      (in_range(w->rate_interval_ms, 1, DAY_MS) && in_range(w->rate_burst, 1, 1 << 20)));
	check_list(&w->audiences, false);
	CHECK(!w->audiences.n || w->kube_authn);
	CHECK(in_range(w->token_cache_ttl_ms, 0, DAY_MS));
	CHECK(in_range(w->token_timeout_ms, 1, 60000));
	check_string(w->static_tokens_file, true);
	if (w->client_certificates)
		CHECK(w->tls.client_auth == CLIENT_AUTH_VERIFY_IF_GIVEN ||
		      w->tls.client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY);
	CHECK(in_range(w->allowed_ttl_ms, 0, DAY_MS));
	CHECK(in_range(w->denied_ttl_ms, 0, DAY_MS));
	CHECK(in_range(w->sar_timeout_ms, 1, 60000));
	CHECK(!w->n_rules || w->rules);
	for (size_t i = 0; i < w->n_rules; i++) {
		const struct static_rule *r = &w->rules[i];

		CHECK(!r->user != !r->group);
		check_string(r->user, false);
		check_string(r->group, false);
		check_paths(&r->paths);
	}
	check_paths(&w->always_allow_paths);
	check_list(&w->always_allow_groups, false);
	CHECK(in_range(w->outage_grace_ms, 0, 7 * DAY_MS));
	/* The predicates, from their definitions in webconfig.h. */
	CHECK(webconfig_authorizes(w) == (w->kube_authz || w->n_rules));
	CHECK(webconfig_authenticates(w) ==
	      (w->kube_authn || w->static_tokens_file || w->n_users || w->client_certificates ||
	       w->tls.client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY));
}

/* --- writing back ------------------------------------------------------------------- */

static void put_key_string(FILE *f, const char *indent, const char *key, const char *v)
{
	if (!v)
		return;
	fprintf(f, "%s%s: ", indent, key);
	yq_put(f, v);
	fputc('\n', f);
}

static void put_list(FILE *f, const char *indent, const char *key, const struct string_list *l)
{
	if (!l->n)
		return;
	fprintf(f, "%s%s:\n", indent, key);
	for (size_t i = 0; i < l->n; i++) {
		fprintf(f, "%s  - ", indent);
		yq_put(f, l->items[i]);
		fputc('\n', f);
	}
}

static void put_tls(FILE *f, const struct web_tls *t)
{
	if (!t->present)
		return;
	fputs("tls_server_config:\n", f);
	put_key_string(f, "  ", "cert_file", t->cert_file);
	put_key_string(f, "  ", "key_file", t->key_file);
	put_key_string(f, "  ", "cert", t->cert_pem);
	put_key_string(f, "  ", "key", t->key_pem);
	put_key_string(f, "  ", "client_ca_file", t->client_ca_file);
	put_key_string(f, "  ", "client_ca", t->client_ca_pem);
	fprintf(f, "  client_auth_type: %s\n", client_auth_names[t->client_auth]);
	fprintf(f, "  min_version: TLS%d\n  max_version: TLS%d\n", t->min_version, t->max_version);
	put_list(f, "  ", "cipher_suites", &t->cipher_suites);
	put_list(f, "  ", "curve_preferences", &t->curves);
	put_list(f, "  ", "client_allowed_sans", &t->client_allowed_sans);
	fprintf(f, "  prefer_server_cipher_suites: %s\n",
		t->prefer_server_cipher_suites ? "true" : "false");
}

static char *write_config(const struct web_config *w, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	CHECK(f);
	put_tls(f, &w->tls);
	fprintf(f, "http_server_config:\n  http2: %s\n", w->http2 ? "true" : "false");
	if (w->n_headers) {
		fputs("  headers:\n", f);
		for (size_t i = 0; i < w->n_headers; i++)
			put_key_string(f, "    ", w->headers[i].name, w->headers[i].value);
	}
	if (w->n_users) {
		fputs("basic_auth_users:\n", f);
		for (size_t i = 0; i < w->n_users; i++) {
			fputs("  ", f);
			yq_put(f, w->users[i].user);
			fputs(": ", f);
			yq_put(f, w->users[i].hash);
			fputc('\n', f);
		}
	}
	if (w->rate_interval_ms)
		fprintf(f, "rate_limit:\n  interval: %lldms\n  burst: %lld\n", w->rate_interval_ms,
			w->rate_burst);
	fprintf(f, "authentication:\n  client_certificates: %s\n",
		w->client_certificates ? "true" : "false");
	put_key_string(f, "  ", "static_tokens_file", w->static_tokens_file);
	if (w->kube_authn) {
		fprintf(f, "  kubernetes:\n    cache_ttl: %lldms\n    timeout: %lldms\n",
			w->token_cache_ttl_ms, w->token_timeout_ms);
		put_list(f, "    ", "audiences", &w->audiences);
	}
	fprintf(f, "authorization:\n  outage_grace: %lldms\n", w->outage_grace_ms);
	if (w->kube_authz)
		fprintf(f,
			"  kubernetes:\n    allowed_ttl: %lldms\n    denied_ttl: %lldms\n"
			"    timeout: %lldms\n",
			w->allowed_ttl_ms, w->denied_ttl_ms, w->sar_timeout_ms);
	put_list(f, "  ", "always_allow_paths", &w->always_allow_paths);
	put_list(f, "  ", "always_allow_groups", &w->always_allow_groups);
	if (w->n_rules) {
		fputs("  static:\n", f);
		for (size_t i = 0; i < w->n_rules; i++) {
			fputs("    - ", f);
			if (w->rules[i].user)
				put_key_string(f, "", "user", w->rules[i].user);
			else
				put_key_string(f, "", "group", w->rules[i].group);
			put_list(f, "      ", "paths", &w->rules[i].paths);
		}
	}
	CHECK(!fclose(f));
	return text;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_list(const struct string_list *a, const struct string_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

static bool same_tls(const struct web_tls *a, const struct web_tls *b)
{
	return a->present == b->present && same_string(a->cert_file, b->cert_file) &&
	       same_string(a->key_file, b->key_file) && same_string(a->cert_pem, b->cert_pem) &&
	       same_string(a->key_pem, b->key_pem) &&
	       same_string(a->client_ca_file, b->client_ca_file) &&
	       same_string(a->client_ca_pem, b->client_ca_pem) &&
	       a->client_auth == b->client_auth && a->min_version == b->min_version &&
	       a->max_version == b->max_version &&
	       same_list(&a->cipher_suites, &b->cipher_suites) &&
	       same_list(&a->curves, &b->curves) &&
	       same_list(&a->client_allowed_sans, &b->client_allowed_sans) &&
	       a->prefer_server_cipher_suites == b->prefer_server_cipher_suites;
}

static bool same_config(const struct web_config *a, const struct web_config *b)
{
	if (!same_tls(&a->tls, &b->tls) || a->n_headers != b->n_headers || a->http2 != b->http2 ||
	    a->n_users != b->n_users || a->rate_interval_ms != b->rate_interval_ms ||
	    a->rate_burst != b->rate_burst || a->kube_authn != b->kube_authn ||
	    !same_list(&a->audiences, &b->audiences) ||
	    a->token_cache_ttl_ms != b->token_cache_ttl_ms ||
	    a->token_timeout_ms != b->token_timeout_ms ||
	    !same_string(a->static_tokens_file, b->static_tokens_file) ||
	    a->client_certificates != b->client_certificates || a->kube_authz != b->kube_authz ||
	    a->allowed_ttl_ms != b->allowed_ttl_ms || a->denied_ttl_ms != b->denied_ttl_ms ||
	    a->sar_timeout_ms != b->sar_timeout_ms || a->n_rules != b->n_rules ||
	    !same_list(&a->always_allow_paths, &b->always_allow_paths) ||
	    !same_list(&a->always_allow_groups, &b->always_allow_groups) ||
	    a->outage_grace_ms != b->outage_grace_ms)
		return false;
	for (size_t i = 0; i < a->n_headers; i++) {
		if (strcmp(a->headers[i].name, b->headers[i].name) ||
		    strcmp(a->headers[i].value, b->headers[i].value))
			return false;
	}
	for (size_t i = 0; i < a->n_users; i++) {
		if (strcmp(a->users[i].user, b->users[i].user) ||
		    strcmp(a->users[i].hash, b->users[i].hash))
			return false;
	}
	for (size_t i = 0; i < a->n_rules; i++) {
		if (!same_string(a->rules[i].user, b->rules[i].user) ||
		    !same_string(a->rules[i].group, b->rules[i].group) ||
		    !same_list(&a->rules[i].paths, &b->rules[i].paths))
			return false;
	}
	return true;
}

static void check_round_trip(const struct web_config *w)
{
	struct web_config again;
	char err[ERR_SIZE];
	size_t len;
	char *text = write_config(w, &len);
	int ret = webconfig_parse(NAME, DIR, text, len, &again, err, sizeof(err));

	if (ret)
		note("error", err, strlen(err));
	if (ret || !same_config(w, &again))
		note(ret ? "written back, fails to parse" : "written back, parses differently",
		     text, len);
	CHECK(!ret);
	CHECK(same_config(w, &again));
	webconfig_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct web_config empty;
	struct web_config w;
	char err[ERR_SIZE];
	int ret;

	memset(&w, 0xa5, sizeof(w));
	memset(err, 0xa5, sizeof(err));
	ret = webconfig_parse(NAME, DIR, (const char *)data, size, &w, err, sizeof(err));
	if (ret) {
		check_error(ret, err, &w);
		return 0;
	}
	check_config(&w);
	check_round_trip(&w);
	webconfig_free(&w);
	CHECK(!memcmp(&w, &empty, sizeof(w)));
	return 0;
}
