/* Syscall and errno names: see names.h. */
#include "syscalls_names.h"

#include <stdio.h>
#include <string.h>

/* Generated from <asm/unistd_64.h> and user/modules/syscalls_x86_64_extra.tsv (build/gen/). */
extern const char *const cs_syscall_table[];
extern const unsigned int cs_syscall_table_len;

const char *syscall_name(unsigned int nr, char *buf, size_t size)
{
	if (nr < cs_syscall_table_len && cs_syscall_table[nr])
		return cs_syscall_table[nr];
	snprintf(buf, size, "syscall_%u", nr);
	return buf;
}

/* Values a syscall may return internally but user space never sees: the sys_exit
 * tracepoint runs before signal delivery turns them into EINTR or a restart
 * (include/linux/errno.h). */
static const struct {
	unsigned int err;
	const char *name;
} kernel_errnos[] = {
	{ 512, "ERESTARTSYS" },
	{ 513, "ERESTARTNOINTR" },
	{ 514, "ERESTARTNOHAND" },
	{ 515, "ENOIOCTLCMD" },
	{ 516, "ERESTART_RESTARTBLOCK" },
	{ 517, "EPROBE_DEFER" },
	{ 518, "EOPENSTALE" },
	{ 519, "ENOPARAM" },
	{ 521, "EBADHANDLE" },
	{ 522, "ENOTSYNC" },
	{ 523, "EBADCOOKIE" },
	{ 524, "ENOTSUPP" },
	{ 525, "ETOOSMALL" },
	{ 526, "ESERVERFAULT" },
	{ 527, "EBADTYPE" },
	{ 528, "EJUKEBOX" },
	{ 529, "EIOCBQUEUED" },
	{ 530, "ERECALLCONFLICT" },
	{ 531, "ENOGRACE" },
};

const char *errno_name(unsigned int err, char *buf, size_t size)
{
	const char *name = err < 512 ? strerrorname_np((int)err) : NULL;

	if (name)
		return name;
	for (size_t i = 0; i < sizeof(kernel_errnos) / sizeof(kernel_errnos[0]); i++) {
		if (kernel_errnos[i].err == err)
			return kernel_errnos[i].name;
	}
	snprintf(buf, size, "E%u", err);
	return buf;
}
