/* A stand-in for a controller, for `make demo`: in a loop it reads a file, looks for a
 * file that does not exist (ENOENT, like a controller probing an optional config), talks
 * to itself over a loopback socket pair and sleeps, so every syscalls metric has data. */
#include <errno.h>
#include <fcntl.h>
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

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : -1;
	char buf[256];
	int sv[2];

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		return 1;
	}
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
		nanosleep(&pause, NULL);
	}
	return 0;
}
