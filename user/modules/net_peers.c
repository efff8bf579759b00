/* Peer labels and API server URLs: see peers.h. */
#include "net_peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void peer_format(const struct cs_peer_key *key, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	if (key->kind == CS_PEER_IN) {
		snprintf(out, size, ":%u", key->port);
		return;
	}
	if (!memcmp(key->addr, v4_mapped, sizeof(v4_mapped))) {
		inet_ntop(AF_INET, key->addr + 12, addr, sizeof(addr));
		snprintf(out, size, "%s:%u", addr, key->port);
		return;
	}
	inet_ntop(AF_INET6, key->addr, addr, sizeof(addr));
	snprintf(out, size, "[%s]:%u", addr, key->port);
}

static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (!len || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (!v || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int peer_parse_url(const char *url, char *host, size_t host_size, uint16_t *port)
{
	const char *p, *end, *h, *colon = NULL;
	size_t hlen;

	if (!strncmp(url, "https://", 8)) {
		p = url + 8;
		*port = 443;
	} else if (!strncmp(url, "http://", 7)) {
		p = url + 7;
		*port = 80;
	} else {
		return -EINVAL;
	}
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)))
		return -EINVAL; /* no user information in an API server URL */
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return -EINVAL;
		h = p + 1;
		hlen = (size_t)(close - h);
		if (close + 1 < end) {
			if (close[1] != ':')
				return -EINVAL;
			colon = close + 1;
		}
	} else {
		h = p;
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon ? colon : end) - h);
	}
	if (!hlen || hlen >= host_size)
		return -EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c <= ' ' || c >= 0x7f || c == '[' || c == ']' || c == '%')
			return -EINVAL;
	}
	if (colon && parse_port(colon + 1, (size_t)(end - colon - 1), port))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	return 0;
}
