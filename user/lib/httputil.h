/* Small HTTP helpers with no I/O, kept apart so they can be unit-tested and fuzzed:
 * listen-address parsing, Accept-Encoding negotiation, and the Authorization header
 * (Bearer and Basic, with base64). */
#ifndef CTRLSCOPE_HTTPUTIL_H
#define CTRLSCOPE_HTTPUTIL_H

#include <stdbool.h>
#include <sys/socket.h>

/* Parse "host:port", "[v6]:port" or ":port" (all interfaces, IPv4 and IPv6). host may
 * be a name, resolved once. Returns 0, or -EINVAL with a reason in err. */
int http_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err,
		      size_t err_size);
bool http_addr_is_loopback(const struct sockaddr_storage *addr);
/* Whether an Accept-Encoding header value accepts gzip (RFC 9110 12.5.3, q=0 refuses). */
bool http_accepts_gzip(const char *accept_encoding);
/* Whether an Accept header value asks for OpenMetrics 1.0.0 text (version=1.0.0 or none) at
 * least as much as for the text format (text/plain, or a wildcard that covers it); NULL:
 * no. */
bool http_accepts_openmetrics(const char *accept);

/* Strict base64 (RFC 4648 4, padding required): returns the decoded length, or -EINVAL.
 * out needs room for 3 * len / 4 bytes. */
long base64_decode(const char *in, size_t len, unsigned char *out);

/* An Authorization header split into scheme (case-insensitive) and credentials. */
enum http_auth_scheme { HTTP_AUTH_NONE, HTTP_AUTH_BEARER, HTTP_AUTH_BASIC, HTTP_AUTH_OTHER };
struct http_auth {
	enum http_auth_scheme scheme;
	const char *credentials; /* points into the header; NUL-terminated by it */
	size_t len;
};
/* Parse "Bearer <token>" or "Basic <base64>" (RFC 9110 11.6.2: scheme SP credentials,
 * leading and trailing blanks ignored). An empty credential is HTTP_AUTH_OTHER. */
void http_parse_authorization(const char *header, struct http_auth *out);

#endif
