/* Unit tests for the cgroup v2 tree cache (user/lib/cgroups.h): finding the cgroup2 mount in
 * mountinfo text, and the id <-> path map read from a directory tree. The tree tests use
 * plain directories under a temporary directory and a mountinfo file pointing at it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroups.h"

/* Fake ids for cgroups_add: far above any real inode number. */
#define FAKE_ID(n) ((1ULL << 62) + (n))

static void check_mount(const char *text, const char *want)
{
	char out[256];

	memset(out, 'Z', sizeof(out));
	out[sizeof(out) - 1] = 0;
	assert_int_equal(cgroups_find_mount(text, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void check_no_mount(const char *text)
{
	char out[64] = "untouched";

	assert_int_equal(cgroups_find_mount(text, out, sizeof(out)), -ENOENT);
	assert_string_equal(out, "untouched");
}

static void test_find_mount_hybrid(void **state)
{
	(void)state;
	check_mount(
		"22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
		"25 30 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs "
		"ro,mode=755\n"
		"26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - "
		"cgroup2 cgroup2 rw,nsdelegate\n"
		"27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - "
		"cgroup cgroup rw,xattr,name=systemd\n"
		"28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime "
		"shared:12 - cgroup cgroup rw,cpu,cpuacct\n",
		"/sys/fs/cgroup/unified");
	/* v1 hierarchies before the cgroup2 line are skipped. */
	check_mount("27 25 0:24 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup "
		    "rw,name=systemd\n"
		    "28 25 0:25 / /sys/fs/cgroup/memory rw shared:12 - cgroup cgroup rw,memory\n"
		    "26 25 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n",
		    "/sys/fs/cgroup/unified");
}

static void test_find_mount_pure_v2(void **state)
{
	(void)state;
	check_mount(
		"24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
		"30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
		"cgroup2 rw,nsdelegate,memory_recursiveprot\n"
		"31 24 0:6 / /sys/kernel/security rw shared:8 - securityfs securityfs rw\n",
		"/sys/fs/cgroup");
	/* The last line without a newline. */
	check_mount("30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw", "/sys/fs/cgroup");
	/* No optional fields at all. */
	check_mount("30 24 0:26 / /cg rw,relatime - cgroup2 none rw\n", "/cg");
}

static void test_find_mount_optional_fields(void **state)
{
	(void)state;
	check_mount("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 propagate_from:3 - "
		    "cgroup2 none rw,errors=continue\n",
		    "/mnt2");
	/* In a container the cgroup root may be a subtree: the mount point is what counts. */
	check_mount("1290 1280 0:26 /../../kubepods.slice /sys/fs/cgroup ro,nosuid master:9 - "
		    "cgroup2 cgroup rw\n",
		    "/sys/fs/cgroup");
}

static void test_find_mount_octal_escapes(void **state)
{
	(void)state;
	check_mount("40 30 0:30 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n", "/mnt/my cgroup");
	check_mount("40 30 0:30 / /a\\011b\\134c\\012d rw - cgroup2 cgroup2 rw\n", "/a\tb\\c\nd");
	/* Not an escape: left as it is. */
	check_mount("40 30 0:30 / /a\\9b rw - cgroup2 cgroup2 rw\n", "/a\\9b");
}

static void test_find_mount_absent(void **state)
{
	(void)state;
	check_no_mount("");
	check_no_mount("22 1 0:21 / /proc rw - proc proc rw\n"
		       "27 25 0:24 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw\n"
		       "28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
	/* "cgroup2" elsewhere on the line is not the filesystem type. */
	check_no_mount("50 1 0:40 / /cgroup2 rw - tmpfs cgroup2 rw\n");
	check_no_mount("50 1 0:40 / /x rw - cgroup2fs none rw\n");
	check_no_mount("garbage without separator\n\n\n");
}

static void test_find_mount_small_buffer(void **state)
{
	char out[8] = "keep";

	(void)state;
	/* A mount point that does not fit is not truncated into a wrong path. */
	assert_true(cgroups_find_mount("30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", out,
				       sizeof(out)) < 0);
	assert_string_equal(out, "keep");
}

/* A temporary tree: base/root is the "cgroup2 mount", base/mountinfo points at it. */
struct tree {
	char base[64];
	char root[128];
	char mountinfo[128];
};

static void mkdir_at(const struct tree *t, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s%s", t->root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static uint64_t ino_at(const struct tree *t, const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", t->root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* root_name may contain a space: mountinfo then carries it as \040. */
static void tree_create(struct tree *t, const char *root_name, const char *escaped)
{
	char text[512];

	snprintf(t->base, sizeof(t->base), "/tmp/ctrlscope-cg-XXXXXX");
	assert_non_null(mkdtemp(t->base));
	snprintf(t->root, sizeof(t->root), "%s/%s", t->base, root_name);
	snprintf(t->mountinfo, sizeof(t->mountinfo), "%s/mountinfo", t->base);
	assert_int_equal(mkdir(t->root, 0755), 0);
	snprintf(text, sizeof(text),
		 "25 30 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro\n"
		 "26 25 0:23 / %s/%s rw,nosuid,nodev shared:10 - cgroup2 cgroup2 rw\n"
		 "27 25 0:24 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw\n",
		 t->base, escaped);
	write_file(t->mountinfo, text);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The tree is made by setup and removed by teardown, so a failed test leaves nothing. */
static int setup_tree(void **state)
{
	static struct tree t;

	tree_create(&t, "root", "root");
	*state = &t;
	return 0;
}

static int setup_tree_with_space(void **state)
{
	static struct tree t;

	tree_create(&t, "cg root", "cg\\040root");
	*state = &t;
	return 0;
}

static int teardown_tree(void **state)
{
	struct tree *t = *state;

	return nftw(t->base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_open_reads_tree(void **state)
{
	struct cgroups *cg = NULL;
	const struct tree *t = *state;

	mkdir_at(t, "/a");
	mkdir_at(t, "/a/b");
	mkdir_at(t, "/a/b/c");
	mkdir_at(t, "/d");
	{
		char file[256];

		/* Regular files are not cgroups. */
		snprintf(file, sizeof(file), "%s/a/cgroup.procs", t->root);
		write_file(file, "1\n");
	}
	assert_int_equal(cgroups_open(t->mountinfo, &cg), 0);
	assert_non_null(cg);
	assert_string_equal(cgroups_mount(cg), t->root);
	assert_int_equal(cgroups_count(cg), 5);
	assert_string_equal(cgroups_path(cg, ino_at(t, "")), "/");
	assert_string_equal(cgroups_path(cg, ino_at(t, "/a")), "/a");
	assert_string_equal(cgroups_path(cg, ino_at(t, "/a/b")), "/a/b");
	assert_string_equal(cgroups_path(cg, ino_at(t, "/a/b/c")), "/a/b/c");
	assert_string_equal(cgroups_path(cg, ino_at(t, "/d")), "/d");
	assert_null(cgroups_path(cg, FAKE_ID(1)));
	cgroups_close(cg);
}

static void test_add_and_remove(void **state)
{
	struct cgroups *cg = NULL;
	uint64_t root, a, b;
	const struct tree *t = *state;

	mkdir_at(t, "/a");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), 0);
	root = ino_at(t, "");
	a = ino_at(t, "/a");
	assert_int_equal(cgroups_count(cg), 2);

	b = FAKE_ID(1);
	assert_string_equal(cgroups_add(cg, b, a, "b"), "/a/b");
	assert_string_equal(cgroups_path(cg, b), "/a/b");
	assert_string_equal(cgroups_add(cg, FAKE_ID(2), b, "c.scope"), "/a/b/c.scope");
	assert_string_equal(cgroups_path(cg, FAKE_ID(2)), "/a/b/c.scope");
	/* Directly under the root: no double slash. */
	assert_string_equal(cgroups_add(cg, FAKE_ID(3), root, "top"), "/top");
	assert_int_equal(cgroups_count(cg), 5);

	/* Unknown parent, slashes and empty names are refused and change nothing. */
	assert_null(cgroups_add(cg, FAKE_ID(4), FAKE_ID(99), "x"));
	assert_null(cgroups_add(cg, FAKE_ID(5), a, "x/y"));
	assert_null(cgroups_add(cg, FAKE_ID(6), a, "/x"));
	assert_null(cgroups_add(cg, FAKE_ID(7), a, ""));
	assert_null(cgroups_path(cg, FAKE_ID(4)));
	assert_null(cgroups_path(cg, FAKE_ID(5)));
	assert_null(cgroups_path(cg, FAKE_ID(6)));
	assert_null(cgroups_path(cg, FAKE_ID(7)));
	assert_int_equal(cgroups_count(cg), 5);

	cgroups_remove(cg, FAKE_ID(2));
	assert_null(cgroups_path(cg, FAKE_ID(2)));
	assert_int_equal(cgroups_count(cg), 4);
	cgroups_remove(cg, FAKE_ID(2)); /* twice: no effect */
	cgroups_remove(cg, FAKE_ID(99));
	assert_int_equal(cgroups_count(cg), 4);
	assert_string_equal(cgroups_path(cg, b), "/a/b");
	assert_string_equal(cgroups_path(cg, a), "/a");

	/* A reused id takes the new path. */
	assert_string_equal(cgroups_add(cg, FAKE_ID(3), a, "moved"), "/a/moved");
	assert_int_equal(cgroups_count(cg), 4);
	cgroups_close(cg);
}

struct seen {
	uint64_t ids[16];
	char paths[16][64];
	size_t n;
};

static void record(uint64_t id, const char *path, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 16);
	s->ids[s->n] = id;
	snprintf(s->paths[s->n], sizeof(s->paths[s->n]), "%s", path);
	s->n++;
}

static void test_foreach_visits_each_once(void **state)
{
	struct cgroups *cg = NULL;
	struct seen seen = { 0 };
	const struct tree *t = *state;
	struct {
		uint64_t id;
		const char *path;
		int visits;
	} want[5];

	mkdir_at(t, "/x");
	mkdir_at(t, "/x/y");
	mkdir_at(t, "/z");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), 0);
	assert_non_null(cgroups_add(cg, FAKE_ID(1), ino_at(t, "/z"), "w"));
	want[0].id = ino_at(t, "");
	want[0].path = "/";
	want[1].id = ino_at(t, "/x");
	want[1].path = "/x";
	want[2].id = ino_at(t, "/x/y");
	want[2].path = "/x/y";
	want[3].id = ino_at(t, "/z");
	want[3].path = "/z";
	want[4].id = FAKE_ID(1);
	want[4].path = "/z/w";
	cgroups_foreach(cg, record, &seen);
	assert_int_equal(seen.n, 5);
	assert_int_equal(cgroups_count(cg), 5);
	for (size_t i = 0; i < 5; i++)
		want[i].visits = 0;
	for (size_t i = 0; i < seen.n; i++) {
		bool found = false;

		for (size_t j = 0; j < 5; j++) {
			if (want[j].id != seen.ids[i])
				continue;
			found = true;
			want[j].visits++;
			assert_string_equal(seen.paths[i], want[j].path);
		}
		assert_true(found);
	}
	for (size_t j = 0; j < 5; j++)
		assert_int_equal(want[j].visits, 1);
	cgroups_close(cg);
}

static void test_rescan_and_growth(void **state)
{
	struct cgroups *cg = NULL;
	const struct tree *t = *state;
	char rel[32];

	mkdir_at(t, "/gone");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), 0);
	assert_int_equal(cgroups_count(cg), 2);
	assert_non_null(cgroups_add(cg, FAKE_ID(1), ino_at(t, ""), "stale"));
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/gone", t->root);
		assert_int_equal(rmdir(path), 0);
	}
	/* More cgroups than the table's initial buckets. */
	for (int i = 0; i < 600; i++) {
		snprintf(rel, sizeof(rel), "/n%d", i);
		mkdir_at(t, rel);
	}
	mkdir_at(t, "/n7/deep");
	assert_int_equal(cgroups_rescan(cg), 0);
	assert_int_equal(cgroups_count(cg), 602);
	assert_null(cgroups_path(cg, FAKE_ID(1)));
	for (int i = 0; i < 600; i++) {
		char want[32];

		snprintf(rel, sizeof(rel), "/n%d", i);
		snprintf(want, sizeof(want), "/n%d", i);
		assert_string_equal(cgroups_path(cg, ino_at(t, rel)), want);
	}
	assert_string_equal(cgroups_path(cg, ino_at(t, "/n7/deep")), "/n7/deep");
	assert_string_equal(cgroups_path(cg, ino_at(t, "")), "/");
	/* Adds and removes keep working after the table grew. */
	for (int i = 0; i < 600; i++) {
		char want[32];

		snprintf(rel, sizeof(rel), "/n%d", i);
		snprintf(want, sizeof(want), "/n%d/c", i);
		assert_string_equal(cgroups_add(cg, FAKE_ID(1000 + i), ino_at(t, rel), "c"), want);
	}
	assert_int_equal(cgroups_count(cg), 1202);
	for (int i = 0; i < 600; i++) {
		char want[32];

		snprintf(want, sizeof(want), "/n%d/c", i);
		assert_string_equal(cgroups_path(cg, FAKE_ID(1000 + i)), want);
		cgroups_remove(cg, FAKE_ID(1000 + i));
	}
	assert_int_equal(cgroups_count(cg), 602);
	assert_null(cgroups_path(cg, FAKE_ID(1000)));
	assert_string_equal(cgroups_path(cg, ino_at(t, "/n599")), "/n599");
	cgroups_close(cg);
}

static void count_proc(uint32_t tgid, void *ctx)
{
	uint32_t *got = ctx;

	got[++got[0]] = tgid;
}

static void test_foreach_proc(void **state)
{
	struct cgroups *cg = NULL;
	uint32_t got[8] = { 0 };
	char file[256];
	const struct tree *t = *state;

	mkdir_at(t, "/svc");
	snprintf(file, sizeof(file), "%s/svc/cgroup.procs", t->root);
	write_file(file, "12\n345\n4194304\n");
	snprintf(file, sizeof(file), "%s/cgroup.procs", t->root);
	write_file(file, "1\n");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), 0);
	assert_int_equal(cgroups_foreach_proc(cg, ino_at(t, "/svc"), count_proc, got), 0);
	assert_int_equal(got[0], 3);
	assert_int_equal(got[1], 12);
	assert_int_equal(got[2], 345);
	assert_int_equal(got[3], 4194304);
	memset(got, 0, sizeof(got));
	assert_int_equal(cgroups_foreach_proc(cg, ino_at(t, ""), count_proc, got), 0);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 1);
	assert_int_equal(cgroups_foreach_proc(cg, FAKE_ID(1), count_proc, got), -ENOENT);
	cgroups_close(cg);
}

static void test_open_errors(void **state)
{
	struct cgroups *cg = NULL;
	const struct tree *t = *state;

	assert_int_equal(cgroups_open("/nonexistent/mountinfo", &cg), -ENOENT);
	write_file(t->mountinfo, "22 1 0:21 / /proc rw - proc proc rw\n");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), -ENOENT);
	write_file(t->mountinfo, "26 25 0:23 / /nonexistent/cgroup rw - cgroup2 cgroup2 rw\n");
	assert_int_equal(cgroups_open(t->mountinfo, &cg), -ENOENT);
	assert_null(cg);
	cgroups_close(NULL);
}

/* A real cgroup of the real cgroup2 mount, opened by its id. */
static void test_open_id(void **state)
{
	char mount[4096], path[4200];
	struct stat want, got;
	int mfd, fd;

	(void)state;
	if (geteuid() != 0)
		skip(); /* file handles need CAP_DAC_READ_SEARCH */
	assert_int_equal(cgroups_self_mount(mount, sizeof(mount)), 0);
	snprintf(path, sizeof(path), "%s/ctrlscope-unit-%d", mount, (int)getpid());
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(stat(path, &want), 0);
	mfd = open(mount, O_RDONLY | O_DIRECTORY);
	assert_true(mfd >= 0);
	fd = cgroups_open_id(mfd, (uint64_t)want.st_ino);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &got), 0);
	assert_int_equal(got.st_ino, want.st_ino);
	assert_int_equal(faccessat(fd, "cgroup.procs", F_OK, 0), 0);
	close(fd);
	assert_int_equal(rmdir(path), 0);
	/* Gone: no directory comes back for its id. */
	assert_int_equal(cgroups_open_id(mfd, (uint64_t)want.st_ino), -ESTALE);
	close(mfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_mount_hybrid),
		cmocka_unit_test(test_find_mount_pure_v2),
		cmocka_unit_test(test_find_mount_optional_fields),
		cmocka_unit_test(test_find_mount_octal_escapes),
		cmocka_unit_test(test_find_mount_absent),
		cmocka_unit_test(test_find_mount_small_buffer),
		cmocka_unit_test(test_open_id),
		cmocka_unit_test_setup_teardown(test_open_reads_tree, setup_tree_with_space,
						teardown_tree),
		cmocka_unit_test_setup_teardown(test_add_and_remove, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_foreach_visits_each_once, setup_tree,
						teardown_tree),
		cmocka_unit_test_setup_teardown(test_rescan_and_growth, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_foreach_proc, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_open_errors, setup_tree, teardown_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
