/* The web configuration (--web.config.file): exporter-toolkit's tls_server_config,
 * http_server_config, basic_auth_users and rate_limit, plus ctrlscope's authentication and
 * authorization sections. Parsing validates everything; nothing here serves or checks a
 * request (server.c, tls.c and auth.c do). */
#ifndef CTRLSCOPE_WEBCONFIG_H
#define CTRLSCOPE_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "yamlutil.h"

enum client_auth {
	CLIENT_AUTH_NONE,		/* NoClientCert */
	CLIENT_AUTH_REQUEST,		/* RequestClientCert: asked for, never trusted */
	CLIENT_AUTH_REQUIRE_ANY,	/* RequireAnyClientCert: required, never trusted */
	CLIENT_AUTH_VERIFY_IF_GIVEN,	/* VerifyClientCertIfGiven */
	CLIENT_AUTH_REQUIRE_AND_VERIFY, /* RequireAndVerifyClientCert */
};

struct web_tls {
	bool present;	 /* a tls_server_config section exists */
	char *cert_file; /* resolved against the web config's directory */
	char *key_file;
	char *cert_pem; /* inline "cert" instead of cert_file */
	char *key_pem;	/* inline "key" instead of key_file */
	char *client_ca_file;
	char *client_ca_pem; /* inline "client_ca" */
	enum client_auth client_auth;
	int min_version; /* 10..13 for TLS 1.0..1.3 */
	int max_version;
	struct string_list cipher_suites; /* Go names, TLS 1.2 and below */
	struct string_list curves;	  /* CurveP256, CurveP384, CurveP521, X25519 */
	struct string_list client_allowed_sans;
	bool prefer_server_cipher_suites;
};

struct web_header {
	char *name;
	char *value;
};

struct basic_user {
	char *user;
	char *hash; /* bcrypt */
};

struct static_rule {
	char *user; /* exactly one of user and group */
	char *group;
	struct string_list paths; /* exact, or a prefix ending in '*' as in RBAC */
};

struct web_config {
	char *name; /* the file, for messages */
	struct web_tls tls;
	struct web_header *headers;
	size_t n_headers;
	bool http2;
	struct basic_user *users;
	size_t n_users;
	long long rate_interval_ms; /* 0: no rate limit */
	long long rate_burst;

	bool kube_authn;
	struct string_list audiences;
	long long token_cache_ttl_ms;
	long long token_timeout_ms;
	char *static_tokens_file;
	bool client_certificates;

	bool kube_authz;
	long long allowed_ttl_ms;
	long long denied_ttl_ms;
	long long sar_timeout_ms;
	struct static_rule *rules;
	size_t n_rules;
	struct string_list always_allow_paths;
	struct string_list always_allow_groups;
	long long outage_grace_ms;
};

/* Whether any authenticator (or a required, verified client certificate) is configured. */
bool webconfig_authenticates(const struct web_config *w);
/* Whether any authorizer beyond always_allow is configured: then the default is deny. */
bool webconfig_authorizes(const struct web_config *w);

/* dir resolves relative file paths (the web config file's directory), may be NULL. */
int webconfig_parse(const char *name, const char *dir, const char *text, size_t len,
		    struct web_config *w, char *err, size_t err_size);
int webconfig_load(const char *path, struct web_config *w, char *err, size_t err_size);
void webconfig_free(struct web_config *w);

#endif
