/* libFuzzer target for the static token file parser (tokens_parse in user/web/tokens.c), the
 * CSV of kube-apiserver's --token-auth-file. Beyond "does not crash": the result is 0 or
 * -EINVAL; an error is one line that starts with the file name and, when it names a line,
 * names one that exists; a NUL byte is always an error; a parsed file has at most one
 * record per line (a record may span lines inside quotes, never share one) and at least
 * one when some line is not blank. Not for tokens_open/tokens_lookup (file I/O). */
#include "tokens.h"
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME	 "tokens.csv"
#define ERR_SIZE 512

/* Lines as an editor counts them: a final line without '\n' counts too. */
static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size && data[size - 1] != '\n');
}

/* Whether some line holds more than a line break ("\n" or "\r\n"). */
static bool has_content(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n')
			continue;
		if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
			continue;
		return true;
	}
	return false;
}

static void check_error(int ret, const char *err, const uint8_t *data, size_t size)
{
	const char *rest;
	char *end;
	unsigned long line;
	const char *nul;

	nul = check_one_line_error(ret, err, ERR_SIZE, NAME ":");
	rest = err + strlen(NAME ":");
	if (*rest == ' ') {
		/* "NAME: contains a NUL byte", the only message without a line. */
		CHECK(!strcmp(rest, " contains a NUL byte"));
		CHECK(memchr(data, 0, size));
		return;
	}
	CHECK(!memchr(data, 0, size));
	line = strtoul(rest, &end, 10);
	if (line < 1 || line > count_lines(data, size) || *end != ':')
		note("error message", err, (size_t)(nul - err));
	CHECK(end > rest && *end == ':' && end[1] == ' ');
	CHECK(line >= 1 && line <= count_lines(data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_entries *e = (struct token_entries *)0x1;
	char err[ERR_SIZE];
	/* A copy of exactly size bytes, so that ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);
	size_t n;
	int ret;

	CHECK(text);
	memcpy(text, data, size);
	memset(err, 0xa5, sizeof(err));
	ret = tokens_parse(NAME, text, size, &e, err, sizeof(err));
	if (ret) {
		check_error(ret, err, data, size);
		CHECK(e == (struct token_entries *)0x1); /* nothing handed out */
		free(text);
		return 0;
	}
	CHECK(e && e != (struct token_entries *)0x1);
	CHECK(!memchr(data, 0, size));
	n = tokens_count(e);
	if (n > count_lines(data, size) || (!n && has_content(data, size))) {
		note("file", text, size);
		fprintf(stderr, "fuzz: %zu records in %zu lines\n", n, count_lines(data, size));
	}
	CHECK(n <= count_lines(data, size));
	CHECK(n || !has_content(data, size));
	tokens_entries_free(e);
	free(text);
	return 0;
}
