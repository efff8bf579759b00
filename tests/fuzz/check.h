/* What the fuzz targets share: CHECK() aborts with the broken invariant named and note()
 * shows the values involved, one "fuzz: " line each, so a crash report explains itself.
 * Not for the sanitizers' own findings (they report themselves). */
#ifndef CTRLSCOPE_FUZZ_CHECK_H
#define CTRLSCOPE_FUZZ_CHECK_H

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* "fuzz: what: \"s\"" on one line, bytes outside printable ASCII as C escapes. */
static inline void note(const char *what, const char *s, size_t n)
{
	fprintf(stderr, "fuzz: %s: \"", what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n", stderr);
		else if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("\"\n", stderr);
}

/* A parser's error: -EINVAL and one non-empty, NUL-terminated line naming the input
 * ("name:..."), as every parser of ctrlscope promises. Returns where the NUL is. */
static inline const char *check_one_line_error(int ret, const char *err, size_t size,
					       const char *prefix)
{
	const char *nul = memchr(err, 0, size);

	if (nul && (nul == err || memchr(err, '\n', (size_t)(nul - err)) ||
		    strncmp(err, prefix, strlen(prefix))))
		note("error message", err, (size_t)(nul - err));
	CHECK(ret == -EINVAL);
	CHECK(nul && nul > err);
	CHECK(!memchr(err, '\n', (size_t)(nul - err)));
	CHECK(!strncmp(err, prefix, strlen(prefix)));
	return nul;
}
#endif
