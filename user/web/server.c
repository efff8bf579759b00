/* HTTP(S) endpoint: see server.h. Routing, status codes, limits and the hand-off of slow
 * authentication decisions to a worker thread. Not for what authentication decides
 * (auth.c) or how TLS is configured (tls.c). */
#include "server.h"
#include "auth.h"
#include "clock.h"
#include "httputil.h"
#include "log.h"
#include "tls.h"
#include "webconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <zlib.h>

/* Idle connections cost only memory with epoll: allow many. What keeps slow or idle
 * clients from taking every slot is the per-address limit and the header deadline, which a
 * client trickling bytes cannot extend (libmicrohttpd's own timeout is reset by every byte).
 * Each connection may hold at most MEMORY_PER_CONN of request. */
#define CONNECTION_LIMIT 1024
#define ADDRESS_LIMIT	 16 /* connections from one client address */
#define HEADER_DEADLINE	 10 /* seconds from accept to a whole request header */
/* A connection silent this long is closed by libmicrohttpd (not a drop: it is how an idle
 * kept-alive connection ends); one that keeps sending without completing a header meets
 * the agent's deadline a little later. */
#define CONNECTION_TIMEOUT	120
#define KEEPALIVE_IDLE		(CONNECTION_TIMEOUT + 5) /* from a response to the next header */
#define MEMORY_PER_CONN		(32 * 1024)
#define MAX_PENDING		256 /* decisions waiting for the API server or bcrypt */
#define STOP_ANSWER_WAIT_MS	500 /* at a stop, for the answers of deferred requests */
#define HEALTH_CONNECTION_LIMIT 64
#define GZIP_LEVEL		1

enum route { R_METRICS, R_HEALTHZ, R_READYZ, R_ROOT, R_OTHER, R_COUNT };
static const char *const route_paths[R_COUNT] = { "/metrics", "/healthz", "/readyz", "/", "other" };
static const unsigned int codes[] = { 200, 304, 400, 401, 403, 404, 405, 413, 429, 431, 500, 503 };
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

/* A request whose decision is being taken on the worker thread. */
struct job {
	struct job *next;
	struct MHD_Connection *conn;
	char *path;
	char *method;
	char *authorization;
	struct auth_request req;
	struct auth_outcome outcome;
	enum auth_verdict verdict;
	bool decided;
};

/* Why a connection was refused at accept or closed by the agent. */
enum drop { DROP_ADDRESS_LIMIT, DROP_CONNECTION_LIMIT, DROP_HEADER_DEADLINE, DROP_COUNT };
static const char *const drop_reasons[DROP_COUNT] = { "address_limit", "connection_limit",
						      "header_deadline" };

/* One listening daemon: the endpoint, or the health probes' own (health). */
struct listener {
	struct server *s;
	struct MHD_Daemon *daemon;
	const char *name; /* the `listener` label */
	bool health;	  /* serves /healthz and /readyz only, in plain HTTP, to anyone */
	unsigned int limit;
	unsigned int open;
	char address[80];
};

/* An open connection, from accept (the notify callback) to close. deadline: when the
 * request header now awaited must be complete, 0 while a request is being answered. */
struct conn {
	struct conn *prev, *next;
	struct listener *l;
	int fd;
	struct sockaddr_storage addr;
	double deadline;
};

/* A page's bytes, shared by the responses that send it and the snapshot that holds it:
 * freed by the last of them. */
struct blob {
	atomic_uint refs;
	size_t len;
	char *data;
};

/* The last page written in one format, and its gzip once a scraper asked for it: served
 * again while younger than cfg.snapshot_min_age. */
struct snapshot {
	struct blob *plain, *gzip;
	double at; /* CLOCK_MONOTONIC: when its collection began */
};

/* Upper bounds of ctrlscope_snapshot_duration_seconds' buckets. */
static const double snapshot_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					  0.1,	  0.25,	 0.5,	 1,	2.5,  5 };
static const char *const snapshot_les[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01",
					    "0.025",  "0.05",  "0.1",	 "0.25",  "0.5",
					    "1",      "2.5",   "5" };
#define N_SNAPSHOT_BOUNDS (sizeof(snapshot_bounds) / sizeof(snapshot_bounds[0]))
enum phase { PHASE_COLLECT, PHASE_RENDER, PHASE_COMPRESS, PHASE_COUNT };
static const char *const phase_names[PHASE_COUNT] = { "collect", "render", "compress" };

struct server {
	struct server_config cfg;
	double started; /* Unix seconds: when its counters began */

	pthread_mutex_t snap_lock;
	struct snapshot snaps[2]; /* by enum expo_format */
	size_t last_len[2];	  /* of the last page freed */
	pthread_mutex_t stats_lock;
	struct {
		uint64_t buckets[N_SNAPSHOT_BOUNDS + 1];
		double sum;
		double phase[PHASE_COUNT];
		uint64_t reused;
	} stats;

	struct listener main, health;
	struct tls *tls; /* NULL: plain HTTP */
	atomic_ullong requests[R_COUNT][N_CODES];
	atomic_ullong dropped[2][DROP_COUNT]; /* by listener (main, health) */

	/* Open connections of both listeners, and the thread that enforces their header
	 * deadlines. */
	pthread_mutex_t conns_lock;
	pthread_cond_t conns_cond;
	struct conn *conns;
	pthread_t reaper;
	double reaper_wake; /* when the reaper wakes next; 0: when signalled */
	bool reaper_started;
	bool reaper_stopping;

	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	size_t pending;
	size_t unanswered; /* deferred requests whose answer is not sent yet */
	bool stopping;

	double tokens; /* rate limit bucket */
	struct timespec refilled;
};

static const char landing_page[] =
	"<!doctype html>\n<html><head><title>ctrlscope</title></head><body>\n"
	"<h1>ctrlscope</h1>\n"
	"<p>Kernel-level Prometheus metrics for Kubernetes controllers.</p>\n"
	"<ul><li><a href=\"metrics\">metrics</a></li>\n"
	"<li><a href=\"healthz\">healthz</a></li>\n"
	"<li><a href=\"readyz\">readyz</a></li></ul>\n"
	"</body></html>\n";

static enum route route_of(const char *url)
{
	for (int r = 0; r < R_OTHER; r++) {
		if (!strcmp(url, route_paths[r]))
			return (enum route)r;
	}
	return R_OTHER;
}

static void count(struct server *s, enum route r, unsigned int code)
{
	for (size_t i = 0; i < N_CODES; i++) {
		if (codes[i] == code) {
			atomic_fetch_add(&s->requests[r][i], 1);
			return;
		}
	}
}

/* Queue resp (its headers added here) and count it. */
static enum MHD_Result respond(struct server *s, struct MHD_Connection *conn, enum route r,
			       unsigned int code, const char *type, struct MHD_Response *resp,
			       const char *encoding)
{
	enum MHD_Result ret;

	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (size_t i = 0; s->cfg.web && i < s->cfg.web->n_headers; i++)
		MHD_add_response_header(resp, s->cfg.web->headers[i].name,
					s->cfg.web->headers[i].value);
	switch (code) {
	case MHD_HTTP_METHOD_NOT_ALLOWED:
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		break;
	case MHD_HTTP_UNAUTHORIZED:
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					auth_challenge(s->cfg.auth, false));
		if (auth_has_basic(s->cfg.auth))
			MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						auth_challenge(s->cfg.auth, true));
		break;
	case MHD_HTTP_TOO_MANY_REQUESTS:
	case MHD_HTTP_SERVICE_UNAVAILABLE:
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		break;
	}
	if (r == R_METRICS && code == MHD_HTTP_OK) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept, Accept-Encoding");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	if (encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	count(s, r, code);
	return ret;
}

static enum MHD_Result reply(struct server *s, struct MHD_Connection *conn, enum route r,
			     unsigned int code, const char *type, void *body, size_t len,
			     bool free_body, const char *encoding)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, body, free_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);

	if (!resp) {
		if (free_body)
			free(body);
		return MHD_NO;
	}
	return respond(s, conn, r, code, type, resp, encoding);
}

static enum MHD_Result reply_text(struct server *s, struct MHD_Connection *conn, enum route r,
				  unsigned int code, const char *text)
{
	return reply(s, conn, r, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
		     false, NULL);
}

static int gzip_buf(const char *in, size_t in_len, struct buf *out)
{
	z_stream z = { 0 };
	int rc;

	/* 16 + MAX_WBITS: a gzip wrapper rather than zlib's. Level 1: on pages of 4 to 10 MB
	 * it deflates in 40-45% of the default level's (6) time for 5-11% more bytes, and
	 * the scrape's CPU is what a node agent must keep small. */
	if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	buf_init(out);
	if (!buf_reserve(out, deflateBound(&z, (uLong)in_len))) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = (Bytef *)out->data;
	z.avail_out = (uInt)(out->cap - 1);
	rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		buf_free(out);
		return -EIO;
	}
	return 0;
}

static struct blob *blob_of(struct buf *b)
{
	struct blob *blob = malloc(sizeof(*blob));

	if (!blob)
		return NULL;
	atomic_init(&blob->refs, 1);
	blob->data = buf_steal(b, &blob->len);
	return blob;
}

static void blob_put(struct blob *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
		free(b->data);
		free(b);
	}
}

/* libmicrohttpd's free callback: the response that sent b is done with it. */
static void blob_sent(void *cls)
{
	blob_put(cls);
}

static void snapshot_clear(struct snapshot *snap)
{
	blob_put(snap->plain);
	blob_put(snap->gzip);
	*snap = (struct snapshot){ 0 };
}

static void record_snapshot(struct server *s, double collect, double render)
{
	size_t b = 0;

	while (b < N_SNAPSHOT_BOUNDS && collect + render > snapshot_bounds[b])
		b++;
	pthread_mutex_lock(&s->stats_lock);
	s->stats.buckets[b]++;
	s->stats.sum += collect + render;
	s->stats.phase[PHASE_COLLECT] += collect;
	s->stats.phase[PHASE_RENDER] += render;
	pthread_mutex_unlock(&s->stats_lock);
}

/* The snapshot of format to serve now: the cached one while younger than the minimum
 * age, else a fresh collection; with its gzip when gzip. Returns a reference to the blob
 * to send (the caller puts it), or NULL with *err set. Under snap_lock: concurrent
 * scrapers wait for one collection and share it. */
static struct blob *snapshot_get(struct server *s, enum expo_format format, bool gzip,
				 bool *gzipped, int *err)
{
	struct snapshot *snap = &s->snaps[format];
	double now = clock_seconds(CLOCK_MONOTONIC);
	struct blob *out = NULL;
	struct buf body;

	*err = 0;
	pthread_mutex_lock(&s->snap_lock);
	if (snap->plain && now - snap->at < s->cfg.snapshot_min_age) {
		pthread_mutex_lock(&s->stats_lock);
		s->stats.reused++;
		pthread_mutex_unlock(&s->stats_lock);
	} else {
		double collect = 0, t0 = now;

		/* Sized once: as large as the last page and an eighth more. */
		size_t last = snap->plain ? snap->plain->len : s->last_len[format];
		size_t hint = last + last / 8;

		snapshot_clear(snap);
		buf_init(&body);
		if (hint && !buf_reserve(&body, hint))
			buf_init(&body);
		*err = s->cfg.render(s->cfg.ctx, &body, format, &collect);
		if (!*err && !buf_cstr(&body))
			*err = -ENOMEM;
		if (!*err) {
			snap->plain = blob_of(&body);
			*err = snap->plain ? 0 : -ENOMEM;
		}
		buf_free(&body);
		if (*err) {
			pthread_mutex_unlock(&s->snap_lock);
			return NULL;
		}
		snap->at = t0;
		now = clock_seconds(CLOCK_MONOTONIC);
		record_snapshot(s, collect, now - t0 - collect > 0 ? now - t0 - collect : 0);
	}
	if (gzip && !snap->gzip) {
		double t0 = clock_seconds(CLOCK_MONOTONIC);
		struct buf zipped;

		/* Without memory for it, the page goes out uncompressed. */
		if (!gzip_buf(snap->plain->data, snap->plain->len, &zipped))
			snap->gzip = blob_of(&zipped);
		buf_free(&zipped);
		pthread_mutex_lock(&s->stats_lock);
		s->stats.phase[PHASE_COMPRESS] += clock_seconds(CLOCK_MONOTONIC) - t0;
		pthread_mutex_unlock(&s->stats_lock);
	}
	*gzipped = gzip && snap->gzip;
	out = *gzipped ? snap->gzip : snap->plain;
	atomic_fetch_add(&out->refs, 1);
	pthread_mutex_unlock(&s->snap_lock);
	return out;
}

static enum MHD_Result serve_metrics(struct server *s, struct MHD_Connection *conn)
{
	const char *ae =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *accept =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	enum expo_format format = http_accepts_openmetrics(accept) ? EXPO_OPENMETRICS : EXPO_TEXT;
	struct MHD_Response *resp;
	struct blob *blob;
	bool gzipped;
	int err;

	blob = snapshot_get(s, format, ae && http_accepts_gzip(ae), &gzipped, &err);
	if (!blob) {
		log_error("cannot render metrics: %s", strerror(-err));
		return reply_text(s, conn, R_METRICS, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot render metrics\n");
	}
	resp = MHD_create_response_from_buffer_with_free_callback_cls(blob->len, blob->data,
								      blob_sent, blob);
	if (!resp) {
		blob_put(blob);
		return MHD_NO;
	}
	return respond(s, conn, R_METRICS, MHD_HTTP_OK, expo_content_type(format), resp,
		       gzipped ? "gzip" : NULL);
}

static enum MHD_Result serve(struct server *s, struct MHD_Connection *conn, enum route r)
{
	switch (r) {
	case R_METRICS:
		return serve_metrics(s, conn);
	case R_HEALTHZ:
		return reply_text(s, conn, r, MHD_HTTP_OK, "ok\n");
	case R_READYZ:
		if (!atomic_load(s->cfg.ready))
			return reply_text(s, conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
		return reply_text(s, conn, r, MHD_HTTP_OK, "ok\n");
	case R_ROOT:
		return reply(s, conn, r, MHD_HTTP_OK, "text/html; charset=utf-8",
			     (void *)landing_page, sizeof(landing_page) - 1, false, NULL);
	default:
		return reply_text(s, conn, r, MHD_HTTP_NOT_FOUND, "not found\n");
	}
}

static enum MHD_Result answer_verdict(struct server *s, struct MHD_Connection *conn, enum route r,
				      enum auth_verdict v, const struct auth_outcome *o,
				      const char *path)
{
	switch (v) {
	case AUTH_ALLOW:
		return serve(s, conn, r);
	case AUTH_UNAUTHENTICATED:
		log_debug("401 for %s: missing or rejected credentials", path);
		return reply_text(s, conn, r, MHD_HTTP_UNAUTHORIZED, "Unauthorized\n");
	case AUTH_FORBIDDEN:
		log_debug("403 for %s: user \"%s\" is not allowed", path, o->user);
		return reply_text(s, conn, r, MHD_HTTP_FORBIDDEN, "Forbidden\n");
	default:
		return reply_text(s, conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "cannot decide: the API server is unreachable\n");
	}
}

/* Token bucket of the web config's rate_limit: one token per interval, at most burst. */
static bool rate_limited(struct server *s)
{
	const struct web_config *w = s->cfg.web;
	struct timespec now;
	double elapsed;
	bool limited;

	if (!w || !w->rate_interval_ms)
		return false;
	pthread_mutex_lock(&s->lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - s->refilled.tv_sec) * 1000.0 +
		  (double)(now.tv_nsec - s->refilled.tv_nsec) / 1e6;
	s->tokens += elapsed / (double)w->rate_interval_ms;
	if (s->tokens > (double)w->rate_burst)
		s->tokens = (double)w->rate_burst;
	s->refilled = now;
	limited = s->tokens < 1.0;
	if (!limited)
		s->tokens -= 1.0;
	pthread_mutex_unlock(&s->lock);
	return limited;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->path);
	free(j->method);
	if (j->authorization) {
		memset(j->authorization, 0, strlen(j->authorization));
		free(j->authorization);
	}
	free(j);
}

static void *worker_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		struct job *j;
		bool stopping;

		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		if (!s->head) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		/* While stopping, answer without asking anyone. */
		j->verdict = stopping ? AUTH_UNAVAILABLE
				      : auth_check(s->cfg.auth, &j->req, true, &j->outcome);
		if (j->verdict == AUTH_PENDING)
			j->verdict = AUTH_UNAVAILABLE;
		pthread_mutex_lock(&s->lock);
		j->decided = true;
		s->pending--;
		pthread_mutex_unlock(&s->lock);
		MHD_resume_connection(j->conn);
	}
}

/* Suspend the connection and queue its decision; false if the queue is full. */
static bool defer(struct server *s, struct MHD_Connection *conn, const char *path,
		  const char *method, const char *authorization, const struct tls_peer *peer,
		  void **req_cls)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return false;
	j->conn = conn;
	j->path = strdup(path);
	j->method = strdup(method);
	j->authorization = authorization ? strdup(authorization) : NULL;
	if (!j->path || !j->method || (authorization && !j->authorization)) {
		job_free(j);
		return false;
	}
	j->req = (struct auth_request){ j->path, j->method, j->authorization, *peer };
	pthread_mutex_lock(&s->lock);
	if (s->pending >= MAX_PENDING || s->stopping) {
		pthread_mutex_unlock(&s->lock);
		job_free(j);
		return false;
	}
	s->pending++;
	s->unanswered++;
	*req_cls = j;
	MHD_suspend_connection(conn);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return true;
}

static void peer_of(struct server *s, struct MHD_Connection *conn, struct tls_peer *peer)
{
	const union MHD_ConnectionInfo *info;

	memset(peer, 0, sizeof(*peer));
	if (!s->tls || !tls_client_ca_pem(s->tls))
		return;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info && info->tls_session)
		tls_peer_identity(s->tls, info->tls_session, peer);
}

/* The connection's entry (struct conn), or NULL when it could not be tracked. */
static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i ? i->socket_context : NULL;
}

/* With s->conns_lock held. The reaper sleeps until the earliest deadline it knows: wake
 * it only for an earlier one, which is rare (a new connection among kept-alive ones), not
 * for every answered request. */
static void set_deadline_locked(struct server *s, struct conn *c, double deadline)
{
	c->deadline = deadline;
	if (deadline && (!s->reaper_wake || deadline < s->reaper_wake)) {
		s->reaper_wake = deadline;
		pthread_cond_signal(&s->conns_cond);
	}
}

static void set_deadline(struct server *s, struct MHD_Connection *conn, double deadline)
{
	struct conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&s->conns_lock);
	set_deadline_locked(s, c, deadline);
	pthread_mutex_unlock(&s->conns_lock);
}

/* *req_cls of a request whose header was read and whose answer comes at the next call:
 * a response queued at the first call makes libmicrohttpd close the connection (it has
 * not read what may follow the header), which would cost a scraper a TLS handshake per
 * scrape. */
static char header_read;

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct listener *l = cls;
	struct server *s = l->s;
	enum route r = route_of(url);
	struct auth_outcome outcome;
	struct auth_request req;
	const char *authorization;
	enum auth_verdict v;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		/* The whole header is here: its deadline is met. */
		set_deadline(s, conn, 0);
		*req_cls = &header_read;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body, which no path takes: read and dropped */
		return MHD_YES;
	}
	if (l->health) {
		if (r != R_HEALTHZ && r != R_READYZ)
			return reply_text(s, conn, r, MHD_HTTP_NOT_FOUND, "not found\n");
		if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
			return reply_text(s, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method not allowed\n");
		return serve(s, conn, r);
	}
	if (*req_cls != &header_read) {
		struct job *j = *req_cls;

		/* Resumed after the worker decided (the job is freed on completion). */
		return answer_verdict(s, conn, r, j->decided ? j->verdict : AUTH_UNAVAILABLE,
				      &j->outcome, url);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(s, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (r == R_OTHER)
		return reply_text(s, conn, r, MHD_HTTP_NOT_FOUND, "not found\n");
	if (!s->cfg.auth)
		return serve(s, conn, r);
	if (!auth_path_is_open(s->cfg.auth, url) && rate_limited(s))
		return reply_text(s, conn, r, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests\n");
	authorization =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.path = url;
	req.method = method;
	req.authorization = authorization;
	peer_of(s, conn, &req.peer);
	v = auth_check(s->cfg.auth, &req, false, &outcome);
	if (v != AUTH_PENDING)
		return answer_verdict(s, conn, r, v, &outcome, url);
	if (!defer(s, conn, url, method, authorization, &req.peer, req_cls))
		return answer_verdict(s, conn, r, AUTH_UNAVAILABLE, &outcome, url);
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode code)
{
	struct listener *l = cls;

	(void)code;
	if (*req_cls && *req_cls != &header_read) {
		pthread_mutex_lock(&l->s->lock);
		l->s->unanswered--;
		pthread_cond_broadcast(&l->s->cond);
		pthread_mutex_unlock(&l->s->lock);
		job_free(*req_cls);
	}
	*req_cls = NULL;
	/* Kept alive: the next request's header has its own deadline. */
	set_deadline(l->s, conn, clock_seconds(CLOCK_MONOTONIC) + KEEPALIVE_IDLE);
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (b->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* Called for each accepted socket before libmicrohttpd takes it: refuse one past the
 * listener's limit or its address's. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct listener *l = cls;
	struct server *s = l->s;
	enum drop why = DROP_COUNT;
	unsigned int same = 0;

	(void)len;
	pthread_mutex_lock(&s->conns_lock);
	if (l->open >= l->limit) {
		why = DROP_CONNECTION_LIMIT;
	} else {
		for (const struct conn *c = s->conns; c; c = c->next) {
			if (c->l == l && same_address(&c->addr, addr) && ++same >= ADDRESS_LIMIT) {
				why = DROP_ADDRESS_LIMIT;
				break;
			}
		}
	}
	pthread_mutex_unlock(&s->conns_lock);
	if (why == DROP_COUNT)
		return MHD_YES;
	atomic_fetch_add(&s->dropped[l->health][why], 1);
	return MHD_NO;
}

/* libmicrohttpd has no option for session tickets, but the session it made for the
 * connection is there at NOTIFY_STARTED, before the handshake (daemon.c:
 * new_connection_prepare_ sets it up, new_connection_process_ notifies, and the polling
 * thread shakes hands later). */
static void start_tls_session(struct server *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	if (info && info->tls_session)
		tls_session_start(s->tls, info->tls_session);
}

/* Track connections from accept to close. libmicrohttpd reports the close before it
 * closes the socket, so the reaper never shuts down a descriptor already reused. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;
	struct server *s = l->s;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (s->tls && !l->health)
			start_tls_session(s, conn);
		c = calloc(1, sizeof(*c));
		if (!c || !fd)
			goto untracked;
		c->l = l;
		c->fd = fd->connect_fd;
		if (addr && addr->client_addr)
			memcpy(&c->addr, addr->client_addr,
			       addr->client_addr->sa_family == AF_INET6
				       ? sizeof(struct sockaddr_in6)
				       : sizeof(struct sockaddr_in));
		pthread_mutex_lock(&s->conns_lock);
		set_deadline_locked(s, c, clock_seconds(CLOCK_MONOTONIC) + HEADER_DEADLINE);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		l->open++;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = c;
		return;
	untracked: /* no deadline for it; the connection limits still hold */
		free(c);
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&s->conns_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->open--;
	pthread_mutex_unlock(&s->conns_lock);
	free(c);
	*socket_context = NULL;
}

/* Close every connection past its header deadline: shutting the socket down makes
 * libmicrohttpd read the end of it and close the connection on its own thread. It sleeps
 * until the earliest deadline, with none until a connection comes: an idle agent does not
 * wake for it. */
static void *reaper_main(void *arg)
{
	struct server *s = arg;
	struct timespec until;

	pthread_mutex_lock(&s->conns_lock);
	while (!s->reaper_stopping) {
		double now = clock_seconds(CLOCK_MONOTONIC), next = 0;

		for (struct conn *c = s->conns; c; c = c->next) {
			if (!c->deadline)
				continue;
			if (now < c->deadline) {
				if (!next || c->deadline < next)
					next = c->deadline;
				continue;
			}
			shutdown(c->fd, SHUT_RDWR);
			c->deadline = 0;
			atomic_fetch_add(&s->dropped[c->l->health][DROP_HEADER_DEADLINE], 1);
		}
		s->reaper_wake = next;
		if (!next) {
			pthread_cond_wait(&s->conns_cond, &s->conns_lock);
			continue;
		}
		until.tv_sec = (time_t)next;
		until.tv_nsec = (long)((next - (double)until.tv_sec) * 1e9);
		pthread_cond_timedwait(&s->conns_cond, &s->conns_lock, &until);
	}
	pthread_mutex_unlock(&s->conns_lock);
	return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_debug("http: %s", msg);
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%u", host, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

static int open_listener(const struct sockaddr_storage *addr, socklen_t len, char *bound,
			 size_t bound_size)
{
	struct sockaddr_storage actual;
	socklen_t actual_len = sizeof(actual);
	int one = 1, zero = 0, fd, err;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* ":port" means every address of both families. */
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (const struct sockaddr *)addr, len) || listen(fd, 1024) ||
	    getsockname(fd, (struct sockaddr *)&actual, &actual_len)) {
		err = -errno;
		close(fd);
		return err;
	}
	format_address(&actual, bound, bound_size);
	return fd;
}

/* Room for every allowed connection, as far as the hard limit lets us. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool authenticated(const struct server_config *cfg)
{
	return cfg->web && webconfig_authenticates(cfg->web);
}

/* Start l's daemon on address (a --web.*-address flag's value, named flag in messages). */
static int listener_start(struct server *s, struct listener *l, const char *flag,
			  const char *address, char *err, size_t err_size)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			     MHD_ALLOW_SUSPEND_RESUME;
	bool tls = s->tls && !l->health;
	struct MHD_OptionItem opts[16];
	struct sockaddr_storage addr;
	char why[160];
	socklen_t len;
	int fd, n = 0;

	if (http_parse_listen(address, &addr, &len, why, sizeof(why))) {
		snprintf(err, err_size, "--%s=%s: %s", flag, address, why);
		return -EINVAL;
	}
	if (!l->health && !http_addr_is_loopback(&addr) && !authenticated(&s->cfg) &&
	    !s->cfg.allow_unauthenticated) {
		snprintf(err, err_size,
			 "--%s=%s: refusing to serve /metrics without "
			 "authentication on a non-loopback address; configure authentication in "
			 "--web.config.file, listen on 127.0.0.1, or pass "
			 "--web.allow-unauthenticated",
			 flag, address);
		return -EPERM;
	}
	fd = open_listener(&addr, len, l->address, sizeof(l->address));
	if (fd < 0) {
		snprintf(err, err_size, "--%s=%s: cannot listen: %s", flag, address, strerror(-fd));
		return fd;
	}
	/* The logger goes first, or libmicrohttpd prints option errors itself. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	/* accept_policy enforces l->limit; libmicrohttpd's own is a backstop above it. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, l->limit + 16, NULL };
	opts[n++] =
		(struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, MEMORY_PER_CONN,
					     NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, l };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
					     (intptr_t)notify_connection, l };
	if (tls) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
						     tls_cert_callback(s->tls) };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
						     (void *)tls_priorities(s->tls) };
		if (tls_client_ca_pem(s->tls))
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							     (void *)tls_client_ca_pem(s->tls) };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	l->daemon = MHD_start_daemon(flags, 0, accept_policy, l, handle, l, MHD_OPTION_ARRAY, opts,
				     MHD_OPTION_END);
	if (!l->daemon) {
		snprintf(err, err_size, "--%s=%s: cannot start the HTTP%s server", flag, address,
			 tls ? "S" : "");
		close(fd);
		return -EIO;
	}
	if (!l->health && !http_addr_is_loopback(&addr) && !authenticated(&s->cfg))
		log_warn("serving /metrics without authentication on %s "
			 "(--web.allow-unauthenticated)",
			 l->address);
	return 0;
}

int server_start(const struct server_config *cfg, struct server **out, char *err, size_t err_size)
{
	struct server *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	/* A web config always means HTTPS: with its certificate, or a self-signed one. */
	s->tls = cfg->web ? cfg->tls : NULL;
	s->main = (struct listener){ .s = s, .name = "main", .limit = CONNECTION_LIMIT };
	s->health = (struct listener){
		.s = s, .name = "health", .health = true, .limit = HEALTH_CONNECTION_LIMIT
	};
	s->started = clock_seconds(CLOCK_REALTIME);
	pthread_mutex_init(&s->snap_lock, NULL);
	pthread_mutex_init(&s->stats_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->conns_lock, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&s->conns_cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	clock_gettime(CLOCK_MONOTONIC, &s->refilled);
	if (cfg->web)
		s->tokens = (double)cfg->web->rate_burst;
	raise_fd_limit();
	if (pthread_create(&s->reaper, NULL, reaper_main, s)) {
		server_stop(s);
		return -EAGAIN;
	}
	s->reaper_started = true;
	ret = listener_start(s, &s->main, "web.listen-address", cfg->listen, err, err_size);
	if (!ret && cfg->health_listen && *cfg->health_listen)
		ret = listener_start(s, &s->health, "web.health-address", cfg->health_listen, err,
				     err_size);
	if (ret) {
		server_stop(s);
		return ret;
	}
	if (cfg->auth) {
		if (pthread_create(&s->worker, NULL, worker_main, s)) {
			server_stop(s);
			return -EAGAIN;
		}
		s->worker_started = true;
	}
	*out = s;
	return 0;
}

const char *server_address(const struct server *s)
{
	return s->main.address;
}

const char *server_health_address(const struct server *s)
{
	return s->health.daemon ? s->health.address : NULL;
}

const char *server_scheme(const struct server *s)
{
	return s->tls ? "https" : "http";
}

/* Wait until every deferred request is answered, or ms pass. */
static void wait_answered(struct server *s, long ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	deadline.tv_sec += ms / 1000 + deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&s->lock);
	while (s->unanswered && pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
}

void server_stop(struct server *s)
{
	if (!s)
		return;
	if (s->worker_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		/* The worker finishes what is queued (answering 503) and resumes every
		 * suspended connection, so the daemon can stop. */
		pthread_join(s->worker, NULL);
		/* The answers of resumed connections go out from libmicrohttpd's thread: give
		 * them a moment before every connection is closed, so that a scrape in flight
		 * gets its answer rather than a reset. */
		wait_answered(s, STOP_ANSWER_WAIT_MS);
	}
	/* MHD_stop_daemon closes the listen socket it was given, and every connection. */
	if (s->health.daemon)
		MHD_stop_daemon(s->health.daemon);
	if (s->main.daemon)
		MHD_stop_daemon(s->main.daemon);
	if (s->reaper_started) {
		pthread_mutex_lock(&s->conns_lock);
		s->reaper_stopping = true;
		pthread_cond_signal(&s->conns_cond);
		pthread_mutex_unlock(&s->conns_lock);
		pthread_join(s->reaper, NULL);
	}
	pthread_cond_destroy(&s->conns_cond);
	pthread_mutex_destroy(&s->conns_lock);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	for (size_t i = 0; i < sizeof(s->snaps) / sizeof(s->snaps[0]); i++)
		snapshot_clear(&s->snaps[i]);
	pthread_mutex_destroy(&s->snap_lock);
	pthread_mutex_destroy(&s->stats_lock);
	free(s);
}

void server_tick(struct server *s)
{
	double now = clock_seconds(CLOCK_MONOTONIC);
	bool freed = false;

	if (!s)
		return;
	pthread_mutex_lock(&s->snap_lock);
	for (size_t i = 0; i < sizeof(s->snaps) / sizeof(s->snaps[0]); i++) {
		struct snapshot *snap = &s->snaps[i];

		if (snap->plain && now - snap->at >= s->cfg.snapshot_min_age) {
			s->last_len[i] = snap->plain->len;
			snapshot_clear(snap);
			freed = true;
		}
	}
	pthread_mutex_unlock(&s->snap_lock);
#ifdef __GLIBC__
	/* The pages and the scrapes' other buffers stay in the server thread's malloc
	 * arena once freed (glibc raises its mmap threshold past the largest block freed):
	 * give them back between scrapes, not during a burst of them, where reusing them
	 * spares a page fault per 4 KiB. 4 scrapers of 10k series: 20 MB resident without,
	 * 15 MB with. */
	if (freed)
		malloc_trim(0);
#else
	(void)freed;
#endif
}

static void collect_connections(struct server *s, struct expo *e)
{
	const struct listener *ls[2] = { &s->main, &s->health };
	struct label labels[2] = { { "listener", NULL }, { "reason", NULL } };
	unsigned int open[2];

	pthread_mutex_lock(&s->conns_lock);
	open[0] = s->main.open;
	open[1] = s->health.open;
	pthread_mutex_unlock(&s->conns_lock);
	expo_family(e, "ctrlscope_http_connections", "gauge",
		    "Open HTTP connections, by listener: main (--web.listen-address) or health "
		    "(--web.health-address).");
	for (int i = 0; i < 2; i++) {
		if (!ls[i]->daemon)
			continue;
		labels[0].value = ls[i]->name;
		expo_u64(e, labels, 1, open[i]);
	}
	expo_family(e, "ctrlscope_http_connections_dropped_total", "counter",
		    "Connections refused at accept (address_limit: 16 open from one address; "
		    "connection_limit: the listener is full) or closed by the agent "
		    "(header_deadline: no whole request header in time).");
	expo_created(e, s->started);
	for (int i = 0; i < 2; i++) {
		if (!ls[i]->daemon)
			continue;
		labels[0].value = ls[i]->name;
		for (int d = 0; d < DROP_COUNT; d++) {
			labels[1].value = drop_reasons[d];
			expo_u64(e, labels, 2, atomic_load(&s->dropped[i][d]));
		}
	}
}

/* The cost of the pages: not under snap_lock, which the page being written holds. */
static void collect_snapshots(struct server *s, struct expo *e)
{
	uint64_t counts[N_SNAPSHOT_BOUNDS + 1];
	struct expo_hist h = { .le = snapshot_les,
			       .counts = counts,
			       .n_buckets = N_SNAPSHOT_BOUNDS + 1 };
	double phase[PHASE_COUNT];
	struct label l = { "phase", NULL };
	uint64_t reused;

	pthread_mutex_lock(&s->stats_lock);
	memcpy(counts, s->stats.buckets, sizeof(counts));
	memcpy(phase, s->stats.phase, sizeof(phase));
	h.sum = s->stats.sum;
	reused = s->stats.reused;
	pthread_mutex_unlock(&s->stats_lock);
	expo_family(e, "ctrlscope_snapshot_duration_seconds", "histogram",
		    "Time to collect and write a fresh /metrics page (reading the maps and "
		    "writing the series; not compressing).");
	expo_created(e, s->started);
	expo_histogram(e, NULL, 0, &h);
	expo_family(e, "ctrlscope_snapshot_phase_seconds_total", "counter",
		    "Time spent building /metrics pages, by phase: collect (reading the BPF maps), "
		    "render (writing the series) and compress (gzip, once per page that a "
		    "scraper asked for compressed).");
	expo_created(e, s->started);
	for (int i = 0; i < PHASE_COUNT; i++) {
		l.value = phase_names[i];
		expo_f64(e, &l, 1, phase[i]);
	}
	expo_family(e, "ctrlscope_snapshot_reuses_total", "counter",
		    "/metrics answers served from the page of an earlier scrape, younger than "
		    "--web.snapshot-min-age.");
	expo_created(e, s->started);
	expo_u64(e, NULL, 0, reused);
}

void server_collect(struct server *s, struct expo *e)
{
	struct label labels[2] = { { "path", NULL }, { "code", NULL } };
	char code[8];

	collect_snapshots(s, e);
	expo_family(e, "ctrlscope_http_requests_total", "counter",
		    "HTTP requests answered, by path and status code.");
	expo_created(e, s->started);
	for (int r = 0; r < R_COUNT; r++) {
		for (size_t i = 0; i < N_CODES; i++) {
			uint64_t n = atomic_load(&s->requests[r][i]);

			if (!n)
				continue;
			snprintf(code, sizeof(code), "%u", codes[i]);
			labels[0].value = route_paths[r];
			labels[1].value = code;
			expo_u64(e, labels, 2, n);
		}
	}
	collect_connections(s, e);
}
