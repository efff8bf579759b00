/* A Go function's returns and calls: see returns.h. A linear sweep is exact for Go's
 * compiled code: the compiler puts no data among the instructions of a function (jump
 * tables live in read-only data), and pads between functions with INT3 (x86-64) or zero
 * words (arm64), neither of which returns. Direct calls are decoded from their bytes:
 * CALL rel32 (E8) on x86-64, BL imm26 on arm64. */
#include "returns.h"
#include "goerr.h"

#include <capstone/capstone.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* Whether the bytes left are only the padding Go puts after a function. */
static bool padding(uint16_t machine, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (machine == EM_X86_64 ? 0xcc : 0x00))
			return false;
	return true;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A direct call's target, or 0 when insn is not one. */
static uint64_t call_target(uint16_t machine, const cs_insn *insn)
{
	if (machine == EM_X86_64)
		return insn->size == 5 && insn->bytes[0] == 0xe8
			       ? insn->address + 5 +
					 (uint64_t)(int64_t)(int32_t)le32(insn->bytes + 1)
			       : 0;
	if (insn->size == 4 && (le32(insn->bytes) & 0xfc000000u) == 0x94000000u) {
		int64_t imm = (int32_t)((le32(insn->bytes) & 0x03ffffffu) << 6) >> 6;

		return insn->address + (uint64_t)(imm * 4);
	}
	return 0;
}

/* Whether insn compares the stack pointer (or a register holding a lower one, for a big
 * frame) with g.stackguard0: CMPQ SP|R12, 16(R14) on x86-64, MOVD 16(R28), R16 on arm64
 * (the comparison follows). */
static bool stack_check(uint16_t machine, const cs_insn *insn)
{
	if (machine == EM_X86_64)
		return insn->size == 4 && (insn->bytes[0] == 0x49 || insn->bytes[0] == 0x4d) &&
		       insn->bytes[1] == 0x3b && insn->bytes[2] == 0x66 && insn->bytes[3] == 0x10;
	return insn->size == 4 && le32(insn->bytes) == 0xf9400b90u; /* ldr x16, [x28, #16] */
}

/* Whether insn is the prologue's branch to its morestack call: JBE, or B.LS. */
static bool below_or_same(uint16_t machine, const cs_insn *insn)
{
	if (machine == EM_X86_64)
		return insn->id == X86_INS_JBE;
	return insn->size == 4 && (le32(insn->bytes) & 0xff00001fu) == 0x54000009u;
}

/* Whether control never falls through insn: a return or an unconditional jump. */
static bool ends_path(uint16_t machine, const cs_insn *insn)
{
	if (machine == EM_X86_64)
		return insn->id == X86_INS_RET || insn->id == X86_INS_JMP;
	return insn->id == ARM64_INS_RET || insn->id == ARM64_INS_BR ||
	       (insn->size == 4 && (le32(insn->bytes) & 0xfc000000u) == 0x14000000u);
}

void go_code_free(struct go_code *c)
{
	free(c->rets);
	free(c->calls);
	memset(c, 0, sizeof(*c));
}

/* Capstone, opened while code is being scanned and closed after: linked into the agent, the
 * relocations of its tables alone would keep 3 MB resident for the agent's whole life, for
 * a disassembler that runs when a new Go binary appears. */
#define CAPSTONE_SONAME "libcapstone.so.4"
struct capstone {
	void *lib;
	cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
	cs_err (*close)(csh *handle);
	cs_insn *(*malloc)(csh handle);
	bool (*disasm_iter)(csh handle, const uint8_t **code, size_t *size, uint64_t *address,
			    cs_insn *insn);
	void (*free)(cs_insn *insn, size_t count);
};

static int capstone_open(struct capstone *c, char *err, size_t err_size)
{
	memset(c, 0, sizeof(*c));
	c->lib = dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!c->lib)
		return gobin_fail(err, err_size, "cannot load the disassembler: %s", dlerror());
	*(void **)&c->open = dlsym(c->lib, "cs_open");
	*(void **)&c->close = dlsym(c->lib, "cs_close");
	*(void **)&c->malloc = dlsym(c->lib, "cs_malloc");
	*(void **)&c->disasm_iter = dlsym(c->lib, "cs_disasm_iter");
	*(void **)&c->free = dlsym(c->lib, "cs_free");
	if (!c->open || !c->close || !c->malloc || !c->disasm_iter || !c->free) {
		dlclose(c->lib);
		return gobin_fail(err, err_size, "%s lacks the functions of Capstone 4",
				  CAPSTONE_SONAME);
	}
	return 0;
}

void *go_disasm_hold(void)
{
	return dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
}

void go_disasm_release(void *hold)
{
	if (hold)
		dlclose(hold);
}

int go_scan_code(uint16_t machine, const uint8_t *code, size_t size, uint64_t addr,
		 struct go_code *out, char *err, size_t err_size)
{
	struct capstone cs;
	cs_arch arch = machine == EM_X86_64 ? CS_ARCH_X86 : CS_ARCH_ARM64;
	cs_mode mode = machine == EM_X86_64 ? CS_MODE_64 : CS_MODE_ARM;
	unsigned ret_id = machine == EM_X86_64 ? X86_INS_RET : ARM64_INS_RET;
	const uint8_t *p = code;
	uint64_t pc = addr, last_call = 0;
	size_t left = size, index = 0;
	bool checked = false;
	cs_insn *insn;
	csh h;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->body = addr;
	if (machine != EM_X86_64 && machine != EM_AARCH64)
		return gobin_fail(err, err_size, "no disassembler for machine %u", machine);
	if ((ret = capstone_open(&cs, err, err_size)))
		return ret;
	if (cs.open(arch, mode, &h) != CS_ERR_OK) {
		dlclose(cs.lib);
		return gobin_fail(err, err_size, "the disassembler would not start");
	}
	insn = cs.malloc(h);
	if (!insn) {
		cs.close(&h);
		dlclose(cs.lib);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	while (left && !ret) {
		uint64_t at = pc, target;

		if (!cs.disasm_iter(h, &p, &left, &pc, insn)) {
			if (!padding(machine, p, left))
				ret = gobin_fail(
					err, err_size,
					"an instruction at %#llx (offset %llu of the function) "
					"does "
					"not decode",
					(unsigned long long)at, (unsigned long long)(at - addr));
			break;
		}
		/* The prologue is the first three or four instructions. */
		if (index < 4 && stack_check(machine, insn))
			checked = true;
		else if (index < 5 && checked && out->body == addr && below_or_same(machine, insn))
			out->body = pc;
		index++;
		if ((target = call_target(machine, insn))) {
			struct go_call *c = ARRAY_PUSH(out->calls, out->n_calls);

			if (!c) {
				ret = -ENOMEM;
				break;
			}
			*c = (struct go_call){ .addr = at, .next = pc, .target = target };
			out->n_calls++;
			last_call = target;
		}
		if (insn->id == ret_id) {
			struct go_ret *r = ARRAY_PUSH(out->rets, out->n_rets);

			if (!r) {
				ret = -ENOMEM;
				break;
			}
			*r = (struct go_ret){ .addr = at, .after_call = last_call };
			out->n_rets++;
		}
		if (ends_path(machine, insn))
			last_call = 0;
	}
	cs.free(insn, 1);
	cs.close(&h);
	dlclose(cs.lib);
	if (ret == -ENOMEM)
		snprintf(err, err_size, "out of memory");
	if (ret)
		go_code_free(out);
	return ret;
}
