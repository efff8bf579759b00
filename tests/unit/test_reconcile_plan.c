/* Unit tests for planning a controller-runtime binary's probes (user/modules/
 * reconcile_plan): on the fixture's builds (tests/fixtures/reconciler, copied into the
 * unit tests' data with what go tool objdump says of them), every probe point is where
 * objdump puts a body, a return or the instruction after a call, its file offset holds
 * the same bytes, a stripped build plans the same points from its function table, and
 * reconcile.Result's layout follows the controller-runtime version. Then the binaries
 * that get no probes, and version strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gobin.h"
#include "reconcile_plan.h"

#ifndef GOBIN_TESTDATA
#define GOBIN_TESTDATA "build/tests/gobin"
#endif

static char *path_of(const char *name, const char *suffix)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s%s", GOBIN_TESTDATA, name, suffix);
	return path;
}

/* Whether the file lists addr as its first hexadecimal word (.rets) or second (.bodies). */
static bool listed(const char *name, const char *suffix, int word, uint64_t addr)
{
	FILE *f = fopen(path_of(name, suffix), "re");
	char line[256];
	bool found = false;

	if (!f)
		fail_msg("%s: %s", path_of(name, suffix), strerror(errno));
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line;
		uint64_t v = strtoull(p, &p, 16);

		if (word == 1)
			v = strtoull(p, NULL, 16);
		found = v == addr;
	}
	fclose(f);
	return found;
}

static int plan_of(const char *name, const char *suffix, struct rec_plan *p, char *why,
		   size_t why_size)
{
	int fd = open(path_of(name, suffix), O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		fail_msg("%s: %s (make the unit tests' data first)", path_of(name, suffix),
			 strerror(errno));
	ret = rec_plan_binary(fd, p, why, why_size);
	close(fd);
	return ret;
}

static void check_fixture(const char *name, bool result24)
{
	size_t kinds[REC_PROBE_WQ_RETRY_QUEUE + 1] = { 0 };
	struct rec_plan p, stripped;
	char why[512] = "";
	int fd = open(path_of(name, ""), O_RDONLY | O_CLOEXEC);
	struct gobin *b = NULL;

	assert_true(fd >= 0);
	assert_int_equal(gobin_open_fd(fd, &b, why, sizeof(why)), 0);
	if (plan_of(name, "", &p, why, sizeof(why)) != REC_OK)
		fail_msg("%s: %s", name, why);
	assert_int_equal(p.result24, result24);
	assert_true(p.terminal && p.panics && p.workqueue && !p.pclntab);
	assert_int_equal(p.shapes, 1);
	assert_int_equal(p.n_probes, 13);
	for (size_t i = 0; i < p.n_probes; i++) {
		const struct rec_probe *r = &p.probes[i];
		const uint8_t *code;
		uint8_t bytes[16];

		kinds[r->kind]++;
		switch (r->kind) {
		case REC_PROBE_RETURN:
		case REC_PROBE_PANIC:
			if (!listed(name, ".rets", 0, r->addr))
				fail_msg("%s: probe %zu at %#llx is no RET of objdump's", name, i,
					 (unsigned long long)r->addr);
			break;
		case REC_PROBE_TERMINAL:
			break; /* after a call: checked by the bytes below */
		default:
			if (!listed(name, ".bodies", 1, r->addr))
				fail_msg("%s: probe %zu at %#llx is not past a stack check", name,
					 i, (unsigned long long)r->addr);
		}
		/* The file holds the instruction at the offset the uprobe goes to. */
		assert_int_equal(gobin_code(b, r->addr, sizeof(bytes), &code), 0);
		assert_int_equal(pread(fd, bytes, sizeof(bytes), (off_t)r->offset), sizeof(bytes));
		assert_memory_equal(bytes, code, sizeof(bytes));
	}
	assert_int_equal(kinds[REC_PROBE_BEGIN], 1);
	assert_int_equal(kinds[REC_PROBE_RETURN], 1);
	assert_int_equal(kinds[REC_PROBE_PANIC], 1);
	assert_int_equal(kinds[REC_PROBE_TERMINAL], 1);
	assert_int_equal(kinds[REC_PROBE_END], 1);
	assert_int_equal(kinds[REC_PROBE_WQ_ADD], 2);
	assert_int_equal(kinds[REC_PROBE_WQ_GET], 2);
	assert_int_equal(kinds[REC_PROBE_WQ_DONE], 2);
	assert_int_equal(kinds[REC_PROBE_WQ_RETRY], 1);
	assert_int_equal(kinds[REC_PROBE_WQ_RETRY_QUEUE], 1);
	/* Stripped: the same points, from the function table. */
	if (plan_of(name, ".stripped", &stripped, why, sizeof(why)) != REC_OK)
		fail_msg("%s.stripped: %s", name, why);
	assert_true(stripped.pclntab);
	assert_int_equal(stripped.n_probes, p.n_probes);
	for (size_t i = 0; i < p.n_probes; i++) {
		assert_int_equal(stripped.probes[i].kind, p.probes[i].kind);
		assert_int_equal(stripped.probes[i].addr, p.probes[i].addr);
		assert_int_equal(stripped.probes[i].offset, p.probes[i].offset);
	}
	print_message("# %s: controller-runtime %s, %s, %zu probes\n", name, p.cr_version,
		      p.go_version, p.n_probes);
	rec_plan_free(&p);
	rec_plan_free(&stripped);
	gobin_close(b);
	close(fd);
}

static void test_v0_25_has_the_priority_field(void **state)
{
	(void)state;
	check_fixture("reconciler-cr0.25-go1.26", true);
}

static void test_v0_22_has_the_two_field_result(void **state)
{
	(void)state;
	check_fixture("reconciler-cr0.22-go1.27", false);
}

static void test_binaries_without_probes(void **state)
{
	struct rec_plan p;
	char why[512] = "";
	int fd;

	(void)state;
	assert_int_equal(plan_of("fakeapi", "", &p, why, sizeof(why)), REC_SKIP_NO_CR);
	assert_non_null(strstr(why, "without sigs.k8s.io/controller-runtime"));
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC); /* this test: C */
	assert_int_equal(rec_plan_binary(fd, &p, why, sizeof(why)), REC_SKIP_NOT_GO);
	close(fd);
	fd = memfd_create("empty", MFD_CLOEXEC);
	assert_int_equal(rec_plan_binary(fd, &p, why, sizeof(why)), REC_SKIP_UNREADABLE);
	close(fd);
	assert_string_equal(rec_skip_names[REC_SKIP_SYMBOLS], "symbols_not_found");
}

static void test_versions(void **state)
{
	unsigned ma, mi, pa;
	bool pre;

	(void)state;
	assert_int_equal(rec_parse_version("v0.23.0", &ma, &mi, &pa, &pre), 0);
	assert_true(ma == 0 && mi == 23 && pa == 0 && !pre);
	assert_int_equal(
		rec_parse_version("v0.22.5-0.20250101000000-0123456789ab", &ma, &mi, &pa, &pre), 0);
	assert_true(mi == 22 && pa == 5 && pre);
	assert_int_equal(rec_parse_version("v0.25.3+incompatible", &ma, &mi, &pa, &pre), 0);
	assert_false(pre);
	assert_int_equal(rec_parse_version("0.23.0", &ma, &mi, &pa, &pre), -EINVAL);
	assert_int_equal(rec_parse_version("v0.23", &ma, &mi, &pa, &pre), -EINVAL);
	assert_int_equal(rec_parse_version("v0.23.0x", &ma, &mi, &pa, &pre), -EINVAL);
	assert_int_equal(rec_parse_version("(devel)", &ma, &mi, &pa, &pre), -EINVAL);
	assert_int_equal(rec_parse_version(NULL, &ma, &mi, &pa, &pre), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v0_25_has_the_priority_field),
		cmocka_unit_test(test_v0_22_has_the_two_field_result),
		cmocka_unit_test(test_binaries_without_probes),
		cmocka_unit_test(test_versions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
