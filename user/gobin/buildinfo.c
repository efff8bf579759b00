/* A Go binary's build information: see buildinfo.h. The format is debug/buildinfo's
 * (src/debug/buildinfo/buildinfo.go) and runtime/debug.ParseBuildInfo's: a 32-byte header
 * ("\xff Go buildinf:", the pointer size, flags), then with flag 2 (Go 1.18 and later) two
 * strings, each a uvarint length and its bytes: the Go version, and the module text framed
 * by 16 bytes of sentinel on each side. The module text is lines of tab-separated fields:
 * "path P", "mod P V [SUM]", "dep P V [SUM]", "=> P V [SUM]" (replacing the line before),
 * "build K=V". */
#include "buildinfo.h"
#include "goerr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

#define MAGIC		    "\xff Go buildinf:"
#define MAGIC_LEN	    14
#define HEADER_SIZE	    32
#define FLAG_VERSION_INLINE 2
#define SENTINEL_LEN	    16
#define MAX_STRING	    (16u << 20) /* no real build info comes near */

/* A uvarint-prefixed string at *p (within end): its bytes and length; false if it does not
 * fit. */
static bool take_string(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *len)
{
	uint64_t n = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		if (*p >= end || shift > 63)
			return false;
		b = *(*p)++;
		n |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	if (n > MAX_STRING || n > (uint64_t)(end - *p))
		return false;
	*s = *p;
	*len = n;
	*p += n;
	return true;
}

static void module_free(struct go_module *m)
{
	free(m->path);
	free(m->version);
	free(m->replace_path);
	free(m->replace_version);
	memset(m, 0, sizeof(*m));
}

void go_buildinfo_free(struct go_buildinfo *bi)
{
	free(bi->go_version);
	free(bi->main_path);
	module_free(&bi->main);
	for (size_t i = 0; i < bi->n_deps; i++)
		module_free(&bi->deps[i]);
	free(bi->deps);
	memset(bi, 0, sizeof(*bi));
}

/* Split line (len bytes, no newline) at tabs into at most max fields; the count. */
static size_t split_tabs(const char *line, size_t len, const char **f, size_t *flen, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len && n < max; i++) {
		if (i == len || line[i] == '\t') {
			f[n] = line + start;
			flen[n++] = i - start;
			start = i + 1;
		}
	}
	return n;
}

/* No control characters but tabs (the module text's field separators). */
static bool printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return false;
	return true;
}

/* The module fields of a mod, dep or => line: a path and a version, then maybe a sum. A
 * replacement by a directory has an empty version. */
static int module_fields(const char **f, const size_t *flen, size_t n, bool replacement,
			 char **path, char **version)
{
	if (n < 3 || n > 4 || flen[1] == 0 || (!replacement && flen[2] == 0))
		return -EINVAL;
	*path = strndup(f[1], flen[1]);
	*version = strndup(f[2], flen[2]);
	if (!*path || !*version) {
		free(*path);
		free(*version);
		*path = *version = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int parse_modules(const char *text, size_t len, struct go_buildinfo *bi, char *err,
			 size_t err_size)
{
	struct go_module *last = NULL; /* the line a "=>" replaces */
	size_t lineno = 0;

	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - line) : len - pos;
		const char *f[5];
		size_t flen[5], n;
		int ret = 0;

		pos += line_len + 1;
		lineno++;
		if (!line_len)
			continue;
		if (!printable(line, line_len))
			return gobin_fail(err, err_size, "module line %zu: a control character",
					  lineno);
		n = split_tabs(line, line_len, f, flen, 5);
		if (flen[0] == 4 && !memcmp(f[0], "path", 4)) {
			if (n != 2 || bi->main_path)
				return gobin_fail(err, err_size,
						  "module line %zu: a malformed path line", lineno);
			if (!(bi->main_path = strndup(f[1], flen[1])))
				return -ENOMEM;
			last = NULL;
		} else if (flen[0] == 3 && !memcmp(f[0], "mod", 3)) {
			if (bi->main.path)
				return gobin_fail(err, err_size,
						  "module line %zu: a second mod line", lineno);
			ret = module_fields(f, flen, n, false, &bi->main.path, &bi->main.version);
			last = &bi->main;
		} else if (flen[0] == 3 && !memcmp(f[0], "dep", 3)) {
			struct go_module *m = ARRAY_PUSH(bi->deps, bi->n_deps);

			if (!m)
				return -ENOMEM;
			ret = module_fields(f, flen, n, false, &m->path, &m->version);
			if (!ret)
				bi->n_deps++;
			last = m;
		} else if (flen[0] == 2 && !memcmp(f[0], "=>", 2)) {
			if (!last || last->replace_path)
				return gobin_fail(err, err_size,
						  "module line %zu: a replacement of nothing",
						  lineno);
			ret = module_fields(f, flen, n, true, &last->replace_path,
					    &last->replace_version);
			last = NULL;
		} else {
			last = NULL; /* build settings and lines of newer Go versions */
		}
		if (ret == -ENOMEM)
			return ret;
		if (ret)
			return gobin_fail(err, err_size, "module line %zu: a malformed module line",
					  lineno);
	}
	return 0;
}

int go_buildinfo_parse(const uint8_t *data, size_t size, struct go_buildinfo *out, char *err,
		       size_t err_size)
{
	const uint8_t *p, *end = data + size, *vers, *mod;
	size_t vers_len, mod_len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (size < HEADER_SIZE || memcmp(data, MAGIC, MAGIC_LEN))
		return gobin_fail(err, err_size,
				  "no Go build information (no \"Go buildinf:\" header)");
	if (!(data[15] & FLAG_VERSION_INLINE))
		return gobin_fail(err, err_size, "the build information of a Go older than 1.18");
	p = data + HEADER_SIZE;
	if (!take_string(&p, end, &vers, &vers_len) || !take_string(&p, end, &mod, &mod_len))
		return gobin_fail(err, err_size, "the build information is cut short");
	if (!vers_len || !printable((const char *)vers, vers_len) || memchr(vers, '\t', vers_len))
		return gobin_fail(err, err_size,
				  "the build information has no readable Go version");
	/* The module text sits between sentinels; without them there is none (as debug/
	 * buildinfo decides). */
	if (mod_len >= 2 * SENTINEL_LEN + 1 && mod[mod_len - SENTINEL_LEN - 1] == '\n') {
		mod += SENTINEL_LEN;
		mod_len -= 2 * SENTINEL_LEN;
	} else {
		mod_len = 0;
	}
	if (!(out->go_version = strndup((const char *)vers, vers_len)))
		return -ENOMEM;
	ret = parse_modules((const char *)mod, mod_len, out, err, err_size);
	if (!ret && !out->main_path && !(out->main_path = strdup("")))
		ret = -ENOMEM;
	if (ret == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	if (ret)
		go_buildinfo_free(out);
	return ret;
}

const struct go_module *go_buildinfo_module(const struct go_buildinfo *bi, const char *path)
{
	if (bi->main.path && !strcmp(bi->main.path, path))
		return &bi->main;
	for (size_t i = 0; i < bi->n_deps; i++)
		if (!strcmp(bi->deps[i].path, path))
			return &bi->deps[i];
	return NULL;
}
