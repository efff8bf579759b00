/* Fixed-width types for headers shared by BPF programs and user space: BPF code gets them
 * from vmlinux.h, user space from the kernel's UAPI headers. Nothing else belongs here. */
#ifndef CTRLSCOPE_TYPES_H
#define CTRLSCOPE_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#endif
