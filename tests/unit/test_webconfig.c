/* Unit tests for the web configuration parser (user/web/webconfig.h): every key of a valid file
 * lands in struct web_config (relative paths resolved against the file's directory), the
 * defaults apply, each kind of mistake yields exactly one line "NAME:LINE:COL: PATH: MESSAGE"
 * and leaves the struct empty, and the authenticates/authorizes predicates. Not for serving
 * (server.c) or deciding (auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webconfig.h"

#define NAME "w.yml"
#define DIR  "/etc/ctrlscope"

/* A well-formed bcrypt hash (60 characters), and one of the other variants. */
#define HASH_A "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
#define HASH_Y "$2y$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

#define MINUTE_MS (60 * 1000LL)
#define HOUR_MS	  (60 * MINUTE_MS)
#define DAY_MS	  (24 * HOUR_MS)

static void assert_zeroed(const struct web_config *w)
{
	struct web_config zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(w, &zero, sizeof(zero));
}

static struct web_config parse_ok(const char *yaml)
{
	struct web_config w;
	char err[512] = "";
	int ret;

	memset(&w, 0x5a, sizeof(w));
	ret = webconfig_parse(NAME, DIR, yaml, strlen(yaml), &w, err, sizeof(err));
	assert_string_equal(err, ""); /* shows the message if the parse failed */
	assert_int_equal(ret, 0);
	return w;
}

static void check_error(const char *yaml, const char *want)
{
	struct web_config w;
	char err[512];

	/* Garbage in w and err: a failed parse must leave w empty and err exact. */
	memset(&w, 0x5a, sizeof(w));
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
	assert_int_equal(webconfig_parse(NAME, DIR, yaml, strlen(yaml), &w, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_zeroed(&w);
	webconfig_free(&w); /* harmless on an emptied config */
	assert_zeroed(&w);
}

static void assert_list(const struct string_list *l, size_t n, const char *const *want)
{
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->items[i], want[i]);
}

#define ASSERT_LIST(l, ...)                                                                        \
	do {                                                                                       \
		static const char *const want_[] = { __VA_ARGS__ };                                \
		assert_list((l), sizeof(want_) / sizeof(want_[0]), want_);                         \
	} while (0)

/* The defaults of everything outside tls_server_config. */
static void assert_defaults(const struct web_config *w)
{
	assert_int_equal(w->token_cache_ttl_ms, 120000);
	assert_int_equal(w->token_timeout_ms, 5000);
	assert_int_equal(w->allowed_ttl_ms, 300000);
	assert_int_equal(w->denied_ttl_ms, 30000);
	assert_int_equal(w->sar_timeout_ms, 5000);
	assert_int_equal(w->outage_grace_ms, 600000);
	ASSERT_LIST(&w->always_allow_paths, "/healthz", "/readyz");
	assert_int_equal(w->always_allow_groups.n, 0);
	assert_null(w->always_allow_groups.items);
	assert_false(w->kube_authn);
	assert_false(w->kube_authz);
	assert_int_equal(w->audiences.n, 0);
	assert_null(w->static_tokens_file);
	assert_false(w->client_certificates);
	assert_int_equal(w->n_rules, 0);
	assert_int_equal(w->n_users, 0);
	assert_int_equal(w->n_headers, 0);
	assert_int_equal(w->rate_interval_ms, 0);
	assert_int_equal(w->rate_burst, 0);
	assert_false(w->http2);
}

static void assert_no_tls(const struct web_tls *t)
{
	struct web_tls zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(t, &zero, sizeof(zero));
}

static void test_empty_documents(void **state)
{
	static const char *const empty[] = { "", "\n", "# nothing configured\n",
					     "tls_server_config:\nauthentication: ~\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct web_config w = parse_ok(empty[i]);

		assert_string_equal(w.name, NAME);
		assert_defaults(&w);
		/* A null section is no section: no TLS. */
		assert_no_tls(&w.tls);
		assert_false(webconfig_authenticates(&w));
		assert_false(webconfig_authorizes(&w));
		webconfig_free(&w);
		assert_zeroed(&w);
	}
}

/* A document that is only "---", or a null root, is as empty as no document at all (as
 * for exporter-toolkit, whose yaml.UnmarshalStrict leaves the config at its defaults). */
static void test_null_document(void **state)
{
	static const char *const empty[] = { "---\n", "~\n", "null\n", "--- # web config\n" };

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		struct web_config w = parse_ok(empty[i]);

		assert_defaults(&w);
		assert_no_tls(&w.tls);
		webconfig_free(&w);
	}
}

static const char full_files[] =
	"tls_server_config:\n"
	"  cert_file: tls/server.crt\n"
	"  key_file: /secrets/server.key\n"
	"  client_auth_type: RequireAndVerifyClientCert\n"
	"  client_ca_file: ca.crt\n"
	"  client_allowed_sans: [prometheus.monitoring.svc, \"spiffe://cluster/ns/mon\"]\n"
	"  min_version: TLS11\n"
	"  max_version: TLS12\n"
	"  cipher_suites:\n"
	"    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
	"    - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305\n"
	"  curve_preferences: [X25519, CurveP256]\n"
	"  prefer_server_cipher_suites: false\n"
	"http_server_config:\n"
	"  http2: true\n"
	"  headers:\n"
	"    Content-Security-Policy: \"default-src 'none'\"\n"
	"    X-Frame-Options: deny\n"
	"    X-Content-Type-Options: nosniff\n"
	"    X-XSS-Protection: \"1; mode=block\"\n"
	"    Strict-Transport-Security: max-age=31536000\n"
	"basic_auth_users:\n"
	"  alice: " HASH_A "\n"
	"  bob: '" HASH_Y "'\n"
	"rate_limit:\n"
	"  interval: 1m30s\n"
	"  burst: 20\n"
	"authentication:\n"
	"  kubernetes:\n"
	"    audiences: [ctrlscope, https://kubernetes.default.svc]\n"
	"    cache_ttl: 90s\n"
	"    timeout: 2s500ms\n"
	"  static_tokens_file: ../tokens.csv\n"
	"  client_certificates: true\n"
	"authorization:\n"
	"  kubernetes:\n"
	"    allowed_ttl: 10m\n"
	"    denied_ttl: 0s\n"
	"    timeout: 1m\n"
	"  static:\n"
	"    - user: system:serviceaccount:monitoring:prometheus\n"
	"      paths: [/metrics]\n"
	"    - group: sre\n"
	"      paths: [\"/debug/*\", /metrics, /]\n"
	"  always_allow_paths: [/healthz]\n"
	"  always_allow_groups: [system:monitoring, admins]\n"
	"  outage_grace: 1h\n";

static void test_full_config_files(void **state)
{
	struct web_config w = parse_ok(full_files);
	const struct web_tls *t = &w.tls;

	(void)state;
	assert_string_equal(w.name, NAME);
	assert_true(t->present);
	assert_string_equal(t->cert_file, DIR "/tls/server.crt");
	assert_string_equal(t->key_file, "/secrets/server.key");
	assert_null(t->cert_pem);
	assert_null(t->key_pem);
	assert_string_equal(t->client_ca_file, DIR "/ca.crt");
	assert_null(t->client_ca_pem);
	assert_int_equal(t->client_auth, CLIENT_AUTH_REQUIRE_AND_VERIFY);
	assert_int_equal(t->min_version, 11);
	assert_int_equal(t->max_version, 12);
	ASSERT_LIST(&t->cipher_suites, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305");
	ASSERT_LIST(&t->curves, "X25519", "CurveP256");
	ASSERT_LIST(&t->client_allowed_sans, "prometheus.monitoring.svc",
		    "spiffe://cluster/ns/mon");
	assert_false(t->prefer_server_cipher_suites);

	assert_true(w.http2);
	assert_int_equal(w.n_headers, 5);
	assert_string_equal(w.headers[0].name, "Content-Security-Policy");
	assert_string_equal(w.headers[0].value, "default-src 'none'");
	assert_string_equal(w.headers[1].name, "X-Frame-Options");
	assert_string_equal(w.headers[1].value, "deny");
	assert_string_equal(w.headers[2].name, "X-Content-Type-Options");
	assert_string_equal(w.headers[2].value, "nosniff");
	assert_string_equal(w.headers[3].name, "X-XSS-Protection");
	assert_string_equal(w.headers[3].value, "1; mode=block");
	assert_string_equal(w.headers[4].name, "Strict-Transport-Security");
	assert_string_equal(w.headers[4].value, "max-age=31536000");

	assert_int_equal(w.n_users, 2);
	assert_string_equal(w.users[0].user, "alice");
	assert_string_equal(w.users[0].hash, HASH_A);
	assert_string_equal(w.users[1].user, "bob");
	assert_string_equal(w.users[1].hash, HASH_Y);

	assert_int_equal(w.rate_interval_ms, 90000);
	assert_int_equal(w.rate_burst, 20);

	assert_true(w.kube_authn);
	ASSERT_LIST(&w.audiences, "ctrlscope", "https://kubernetes.default.svc");
	assert_int_equal(w.token_cache_ttl_ms, 90000);
	assert_int_equal(w.token_timeout_ms, 2500);
	/* Relative, so joined to the directory as written (not normalised). */
	assert_string_equal(w.static_tokens_file, DIR "/../tokens.csv");
	assert_true(w.client_certificates);

	assert_true(w.kube_authz);
	assert_int_equal(w.allowed_ttl_ms, 10 * MINUTE_MS);
	assert_int_equal(w.denied_ttl_ms, 0);
	assert_int_equal(w.sar_timeout_ms, 60000);
	assert_int_equal(w.n_rules, 2);
	assert_string_equal(w.rules[0].user, "system:serviceaccount:monitoring:prometheus");
	assert_null(w.rules[0].group);
	ASSERT_LIST(&w.rules[0].paths, "/metrics");
	assert_null(w.rules[1].user);
	assert_string_equal(w.rules[1].group, "sre");
	ASSERT_LIST(&w.rules[1].paths, "/debug/*", "/metrics", "/");
	/* Replaces the default list rather than adding to it. */
	ASSERT_LIST(&w.always_allow_paths, "/healthz");
	ASSERT_LIST(&w.always_allow_groups, "system:monitoring", "admins");
	assert_int_equal(w.outage_grace_ms, HOUR_MS);

	assert_true(webconfig_authenticates(&w));
	assert_true(webconfig_authorizes(&w));
	webconfig_free(&w);
	assert_zeroed(&w);
}

static void test_full_config_inline(void **state)
{
	static const char yaml[] = "tls_server_config:\n"
				   "  cert: |\n"
				   "    -----BEGIN CERTIFICATE-----\n"
				   "    MIIB\n"
				   "    -----END CERTIFICATE-----\n"
				   "  key: \"-----BEGIN PRIVATE KEY-----\\nMC4C\\n\"\n"
				   "  client_ca: CA PEM\n"
				   "  client_auth_type: VerifyClientCertIfGiven\n";
	struct web_config w = parse_ok(yaml);
	const struct web_tls *t = &w.tls;

	(void)state;
	assert_true(t->present);
	assert_null(t->cert_file);
	assert_null(t->key_file);
	assert_null(t->client_ca_file);
	assert_string_equal(t->cert_pem,
			    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
	assert_string_equal(t->key_pem, "-----BEGIN PRIVATE KEY-----\nMC4C\n");
	assert_string_equal(t->client_ca_pem, "CA PEM");
	assert_int_equal(t->client_auth, CLIENT_AUTH_VERIFY_IF_GIVEN);
	/* TLS defaults: 1.2 to 1.3, the server's cipher order. */
	assert_int_equal(t->min_version, 12);
	assert_int_equal(t->max_version, 13);
	assert_true(t->prefer_server_cipher_suites);
	assert_int_equal(t->cipher_suites.n, 0);
	assert_int_equal(t->curves.n, 0);
	assert_int_equal(t->client_allowed_sans.n, 0);
	assert_defaults(&w);
	/* A verified certificate if given is not required: it authenticates no one alone. */
	assert_false(webconfig_authenticates(&w));
	webconfig_free(&w);
}

static void test_tls_defaults(void **state)
{
	struct web_config w;

	(void)state;
	w = parse_ok("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n");
	assert_true(w.tls.present);
	assert_string_equal(w.tls.cert_file, DIR "/a.crt");
	assert_string_equal(w.tls.key_file, DIR "/a.key");
	assert_int_equal(w.tls.client_auth, CLIENT_AUTH_NONE);
	assert_int_equal(w.tls.min_version, 12);
	assert_int_equal(w.tls.max_version, 13);
	assert_true(w.tls.prefer_server_cipher_suites);
	assert_defaults(&w);
	webconfig_free(&w);

	/* An empty section is present: TLS with a self-signed certificate. */
	w = parse_ok("tls_server_config: {}\n");
	assert_true(w.tls.present);
	assert_null(w.tls.cert_file);
	assert_int_equal(w.tls.min_version, 12);
	assert_int_equal(w.tls.max_version, 13);
	webconfig_free(&w);

	/* A CA alone implies VerifyClientCertIfGiven, as in exporter-toolkit. */
	w = parse_ok("tls_server_config:\n  client_ca_file: /ca.pem\n  min_version: TLS13\n");
	assert_int_equal(w.tls.client_auth, CLIENT_AUTH_VERIFY_IF_GIVEN);
	assert_string_equal(w.tls.client_ca_file, "/ca.pem");
	assert_int_equal(w.tls.min_version, 13);
	assert_int_equal(w.tls.max_version, 13);
	webconfig_free(&w);

	w = parse_ok("tls_server_config:\n  client_auth_type: RequireAnyClientCert\n"
		     "  max_version: TLS12\n  min_version: TLS10\n");
	assert_int_equal(w.tls.client_auth, CLIENT_AUTH_REQUIRE_ANY);
	assert_int_equal(w.tls.min_version, 10);
	assert_int_equal(w.tls.max_version, 12);
	webconfig_free(&w);

	w = parse_ok("tls_server_config:\n  client_auth_type: RequestClientCert\n");
	assert_int_equal(w.tls.client_auth, CLIENT_AUTH_REQUEST);
	webconfig_free(&w);
}

static void test_no_dir(void **state)
{
	struct web_config w;
	char err[256] = "";
	static const char yaml[] = "authentication:\n  static_tokens_file: tokens.csv\n";

	(void)state;
	/* Without a directory, relative paths stay as written. */
	assert_int_equal(webconfig_parse(NAME, NULL, yaml, strlen(yaml), &w, err, sizeof(err)), 0);
	assert_string_equal(w.static_tokens_file, "tokens.csv");
	webconfig_free(&w);
}

static void test_null_kubernetes_sections(void **state)
{
	struct web_config w;

	(void)state;
	/* "kubernetes:" with nothing under it turns the API server on with the defaults. */
	w = parse_ok("authentication:\n  kubernetes:\nauthorization:\n  kubernetes: ~\n");
	assert_true(w.kube_authn);
	assert_true(w.kube_authz);
	assert_int_equal(w.token_cache_ttl_ms, 120000);
	assert_int_equal(w.token_timeout_ms, 5000);
	assert_int_equal(w.allowed_ttl_ms, 300000);
	assert_int_equal(w.denied_ttl_ms, 30000);
	assert_int_equal(w.sar_timeout_ms, 5000);
	assert_int_equal(w.audiences.n, 0);
	assert_true(webconfig_authenticates(&w));
	assert_true(webconfig_authorizes(&w));
	webconfig_free(&w);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	check_error("foo: 1\n", NAME
		    ":1:1: unknown key \"foo\" (expected tls_server_config, http_server_config, "
		    "basic_auth_users, rate_limit, authentication or authorization)");
	check_error("tls_server_config:\n  cert_file: a\n  certfile: b\n",
		    NAME ":3:3: tls_server_config: unknown key \"certfile\" (expected a "
			 "tls_server_config key)");
	check_error("http_server_config:\n  http3: true\n",
		    NAME ":2:3: http_server_config: unknown key \"http3\" (expected headers or "
			 "http2)");
	check_error("http_server_config:\n  headers:\n    X-Powered-By: ctrlscope\n",
		    NAME ":3:5: http_server_config.headers: unknown key \"X-Powered-By\" (expected "
			 "Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, "
			 "X-XSS-Protection or Strict-Transport-Security)");
	check_error("rate_limit:\n  interval: 1s\n  burst: 1\n  jitter: 1s\n",
		    NAME ":4:3: rate_limit: unknown key \"jitter\" (expected interval or burst)");
	check_error("authentication:\n  oidc: {}\n",
		    NAME ":2:3: authentication: unknown key \"oidc\" (expected kubernetes, "
			 "static_tokens_file or client_certificates)");
	check_error("authentication:\n  kubernetes:\n    ttl: 1m\n",
		    NAME ":3:5: authentication.kubernetes: unknown key \"ttl\" (expected "
			 "audiences, cache_ttl or timeout)");
	check_error("authorization:\n  rbac: {}\n",
		    NAME ":2:3: authorization: unknown key \"rbac\" (expected kubernetes, static, "
			 "always_allow_paths, always_allow_groups or outage_grace)");
	check_error("authorization:\n  kubernetes:\n    cache_ttl: 1m\n",
		    NAME ":3:5: authorization.kubernetes: unknown key \"cache_ttl\" (expected "
			 "allowed_ttl, denied_ttl or timeout)");
	check_error("authorization:\n  static:\n    - user: a\n      verbs: [get]\n",
		    NAME ":4:7: authorization.static[0]: unknown key \"verbs\" (expected user, "
			 "group or paths)");
	check_error("rate_limit:\n  burst: 1\n  burst: 2\n",
		    NAME ":3:3: rate_limit: duplicate key \"burst\"");
	check_error("- a\n", NAME ":1:1: expected a mapping at the top level, got a sequence");
}

static void test_client_auth_errors(void **state)
{
	(void)state;
	check_error("tls_server_config:\n  client_auth_type: Maybe\n",
		    NAME ":2:21: tls_server_config.client_auth_type: expected one of "
			 "NoClientCert, RequestClientCert, RequireAnyClientCert, "
			 "VerifyClientCertIfGiven, RequireAndVerifyClientCert, got \"Maybe\"");
	check_error("tls_server_config:\n  client_auth_type: [NoClientCert]\n",
		    NAME ":2:21: tls_server_config.client_auth_type: expected one of "
			 "NoClientCert, RequestClientCert, RequireAnyClientCert, "
			 "VerifyClientCertIfGiven, RequireAndVerifyClientCert, got a sequence");
	check_error("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
		    NAME ":2:3: tls_server_config: client_auth_type RequireAndVerifyClientCert "
			 "needs client_ca_file");
	check_error("tls_server_config:\n  client_auth_type: VerifyClientCertIfGiven\n",
		    NAME ":2:3: tls_server_config: client_auth_type VerifyClientCertIfGiven needs "
			 "client_ca_file");
	check_error("tls_server_config:\n  client_auth_type: NoClientCert\n"
		    "  client_ca_file: /ca.crt\n",
		    NAME ":2:3: tls_server_config: client_ca_file is set but client_auth_type is "
			 "NoClientCert");
	check_error("tls_server_config:\n  client_auth_type: NoClientCert\n  client_ca: PEM\n",
		    NAME ":2:3: tls_server_config: client_ca_file is set but client_auth_type is "
			 "NoClientCert");
}

static void test_tls_errors(void **state)
{
	(void)state;
	check_error("tls_server_config:\n  cert_file: a.crt\n",
		    NAME ":2:3: tls_server_config: expected both a certificate and its key, or "
			 "neither");
	check_error("tls_server_config:\n  key: PEM\n",
		    NAME ":2:3: tls_server_config: expected both a certificate and its key, or "
			 "neither");
	check_error("tls_server_config:\n  cert_file: a.crt\n  cert: PEM\n  key_file: a.key\n",
		    NAME ":2:3: tls_server_config: a certificate, key or CA is given both inline "
			 "and as a file");
	check_error("tls_server_config:\n  client_ca_file: a\n  client_ca: PEM\n",
		    NAME ":2:3: tls_server_config: a certificate, key or CA is given both inline "
			 "and as a file");
	check_error("tls_server_config:\n  min_version: TLS13\n  max_version: TLS12\n",
		    NAME ":2:3: tls_server_config: min_version is above max_version");
	/* Against the default minimum, TLS 1.2. */
	check_error("tls_server_config:\n  max_version: TLS11\n",
		    NAME ":2:3: tls_server_config: min_version is above max_version");
	check_error("tls_server_config:\n  min_version: TLS14\n",
		    NAME ":2:16: tls_server_config.min_version: expected one of TLS10, TLS11, "
			 "TLS12, TLS13, got \"TLS14\"");
	check_error("tls_server_config:\n  cert_file: \"\"\n",
		    NAME ":2:14: tls_server_config.cert_file: expected file path, got an empty "
			 "string");
	check_error("tls_server_config:\n  prefer_server_cipher_suites: yes\n",
		    NAME ":2:32: tls_server_config.prefer_server_cipher_suites: expected true or "
			 "false, got \"yes\"");
	check_error("tls_server_config:\n  cipher_suites: []\n",
		    NAME ":2:18: tls_server_config.cipher_suites: expected a non-empty sequence of "
			 "cipher suite names");
}

static void test_user_errors(void **state)
{
	(void)state;
	check_error("basic_auth_users:\n  alice: secret\n",
		    NAME ":2:10: basic_auth_users.alice: expected a bcrypt hash ($2y$10$... , 60 "
			 "characters)");
	/* 60 characters, but $2x$ is no bcrypt variant. */
	check_error("basic_auth_users:\n  alice: $2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad6"
		    "8LJZdL17lhWy\n",
		    NAME ":2:10: basic_auth_users.alice: expected a bcrypt hash ($2y$10$... , 60 "
			 "characters)");
	/* One character short. */
	check_error("basic_auth_users:\n  alice: $2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad6"
		    "8LJZdL17lhW\n",
		    NAME ":2:10: basic_auth_users.alice: expected a bcrypt hash ($2y$10$... , 60 "
			 "characters)");
	check_error("basic_auth_users:\n  alice: " HASH_A "\n  alice: " HASH_Y "\n",
		    NAME ":3:3: basic_auth_users: duplicate user \"alice\"");
	check_error("basic_auth_users:\n  \"a:b\": " HASH_A "\n",
		    NAME ":2:3: basic_auth_users: expected user names without ':'");
	check_error("basic_auth_users:\n  \"\": " HASH_A "\n",
		    NAME ":2:3: basic_auth_users: expected user names without ':'");
	check_error("basic_auth_users:\n  alice:\n",
		    NAME ":2:9: basic_auth_users.alice: expected bcrypt hash, got null");
}

static void test_rate_limit_errors(void **state)
{
	(void)state;
	check_error("rate_limit:\n  interval: 1s\n",
		    NAME ":2:3: rate_limit: expected both interval and burst");
	check_error("rate_limit:\n  burst: 5\n",
		    NAME ":2:3: rate_limit: expected both interval and burst");
	check_error("rate_limit:\n  interval: 5\n  burst: 1\n", NAME
		    ":2:13: rate_limit.interval: expected a duration such as 30s, 5m or 1h30m, "
		    "got \"5\"");
	check_error("rate_limit:\n  interval: 1x\n  burst: 1\n", NAME
		    ":2:13: rate_limit.interval: expected a duration such as 30s, 5m or 1h30m, "
		    "got \"1x\"");
	check_error("rate_limit:\n  interval: 1m5h\n  burst: 1\n", NAME
		    ":2:13: rate_limit.interval: expected a duration such as 30s, 5m or 1h30m, "
		    "got \"1m5h\"");
	/* Quoted durations are strings, not durations. */
	check_error("rate_limit:\n  interval: \"5s\"\n  burst: 1\n", NAME
		    ":2:13: rate_limit.interval: expected a duration such as 30s, 5m or 1h30m, "
		    "got \"5s\"");
	check_error("rate_limit:\n  interval: 0s\n  burst: 1\n",
		    NAME ":2:13: rate_limit.interval: expected a duration from 1ms to 86400000ms, "
			 "got 0s");
	check_error("rate_limit:\n  interval: 1s\n  burst: 0\n",
		    NAME ":3:10: rate_limit.burst: expected an integer from 1 to 1048576, got 0");
	check_error("authentication:\n  kubernetes:\n    timeout: 61s\n",
		    NAME ":3:14: authentication.kubernetes.timeout: expected a duration from 1ms "
			 "to 60000ms, got 61s");
	check_error("authorization:\n  outage_grace: 8d\n",
		    NAME ":2:17: authorization.outage_grace: expected a duration from 0ms to "
			 "604800000ms, got 8d");
}

static void test_rule_errors(void **state)
{
	(void)state;
	check_error("authorization:\n  static:\n    - user: a\n      group: g\n"
		    "      paths: [/metrics]\n",
		    NAME ":3:7: authorization.static[0]: expected exactly one of user and group");
	check_error("authorization:\n  static:\n    - paths: [/metrics]\n",
		    NAME ":3:7: authorization.static[0]: expected exactly one of user and group");
	check_error("authorization:\n  static:\n    - user: a\n      paths: [/a]\n"
		    "    - group: g\n",
		    NAME ":5:7: authorization.static[1]: missing key \"paths\"");
	check_error("authorization:\n  static:\n    - user: a\n      paths: [metrics]\n",
		    NAME ":4:15: authorization.static[0].paths[0]: expected a URL path starting "
			 "with '/', got \"metrics\"");
	check_error("authorization:\n  static:\n    - user: a\n      paths: [/a, /debug/*/x]\n",
		    NAME ":4:19: authorization.static[0].paths[1]: '*' may only end a path (a "
			 "prefix), as in RBAC");
	check_error("authorization:\n  static:\n    - user: a\n      paths: [\"*\"]\n",
		    NAME ":4:15: authorization.static[0].paths[0]: expected a URL path starting "
			 "with '/', got \"*\"");
	check_error("authorization:\n  always_allow_paths: [/**]\n",
		    NAME ":2:24: authorization.always_allow_paths[0]: '*' may only end a path (a "
			 "prefix), as in RBAC");
	check_error("authorization:\n  static: {user: a}\n",
		    NAME ":2:11: authorization.static: expected a sequence, got a mapping");
}

static void test_client_certificates_errors(void **state)
{
	struct web_config w;

	(void)state;
	check_error("authentication:\n  client_certificates: true\n",
		    NAME ":2:24: authentication.client_certificates: client certificates need "
			 "tls_server_config.client_ca_file and client_auth_type "
			 "VerifyClientCertIfGiven or RequireAndVerifyClientCert");
	/* Certificates asked for but never verified do not count. */
	check_error("tls_server_config:\n  client_auth_type: RequireAnyClientCert\n"
		    "authentication:\n  client_certificates: true\n",
		    NAME ":4:24: authentication.client_certificates: client certificates need "
			 "tls_server_config.client_ca_file and client_auth_type "
			 "VerifyClientCertIfGiven or RequireAndVerifyClientCert");
	/* false is always fine; a verifying CA makes true fine. */
	w = parse_ok("authentication:\n  client_certificates: false\n");
	assert_false(w.client_certificates);
	assert_false(webconfig_authenticates(&w));
	webconfig_free(&w);
	w = parse_ok("tls_server_config:\n  client_ca_file: /ca\n"
		     "authentication:\n  client_certificates: true\n");
	assert_true(w.client_certificates);
	assert_int_equal(w.tls.client_auth, CLIENT_AUTH_VERIFY_IF_GIVEN);
	assert_true(webconfig_authenticates(&w));
	webconfig_free(&w);
}

static void test_header_errors(void **state)
{
	(void)state;
	check_error("http_server_config:\n  headers:\n    X-Frame-Options: \"DENY\\nX-Evil: 1\"\n",
		    NAME
		    ":3:22: http_server_config.headers.X-Frame-Options: a header value may not "
		    "contain a line break");
	check_error("http_server_config:\n  headers:\n    X-Frame-Options: \"DENY\\r\"\n", NAME
		    ":3:22: http_server_config.headers.X-Frame-Options: a header value may not "
		    "contain a line break");
	/* Header names are case-sensitive keys, as in exporter-toolkit. */
	check_error("http_server_config:\n  headers:\n    x-frame-options: DENY\n",
		    NAME ":3:5: http_server_config.headers: unknown key \"x-frame-options\" "
			 "(expected Content-Security-Policy, X-Frame-Options, "
			 "X-Content-Type-Options, X-XSS-Protection or Strict-Transport-Security)");
}

static void test_yaml_errors(void **state)
{
	(void)state;
	check_error("a: [\n", NAME ":2:1: invalid YAML: did not find expected node content while "
				   "parsing a flow node");
	check_error("rate_limit: {}\n---\nrate_limit: {}\n",
		    NAME ":3:1: expected one YAML document, found another");
}

/* Each predicate, one field at a time. */
static void test_predicates(void **state)
{
	struct web_config w;
	struct basic_user user = { "u", HASH_A };
	struct static_rule rule = { "u", NULL, { NULL, 0 } };
	char file[] = "/t";
	char *groups[] = { "g" };

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_false(webconfig_authenticates(&w));
	assert_false(webconfig_authorizes(&w));

	w.kube_authn = true;
	assert_true(webconfig_authenticates(&w));
	assert_false(webconfig_authorizes(&w));
	w.kube_authn = false;

	w.static_tokens_file = file;
	assert_true(webconfig_authenticates(&w));
	w.static_tokens_file = NULL;

	w.users = &user;
	w.n_users = 1;
	assert_true(webconfig_authenticates(&w));
	w.users = NULL;
	w.n_users = 0;

	w.client_certificates = true;
	assert_true(webconfig_authenticates(&w));
	w.client_certificates = false;

	/* A required, verified certificate authenticates; other client_auth types do not. */
	for (int ca = CLIENT_AUTH_NONE; ca <= CLIENT_AUTH_REQUIRE_AND_VERIFY; ca++) {
		w.tls.client_auth = (enum client_auth)ca;
		assert_int_equal(webconfig_authenticates(&w), ca == CLIENT_AUTH_REQUIRE_AND_VERIFY);
		assert_false(webconfig_authorizes(&w));
	}
	w.tls.client_auth = CLIENT_AUTH_NONE;

	w.kube_authz = true;
	assert_true(webconfig_authorizes(&w));
	assert_false(webconfig_authenticates(&w));
	w.kube_authz = false;

	w.rules = &rule;
	w.n_rules = 1;
	assert_true(webconfig_authorizes(&w));
	w.rules = NULL;
	w.n_rules = 0;

	/* always_allow lists open paths and groups: they are no authorizer. */
	w.always_allow_groups.items = groups;
	w.always_allow_groups.n = 1;
	w.rate_interval_ms = 1000;
	w.rate_burst = 1;
	w.tls.present = true;
	assert_false(webconfig_authorizes(&w));
	assert_false(webconfig_authenticates(&w));
}

/* webconfig_load: directory of the file, and a missing file. */
static void test_load(void **state)
{
	char dir[] = "/tmp/test_webconfig.XXXXXX", path[256], want[512], err[512] = "";
	struct web_config w;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/web.yml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("authentication:\n  static_tokens_file: tokens.csv\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(webconfig_load(path, &w, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/tokens.csv", dir);
	assert_string_equal(w.static_tokens_file, want);
	assert_string_equal(w.name, path);
	webconfig_free(&w);

	unlink(path);
	assert_int_equal(webconfig_load(path, &w, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s: cannot open the web configuration file: No such file or directory", path);
	assert_string_equal(err, want);
	assert_zeroed(&w);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_null_document),
		cmocka_unit_test(test_full_config_files),
		cmocka_unit_test(test_full_config_inline),
		cmocka_unit_test(test_tls_defaults),
		cmocka_unit_test(test_no_dir),
		cmocka_unit_test(test_null_kubernetes_sections),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_client_auth_errors),
		cmocka_unit_test(test_tls_errors),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_rate_limit_errors),
		cmocka_unit_test(test_rule_errors),
		cmocka_unit_test(test_client_certificates_errors),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
