/* libFuzzer target for the mountinfo parser (cgroups_find_mount in user/lib/cgroups.c; and
 * cgroups_find_mount_of for a v1 hierarchy, checked for its bounds only): on
 * arbitrary text and output sizes it returns 0 or -ENOENT, never writes past the output
 * buffer, and on 0 returns what mountinfo(5) says: the mount point (field 5, octal escapes
 * undone) of the first line whose file system type is cgroup2. Not for the tree walk. */
#include "cgroups.h"
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser copies each line into a 4096-byte buffer and skips longer ones; so does the
 * model. */
#define LINE_MAX_LEN 4095

/* The reference: mountinfo(5) read directly, one line at a time. */
static bool model_line(const char *line, size_t len, char *mount, size_t size)
{
	const char *sep = NULL, *p = line, *end = line + len, *start;
	size_t field = 0, n = 0;

	/* The optional fields end at the first " - "; the type follows it. */
	for (const char *s = line; s + 3 <= end; s++) {
		if (!memcmp(s, " - ", 3)) {
			sep = s;
			break;
		}
	}
	if (!sep || end - (sep + 3) < 8 || memcmp(sep + 3, "cgroup2 ", 8))
		return false;
	/* Field 5 of the part before " - ", fields separated by runs of spaces. */
	for (;;) {
		while (p < sep && *p == ' ')
			p++;
		if (p == sep)
			return false;
		start = p;
		while (p < sep && *p != ' ')
			p++;
		if (++field == 5)
			break;
	}
	if ((size_t)(p - start) >= size)
		return false; /* too long for the caller's buffer: the parser goes on */
	for (const char *s = start; s < p; s++) {
		if (s + 3 < p && s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			mount[n++] = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			mount[n++] = *s;
		}
	}
	mount[n] = 0;
	return true;
}

static int model(const char *text, char *mount, size_t size)
{
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);

		if (len <= LINE_MAX_LEN && model_line(text, len, mount, size))
			return 0;
		if (!eol)
			break;
		text = eol + 1;
	}
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t out_size;
	char *text, *out, *want;
	int ret, want_ret;

	/* The first byte picks the output size (0 to 255), so short buffers get tested. */
	if (!size)
		return 0;
	out_size = data[0];
	data++;
	size--;
	text = malloc(size + 1);
	out = malloc(out_size ? out_size : 1); /* exact size: ASan sees one byte too many */
	want = malloc(out_size + 1);
	CHECK(text && out && want);
	memcpy(text, data, size);
	text[size] = 0;
	memset(out, 0xa5, out_size);

	ret = cgroups_find_mount(text, out, out_size);
	CHECK(ret == 0 || ret == -ENOENT);
	want_ret = model(text, want, out_size);
	if (!ret)
		CHECK(memchr(out, 0, out_size)); /* terminated within size */
	if (ret != want_ret || (!ret && strcmp(out, want))) {
		note(ret ? "not found" : "found", ret ? "" : out, ret ? 0 : strlen(out));
		note(want_ret ? "expected none" : "expected", want_ret ? "" : want,
		     want_ret ? 0 : strlen(want));
	}
	CHECK(ret == want_ret);
	if (!ret)
		CHECK(!strcmp(out, want));
	/* The v1 lookup (no model): a result only from a "cgroup" line naming "cpu" as a
	 * super option, terminated within the buffer. */
	memset(out, 0xa5, out_size);
	ret = cgroups_find_mount_of(text, "cpu", out, out_size);
	CHECK(ret == 0 || ret == -ENOENT);
	if (!ret) {
		CHECK(memchr(out, 0, out_size));
		CHECK(strstr(text, " - cgroup ") && strstr(text, "cpu"));
	}
	free(want);
	free(out);
	free(text);
	return 0;
}
