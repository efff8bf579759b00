/* libFuzzer target for planning a binary's reconcile probes (user/modules/reconcile_plan.c)
 * from its file, as a target may run any file, and for the module versions it reads.
 * Beyond "does not crash": a skip has a reason and one line; a plan's probes lie inside
 * the file, of known kinds, and the plan frees cleanly. */
#include "reconcile_plan.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec_plan p;
	char why[512], v[64];
	unsigned ma, mi, pa;
	bool pre;
	int fd = memfd_create("fuzz", MFD_CLOEXEC), ret;

	/* The first bytes as a version string too. */
	memcpy(v, data, size < sizeof(v) - 1 ? size : sizeof(v) - 1);
	v[size < sizeof(v) - 1 ? size : sizeof(v) - 1] = '\0';
	if (!rec_parse_version(v, &ma, &mi, &pa, &pre))
		CHECK(v[0] == 'v');
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	why[0] = '\0';
	ret = rec_plan_binary(fd, &p, why, sizeof(why));
	close(fd);
	CHECK(ret == -ENOMEM || (ret >= REC_OK && ret < REC_SKIPS));
	if (ret > REC_OK) {
		const char *nul = memchr(why, 0, sizeof(why));

		CHECK(nul && nul > why && !memchr(why, '\n', (size_t)(nul - why)));
		CHECK(!p.probes && !p.n_probes);
	}
	if (ret == REC_OK) {
		CHECK(p.n_probes > 0 && p.shapes > 0);
		for (size_t i = 0; i < p.n_probes; i++) {
			CHECK(p.probes[i].offset < size);
			CHECK(p.probes[i].kind <= REC_PROBE_WQ_RETRY_QUEUE);
		}
		rec_plan_free(&p);
	}
	return 0;
}
