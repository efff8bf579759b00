/* The return instructions of a function: see returns.h. A linear sweep is exact for Go's
 * code: the compiler puts no data among the instructions of a function (jump tables live
 * in read-only data), and pads between functions with INT3 (x86-64) or zero words
 * (arm64), neither of which returns. */
#include "returns.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "vec.h"

static int fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Whether the bytes left are only the padding Go puts after a function. */
static bool padding(uint16_t machine, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (machine == EM_X86_64 ? 0xcc : 0x00))
			return false;
	return true;
}

int go_returns(uint16_t machine, const uint8_t *code, size_t size, uint64_t addr, uint64_t **rets,
	       size_t *n_rets, char *err, size_t err_size)
{
	cs_arch arch = machine == EM_X86_64 ? CS_ARCH_X86 : CS_ARCH_ARM64;
	cs_mode mode = machine == EM_X86_64 ? CS_MODE_64 : CS_MODE_ARM;
	unsigned ret_id = machine == EM_X86_64 ? X86_INS_RET : ARM64_INS_RET;
	const uint8_t *p = code;
	uint64_t pc = addr;
	size_t left = size;
	cs_insn *insn;
	csh h;
	int ret = 0;

	*rets = NULL;
	*n_rets = 0;
	if (machine != EM_X86_64 && machine != EM_AARCH64)
		return fail(err, err_size, "no disassembler for machine %u", machine);
	if (cs_open(arch, mode, &h) != CS_ERR_OK)
		return fail(err, err_size, "the disassembler would not start");
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	while (left) {
		uint64_t at = pc;

		if (!cs_disasm_iter(h, &p, &left, &pc, insn)) {
			if (!padding(machine, p, left))
				ret = fail(err, err_size,
					   "an instruction at %#llx (offset %llu of the function) "
					   "does "
					   "not decode",
					   (unsigned long long)at, (unsigned long long)(at - addr));
			break;
		}
		if (insn->id == ret_id) {
			uint64_t *slot = ARRAY_PUSH(*rets, *n_rets);

			if (!slot) {
				snprintf(err, err_size, "out of memory");
				ret = -ENOMEM;
				break;
			}
			*slot = at;
			(*n_rets)++;
		}
	}
	cs_free(insn, 1);
	cs_close(&h);
	if (ret) {
		free(*rets);
		*rets = NULL;
		*n_rets = 0;
	}
	return ret;
}
