/* Identity helpers: see identity.h. */
#include "identity.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int identity_set(struct identity *id, const char *user, const char *uid)
{
	memset(id, 0, sizeof(*id));
	id->user = strdup(user);
	id->uid = uid && *uid ? strdup(uid) : NULL;
	if (!id->user || (uid && *uid && !id->uid)) {
		identity_free(id);
		return -ENOMEM;
	}
	return 0;
}

int identity_add_group(struct identity *id, const char *group)
{
	char **g = ARRAY_PUSH(id->groups, id->n_groups);

	if (!g || !(*g = strdup(group)))
		return -ENOMEM;
	id->n_groups++;
	return 0;
}

int identity_copy(struct identity *dst, const struct identity *src)
{
	if (identity_set(dst, src->user, src->uid))
		return -ENOMEM;
	for (size_t i = 0; i < src->n_groups; i++) {
		if (identity_add_group(dst, src->groups[i])) {
			identity_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

bool identity_in_group(const struct identity *id, const char *group)
{
	for (size_t i = 0; i < id->n_groups; i++) {
		if (!strcmp(id->groups[i], group))
			return true;
	}
	return false;
}

void identity_free(struct identity *id)
{
	free(id->user);
	free(id->uid);
	for (size_t i = 0; i < id->n_groups; i++)
		free(id->groups[i]);
	free(id->groups);
	memset(id, 0, sizeof(*id));
}
