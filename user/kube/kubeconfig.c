/* kubeconfig and in-cluster configuration: see kubeconfig.h. Field names follow
 * k8s.io/client-go/tools/clientcmd/api/v1 (Config, Cluster, AuthInfo, Context). */
#include "kubeconfig.h"
#include "env.h"
#include "buf.h"
#include "httputil.h"
#include "yamlutil.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kparser {
	struct ydoc y;
	const char *dir;
};

/* The entry of a named list (clusters, users, contexts) whose name matches. */
static yaml_node_t *named(struct kparser *kp, yaml_node_t *root, const char *list,
			  const char *field, const char *name, const struct ypath *p, int *err)
{
	yaml_node_t *seq = y_lookup(&kp->y, root, list);
	size_t n;

	*err = 0;
	if (!seq || y_expect_sequence(&kp->y, seq, p, &n)) {
		*err = y_fail(&kp->y, seq ? seq : root, p, "no %s named \"%s\"", list, name);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = y_node(&kp->y, seq->data.sequence.items.start[i]), *v;

		if (item->type != YAML_MAPPING_NODE)
			continue;
		v = y_lookup(&kp->y, item, "name");
		if (!v || v->type != YAML_SCALAR_NODE || strcmp(y_scalar(v), name))
			continue;
		v = y_lookup(&kp->y, item, field);
		if (!v || v->type != YAML_MAPPING_NODE) {
			struct ypath ip = { p, NULL, i };

			*err = y_fail(&kp->y, item, &ip, "expected a mapping \"%s\"", field);
			return NULL;
		}
		return v;
	}
	*err = y_fail(&kp->y, seq, p, "no %s entry named \"%s\"", list, name);
	return NULL;
}

static int opt_string(struct kparser *kp, yaml_node_t *map, const struct ypath *p, const char *key,
		      bool is_path, char **out)
{
	struct ypath fp = { p, key, 0 };
	yaml_node_t *v = y_lookup(&kp->y, map, key);
	char *s;
	int err;

	if (!v || y_is_null(v))
		return 0;
	if ((err = y_string(&kp->y, v, &fp, 1 << 20, "string", &s)))
		return err;
	if (is_path && s[0] != '/' && kp->dir) {
		if (asprintf(out, "%s/%s", kp->dir, s) < 0) {
			free(s);
			return y_fail(&kp->y, v, &fp, "out of memory");
		}
		free(s);
		return 0;
	}
	*out = s;
	return 0;
}

static int opt_base64(struct kparser *kp, yaml_node_t *map, const struct ypath *p, const char *key,
		      char **out)
{
	struct ypath fp = { p, key, 0 };
	yaml_node_t *v = y_lookup(&kp->y, map, key);
	char *b64, *raw;
	long n;
	int err;

	if (!v || y_is_null(v))
		return 0;
	if ((err = y_string(&kp->y, v, &fp, 1 << 20, "base64 string", &b64)))
		return err;
	raw = malloc(strlen(b64) / 4 * 3 + 1);
	n = raw ? base64_decode(b64, strlen(b64), (unsigned char *)raw) : -ENOMEM;
	free(b64);
	if (n < 0 || memchr(raw, 0, (size_t)n)) {
		free(raw);
		return y_fail(&kp->y, v, &fp, "expected base64-encoded PEM data");
	}
	raw[n] = 0;
	*out = raw;
	return 0;
}

static int forbid(struct kparser *kp, yaml_node_t *map, const struct ypath *p, const char *key,
		  const char *why)
{
	yaml_node_t *v = y_lookup(&kp->y, map, key);
	struct ypath fp = { p, key, 0 };

	if (!v || y_is_null(v))
		return 0;
	/* false, "" and [] say "not used", as kubectl writes them. */
	if (v->type == YAML_SCALAR_NODE && (!strcmp(y_scalar(v), "false") || !*y_scalar(v)))
		return 0;
	if (v->type == YAML_SEQUENCE_NODE &&
	    v->data.sequence.items.top == v->data.sequence.items.start)
		return 0;
	return y_fail(&kp->y, v, &fp, "%s", why);
}

static int parse(struct kparser *kp, struct kube_conn *c)
{
	struct ypath cp = { NULL, "contexts", 0 }, clp = { NULL, "clusters", 0 },
		     up = { NULL, "users", 0 }, ccp = { NULL, "current-context", 0 };
	yaml_node_t *root = y_root(&kp->y), *cur, *ctx, *cluster, *user = NULL, *v;
	char *cluster_name = NULL, *user_name = NULL;
	int err;

	if (!root || root->type != YAML_MAPPING_NODE)
		return y_fail(&kp->y, root, NULL, "expected a kubeconfig mapping");
	cur = y_lookup(&kp->y, root, "current-context");
	if (!cur || cur->type != YAML_SCALAR_NODE || !*y_scalar(cur))
		return y_fail(&kp->y, cur ? cur : root, &ccp,
			      "expected the current context's name");
	ctx = named(kp, root, "contexts", "context", y_scalar(cur), &cp, &err);
	if (!ctx)
		return err;
	if ((err = opt_string(kp, ctx, &cp, "cluster", false, &cluster_name)) ||
	    (err = opt_string(kp, ctx, &cp, "user", false, &user_name)))
		goto out;
	if (!cluster_name) {
		err = y_fail(&kp->y, ctx, &cp, "the current context names no cluster");
		goto out;
	}
	cluster = named(kp, root, "clusters", "cluster", cluster_name, &clp, &err);
	if (!cluster)
		goto out;
	if (user_name && !(user = named(kp, root, "users", "user", user_name, &up, &err)))
		goto out;
	if ((err = opt_string(kp, cluster, &clp, "server", false, &c->server)) ||
	    (err = opt_string(kp, cluster, &clp, "certificate-authority", true, &c->ca_file)) ||
	    (err = opt_base64(kp, cluster, &clp, "certificate-authority-data", &c->ca_pem)) ||
	    (err = forbid(kp, cluster, &clp, "insecure-skip-tls-verify",
			  "ctrlscope never sends credentials to an unverified API server")))
		goto out;
	if (c->server)
		while (strlen(c->server) > 8 && c->server[strlen(c->server) - 1] == '/')
			c->server[strlen(c->server) - 1] = 0;
	if (!c->server || strncmp(c->server, "https://", 8) || !c->server[8] ||
	    c->server[8] == '/') {
		v = y_lookup(&kp->y, cluster, "server");
		err = y_fail(&kp->y, v ? v : cluster, &clp,
			     "expected an https://host server: credentials are sent to it");
		goto out;
	}
	if (c->ca_file && c->ca_pem) {
		err = y_fail(&kp->y, cluster, &clp,
			     "certificate-authority and certificate-authority-data are both set");
		goto out;
	}
	if ((err = forbid(kp, cluster, &clp, "tls-server-name",
			  "tls-server-name is not supported")) ||
	    (err = forbid(kp, cluster, &clp, "proxy-url", "proxy-url is not supported")))
		goto out;
	if (user &&
	    ((err = opt_string(kp, user, &up, "token", false, &c->token)) ||
	     (err = opt_string(kp, user, &up, "tokenFile", true, &c->token_file)) ||
	     (err = opt_string(kp, user, &up, "client-certificate", true, &c->cert_file)) ||
	     (err = opt_base64(kp, user, &up, "client-certificate-data", &c->cert_pem)) ||
	     (err = opt_string(kp, user, &up, "client-key", true, &c->key_file)) ||
	     (err = opt_base64(kp, user, &up, "client-key-data", &c->key_pem)) ||
	     (err = forbid(kp, user, &up, "exec", "exec credential plugins are not supported")) ||
	     (err = forbid(kp, user, &up, "auth-provider",
			   "auth-provider plugins are not supported")) ||
	     (err = forbid(kp, user, &up, "username", "basic authentication is not supported")) ||
	     (err = forbid(kp, user, &up, "as", "impersonation is not supported")) ||
	     (err = forbid(kp, user, &up, "as-groups", "impersonation is not supported")) ||
	     (err = forbid(kp, user, &up, "as-uid", "impersonation is not supported"))))
		goto out;
	if ((c->cert_file && c->cert_pem) || (c->key_file && c->key_pem)) {
		err = y_fail(&kp->y, user, &up,
			     "a client certificate or key is given both as a "
			     "file and as data");
		goto out;
	}
	if (!!(c->cert_file || c->cert_pem) != !!(c->key_file || c->key_pem))
		err = y_fail(&kp->y, user, &up, "expected both a client certificate and its key");
out:
	free(cluster_name);
	free(user_name);
	return err;
}

int kubeconfig_parse(const char *name, const char *dir, const char *text, size_t len,
		     struct kube_conn *out, char *err, size_t err_size)
{
	struct kparser kp = { .y = { .name = name, .err = err, .err_size = err_size }, .dir = dir };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = y_load(&kp.y, text, len);
	if (ret)
		return ret;
	ret = parse(&kp, out);
	y_free(&kp.y);
	if (ret)
		kube_conn_free(out);
	return ret;
}

int kubeconfig_load(const char *path, struct kube_conn *out, char *err, size_t err_size)
{
	char *copy = strdup(path);
	struct buf text;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!copy)
		return -ENOMEM;
	ret = y_read_file(path, "kubeconfig", &text, err, err_size);
	if (!ret)
		ret = kubeconfig_parse(path, dirname(copy), text.data ? text.data : "", text.len,
				       out, err, err_size);
	buf_free(&text);
	free(copy);
	return ret;
}

int kube_conn_in_cluster(const char *root, const struct agent_env *env, struct kube_conn *out,
			 char *err, size_t err_size)
{
	const char *host = env->service_host, *port = env->service_port;
	const char *dir = root ? root : SA_DIR;
	int n;

	memset(out, 0, sizeof(*out));
	if (!host) {
		if (env->bad_port)
			snprintf(err, err_size,
				 "KUBERNETES_SERVICE_PORT=%s is not a port, and no --kubeconfig "
				 "given",
				 env->bad_port);
		else
			snprintf(
				err, err_size,
				"not running in a cluster (KUBERNETES_SERVICE_HOST is not set) and "
				"no --kubeconfig given");
		return -ENOENT;
	}
	/* An IPv6 service address needs brackets in a URL. */
	n = asprintf(&out->server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		     port);
	if (n < 0 || asprintf(&out->token_file, "%s/token", dir) < 0 ||
	    asprintf(&out->ca_file, "%s/ca.crt", dir) < 0) {
		kube_conn_free(out);
		return -ENOMEM;
	}
	return 0;
}

void kube_conn_free(struct kube_conn *c)
{
	char **fields[] = { &c->server,	   &c->ca_file,	 &c->ca_pem,   &c->token,  &c->token_file,
			    &c->cert_file, &c->cert_pem, &c->key_file, &c->key_pem };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (*fields[i] && (fields[i] == &c->token || fields[i] == &c->key_pem))
			memset(*fields[i], 0, strlen(*fields[i])); /* secrets do not linger */
		free(*fields[i]);
		*fields[i] = NULL;
	}
}
