/* Unit tests for the net module's peers (user/modules/net_peers.h): the `peer` label of each kind of
 * peer key, and the host and port of API server URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "net_peers.h"

static struct cs_peer_key out_key(int family, const char *addr, uint16_t port)
{
	struct cs_peer_key k = { .target = 0, .kind = CS_PEER_OUT, .port = port };

	if (family == AF_INET) {
		k.addr[10] = k.addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, addr, k.addr + 12), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, k.addr), 1);
	}
	return k;
}

static void test_format(void **state)
{
	char buf[PEER_LABEL_MAX];
	struct cs_peer_key k;

	(void)state;
	k = out_key(AF_INET, "10.96.0.1", 443);
	peer_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "10.96.0.1:443");
	k = out_key(AF_INET6, "fd00:c5::2", 8444);
	peer_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "[fd00:c5::2]:8444");
	/* An IPv4-mapped address from a dual-stack socket names the same peer as IPv4. */
	k = out_key(AF_INET6, "::ffff:10.96.0.1", 443);
	peer_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "10.96.0.1:443");
	k = (struct cs_peer_key){ .kind = CS_PEER_IN, .port = 9443 };
	peer_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, ":9443");
}

static void test_format_longest_fits(void **state)
{
	char buf[PEER_LABEL_MAX];
	struct cs_peer_key k = out_key(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

	(void)state;
	peer_format(&k, buf, sizeof(buf));
	assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void expect_url(const char *url, const char *host, uint16_t port)
{
	char h[256];
	uint16_t p = 0;

	assert_int_equal(peer_parse_url(url, h, sizeof(h), &p), 0);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void test_parse_url(void **state)
{
	(void)state;
	expect_url("https://10.96.0.1", "10.96.0.1", 443);
	expect_url("https://10.96.0.1:6443", "10.96.0.1", 6443);
	expect_url("https://api.example.com:6443/prefix/", "api.example.com", 6443);
	expect_url("https://[fd00::1]", "fd00::1", 443);
	expect_url("https://[fd00::1]:6443", "fd00::1", 6443);
	expect_url("http://127.0.0.1:8080?x", "127.0.0.1", 8080);
}

static void test_parse_url_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"10.96.0.1:443",
		"ftp://h",
		"https://",
		"https://:443",
		"https://h:",
		"https://h:0",
		"https://h:65536",
		"https://h:12a",
		"https://h:123456",
		"https://fd00::1",
		"https://[fd00::1",
		"https://[fd00::1]x",
		"https://u@h",
		"https://h h",
		"https://[fe80::1%eth0]",
	};
	char h[256];
	uint16_t p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (peer_parse_url(bad[i], h, sizeof(h), &p) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
	}
	/* A host longer than the buffer is refused, not cut. */
	assert_int_equal(peer_parse_url("https://abcdef", h, 6, &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_longest_fits),
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test(test_parse_url_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
