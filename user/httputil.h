/* Small HTTP helpers with no I/O, kept apart so they can be unit-tested and fuzzed:
 * listen-address parsing and Accept-Encoding negotiation. */
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

#endif
