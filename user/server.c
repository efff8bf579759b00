/* HTTP endpoint: see server.h. Not for authentication or TLS (they wrap the handler in
 * auth.c and tls.c). */
#include "server.h"
#include "httputil.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include <zlib.h>

/* Enough for every scraper and prober of one node; a client beyond this waits in the
 * kernel's accept queue instead of taking memory. */
#define CONNECTION_LIMIT   64
#define CONNECTION_TIMEOUT 10 /* seconds idle before a connection is closed */
#define MEMORY_PER_CONN	   (32 * 1024)

enum route { R_METRICS, R_HEALTHZ, R_READYZ, R_ROOT, R_OTHER, R_COUNT };
static const char *const route_paths[R_COUNT] = { "/metrics", "/healthz", "/readyz", "/", "other" };
static const unsigned int codes[] = { 200, 304, 400, 404, 405, 413, 431, 500, 503 };
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

struct server {
	struct server_config cfg;
	struct MHD_Daemon *daemon;
	char address[80];
	atomic_ullong requests[R_COUNT][N_CODES];
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

static enum MHD_Result reply(struct server *s, struct MHD_Connection *conn, enum route r,
			     unsigned int code, const char *type, void *body, size_t len,
			     bool free_body, const char *encoding)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
		len, body, free_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (free_body)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (r == R_METRICS) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	}
	if (encoding)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	count(s, r, code);
	return ret;
}

static enum MHD_Result reply_text(struct server *s, struct MHD_Connection *conn, enum route r,
				  unsigned int code, const char *text)
{
	return reply(s, conn, r, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
		     false, NULL);
}

static int gzip_buf(const struct buf *in, struct buf *out)
{
	z_stream z = { 0 };
	int rc;

	/* 16 + MAX_WBITS: a gzip wrapper rather than zlib's. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	buf_init(out);
	if (!buf_reserve(out, deflateBound(&z, (uLong)in->len))) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in->data;
	z.avail_in = (uInt)in->len;
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

static enum MHD_Result serve_metrics(struct server *s, struct MHD_Connection *conn)
{
	const char *ae =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	struct buf body, zipped;
	void *data;
	size_t len;
	int err;

	buf_init(&body);
	err = s->cfg.render(s->cfg.ctx, &body);
	if (err || !buf_cstr(&body)) {
		buf_free(&body);
		log_error("cannot render metrics: %s", strerror(err ? -err : ENOMEM));
		return reply_text(s, conn, R_METRICS, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot render metrics\n");
	}
	if (ae && http_accepts_gzip(ae) && !gzip_buf(&body, &zipped)) {
		buf_free(&body);
		data = buf_steal(&zipped, &len);
		return reply(s, conn, R_METRICS, MHD_HTTP_OK, EXPO_CONTENT_TYPE, data, len, true,
			     "gzip");
	}
	data = buf_steal(&body, &len);
	return reply(s, conn, R_METRICS, MHD_HTTP_OK, EXPO_CONTENT_TYPE, data, len, true, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_size, void **req_cls)
{
	struct server *s = cls;
	enum route r = route_of(url);

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(s, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
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
	if (bind(fd, (const struct sockaddr *)addr, len) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&actual, &actual_len)) {
		err = -errno;
		close(fd);
		return err;
	}
	format_address(&actual, bound, bound_size);
	return fd;
}

int server_start(const struct server_config *cfg, struct server **out, char *err, size_t err_size)
{
	struct sockaddr_storage addr;
	struct server *s;
	char why[160];
	socklen_t len;
	int fd;

	if (http_parse_listen(cfg->listen, &addr, &len, why, sizeof(why))) {
		snprintf(err, err_size, "--web.listen-address=%s: %s", cfg->listen, why);
		return -EINVAL;
	}
	if (!http_addr_is_loopback(&addr) && !cfg->allow_unauthenticated) {
		snprintf(err, err_size,
			 "--web.listen-address=%s: refusing to serve /metrics without "
			 "authentication on a non-loopback address; listen on 127.0.0.1 or pass "
			 "--web.allow-unauthenticated",
			 cfg->listen);
		return -EPERM;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	fd = open_listener(&addr, len, s->address, sizeof(s->address));
	if (fd < 0) {
		snprintf(err, err_size, "--web.listen-address=%s: cannot listen: %s", cfg->listen,
			 strerror(-fd));
		free(s);
		return fd;
	}
	/* The logger goes first, or libmicrohttpd prints option errors itself. */
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_PER_CONN, MHD_OPTION_END);
	if (!s->daemon) {
		snprintf(err, err_size, "--web.listen-address=%s: cannot start the HTTP server",
			 cfg->listen);
		close(fd);
		free(s);
		return -EIO;
	}
	if (!http_addr_is_loopback(&addr))
		log_warn("serving /metrics without authentication on %s "
			 "(--web.allow-unauthenticated)",
			 s->address);
	*out = s;
	return 0;
}

const char *server_address(const struct server *s)
{
	return s->address;
}

void server_stop(struct server *s)
{
	if (!s)
		return;
	/* MHD_stop_daemon closes the listen socket it was given. */
	MHD_stop_daemon(s->daemon);
	free(s);
}

void server_collect(struct server *s, struct expo *e)
{
	struct label labels[2] = { { "path", NULL }, { "code", NULL } };
	char code[8];

	expo_family(e, "ctrlscope_http_requests_total", "counter",
		    "HTTP requests answered, by path and status code.");
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
}
