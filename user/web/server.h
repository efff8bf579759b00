/* The HTTP(S) endpoint: /metrics, /healthz, /readyz and a landing page, served by
 * libmicrohttpd on its own thread, with TLS (tls.c) and authentication (auth.c) when a
 * web config is given. Decisions that need the API server or bcrypt are taken on a worker
 * thread while the connection is suspended, so a slow API server never stalls the server.
 * Optionally a second, plain-HTTP listener answers the health probes alone, so that clients
 * filling the endpoint's connections never fail a liveness probe. It knows nothing about
 * what the metrics are. */
#ifndef CTRLSCOPE_SERVER_H
#define CTRLSCOPE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "buf.h"
#include "expo.h"

struct auth;
struct server;
struct web_config;

struct server_config {
	const char *listen;	      /* --web.listen-address */
	const char *health_listen;    /* --web.health-address: NULL or "" for none */
	bool allow_unauthenticated;   /* serve /metrics without auth on a non-loopback address */
	const struct web_config *web; /* NULL: plain HTTP, no authentication */
	struct tls *tls;	      /* with web: HTTPS */
	struct auth *auth;	      /* with web */
	/* Render the /metrics body; returns 0 or -errno. Called on the server thread. */
	int (*render)(void *ctx, struct buf *out);
	void *ctx;
	const atomic_bool *ready;
};

/* Returns 0, or -errno with one line naming what was wrong in err. */
int server_start(const struct server_config *cfg, struct server **out, char *err, size_t err_size);
/* The bound address, e.g. "127.0.0.1:9464" (with the real port when 0 was asked for). */
const char *server_address(const struct server *s);
const char *server_scheme(const struct server *s);
/* The health listener's bound address, or NULL without one. */
const char *server_health_address(const struct server *s);
void server_stop(struct server *s);
/* ctrlscope_http_requests_total{path,code}, and the connections' gauges and drops. */
void server_collect(struct server *s, struct expo *e);

#endif
