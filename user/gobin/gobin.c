/* An executable read as a Go binary: see gobin.h. libelf parses the headers; section and
 * segment contents are read from the raw image (a read-only mapping of the file) after
 * their bounds are checked against it. */
#include "gobin.h"
#include "goerr.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pclntab.h"
#include "vec.h"

struct gobin {
	Elf *elf;
	const uint8_t *raw; /* the whole file */
	size_t raw_size;
	uint16_t machine;
	size_t shstrndx;
	void *copy; /* the image of gobin_open_mem, which libelf may not modify in place */
};

static int finish_open(struct gobin *b, char *err, size_t err_size)
{
	GElf_Ehdr eh;
	char *raw;

	if (elf_kind(b->elf) != ELF_K_ELF || !gelf_getehdr(b->elf, &eh))
		return gobin_fail(err, err_size, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return gobin_fail(err, err_size, "not a 64-bit little-endian ELF file");
	if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_AARCH64)
		return gobin_fail(err, err_size,
				  "an ELF file for machine %u (neither x86-64 nor arm64)",
				  eh.e_machine);
	if (elf_getshdrstrndx(b->elf, &b->shstrndx))
		return gobin_fail(err, err_size, "an ELF file without section names: %s",
				  elf_errmsg(-1));
	raw = elf_rawfile(b->elf, &b->raw_size);
	if (!raw)
		return gobin_fail(err, err_size, "an unreadable ELF file: %s", elf_errmsg(-1));
	b->raw = (const uint8_t *)raw;
	b->machine = eh.e_machine;
	return 0;
}

static int open_common(int fd, const void *data, size_t size, struct gobin **out, char *err,
		       size_t err_size)
{
	struct gobin *b = calloc(1, sizeof(*b));
	int ret;

	*out = NULL;
	if (!b) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	elf_version(EV_CURRENT);
	if (data) {
		b->copy = malloc(size ? size : 1);
		if (!b->copy) {
			free(b);
			snprintf(err, err_size, "out of memory");
			return -ENOMEM;
		}
		memcpy(b->copy, data, size);
		b->elf = elf_memory(b->copy, size);
	} else {
		b->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	}
	if (!b->elf) {
		ret = gobin_fail(err, err_size, "not an ELF file: %s", elf_errmsg(-1));
		gobin_close(b);
		return ret;
	}
	ret = finish_open(b, err, err_size);
	if (ret) {
		gobin_close(b);
		return ret;
	}
	*out = b;
	return 0;
}

int gobin_open_fd(int fd, struct gobin **out, char *err, size_t err_size)
{
	return open_common(fd, NULL, 0, out, err, err_size);
}

int gobin_open_mem(const void *data, size_t size, struct gobin **out, char *err, size_t err_size)
{
	return open_common(-1, data ? data : "", size, out, err, err_size);
}

void gobin_close(struct gobin *b)
{
	if (!b)
		return;
	if (b->elf)
		elf_end(b->elf);
	free(b->copy);
	free(b);
}

uint16_t gobin_machine(const struct gobin *b)
{
	return b->machine;
}

/* The contents of a section from the raw image: false when it has none in the file
 * (SHT_NOBITS) or its bounds fall outside it. */
static bool section_bytes(const struct gobin *b, const GElf_Shdr *sh, const uint8_t **p, size_t *n)
{
	if (sh->sh_type == SHT_NOBITS || sh->sh_offset > b->raw_size ||
	    sh->sh_size > b->raw_size - sh->sh_offset)
		return false;
	*p = b->raw + sh->sh_offset;
	*n = sh->sh_size;
	return true;
}

/* The first section called name, with its header; NULL if none. */
static Elf_Scn *section(struct gobin *b, const char *name, GElf_Shdr *sh)
{
	for (Elf_Scn *scn = elf_nextscn(b->elf, NULL); scn; scn = elf_nextscn(b->elf, scn)) {
		const char *s;

		if (!gelf_getshdr(scn, sh))
			continue;
		s = elf_strptr(b->elf, b->shstrndx, sh->sh_name);
		if (s && !strcmp(s, name))
			return scn;
	}
	return NULL;
}

static bool section_named(struct gobin *b, const char *name, const uint8_t **p, size_t *n,
			  uint64_t *addr)
{
	GElf_Shdr sh;

	if (!section(b, name, &sh) || !section_bytes(b, &sh, p, n))
		return false;
	if (addr)
		*addr = sh.sh_addr;
	return true;
}

/* --- build information ----------------------------------------------------------------- */

int gobin_buildinfo(struct gobin *b, struct go_buildinfo *out, char *err, size_t err_size)
{
	static const char magic[] = "\xff Go buildinf:";
	const uint8_t *p;
	size_t n, nph;

	memset(out, 0, sizeof(*out));
	if (section_named(b, ".go.buildinfo", &p, &n, NULL))
		return go_buildinfo_parse(p, n, out, err, err_size);
	/* Without the section's name (an external linker's merge), debug/buildinfo looks in
	 * the first writable segment, at 16-byte boundaries. */
	if (elf_getphdrnum(b->elf, &nph))
		nph = 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(b->elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_W))
			continue;
		if (ph.p_offset > b->raw_size || ph.p_filesz > b->raw_size - ph.p_offset)
			break;
		p = b->raw + ph.p_offset;
		n = ph.p_filesz;
		for (size_t off = 0; off + sizeof(magic) - 1 <= n; off += 16)
			if (!memcmp(p + off, magic, sizeof(magic) - 1))
				return go_buildinfo_parse(p + off, n - off, out, err, err_size);
		break;
	}
	return gobin_fail(err, err_size, "not a Go binary (no Go build information)");
}

/* --- build id -------------------------------------------------------------------------- */

static bool zeros(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool note(struct gobin *b, const char *section_name, const char *owner, uint32_t type,
		 const uint8_t **desc, size_t *desc_size)
{
	GElf_Shdr sh;
	Elf_Scn *scn = section(b, section_name, &sh);
	Elf_Data *d;
	GElf_Nhdr nh;
	size_t off = 0, name_off, desc_off;

	if (!scn || sh.sh_type != SHT_NOTE || !(d = elf_getdata(scn, NULL)))
		return false;
	while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)d->d_buf + name_off;
		size_t len = strlen(owner);

		/* The name is the owner and NULs: one ("GNU\0"), or padding (Go's "Go\0\0"). */
		if (nh.n_type == type && nh.n_namesz > len && !memcmp(name, owner, len) &&
		    zeros(name + len, nh.n_namesz - len)) {
			*desc = (const uint8_t *)d->d_buf + desc_off;
			*desc_size = nh.n_descsz;
			return true;
		}
	}
	return false;
}

void gobin_build_id(struct gobin *b, char *out, size_t out_size)
{
	const uint8_t *desc;
	size_t n, w = 0;

	if (!out_size)
		return;
	out[0] = '\0';
	if (note(b, ".note.go.buildid", "Go", 4, &desc, &n)) {
		for (size_t i = 0; i < n && w + 1 < out_size; i++)
			if (desc[i] >= 0x21 && desc[i] < 0x7f)
				out[w++] = (char)desc[i];
		out[w] = '\0';
	} else if (note(b, ".note.gnu.build-id", "GNU", 3, &desc, &n)) {
		for (size_t i = 0; i < n && w + 3 <= out_size; i++)
			w += (size_t)snprintf(out + w, out_size - w, "%02x", desc[i]);
	}
}

/* --- functions ------------------------------------------------------------------------- */

void gobin_funcs_free(struct gobin_func *funcs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(funcs[i].name);
	free(funcs);
}

/* A function's name as the symbol table spells it, into out: without the ".abi0" it gives
 * assembly functions, and with "." for the compiler's middle dot ("F·1"), which only the
 * function table keeps. false when it does not fit. */
static bool spell(const char *name, char *out, size_t size)
{
	size_t len = strlen(name), w = 0;

	if (len > 5 && !strcmp(name + len - 5, ".abi0"))
		len -= 5;
	for (size_t i = 0; i < len; i++) {
		if (w + 1 >= size)
			return false;
		if ((unsigned char)name[i] == 0xc2 && i + 1 < len &&
		    (unsigned char)name[i + 1] == 0xb7) {
			out[w++] = '.';
			i++;
		} else {
			out[w++] = name[i];
		}
	}
	out[w] = '\0';
	return true;
}

static int push_func(struct gobin_func **funcs, size_t *n, const char *name, uint64_t entry,
		     uint64_t end, bool is_asm)
{
	struct gobin_func *f = ARRAY_PUSH(*funcs, *n);

	if (!f || !(f->name = strdup(name)))
		return -ENOMEM;
	f->entry = entry;
	f->end = end;
	f->is_asm = is_asm;
	(*n)++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct gobin_func *x = a, *y = b;

	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

static int funcs_from_symtab(struct gobin *b, Elf_Scn *scn, const GElf_Shdr *sh,
			     bool (*match)(const char *, void *), void *ctx,
			     struct gobin_func **funcs, size_t *n)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	char name[1024];

	for (size_t i = 0; d && i < count; i++) {
		const char *sym_name;
		GElf_Sym sym;
		size_t len;
		bool is_asm;

		if (!gelf_getsym(d, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_value || !sym.st_size || sym.st_size > UINT64_MAX - sym.st_value)
			continue;
		sym_name = elf_strptr(b->elf, sh->sh_link, sym.st_name);
		if (!sym_name || !spell(sym_name, name, sizeof(name)))
			continue;
		len = strlen(sym_name);
		is_asm = len > 5 && !strcmp(sym_name + len - 5, ".abi0");
		if (match(name, ctx) &&
		    push_func(funcs, n, name, sym.st_value, sym.st_value + sym.st_size, is_asm))
			return -ENOMEM;
	}
	return 0;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* runtime.text, from the module data (runtime.moduledata): the structure whose first
 * words are the function table's address and its name table's ({pcHeader *; funcnametab
 * []byte ...}), with text at byte 176 (unchanged from Go 1.18 to 1.27). Since Go 1.26 it
 * has a section of its own, .go.module; before, it is in .noptrdata. 0 if not found. */
static uint64_t module_text(struct gobin *b, uint64_t pclntab, uint64_t funcnames)
{
	static const char *const where[] = { ".go.module", ".noptrdata", ".data", ".data.rel.ro" };
	const uint8_t *p;
	size_t n;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		if (!section_named(b, where[i], &p, &n, NULL))
			continue;
		for (size_t off = 0; off + 192 <= n; off += 8)
			if (le64(p + off) == pclntab && le64(p + off + 8) == pclntab + funcnames)
				return le64(p + off + 176);
	}
	return 0;
}

/* The function table and its address: by its section's name, or by its header, at 8-byte
 * boundaries of every loadable segment (an external linker may merge it into
 * .data.rel.ro, and a stripped binary may keep no section headers for it). */
static bool locate_pclntab(struct gobin *b, const uint8_t **p, size_t *n, uint64_t *addr)
{
	static const char *const named[] = { ".gopclntab", ".data.rel.ro.gopclntab" };
	size_t nph;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (section_named(b, named[i], p, n, addr))
			return true;
	if (elf_getphdrnum(b->elf, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		const uint8_t *seg;

		if (!gelf_getphdr(b->elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    ph.p_offset > b->raw_size || ph.p_filesz > b->raw_size - ph.p_offset)
			continue;
		seg = b->raw + ph.p_offset;
		for (size_t off = (8 - ph.p_vaddr % 8) % 8; off + 8 <= ph.p_filesz; off += 8) {
			struct go_pclntab t;
			char ignored[8];

			/* Any text address will do: only the table's structure is checked. */
			if (go_pclntab_looks_like(seg + off, ph.p_filesz - off) &&
			    !go_pclntab_open(seg + off, ph.p_filesz - off, 1, &t, ignored,
					     sizeof(ignored))) {
				*p = seg + off;
				*n = ph.p_filesz - off;
				*addr = ph.p_vaddr + off;
				return true;
			}
		}
	}
	return false;
}

static int find_pclntab(struct gobin *b, struct go_pclntab *t, char *err, size_t err_size)
{
	const uint8_t *p;
	uint64_t addr, funcnames;
	size_t n;

	if (!locate_pclntab(b, &p, &n, &addr))
		return gobin_fail(err, err_size,
				  "no Go function table (.gopclntab) and no symbol table");
	funcnames = n >= 40 ? le64(p + 32) : 0;
	return go_pclntab_open(p, n, module_text(b, addr, funcnames), t, err, err_size);
}

/* The flags of the function that starts at entry, by a binary search of the table; 0 if
 * none does. */
static uint8_t pclntab_flags(const struct go_pclntab *t, uint64_t entry)
{
	uint32_t lo = 0, hi = t->nfunc;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *name;
		uint64_t e, end;
		uint8_t flags;

		if (go_pclntab_func(t, mid, &name, &e, &end, &flags))
			return 0;
		if (e == entry)
			return flags;
		if (e < entry)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int funcs_from_pclntab(struct gobin *b, bool (*match)(const char *, void *), void *ctx,
			      struct gobin_func **funcs, size_t *n, char *err, size_t err_size)
{
	struct go_pclntab t;
	int ret = find_pclntab(b, &t, err, err_size);
	char spelled[1024];

	for (uint32_t i = 0; !ret && i < t.nfunc; i++) {
		const char *name;
		uint64_t entry, end;
		uint8_t flags;

		if (go_pclntab_func(&t, i, &name, &entry, &end, &flags))
			return gobin_fail(err, err_size,
					  "function %u of the function table is malformed", i);
		if (end > entry && spell(name, spelled, sizeof(spelled)) && match(spelled, ctx) &&
		    push_func(funcs, n, spelled, entry, end, flags & GO_FUNC_ASM))
			return -ENOMEM;
	}
	return ret;
}

int gobin_funcs(struct gobin *b, bool (*match)(const char *name, void *ctx), void *ctx,
		struct gobin_func **funcs, size_t *n_funcs, const char **from, char *err,
		size_t err_size)
{
	GElf_Shdr sh;
	Elf_Scn *symtab = section(b, ".symtab", &sh);
	int ret;

	*funcs = NULL;
	*n_funcs = 0;
	if (symtab && sh.sh_type == SHT_SYMTAB) {
		struct go_pclntab t;
		char ignored[8];

		*from = "symtab";
		ret = funcs_from_symtab(b, symtab, &sh, match, ctx, funcs, n_funcs);
		/* Which are assembly the function table says, for those declared
		 * <ABIInternal> too (no ".abi0" to tell them by). */
		if (!ret && !find_pclntab(b, &t, ignored, sizeof(ignored)))
			for (size_t i = 0; i < *n_funcs; i++)
				(*funcs)[i].is_asm |=
					pclntab_flags(&t, (*funcs)[i].entry) & GO_FUNC_ASM;
	} else {
		*from = "pclntab";
		ret = funcs_from_pclntab(b, match, ctx, funcs, n_funcs, err, err_size);
	}
	if (ret == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	if (ret) {
		gobin_funcs_free(*funcs, *n_funcs);
		*funcs = NULL;
		*n_funcs = 0;
		return ret;
	}
	if (*n_funcs)
		qsort(*funcs, *n_funcs, sizeof(**funcs), cmp_entry);
	return 0;
}

/* --- code and offsets ------------------------------------------------------------------ */

/* The first loadable (and with exec, executable) segment holding [addr, addr + size) in
 * its bytes in the file. */
static bool segment_of(const struct gobin *b, uint64_t addr, uint64_t size, bool exec,
		       GElf_Phdr *out)
{
	size_t nph;

	if (elf_getphdrnum(b->elf, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(b->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (exec && !(ph.p_flags & PF_X))
			continue;
		if (addr < ph.p_vaddr || addr - ph.p_vaddr > ph.p_filesz ||
		    size > ph.p_filesz - (addr - ph.p_vaddr) || ph.p_offset > b->raw_size ||
		    ph.p_filesz > b->raw_size - ph.p_offset)
			continue;
		*out = ph;
		return true;
	}
	return false;
}

int gobin_code(struct gobin *b, uint64_t addr, uint64_t size, const uint8_t **code)
{
	GElf_Phdr ph;

	if (!segment_of(b, addr, size, true, &ph))
		return -EINVAL;
	*code = b->raw + ph.p_offset + (addr - ph.p_vaddr);
	return 0;
}

int gobin_file_offset(const struct gobin *b, uint64_t addr, uint64_t *offset)
{
	GElf_Phdr ph;

	if (!segment_of(b, addr, 1, true, &ph))
		return -EINVAL;
	*offset = ph.p_offset + (addr - ph.p_vaddr);
	return 0;
}
