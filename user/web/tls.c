/* TLS: see tls.h. The serving certificate is handed to GnuTLS per handshake by
 * tls_cert_callback, which is where a changed certificate file is noticed: a new
 * connection sees a new certificate with no restart, and a file that cannot be read keeps
 * the old one (logged and counted). Each connection's session gets the ticket key that
 * lets a returning client resume. Not for HTTP or authentication decisions. */
#include "tls.h"
#include "env.h"
#include "log.h"
#include "vec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define MAX_CHAIN 8
/* How long a session ticket may resume a session. GnuTLS derives the key that encrypts
 * tickets from the master key and the time, a new one every 3 lifetimes (stek.c,
 * STEK_ROTATION_PERIOD_PRODUCT), and still takes the previous one's: an hour rather than
 * its default 6 so that a leaked derived key opens 3 hours of TLS 1.2 tickets, not 18. A
 * scraper reconnects within minutes; one away longer pays one full handshake. */
#define TICKET_LIFETIME 3600

struct cert {
	gnutls_pcert_st pcert[MAX_CHAIN];
	unsigned int n;
	gnutls_privkey_t key;
	time_t not_before, not_after;
	int warned; /* the last validity problem logged (enum validity), not to repeat it */
	struct cert *retired_next;
};

struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct tls {
	pthread_mutex_t lock;
	struct cert *current;
	struct cert *retired; /* a handshake may still use them: freed at tls_close */
	char *cert_file, *key_file;
	struct file_sig cert_sig, key_sig;
	time_t last_check;
	char priorities[1024];
	char *client_ca_pem;
	struct string_list allowed_sans; /* client_allowed_sans: empty allows any */
	/* The client CA bundle's validity: the latest start and the earliest end. */
	time_t ca_not_before, ca_not_after;
	int ca_warned;
	bool self_signed;
	atomic_ullong reloads_ok, reloads_failed;
	/* The master key of session tickets: random at start, in memory only, wiped at
	 * tls_close. A restart invalidates every ticket (one full handshake each). */
	gnutls_datum_t ticket_key;
	atomic_ullong handshakes[2]; /* completed, by resumed (1) or not (0) */
};

static void warn_validity(const char *what, time_t not_before, time_t not_after, int *warned);

/* The context answering handshakes: libmicrohttpd's certificate callback
 * (MHD_OPTION_HTTPS_CERT_CALLBACK2, a gnutls_certificate_retrieve_function2) takes no
 * closure, so tls_cert_callback registers its context here. Read only by cert_callback. */
static struct tls *serving;

/* Go cipher suite names (exporter-toolkit's) to GnuTLS key exchange, cipher and MAC. */
static const struct {
	const char *go;
	const char *kx, *cipher, *mac;
} suites[] = {
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA", "AES-128-GCM", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA", "AES-256-GCM", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA", "AES-128-GCM", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA", "AES-256-GCM", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA", "CHACHA20-POLY1305", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA", "CHACHA20-POLY1305",
	  "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD" },
	{ "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA", "CHACHA20-POLY1305", "AEAD" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA", "AES-128-CBC", "SHA1" },
	{ "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA", "AES-256-CBC", "SHA1" },
	{ "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA", "AES-128-CBC", "SHA1" },
	{ "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA", "AES-256-CBC", "SHA1" },
	{ "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "AES-128-GCM", "AEAD" },
	{ "TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "AES-256-GCM", "AEAD" },
	{ "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "AES-128-CBC", "SHA1" },
	{ "TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "AES-256-CBC", "SHA1" },
};

static const struct {
	const char *go;
	const char *group;
} curves[] = {
	{ "CurveP256", "GROUP-SECP256R1" },
	{ "CurveP384", "GROUP-SECP384R1" },
	{ "CurveP521", "GROUP-SECP521R1" },
	{ "X25519", "GROUP-X25519" },
};

static void append(char *out, size_t size, const char *fmt, const char *s)
{
	size_t len = strlen(out);

	snprintf(out + len, len < size ? size - len : 0, fmt, s);
}

static bool already(const char *out, const char *token)
{
	char needle[64];

	snprintf(needle, sizeof(needle), ":+%s:", token);
	return strstr(out, needle) != NULL;
}

#define DEFAULT_GROUPS                                                                             \
	":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1"

int tls_build_priorities(const struct web_tls *cfg, char *out, size_t size, char *err,
			 size_t err_size)
{
	static const char *const versions[] = { "VERS-TLS1.0", "VERS-TLS1.1", "VERS-TLS1.2",
						"VERS-TLS1.3" };
	int min = cfg->min_version ? cfg->min_version : 12;
	int max = cfg->max_version ? cfg->max_version : 13;

	snprintf(out, size, "NORMAL:-VERS-ALL");
	for (int v = min; v <= max && v >= 10 && v <= 13; v++)
		append(out, size, ":+%s", versions[v - 10]);
	if (cfg->cipher_suites.n) {
		/* GnuTLS enables key exchanges, ciphers and MACs, not whole suites: the
		 * suites allowed are their combinations. TLS 1.3 uses the same ciphers. */
		append(out, size, "%s", ":-KX-ALL:-CIPHER-ALL:-MAC-ALL:");
		for (size_t i = 0; i < cfg->cipher_suites.n; i++) {
			size_t k;

			for (k = 0; k < sizeof(suites) / sizeof(suites[0]); k++) {
				if (!strcmp(suites[k].go, cfg->cipher_suites.items[i]))
					break;
			}
			if (k == sizeof(suites) / sizeof(suites[0])) {
				snprintf(err, err_size,
					 "tls_server_config.cipher_suites: unknown or unsupported "
					 "cipher suite \"%s\"",
					 cfg->cipher_suites.items[i]);
				return -EINVAL;
			}
			if (!already(out, suites[k].kx))
				append(out, size, "+%s:", suites[k].kx);
			if (!already(out, suites[k].cipher))
				append(out, size, "+%s:", suites[k].cipher);
			if (!already(out, suites[k].mac))
				append(out, size, "+%s:", suites[k].mac);
		}
		out[strlen(out) - 1] = 0;
	}
	if (!cfg->curves.n) {
		/* X25519 first, as every common client prefers it and sends its key share
		 * alone: GnuTLS's own order (SECP256R1 first) under server precedence makes
		 * them pay a HelloRetryRequest, one more round trip per handshake. */
		append(out, size, "%s", DEFAULT_GROUPS);
	} else {
		append(out, size, "%s", ":-GROUP-ALL");
		for (size_t i = 0; i < cfg->curves.n; i++) {
			size_t k;

			for (k = 0; k < sizeof(curves) / sizeof(curves[0]); k++) {
				if (!strcmp(curves[k].go, cfg->curves.items[i]))
					break;
			}
			if (k == sizeof(curves) / sizeof(curves[0])) {
				snprintf(
					err, err_size,
					"tls_server_config.curve_preferences: unknown curve \"%s\" "
					"(expected CurveP256, CurveP384, CurveP521 or X25519)",
					cfg->curves.items[i]);
				return -EINVAL;
			}
			append(out, size, ":+%s", curves[k].group);
		}
	}
	if (cfg->prefer_server_cipher_suites)
		append(out, size, "%s", ":%SERVER_PRECEDENCE");
	if (strlen(out) + 1 >= size) {
		snprintf(err, err_size, "tls_server_config: too many cipher suites or curves");
		return -EINVAL;
	}
	return 0;
}

static void cert_free(struct cert *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

static int same_public_key(gnutls_pcert_st *pcert, gnutls_privkey_t key)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { 0 }, b = { 0 };
	int same = 0;

	if (gnutls_pubkey_init(&pub) || gnutls_pubkey_import_privkey(pub, key, 0, 0) ||
	    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) ||
	    gnutls_pubkey_export2(pcert->pubkey, GNUTLS_X509_FMT_DER, &b))
		goto out;
	same = a.size == b.size && !memcmp(a.data, b.data, a.size);
out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	return same;
}

/* A certificate chain and key from PEM; NULL with a reason in err. */
static struct cert *cert_from_pem(const gnutls_datum_t *cert_pem, const gnutls_datum_t *key_pem,
				  char *err, size_t err_size)
{
	struct cert *c = calloc(1, sizeof(*c));
	gnutls_x509_crt_t crt = NULL;
	int rc;

	if (!c) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	c->n = MAX_CHAIN;
	rc = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n, cert_pem, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || !c->n) {
		c->n = 0;
		snprintf(err, err_size, "not a PEM certificate chain: %s", gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&c->key)) ||
	    (rc = gnutls_privkey_import_x509_raw(c->key, key_pem, GNUTLS_X509_FMT_PEM, NULL, 0))) {
		snprintf(err, err_size, "not a PEM private key: %s", gnutls_strerror(rc));
		goto fail;
	}
	if (!same_public_key(&c->pcert[0], c->key)) {
		snprintf(err, err_size, "the private key does not belong to the certificate");
		goto fail;
	}
	if (!gnutls_x509_crt_init(&crt) &&
	    !gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER)) {
		c->not_before = gnutls_x509_crt_get_activation_time(crt);
		c->not_after = gnutls_x509_crt_get_expiration_time(crt);
	}
	if (crt)
		gnutls_x509_crt_deinit(crt);
	return c;
fail:
	cert_free(c);
	return NULL;
}

static int read_sig(const char *path, struct file_sig *sig)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*sig = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim };
	return 0;
}

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static struct cert *cert_from_files(const char *cert_file, const char *key_file, char *err,
				    size_t err_size)
{
	gnutls_datum_t c = { 0 }, k = { 0 };
	struct cert *cert = NULL;
	int rc;

	if ((rc = gnutls_load_file(cert_file, &c)) < 0) {
		snprintf(err, err_size, "%s: cannot read: %s", cert_file, gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_load_file(key_file, &k)) < 0) {
		snprintf(err, err_size, "%s: cannot read: %s", key_file, gnutls_strerror(rc));
		goto out;
	}
	cert = cert_from_pem(&c, &k, err, err_size);
out:
	gnutls_free(c.data);
	if (k.data) {
		gnutls_memset(k.data, 0, k.size); /* the key does not linger in freed memory */
		gnutls_free(k.data);
	}
	return cert;
}

/* Reload the files if they changed; called with t->lock held. */
static void reload_locked(struct tls *t)
{
	struct file_sig cs, ks;
	char err[512];
	struct cert *c;
	time_t now = time(NULL);

	if (!t->cert_file || now == t->last_check)
		return;
	t->last_check = now;
	if (read_sig(t->cert_file, &cs) || read_sig(t->key_file, &ks))
		goto failed_stat;
	if (sig_equal(&cs, &t->cert_sig) && sig_equal(&ks, &t->key_sig))
		return;
	c = cert_from_files(t->cert_file, t->key_file, err, sizeof(err));
	if (!c) {
		/* Often a half-written pair (a Secret update in flight): keep serving the old
		 * one and try again at the next handshake after this second. */
		atomic_fetch_add(&t->reloads_failed, 1);
		log_warn("cannot reload the serving certificate, keeping the previous one: %s",
			 err);
		t->cert_sig = (struct file_sig){ 0 };
		return;
	}
	t->cert_sig = cs;
	t->key_sig = ks;
	t->current->retired_next = t->retired;
	t->retired = t->current;
	t->current = c;
	atomic_fetch_add(&t->reloads_ok, 1);
	log_info("reloaded the serving certificate from %s (expires %ld)", t->cert_file,
		 (long)c->not_after);
	warn_validity("serving certificate", c->not_before, c->not_after, &c->warned);
	return;
failed_stat:
	if (t->cert_sig.ino) {
		atomic_fetch_add(&t->reloads_failed, 1);
		log_warn("cannot stat the certificate files (%s): keeping the previous certificate",
			 strerror(errno));
		t->cert_sig = (struct file_sig){ 0 };
	}
}

void tls_check_reload(struct tls *t)
{
	pthread_mutex_lock(&t->lock);
	reload_locked(t);
	pthread_mutex_unlock(&t->lock);
}

static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int n_dn,
			 const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **pcert,
			 unsigned int *n_pcert, gnutls_privkey_t *key)
{
	(void)session;
	(void)req_ca_dn;
	(void)n_dn;
	(void)algos;
	(void)n_algos;
	struct tls *t = serving;

	pthread_mutex_lock(&t->lock);
	reload_locked(t);
	*pcert = t->current->pcert;
	*n_pcert = t->current->n;
	*key = t->current->key;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int add_san(X509 *x, X509V3_CTX *ctx, const char *san)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, NID_subject_alt_name, san);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* A fresh EC P-256 key and a one-year self-signed certificate for the node name, the pod
 * IP and localhost, as PEM. */
static int self_signed(const struct agent_env *env, gnutls_datum_t *cert_pem,
		       gnutls_datum_t *key_pem, char *err, size_t err_size)
{
	const char *node = env->node_name, *pod_ip = env->pod_ip;
	char host[256] = "localhost", san[1024];
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	BUF_MEM *mem;
	int ret = -EINVAL;

	if (!node)
		node = gethostname(host, sizeof(host) - 1) ? "localhost" : host;
	if (!pkey || !x || !cb || !kb || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive serial number (RFC 5280 4.1.2.2) */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !X509_set_version(x, 2) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) || !X509_set_pubkey(x, pkey))
		goto out;
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
				   (const unsigned char *)node, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1%s%s", node,
		 pod_ip && *pod_ip ? ",IP:" : "", pod_ip && *pod_ip ? pod_ip : "");
	if (add_san(x, &ctx, san) || !X509_sign(x, pkey, EVP_sha256()) ||
	    !PEM_write_bio_X509(cb, x) ||
	    !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	BIO_get_mem_ptr(cb, &mem);
	cert_pem->data = gnutls_malloc(mem->length);
	cert_pem->size = (unsigned int)mem->length;
	if (cert_pem->data)
		memcpy(cert_pem->data, mem->data, mem->length);
	BIO_get_mem_ptr(kb, &mem);
	key_pem->data = gnutls_malloc(mem->length);
	key_pem->size = (unsigned int)mem->length;
	if (key_pem->data)
		memcpy(key_pem->data, mem->data, mem->length);
	ret = cert_pem->data && key_pem->data ? 0 : -ENOMEM;
out:
	if (ret)
		snprintf(err, err_size,
			 "cannot generate a self-signed certificate (subjectAltName %s)", san);
	BN_free(bn);
	BIO_free(cb);
	BIO_free_all(kb);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}

static int load_initial(struct tls *t, const struct web_tls *cfg, const struct agent_env *env,
			char *err, size_t err_size)
{
	gnutls_datum_t c = { 0 }, k = { 0 };
	char why[512];
	int ret = 0;

	if (cfg->cert_file) {
		t->cert_file = strdup(cfg->cert_file);
		t->key_file = strdup(cfg->key_file);
		if (!t->cert_file || !t->key_file)
			return -ENOMEM;
		if (read_sig(t->cert_file, &t->cert_sig) || read_sig(t->key_file, &t->key_sig)) {
			snprintf(err, err_size, "tls_server_config: %s: %s",
				 t->cert_sig.ino ? t->key_file : t->cert_file, strerror(errno));
			return -errno;
		}
		t->current = cert_from_files(t->cert_file, t->key_file, why, sizeof(why));
		t->last_check = time(NULL);
		goto check;
	}
	if (cfg->cert_pem) {
		c.data = (unsigned char *)cfg->cert_pem;
		c.size = (unsigned int)strlen(cfg->cert_pem);
		k.data = (unsigned char *)cfg->key_pem;
		k.size = (unsigned int)strlen(cfg->key_pem);
		t->current = cert_from_pem(&c, &k, why, sizeof(why));
		goto check;
	}
	ret = self_signed(env, &c, &k, err, err_size);
	if (ret)
		return ret;
	t->self_signed = true;
	t->current = cert_from_pem(&c, &k, why, sizeof(why));
	gnutls_free(c.data);
	gnutls_memset(k.data, 0, k.size);
	gnutls_free(k.data);
check:
	if (!t->current) {
		snprintf(err, err_size, "tls_server_config: %s", why);
		return -EINVAL;
	}
	return 0;
}

static char *read_text(const char *path, char *err, size_t err_size)
{
	gnutls_datum_t d = { 0 };
	char *s;
	int rc = gnutls_load_file(path, &d);

	if (rc < 0) {
		snprintf(err, err_size, "tls_server_config.client_ca_file: %s: cannot read: %s",
			 path, gnutls_strerror(rc));
		return NULL;
	}
	s = strndup((const char *)d.data, d.size);
	gnutls_free(d.data);
	return s;
}

static int tls_init(struct tls *t, const struct web_tls *cfg, const struct agent_env *env,
		    char *err, size_t err_size)
{
	gnutls_x509_crt_t *cas = NULL;
	unsigned int n_cas = 0;
	gnutls_datum_t ca;
	int ret;

	ret = tls_build_priorities(cfg, t->priorities, sizeof(t->priorities), err, err_size);
	if (ret)
		return ret;
	if (cfg->client_ca_file || cfg->client_ca_pem) {
		t->client_ca_pem = cfg->client_ca_file
					   ? read_text(cfg->client_ca_file, err, err_size)
					   : strdup(cfg->client_ca_pem);
		if (!t->client_ca_pem)
			return -EINVAL;
		/* Refuse a CA file with no certificate now rather than at the first client. */
		ca.data = (unsigned char *)t->client_ca_pem;
		ca.size = (unsigned int)strlen(t->client_ca_pem);
		ret = gnutls_x509_crt_list_import2(&cas, &n_cas, &ca, GNUTLS_X509_FMT_PEM, 0);
		for (unsigned int i = 0; i < n_cas; i++) {
			time_t nb = gnutls_x509_crt_get_activation_time(cas[i]);
			time_t na = gnutls_x509_crt_get_expiration_time(cas[i]);

			if (i == 0 || nb > t->ca_not_before)
				t->ca_not_before = nb;
			if (i == 0 || na < t->ca_not_after)
				t->ca_not_after = na;
			gnutls_x509_crt_deinit(cas[i]);
		}
		gnutls_free(cas);
		if (ret < 0 || !n_cas) {
			snprintf(err, err_size,
				 "tls_server_config.client_ca: no PEM certificate: %s",
				 gnutls_strerror(ret));
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->client_allowed_sans.n; i++) {
		char **san = ARRAY_PUSH(t->allowed_sans.items, i);

		if (!san || !(*san = strdup(cfg->client_allowed_sans.items[i])))
			return -ENOMEM;
		t->allowed_sans.n++;
	}
	ret = gnutls_session_ticket_key_generate(&t->ticket_key);
	if (ret < 0) {
		snprintf(err, err_size, "cannot generate a session ticket key: %s",
			 gnutls_strerror(ret));
		return -ENOMEM;
	}
	ret = load_initial(t, cfg, env, err, err_size);
	if (ret)
		return ret;
	warn_validity("serving certificate", t->current->not_before, t->current->not_after,
		      &t->current->warned);
	if (t->client_ca_pem)
		warn_validity("client CA (tls_server_config.client_ca_file)", t->ca_not_before,
			      t->ca_not_after, &t->ca_warned);
	if (t->self_signed)
		log_warn(
			"no certificate configured (tls_server_config.cert_file): serving a "
			"self-signed certificate generated at start-up; scrapers cannot verify it");
	return 0;
}

int tls_open(const struct web_tls *cfg, const struct agent_env *env, struct tls **out, char *err,
	     size_t err_size)
{
	struct tls *t = calloc(1, sizeof(*t));
	int ret;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	ret = tls_init(t, cfg, env, err, err_size);
	if (ret) {
		tls_close(t);
		return ret;
	}
	*out = t;
	return 0;
}

void tls_close(struct tls *t)
{
	if (!t)
		return;
	if (serving == t)
		serving = NULL;
	cert_free(t->current);
	while (t->retired) {
		struct cert *next = t->retired->retired_next;

		cert_free(t->retired);
		t->retired = next;
	}
	free(t->cert_file);
	free(t->key_file);
	free(t->client_ca_pem);
	string_list_free(&t->allowed_sans);
	if (t->ticket_key.data) {
		gnutls_memset(t->ticket_key.data, 0, t->ticket_key.size);
		gnutls_free(t->ticket_key.data);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const char *tls_priorities(const struct tls *t)
{
	return t->priorities;
}

const char *tls_client_ca_pem(const struct tls *t)
{
	return t->client_ca_pem;
}

void *tls_cert_callback(struct tls *t)
{
	serving = t;
	return (void *)cert_callback;
}

/* Count a handshake when its last Finished message goes by. The server sends its Finished
 * last only in a full TLS 1.2 handshake; in a resumed one (RFC 5077 3.1) and in any TLS 1.3
 * one (RFC 8446 2) the client's ends it. GnuTLS knows by then whether it resumed. */
static int finished_hook(gnutls_session_t session, unsigned int htype, unsigned int when,
			 unsigned int incoming, const gnutls_datum_t *msg)
{
	bool resumed = gnutls_session_is_resumed(session);
	bool tls13 = gnutls_protocol_get_version(session) == GNUTLS_TLS1_3;
	struct tls *t = gnutls_db_get_ptr(session);

	(void)htype;
	(void)when;
	(void)msg;
	if (t && (incoming ? tls13 || resumed : !tls13 && !resumed))
		atomic_fetch_add(&t->handshakes[resumed], 1);
	return 0;
}

int tls_session_start(struct tls *t, void *session_ptr)
{
	gnutls_session_t session = session_ptr;
	int rc;

	/* Hooks get no closure: the session's database pointer carries t. It is free, as
	 * tickets need no session database and libmicrohttpd sets none. */
	gnutls_db_set_ptr(session, t);
	gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
					   finished_hook);
	/* The lifetime first: GnuTLS starts the ticket key's rotation clock from it. */
	gnutls_db_set_cache_expiration(session, TICKET_LIFETIME);
	rc = gnutls_session_ticket_enable_server(session, &t->ticket_key);
	if (rc < 0) {
		log_debug("no session tickets for this connection: %s", gnutls_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

/* Whether a subject alternative name of the certificate (DNS, email, URI or IP) equals an
 * entry of client_allowed_sans, as exporter-toolkit checks them. */
static bool san_allowed(const struct tls *t, gnutls_x509_crt_t crt)
{
	if (!t->allowed_sans.n)
		return true;
	for (unsigned int i = 0;; i++) {
		char san[1024], text[INET6_ADDRSTRLEN];
		size_t size = sizeof(san) - 1;
		unsigned int critical;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, san, &size, &critical);
		const char *value = san;

		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return false;
		if (type < 0)
			continue;
		if (type == GNUTLS_SAN_IPADDRESS) {
			if (!inet_ntop(size == 4 ? AF_INET : AF_INET6, san, text, sizeof(text)))
				continue;
			value = text;
		} else {
			san[size] = 0;
		}
		for (size_t k = 0; k < t->allowed_sans.n; k++) {
			if (!strcmp(t->allowed_sans.items[k], value))
				return true;
		}
	}
}

static void peer_invalid(struct tls_peer *peer, const char *why)
{
	peer->state = TLS_PEER_INVALID;
	snprintf(peer->reason, sizeof(peer->reason), "%s", why);
}

void tls_peer_identity(const struct tls *t, void *session_ptr, struct tls_peer *peer)
{
	gnutls_session_t session = session_ptr;
	gnutls_typed_vdata_st purpose = { .type = GNUTLS_DT_KEY_PURPOSE_OID,
					  .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT };
	const gnutls_datum_t *chain;
	gnutls_x509_crt_t crt = NULL;
	unsigned int n = 0, status = 0;
	size_t size;

	memset(peer, 0, sizeof(*peer));
	if (!session || !t->client_ca_pem)
		return;
	chain = gnutls_certificate_get_peers(session, &n);
	if (!chain || !n)
		return; /* no certificate presented */
	if (gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0 || status) {
		gnutls_datum_t why = { 0 };

		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		peer_invalid(peer, why.data ? (const char *)why.data : "verification failed");
		gnutls_free(why.data);
		return;
	}
	if (gnutls_x509_crt_init(&crt) ||
	    gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER)) {
		peer_invalid(peer, "unreadable certificate");
		goto out;
	}
	if (!san_allowed(t, crt)) {
		peer_invalid(peer, "no subject alternative name is in client_allowed_sans");
		goto out;
	}
	size = sizeof(peer->user);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, peer->user,
					  &size) ||
	    !peer->user[0]) {
		peer_invalid(peer, "no common name in the subject");
		goto out;
	}
	for (unsigned int i = 0; i < TLS_MAX_GROUPS; i++) {
		size = sizeof(peer->groups[i]);
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
						  peer->groups[i], &size))
			break;
		peer->n_groups++;
	}
	peer->state = TLS_PEER_VALID;
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
}

enum validity tls_validity(time_t not_before, time_t not_after, time_t now)
{
	time_t left = not_after - now, lifetime = not_after - not_before;

	if (now < not_before)
		return TLS_NOT_YET_VALID;
	if (now >= not_after)
		return TLS_EXPIRED;
	/* As cert-manager renews by default: a third of the lifetime left, and at most a
	 * week (so that a short-lived certificate is not always "near expiry"). */
	if (left < lifetime / 3 && left < 7 * 24 * 3600)
		return TLS_NEAR_EXPIRY;
	return TLS_VALID;
}

/* Log a certificate's validity problem once, when it appears or changes. */
static void warn_validity(const char *what, time_t not_before, time_t not_after, int *warned)
{
	time_t now = time(NULL);
	enum validity v = tls_validity(not_before, not_after, now);

	if ((int)v == *warned)
		return;
	*warned = (int)v;
	if (v == TLS_NOT_YET_VALID)
		log_warn("the %s is not valid yet: not before %ld (in %ld s)", what,
			 (long)not_before, (long)(not_before - now));
	else if (v == TLS_EXPIRED)
		log_warn("the %s expired at %ld (%ld s ago): clients will refuse it", what,
			 (long)not_after, (long)(now - not_after));
	else if (v == TLS_NEAR_EXPIRY)
		log_warn("the %s expires at %ld (in %ld s)", what, (long)not_after,
			 (long)(not_after - now));
}

void tls_collect(struct tls *t, struct expo *e)
{
	struct label result = { "result", NULL }, resumed = { "resumed", NULL };
	time_t expiry, not_before;

	tls_check_reload(t);
	pthread_mutex_lock(&t->lock);
	expiry = t->current ? t->current->not_after : 0;
	not_before = t->current ? t->current->not_before : 0;
	if (t->current)
		warn_validity("serving certificate", t->current->not_before, t->current->not_after,
			      &t->current->warned);
	if (t->client_ca_pem)
		warn_validity("client CA (tls_server_config.client_ca_file)", t->ca_not_before,
			      t->ca_not_after, &t->ca_warned);
	pthread_mutex_unlock(&t->lock);
	expo_family(e, "ctrlscope_tls_certificate_expiry_timestamp_seconds", "gauge",
		    "When the serving certificate expires (Unix seconds).");
	expo_u64(e, NULL, 0, (uint64_t)(expiry > 0 ? expiry : 0));
	expo_family(e, "ctrlscope_tls_certificate_not_before_timestamp_seconds", "gauge",
		    "When the serving certificate becomes valid (Unix seconds).");
	expo_u64(e, NULL, 0, (uint64_t)(not_before > 0 ? not_before : 0));
	if (t->client_ca_pem) {
		expo_family(e, "ctrlscope_tls_client_ca_expiry_timestamp_seconds", "gauge",
			    "When the first certificate of the client CA bundle expires (Unix "
			    "seconds).");
		expo_u64(e, NULL, 0, (uint64_t)(t->ca_not_after > 0 ? t->ca_not_after : 0));
	}
	expo_family(e, "ctrlscope_tls_certificate_self_signed", "gauge",
		    "1 when the serving certificate was generated at start-up.");
	expo_u64(e, NULL, 0, t->self_signed);
	expo_family(e, "ctrlscope_tls_certificate_reloads_total", "counter",
		    "Reloads of the serving certificate after its files changed, by result.");
	result.value = "success";
	expo_u64(e, &result, 1, atomic_load(&t->reloads_ok));
	result.value = "failure";
	expo_u64(e, &result, 1, atomic_load(&t->reloads_failed));
	expo_family(e, "ctrlscope_tls_handshakes_total", "counter",
		    "TLS handshakes completed, by whether they resumed an earlier session (a "
		    "session ticket) or were full.");
	resumed.value = "false";
	expo_u64(e, &resumed, 1, atomic_load(&t->handshakes[0]));
	resumed.value = "true";
	expo_u64(e, &resumed, 1, atomic_load(&t->handshakes[1]));
}
