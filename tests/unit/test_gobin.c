/* Unit tests for reading Go binaries (user/gobin): on the Go binaries the build makes,
 * what the readers find is what Go's own tools say (tests/unit/gobin-testdata.sh wrote
 * their answers beside each binary): the build information as `go version -m` prints it,
 * the functions as `go tool nm` lists them (from .symtab, and from .gopclntab alone once
 * stripped), the returns as `go tool objdump` shows them, and file offsets that hold the
 * code. Then the build information's and the tables' errors, on bytes made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "gobin.h"
#include "pclntab.h"
#include "returns.h"

#ifndef GOBIN_TESTDATA
#define GOBIN_TESTDATA "build/tests/gobin"
#endif

/* The Go binaries of the test data. */
static const char *const binaries[] = { "fakeapi", "reconciler-cr0.25-go1.26",
					"reconciler-cr0.22-go1.27" };
#define N_BINARIES (sizeof(binaries) / sizeof(binaries[0]))

static char *path_of(const char *name, const char *suffix)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s%s", GOBIN_TESTDATA, name, suffix);
	return path;
}

static struct gobin *open_bin(const char *name, const char *suffix, int *fd)
{
	char err[256] = "";
	struct gobin *b = NULL;

	*fd = open(path_of(name, suffix), O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		fail_msg("%s: %s (make the unit tests' data first)", path_of(name, suffix),
			 strerror(errno));
	if (gobin_open_fd(*fd, &b, err, sizeof(err)))
		fail_msg("%s: %s", path_of(name, suffix), err);
	return b;
}

static void close_bin(struct gobin *b, int fd)
{
	gobin_close(b);
	close(fd);
}

/* The lines of a test-data file; the array is NULL-terminated. */
static char **lines_of(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char **lines = NULL, *line = NULL;
	size_t cap = 0, len = 0;

	assert_non_null(f);
	*n = 0;
	while (getline(&line, &cap, f) > 0) {
		len = strcspn(line, "\n");
		line[len] = '\0';
		lines = realloc(lines, (*n + 2) * sizeof(*lines));
		assert_non_null(lines);
		lines[(*n)++] = strdup(line);
		lines[*n] = NULL;
	}
	free(line);
	fclose(f);
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* --- build information ---------------------------------------------------------------- */

/* A module line of `go version -m` (after its tab-separated kind): "path\tversion[\tsum]". */
static void expect_module(const char *line, const char *path, const char *version)
{
	char want[1024];
	size_t n = strlen(path) + 1 + strlen(version);

	snprintf(want, sizeof(want), "%s\t%s", path, version);
	assert_true(!strncmp(line, want, n) && (line[n] == '\0' || line[n] == '\t'));
}

static void test_buildinfo_is_what_go_version_m_prints(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_BINARIES; k++) {
		for (int stripped = 0; stripped < 2; stripped++) {
			struct go_buildinfo bi;
			char err[256] = "", **lines, want[256];
			size_t n, dep = 0;
			int fd;
			struct gobin *b = open_bin(binaries[k], stripped ? ".stripped" : "", &fd);

			if (gobin_buildinfo(b, &bi, err, sizeof(err)))
				fail_msg("%s: %s", binaries[k], err);
			lines = lines_of(path_of(binaries[k], ".buildinfo"), &n);
			snprintf(want, sizeof(want), ": %s", bi.go_version);
			assert_non_null(strstr(lines[0], want));
			for (size_t i = 1; i < n; i++) {
				const char *l = lines[i] + 1; /* after the leading tab */

				if (!strncmp(l, "path\t", 5)) {
					assert_string_equal(l + 5, bi.main_path);
				} else if (!strncmp(l, "mod\t", 4)) {
					expect_module(l + 4, bi.main.path, bi.main.version);
				} else if (!strncmp(l, "dep\t", 4)) {
					assert_true(dep < bi.n_deps);
					expect_module(l + 4, bi.deps[dep].path,
						      bi.deps[dep].version);
					if (lines[i + 1] && !strncmp(lines[i + 1] + 1, "=>\t", 3))
						expect_module(lines[i + 1] + 4,
							      bi.deps[dep].replace_path,
							      bi.deps[dep].replace_version);
					else
						assert_null(bi.deps[dep].replace_path);
					dep++;
				}
			}
			assert_int_equal(dep, bi.n_deps);
			assert_true(bi.n_deps > 5);
			assert_non_null(go_buildinfo_module(&bi, bi.deps[3].path));
			assert_null(go_buildinfo_module(&bi, "example.com/not/there"));
			free_lines(lines, n);
			go_buildinfo_free(&bi);
			close_bin(b, fd);
		}
	}
}

static void test_a_c_program_is_not_a_go_binary(void **state)
{
	struct go_buildinfo bi;
	struct gobin *b;
	char err[256] = "";
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_int_equal(gobin_open_fd(fd, &b, err, sizeof(err)), 0);
	assert_int_equal(gobin_buildinfo(b, &bi, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not a Go binary (no Go build information)");
	gobin_close(b);
	close(fd);
}

static size_t put_uvarint(uint8_t *p, size_t v)
{
	size_t n = 0;

	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)(v | 0x80);
	p[n++] = (uint8_t)v;
	return n;
}

/* A .go.buildinfo section's bytes: the header, then the version and the module text with
 * their sentinels, each behind its uvarint length. */
static size_t make_buildinfo(uint8_t *out, const char *version, const char *mod)
{
	static const char sentinel[17] = "0123456789abcdef";
	size_t n = 0, len = strlen(mod);

	memset(out, 0, 32);
	memcpy(out, "\xff Go buildinf:", 14);
	out[14] = 8;
	out[15] = 2;
	n = 32;
	out[n++] = (uint8_t)strlen(version);
	memcpy(out + n, version, strlen(version));
	n += strlen(version);
	if (!len) {
		out[n++] = 0;
		return n;
	}
	n += put_uvarint(out + n, len + 32);
	memcpy(out + n, sentinel, 16);
	memcpy(out + n + 16, mod, len);
	memcpy(out + n + 16 + len, sentinel, 16);
	return n + 32 + len;
}

static void test_buildinfo_replacements_and_errors(void **state)
{
	struct go_buildinfo bi;
	uint8_t data[512];
	char err[256];
	size_t n;

	(void)state;
	n = make_buildinfo(data, "go1.26.8",
			   "path\texample.com/ctl\nmod\texample.com/ctl\t(devel)\t\n"
			   "dep\tsigs.k8s.io/controller-runtime\tv0.22.5\th1:x=\n"
			   "=>\tgithub.com/fork/controller-runtime\tv0.22.6-fork\th1:y=\n"
			   "dep\tk8s.io/api\tv0.34.3\n=>\t../api\t\n"
			   "build\t-compiler=gc\nfuture\tline\n");
	assert_int_equal(go_buildinfo_parse(data, n, &bi, err, sizeof(err)), 0);
	assert_string_equal(bi.go_version, "go1.26.8");
	assert_string_equal(bi.main_path, "example.com/ctl");
	assert_string_equal(bi.main.version, "(devel)");
	assert_int_equal(bi.n_deps, 2);
	assert_string_equal(bi.deps[0].replace_path, "github.com/fork/controller-runtime");
	assert_string_equal(bi.deps[0].replace_version, "v0.22.6-fork");
	assert_string_equal(bi.deps[1].replace_path, "../api");
	assert_string_equal(bi.deps[1].replace_version, "");
	assert_ptr_equal(go_buildinfo_module(&bi, "k8s.io/api"), &bi.deps[1]);
	go_buildinfo_free(&bi);

	/* A binary built outside a module (go build x.go) has a version and no modules. */
	n = make_buildinfo(data, "go1.27.3", "");
	assert_int_equal(go_buildinfo_parse(data, n, &bi, err, sizeof(err)), 0);
	assert_string_equal(bi.go_version, "go1.27.3");
	assert_string_equal(bi.main_path, "");
	assert_null(bi.main.path);
	assert_int_equal(bi.n_deps, 0);
	go_buildinfo_free(&bi);

	static const struct {
		const char *mod, *error;
	} bad[] = {
		{ "dep\tk8s.io/api\n", "module line 1: a malformed module line" },
		{ "dep\tk8s.io/api\t\n", "module line 1: a malformed module line" },
		{ "=>\t../x\t\n", "module line 1: a replacement of nothing" },
		{ "dep\ta\tv1\n=>\tb\tv2\n=>\tc\tv3\n", "module line 3: a replacement of nothing" },
		{ "mod\ta\tv1\nmod\tb\tv2\n", "module line 2: a second mod line" },
		{ "path\ta\nbuild\tx=\x01\n", "module line 2: a control character" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = make_buildinfo(data, "go1.26.8", bad[i].mod);
		assert_int_equal(go_buildinfo_parse(data, n, &bi, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].error);
		assert_null(bi.go_version);
	}
	n = make_buildinfo(data, "go1.26.8", "path\ta\n");
	for (size_t cut = 0; cut < 32 + 10; cut++) {
		assert_int_equal(go_buildinfo_parse(data, cut, &bi, err, sizeof(err)), -EINVAL);
		assert_string_equal(
			err, cut < 32 ? "no Go build information (no \"Go buildinf:\" header)"
				      : "the build information is cut short");
	}
	data[15] = 0;
	assert_int_equal(go_buildinfo_parse(data, n, &bi, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the build information of a Go older than 1.18");
}

/* --- functions --------------------------------------------------------------------------- */

struct func_line {
	uint64_t addr;
	char *name;
};

static int cmp_func_line(const void *a, const void *b)
{
	const struct func_line *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool all(const char *name, void *ctx)
{
	(void)name;
	(void)ctx;
	return true;
}

static void test_functions_are_what_go_tool_nm_lists(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_BINARIES; k++) {
		size_t n_lines;
		char **lines = lines_of(path_of(binaries[k], ".funcs"), &n_lines);
		struct func_line *want = calloc(n_lines, sizeof(*want));
		size_t n_want = 0;

		assert_non_null(want);
		for (size_t i = 0; i < n_lines; i++) {
			char *space = strchr(lines[i], ' ');

			assert_non_null(space);
			want[n_want].addr = strtoull(lines[i], NULL, 16);
			want[n_want].name = space + 1;
			if (strlen(space + 1) > 5 &&
			    !strcmp(space + 1 + strlen(space + 1) - 5, ".abi0"))
				space[1 + strlen(space + 1) - 5] = '\0';
			n_want++;
		}
		qsort(want, n_want, sizeof(*want), cmp_func_line);
		for (int stripped = 0; stripped < 2; stripped++) {
			struct gobin_func *f;
			const char *from;
			char err[256] = "", name[1024];
			size_t n, j = 0, matched = 0;
			int fd;
			struct gobin *b = open_bin(binaries[k], stripped ? ".stripped" : "", &fd);

			if (gobin_funcs(b, all, NULL, &f, &n, &from, err, sizeof(err)))
				fail_msg("%s: %s", binaries[k], err);
			assert_string_equal(from, stripped ? "pclntab" : "symtab");
			/* Every function found is one nm lists, at its address; nm lists besides
			 * them only markers (runtime.text, runtime.etext, ...) of no size. */
			for (size_t i = 0; i < n; i++) {
				snprintf(name, sizeof(name), "%s", f[i].name);
				while (j < n_want && (want[j].addr < f[i].entry ||
						      (want[j].addr == f[i].entry &&
						       strcmp(want[j].name, name) < 0)))
					j++;
				if (j == n_want || want[j].addr != f[i].entry ||
				    strcmp(want[j].name, name))
					fail_msg("%s%s: %s at %#llx is not in go tool nm's list",
						 binaries[k], stripped ? " (stripped)" : "", name,
						 (unsigned long long)f[i].entry);
				assert_true(f[i].end > f[i].entry);
				matched++;
			}
			assert_in_range(n_want - matched, 0, 4);
			gobin_funcs_free(f, n);
			close_bin(b, fd);
		}
		free(want);
		free_lines(lines, n_lines);
	}
}

static bool is_name(const char *name, void *ctx)
{
	return !strcmp(name, ctx);
}

static void test_only_the_functions_asked_for(void **state)
{
	struct gobin_func *f;
	const char *from;
	char err[256] = "";
	size_t n;
	int fd;
	struct gobin *b = open_bin("fakeapi", ".stripped", &fd);

	(void)state;
	assert_int_equal(gobin_funcs(b, is_name, "main.main", &f, &n, &from, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].name, "main.main");
	gobin_funcs_free(f, n);
	assert_int_equal(gobin_funcs(b, is_name, "main.nothere", &f, &n, &from, err, sizeof(err)),
			 0);
	assert_int_equal(n, 0);
	close_bin(b, fd);
}

/* --- returns and offsets ----------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool entry_of_some(const struct gobin_func *f, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f[mid].entry == addr)
			return true;
		if (f[mid].entry < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* runtime.duffzero and duffcopy are entered in their middle, by design. */
	return lo && (!strcmp(f[lo - 1].name, "runtime.duffzero") ||
		      !strcmp(f[lo - 1].name, "runtime.duffcopy"));
}

static void test_returns_are_what_go_tool_objdump_shows(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_BINARIES; k++) {
		size_t n_lines, n, asm_funcs = 0, compared = 0, calls = 0, after_deferreturn = 0;
		size_t j = 0;
		char **lines = lines_of(path_of(binaries[k], ".rets"), &n_lines);
		uint64_t *want = calloc(n_lines + 1, sizeof(*want)), deferreturn = 0;
		struct gobin_func *f;
		const char *from;
		char err[256] = "";
		int fd;
		struct gobin *b = open_bin(binaries[k], "", &fd);

		for (size_t i = 0; i < n_lines; i++)
			want[i] = strtoull(lines[i], NULL, 16);
		qsort(want, n_lines, sizeof(*want), cmp_u64);
		assert_int_equal(gobin_funcs(b, all, NULL, &f, &n, &from, err, sizeof(err)), 0);
		for (size_t i = 0; i < n; i++)
			if (!strcmp(f[i].name, "runtime.deferreturn"))
				deferreturn = f[i].entry;
		assert_true(deferreturn);
		for (size_t i = 0; i < n; i++) {
			const uint8_t *code;
			uint64_t size = f[i].end - f[i].entry;
			struct go_code c;
			size_t w;

			assert_int_equal(gobin_code(b, f[i].entry, size, &code), 0);
			while (j < n_lines && want[j] < f[i].entry)
				j++;
			/* Assembly is never probed, and Capstone 4 does not know every
			 * AVX-512 instruction of the runtime's. */
			if (f[i].is_asm) {
				asm_funcs++;
				continue;
			}
			if (go_scan_code(gobin_machine(b), code, size, f[i].entry, &c, err,
					 sizeof(err)))
				fail_msg("%s: %s", f[i].name, err);
			for (w = 0; j + w < n_lines && want[j + w] < f[i].end; w++)
				if (w >= c.n_rets || c.rets[w].addr != want[j + w])
					break;
			if (w != c.n_rets || (j + w < n_lines && want[j + w] < f[i].end))
				fail_msg("%s: %zu returns found, go tool objdump shows others",
					 f[i].name, c.n_rets);
			for (size_t r = 0; r < c.n_rets; r++)
				after_deferreturn += c.rets[r].after_call == deferreturn;
			/* Every direct call lands on a function's entry. */
			for (size_t r = 0; r < c.n_calls; r++) {
				if (!entry_of_some(f, n, c.calls[r].target))
					fail_msg(
						"%s: a call at %#llx to %#llx, no function's entry",
						f[i].name, (unsigned long long)c.calls[r].addr,
						(unsigned long long)c.calls[r].target);
				assert_true(c.calls[r].next > c.calls[r].addr &&
					    c.calls[r].next <= f[i].end);
			}
			compared += w;
			calls += c.n_calls;
			go_code_free(&c);
		}
		print_message("# %s: %zu returns as objdump shows them (%zu after a call of "
			      "runtime.deferreturn), %zu direct calls, %zu assembly functions "
			      "skipped\n",
			      binaries[k], compared, after_deferreturn, calls, asm_funcs);
		assert_true(asm_funcs > 0 && asm_funcs < n / 10);
		assert_true(compared > n_lines * 9 / 10);
		assert_true(after_deferreturn > 0 && calls > compared);
		gobin_funcs_free(f, n);
		close_bin(b, fd);
		free(want);
		free_lines(lines, n_lines);
	}
}

/* Where a function's body starts, past its stack check (a probe there runs once per call
 * however often the stack grows): what objdump shows after the JBE of CMPQ SP|R12,
 * 0x10(R14), and the entry for a function without that check. */
static void test_bodies_start_past_the_stack_check(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_BINARIES; k++) {
		size_t n_lines, n, checked = 0, without = 0, j = 0;
		char **lines = lines_of(path_of(binaries[k], ".bodies"), &n_lines);
		uint64_t(*want)[2] = calloc(n_lines + 1, sizeof(*want));
		struct gobin_func *f;
		const char *from;
		char err[256] = "";
		int fd;
		struct gobin *b = open_bin(binaries[k], "", &fd);

		for (size_t i = 0; i < n_lines; i++) {
			char *end;

			want[i][0] = strtoull(lines[i], &end, 16);
			want[i][1] = strtoull(end, NULL, 16);
		}
		qsort(want, n_lines, sizeof(*want), cmp_u64); /* by entry: the first word */
		assert_int_equal(gobin_funcs(b, all, NULL, &f, &n, &from, err, sizeof(err)), 0);
		for (size_t i = 0; i < n; i++) {
			const uint8_t *code;
			uint64_t size = f[i].end - f[i].entry, body = f[i].entry;
			struct go_code c;

			while (j < n_lines && want[j][0] < f[i].entry)
				j++;
			if (j < n_lines && want[j][0] == f[i].entry)
				body = want[j][1];
			if (f[i].is_asm)
				continue;
			assert_int_equal(gobin_code(b, f[i].entry, size, &code), 0);
			if (go_scan_code(gobin_machine(b), code, size, f[i].entry, &c, err,
					 sizeof(err)))
				fail_msg("%s: %s", f[i].name, err);
			if (c.body != body)
				fail_msg("%s: body at %#llx, objdump says %#llx", f[i].name,
					 (unsigned long long)c.body, (unsigned long long)body);
			checked++;
			without += body == f[i].entry;
			go_code_free(&c);
		}
		print_message("# %s: %zu bodies as objdump shows them, %zu functions without a "
			      "stack check\n",
			      binaries[k], checked, without);
		assert_true(checked > n_lines && n_lines > checked / 2);
		gobin_funcs_free(f, n);
		close_bin(b, fd);
		free(want);
		free_lines(lines, n_lines);
	}
}

static void test_file_offsets_hold_the_code(void **state)
{
	struct gobin_func *f;
	const char *from;
	char err[256] = "";
	size_t n;
	int fd;
	struct gobin *b = open_bin("fakeapi", "", &fd);

	(void)state;
	assert_int_equal(gobin_funcs(b, all, NULL, &f, &n, &from, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i += 97) {
		uint8_t bytes[16];
		const uint8_t *code;
		uint64_t off, size = f[i].end - f[i].entry < 16 ? f[i].end - f[i].entry : 16;

		assert_int_equal(gobin_file_offset(b, f[i].entry, &off), 0);
		assert_int_equal(gobin_code(b, f[i].entry, size, &code), 0);
		assert_int_equal(pread(fd, bytes, size, (off_t)off), (ssize_t)size);
		assert_memory_equal(bytes, code, size);
	}
	assert_int_equal(gobin_file_offset(b, 0x10, &n), -EINVAL);
	assert_int_equal(gobin_code(b, f[0].entry, 1ull << 40, (const uint8_t **)&from), -EINVAL);
	gobin_funcs_free(f, n);
	close_bin(b, fd);
}

static void test_what_is_not_an_elf64_le_binary(void **state)
{
	static const struct {
		const char *what;
		uint8_t cls, data;
		uint16_t machine;
		const char *error;
	} cases[] = {
		{ "32-bit", ELFCLASS32, ELFDATA2LSB, EM_386,
		  "not a 64-bit little-endian ELF file" },
		{ "big-endian", ELFCLASS64, ELFDATA2MSB, EM_S390,
		  "not a 64-bit little-endian ELF file" },
		{ "riscv", ELFCLASS64, ELFDATA2LSB, EM_RISCV,
		  "an ELF file for machine 243 (neither x86-64 nor arm64)" },
	};
	char err[256];
	struct gobin *b;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		Elf64_Ehdr eh = { 0 };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = cases[i].cls;
		eh.e_ident[EI_DATA] = cases[i].data;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		eh.e_type = ET_EXEC;
		eh.e_machine = cases[i].data == ELFDATA2MSB ? __builtin_bswap16(cases[i].machine)
							    : cases[i].machine;
		eh.e_version = EV_CURRENT;
		eh.e_ehsize = sizeof(eh);
		assert_int_equal(gobin_open_mem(&eh, sizeof(eh), &b, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].error);
		assert_null(b);
	}
	assert_int_equal(gobin_open_mem("#!/bin/sh\n", 10, &b, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "not an ELF file");
	assert_int_equal(gobin_open_mem(NULL, 0, &b, err, sizeof(err)), -EINVAL);
}

/* --- the function table's errors --------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A table of two functions, "a" at text+0 and "bb" (assembly) at text+0x40, text ending
 * at 0x80: header, names at 72, function table at 80 ({0, 24}, {0x40, 68}, {0x80}), the
 * records (44 bytes) at 80 + 24 and 80 + 68. */
static size_t make_pclntab(uint8_t *t)
{
	memset(t, 0, 256);
	put32(t, 0xfffffff1);
	t[6] = 1;
	t[7] = 8;
	put64(t + 8, 2);	 /* nfunc */
	put64(t + 24, 0x401000); /* textStart */
	put64(t + 32, 72);	 /* funcnameOffset */
	put64(t + 64, 80);	 /* pclnOffset */
	memcpy(t + 72, "a\0bb\0", 5);
	put32(t + 80, 0);
	put32(t + 84, 24);
	put32(t + 88, 0x40);
	put32(t + 92, 68);
	put32(t + 96, 0x80);
	put32(t + 104, 0);
	put32(t + 108, 0); /* nameOff of "a" */
	put32(t + 148, 0x40);
	put32(t + 152, 2); /* nameOff of "bb" */
	t[148 + 41] = GO_FUNC_ASM;
	return 192;
}

static void test_pclntab_records_and_their_errors(void **state)
{
	struct go_pclntab t;
	uint8_t data[256];
	const char *name;
	uint64_t entry, end;
	uint8_t flags;
	char err[256];
	size_t n = make_pclntab(data);

	(void)state;
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nfunc, 2);
	assert_int_equal(go_pclntab_func(&t, 0, &name, &entry, &end, &flags), 0);
	assert_string_equal(name, "a");
	assert_int_equal(entry, 0x401000);
	assert_int_equal(end, 0x401040);
	assert_int_equal(flags, 0);
	assert_int_equal(go_pclntab_func(&t, 1, &name, &entry, &end, &flags), 0);
	assert_string_equal(name, "bb");
	assert_int_equal(end, 0x401080);
	assert_int_equal(flags, GO_FUNC_ASM);
	assert_int_equal(go_pclntab_func(&t, 2, &name, &entry, &end, &flags), -EINVAL);
	/* Go 1.26 writes no text address in the header: the module data's is given. */
	put64(data + 24, 0);
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the function table has no text address, and none was found "
				 "elsewhere");
	assert_int_equal(go_pclntab_open(data, n, 0x5000, &t, err, sizeof(err)), 0);
	assert_int_equal(go_pclntab_func(&t, 1, &name, &entry, &end, &flags), 0);
	assert_int_equal(entry, 0x5040);

	/* A name offset past the table; a record cut off by the table's end. */
	put32(data + 152, 1000);
	assert_int_equal(go_pclntab_func(&t, 1, &name, &entry, &end, &flags), -EINVAL);
	put32(data + 152, 2);
	assert_int_equal(go_pclntab_open(data, 170, 0x5000, &t, err, sizeof(err)), 0);
	assert_int_equal(go_pclntab_func(&t, 1, &name, &entry, &end, &flags), -EINVAL);

	make_pclntab(data);
	put32(data + 88, 0x90); /* past the next entry: unsorted */
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the function table is not sorted (function 2)");
	make_pclntab(data);
	put64(data + 8, 1u << 30);
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the function table claims 1073741824 functions");
	make_pclntab(data);
	put64(data + 64, 180);
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the function table's offsets point outside it");
	make_pclntab(data);
	data[7] = 4;
	assert_int_equal(go_pclntab_open(data, n, 0, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "no Go 1.18+ function table for 64-bit pointers (.gopclntab header)");
}

static void test_scan_errors_calls_and_arm64(void **state)
{
	/* x86-64: call +0 (to 0x1005); mov eax, 1; ret; padding. Then the same with push es
	 * (invalid in 64-bit mode) after the ret. */
	static const uint8_t good[] = { 0xe8, 0x00, 0x00, 0x00, 0x00, 0xb8, 0x01,
					0x00, 0x00, 0x00, 0xc3, 0xcc, 0xcc };
	static const uint8_t bad[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0x06, 0xc3 };
	/* arm64: bl -4 (to 0x1ffc); mov x0, #1; ret; padding */
	static const uint8_t arm[] = { 0xff, 0xff, 0xff, 0x97, 0x20, 0x00, 0x80, 0xd2,
				       0xc0, 0x03, 0x5f, 0xd6, 0,    0,	   0,	 0 };
	struct go_code c;
	char err[256];

	(void)state;
	assert_int_equal(go_scan_code(EM_X86_64, good, sizeof(good), 0x1000, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_rets, 1);
	assert_int_equal(c.rets[0].addr, 0x100a);
	assert_int_equal(c.rets[0].after_call, 0x1005);
	assert_int_equal(c.n_calls, 1);
	assert_int_equal(c.calls[0].addr, 0x1000);
	assert_int_equal(c.calls[0].next, 0x1005);
	assert_int_equal(c.calls[0].target, 0x1005);
	go_code_free(&c);
	assert_int_equal(go_scan_code(EM_X86_64, bad, sizeof(bad), 0x1000, &c, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err,
			    "an instruction at 0x1006 (offset 6 of the function) does not decode");
	assert_null(c.rets);
	assert_int_equal(go_scan_code(EM_AARCH64, arm, sizeof(arm), 0x2000, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_rets, 1);
	assert_int_equal(c.rets[0].addr, 0x2008);
	assert_int_equal(c.rets[0].after_call, 0x1ffc);
	assert_int_equal(c.calls[0].target, 0x1ffc);
	go_code_free(&c);
	assert_int_equal(go_scan_code(EM_RISCV, arm, sizeof(arm), 0, &c, err, sizeof(err)),
			 -EINVAL);
}

static bool capstone_mapped(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "libcapstone") != NULL;
	fclose(f);
	return found;
}

/* The disassembler is in memory only while code is scanned, or while it is held. */
static void test_disassembler_loaded_only_while_used(void **state)
{
	static const uint8_t ret[] = { 0xc3 };
	struct go_code c;
	char err[256];
	void *hold;

	(void)state;
	assert_false(capstone_mapped());
	assert_int_equal(go_scan_code(EM_X86_64, ret, sizeof(ret), 0x1000, &c, err, sizeof(err)),
			 0);
	go_code_free(&c);
	assert_false(capstone_mapped());
	hold = go_disasm_hold();
	assert_non_null(hold);
	assert_true(capstone_mapped());
	assert_int_equal(go_scan_code(EM_X86_64, ret, sizeof(ret), 0x1000, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_rets, 1);
	go_code_free(&c);
	assert_true(capstone_mapped());
	go_disasm_release(hold);
	assert_false(capstone_mapped());
}

int main(void)
{
	const struct CMUnitTest loading[] = {
		cmocka_unit_test(test_disassembler_loaded_only_while_used),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buildinfo_is_what_go_version_m_prints),
		cmocka_unit_test(test_a_c_program_is_not_a_go_binary),
		cmocka_unit_test(test_buildinfo_replacements_and_errors),
		cmocka_unit_test(test_functions_are_what_go_tool_nm_lists),
		cmocka_unit_test(test_only_the_functions_asked_for),
		cmocka_unit_test(test_returns_are_what_go_tool_objdump_shows),
		cmocka_unit_test(test_bodies_start_past_the_stack_check),
		cmocka_unit_test(test_file_offsets_hold_the_code),
		cmocka_unit_test(test_what_is_not_an_elf64_le_binary),
		cmocka_unit_test(test_pclntab_records_and_their_errors),
		cmocka_unit_test(test_scan_errors_calls_and_arm64),
	};

	void *hold;
	int failed = cmocka_run_group_tests(loading, NULL, NULL);

	/* Held for the rest, as the reconcile module holds it for a binary's functions:
	 * opened for each of thousands of functions, loading it would take minutes. */
	hold = go_disasm_hold();
	failed += cmocka_run_group_tests(tests, NULL, NULL);
	go_disasm_release(hold);
	return failed;
}
