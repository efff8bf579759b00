/* Least privilege: after the BPF programs are loaded and attached, keep only the
 * capabilities the running agent still uses and drop every other one for good. */
#ifndef CTRLSCOPE_CAPS_H
#define CTRLSCOPE_CAPS_H

#include <stddef.h>

/* Keep CAP_BPF and CAP_PERFMON (iterators and links for target changes), CAP_SYS_PTRACE
 * (/proc/<pid>/exe of any process) and CAP_DAC_READ_SEARCH (cgroup and /proc files);
 * drop the rest from every set, including the bounding set. Returns 0 or -errno. */
int caps_drop_after_attach(void);
/* The same with another list of capabilities to keep (CAP_* numbers). */
int caps_drop_except(const int *keep, size_t n);
/* The effective set as "cap_bpf,cap_perfmon,..." for the start-up log line. */
void caps_describe(char *out, size_t size);

#endif
