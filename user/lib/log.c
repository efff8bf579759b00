/* Leveled logging: see log.h. Messages are escaped for the chosen format so that a
 * hostile process name cannot forge log fields or lines. */
#include "log.h"
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

static enum log_level min_level = LOG_INFO;
static bool json;

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

int log_set_level(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(name, level_names[i])) {
			min_level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_set_format(const char *name)
{
	if (!strcmp(name, "logfmt"))
		json = false;
	else if (!strcmp(name, "json"))
		json = true;
	else
		return -EINVAL;
	return 0;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

/* Quote a message: backslash, quote and control characters are escaped. */
static void put_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, json ? "\\u%04x" : "\\x%02x", c);
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '"');
}

static void put_timestamp(struct buf *b)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "%s.%03ldZ", when, ts.tv_nsec / 1000000);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	struct buf msg, line;

	if (!log_enabled(level))
		return;
	buf_init(&msg);
	buf_init(&line);
	buf_vprintf(&msg, fmt, ap);
	while (msg.len && msg.data[msg.len - 1] == '\n')
		msg.len--;
	if (json) {
		buf_puts(&line, "{\"ts\":\"");
		put_timestamp(&line);
		buf_printf(&line, "\",\"level\":\"%s\",\"msg\":", level_names[level]);
		put_quoted(&line, buf_cstr(&msg) ? msg.data : "(out of memory)");
		buf_puts(&line, "}\n");
	} else {
		buf_puts(&line, "ts=");
		put_timestamp(&line);
		buf_printf(&line, " level=%s msg=", level_names[level]);
		put_quoted(&line, buf_cstr(&msg) ? msg.data : "(out of memory)");
		buf_putc(&line, '\n');
	}
	if (buf_cstr(&line)) {
		ssize_t n = write(STDERR_FILENO, line.data, line.len);
		(void)n;
	}
	buf_free(&msg);
	buf_free(&line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Where this thread's libbpf warnings go instead of the log, or NULL. */
static __thread struct buf *libbpf_held;

void log_hold_libbpf_warnings(struct buf *held)
{
	libbpf_held = held;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level ours = level == LIBBPF_WARN   ? LOG_WARN
			      : level == LIBBPF_INFO ? LOG_DEBUG
						     : LOG_DEBUG;

	if (ours == LOG_WARN && libbpf_held) {
		buf_vprintf(libbpf_held, fmt, ap);
		return 0;
	}
	/* libbpf's INFO lines are load details: useful only when debugging. */
	log_vmsg(ours, fmt, ap);
	return 0;
}

void log_hook_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
