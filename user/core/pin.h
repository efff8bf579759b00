/* Kernel state that outlives the agent (--bpf.pin-path): every map that holds counts,
 * label sets or target state is pinned under a state directory, so that a restarted or
 * upgraded agent adopts them and Prometheus sees no reset. The directory is named by the
 * layout (a hash of the BPF sources, CTRLSCOPE_LAYOUT) and by everything that sizes the
 * maps (limits, modules, the kernel's features): a binary or a configuration whose maps
 * could differ never opens another's, and its state is discarded, never misread. Programs
 * are not pinned: what happens while no agent runs is not counted. */
#ifndef CTRLSCOPE_PIN_H
#define CTRLSCOPE_PIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "kfeatures.h"

/* The state directory of this agent. */
struct pin_state {
	char dir[4096];
	/* The directory held a state when the agent started (else it was made empty). */
	bool found;
	/* Why an earlier state was discarded: "layout" (another binary's), "sizing" (other
	 * limits, modules or kernel features), "partial" (an agent stopped while pinning),
	 * "unusable" (the kernel refused to reuse its maps), or NULL. */
	const char *discarded;
};

/* One object's maps: whether they were adopted, decided at the first pin_maps. */
struct pin_group {
	const struct pin_state *state; /* NULL: pinning is off */
	char prefix[32];	       /* file names: <prefix>_<map> */
	bool decided;
	bool adopted;
};

/* Prepare pin_path for this agent: mount bpffs at /sys/fs/bpf when pin_path is below it
 * and nothing is mounted there, make the state directory (named by layout and by what
 * sizes the maps), remove every other state directory under pin_path (another layout or
 * sizing) and a state without the targets core's pins (partial). 0, or -errno with one
 * line in err. */
int pin_prepare(const char *pin_path, const char *layout, const struct config *cfg,
		const struct features *f, struct pin_state *out, char *err, size_t err_size);
/* Pin every map of obj that holds state under g's prefix (not .rodata or .kconfig, not
 * ring buffers, not maps whose fd was reused from another object). At the first call for
 * g: adopted when every such map has a pin already; when only some have one (an agent
 * stopped while pinning), those are removed and the object starts afresh. Call before
 * loading; a no-op when pinning is off. 0 or -errno. */
struct bpf_object;
int pin_maps(struct pin_group *g, struct bpf_object *obj);
/* Remove every pin of the state (the targets core could not take it): the agent starts
 * afresh; discarded becomes "unusable". */
void pin_discard(struct pin_state *s);
/* Remove the pins of g's object (a module whose pinned maps its load refused). */
void pin_forget(struct pin_group *g);
/* Remove every state directory under pin_path (--bpf.unpin): what the kernel holds for
 * them is freed once no agent uses it. 0, or -errno with one line in err. */
int pin_remove_all(const char *pin_path, char *err, size_t err_size);

#endif
