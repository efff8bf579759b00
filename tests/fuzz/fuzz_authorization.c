/* libFuzzer target for the Authorization header (http_parse_authorization) and strict
 * base64 (base64_decode), both in user/lib/httputil.c, both fed by any client before it is
 * authenticated. The input is the header (up to a NUL, as HTTP headers have none) and,
 * whole, a base64 text. The split must equal an independent reference (scheme word,
 * blanks, one credential token), point inside the header and be consistent with its
 * length; a decode writes at most 3 * len / 4 bytes, and decoding then re-encoding with
 * the reference encoder here gives the input back (one encoding per byte string, RFC 4648
 * 3.5); a canonical text always decodes. */
#include "httputil.h"
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 section 4 with padding; out has room for 4 * ((n + 2) / 3) bytes. */
static size_t ref_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	return o;
}

static int ref_value(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

/* Canonical base64 only: 1 and the bytes, or 0. */
static int ref_decode(const char *in, size_t len, unsigned char *out, size_t *n)
{
	*n = 0;
	if (len % 4)
		return 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = last && in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
		int v[4] = { 0, 0, 0, 0 };

		for (int k = 0; k < 4 - pad; k++) {
			if ((v[k] = ref_value(in[i + k])) < 0)
				return 0;
		}
		/* The bits the padding leaves over are zero. */
		if ((pad == 2 && (v[1] & 0xf)) || (pad == 1 && (v[2] & 0x3)))
			return 0;
		out[(*n)++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[(*n)++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[(*n)++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return 1;
}

static void check_base64(const char *in, size_t len)
{
	size_t room = 3 * len / 4, ref_n;
	/* Exactly the documented room: ASan sees a byte more. */
	unsigned char *out = malloc(room ? room : 1), *ref = malloc(room + 1);
	char *again = malloc(len + 4);
	long n;
	int ok;

	CHECK(out && ref && again);
	n = base64_decode(in, len, room ? out : out + 1);
	ok = ref_decode(in, len, ref, &ref_n);
	if (n >= 0 &&
	    (ref_encode(room ? out : NULL, (size_t)n, again) != len || memcmp(again, in, len))) {
		note("base64", in, len);
		note("re-encoded", again, ref_encode(out, (size_t)n, again));
	}
	CHECK(n == -EINVAL || (n >= 0 && (size_t)n <= room));
	if (n >= 0) {
		CHECK(ref_encode(out, (size_t)n, again) == len);
		CHECK(!memcmp(again, in, len));
	}
	if (ok) {
		if (n < 0)
			note("canonical base64 rejected", in, len);
		CHECK(n >= 0 && (size_t)n == ref_n && !memcmp(out, ref, ref_n));
	}
	free(out);
	free(ref);
	free(again);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The reference split: scheme word, blanks, exactly one credential word, blanks. */
static void ref_split(const char *h, struct http_auth *want)
{
	size_t at = strspn(h, " \t"), word, gap, cred, tail;

	memset(want, 0, sizeof(*want));
	if (!h[at])
		return;
	want->scheme = HTTP_AUTH_OTHER;
	word = strcspn(h + at, " \t");
	gap = strspn(h + at + word, " \t");
	cred = strcspn(h + at + word + gap, " \t");
	tail = strspn(h + at + word + gap + cred, " \t");
	if (!cred || h[at + word + gap + cred + tail])
		return;
	if (word == 6 && !strncasecmp(h + at, "bearer", 6))
		want->scheme = HTTP_AUTH_BEARER;
	else if (word == 5 && !strncasecmp(h + at, "basic", 5))
		want->scheme = HTTP_AUTH_BASIC;
	else
		return;
	want->credentials = h + at + word + gap;
	want->len = cred;
}

static void check_authorization(const char *h)
{
	struct http_auth got, want;
	size_t hlen = strlen(h);

	memset(&got, 0xa5, sizeof(got));
	http_parse_authorization(h, &got);
	ref_split(h, &want);
	if (got.scheme != want.scheme || got.credentials != want.credentials ||
	    got.len != want.len) {
		note("header", h, hlen);
		fprintf(stderr, "fuzz: got scheme %d at %td len %zu, expected %d at %td len %zu\n",
			got.scheme, got.credentials ? got.credentials - h : -1, got.len,
			want.scheme, want.credentials ? want.credentials - h : -1, want.len);
	}
	CHECK(got.scheme == want.scheme);
	CHECK(got.credentials == want.credentials && got.len == want.len);
	if (got.scheme == HTTP_AUTH_BEARER || got.scheme == HTTP_AUTH_BASIC) {
		/* Inside the header, one word, ended by a blank or the header's end. */
		CHECK(got.credentials > h && got.len > 0);
		CHECK(got.credentials + got.len <= h + hlen);
		CHECK(blank(got.credentials[-1]));
		CHECK(!got.credentials[got.len] || blank(got.credentials[got.len]));
		for (size_t i = 0; i < got.len; i++)
			CHECK(!blank(got.credentials[i]));
		if (got.scheme == HTTP_AUTH_BASIC)
			check_base64(got.credentials, got.len);
	} else {
		CHECK(!got.credentials && !got.len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1);
	char *raw = malloc(size ? size : 1);

	CHECK(h && raw);
	memcpy(h, data, size);
	h[size] = 0;
	check_authorization(h);
	/* The whole input as base64, in a buffer of exactly its size. */
	memcpy(raw, data, size);
	check_base64(raw, size);
	free(h);
	free(raw);
	return 0;
}
