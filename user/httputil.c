/* HTTP helpers: see httputil.h. */
#include "httputil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_port(const char *s, unsigned short *port)
{
	char *end;
	long v;

	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < 0 || v > 65535)
		return -EINVAL;
	*port = (unsigned short)v;
	return 0;
}

int http_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, char *err,
		      size_t err_size)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char host[256], portstr[8];
	const char *colon;
	unsigned short port;
	int rc;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host)) {
			snprintf(err, err_size, "expected [ipv6]:port");
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon || (size_t)(colon - text) >= sizeof(host)) {
			snprintf(err, err_size, "expected host:port or :port");
			return -EINVAL;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		if (strchr(host, ':')) {
			snprintf(err, err_size, "an IPv6 address must be in brackets: [addr]:port");
			return -EINVAL;
		}
	}
	if (parse_port(colon + 1, &port)) {
		snprintf(err, err_size, "expected a port from 0 to 65535 after the last ':'");
		return -EINVAL;
	}
	if (!host[0]) {
		struct sockaddr_in6 *any = (struct sockaddr_in6 *)addr;

		any->sin6_family = AF_INET6;
		any->sin6_addr = in6addr_any;
		any->sin6_port = htons(port);
		*len = sizeof(*any);
		return 0;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc || !res) {
		snprintf(err, err_size, "cannot resolve \"%s\": %s", host,
			 rc ? gai_strerror(rc) : "no address");
		return -EINVAL;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

bool http_addr_is_loopback(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (addr->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		const unsigned char *b = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
	}
	return false;
}

bool http_accepts_gzip(const char *header)
{
	const char *p = header;
	int gzip = -1, any = -1; /* -1: not mentioned, else whether q > 0 */

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *tok = p, *semi;
		size_t tok_len;
		double q = 1.0;

		while (len && (*tok == ' ' || *tok == '\t')) {
			tok++;
			len--;
		}
		semi = memchr(tok, ';', len);
		tok_len = semi ? (size_t)(semi - tok) : len;
		while (tok_len && (tok[tok_len - 1] == ' ' || tok[tok_len - 1] == '\t'))
			tok_len--;
		if (semi) {
			const char *qp = semi + 1;

			while (qp < tok + len && (*qp == ' ' || *qp == '\t'))
				qp++;
			if (qp + 2 <= tok + len && (qp[0] == 'q' || qp[0] == 'Q') && qp[1] == '=') {
				char num[8] = { 0 };
				size_t n = (size_t)(tok + len - qp - 2);

				memcpy(num, qp + 2, n < sizeof(num) - 1 ? n : sizeof(num) - 1);
				q = strtod(num, NULL);
			}
		}
		/* x-gzip is gzip's old name (RFC 9110 8.4.1.3). */
		if ((tok_len == 4 && !strncasecmp(tok, "gzip", 4)) ||
		    (tok_len == 6 && !strncasecmp(tok, "x-gzip", 6)))
			gzip = q > 0;
		else if (tok_len == 1 && tok[0] == '*')
			any = q > 0;
		p = end ? end + 1 : NULL;
	}
	/* An explicit gzip entry wins over "*" (RFC 9110 12.5.3). */
	return gzip >= 0 ? gzip : any > 0;
}
