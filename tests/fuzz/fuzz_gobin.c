/* libFuzzer target for reading an executable as a Go binary (user/gobin/gobin.c through
 * libelf, and returns.c through Capstone): the input is the whole file, as a target may
 * run any file. Beyond "does not crash": errors are one line; functions come back in
 * address order with an end past their entry; the code of a function lies inside the
 * input, and so does the file offset of its entry, where the same bytes are; every return
 * and call found lies inside its function. */
#include "gobin.h"
#include "returns.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ERR_SIZE 256

static void check_error(int ret, const char *err)
{
	const char *nul = memchr(err, 0, ERR_SIZE);

	CHECK(ret == -EINVAL || ret == -ENOMEM);
	CHECK(nul && nul > err && !memchr(err, '\n', (size_t)(nul - err)));
}

static bool all(const char *name, void *ctx)
{
	(void)name;
	(void)ctx;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The disassembler stays loaded, as the reconcile module holds it during a scan:
	 * loading it for every function would be most of the fuzzer's time. */
	static void *disasm;
	struct go_buildinfo bi;
	struct gobin_func *f;
	struct gobin *b;
	const char *from;
	char err[ERR_SIZE], id[128];
	size_t n;
	int ret;

	if (!disasm)
		disasm = go_disasm_hold();
	ret = gobin_open_mem(data, size, &b, err, sizeof(err));
	if (ret) {
		check_error(ret, err);
		CHECK(!b);
		return 0;
	}
	ret = gobin_buildinfo(b, &bi, err, sizeof(err));
	if (ret)
		check_error(ret, err);
	else
		go_buildinfo_free(&bi);
	gobin_build_id(b, id, sizeof(id));
	CHECK(memchr(id, 0, sizeof(id)));
	ret = gobin_funcs(b, all, NULL, &f, &n, &from, err, sizeof(err));
	if (ret) {
		check_error(ret, err);
		CHECK(!f && !n);
		gobin_close(b);
		return 0;
	}
	for (size_t i = 0; i < n && i < 200; i++) {
		const uint8_t *code;
		uint64_t off, len = f[i].end - f[i].entry;
		struct go_code c;

		CHECK(f[i].end > f[i].entry);
		CHECK(!i || f[i - 1].entry <= f[i].entry);
		if (len > (1u << 20) || gobin_code(b, f[i].entry, len, &code))
			continue;
		CHECK(!gobin_file_offset(b, f[i].entry, &off));
		CHECK(off < size && len <= size - off);
		CHECK(!memcmp(data + off, code, len));
		if (f[i].is_asm)
			continue;
		ret = go_scan_code(gobin_machine(b), code, len, f[i].entry, &c, err, sizeof(err));
		if (ret) {
			check_error(ret, err);
			CHECK(!c.rets && !c.calls);
			continue;
		}
		for (size_t r = 0; r < c.n_rets; r++)
			CHECK(c.rets[r].addr >= f[i].entry && c.rets[r].addr < f[i].end);
		for (size_t r = 0; r < c.n_calls; r++)
			CHECK(c.calls[r].addr >= f[i].entry && c.calls[r].next > c.calls[r].addr &&
			      c.calls[r].next <= f[i].end);
		go_code_free(&c);
	}
	gobin_funcs_free(f, n);
	gobin_close(b);
	return 0;
}
