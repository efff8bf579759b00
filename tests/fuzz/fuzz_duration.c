/* libFuzzer target for the duration parser (parse_duration_ms in user/lib/yamlutil.c), which
 * reads every timeout, TTL and interval of the web config. The answer must equal that of
 * an independent reference written here from Prometheus's grammar
 * (model.ParseDuration: "0", or [0-9]+ with units y w d h m s ms, decreasing, each at most
 * once), with overflow of a long long of milliseconds an error; an error leaves the output
 * alone; a value written back as "<n>ms" parses to itself. */
#include "yamlutil.h"
#include "check.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Units from the largest down: a duration names them in this order. */
static const struct {
	const char *name;
	long long ms;
} ref_units[] = {
	{ "y", 365LL * 86400 * 1000 },
	{ "w", 7LL * 86400 * 1000 },
	{ "d", 86400LL * 1000 },
	{ "h", 3600LL * 1000 },
	{ "m", 60LL * 1000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

#define N_UNITS ((int)(sizeof(ref_units) / sizeof(ref_units[0])))

/* The unit at s: the longest name that matches ("ms" before "m"), or -1. */
static int ref_unit(const char *s, size_t *len)
{
	int best = -1;

	*len = 0;
	for (int u = 0; u < N_UNITS; u++) {
		size_t n = strlen(ref_units[u].name);

		if (!strncmp(s, ref_units[u].name, n) && n > *len) {
			best = u;
			*len = n;
		}
	}
	return best;
}

/* 1 and the value, 0 for a malformed duration, -1 for one that overflows. Arithmetic in
 * 128 bits, so that overflow is decided on the exact value. */
static int ref_parse(const char *s, long long *out)
{
	unsigned __int128 total = 0;
	bool overflow = false;
	int next = 0; /* the first unit still allowed */

	if (!strcmp(s, "0")) {
		*out = 0;
		return 1;
	}
	if (!*s)
		return 0;
	while (*s) {
		unsigned __int128 n = 0;
		const char *digits = s;
		size_t len;
		int u;

		while (*s >= '0' && *s <= '9') {
			n = n * 10 + (unsigned)(*s++ - '0');
			if (n > (unsigned __int128)LLONG_MAX) {
				overflow = true;
				n = (unsigned __int128)LLONG_MAX + 1; /* stays above the limit */
			}
		}
		if (s == digits)
			return 0;
		u = ref_unit(s, &len);
		if (u < next)
			return 0;
		next = u + 1;
		s += len;
		total += n * (unsigned __int128)ref_units[u].ms;
		if (total > (unsigned __int128)LLONG_MAX) {
			overflow = true;
			total = (unsigned __int128)LLONG_MAX + 1;
		}
	}
	if (overflow)
		return -1;
	*out = (long long)total;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	long long got = -42, want = -42, again = -42;
	int ret, ref;

	CHECK(s);
	/* The parser takes a C string: what follows a NUL is not part of it, for either. */
	memcpy(s, data, size);
	s[size] = 0;
	ret = parse_duration_ms(s, &got);
	ref = ref_parse(s, &want);
	if ((ret == 0) != (ref == 1) || (ret == 0 && got != want)) {
		note("duration", s, strlen(s));
		fprintf(stderr, "fuzz: parse_duration_ms: %d, %lld ms; reference: %s, %lld ms\n",
			ret, got,
			ref == 1 ? "valid"
			: ref	 ? "overflow"
				 : "malformed",
			want);
	}
	CHECK(ret == 0 || ret == -EINVAL);
	CHECK((ret == 0) == (ref == 1));
	if (ret) {
		CHECK(got == -42); /* left alone */
	} else {
		char ms[32];

		CHECK(got == want && got >= 0);
		snprintf(ms, sizeof(ms), "%lldms", got);
		CHECK(parse_duration_ms(ms, &again) == 0 && again == got);
	}
	free(s);
	return 0;
}
