/* A Go binary's build information (what `go version -m` prints): the Go version and the
 * modules it was built from, read from the bytes of its .go.buildinfo section as
 * debug/buildinfo reads them (Go 1.18 and later: the strings inline after the header).
 * The bytes are untrusted: a target can run any file. */
#ifndef CTRLSCOPE_BUILDINFO_H
#define CTRLSCOPE_BUILDINFO_H

#include <stddef.h>
#include <stdint.h>

/* One module: a `mod` or `dep` line, with the `=>` line that replaced it, if any. */
struct go_module {
	char *path;
	char *version;
	char *replace_path;    /* NULL when not replaced */
	char *replace_version; /* "" for a replacement by a directory */
};

struct go_buildinfo {
	char *go_version;      /* "go1.26.8" */
	char *main_path;       /* the `path` line: the main package, "" when absent */
	struct go_module main; /* the `mod` line; path NULL when absent (go run, tests) */
	struct go_module *deps;
	size_t n_deps;
};

/* Parse the contents of a .go.buildinfo section (or the bytes from its magic on). 0, or
 * -EINVAL with one line in err naming what is wrong (not Go build info, a Go older than
 * 1.18, a length past the end, a malformed module line), or -ENOMEM. out is left empty on
 * error. */
int go_buildinfo_parse(const uint8_t *data, size_t size, struct go_buildinfo *out, char *err,
		       size_t err_size);
/* The module at path, among the dependencies and the main module; NULL if not there. */
const struct go_module *go_buildinfo_module(const struct go_buildinfo *bi, const char *path);
/* Frees what parse allocated and leaves bi empty; safe on an empty or zeroed one. */
void go_buildinfo_free(struct go_buildinfo *bi);

#endif
