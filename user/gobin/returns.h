/* The return instructions of a function's machine code, found by disassembling it with
 * Capstone: where a Go function's exits are probed, since a uretprobe (which rewrites the
 * return address on the stack) breaks Go programs when their stacks move. */
#ifndef CTRLSCOPE_RETURNS_H
#define CTRLSCOPE_RETURNS_H

#include <stddef.h>
#include <stdint.h>

/* The addresses of every return instruction of the code at addr (size bytes: a function,
 * from its entry to the next one's) for machine (EM_X86_64 or EM_AARCH64), in order, into
 * *rets (n_rets, freed by the caller). Every instruction must decode: code that does not
 * (other than the padding after the last instruction) is an error, so that no probe ever
 * lands inside an instruction. 0, or -EINVAL with one line in err, or -ENOMEM. */
int go_returns(uint16_t machine, const uint8_t *code, size_t size, uint64_t addr, uint64_t **rets,
	       size_t *n_rets, char *err, size_t err_size);

#endif
