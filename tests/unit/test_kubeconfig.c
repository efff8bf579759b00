/* Unit tests for the kubeconfig parser and the in-cluster configuration
 * (user/kube/kubeconfig.h): a kubectl-written kubeconfig yields exactly the connection of its
 * current context (paths resolved against the file's directory, base64 data decoded,
 * unknown keys ignored); what ctrlscope cannot honour is one exact error line. Not for
 * talking to the API server (kube.c). */
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

#include "env.h"
#include "kubeconfig.h"

#define NAME "k.yml"
#define DIR  "/home/u/.kube"

#define CA_PEM	   "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CA_B64	   "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define CLIENT_PEM "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n"
#define CLIENT_B64                                                                                 \
	"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVAotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg=="

static void assert_empty(const struct kube_conn *c)
{
	struct kube_conn zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(c, &zero, sizeof(zero));
}

static struct kube_conn parse_ok(const char *yaml)
{
	struct kube_conn c;
	char err[512] = "";
	int ret;

	memset(&c, 0x5a, sizeof(c));
	ret = kubeconfig_parse(NAME, DIR, yaml, strlen(yaml), &c, err, sizeof(err));
	assert_string_equal(err, "");
	assert_int_equal(ret, 0);
	return c;
}

static void check_error(const char *yaml, const char *want)
{
	struct kube_conn c;
	char err[512];

	memset(&c, 0x5a, sizeof(c));
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
	assert_int_equal(kubeconfig_parse(NAME, DIR, yaml, strlen(yaml), &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_empty(&c);
}

/* As kubectl writes it, with two contexts, extensions and preferences. */
static const char kubectl_config[] = "apiVersion: v1\n"
				     "kind: Config\n"
				     "preferences:\n"
				     "  colors: true\n"
				     "current-context: prod\n"
				     "contexts:\n"
				     "- context:\n"
				     "    cluster: dev-cluster\n"
				     "    user: dev-user\n"
				     "  name: dev\n"
				     "- name: prod\n"
				     "  context:\n"
				     "    cluster: prod-cluster\n"
				     "    namespace: monitoring\n"
				     "    user: prod-user\n"
				     "    extensions:\n"
				     "    - name: ctx-ext\n"
				     "      extension: {last-update: today}\n"
				     "clusters:\n"
				     "- name: dev-cluster\n"
				     "  cluster:\n"
				     "    server: http://127.0.0.1:8080\n"
				     "    insecure-skip-tls-verify: true\n"
				     "- name: prod-cluster\n"
				     "  cluster:\n"
				     "    server: https://10.0.0.1:6443/\n"
				     "    certificate-authority: pki/ca.crt\n"
				     "    extensions:\n"
				     "    - name: client.authentication.k8s.io/exec\n"
				     "      extension: {audience: x}\n"
				     "users:\n"
				     "- name: dev-user\n"
				     "  user:\n"
				     "    exec:\n"
				     "      apiVersion: client.authentication.k8s.io/v1\n"
				     "      command: aws\n"
				     "- name: prod-user\n"
				     "  user:\n"
				     "    token: abc.def-ghi\n"
				     "    tokenFile: token\n"
				     "    client-certificate: certs/client.crt\n"
				     "    client-key: /etc/keys/client.key\n";

static void test_kubectl_config(void **state)
{
	struct kube_conn c = parse_ok(kubectl_config);

	(void)state;
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_string_equal(c.ca_file, DIR "/pki/ca.crt");
	assert_null(c.ca_pem);
	assert_string_equal(c.token, "abc.def-ghi");
	assert_string_equal(c.token_file, DIR "/token");
	assert_string_equal(c.cert_file, DIR "/certs/client.crt");
	assert_null(c.cert_pem);
	assert_string_equal(c.key_file, "/etc/keys/client.key");
	assert_null(c.key_pem);
	kube_conn_free(&c);
	assert_empty(&c);
}

static void test_inline_data(void **state)
{
	static const char yaml[] = "current-context: c\n"
				   "contexts:\n"
				   "- name: c\n"
				   "  context: {cluster: k, user: u}\n"
				   "clusters:\n"
				   "- name: k\n"
				   "  cluster:\n"
				   "    server: https://[fd00::1]:443\n"
				   "    certificate-authority-data: " CA_B64 "\n"
				   "users:\n"
				   "- name: u\n"
				   "  user:\n"
				   "    client-certificate-data: " CLIENT_B64 "\n"
				   "    client-key-data: " KEY_B64 "\n"
				   "    insecure-skip-tls-verify: false\n";
	struct kube_conn c = parse_ok(yaml);

	(void)state;
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_null(c.ca_file);
	assert_string_equal(c.ca_pem, CA_PEM);
	assert_null(c.token);
	assert_null(c.token_file);
	assert_null(c.cert_file);
	assert_string_equal(c.cert_pem, CLIENT_PEM);
	assert_null(c.key_file);
	assert_string_equal(c.key_pem, KEY_PEM);
	kube_conn_free(&c);
}

static void test_no_user(void **state)
{
	/* A context without a user: server and CA only (the system trust store if no CA). */
	static const char yaml[] = "current-context: c\n"
				   "contexts: [{name: c, context: {cluster: k}}]\n"
				   "clusters: [{name: k, cluster: {server: https://api}}]\n"
				   "users: ~\n";
	struct kube_conn c = parse_ok(yaml), want;

	(void)state;
	memset(&want, 0, sizeof(want));
	assert_string_equal(c.server, "https://api");
	free(c.server);
	c.server = NULL;
	assert_memory_equal(&c, &want, sizeof(c));
}

static void test_no_dir(void **state)
{
	static const char yaml[] = "current-context: c\n"
				   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				   "clusters: [{name: k, cluster: {server: https://api, "
				   "certificate-authority: ca.crt}}]\n"
				   "users: [{name: u, user: {tokenFile: t}}]\n";
	struct kube_conn c;
	char err[256] = "";

	(void)state;
	assert_int_equal(kubeconfig_parse(NAME, NULL, yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_string_equal(c.ca_file, "ca.crt");
	assert_string_equal(c.token_file, "t");
	kube_conn_free(&c);
}

static void test_context_errors(void **state)
{
	(void)state;
	check_error("apiVersion: v1\nkind: Config\n",
		    NAME ":1:1: current-context: expected the current context's name");
	check_error("current-context: \"\"\n",
		    NAME ":1:18: current-context: expected the current context's name");
	check_error("current-context: [a]\n",
		    NAME ":1:18: current-context: expected the current context's name");
	check_error("current-context: prod\n", NAME ":1:1: contexts: no contexts named \"prod\"");
	check_error("current-context: prod\n"
		    "contexts:\n"
		    "- name: dev\n"
		    "  context: {cluster: c}\n",
		    NAME ":3:1: contexts: no contexts entry named \"prod\"");
	check_error("current-context: prod\n"
		    "contexts:\n"
		    "- name: prod\n"
		    "  context: c\n",
		    NAME ":3:3: contexts[0]: expected a mapping \"context\"");
	check_error("current-context: prod\n"
		    "contexts:\n"
		    "- name: prod\n"
		    "  context: {user: u}\n",
		    NAME ":4:12: contexts: the current context names no cluster");
	check_error("- a\n", NAME ":1:1: expected a kubeconfig mapping");
	check_error("", NAME ": expected a kubeconfig mapping");
}

/* Lines 1-6 name cluster c and user u (1-5: cluster c only); what follows defines them. */
#define CONTEXT_NO_USER                                                                            \
	"current-context: prod\n"                                                                  \
	"contexts:\n"                                                                              \
	"- name: prod\n"                                                                           \
	"  context:\n"                                                                             \
	"    cluster: c\n"
#define CONTEXT                                                                                    \
	"current-context: prod\n"                                                                  \
	"contexts:\n"                                                                              \
	"- name: prod\n"                                                                           \
	"  context:\n"                                                                             \
	"    cluster: c\n"                                                                         \
	"    user: u\n"
#define CLUSTER_OK                                                                                 \
	"clusters:\n"                                                                              \
	"- name: c\n"                                                                              \
	"  cluster:\n"                                                                             \
	"    server: https://api:6443\n"

static void test_cluster_errors(void **state)
{
	(void)state;
	check_error(CONTEXT_NO_USER "clusters:\n"
				    "- name: other\n"
				    "  cluster: {server: https://x}\n",
		    NAME ":7:1: clusters: no clusters entry named \"c\"");
	check_error(CONTEXT_NO_USER "clusters:\n"
				    "- name: c\n"
				    "  cluster:\n"
				    "    server: http://10.0.0.1:8080\n",
		    NAME
		    ":9:13: clusters: expected an https://host server: credentials are sent to it");
	check_error(CONTEXT_NO_USER "clusters:\n"
				    "- name: c\n"
				    "  cluster:\n"
				    "    certificate-authority: /ca\n",
		    NAME
		    ":9:5: clusters: expected an https://host server: credentials are sent to it");
	check_error(CONTEXT_NO_USER CLUSTER_OK "    insecure-skip-tls-verify: true\n",
		    NAME ":10:31: clusters.insecure-skip-tls-verify: ctrlscope never sends "
			 "credentials to an unverified API server");
	check_error(CONTEXT_NO_USER CLUSTER_OK "    certificate-authority-data: not-base64!\n",
		    NAME ":10:33: clusters.certificate-authority-data: expected base64-encoded PEM "
			 "data");
	check_error(CONTEXT_NO_USER CLUSTER_OK "    certificate-authority-data: Q0E\n",
		    NAME ":10:33: clusters.certificate-authority-data: expected base64-encoded PEM "
			 "data");
	/* PEM is text: a NUL byte in it is not. */
	check_error(CONTEXT_NO_USER CLUSTER_OK "    certificate-authority-data: YQBi\n",
		    NAME ":10:33: clusters.certificate-authority-data: expected base64-encoded PEM "
			 "data");
}

static void test_user_errors(void **state)
{
	(void)state;
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: other\n"
				       "  user: {token: x}\n",
		    NAME ":12:1: users: no users entry named \"u\"");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    exec:\n"
				       "      command: aws\n",
		    NAME ":15:7: users.exec: exec credential plugins are not supported");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    auth-provider: {name: gcp}\n",
		    NAME ":14:20: users.auth-provider: auth-provider plugins are not supported");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    username: admin\n"
				       "    password: secret\n",
		    NAME ":14:15: users.username: basic authentication is not supported");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    client-certificate: c.crt\n",
		    NAME ":14:5: users: expected both a client certificate and its key");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    client-key-data: " KEY_B64 "\n",
		    NAME ":14:5: users: expected both a client certificate and its key");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    client-certificate-data: Q?E=\n"
				       "    client-key-data: " KEY_B64 "\n",
		    NAME ":14:30: users.client-certificate-data: expected base64-encoded PEM data");
	check_error(CONTEXT CLUSTER_OK "users:\n"
				       "- name: u\n"
				       "  user:\n"
				       "    token: [a]\n",
		    NAME ":14:12: users.token: expected string, got a sequence");
}

static int parse_server(const char *server, struct kube_conn *c, char *err, size_t err_size)
{
	char yaml[512];

	snprintf(yaml, sizeof(yaml),
		 "current-context: c\n"
		 "contexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: \"%s\"}}]\n",
		 server);
	return kubeconfig_parse(NAME, DIR, yaml, strlen(yaml), c, err, err_size);
}

/* The server as parsed, freed before any assertion can end the test. */
static int server_of(const char *server, char *out, size_t size)
{
	struct kube_conn c;
	char err[256] = "";
	int ret = parse_server(server, &c, err, sizeof(err));

	if (!ret) {
		snprintf(out, size, "%s", c.server);
		kube_conn_free(&c);
	} else {
		snprintf(out, size, "%s", err);
	}
	return ret;
}

/* "https://host:port, no trailing slash": kube.c appends "/apis/..." to it. */
static void test_server_trailing_slashes(void **state)
{
	char server[256];

	(void)state;
	assert_int_equal(server_of("https://api:6443/", server, sizeof(server)), 0);
	assert_string_equal(server, "https://api:6443");
	assert_int_equal(server_of("https://api/prefix/", server, sizeof(server)), 0);
	assert_string_equal(server, "https://api/prefix");
	assert_int_equal(server_of("https://api:6443//", server, sizeof(server)), 0);
	assert_string_equal(server, "https://api:6443");
}

/* A server URL needs a host. */
static void test_server_without_host(void **state)
{
	static const char *const bad[] = { "https://", "https:///", "https:///apis" };
	char got[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (server_of(bad[i], got, sizeof(got)) != -EINVAL)
			fail_msg("server \"%s\" accepted as \"%s\"", bad[i], got);
		assert_memory_equal(got, NAME ":3:", strlen(NAME ":3:"));
	}
}

/* --- in-cluster --------------------------------------------------------------------- */

/* kube_conn_in_cluster with the environment as main reads it. */
static int in_cluster(const char *root, struct kube_conn *c, char *err, size_t size)
{
	struct agent_env env;

	agent_env_read(&env);
	return kube_conn_in_cluster(root, &env, c, err, size);
}

static int save_env(void **state)
{
	(void)state;
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

static void test_in_cluster_ipv4(void **state)
{
	struct kube_conn c;
	char err[256] = "";

	(void)state;
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(in_cluster("/tmp/sa", &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://10.96.0.1:443");
	assert_string_equal(c.token_file, "/tmp/sa/token");
	assert_string_equal(c.ca_file, "/tmp/sa/ca.crt");
	assert_null(c.token);
	assert_null(c.ca_pem);
	assert_null(c.cert_file);
	assert_null(c.cert_pem);
	assert_null(c.key_file);
	assert_null(c.key_pem);
	kube_conn_free(&c);

	/* The real service account directory by default. */
	assert_int_equal(in_cluster(NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
	assert_string_equal(c.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	kube_conn_free(&c);
	assert_empty(&c);
}

static void test_in_cluster_ipv6(void **state)
{
	struct kube_conn c;
	char err[256] = "";

	(void)state;
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://[fd00:10:96::1]:6443");
	kube_conn_free(&c);
}

static void test_in_cluster_unset(void **state)
{
	static const char msg[] = "not running in a cluster (KUBERNETES_SERVICE_HOST is not set) "
				  "and no --kubeconfig given";
	struct kube_conn c;
	char err[256];

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, msg);
	assert_empty(&c);

	setenv("KUBERNETES_SERVICE_HOST", "", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, msg);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), -ENOENT);
	assert_empty(&c);

	/* A port that is no port: one error naming it. */
	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "KUBERNETES_SERVICE_PORT=https is not a port, and no "
				 "--kubeconfig given");
	assert_empty(&c);
	setenv("KUBERNETES_SERVICE_PORT", "65536", 1);
	assert_int_equal(in_cluster("/sa", &c, err, sizeof(err)), -ENOENT);
	assert_empty(&c);
}

/* The environment, read once: empty values are unset, the service needs both parts. */
static const char *fake_env(const char *name)
{
	static const char *const vars[][2] = {
		{ "NODE_NAME", "node-a" },
		{ "POD_IP", "" },
		{ "KUBERNETES_SERVICE_HOST", "fd00:10:96::1" },
		{ "KUBERNETES_SERVICE_PORT", "443" },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (!strcmp(vars[i][0], name))
			return vars[i][1];
	}
	return NULL;
}

static void test_env_read_once(void **state)
{
	struct agent_env env;

	(void)state;
	agent_env_from(&env, fake_env);
	assert_string_equal(env.node_name, "node-a");
	assert_null(env.pod_ip); /* empty */
	assert_string_equal(env.service_host, "fd00:10:96::1");
	assert_string_equal(env.service_port, "443");
	assert_int_equal(env.service_port_number, 443);
	assert_null(env.bad_port);
}

/* kubeconfig_load: the file's directory resolves relative paths. */
static void test_load(void **state)
{
	char dir[] = "/tmp/test_kubeconfig.XXXXXX", path[256], want[512], err[512] = "";
	struct kube_conn c;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(kubectl_config, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(kubeconfig_load(path, &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/pki/ca.crt", dir);
	assert_string_equal(c.ca_file, want);
	kube_conn_free(&c);
	unlink(path);

	assert_int_equal(kubeconfig_load(path, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open the kubeconfig: No such file or directory",
		 path);
	assert_string_equal(err, want);
	assert_empty(&c);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubectl_config),
		cmocka_unit_test(test_inline_data),
		cmocka_unit_test(test_no_user),
		cmocka_unit_test(test_no_dir),
		cmocka_unit_test(test_context_errors),
		cmocka_unit_test(test_cluster_errors),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_server_trailing_slashes),
		cmocka_unit_test(test_server_without_host),
		cmocka_unit_test_setup_teardown(test_in_cluster_ipv4, save_env, save_env),
		cmocka_unit_test_setup_teardown(test_in_cluster_ipv6, save_env, save_env),
		cmocka_unit_test_setup_teardown(test_in_cluster_unset, save_env, save_env),
		cmocka_unit_test(test_env_read_once),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
