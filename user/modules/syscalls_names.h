/* Names for numbers the kernel reports: syscalls (x86_64 table generated at build time
 * from the kernel UAPI headers) and errno values. */
#ifndef CTRLSCOPE_NAMES_H
#define CTRLSCOPE_NAMES_H

#include <stddef.h>

/* The syscall's name, or "syscall_<nr>" written to buf when the table lacks it. */
const char *syscall_name(unsigned int nr, char *buf, size_t size);
/* "ENOENT", the kernel-internal "ERESTARTSYS" family, or "E<n>" when unnamed. */
const char *errno_name(unsigned int err, char *buf, size_t size);

#endif
