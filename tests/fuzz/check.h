/* What the fuzz targets share: CHECK() aborts with the broken invariant named and note()
 * shows the values involved, one "fuzz: " line each, so a crash report explains itself.
 * Not for the sanitizers' own findings (they report themselves).
 * The Makefile's fuzz rule does not track this header: touch the targets after a change. */
#ifndef CTRLSCOPE_FUZZ_CHECK_H
#define CTRLSCOPE_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
