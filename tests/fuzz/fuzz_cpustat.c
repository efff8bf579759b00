/* libFuzzer target for the cgroup CPU files' parsers (user/modules/sched_cpustat.c). The first byte
 * picks the parser and an output size. cpustat_parse returns 0, -ENOENT or -EINVAL,
 * leaves its output alone on error, and what it parsed renders back (v1 form) to the same
 * values; the limit parsers return 1, 0 or -EINVAL, 0 only for "max ..." (v2) or "-1"
 * (v1); cpustat_v1_path returns 0, -ENOENT or -ENAMETOOLONG, and on 0 a path that fits,
 * has no newline, and appears in the input. */
#include "sched_cpustat.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct throttling r = { 0x5a5a, 0xa5a5 }, again;
	size_t out_size;
	char *text, *out, back[96];
	int ret;

	if (!size)
		return 0;
	out_size = (size_t)(data[0] >> 2) + 1;
	text = malloc(size);
	out = malloc(out_size);
	CHECK(text && out);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	note("text", text, strlen(text));
	switch (data[0] & 3) {
	case 0:
		ret = cpustat_parse(text, &r);
		CHECK(ret == 0 || ret == -ENOENT || ret == -EINVAL);
		if (ret) {
			CHECK(r.periods == 0x5a5a && r.ns == 0xa5a5);
			break;
		}
		snprintf(back, sizeof(back), "nr_throttled %llu\nthrottled_time %llu\n",
			 (unsigned long long)r.periods, (unsigned long long)r.ns);
		CHECK(cpustat_parse(back, &again) == 0);
		CHECK(again.periods == r.periods && again.ns == r.ns);
		break;
	case 1:
		ret = cpustat_limited_v2(text);
		CHECK(ret == 0 || ret == 1 || ret == -EINVAL);
		if (ret == 0)
			CHECK(!strncmp(text, "max ", 4));
		if (ret == 1)
			CHECK(text[0] >= '0' && text[0] <= '9');
		break;
	case 2:
		ret = cpustat_limited_v1(text);
		CHECK(ret == 0 || ret == 1 || ret == -EINVAL);
		if (ret == 0)
			CHECK(!strncmp(text, "-1", 2));
		break;
	default:
		ret = cpustat_v1_path(text, "cpu", out, out_size);
		CHECK(ret == 0 || ret == -ENOENT || ret == -ENAMETOOLONG);
		if (!ret) {
			CHECK(memchr(out, 0, out_size) != NULL);
			CHECK(strchr(out, '\n') == NULL);
			CHECK(strstr(text, out) != NULL);
		}
		break;
	}
	free(out);
	free(text);
	return 0;
}
