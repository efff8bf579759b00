/* libFuzzer target for a Go binary's function table (go_pclntab_open and go_pclntab_func
 * in user/gobin/pclntab.c): the input is a .gopclntab section as a target's binary may
 * hold it. Beyond "does not crash" (every offset it follows is checked: ASan finds one
 * that is not): an error is one line; a table that opens has sorted entries, and every
 * function either reads whole (a name that ends inside the table, an entry not past its
 * end) or is refused. */
#include "pclntab.h"
#include "check.h"

#include <stdint.h>
#include <string.h>

#define ERR_SIZE 256
#define TEXT	 0x401000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct go_pclntab t;
	char err[ERR_SIZE];
	uint64_t prev = 0;
	int ret;

	memset(err, 'x', sizeof(err));
	ret = go_pclntab_open(data, size, size & 1 ? TEXT : 0, &t, err, sizeof(err));
	if (ret) {
		const char *nul = memchr(err, 0, sizeof(err));

		CHECK(ret == -EINVAL);
		CHECK(nul && nul > err && !memchr(err, '\n', (size_t)(nul - err)));
		return 0;
	}
	CHECK(t.nfunc > 0 && t.text_start);
	for (uint32_t i = 0; i < t.nfunc && i < 100000; i++) {
		const char *name;
		uint64_t entry, end;
		uint8_t flags;

		if (go_pclntab_func(&t, i, &name, &entry, &end, &flags))
			continue;
		CHECK((const uint8_t *)name >= data && (const uint8_t *)name < data + size);
		CHECK(memchr(name, 0, size - (size_t)((const uint8_t *)name - data)));
		CHECK(entry <= end && entry >= prev);
		prev = entry;
	}
	CHECK(go_pclntab_func(&t, t.nfunc, &(const char *){ NULL }, &prev, &prev,
			      &(uint8_t){ 0 }) == -EINVAL);
	return 0;
}
