/* How to reach the Kubernetes API server: from a kubeconfig file (--kubeconfig, its
 * current context) or from the in-cluster service account. Parsing only; kube.c talks. */
#ifndef CTRLSCOPE_KUBECONFIG_H
#define CTRLSCOPE_KUBECONFIG_H

#include <stddef.h>

struct kube_conn {
	char *server;	  /* https://host:port, no trailing slash */
	char *ca_file;	  /* certificate-authority */
	char *ca_pem;	  /* certificate-authority-data, decoded */
	char *token;	  /* a literal bearer token */
	char *token_file; /* re-read when it changes (rotated service account tokens) */
	char *cert_file;  /* client-certificate */
	char *cert_pem;	  /* client-certificate-data, decoded */
	char *key_file;	  /* client-key */
	char *key_pem;	  /* client-key-data, decoded */
};

/* dir resolves relative paths (the kubeconfig's directory). Unknown keys are ignored, as
 * kubectl writes many; what ctrlscope cannot honour (exec, auth-provider,
 * insecure-skip-tls-verify, a non-https server) is an error. */
int kubeconfig_parse(const char *name, const char *dir, const char *text, size_t len,
		     struct kube_conn *out, char *err, size_t err_size);
int kubeconfig_load(const char *path, struct kube_conn *out, char *err, size_t err_size);
/* The in-cluster service of env (env.h) and /var/run/secrets/kubernetes.io/serviceaccount;
 * root overrides that directory for tests (NULL for the real one). */
struct agent_env;
int kube_conn_in_cluster(const char *root, const struct agent_env *env, struct kube_conn *out,
			 char *err, size_t err_size);
void kube_conn_free(struct kube_conn *c);

#endif
