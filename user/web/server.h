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
	/* Render the /metrics body in format; returns 0 or -errno, and the seconds it spent
	 * collecting (reading maps) in *collect_seconds. Called on the server thread. */
	int (*render)(void *ctx, struct buf *out, enum expo_format format, double *collect_seconds);
	void *ctx;
	/* --web.snapshot-min-age: a page younger than this (seconds) answers the next
	 * scrapes in its format; 0: every scrape collects. */
	double snapshot_min_age;
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
/* Once a second: free the pages older than the minimum age, which no scrape will send
 * again (a page of 10k series is a megabyte). */
void server_tick(struct server *s);
/* ctrlscope_http_requests_total{path,code}, the connections' gauges and drops, and the
 * cost of the pages (ctrlscope_snapshot_*). */
void server_collect(struct server *s, struct expo *e);

#endif
