/* Unit tests for the HTTP helpers (user/lib/httputil.h): Accept-Encoding negotiation,
 * listen-address parsing, the loopback check that decides whether plain HTTP without
 * authentication may be served, strict base64 and Authorization header splitting. No test
 * resolves a name other than "localhost". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "httputil.h"

static void test_gzip_plain(void **state)
{
	(void)state;
	assert_true(http_accepts_gzip("gzip"));
	assert_true(http_accepts_gzip("GZIP"));
	assert_true(http_accepts_gzip("GZip"));
	assert_true(http_accepts_gzip("deflate, gzip;q=0.5"));
	assert_true(http_accepts_gzip("gzip, deflate, br"));
	assert_true(http_accepts_gzip("br,gzip"));
	assert_true(http_accepts_gzip("gzip;q=1.0"));
	assert_true(http_accepts_gzip("gzip;q=0.001"));
	assert_true(http_accepts_gzip("gzip;Q=0.5"));
}

static void test_gzip_refused_or_absent(void **state)
{
	(void)state;
	assert_false(http_accepts_gzip(NULL));
	assert_false(http_accepts_gzip(""));
	assert_false(http_accepts_gzip("identity"));
	assert_false(http_accepts_gzip("deflate, br"));
	assert_true(http_accepts_gzip("x-gzip"));
	assert_false(http_accepts_gzip("x-gzip;q=0"));
	assert_false(http_accepts_gzip("gzipx"));
	assert_false(http_accepts_gzip("gzi"));
	assert_false(http_accepts_gzip("gzip;q=0"));
	assert_false(http_accepts_gzip("gzip;q=0.0"));
	assert_false(http_accepts_gzip("gzip;q=0.000"));
	assert_false(http_accepts_gzip("deflate, gzip;q=0"));
}

static void test_gzip_wildcard(void **state)
{
	(void)state;
	assert_true(http_accepts_gzip("*"));
	assert_true(http_accepts_gzip("identity, *;q=0.1"));
	assert_false(http_accepts_gzip("*;q=0"));
	/* An explicit gzip entry wins over "*", in either order. */
	assert_false(http_accepts_gzip("gzip;q=0, *"));
	assert_false(http_accepts_gzip("*, gzip;q=0"));
	assert_true(http_accepts_gzip("*;q=0, gzip"));
	assert_true(http_accepts_gzip("gzip, *;q=0"));
}

/* What Prometheus 2.x and 3.x send, and what old scrapers and curl send. */
static void test_openmetrics_negotiation(void **state)
{
	(void)state;
	assert_true(http_accepts_openmetrics(
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	assert_true(http_accepts_openmetrics(
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
		"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
		"escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"));
	assert_true(http_accepts_openmetrics("application/openmetrics-text"));
	assert_true(http_accepts_openmetrics("Application/OpenMetrics-Text; Version = \"1.0.0\""));
	assert_true(http_accepts_openmetrics("text/plain;q=0.5, application/openmetrics-text"));
	/* The text format stays the default */
	assert_false(http_accepts_openmetrics(NULL));
	assert_false(http_accepts_openmetrics(""));
	assert_false(http_accepts_openmetrics("*/*"));
	assert_false(http_accepts_openmetrics("text/plain;version=0.0.4"));
	assert_false(http_accepts_openmetrics("application/json, text/html"));
	/* Preferred less, refused, or only the draft version this agent does not write */
	assert_false(http_accepts_openmetrics("application/openmetrics-text;q=0.5,text/plain"));
	assert_false(http_accepts_openmetrics("application/openmetrics-text;q=0"));
	assert_false(http_accepts_openmetrics("application/openmetrics-text;version=0.0.1"));
	assert_false(http_accepts_openmetrics("application/openmetrics-text-x"));
	assert_false(http_accepts_openmetrics(";;,,;q=1,=,application/openmetrics-text;q=abc"));
}

static void test_gzip_whitespace(void **state)
{
	(void)state;
	assert_true(http_accepts_gzip(" gzip"));
	assert_true(http_accepts_gzip("gzip "));
	assert_true(http_accepts_gzip("\tgzip\t"));
	assert_true(http_accepts_gzip("deflate,\tgzip"));
	assert_true(http_accepts_gzip("deflate ,  gzip ; q=0.8"));
	assert_false(http_accepts_gzip("gzip ; q=0"));
	assert_false(http_accepts_gzip("gzip;\tq=0 "));
	assert_false(http_accepts_gzip(" \t "));
	assert_false(http_accepts_gzip(",,,"));
}

static int parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
		 size_t err_size)
{
	memset(ss, 0xa5, sizeof(*ss));
	*len = 0;
	err[0] = 0;
	return http_parse_listen(text, ss, len, err, err_size);
}

static void test_listen_any(void **state)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
	socklen_t len;
	char err[128];

	(void)state;
	assert_int_equal(parse(":8443", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(in6->sin6_port), 8443);
	assert_memory_equal(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any));
	assert_false(http_addr_is_loopback(&ss));

	assert_int_equal(parse(":0", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ntohs(in6->sin6_port), 0);
	assert_int_equal(parse(":65535", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ntohs(in6->sin6_port), 65535);
}

static void test_listen_ipv4(void **state)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
	socklen_t len;
	char err[128];

	(void)state;
	assert_int_equal(parse("127.0.0.1:9", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(in->sin_port), 9);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000001);
	assert_true(http_addr_is_loopback(&ss));

	assert_int_equal(parse("0.0.0.0:8080", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 8080);
	assert_int_equal(in->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_false(http_addr_is_loopback(&ss));

	assert_int_equal(parse("10.1.2.3:443", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a010203);
	assert_false(http_addr_is_loopback(&ss));
}

static void test_listen_ipv6_brackets(void **state)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
	socklen_t len;
	char err[128];

	(void)state;
	assert_int_equal(parse("[::1]:80", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(in6->sin6_port), 80);
	assert_memory_equal(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
	assert_true(http_addr_is_loopback(&ss));

	assert_int_equal(parse("[::]:9100", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 9100);
	assert_memory_equal(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any));
	assert_false(http_addr_is_loopback(&ss));

	assert_int_equal(parse("[2001:db8::5]:1", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(in6->sin6_addr.s6_addr[0], 0x20);
	assert_int_equal(in6->sin6_addr.s6_addr[1], 0x01);
	assert_int_equal(in6->sin6_addr.s6_addr[15], 0x05);
}

static void test_listen_localhost(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];

	(void)state;
	/* Resolved from /etc/hosts: 127.0.0.1 or ::1, both loopback. */
	assert_int_equal(parse("localhost:8443", &ss, &len, err, sizeof(err)), 0);
	assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	if (ss.ss_family == AF_INET) {
		assert_int_equal(len, sizeof(struct sockaddr_in));
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8443);
	} else {
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8443);
	}
	assert_true(http_addr_is_loopback(&ss));
}

static void check_error(const char *text, const char *want)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];

	assert_int_equal(parse(text, &ss, &len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

static void test_listen_errors(void **state)
{
	(void)state;
	check_error("::1:80", "an IPv6 address must be in brackets: [addr]:port");
	check_error("fe80::1:443", "an IPv6 address must be in brackets: [addr]:port");
	check_error("host", "expected host:port or :port");
	check_error("", "expected host:port or :port");
	check_error("8443", "expected host:port or :port");
	check_error("[::1]80", "expected [ipv6]:port");
	check_error("[::1", "expected [ipv6]:port");
	check_error("[::1]", "expected [ipv6]:port");
	check_error(":65536", "expected a port from 0 to 65535 after the last ':'");
	check_error("127.0.0.1:65536", "expected a port from 0 to 65535 after the last ':'");
	check_error("127.0.0.1:", "expected a port from 0 to 65535 after the last ':'");
	check_error(":", "expected a port from 0 to 65535 after the last ':'");
	check_error(":-1", "expected a port from 0 to 65535 after the last ':'");
	check_error(":+80", "expected a port from 0 to 65535 after the last ':'");
	check_error(": 80", "expected a port from 0 to 65535 after the last ':'");
	check_error(":80x", "expected a port from 0 to 65535 after the last ':'");
	check_error(":http", "expected a port from 0 to 65535 after the last ':'");
	check_error(":99999999999999999999", "expected a port from 0 to 65535 after the last ':'");
	check_error("[::1]:", "expected a port from 0 to 65535 after the last ':'");
	check_error("[::1]:70000", "expected a port from 0 to 65535 after the last ':'");
}

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
	}
	return ss;
}

static bool loopback(const char *text)
{
	struct sockaddr_storage ss = addr(text);

	return http_addr_is_loopback(&ss);
}

static void test_loopback(void **state)
{
	struct sockaddr_storage unix_addr;

	(void)state;
	assert_true(loopback("127.0.0.1"));
	assert_true(loopback("127.9.9.9"));
	assert_true(loopback("127.255.255.255"));
	assert_true(loopback("::1"));
	assert_true(loopback("::ffff:127.0.0.1"));
	assert_true(loopback("::ffff:127.1.2.3"));

	assert_false(loopback("0.0.0.0"));
	assert_false(loopback("::"));
	assert_false(loopback("10.0.0.1"));
	assert_false(loopback("126.255.255.255"));
	assert_false(loopback("128.0.0.1"));
	assert_false(loopback("1.0.0.127"));
	assert_false(loopback("::2"));
	assert_false(loopback("::ffff:10.0.0.1"));
	assert_false(loopback("::ffff:0.0.0.0"));
	assert_false(loopback("::127.0.0.1")); /* deprecated IPv4-compatible, not mapped */
	assert_false(loopback("fe80::1"));

	memset(&unix_addr, 0, sizeof(unix_addr));
	unix_addr.ss_family = AF_UNIX;
	assert_false(http_addr_is_loopback(&unix_addr));
}

/* Decode into a buffer of exactly the documented size (3 * len / 4) followed by a canary. */
static long decode(const char *in, unsigned char *out, size_t out_size)
{
	size_t len = strlen(in), room = 3 * len / 4;
	unsigned char *buf = malloc(room + 8);
	long n;

	assert_non_null(buf);
	memset(buf, 0xa5, room + 8);
	n = base64_decode(in, len, buf);
	for (size_t i = room; i < room + 8; i++)
		assert_int_equal(buf[i], 0xa5);
	if (n > 0) {
		assert_true((size_t)n <= room && (size_t)n <= out_size);
		memcpy(out, buf, (size_t)n);
	}
	free(buf);
	return n;
}

static void check_decode(const char *in, const void *want, size_t want_len)
{
	unsigned char out[64];
	long n = decode(in, out, sizeof(out));

	if (n < 0)
		fail_msg("\"%s\" was rejected", in);
	assert_int_equal(n, want_len);
	assert_memory_equal(out, want, want_len);
}

static void check_decode_invalid(const char *in)
{
	unsigned char out[64];
	long n = decode(in, out, sizeof(out));

	if (n != -EINVAL)
		fail_msg("\"%s\": returned %ld, expected -EINVAL", in, n);
}

static void test_base64_valid(void **state)
{
	(void)state;
	/* RFC 4648 section 10 test vectors. */
	check_decode("", "", 0);
	check_decode("Zg==", "f", 1);
	check_decode("Zm8=", "fo", 2);
	check_decode("Zm9v", "foo", 3);
	check_decode("Zm9vYg==", "foob", 4);
	check_decode("Zm9vYmE=", "fooba", 5);
	check_decode("Zm9vYmFy", "foobar", 6);
	check_decode("YWxpY2U6c2VjcmV0", "alice:secret", 12);
	/* Every alphabet character, binary output (NUL bytes included). */
	check_decode("AAEC/f7/", "\x00\x01\x02\xfd\xfe\xff", 6);
	check_decode("+/+/", "\xfb\xff\xbf", 3);
	check_decode("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
		     "\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97"
		     "\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
		     "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf",
		     48);
}

static void test_base64_invalid(void **state)
{
	(void)state;
	check_decode_invalid("Zg");  /* padding required */
	check_decode_invalid("Zg="); /* length not a multiple of 4 */
	check_decode_invalid("Zm9vY");
	check_decode_invalid("Z==="); /* at most two '=' */
	check_decode_invalid("====");
	check_decode_invalid("Zm9v====");
	check_decode_invalid("Zg==Zm9v"); /* padding only at the end */
	check_decode_invalid("Zm=v");	  /* nothing after padding */
	check_decode_invalid("Zm9v\n");
	check_decode_invalid("Zm9v\r\nZm9v");
	check_decode_invalid("Zm 9v");
	check_decode_invalid(" Zm9v");
	check_decode_invalid("Zm9-"); /* base64url is another alphabet */
	check_decode_invalid("Zm9_");
	check_decode_invalid("Zm9\x80");
	check_decode_invalid("Zm9.");
}

/* Strict means canonical too (RFC 4648 3.5): the bits that padding leaves over must be
 * zero, so that one byte string has exactly one encoding ("Zh==" would also be "f"). */
static void test_base64_noncanonical(void **state)
{
	(void)state;
	check_decode_invalid("Zh==");
	check_decode_invalid("Zm9=");
	check_decode_invalid("YWxpY2U6c2VjcmV0IR=="); /* "alice:secret!" is ...IQ== */
	check_decode_invalid("AB==");
}

static void check_auth(const char *header, enum http_auth_scheme scheme, size_t offset, size_t len)
{
	struct http_auth a;

	memset(&a, 0xa5, sizeof(a));
	http_parse_authorization(header, &a);
	if (a.scheme != scheme)
		fail_msg("\"%s\": scheme %d, expected %d", header ? header : "(null)", a.scheme,
			 scheme);
	if (scheme == HTTP_AUTH_BEARER || scheme == HTTP_AUTH_BASIC) {
		assert_ptr_equal(a.credentials, header + offset);
		assert_int_equal(a.len, len);
	} else {
		assert_null(a.credentials);
		assert_int_equal(a.len, 0);
	}
}

static void test_authorization(void **state)
{
	(void)state;
	check_auth("Bearer x", HTTP_AUTH_BEARER, 7, 1);
	check_auth("bearer x", HTTP_AUTH_BEARER, 7, 1);
	check_auth("BEARER abc.def-ghi_jkl~=", HTTP_AUTH_BEARER, 7, 17);
	check_auth("Basic YWxpY2U6c2VjcmV0", HTTP_AUTH_BASIC, 6, 16);
	check_auth("bAsIc x", HTTP_AUTH_BASIC, 6, 1);
	/* Blanks around and between are not part of anything. */
	check_auth("  Bearer   x  ", HTTP_AUTH_BEARER, 11, 1);
	check_auth("\tBearer\tx\t", HTTP_AUTH_BEARER, 8, 1);
	/* No credential, or more than one word: not something we can check. */
	check_auth("Bearer", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Bearer ", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Bearer \t ", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Bearer a b", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Basic a\tb", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Negotiate x", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Bearerx y", HTTP_AUTH_OTHER, 0, 0);
	check_auth("Bear x", HTTP_AUTH_OTHER, 0, 0);
	check_auth("x", HTTP_AUTH_OTHER, 0, 0);
	/* Nothing at all. */
	check_auth(NULL, HTTP_AUTH_NONE, 0, 0);
	check_auth("", HTTP_AUTH_NONE, 0, 0);
	check_auth(" \t ", HTTP_AUTH_NONE, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_plain),
		cmocka_unit_test(test_gzip_refused_or_absent),
		cmocka_unit_test(test_gzip_wildcard),
		cmocka_unit_test(test_gzip_whitespace),
		cmocka_unit_test(test_openmetrics_negotiation),
		cmocka_unit_test(test_listen_any),
		cmocka_unit_test(test_listen_ipv4),
		cmocka_unit_test(test_listen_ipv6_brackets),
		cmocka_unit_test(test_listen_localhost),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_base64_valid),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_noncanonical),
		cmocka_unit_test(test_authorization),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
