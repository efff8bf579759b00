/* libFuzzer target for load_log_reason (user/core/load.c), which picks the reason out of a
 * verifier log for the log line and --probe. Whatever the log: the output is
 * NUL-terminated within its buffer, at most its size, and holds no newline. */
#include "load.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *log = malloc(size + 1), out[LOAD_WHY_MAX], small[8];

	if (!log)
		return 0;
	memcpy(log, data, size);
	log[size] = '\0';
	memset(out, 'x', sizeof(out));
	load_log_reason(log, out, sizeof(out));
	CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	CHECK(strchr(out, '\n') == NULL);
	load_log_reason(log, small, sizeof(small));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	CHECK(strlen(small) < sizeof(small));
	free(log);
	return 0;
}
