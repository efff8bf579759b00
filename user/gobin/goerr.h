/* The one error line every reader of user/gobin writes for a malformed input. */
#ifndef CTRLSCOPE_GOERR_H
#define CTRLSCOPE_GOERR_H

#include <stddef.h>

/* Format one line into err (err_size bytes) and return -EINVAL. */
int gobin_fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
