/* Unit tests for syscall and errno names (user/names.h): the generated x86_64 table, its
 * supplement for syscalls newer than the build headers, and kernel-internal errnos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "names.h"

static void check_syscall(unsigned int nr, const char *want)
{
	char buf[32] = "untouched";

	assert_string_equal(syscall_name(nr, buf, sizeof(buf)), want);
}

static void test_syscall_names(void **state)
{
	(void)state;
	check_syscall(0, "read");
	check_syscall(1, "write");
	check_syscall(35, "nanosleep");
	/* x86_64: getpid is 39 and getppid 110 (arch/x86/entry/syscalls/syscall_64.tbl). */
	check_syscall(39, "getpid");
	check_syscall(110, "getppid");
	check_syscall(59, "execve");
	check_syscall(202, "futex");
	check_syscall(257, "openat");
	check_syscall(334, "rseq");
	check_syscall(424, "pidfd_send_signal");
	check_syscall(435, "clone3");
}

static void test_syscall_supplement(void **state)
{
	(void)state;
	/* From user/syscalls_x86_64_extra.tsv when the build headers are older. */
	check_syscall(451, "cachestat");
	check_syscall(462, "mseal");
	check_syscall(470, "listns");
}

static void test_syscall_unknown(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(syscall_name(1000, buf, sizeof(buf)), "syscall_1000");
	/* The name is written to the caller's buffer. */
	assert_ptr_equal(syscall_name(1000, buf, sizeof(buf)), buf);
	/* The hole between rseq and pidfd_send_signal, and x32's range. */
	check_syscall(335, "syscall_335");
	check_syscall(423, "syscall_423");
	check_syscall(512, "syscall_512");
	check_syscall(4294967295u, "syscall_4294967295");
}

static void check_errno(unsigned int err, const char *want)
{
	char buf[32] = "untouched";

	assert_string_equal(errno_name(err, buf, sizeof(buf)), want);
}

static void test_errno_names(void **state)
{
	(void)state;
	check_errno(1, "EPERM");
	check_errno(2, "ENOENT");
	check_errno(4, "EINTR");
	check_errno(11, "EAGAIN");
	check_errno(13, "EACCES");
	check_errno(22, "EINVAL");
	check_errno(110, "ETIMEDOUT");
}

static void test_errno_kernel_internal(void **state)
{
	(void)state;
	check_errno(512, "ERESTARTSYS");
	check_errno(513, "ERESTARTNOINTR");
	check_errno(514, "ERESTARTNOHAND");
	check_errno(515, "ENOIOCTLCMD");
	check_errno(516, "ERESTART_RESTARTBLOCK");
	check_errno(524, "ENOTSUPP");
	check_errno(531, "ENOGRACE");
}

static void test_errno_unknown(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(errno_name(4000, buf, sizeof(buf)), "E4000");
	assert_ptr_equal(errno_name(4000, buf, sizeof(buf)), buf);
	check_errno(520, "E520"); /* a hole in include/linux/errno.h */
	check_errno(532, "E532");
	check_errno(4095, "E4095");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscall_names),
		cmocka_unit_test(test_syscall_supplement),
		cmocka_unit_test(test_syscall_unknown),
		cmocka_unit_test(test_errno_names),
		cmocka_unit_test(test_errno_kernel_internal),
		cmocka_unit_test(test_errno_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
