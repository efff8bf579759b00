/* A stand-in for a controller, for `make demo`: in a loop it reads a file, looks for a
 * file that does not exist (ENOENT, like a controller probing an optional config), talks
 * to itself over a socket pair and over TCP on 127.0.0.1 (a client and a server of its
 * own, like a controller calling its webhook), and sleeps, so every syscalls metric and
 * the TCP metrics have data. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* A listening socket on 127.0.0.1 and an ephemeral port; its address in *addr. */
static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	addr->sin_family = AF_INET;
	addr->sin_port = 0;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) || listen(fd, 4) ||
	    getsockname(fd, (struct sockaddr *)addr, &len)) {
		perror("listener");
		exit(1);
	}
	return fd;
}

/* One request and its answer over a new TCP connection to the listener. */
static int tcp_round(int lfd, const struct sockaddr_in *addr)
{
	char buf[64];
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s = -1, ok = 0;

	if (c >= 0 && !connect(c, (const struct sockaddr *)addr, sizeof(*addr)) &&
	    (s = accept(lfd, NULL, NULL)) >= 0 && write(c, "GET /healthz", 12) == 12 &&
	    read(s, buf, sizeof(buf)) == 12 && write(s, "ok", 2) == 2 && read(c, buf, 2) == 2)
		ok = 1;
	if (c >= 0)
		close(c);
	if (s >= 0)
		close(s);
	return ok;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : -1;
	struct sockaddr_in addr;
	char buf[256];
	int sv[2], lfd;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		return 1;
	}
	lfd = listener(&addr);
	for (long i = 0; !stop && (rounds < 0 || i < rounds); i++) {
		int fd = open("/proc/self/status", O_RDONLY);

		if (fd >= 0) {
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
		}
		if (open("/etc/ctrlscope-demo/optional.yaml", O_RDONLY) >= 0)
			return 1;
		if (write(sv[0], "ping", 4) != 4 || read(sv[1], buf, sizeof(buf)) < 0)
			return 1;
		if (!tcp_round(lfd, &addr))
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}
