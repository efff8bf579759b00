/* libFuzzer target for the kubeconfig parser (kubeconfig_parse in user/kube/kubeconfig.c).
 * Beyond "does not crash": the result is 0 or -EINVAL; an error is one line that starts
 * with the file name and leaves the connection empty; a parsed connection keeps what
 * kubeconfig.h promises (an https:// server with a host and no trailing slash, a client
 * certificate only with its key, paths absolute once resolved against the directory), and
 * written back as a minimal kubeconfig (data fields base64-encoded again) it parses to the
 * same connection. Not for kubeconfig_load (file I/O) or the in-cluster configuration. */
#include "kubeconfig.h"
#include "check.h"
#include "yaml_quote.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME	 "kubeconfig"
#define DIR	 "/kube"
#define ERR_SIZE 512

#define N_FIELDS 9

/* The fields in kube_conn order, with the key that sets each. */
static const struct {
	const char *key;
	bool cluster; /* under clusters[].cluster, else users[].user */
	bool path;
	bool data; /* base64 in the file */
} fields[N_FIELDS] = {
	{ "server", true, false, false },
	{ "certificate-authority", true, true, false },
	{ "certificate-authority-data", true, false, true },
	{ "token", false, false, false },
	{ "tokenFile", false, true, false },
	{ "client-certificate", false, true, false },
	{ "client-certificate-data", false, false, true },
	{ "client-key", false, true, false },
	{ "client-key-data", false, false, true },
};

static char **field(struct kube_conn *c, int i)
{
	char **all[N_FIELDS] = { &c->server,   &c->ca_file,    &c->ca_pem,
				 &c->token,    &c->token_file, &c->cert_file,
				 &c->cert_pem, &c->key_file,   &c->key_pem };

	return all[i];
}

static void check_error(int ret, const char *err, const struct kube_conn *c)
{
	static const struct kube_conn empty;

	check_one_line_error(ret, err, ERR_SIZE, NAME ":");
	CHECK(!memcmp(c, &empty, sizeof(empty)));
}

static void check_conn(struct kube_conn *c)
{
	size_t n;

	CHECK(c->server);
	n = strlen(c->server);
	if (n <= 8 || strncmp(c->server, "https://", 8) || c->server[n - 1] == '/')
		note("server", c->server, n);
	CHECK(!strncmp(c->server, "https://", 8));
	CHECK(n > 8); /* a host */
	CHECK(c->server[n - 1] != '/');
	CHECK(!(c->cert_file || c->cert_pem) == !(c->key_file || c->key_pem));
	for (int i = 0; i < N_FIELDS; i++) {
		char *v = *field(c, i);

		CHECK(!v || *v); /* set means non-empty */
		CHECK(!v || !fields[i].path || v[0] == '/');
	}
}

/* Quoted: base64 can spell a YAML null ("Null", "NULL", "null"), which a plain scalar
 * would be read back as. */
static void put_base64(FILE *f, const unsigned char *in, size_t n)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	fputc('"', f);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		fputc(alphabet[v >> 18 & 63], f);
		fputc(alphabet[v >> 12 & 63], f);
		fputc(i + 1 < n ? alphabet[v >> 6 & 63] : '=', f);
		fputc(i + 2 < n ? alphabet[v & 63] : '=', f);
	}
	fputc('"', f);
}

static void put_fields(FILE *f, struct kube_conn *c, bool cluster)
{
	for (int i = 0; i < N_FIELDS; i++) {
		const char *v = *field(c, i);

		if (!v || fields[i].cluster != cluster)
			continue;
		fprintf(f, "    %s: ", fields[i].key);
		if (fields[i].data)
			put_base64(f, (const unsigned char *)v, strlen(v));
		else
			yq_put(f, v);
		fputc('\n', f);
	}
}

static char *write_kubeconfig(struct kube_conn *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	CHECK(f);
	fputs("current-context: c\n"
	      "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
	      "clusters:\n- name: k\n  cluster:\n",
	      f);
	put_fields(f, c, true);
	fputs("users:\n- name: u\n  user:\n", f);
	put_fields(f, c, false);
	fputs("    unused: {}\n", f); /* never an empty user mapping */
	CHECK(!fclose(f));
	return text;
}

static void check_round_trip(struct kube_conn *c)
{
	struct kube_conn again;
	char err[ERR_SIZE];
	size_t len;
	char *text = write_kubeconfig(c, &len);
	int ret = kubeconfig_parse(NAME, DIR, text, len, &again, err, sizeof(err));
	bool same = !ret;

	for (int i = 0; same && i < N_FIELDS; i++) {
		const char *a = *field(c, i), *b = *field(&again, i);

		same = (!a && !b) || (a && b && !strcmp(a, b));
	}
	if (ret)
		note("error", err, strlen(err));
	if (!same)
		note(ret ? "written back, fails to parse" : "written back, parses differently",
		     text, len);
	CHECK(!ret);
	CHECK(same);
	kube_conn_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_conn c;
	char err[ERR_SIZE];
	int ret;

	memset(&c, 0xa5, sizeof(c));
	memset(err, 0xa5, sizeof(err));
	ret = kubeconfig_parse(NAME, DIR, (const char *)data, size, &c, err, sizeof(err));
	if (ret) {
		check_error(ret, err, &c);
		return 0;
	}
	check_conn(&c);
	check_round_trip(&c);
	kube_conn_free(&c);
	{
		static const struct kube_conn empty;

		CHECK(!memcmp(&c, &empty, sizeof(c)));
	}
	return 0;
}
