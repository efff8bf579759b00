/* A Go binary's function table (.gopclntab), the one symbol table a stripped Go binary
 * keeps because the runtime needs it: each function's name, entry and end. Go 1.18 and
 * later (magic 0xfffffff0, and 0xfffffff1 since 1.20); the layout is runtime.pcHeader and
 * runtime._func (src/runtime/symtab.go, src/internal/abi/symtab.go). The bytes are
 * untrusted: every offset is checked before it is followed. */
#ifndef CTRLSCOPE_PCLNTAB_H
#define CTRLSCOPE_PCLNTAB_H

#include <stddef.h>
#include <stdint.h>

struct go_pclntab {
	const uint8_t *data; /* the table, from its header on */
	size_t size;
	uint64_t text_start; /* the address function entries are offsets from */
	uint32_t nfunc;
	uint8_t min_lc;	    /* the instruction size quantum: 1 on x86, 4 on arm64 */
	uint64_t funcnames; /* offsets from data of the name table and of the function table */
	uint64_t pcln;
	uint32_t flag_offset; /* of a function record's flags: 41, or 37 before Go 1.20 */
};

/* Check the header of the table at data and its function table. text_start: the address
 * function entries are offsets from (the module data's text, runtime.text), or 0 to take
 * the header's, which Go 1.26 and later leave zero. 0, or -EINVAL with one line in err. */
int go_pclntab_open(const uint8_t *data, size_t size, uint64_t text_start, struct go_pclntab *t,
		    char *err, size_t err_size);

/* The flag of a function that is written in assembly (abi.FuncFlagAsm): it follows no
 * Go calling convention. */
#define GO_FUNC_ASM 4

/* Function i (< t->nfunc): its NUL-terminated name (pointing into the table), its entry
 * address, the address where the next function starts and its flags (GO_FUNC_*). 0, or
 * -EINVAL when its record points outside the table or its name is not terminated there. */
int go_pclntab_func(const struct go_pclntab *t, uint32_t i, const char **name, uint64_t *entry,
		    uint64_t *end, uint8_t *flags);

/* Whether data (size bytes) starts with a Go 1.18+ table header for 64-bit pointers: for
 * finding the table in a binary whose sections do not name it. */
int go_pclntab_looks_like(const uint8_t *data, size_t size);

#endif
