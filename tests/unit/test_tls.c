/* Unit tests for the GnuTLS priority string built from tls_server_config
 * (tls_build_priorities in user/web/tls.h): exact strings for the defaults, versions, Go cipher
 * suite and curve names, each accepted by GnuTLS itself, and one line naming an unknown
 * name; and session resumption, with real handshakes over a socket pair and the handshake
 * counts they leave. Certificates, reloads and client verification are tested end to end by
 * tests/e2e. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "env.h"
#include "tls.h"

/* A tls_server_config as webconfig.c leaves it: 1.2 to 1.3, the server's cipher order. */
static struct web_tls defaults(void)
{
	struct web_tls t;

	memset(&t, 0, sizeof(t));
	t.present = true;
	t.min_version = 12;
	t.max_version = 13;
	t.prefer_server_cipher_suites = true;
	return t;
}

/* GnuTLS must take what we build: a priority string it rejects fails every handshake. */
static void assert_gnutls_accepts(const char *prio)
{
	gnutls_priority_t p;
	const char *at = NULL;
	int rc = gnutls_priority_init(&p, prio, &at);

	if (rc < 0)
		fail_msg("GnuTLS rejects \"%s\" at \"%s\": %s", prio, at ? at : "?",
			 gnutls_strerror(rc));
	gnutls_priority_deinit(p);
}

static void check(const struct web_tls *t, const char *want)
{
	char out[1024], err[256] = "";

	memset(out, 'X', sizeof(out));
	assert_int_equal(tls_build_priorities(t, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(out, want);
	assert_gnutls_accepts(out);
}

static void check_error(const struct web_tls *t, const char *want)
{
	char out[1024], err[256];

	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
	assert_int_equal(tls_build_priorities(t, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

#define GROUPS ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1"

static void test_defaults(void **state)
{
	struct web_tls t = defaults();

	(void)state;
	/* X25519 first: clients send its key share alone (no HelloRetryRequest). */
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3" GROUPS ":%SERVER_PRECEDENCE");
	t.prefer_server_cipher_suites = false;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3" GROUPS);
	/* Zero versions are the defaults too (a struct not from webconfig_parse). */
	memset(&t, 0, sizeof(t));
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3" GROUPS);
}

static void test_versions(void **state)
{
	struct web_tls t = defaults();

	(void)state;
	t.min_version = 10;
	t.max_version = 11;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1" GROUPS ":%SERVER_PRECEDENCE");
	t.min_version = 13;
	t.max_version = 13;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.3" GROUPS ":%SERVER_PRECEDENCE");
	t.min_version = 10;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.0:+VERS-TLS1.1:+VERS-TLS1.2:+VERS-TLS1.3" GROUPS
		  ":%SERVER_PRECEDENCE");
}

static void test_suites_and_curves(void **state)
{
	char *suites[] = { "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
			   "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
			   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
			   "TLS_RSA_WITH_AES_256_CBC_SHA" };
	char *curves[] = { "X25519", "CurveP256", "CurveP384", "CurveP521" };
	struct web_tls t = defaults();

	(void)state;
	t.cipher_suites.items = suites;
	t.cipher_suites.n = 4;
	/* Each key exchange, cipher and MAC once, in the order first named. */
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:-KX-ALL:-CIPHER-ALL:-MAC-ALL:"
		  "+ECDHE-RSA:+AES-128-GCM:+AEAD:+ECDHE-ECDSA:+CHACHA20-POLY1305:+RSA:+AES-256-CBC:"
		  "+SHA1" GROUPS ":%SERVER_PRECEDENCE");

	t.curves.items = curves;
	t.curves.n = 4;
	t.prefer_server_cipher_suites = false;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:-KX-ALL:-CIPHER-ALL:-MAC-ALL:"
		  "+ECDHE-RSA:+AES-128-GCM:+AEAD:+ECDHE-ECDSA:+CHACHA20-POLY1305:+RSA:+AES-256-CBC:"
		  "+SHA1:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
		  "+GROUP-SECP521R1");

	t.cipher_suites.n = 0;
	t.curves.n = 1;
	check(&t, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519");
}

static void test_unknown_names(void **state)
{
	char *suites[] = { "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256" };
	char *curves[] = { "CurveP256", "P-384" };
	struct web_tls t = defaults();

	(void)state;
	/* TLS 1.3 suites are not configurable, in Go as here. */
	t.cipher_suites.items = suites;
	t.cipher_suites.n = 2;
	check_error(&t, "tls_server_config.cipher_suites: unknown or unsupported cipher suite "
			"\"TLS_AES_128_GCM_SHA256\"");
	t.cipher_suites.n = 0;
	t.curves.items = curves;
	t.curves.n = 2;
	check_error(&t, "tls_server_config.curve_preferences: unknown curve \"P-384\" (expected "
			"CurveP256, CurveP384, CurveP521 or X25519)");
}

static void test_too_long(void **state)
{
	struct web_tls t = defaults();
	char out[32], err[256] = "";

	(void)state;
	assert_int_equal(tls_build_priorities(&t, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tls_server_config: too many cipher suites or curves");
}

static void test_validity(void **state)
{
	const time_t day = 24 * 3600, nb = 1000000000, year = 365 * day;

	(void)state;
	assert_int_equal(tls_validity(nb, nb + year, nb - 1), TLS_NOT_YET_VALID);
	assert_int_equal(tls_validity(nb, nb + year, nb), TLS_VALID);
	assert_int_equal(tls_validity(nb, nb + year, nb + year - 8 * day), TLS_VALID);
	/* A year's certificate: near expiry in its last week only. */
	assert_int_equal(tls_validity(nb, nb + year, nb + year - 7 * day + 1), TLS_NEAR_EXPIRY);
	assert_int_equal(tls_validity(nb, nb + year, nb + year), TLS_EXPIRED);
	assert_int_equal(tls_validity(nb, nb + year, nb + 2 * year), TLS_EXPIRED);
	/* A day's certificate: in its last third (8 hours), not all its life. */
	assert_int_equal(tls_validity(nb, nb + day, nb + 15 * 3600), TLS_VALID);
	assert_int_equal(tls_validity(nb, nb + day, nb + 17 * 3600), TLS_NEAR_EXPIRY);
}

/* The server's side of one connection, as libmicrohttpd sets it up (daemon.c:
 * new_connection_prepare_), with tls_session_start where server.c calls it. */
struct server_side {
	struct tls *t;
	gnutls_certificate_credentials_t cred;
	int fd;
	int rc;
};

static void *serve_one(void *arg)
{
	struct server_side *sv = arg;
	gnutls_session_t s;

	assert_int_equal(gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL), 0);
	assert_int_equal(gnutls_priority_set_direct(s, tls_priorities(sv->t), NULL), 0);
	assert_int_equal(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, sv->cred), 0);
	assert_int_equal(tls_session_start(sv->t, s), 0);
	gnutls_transport_set_int(s, sv->fd);
	do {
		sv->rc = gnutls_handshake(s);
	} while (sv->rc < 0 && !gnutls_error_is_fatal(sv->rc));
	/* A byte of data: a TLS 1.3 client reads the tickets sent after the handshake on
	 * its way to it. */
	if (!sv->rc)
		gnutls_record_send(s, "x", 1);
	gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	close(sv->fd);
	return NULL;
}

/* One connection from a GnuTLS client speaking version (a priority string), offering the
 * session in *data (if any) and leaving there the session to resume next. Returns whether
 * the server resumed. */
static bool connect_once(struct server_side *sv, const char *version, gnutls_datum_t *data)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t c;
	pthread_t thread;
	int fds[2], rc;
	char byte;
	bool resumed;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	sv->fd = fds[1];
	assert_int_equal(pthread_create(&thread, NULL, serve_one, sv), 0);
	assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
	assert_int_equal(gnutls_init(&c, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL), 0);
	assert_int_equal(gnutls_priority_set_direct(c, version, NULL), 0);
	assert_int_equal(gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, cred), 0);
	if (data->data)
		assert_int_equal(gnutls_session_set_data(c, data->data, data->size), 0);
	gnutls_transport_set_int(c, fds[0]);
	do {
		rc = gnutls_handshake(c);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	assert_int_equal(rc, 0);
	do { /* AGAIN after each post-handshake message (a ticket) */
		rc = (int)gnutls_record_recv(c, &byte, 1);
	} while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
	assert_int_equal(rc, 1);
	resumed = gnutls_session_is_resumed(c);
	gnutls_free(data->data);
	if (gnutls_session_get_data2(c, data) < 0) /* TLS 1.3 with no ticket: none to offer */
		*data = (gnutls_datum_t){ 0 };
	gnutls_bye(c, GNUTLS_SHUT_WR);
	gnutls_deinit(c);
	close(fds[0]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(sv->rc, 0);
	gnutls_certificate_free_credentials(cred);
	return resumed;
}

static void assert_handshakes(struct tls *t, int full, int resumed)
{
	struct buf b;
	struct expo e;
	char want[128];

	buf_init(&b);
	expo_init(&e, &b);
	tls_collect(t, &e);
	snprintf(want, sizeof(want), "ctrlscope_tls_handshakes_total{resumed=\"false\"} %d\n",
		 full);
	if (!strstr(buf_cstr(&b), want))
		fail_msg("no \"%s\" in:\n%s", want, buf_cstr(&b));
	snprintf(want, sizeof(want), "ctrlscope_tls_handshakes_total{resumed=\"true\"} %d\n",
		 resumed);
	if (!strstr(buf_cstr(&b), want))
		fail_msg("no \"%s\" in:\n%s", want, buf_cstr(&b));
	buf_free(&b);
}

/* A client back with the session of its last connection resumes it, in TLS 1.3 (a PSK from
 * a NewSessionTicket) and in TLS 1.2 (an RFC 5077 ticket); one with no session or with a
 * ticket of another agent (another key: a restart) gets a full handshake. */
static void test_resumption(void **state)
{
	static const char *const versions[] = { "NORMAL:-VERS-ALL:+VERS-TLS1.3",
						"NORMAL:-VERS-ALL:+VERS-TLS1.2" };
	struct web_tls cfg = defaults();
	struct agent_env env = { 0 };
	struct server_side sv = { 0 }, other = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(tls_open(&cfg, &env, &other.t, err, sizeof(err)), 0);
	assert_int_equal(tls_open(&cfg, &env, &sv.t, err, sizeof(err)), 0);
	assert_int_equal(gnutls_certificate_allocate_credentials(&sv.cred), 0);
	gnutls_certificate_set_retrieve_function2(sv.cred, tls_cert_callback(sv.t));
	other.cred = sv.cred;
	for (int v = 0; v < 2; v++) {
		gnutls_datum_t data = { 0 };

		assert_false(connect_once(&sv, versions[v], &data));
		assert_true(connect_once(&sv, versions[v], &data));
		assert_true(
			connect_once(&sv, versions[v], &data)); /* a ticket from a resumed one */
		assert_handshakes(sv.t, v + 1, 2 * (v + 1));
		/* Another agent (another ticket key, as after a restart) cannot resume it. */
		assert_false(connect_once(&other, versions[v], &data));
		gnutls_free(data.data);
	}
	assert_handshakes(sv.t, 2, 4);
	assert_handshakes(other.t, 2, 0);
	gnutls_certificate_free_credentials(sv.cred);
	tls_close(sv.t);
	tls_close(other.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),	  cmocka_unit_test(test_versions),
		cmocka_unit_test(test_suites_and_curves), cmocka_unit_test(test_unknown_names),
		cmocka_unit_test(test_too_long),	  cmocka_unit_test(test_validity),
		cmocka_unit_test(test_resumption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
