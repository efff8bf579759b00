/* Peers of the net module as people read them: the `peer` label of a peer key, and the
 * API server's host and port from its URL. */
#ifndef CTRLSCOPE_PEERS_H
#define CTRLSCOPE_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include <ctrlscope/net.h>

/* Longest label: "[" IPv6 (45) "]:" port (5) and the terminator. */
#define PEER_LABEL_MAX 56

/* "10.0.0.1:443", "[fd00::1]:443" (an IPv4-mapped address as IPv4) for outbound peers,
 * ":9443" (the local port) for inbound ones. */
void peer_format(const struct cs_peer_key *key, char *out, size_t size);

/* The host (brackets of an IPv6 literal removed) and port of a URL such as
 * https://[fd00::1]:6443/prefix; the port defaults to 443 for https, 80 for http.
 * Returns 0, or -EINVAL for anything else. */
int peer_parse_url(const char *url, char *host, size_t host_size, uint16_t *port);

#endif
