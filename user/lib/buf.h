/* A growable byte buffer for building responses and log lines. Allocation failure is
 * sticky (buf.failed) so writers need not check every append; users check once. */
#ifndef CTRLSCOPE_BUF_H
#define CTRLSCOPE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for extra more bytes (and a terminator); false after a failure. */
bool buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* NUL-terminated contents (the terminator is not counted in len); NULL after a failure. */
const char *buf_cstr(struct buf *b);
/* Hands the allocation to the caller and resets b; NULL after a failure. */
char *buf_steal(struct buf *b, size_t *len);

#endif
