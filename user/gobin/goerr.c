/* See goerr.h. */
#include "goerr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int gobin_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}
