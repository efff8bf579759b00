/* Unit tests for syscall and errno names (user/modules/syscalls_names.h): the table generated for the target
 * architecture (x86_64 or arm64), its supplement for syscalls newer than the build headers,
 * and kernel-internal errnos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/syscall.h> /* the target's __NR_* numbers */

#include "syscalls_names.h"

static void check_syscall(unsigned int nr, const char *want)
{
	char buf[32] = "untouched";

	assert_string_equal(syscall_name(nr, buf, sizeof(buf)), want);
}

static void test_syscall_names(void **state)
{
	(void)state;
	/* The numbers differ between architectures: the target's own, from its headers. */
	check_syscall(__NR_read, "read");
	check_syscall(__NR_write, "write");
	check_syscall(__NR_nanosleep, "nanosleep");
	check_syscall(__NR_getpid, "getpid");
	check_syscall(__NR_getppid, "getppid");
	check_syscall(__NR_execve, "execve");
	check_syscall(__NR_futex, "futex");
	check_syscall(__NR_openat, "openat");
	check_syscall(__NR_rseq, "rseq");
	check_syscall(__NR_pidfd_send_signal, "pidfd_send_signal");
	check_syscall(__NR_clone3, "clone3");
	/* arm64 defines these through asm-generic's __NR3264_* macros. */
	check_syscall(__NR_fcntl, "fcntl");
	check_syscall(__NR_fstat, "fstat");
	check_syscall(__NR_lseek, "lseek");
	check_syscall(__NR_mmap, "mmap");
	check_syscall(__NR_newfstatat, "newfstatat");
	/* And the numbers themselves, from the kernel's tables rather than the headers. */
#if defined(__x86_64__)
	/* arch/x86/entry/syscalls/syscall_64.tbl */
	check_syscall(0, "read");
	check_syscall(39, "getpid");
	check_syscall(110, "getppid");
	check_syscall(72, "fcntl");
	check_syscall(257, "openat");
#elif defined(__aarch64__)
	/* include/uapi/asm-generic/unistd.h */
	check_syscall(63, "read");
	check_syscall(172, "getpid");
	check_syscall(173, "getppid");
	check_syscall(25, "fcntl");
	check_syscall(56, "openat");
#endif
	check_syscall(424, "pidfd_send_signal");
	check_syscall(435, "clone3");
}

static void test_syscall_supplement(void **state)
{
	(void)state;
	/* From user/modules/syscalls_x86_64_extra.tsv when the build headers are older. */
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
#if defined(__aarch64__)
	/* Not system calls on arm64: __NR_arch_specific_syscall (the start of a range it does
	 * not use) and clock_gettime64 (32-bit architectures only). */
	check_syscall(244, "syscall_244");
	check_syscall(403, "syscall_403");
#endif
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
