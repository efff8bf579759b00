/* Leveled logging to stderr, one line per message, logfmt or JSON. Thread-safe: each line
 * is written with a single write(2). Never log credentials. */
#ifndef CTRLSCOPE_LOG_H
#define CTRLSCOPE_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Return 0, or -EINVAL for an unknown name. */
int log_set_level(const char *name);
int log_set_format(const char *name);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's own messages through log_msg. */
void log_hook_libbpf(void);
/* Until called again with NULL, append this thread's libbpf warnings to *held (a struct
 * buf) instead of logging them: for a caller that says what went wrong better itself. */
struct buf;
void log_hold_libbpf_warnings(struct buf *held);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
