/* Who made a request, as the authenticators establish it and the authorizers consume it. */
#ifndef CTRLSCOPE_IDENTITY_H
#define CTRLSCOPE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

struct identity {
	char *user;
	char *uid; /* may be NULL */
	char **groups;
	size_t n_groups;
};

/* Returns 0 or -ENOMEM; on error dst is left empty. */
int identity_copy(struct identity *dst, const struct identity *src);
int identity_set(struct identity *id, const char *user, const char *uid);
int identity_add_group(struct identity *id, const char *group);
bool identity_in_group(const struct identity *id, const char *group);
void identity_free(struct identity *id);

#endif
