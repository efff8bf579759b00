/* TLS for the endpoint: the serving certificate (from files, reloaded when they change, or
 * self-signed at start-up), the GnuTLS priority string from the web config, and client
 * certificate verification. libmicrohttpd speaks TLS through GnuTLS; OpenSSL only
 * generates the self-signed certificate. */
#ifndef CTRLSCOPE_TLS_H
#define CTRLSCOPE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "expo.h"
#include "webconfig.h"

#define TLS_MAX_GROUPS 16

/* The verified identity in a client certificate. */
struct tls_peer {
	enum { TLS_PEER_NONE, TLS_PEER_INVALID, TLS_PEER_VALID } state;
	char user[256];			  /* subject CN */
	char groups[TLS_MAX_GROUPS][256]; /* subject O entries */
	size_t n_groups;
	char reason[128]; /* why it is invalid, for the debug log */
};

struct agent_env;
struct tls;

/* A TLS context: loads (or generates, for env's node name and pod IP) the serving
 * certificate. Returns 0, or -errno with one line naming what was wrong in err. */
int tls_open(const struct web_tls *cfg, const struct agent_env *env, struct tls **out, char *err,
	     size_t err_size);
void tls_close(struct tls *t);
/* For libmicrohttpd: the priority string, the client CA PEM (NULL: no client certs), and
 * the per-handshake certificate callback (a gnutls_certificate_retrieve_function2). The
 * callback takes no context: asking for it makes t the one context answering handshakes
 * (a process serves one endpoint). */
const char *tls_priorities(const struct tls *t);
const char *tls_client_ca_pem(const struct tls *t);
void *tls_cert_callback(struct tls *t);
/* Prepare a connection's GnuTLS session, before its handshake: session tickets under t's
 * key, so that a returning client resumes (TLS 1.3 PSK, TLS 1.2 RFC 5077) rather than
 * paying a full handshake, and the count of handshakes. Returns 0, or -EINVAL (logged): the connection then works without resumption. */
int tls_session_start(struct tls *t, void *gnutls_session);
/* Verify the client certificate of a connection's GnuTLS session. */
void tls_peer_identity(const struct tls *t, void *gnutls_session, struct tls_peer *peer);
/* Check the certificate files now (also done at most once a second per handshake). */
void tls_check_reload(struct tls *t);
/* ctrlscope_tls_certificate_expiry_timestamp_seconds, ctrlscope_tls_certificate_reloads_total,
 * ctrlscope_tls_handshakes_total. */
void tls_collect(struct tls *t, struct expo *e);

/* Exposed for tests: whether a certificate valid from not_before to not_after is, at now,
 * valid, not yet valid, expired, or near its expiry (less than a third of its lifetime
 * and less than a week left). */
enum validity { TLS_VALID, TLS_NOT_YET_VALID, TLS_EXPIRED, TLS_NEAR_EXPIRY };
enum validity tls_validity(time_t not_before, time_t not_after, time_t now);

/* Exposed for tests: the GnuTLS priority string for a TLS configuration, or -EINVAL with
 * the offending name in err. */
int tls_build_priorities(const struct web_tls *cfg, char *out, size_t size, char *err,
			 size_t err_size);

#endif
