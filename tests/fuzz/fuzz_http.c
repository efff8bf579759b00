/* libFuzzer target for the HTTP helpers (user/lib/httputil.c): Accept-Encoding negotiation on
 * any NUL-terminated header, checked against RFC 9110 where the header is well-formed, and
 * listen-address parsing on numeric addresses only. http_parse_listen resolves host names,
 * so an input whose host is not an IPv4/IPv6 literal is never passed to it: a fuzzer must
 * not send DNS queries. Not for the server itself (server.c). */
#include "httputil.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- Accept-Encoding ------------------------------------------------------------------ */

/* Call fn on an exact-size copy, so that a read past the terminator is an ASan report. */
static bool on_copy(bool (*fn)(const char *), const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	bool r;

	CHECK(copy);
	memcpy(copy, text, len);
	copy[len] = 0;
	r = fn(copy);
	free(copy);
	return r;
}

static bool accepts(const char *text, size_t len)
{
	return on_copy(http_accepts_gzip, text, len);
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); *positive: q > 0. */
static bool parse_qvalue(const char *s, const char *end, bool *positive)
{
	bool one;

	if (s == end || (*s != '0' && *s != '1'))
		return false;
	one = *s++ == '1';
	*positive = one;
	if (s == end)
		return true;
	if (*s++ != '.' || end - s > 3)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || (one && *s != '0'))
			return false;
		*positive = *positive || *s != '0';
	}
	return true;
}

/* RFC 9110 12.5.3, for headers in the grammar with gzip and "*" each listed at most once:
 * gzip is acceptable if listed with q > 0, else if "*" is listed with q > 0. Returns -1
 * for headers outside that subset (duplicates are ambiguous, junk is undefined). */
static int model_accepts_gzip(const char *s, size_t len)
{
	const char *end = s + len;
	int gzip = -1, any = -1;

	while (s <= end) {
		const char *e = memchr(s, ',', (size_t)(end - s)), *tok, *tok_end, *p;
		bool positive = true;

		e = e ? e : end;
		p = s;
		while (p < e && is_ows(*p))
			p++;
		tok = p;
		while (p < e && is_tchar(*p))
			p++;
		tok_end = p;
		while (p < e && is_ows(*p))
			p++;
		if (tok == tok_end && p != e)
			return -1;
		if (p < e) {
			const char *q_end = e;

			if (*p++ != ';')
				return -1;
			while (p < e && is_ows(*p))
				p++;
			if (e - p < 2 || (*p != 'q' && *p != 'Q') || p[1] != '=')
				return -1;
			while (q_end > p && is_ows(q_end[-1]))
				q_end--;
			if (!parse_qvalue(p + 2, q_end, &positive))
				return -1;
		}
		if ((tok_end - tok == 4 && !strncasecmp(tok, "gzip", 4)) ||
		    (tok_end - tok == 6 && !strncasecmp(tok, "x-gzip", 6))) {
			if (gzip >= 0)
				return -1;
			gzip = positive;
		} else if (tok_end - tok == 1 && *tok == '*') {
			if (any >= 0)
				return -1;
			any = positive;
		}
		s = e + 1;
	}
	return gzip >= 0 ? gzip : any > 0;
}

static void check_accept_encoding(const char *text, size_t len)
{
	static const char *const suffixes[] = { ",gzip", ", GZIP;q=1", ",gzip;q=0",
						", gzip ; Q=0.000" };
	bool r = accepts(text, len), flipped;
	char *tmp = malloc(len + 32);
	int want = model_accepts_gzip(text, len);

	CHECK(tmp);
	/* Same answer twice: no state. */
	CHECK(accepts(text, len) == r);
	/* Where the header is well-formed, the RFC's answer. */
	if (want >= 0 && r != want)
		note(want ? "gzip refused, RFC 9110 accepts it"
			  : "gzip accepted, RFC 9110 refuses it",
		     text, len);
	CHECK(want < 0 || r == want);
	/* gzip and "*" are the only ways to say yes. */
	if (r)
		CHECK(strchr(text, '*') || strcasestr(text, "gzip"));
	/* Codings and the "q" parameter are case-insensitive (RFC 9110 8.4.1, 12.4.2). */
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		tmp[i] = (c >= 'a' && c <= 'z') ? c - 32 : (c >= 'A' && c <= 'Z') ? c + 32 : c;
	}
	flipped = accepts(tmp, len);
	CHECK(flipped == r);
	/* A last, separate gzip element decides (one element per comma). */
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t n = strlen(suffixes[i]);

		memcpy(tmp, text, len);
		memcpy(tmp + len, suffixes[i], n);
		CHECK(accepts(tmp, len + n) == (i < 2));
	}
	free(tmp);
}

/* --- listen address ------------------------------------------------------------------- */

/* The host part exactly as http_parse_listen cuts it; false when it rejects the text
 * before resolving anything (then any input is safe to pass). */
static bool listen_host(const char *text, char *host, size_t size)
{
	const char *end;

	if (text[0] == '[') {
		end = strchr(text, ']');
		text++;
	} else {
		end = strrchr(text, ':');
	}
	if (!end || (size_t)(end - text) >= size)
		return false;
	memcpy(host, text, (size_t)(end - text));
	host[end - text] = 0;
	return true;
}

static bool is_numeric_host(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static bool loopback_model(const struct sockaddr_storage *ss)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (ss->ss_family == AF_INET)
		return ((const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr)[0] ==
		       127;
	if (ss->ss_family == AF_INET6) {
		const unsigned char *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;

		return !memcmp(a, &in6addr_loopback, 16) ||
		       (!memcmp(a, mapped, 12) && a[12] == 127);
	}
	return false;
}

static void check_listen(const char *text, size_t len)
{
	struct sockaddr_storage addr;
	socklen_t addr_len = 0;
	char host[256], err[128], *copy;
	const char *colon;
	long port;
	int ret;

	/* No letters but hex digits (the brief: only "[]:.", digits and hex), and the host, if
	 * any, an address literal: getaddrinfo() then never asks a resolver. */
	if (strspn(text, "0123456789abcdefABCDEF[]:.") != len)
		return;
	if (listen_host(text, host, sizeof(host)) && host[0] && !is_numeric_host(host))
		return;
	copy = strndup(text, len);
	CHECK(copy);
	memset(err, 0xa5, sizeof(err));
	ret = http_parse_listen(copy, &addr, &addr_len, err, sizeof(err));
	free(copy);
	CHECK(ret == 0 || ret == -EINVAL);
	if (ret) {
		CHECK(memchr(err, 0, sizeof(err)) && err[0]);
		return;
	}
	/* Accepted: the port is all digits after the last ':', at most 65535. */
	colon = strrchr(text, ':');
	CHECK(colon && colon[1]);
	CHECK(strspn(colon + 1, "0123456789") == strlen(colon + 1));
	port = strtol(colon + 1, NULL, 10);
	CHECK(port >= 0 && port <= 65535);
	CHECK(listen_host(text, host, sizeof(host)));
	if (addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;
		struct in_addr want;

		CHECK(addr_len == sizeof(*in) && ntohs(in->sin_port) == port);
		CHECK(inet_pton(AF_INET, host, &want) == 1 && in->sin_addr.s_addr == want.s_addr);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr;
		struct in6_addr want = in6addr_any;

		CHECK(addr.ss_family == AF_INET6);
		CHECK(addr_len == sizeof(*in6) && ntohs(in6->sin6_port) == port);
		CHECK(!host[0] || inet_pton(AF_INET6, host, &want) == 1);
		CHECK(!memcmp(&in6->sin6_addr, &want, sizeof(want)));
	}
	CHECK(http_addr_is_loopback(&addr) == loopback_model(&addr));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Defence in depth behind the numeric-host filter: as root, a network namespace of our
	 * own has no interface but lo and no route to any resolver. */
	if (unshare(CLONE_NEWNET))
		fprintf(stderr, "fuzz_http: no private network namespace (%m); relying on the "
				"numeric-host filter\n");
	return 0;
}

/* --- Accept (OpenMetrics negotiation) --------------------------------------------------- */

/* Whatever the header, no read past it; and OpenMetrics is chosen only by a header that
 * names its media type. */
static void check_accept(const char *text, size_t len)
{
	if (on_copy(http_accepts_openmetrics, text, len))
		CHECK(strcasestr(text, "application/openmetrics-text"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = strnlen((const char *)data, size); /* a C string ends at the first NUL */
	char *text = malloc(len + 1);

	CHECK(text);
	memcpy(text, data, len);
	text[len] = 0;
	check_accept_encoding(text, len);
	check_accept(text, len);
	check_listen(text, len);
	free(text);
	return 0;
}
