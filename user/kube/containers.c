/* Container ids and labels: see containers.h. A list, as a node runs at most a few hundred
 * containers of targets. */
#include "containers.h"
#include "pods.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t id;
	uint32_t target;
	char uid[POD_UID_LEN + 1];
	struct container_labels labels;
};

struct containers {
	pthread_mutex_t lock;
	struct vec entries; /* of struct entry */
};

static struct entry *entry_at(const struct containers *c, size_t i)
{
	return vec_at(&c->entries, i);
}

int containers_open(struct containers **out)
{
	struct containers *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->entries = VEC_INIT(struct entry);
	*out = c;
	return 0;
}

static int labels_copy(struct container_labels *dst, const struct container_labels *src)
{
	dst->namespace = strdup(src->namespace);
	dst->pod = strdup(src->pod);
	dst->container = strdup(src->container);
	dst->workload = strdup(src->workload);
	if (!dst->namespace || !dst->pod || !dst->container || !dst->workload) {
		container_labels_free(dst);
		return -ENOMEM;
	}
	return 0;
}

void containers_close(struct containers *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->entries.n; i++)
		container_labels_free(&entry_at(c, i)->labels);
	vec_free(&c->entries);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* FNV-1a, 64 bits. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool id_taken(const struct containers *c, uint64_t id)
{
	for (size_t i = 0; i < c->entries.n; i++) {
		if (entry_at(c, i)->id == id)
			return true;
	}
	return false;
}

/* The id of (target, pod UID, container): a hash, the same in every run of the agent, so
 * that one adopting pinned state (pin.h) finds the label sets its predecessor made. A
 * collision with another container known now takes the next free number. */
static uint64_t id_of(const struct containers *c, uint32_t target, const char *uid,
		      const char *container)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv1a(h, &target, sizeof(target));
	h = fnv1a(h, uid, strlen(uid) + 1);
	h = fnv1a(h, container, strlen(container));
	while (!h || id_taken(c, h))
		h++;
	return h;
}

uint64_t containers_id(struct containers *c, uint32_t target, const struct pod *pod,
		       const char *container)
{
	struct container_labels fresh = { (char *)pod->namespace, (char *)pod->name,
					  (char *)container, (char *)pod->workload };
	struct entry *e;
	uint64_t id = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->entries.n; i++) {
		e = entry_at(c, i);
		if (e->target == target && !strcmp(e->uid, pod->uid) &&
		    !strcmp(e->labels.container, container)) {
			id = e->id;
			goto out;
		}
	}
	e = vec_push(&c->entries);
	if (!e)
		goto out;
	if (labels_copy(&e->labels, &fresh)) {
		c->entries.n--; /* the new entry goes again */
		goto out;
	}
	e->target = target;
	memcpy(e->uid, pod->uid, sizeof(e->uid));
	e->id = 0; /* not taken yet by this entry */
	e->id = id_of(c, target, pod->uid, container);
	id = e->id;
out:
	pthread_mutex_unlock(&c->lock);
	return id;
}

int containers_labels(void *ctx, uint64_t id, struct container_labels *out)
{
	struct containers *c = ctx;
	int ret = -ENOENT;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->entries.n; i++) {
		if (entry_at(c, i)->id == id) {
			ret = labels_copy(out, &entry_at(c, i)->labels);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void containers_forget_pod(struct containers *c, const char *pod_uid,
			   void (*fn)(uint32_t target, uint64_t id, void *ctx), void *ctx)
{
	size_t kept = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->entries.n; i++) {
		struct entry *e = entry_at(c, i);

		if (strcmp(e->uid, pod_uid)) {
			*entry_at(c, kept++) = *e;
			continue;
		}
		fn(e->target, e->id, ctx);
		container_labels_free(&e->labels);
	}
	c->entries.n = kept;
	pthread_mutex_unlock(&c->lock);
}

size_t containers_count(struct containers *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->entries.n;
	pthread_mutex_unlock(&c->lock);
	return n;
}
