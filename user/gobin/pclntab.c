/* A Go binary's function table: see pclntab.h. The header (runtime.pcHeader, 64-bit):
 *
 *	uint32 magic; uint8 pad1, pad2, minLC, ptrSize;
 *	int nfunc; uint nfiles; uintptr textStart, funcnameOffset, cuOffset, filetabOffset,
 *	pctabOffset, pclnOffset;
 *
 * at pclnOffset, nfunc + 1 pairs { uint32 entryoff; uint32 funcoff } sorted by entry (the
 * last entryoff is the end of the text), and at pclnOffset + funcoff each function's
 * record, runtime._func, which starts { uint32 entryOff; int32 nameOff; ... } and has its
 * flags at byte 41 (37 before Go 1.20, which had no startLine); its name is the C string at
 * funcnameOffset + nameOff. Everything little-endian. Go 1.26 stopped writing textStart
 * (it needed a relocation): the caller reads runtime.text from the module data. */
#include "pclntab.h"
#include "goerr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAGIC_GO118 0xfffffff0u
#define MAGIC_GO120 0xfffffff1u
#define HEADER_SIZE (8 + 8 * 8)
#define MAX_FUNCS   (1u << 24) /* far above any real binary; keeps sizes in range */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int go_pclntab_looks_like(const uint8_t *data, size_t size)
{
	uint32_t magic;

	if (size < HEADER_SIZE)
		return 0;
	magic = le32(data);
	return (magic == MAGIC_GO118 || magic == MAGIC_GO120) && data[4] == 0 && data[5] == 0 &&
	       (data[6] == 1 || data[6] == 2 || data[6] == 4) && data[7] == 8;
}

int go_pclntab_open(const uint8_t *data, size_t size, uint64_t text_start, struct go_pclntab *t,
		    char *err, size_t err_size)
{
	uint64_t nfunc, table_size, prev = 0;

	memset(t, 0, sizeof(*t));
	if (!go_pclntab_looks_like(data, size))
		return gobin_fail(
			err, err_size,
			"no Go 1.18+ function table for 64-bit pointers (.gopclntab header)");
	nfunc = le64(data + 8);
	t->data = data;
	t->size = size;
	t->min_lc = data[6];
	t->text_start = text_start ? text_start : le64(data + 24);
	t->flag_offset = le32(data) == MAGIC_GO118 ? 37 : 41;
	t->funcnames = le64(data + 32);
	t->pcln = le64(data + 64);
	if (!t->text_start)
		return gobin_fail(err, err_size,
				  "the function table has no text address, and none was "
				  "found elsewhere");
	if (!nfunc || nfunc > MAX_FUNCS)
		return gobin_fail(err, err_size, "the function table claims %llu functions",
				  (unsigned long long)nfunc);
	t->nfunc = (uint32_t)nfunc;
	table_size = (nfunc + 1) * 8;
	if (t->funcnames >= size || t->pcln > size || table_size > size - t->pcln)
		return gobin_fail(err, err_size, "the function table's offsets point outside it");
	/* Sorted entries are what the runtime's own lookups rely on: anything else is not a
	 * table to trust. */
	for (uint32_t i = 0; i <= t->nfunc; i++) {
		uint32_t entry = le32(data + t->pcln + (uint64_t)i * 8);

		if (i && entry < prev)
			return gobin_fail(err, err_size,
					  "the function table is not sorted (function %u)", i);
		prev = entry;
	}
	if (prev > UINT64_MAX - t->text_start)
		return gobin_fail(err, err_size, "the text address %#llx is out of range",
				  (unsigned long long)t->text_start);
	return 0;
}

int go_pclntab_func(const struct go_pclntab *t, uint32_t i, const char **name, uint64_t *entry,
		    uint64_t *end, uint8_t *flags)
{
	const uint8_t *pair = t->data + t->pcln + (uint64_t)i * 8;
	uint64_t func = t->pcln + le32(pair + 4), name_off;
	int32_t name_rel;
	const char *s;

	if (i >= t->nfunc || func > t->size || t->size - func < t->flag_offset + 1)
		return -EINVAL;
	name_rel = (int32_t)le32(t->data + func + 4);
	if (name_rel < 0 || (uint64_t)name_rel >= t->size - t->funcnames)
		return -EINVAL;
	name_off = t->funcnames + (uint64_t)name_rel;
	s = (const char *)t->data + name_off;
	if (!memchr(s, '\0', t->size - name_off))
		return -EINVAL;
	*name = s;
	*flags = t->data[func + t->flag_offset];
	*entry = t->text_start + le32(pair);
	*end = t->text_start + le32(pair + 8);
	return 0;
}
