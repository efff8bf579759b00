/* Capability dropping: see caps.h. Uses capget/capset directly: two 32-bit words per set
 * (_LINUX_CAPABILITY_VERSION_3), no libcap needed. */
#include "caps.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38 /* Linux 5.8 */
#endif
#ifndef CAP_BPF
#define CAP_BPF 39 /* Linux 5.8 */
#endif

static const int kept[] = { CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH };

static const struct {
	int cap;
	const char *name;
} names[] = {
	{ CAP_CHOWN, "cap_chown" },
	{ CAP_DAC_OVERRIDE, "cap_dac_override" },
	{ CAP_DAC_READ_SEARCH, "cap_dac_read_search" },
	{ CAP_NET_BIND_SERVICE, "cap_net_bind_service" },
	{ CAP_NET_ADMIN, "cap_net_admin" },
	{ CAP_SYS_PTRACE, "cap_sys_ptrace" },
	{ CAP_SYS_ADMIN, "cap_sys_admin" },
	{ CAP_SYS_RESOURCE, "cap_sys_resource" },
	{ CAP_PERFMON, "cap_perfmon" },
	{ CAP_BPF, "cap_bpf" },
};

static bool is_kept(const int *keep, size_t n, int cap)
{
	for (size_t i = 0; i < n; i++) {
		if (keep[i] == cap)
			return true;
	}
	return false;
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = 40;

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = 40;
		fclose(f);
	}
	return last;
}

static int get_caps(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

int caps_drop_after_attach(void)
{
	return caps_drop_except(kept, sizeof(kept) / sizeof(kept[0]));
}

int caps_drop_except(const int *keep, size_t n)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int last = last_cap(), err;

	if ((err = get_caps(data)))
		return err;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, dropped below. */
	for (int cap = 0; cap <= last; cap++) {
		if (!is_kept(keep, n, cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) &&
		    errno != EINVAL && errno != EPERM)
			return -errno;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap < 64; cap++) {
		__u32 bit = 1u << (cap % 32);

		if (is_kept(keep, n, cap))
			continue;
		data[cap / 32].effective &= ~bit;
		data[cap / 32].permitted &= ~bit;
		data[cap / 32].inheritable &= ~bit;
	}
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	/* Nothing this process might exec can regain what was dropped. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}

void caps_describe(char *out, size_t size)
{
	struct __user_cap_data_struct data[2];
	size_t len = 0;

	out[0] = 0;
	if (get_caps(data)) {
		snprintf(out, size, "unknown");
		return;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int cap = names[i].cap;

		if (!(data[cap / 32].effective & (1u << (cap % 32))))
			continue;
		len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s",
					len ? "," : "", names[i].name);
	}
	if (!len)
		snprintf(out, size, "none");
}
