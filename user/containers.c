/* Container ids and labels: see containers.h. A list, as a node runs at most a few hundred
 * containers of targets. */
#include "containers.h"
#include "pods.h"

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
	struct entry *items;
	size_t n, cap;
	uint64_t next_id;
};

int containers_open(struct containers **out)
{
	struct containers *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->next_id = 1;
	*out = c;
	return 0;
}

void container_labels_free(struct container_labels *l)
{
	free(l->namespace);
	free(l->pod);
	free(l->container);
	free(l->workload);
	memset(l, 0, sizeof(*l));
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
	for (size_t i = 0; i < c->n; i++)
		container_labels_free(&c->items[i].labels);
	free(c->items);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint64_t containers_id(struct containers *c, uint32_t target, const struct pod *pod,
		       const char *container)
{
	struct container_labels fresh = { (char *)pod->namespace, (char *)pod->name,
					  (char *)container, (char *)pod->workload };
	struct entry *e;
	uint64_t id = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		e = &c->items[i];
		if (e->target == target && !strcmp(e->uid, pod->uid) &&
		    !strcmp(e->labels.container, container)) {
			id = e->id;
			goto out;
		}
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct entry *grown = realloc(c->items, cap * sizeof(*grown));

		if (!grown)
			goto out;
		c->items = grown;
		c->cap = cap;
	}
	e = &c->items[c->n];
	memset(e, 0, sizeof(*e));
	if (labels_copy(&e->labels, &fresh))
		goto out;
	e->target = target;
	memcpy(e->uid, pod->uid, sizeof(e->uid));
	e->id = c->next_id++;
	id = e->id;
	c->n++;
out:
	pthread_mutex_unlock(&c->lock);
	return id;
}

int containers_labels(struct containers *c, uint64_t id, struct container_labels *out)
{
	int ret = -ENOENT;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		if (c->items[i].id == id) {
			ret = labels_copy(out, &c->items[i].labels);
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
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].uid, pod_uid)) {
			c->items[kept++] = c->items[i];
			continue;
		}
		fn(c->items[i].target, c->items[i].id, ctx);
		container_labels_free(&c->items[i].labels);
	}
	c->n = kept;
	pthread_mutex_unlock(&c->lock);
}

size_t containers_count(struct containers *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}
