/* libFuzzer target for a Go binary's build information (go_buildinfo_parse in
 * user/gobin/buildinfo.c): the input is a .go.buildinfo section as a target's binary may
 * hold it. Beyond "does not crash": an error is one line and leaves nothing behind; what
 * parses holds a printable Go version, module paths that are not empty, a replacement
 * only as a pair, and every dependency found again by its path. */
#include "buildinfo.h"
#include "check.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define ERR_SIZE 256

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check_module(const struct go_module *m)
{
	CHECK(m->path && *m->path && printable(m->path));
	CHECK(m->version && printable(m->version));
	CHECK(!m->replace_path == !m->replace_version);
	CHECK(!m->replace_path || (*m->replace_path && printable(m->replace_path)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct go_buildinfo bi;
	char err[ERR_SIZE];
	int ret;

	memset(err, 'x', sizeof(err));
	ret = go_buildinfo_parse(data, size, &bi, err, sizeof(err));
	if (ret) {
		const char *nul = memchr(err, 0, sizeof(err));

		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(nul && nul > err && !memchr(err, '\n', (size_t)(nul - err)));
		CHECK(!bi.go_version && !bi.deps && !bi.n_deps && !bi.main.path);
		return 0;
	}
	CHECK(bi.go_version && *bi.go_version && printable(bi.go_version));
	CHECK(!strchr(bi.go_version, '\t'));
	CHECK(bi.main_path && printable(bi.main_path));
	if (bi.main.path)
		check_module(&bi.main);
	for (size_t i = 0; i < bi.n_deps; i++) {
		const struct go_module *m = &bi.deps[i];

		check_module(m);
		/* The first module of that path is the one found. */
		CHECK(go_buildinfo_module(&bi, m->path));
		CHECK(!strcmp(go_buildinfo_module(&bi, m->path)->path, m->path));
	}
	go_buildinfo_free(&bi);
	CHECK(!bi.go_version && !bi.deps);
	return 0;
}
