/* Web configuration parser: see webconfig.h. Keys and meanings of exporter-toolkit's web
 * config (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)
 * are kept, so a node_exporter web config works here as written. */
#include "webconfig.h"
#include "buf.h"
#include "vec.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

struct wparser {
	struct ydoc y;
	const char *dir;
	struct web_config *w;
};

static const char *const tls_versions[] = { "TLS10", "TLS11", "TLS12", "TLS13", NULL };

static const char *const client_auth_names[] = {
	[CLIENT_AUTH_NONE] = "NoClientCert",
	[CLIENT_AUTH_REQUEST] = "RequestClientCert",
	[CLIENT_AUTH_REQUIRE_ANY] = "RequireAnyClientCert",
	[CLIENT_AUTH_VERIFY_IF_GIVEN] = "VerifyClientCertIfGiven",
	[CLIENT_AUTH_REQUIRE_AND_VERIFY] = "RequireAndVerifyClientCert",
};

/* Only these headers may be set, as in exporter-toolkit. */
static const char *const allowed_headers[] = { "Content-Security-Policy",   "X-Frame-Options",
					       "X-Content-Type-Options",    "X-XSS-Protection",
					       "Strict-Transport-Security", NULL };

static int path_string(struct wparser *wp, const yaml_node_t *node, const struct ypath *p,
		       char **out)
{
	char *v;
	int err = y_string(&wp->y, node, p, 4095, "file path", &v);

	if (err)
		return err;
	if (v[0] == '/' || !wp->dir) {
		*out = v;
		return 0;
	}
	/* Relative paths are relative to the web config file, as in exporter-toolkit. */
	if (asprintf(out, "%s/%s", wp->dir, v) < 0) {
		free(v);
		return y_fail(&wp->y, node, p, "out of memory");
	}
	free(v);
	return 0;
}

static int one_of(struct wparser *wp, const yaml_node_t *node, const struct ypath *p,
		  const char *const *names, size_t n, int *out)
{
	struct buf known;
	int err;

	if (node->type == YAML_SCALAR_NODE) {
		for (size_t i = 0; i < n; i++) {
			if (names[i] && !strcmp(names[i], y_scalar(node))) {
				*out = (int)i;
				return 0;
			}
		}
	}
	buf_init(&known);
	for (size_t i = 0; i < n; i++)
		buf_printf(&known, "%s%s", i ? ", " : "", names[i]);
	err = y_fail(&wp->y, node, p, "expected one of %s, got %s%s%s",
		     buf_cstr(&known) ? known.data : "", node->type == YAML_SCALAR_NODE ? "\"" : "",
		     node->type == YAML_SCALAR_NODE ? y_scalar(node) : y_kind(node),
		     node->type == YAML_SCALAR_NODE ? "\"" : "");
	buf_free(&known);
	return err;
}

static int parse_tls(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "cert_file",
					    "key_file",
					    "cert",
					    "key",
					    "client_auth_type",
					    "client_ca_file",
					    "client_ca",
					    "client_allowed_sans",
					    "min_version",
					    "max_version",
					    "cipher_suites",
					    "curve_preferences",
					    "prefer_server_cipher_suites",
					    NULL };
	struct web_tls *t = &wp->w->tls;
	const struct {
		const char *key;
		char **out;
		bool path;
	} strings[] = {
		{ "cert_file", &t->cert_file, true },
		{ "key_file", &t->key_file, true },
		{ "cert", &t->cert_pem, false },
		{ "key", &t->key_pem, false },
		{ "client_ca_file", &t->client_ca_file, true },
		{ "client_ca", &t->client_ca_pem, false },
	};
	yaml_node_t *v;
	int err, version;

	if ((err = y_expect_mapping(&wp->y, node, p)) ||
	    (err = y_check_keys(&wp->y, node, p, keys, "a tls_server_config key")))
		return err;
	t->present = true;
	t->min_version = 12;
	t->max_version = 13;
	t->prefer_server_cipher_suites = true;
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		struct ypath kp = { p, strings[i].key, 0 };

		if (!(v = y_lookup(&wp->y, node, strings[i].key)))
			continue;
		err = strings[i].path
			      ? path_string(wp, v, &kp, strings[i].out)
			      : y_string(&wp->y, v, &kp, 1 << 20, "PEM text", strings[i].out);
		if (err)
			return err;
	}
	if ((t->cert_file && t->cert_pem) || (t->key_file && t->key_pem) ||
	    (t->client_ca_file && t->client_ca_pem))
		return y_fail(&wp->y, node, p,
			      "a certificate, key or CA is given both inline and as a file");
	if (!!(t->cert_file || t->cert_pem) != !!(t->key_file || t->key_pem))
		return y_fail(&wp->y, node, p,
			      "expected both a certificate and its key, or neither");
	if ((v = y_lookup(&wp->y, node, "client_auth_type"))) {
		struct ypath kp = { p, "client_auth_type", 0 };
		int ca;

		if ((err = one_of(wp, v, &kp, client_auth_names, 5, &ca)))
			return err;
		t->client_auth = (enum client_auth)ca;
	} else if (t->client_ca_file || t->client_ca_pem) {
		t->client_auth = CLIENT_AUTH_VERIFY_IF_GIVEN;
	}
	if ((t->client_auth == CLIENT_AUTH_VERIFY_IF_GIVEN ||
	     t->client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY) &&
	    !t->client_ca_file && !t->client_ca_pem)
		return y_fail(&wp->y, node, p, "client_auth_type %s needs client_ca_file",
			      client_auth_names[t->client_auth]);
	if (t->client_auth == CLIENT_AUTH_NONE && (t->client_ca_file || t->client_ca_pem))
		return y_fail(&wp->y, node, p,
			      "client_ca_file is set but client_auth_type is NoClientCert");
	for (int which = 0; which < 2; which++) {
		const char *key = which ? "max_version" : "min_version";
		struct ypath kp = { p, key, 0 };

		if (!(v = y_lookup(&wp->y, node, key)))
			continue;
		if ((err = one_of(wp, v, &kp, tls_versions, 4, &version)))
			return err;
		*(which ? &t->max_version : &t->min_version) = 10 + version;
	}
	if (t->min_version > t->max_version)
		return y_fail(&wp->y, node, p, "min_version is above max_version");
	if ((v = y_lookup(&wp->y, node, "cipher_suites"))) {
		struct ypath kp = { p, "cipher_suites", 0 };

		if ((err = y_string_list(&wp->y, v, &kp, 128, "cipher suite name", NULL,
					 &t->cipher_suites)))
			return err;
	}
	if ((v = y_lookup(&wp->y, node, "curve_preferences"))) {
		struct ypath kp = { p, "curve_preferences", 0 };

		if ((err = y_string_list(&wp->y, v, &kp, 32, "curve name", NULL, &t->curves)))
			return err;
	}
	if ((v = y_lookup(&wp->y, node, "client_allowed_sans"))) {
		struct ypath kp = { p, "client_allowed_sans", 0 };

		if ((err = y_string_list(&wp->y, v, &kp, 1024, "subject alternative name", NULL,
					 &t->client_allowed_sans)))
			return err;
	}
	if ((v = y_lookup(&wp->y, node, "prefer_server_cipher_suites"))) {
		struct ypath kp = { p, "prefer_server_cipher_suites", 0 };

		if ((err = y_bool(&wp->y, v, &kp, &t->prefer_server_cipher_suites)))
			return err;
	}
	return 0;
}

static int parse_http(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "headers", "http2", NULL };
	struct ypath hp = { p, "headers", 0 }, h2 = { p, "http2", 0 };
	struct web_config *w = wp->w;
	yaml_node_t *v;
	int err;

	if ((err = y_expect_mapping(&wp->y, node, p)) ||
	    (err = y_check_keys(&wp->y, node, p, keys, "headers or http2")))
		return err;
	if ((v = y_lookup(&wp->y, node, "http2")) && (err = y_bool(&wp->y, v, &h2, &w->http2)))
		return err;
	if (!(v = y_lookup(&wp->y, node, "headers")))
		return 0;
	if ((err = y_expect_mapping(&wp->y, v, &hp)) ||
	    (err = y_check_keys(&wp->y, v, &hp, allowed_headers,
				"Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, "
				"X-XSS-Protection or Strict-Transport-Security")))
		return err;
	for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = y_node(&wp->y, a->key), *val = y_node(&wp->y, a->value);
		struct ypath kp = { &hp, y_scalar(key), 0 };
		struct web_header *h = ARRAY_PUSH(w->headers, w->n_headers);

		if (!h)
			return y_fail(&wp->y, key, &kp, "out of memory");
		if ((err = y_string(&wp->y, val, &kp, 4096, "header value",
				    &w->headers[w->n_headers].value)))
			return err;
		w->headers[w->n_headers].name = strdup(y_scalar(key));
		w->n_headers++;
		if (strpbrk(w->headers[w->n_headers - 1].value, "\r\n"))
			return y_fail(&wp->y, val, &kp,
				      "a header value may not contain a line break");
	}
	return 0;
}

static int parse_users(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	struct web_config *w = wp->w;
	int err;

	if ((err = y_expect_mapping(&wp->y, node, p)))
		return err;
	for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = y_node(&wp->y, a->key), *val = y_node(&wp->y, a->value);
		struct ypath kp = { p, NULL, 0 };
		char *hash;

		if (!key || key->type != YAML_SCALAR_NODE || !*y_scalar(key) ||
		    strchr(y_scalar(key), ':'))
			return y_fail(&wp->y, key, p, "expected user names without ':'");
		kp.key = y_scalar(key);
		for (size_t i = 0; i < w->n_users; i++) {
			if (!strcmp(w->users[i].user, kp.key))
				return y_fail(&wp->y, key, p, "duplicate user \"%s\"", kp.key);
		}
		if ((err = y_string(&wp->y, val, &kp, 128, "bcrypt hash", &hash)))
			return err;
		/* $2a$, $2b$ or $2y$, a cost of 04 to 31, then 53 characters of salt and hash. */
		if (strlen(hash) != 60 || hash[0] != '$' || hash[1] != '2' || !hash[2] ||
		    !strchr("aby", hash[2]) || hash[3] != '$' || hash[4] < '0' || hash[4] > '3' ||
		    hash[5] < '0' || hash[5] > '9' || (hash[4] == '0' && hash[5] < '4') ||
		    (hash[4] == '3' && hash[5] > '1') || hash[6] != '$') {
			free(hash);
			return y_fail(&wp->y, val, &kp,
				      "expected a bcrypt hash ($2y$10$... , 60 characters)");
		}
		if (!ARRAY_PUSH(w->users, w->n_users)) {
			free(hash);
			return y_fail(&wp->y, val, &kp, "out of memory");
		}
		w->users[w->n_users].user = strdup(kp.key);
		w->users[w->n_users].hash = hash;
		w->n_users++;
	}
	return 0;
}

static int parse_rate_limit(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "interval", "burst", NULL };
	struct ypath ip = { p, "interval", 0 }, bp = { p, "burst", 0 };
	yaml_node_t *iv, *bv;
	int err;

	if ((err = y_expect_mapping(&wp->y, node, p)) ||
	    (err = y_check_keys(&wp->y, node, p, keys, "interval or burst")))
		return err;
	iv = y_lookup(&wp->y, node, "interval");
	bv = y_lookup(&wp->y, node, "burst");
	if (!iv || !bv)
		return y_fail(&wp->y, node, p, "expected both interval and burst");
	if ((err = y_duration(&wp->y, iv, &ip, 1, DAY_MS, &wp->w->rate_interval_ms)) ||
	    (err = y_int(&wp->y, bv, &bp, 1, 1 << 20, &wp->w->rate_burst)))
		return err;
	return 0;
}

static int parse_authentication(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "kubernetes", "static_tokens_file",
					    "client_certificates", NULL };
	static const char *const kkeys[] = { "audiences", "cache_ttl", "timeout", NULL };
	struct ypath kp = { p, "kubernetes", 0 }, tp = { p, "static_tokens_file", 0 },
		     cp = { p, "client_certificates", 0 };
	struct web_config *w = wp->w;
	yaml_node_t *v, *k;
	int err;

	if ((err = y_expect_mapping(&wp->y, node, p)) ||
	    (err = y_check_keys(&wp->y, node, p, keys,
				"kubernetes, static_tokens_file or client_certificates")))
		return err;
	if ((v = y_lookup(&wp->y, node, "kubernetes"))) {
		w->kube_authn = true;
		if (!y_is_null(v)) {
			struct ypath ap = { &kp, "audiences", 0 }, cp2 = { &kp, "cache_ttl", 0 },
				     to = { &kp, "timeout", 0 };

			if ((err = y_expect_mapping(&wp->y, v, &kp)) ||
			    (err = y_check_keys(&wp->y, v, &kp, kkeys,
						"audiences, cache_ttl or timeout")))
				return err;
			if ((k = y_lookup(&wp->y, v, "audiences")) &&
			    (err = y_string_list(&wp->y, k, &ap, 1024, "audience", NULL,
						 &w->audiences)))
				return err;
			if ((k = y_lookup(&wp->y, v, "cache_ttl")) &&
			    (err = y_duration(&wp->y, k, &cp2, 0, DAY_MS, &w->token_cache_ttl_ms)))
				return err;
			if ((k = y_lookup(&wp->y, v, "timeout")) &&
			    (err = y_duration(&wp->y, k, &to, 1, 60000, &w->token_timeout_ms)))
				return err;
		}
	}
	if ((v = y_lookup(&wp->y, node, "static_tokens_file")) &&
	    (err = path_string(wp, v, &tp, &w->static_tokens_file)))
		return err;
	if ((v = y_lookup(&wp->y, node, "client_certificates")) &&
	    (err = y_bool(&wp->y, v, &cp, &w->client_certificates)))
		return err;
	if (w->client_certificates && w->tls.client_auth != CLIENT_AUTH_VERIFY_IF_GIVEN &&
	    w->tls.client_auth != CLIENT_AUTH_REQUIRE_AND_VERIFY)
		return y_fail(&wp->y, v, &cp,
			      "client certificates need tls_server_config.client_ca_file and "
			      "client_auth_type VerifyClientCertIfGiven or "
			      "RequireAndVerifyClientCert");
	return 0;
}

static int check_path(struct ydoc *y, const yaml_node_t *node, const struct ypath *p,
		      const char *value)
{
	if (value[0] != '/')
		return y_fail(y, node, p, "expected a URL path starting with '/', got \"%s\"",
			      value);
	if (strchr(value, '*') && strchr(value, '*') != value + strlen(value) - 1)
		return y_fail(y, node, p, "'*' may only end a path (a prefix), as in RBAC");
	return 0;
}

static int parse_rules(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "user", "group", "paths", NULL };
	struct web_config *w = wp->w;
	size_t n;
	int err;

	if ((err = y_expect_sequence(&wp->y, node, p, &n)))
		return err;
	w->rules = calloc(n ? n : 1, sizeof(*w->rules));
	if (!w->rules)
		return y_fail(&wp->y, node, p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = y_node(&wp->y, node->data.sequence.items.start[i]), *v;
		struct ypath ip = { p, NULL, i }, up = { &ip, "user", 0 }, gp = { &ip, "group", 0 },
			     pp = { &ip, "paths", 0 };
		struct static_rule *r = &w->rules[i];

		w->n_rules++;
		if ((err = y_expect_mapping(&wp->y, item, &ip)) ||
		    (err = y_check_keys(&wp->y, item, &ip, keys, "user, group or paths")))
			return err;
		if ((v = y_lookup(&wp->y, item, "user")) &&
		    (err = y_string(&wp->y, v, &up, 256, "user name", &r->user)))
			return err;
		if ((v = y_lookup(&wp->y, item, "group")) &&
		    (err = y_string(&wp->y, v, &gp, 256, "group name", &r->group)))
			return err;
		if (!r->user == !r->group)
			return y_fail(&wp->y, item, &ip, "expected exactly one of user and group");
		if (!(v = y_lookup(&wp->y, item, "paths")))
			return y_fail(&wp->y, item, &ip, "missing key \"paths\"");
		if ((err = y_string_list(&wp->y, v, &pp, 1024, "URL path", check_path, &r->paths)))
			return err;
	}
	return 0;
}

static int parse_authorization(struct wparser *wp, const yaml_node_t *node, const struct ypath *p)
{
	static const char *const keys[] = { "kubernetes",	  "static",
					    "always_allow_paths", "always_allow_groups",
					    "outage_grace",	  NULL };
	static const char *const kkeys[] = { "allowed_ttl", "denied_ttl", "timeout", NULL };
	struct ypath kp = { p, "kubernetes", 0 }, sp = { p, "static", 0 },
		     ap = { p, "always_allow_paths", 0 }, gp = { p, "always_allow_groups", 0 },
		     op = { p, "outage_grace", 0 };
	struct web_config *w = wp->w;
	yaml_node_t *v, *k;
	int err;

	if ((err = y_expect_mapping(&wp->y, node, p)) ||
	    (err = y_check_keys(&wp->y, node, p, keys,
				"kubernetes, static, always_allow_paths, always_allow_groups or "
				"outage_grace")))
		return err;
	if ((v = y_lookup(&wp->y, node, "kubernetes"))) {
		w->kube_authz = true;
		if (!y_is_null(v)) {
			struct ypath a = { &kp, "allowed_ttl", 0 }, d = { &kp, "denied_ttl", 0 },
				     t = { &kp, "timeout", 0 };

			if ((err = y_expect_mapping(&wp->y, v, &kp)) ||
			    (err = y_check_keys(&wp->y, v, &kp, kkeys,
						"allowed_ttl, denied_ttl or timeout")))
				return err;
			if ((k = y_lookup(&wp->y, v, "allowed_ttl")) &&
			    (err = y_duration(&wp->y, k, &a, 0, DAY_MS, &w->allowed_ttl_ms)))
				return err;
			if ((k = y_lookup(&wp->y, v, "denied_ttl")) &&
			    (err = y_duration(&wp->y, k, &d, 0, DAY_MS, &w->denied_ttl_ms)))
				return err;
			if ((k = y_lookup(&wp->y, v, "timeout")) &&
			    (err = y_duration(&wp->y, k, &t, 1, 60000, &w->sar_timeout_ms)))
				return err;
		}
	}
	if ((v = y_lookup(&wp->y, node, "static")) && (err = parse_rules(wp, v, &sp)))
		return err;
	if ((v = y_lookup(&wp->y, node, "always_allow_paths"))) {
		string_list_free(&w->always_allow_paths);
		if ((err = y_string_list(&wp->y, v, &ap, 1024, "URL path", check_path,
					 &w->always_allow_paths)))
			return err;
	}
	if ((v = y_lookup(&wp->y, node, "always_allow_groups")) &&
	    (err = y_string_list(&wp->y, v, &gp, 256, "group name", NULL, &w->always_allow_groups)))
		return err;
	if ((v = y_lookup(&wp->y, node, "outage_grace")) &&
	    (err = y_duration(&wp->y, v, &op, 0, 7 * DAY_MS, &w->outage_grace_ms)))
		return err;
	return 0;
}

static int set_defaults(struct web_config *w)
{
	static const char *const open_paths[] = { "/healthz", "/readyz" };

	/* cache_ttl 2m and the SAR TTLs are kube-rbac-proxy's; 5 s timeouts keep a hung API
	 * server well inside Prometheus's default 10 s scrape timeout. */
	w->token_cache_ttl_ms = 2 * 60 * 1000;
	w->token_timeout_ms = 5000;
	w->allowed_ttl_ms = 5 * 60 * 1000;
	w->denied_ttl_ms = 30 * 1000;
	w->sar_timeout_ms = 5000;
	w->outage_grace_ms = 10 * 60 * 1000;
	w->always_allow_paths.items = calloc(2, sizeof(char *));
	if (!w->always_allow_paths.items)
		return -ENOMEM;
	for (size_t i = 0; i < 2; i++) {
		w->always_allow_paths.items[i] = strdup(open_paths[i]);
		if (!w->always_allow_paths.items[i])
			return -ENOMEM;
		w->always_allow_paths.n++;
	}
	return 0;
}

static int parse_root(struct wparser *wp)
{
	static const char *const keys[] = { "tls_server_config",
					    "http_server_config",
					    "basic_auth_users",
					    "rate_limit",
					    "authentication",
					    "authorization",
					    NULL };
	const struct {
		const char *key;
		int (*fn)(struct wparser *, const yaml_node_t *, const struct ypath *);
	} sections[] = {
		/* tls first: authentication checks the client certificate settings. */
		{ "tls_server_config", parse_tls },
		{ "http_server_config", parse_http },
		{ "basic_auth_users", parse_users },
		{ "rate_limit", parse_rate_limit },
		{ "authentication", parse_authentication },
		{ "authorization", parse_authorization },
	};
	yaml_node_t *root = y_root(&wp->y);
	int err;

	if (set_defaults(wp->w))
		return y_fail(&wp->y, NULL, NULL, "out of memory");
	if (!root || y_is_null(root))
		return 0; /* an empty web config means: defaults */
	if (root->type != YAML_MAPPING_NODE)
		return y_fail(&wp->y, root, NULL, "expected a mapping at the top level, got %s",
			      y_kind(root));
	if ((err = y_check_keys(&wp->y, root, NULL, keys,
				"tls_server_config, http_server_config, basic_auth_users, "
				"rate_limit, authentication or authorization")))
		return err;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct ypath sp = { NULL, sections[i].key, 0 };
		yaml_node_t *v = y_lookup(&wp->y, root, sections[i].key);

		if (v && !y_is_null(v) && (err = sections[i].fn(wp, v, &sp)))
			return err;
	}
	return 0;
}

bool webconfig_authenticates(const struct web_config *w)
{
	return w->kube_authn || w->static_tokens_file || w->n_users || w->client_certificates ||
	       w->tls.client_auth == CLIENT_AUTH_REQUIRE_AND_VERIFY;
}

bool webconfig_authorizes(const struct web_config *w)
{
	return w->kube_authz || w->n_rules;
}

int webconfig_parse(const char *name, const char *dir, const char *text, size_t len,
		    struct web_config *w, char *err, size_t err_size)
{
	struct wparser wp = { .y = { .name = name, .err = err, .err_size = err_size },
			      .dir = dir,
			      .w = w };
	int ret;

	memset(w, 0, sizeof(*w));
	w->name = strdup(name);
	if (!w->name)
		return -ENOMEM;
	ret = y_load(&wp.y, text, len);
	if (ret) {
		webconfig_free(w);
		return ret;
	}
	ret = parse_root(&wp);
	y_free(&wp.y);
	if (ret)
		webconfig_free(w);
	return ret;
}

int webconfig_load(const char *path, struct web_config *w, char *err, size_t err_size)
{
	char *copy = strdup(path);
	struct buf text;
	int ret;

	memset(w, 0, sizeof(*w));
	if (!copy)
		return -ENOMEM;
	ret = y_read_file(path, "web configuration file", &text, err, err_size);
	if (!ret)
		ret = webconfig_parse(path, dirname(copy), text.data ? text.data : "", text.len, w,
				      err, err_size);
	buf_free(&text);
	free(copy);
	return ret;
}

void webconfig_free(struct web_config *w)
{
	char **strings[] = { &w->name,
			     &w->tls.cert_file,
			     &w->tls.key_file,
			     &w->tls.cert_pem,
			     &w->tls.key_pem,
			     &w->tls.client_ca_file,
			     &w->tls.client_ca_pem,
			     &w->static_tokens_file };

	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		free(*strings[i]);
	string_list_free(&w->tls.cipher_suites);
	string_list_free(&w->tls.curves);
	string_list_free(&w->tls.client_allowed_sans);
	for (size_t i = 0; i < w->n_headers; i++) {
		free(w->headers[i].name);
		free(w->headers[i].value);
	}
	free(w->headers);
	for (size_t i = 0; i < w->n_users; i++) {
		free(w->users[i].user);
		free(w->users[i].hash);
	}
	free(w->users);
	string_list_free(&w->audiences);
	for (size_t i = 0; i < w->n_rules; i++) {
		free(w->rules[i].user);
		free(w->rules[i].group);
		string_list_free(&w->rules[i].paths);
	}
	free(w->rules);
	string_list_free(&w->always_allow_paths);
	string_list_free(&w->always_allow_groups);
	memset(w, 0, sizeof(*w));
}
