/* libFuzzer target for the API server URL parser (peer_parse_url in user/modules/net_peers.c), which
 * reads the kubeconfig server the net module names "kube-apiserver". On success the host
 * is non-empty, NUL-terminated inside the buffer, free of brackets, spaces and '@', and
 * appears in the input; the port is 1..65535; and https://<host>:<port> built back from
 * them (brackets around a host with ':') parses to the same host and port. On failure
 * the answer is -EINVAL. */
#include "net_peers.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1), host[64], again[64], rebuilt[160];
	uint16_t port = 0, port2 = 0;
	int ret;

	if (!url)
		return 0;
	memcpy(url, data, size);
	url[size] = 0;
	ret = peer_parse_url(url, host, sizeof(host), &port);
	if (ret) {
		CHECK(ret == -EINVAL);
		free(url);
		return 0;
	}
	note("url", url, strlen(url));
	note("host", host, strnlen(host, sizeof(host)));
	CHECK(memchr(host, 0, sizeof(host)) != NULL);
	CHECK(host[0] != 0);
	CHECK(strpbrk(host, "[] @/") == NULL);
	CHECK(strstr(url, host) != NULL);
	CHECK(port >= 1);
	snprintf(rebuilt, sizeof(rebuilt), strchr(host, ':') ? "https://[%s]:%u" : "https://%s:%u",
		 host, port);
	CHECK(peer_parse_url(rebuilt, again, sizeof(again), &port2) == 0);
	CHECK(!strcmp(host, again));
	CHECK(port == port2);
	free(url);
	return 0;
}
