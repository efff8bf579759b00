/* The uprobe helper process: see uprobes.h. A request is the offset (8 bytes) with the
 * file's descriptor attached (SCM_RIGHTS); the answer is 0 or an errno (4 bytes), with the
 * perf event's descriptor attached when it is 0. */
#include "uprobes.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>

#include "caps.h"

struct uprobe_opener {
	int sock;
	pid_t pid;
};

/* Send buf with fd attached (fd < 0: none). */
static int send_fd(int sock, const void *buf, size_t len, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Receive exactly len bytes and the fd attached, if any (*fd = -1 if none). */
static int recv_fd(int sock, void *buf, size_t len, int *fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

	*fd = -1;
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	}
	if (n != (ssize_t)len) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return n == 0 ? -EPIPE : -EPROTO;
	}
	return 0;
}

static int uprobe_pmu_type(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");
	int type = -1;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", &type) != 1)
		type = -EINVAL;
	fclose(f);
	return type;
}

static void serve(int sock, int type)
{
	for (;;) {
		struct perf_event_attr attr;
		uint64_t offset;
		char path[64];
		int fd, pfd = -1;
		int32_t err;

		if (recv_fd(sock, &offset, sizeof(offset), &fd))
			_exit(0); /* the agent is gone */
		if (fd < 0) {
			err = EBADF;
		} else if (type < 0) {
			err = -type;
		} else {
			memset(&attr, 0, sizeof(attr));
			attr.size = sizeof(attr);
			attr.type = (uint32_t)type;
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			attr.config1 = (uint64_t)(uintptr_t)path; /* uprobe_path */
			attr.config2 = offset;			  /* probe_offset */
			/* Every process that runs the file: pid -1, on CPU 0 (the probe fires on any). */
			pfd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1,
					   PERF_FLAG_FD_CLOEXEC);
			err = pfd < 0 ? errno : 0;
		}
		if (fd >= 0)
			close(fd);
		send_fd(sock, &err, sizeof(err), pfd);
		if (pfd >= 0)
			close(pfd);
	}
}

int uprobe_opener_start(struct uprobe_opener **out)
{
	static const int keep[] = { CAP_SYS_ADMIN };
	struct uprobe_opener *o = calloc(1, sizeof(*o));
	int sv[2], type = uprobe_pmu_type();

	if (!o)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		free(o);
		return -errno;
	}
	o->pid = fork();
	if (o->pid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		free(o);
		return err;
	}
	if (o->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "ctrlscope-uprob");
		/* Nothing of the agent's but the socket: no maps, no listening sockets. */
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		if (syscall(SYS_close_range, 4, ~0u, 0))
			for (int fd = 4; fd < 65536; fd++)
				close(fd);
		for (int s = 1; s < 32; s++)
			signal(s, s == SIGKILL || s == SIGSTOP ? SIG_DFL : SIG_IGN);
		if (caps_drop_except(keep, 1))
			_exit(1);
		serve(3, type);
		_exit(0);
	}
	close(sv[1]);
	o->sock = sv[0];
	*out = o;
	return 0;
}

int uprobe_opener_open(struct uprobe_opener *o, int file_fd, uint64_t offset)
{
	int32_t err;
	int pfd, ret;

	if (!o)
		return -ENOTCONN;
	if ((ret = send_fd(o->sock, &offset, sizeof(offset), file_fd)))
		return ret;
	if ((ret = recv_fd(o->sock, &err, sizeof(err), &pfd)))
		return ret;
	if (err) {
		if (pfd >= 0)
			close(pfd);
		return -err;
	}
	return pfd >= 0 ? pfd : -EPROTO;
}

void uprobe_opener_stop(struct uprobe_opener *o)
{
	if (!o)
		return;
	close(o->sock);
	kill(o->pid, SIGKILL);
	waitpid(o->pid, NULL, 0);
	free(o);
}
