/* Opening uprobes with the least privilege. Linux requires CAP_SYS_ADMIN to create a
 * uprobe (since the 2025 fix that took it from CAP_PERFMON: a probe on a data word
 * corrupts it), which the agent itself drops after start-up. So a helper process, forked
 * before the drop, keeps CAP_SYS_ADMIN alone and does one thing: given a file descriptor
 * and an offset, it returns the perf event of a uprobe there (for every process that runs
 * the file), to which the agent then attaches a BPF program. The agent only asks for
 * offsets it found to be instruction boundaries of that very file (user/gobin). */
#ifndef CTRLSCOPE_UPROBES_H
#define CTRLSCOPE_UPROBES_H

#include <stdint.h>

struct uprobe_opener;

/* Fork the helper (call before dropping capabilities, with no other thread running
 * that matters to it: it closes every descriptor but its socket). 0 or -errno. */
int uprobe_opener_start(struct uprobe_opener **out);
/* A perf event fd for a uprobe at offset of the file open on file_fd, or -errno (EACCES:
 * the helper lacks CAP_SYS_ADMIN). */
int uprobe_opener_open(struct uprobe_opener *o, int file_fd, uint64_t offset);
/* Stop the helper and wait for it. */
void uprobe_opener_stop(struct uprobe_opener *o);

#endif
