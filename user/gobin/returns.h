/* A Go function's machine code scanned with Capstone: its return instructions (where its
 * exits are probed, since a uretprobe, which rewrites the return address on the stack,
 * breaks Go programs when their stacks move) and its direct calls (a probe on the
 * instruction after a call reads what the callee returned). */
#ifndef CTRLSCOPE_RETURNS_H
#define CTRLSCOPE_RETURNS_H

#include <stddef.h>
#include <stdint.h>

struct go_ret {
	uint64_t addr;
	/* The target of the last direct call before it on the straight path to it (no
	 * return or unconditional jump between), 0 if none: runtime.deferreturn for the
	 * return that only a recovered panic reaches. */
	uint64_t after_call;
};

struct go_call {
	uint64_t addr;
	uint64_t next; /* the instruction after it: where the callee returns to */
	uint64_t target;
};

struct go_code {
	/* Where the body starts: past the stack-check prologue, whose branch to
	 * runtime.morestack comes back to the entry (a stack growth or a preemption request
	 * runs the entry again, the body once). The entry when there is no such check. */
	uint64_t body;
	struct go_ret *rets;
	size_t n_rets;
	struct go_call *calls; /* direct calls only */
	size_t n_calls;
};

/* Scan the code at addr (size bytes: a function, from its entry to the next one's) for
 * machine (EM_X86_64 or EM_AARCH64) into *out, in address order. Every instruction must
 * decode: code that does not (other than the padding after the last instruction) is an
 * error, so that no probe ever lands inside an instruction. 0, or -EINVAL with one line in
 * err, or -ENOMEM; out is empty on error. */
int go_scan_code(uint16_t machine, const uint8_t *code, size_t size, uint64_t addr,
		 struct go_code *out, char *err, size_t err_size);
void go_code_free(struct go_code *c);

/* The disassembler (Capstone) is loaded only while code is scanned: go_scan_code opens and
 * closes it. Around many scans (a binary's functions), hold it open once: NULL when it
 * cannot be loaded (go_scan_code then says why). */
void *go_disasm_hold(void);
void go_disasm_release(void *hold);

#endif
