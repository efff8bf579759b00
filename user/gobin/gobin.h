/* An executable read as a Go binary: its build information, its functions (from the
 * symbol table, or from .gopclntab when it is stripped), the bytes of their code and the
 * file offsets uprobes attach at. ELF64 little-endian (x86-64, arm64) through libelf.
 * The file is untrusted: a target can run any file. */
#ifndef CTRLSCOPE_GOBIN_H
#define CTRLSCOPE_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buildinfo.h"

struct gobin;

struct gobin_func {
	char *name;	/* as the symbol table spells it, without ".abi0" */
	uint64_t entry; /* virtual address */
	uint64_t end;	/* where the next function starts */
	bool is_asm;	/* written in assembly: no register ABI, never probed */
};

/* Open the ELF file on fd (kept open by the caller until gobin_close) or in memory (size
 * bytes, kept by the caller). 0, or -EINVAL with one line in err (not ELF64, not
 * little-endian, neither x86-64 nor arm64, malformed), or -ENOMEM. */
int gobin_open_fd(int fd, struct gobin **out, char *err, size_t err_size);
int gobin_open_mem(const void *data, size_t size, struct gobin **out, char *err, size_t err_size);
void gobin_close(struct gobin *b);

/* EM_X86_64 or EM_AARCH64. */
uint16_t gobin_machine(const struct gobin *b);

/* The build information (.go.buildinfo, or the first writable segment's when the section
 * has no name). 0, or -EINVAL with one line in err ("not a Go binary": none found). */
int gobin_buildinfo(struct gobin *b, struct go_buildinfo *out, char *err, size_t err_size);

/* The Go build id (.note.go.buildid), else the GNU one (.note.gnu.build-id) in hex, into
 * out; "" when there is neither. */
void gobin_build_id(struct gobin *b, char *out, size_t out_size);

/* Every function whose name match() accepts, in address order, into *funcs (n_funcs):
 * from .symtab when the binary has one, from .gopclntab otherwise (*from says which). The
 * function table's addresses are offsets from runtime.text, read from the module data
 * (Go 1.26 and later write it nowhere else). 0, or -EINVAL with one line in err (no table
 * to read), or -ENOMEM. */
int gobin_funcs(struct gobin *b, bool (*match)(const char *name, void *ctx), void *ctx,
		struct gobin_func **funcs, size_t *n_funcs, const char **from, char *err,
		size_t err_size);
void gobin_funcs_free(struct gobin_func *funcs, size_t n);

/* The size bytes of code at address addr, in an executable segment of the file. 0, or
 * -EINVAL when they are not all there. */
int gobin_code(struct gobin *b, uint64_t addr, uint64_t size, const uint8_t **code);

/* The file offset of the code at address addr (what a uprobe attaches at). 0, or -EINVAL
 * when no executable segment of the file holds it. */
int gobin_file_offset(const struct gobin *b, uint64_t addr, uint64_t *offset);

#endif
