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

/* The value of parameter name (case-insensitive) in params (";a=b;c=d", up to end),
 * unquoted, into out; false without it. */
static bool media_param(const char *params, const char *end, const char *name, char *out,
			size_t size)
{
	size_t name_len = strlen(name);
	const char *p = params;

	while (p < end) {
		const char *next = memchr(p, ';', (size_t)(end - p)), *v, *v_end;
		size_t n;

		next = next ? next : end;
		while (p < next && (*p == ' ' || *p == '\t' || *p == ';'))
			p++;
		if ((size_t)(next - p) > name_len && !strncasecmp(p, name, name_len)) {
			v = p + name_len;
			while (v < next && (*v == ' ' || *v == '\t'))
				v++;
			if (v < next && *v == '=') {
				v++;
				while (v < next && (*v == ' ' || *v == '\t'))
					v++;
				v_end = next;
				while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
					v_end--;
				if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
					v++;
					v_end--;
				}
				n = (size_t)(v_end - v);
				if (n >= size)
					n = size - 1;
				memcpy(out, v, n);
				out[n] = 0;
				return true;
			}
		}
		p = next + 1;
	}
	return false;
}

bool http_accepts_openmetrics(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	const char *p = accept;
	double q_om = 0, q_text = 0;

	while (p && *p) {
		const char *end = strchr(p, ','), *semi;
		const char *item_end = end ? end : p + strlen(p);
		size_t type_len;
		char value[16];
		double q = 1.0;

		while (p < item_end && (*p == ' ' || *p == '\t'))
			p++;
		semi = memchr(p, ';', (size_t)(item_end - p));
		type_len = (size_t)((semi ? semi : item_end) - p);
		while (type_len && (p[type_len - 1] == ' ' || p[type_len - 1] == '\t'))
			type_len--;
		if (semi && media_param(semi, item_end, "q", value, sizeof(value)))
			q = strtod(value, NULL);
		if (!(q > 0) || q > 1)
			q = q > 1 ? 1 : 0;
		if (type_len == sizeof(om) - 1 && !strncasecmp(p, om, type_len)) {
			/* 1.0.0, or no version: 0.0.1 was a draft this agent does not write. */
			if ((!semi ||
			     !media_param(semi, item_end, "version", value, sizeof(value)) ||
			     !strcmp(value, "1.0.0")) &&
			    q > q_om)
				q_om = q;
		} else if ((type_len == 10 && !strncasecmp(p, "text/plain", 10)) ||
			   (type_len == 6 && !strncasecmp(p, "text/*", 6)) ||
			   (type_len == 3 && !strncmp(p, "*/*", 3))) {
			if (q > q_text)
				q_text = q;
		}
		p = end ? end + 1 : NULL;
	}
	return q_om > 0 && q_om >= q_text;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after padding */
				return -EINVAL;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return -EINVAL;
		}
		/* Canonical encoding only: the bits padding leaves over must be zero. */
		if ((pad == 2 && (v[1] & 0xf)) || (pad == 1 && (v[2] & 0x3)))
			return -EINVAL;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return (long)o;
}

void http_parse_authorization(const char *header, struct http_auth *out)
{
	const char *p = header, *sp, *end;
	size_t scheme_len;

	memset(out, 0, sizeof(*out));
	if (!header)
		return;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return;
	out->scheme = HTTP_AUTH_OTHER;
	sp = p;
	while (*sp && *sp != ' ' && *sp != '\t')
		sp++;
	scheme_len = (size_t)(sp - p);
	while (*sp == ' ' || *sp == '\t')
		sp++;
	end = sp + strlen(sp);
	while (end > sp && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	/* One credential token: no blanks inside (token68). */
	for (const char *c = sp; c < end; c++) {
		if (*c == ' ' || *c == '\t')
			return;
	}
	if (end == sp)
		return;
	if (scheme_len == 6 && !strncasecmp(p, "bearer", 6))
		out->scheme = HTTP_AUTH_BEARER;
	else if (scheme_len == 5 && !strncasecmp(p, "basic", 5))
		out->scheme = HTTP_AUTH_BASIC;
	else
		return;
	out->credentials = sp;
	out->len = (size_t)(end - sp);
}
