/* The node's pods: see pods.h. A list, then a watch from its resourceVersion, resumed
 * from the last version seen when the stream ends, and a fresh list only when the API
 * server answers 410 Gone (the version is too old) or nothing was listed yet.
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes */
#include "pods.h"
#include "buf.h"
#include "clock.h"
#include "kube.h"
#include "log.h"
#include "vec.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#define LIST_TIMEOUT_MS	 30000
#define WATCH_TIMEOUT_S	 300 /* the server closes a watch after this; we resume it */
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS	 30000

enum { EV_ADDED, EV_MODIFIED, EV_DELETED, EV_BOOKMARK, EV_ERROR, EV_N };
static const char *const event_names[EV_N] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK",
					       "ERROR" };

struct pods {
	struct kube *kube;
	char *list_query;
	char *node;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int efd;
	pthread_mutex_t lock;
	struct vec pods; /* of struct pod */
	char rv[64];
	bool relist;
	atomic_bool synced;
	atomic_ullong lists, watches, relists, events[EV_N];
};

static struct pod *pod_at(const struct pods *p, size_t i)
{
	return vec_at(&p->pods, i);
}

/* --- pod objects ------------------------------------------------------------------- */

void pod_free(struct pod *pod)
{
	free(pod->namespace);
	free(pod->name);
	free(pod->workload);
	for (size_t i = 0; i < pod->n_labels; i++) {
		free(pod->label_keys[i]);
		free(pod->label_values[i]);
	}
	free(pod->label_keys);
	free(pod->label_values);
	for (size_t i = 0; i < pod->n_containers; i++)
		free(pod->containers[i].name);
	free(pod->containers);
	memset(pod, 0, sizeof(*pod));
}

const char *pod_workload(const char *owner_kind, const char *owner_name, const char *template_hash,
			 char *out, size_t size)
{
	size_t n, h;

	if (!owner_kind || !owner_name) {
		snprintf(out, size, "%s", "");
		return out;
	}
	n = strlen(owner_name);
	h = template_hash ? strlen(template_hash) : 0;
	/* A Deployment's ReplicaSet is "<deployment>-<pod-template-hash>". */
	if (!strcmp(owner_kind, "ReplicaSet") && h && n > h + 1 && owner_name[n - h - 1] == '-' &&
	    !strcmp(owner_name + n - h, template_hash)) {
		snprintf(out, size, "%.*s", (int)(n - h - 1), owner_name);
		return out;
	}
	snprintf(out, size, "%s", owner_name);
	return out;
}

static const char *str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int add_container(struct pod *pod, const char *name)
{
	struct pod_container *c;

	for (size_t i = 0; i < pod->n_containers; i++) {
		if (!strcmp(pod->containers[i].name, name))
			return 0;
	}
	c = ARRAY_PUSH(pod->containers, pod->n_containers);
	if (!c || !(c->name = strdup(name)))
		return -ENOMEM;
	pod->n_containers++;
	return 0;
}

static int parse_containers(struct pod *pod, json_t *spec, json_t *status)
{
	static const char *const spec_lists[] = { "containers", "initContainers" };
	static const char *const status_lists[] = { "containerStatuses", "initContainerStatuses" };
	char id[CONTAINER_ID_LEN + 1];
	size_t i;
	json_t *c;

	for (int l = 0; l < 2; l++) {
		json_array_foreach(json_object_get(spec, spec_lists[l]), i, c)
		{
			if (str(c, "name") && add_container(pod, str(c, "name")))
				return -ENOMEM;
		}
	}
	for (int l = 0; l < 2; l++) {
		json_array_foreach(json_object_get(status, status_lists[l]), i, c)
		{
			const char *name = str(c, "name"), *cid = str(c, "containerID");

			if (!name || add_container(pod, name))
				continue;
			if (!cid || container_id_from_status(cid, id))
				continue;
			for (size_t k = 0; k < pod->n_containers; k++) {
				if (!strcmp(pod->containers[k].name, name))
					memcpy(pod->containers[k].id, id, sizeof(id));
			}
		}
	}
	return 0;
}

static int parse_labels(struct pod *pod, json_t *labels)
{
	const char *key;
	json_t *v;
	size_t n = json_is_object(labels) ? json_object_size(labels) : 0;

	pod->label_keys = calloc(n ? n : 1, sizeof(char *));
	pod->label_values = calloc(n ? n : 1, sizeof(char *));
	if (!pod->label_keys || !pod->label_values)
		return -ENOMEM;
	json_object_foreach(labels, key, v)
	{
		if (!json_is_string(v))
			continue;
		pod->label_keys[pod->n_labels] = strdup(key);
		pod->label_values[pod->n_labels] = strdup(json_string_value(v));
		pod->n_labels++;
		if (!pod->label_keys[pod->n_labels - 1] || !pod->label_values[pod->n_labels - 1])
			return -ENOMEM;
	}
	return 0;
}

static const char *label_of(const struct pod *pod, const char *key)
{
	for (size_t i = 0; i < pod->n_labels; i++) {
		if (!strcmp(pod->label_keys[i], key))
			return pod->label_values[i];
	}
	return NULL;
}

static int pod_from_json(json_t *obj, struct pod *pod)
{
	json_t *meta = json_object_get(obj, "metadata"), *owner;
	const char *uid = str(meta, "uid"), *ns = str(meta, "namespace"), *name = str(meta, "name");
	const char *kind = NULL, *owner_name = NULL;
	char workload[256];
	size_t i;

	memset(pod, 0, sizeof(*pod));
	if (!uid || strlen(uid) != POD_UID_LEN || !ns || !name)
		return -EINVAL;
	for (i = 0; i < POD_UID_LEN; i++)
		pod->uid[i] = (char)((uid[i] >= 'A' && uid[i] <= 'F') ? uid[i] + 32 : uid[i]);
	pod->namespace = strdup(ns);
	pod->name = strdup(name);
	if (!pod->namespace || !pod->name || parse_labels(pod, json_object_get(meta, "labels")))
		goto nomem;
	json_array_foreach(json_object_get(meta, "ownerReferences"), i, owner)
	{
		if (json_is_true(json_object_get(owner, "controller"))) {
			kind = str(owner, "kind");
			owner_name = str(owner, "name");
		}
	}
	pod->workload = strdup(pod_workload(kind, owner_name, label_of(pod, "pod-template-hash"),
					    workload, sizeof(workload)));
	if (!pod->workload ||
	    parse_containers(pod, json_object_get(obj, "spec"), json_object_get(obj, "status")))
		goto nomem;
	return 0;
nomem:
	pod_free(pod);
	return -ENOMEM;
}

int pod_parse(const char *text, size_t len, struct pod *pod)
{
	json_t *obj = json_loadb(text, len, 0, NULL);
	int ret = obj ? pod_from_json(obj, pod) : -EINVAL;

	json_decref(obj);
	return ret;
}

/* --- the table --------------------------------------------------------------------- */

static struct pod *find_locked(struct pods *p, const char *uid)
{
	for (size_t i = 0; i < p->pods.n; i++) {
		if (!strcmp(pod_at(p, i)->uid, uid))
			return pod_at(p, i);
	}
	return NULL;
}

/* Insert or replace; takes ownership of pod's contents. */
static int upsert_locked(struct pods *p, struct pod *pod)
{
	struct pod *slot = find_locked(p, pod->uid);

	if (!slot) {
		slot = vec_push(&p->pods);
		if (!slot)
			return -ENOMEM;
	} else {
		pod_free(slot);
	}
	*slot = *pod;
	memset(pod, 0, sizeof(*pod));
	return 0;
}

static void notify(struct pods *p)
{
	uint64_t one = 1;
	ssize_t n = write(p->efd, &one, sizeof(one));

	(void)n;
}

static void set_rv(struct pods *p, json_t *obj)
{
	const char *rv = str(json_object_get(obj, "metadata"), "resourceVersion");

	if (rv && strlen(rv) < sizeof(p->rv)) {
		pthread_mutex_lock(&p->lock);
		snprintf(p->rv, sizeof(p->rv), "%s", rv);
		pthread_mutex_unlock(&p->lock);
	}
}

/* --- list and watch ---------------------------------------------------------------- */

static int list(struct pods *p)
{
	struct buf body;
	json_t *root, *items, *item;
	long code;
	size_t i;
	int ret = -EIO;

	atomic_fetch_add(&p->lists, 1);
	buf_init(&body);
	if (kube_list_pods(p->kube, p->list_query, LIST_TIMEOUT_MS, &body, &code) != KUBE_OK) {
		buf_free(&body);
		return -EIO;
	}
	root = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	buf_free(&body);
	items = json_object_get(root, "items");
	if (!json_is_array(items)) {
		log_warn("pods: the list answer is not a PodList");
		goto out;
	}
	pthread_mutex_lock(&p->lock);
	/* Pods the list no longer has were deleted while we did not watch. */
	for (size_t k = 0; k < p->pods.n; k++) {
		bool listed = false;

		json_array_foreach(items, i, item)
		{
			const char *uid = str(json_object_get(item, "metadata"), "uid");

			listed = listed || (uid && !strcasecmp(uid, pod_at(p, k)->uid));
		}
		if (!listed && !pod_at(p, k)->deleted) {
			pod_at(p, k)->deleted = true;
			pod_at(p, k)->deleted_at = clock_seconds(CLOCK_MONOTONIC);
		}
	}
	json_array_foreach(items, i, item)
	{
		struct pod pod;

		if (!pod_from_json(item, &pod) && upsert_locked(p, &pod))
			pod_free(&pod);
	}
	pthread_mutex_unlock(&p->lock);
	set_rv(p, root);
	ret = 0;
	atomic_store(&p->synced, true);
	log_info("pods: listed %zu pods of node %s", json_array_size(items), p->node);
	notify(p);
out:
	json_decref(root);
	return ret;
}

static int on_event(const char *line, size_t len, void *ctx)
{
	struct pods *p = ctx;
	json_t *ev = json_loadb(line, len, 0, NULL), *obj;
	const char *type = ev ? str(ev, "type") : NULL;
	struct pod pod;
	int kind, stop = 0;

	if (!type) {
		json_decref(ev);
		return len ? 1 : 0; /* garbage ends the stream; an empty line is a keep-alive */
	}
	for (kind = 0; kind < EV_N && strcmp(event_names[kind], type); kind++)
		;
	obj = json_object_get(ev, "object");
	if (kind < EV_N)
		atomic_fetch_add(&p->events[kind], 1);
	switch (kind) {
	case EV_ADDED:
	case EV_MODIFIED:
	case EV_DELETED:
		if (pod_from_json(obj, &pod))
			break;
		pod.deleted = kind == EV_DELETED;
		pod.deleted_at = pod.deleted ? clock_seconds(CLOCK_MONOTONIC) : 0;
		pthread_mutex_lock(&p->lock);
		if (upsert_locked(p, &pod))
			pod_free(&pod);
		pthread_mutex_unlock(&p->lock);
		set_rv(p, obj);
		notify(p);
		break;
	case EV_BOOKMARK:
		set_rv(p, obj);
		break;
	case EV_ERROR:
		/* 410 Gone: our version is too old to resume from; anything else: reconnect. */
		if (json_integer_value(json_object_get(obj, "code")) == 410) {
			pthread_mutex_lock(&p->lock);
			p->relist = true;
			pthread_mutex_unlock(&p->lock);
		}
		log_info("pods: the watch ended with an error event (%s)",
			 str(obj, "message") ? str(obj, "message") : "no message");
		stop = 1;
		break;
	}
	json_decref(ev);
	return stop;
}

static int should_stop(void *ctx)
{
	return atomic_load(&((struct pods *)ctx)->stop);
}

static void pause_ms(struct pods *p, long ms)
{
	for (long waited = 0; waited < ms && !atomic_load(&p->stop); waited += 100)
		usleep(100 * 1000);
}

/* A watch from the last version seen; false on an error (back off before the next). */
static bool watch(struct pods *p)
{
	char query[512], rv[64];
	enum kube_result r;
	long code;

	pthread_mutex_lock(&p->lock);
	snprintf(rv, sizeof(rv), "%s", p->rv);
	pthread_mutex_unlock(&p->lock);
	snprintf(query, sizeof(query),
		 "%s&watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%d",
		 p->list_query, rv, WATCH_TIMEOUT_S);
	atomic_fetch_add(&p->watches, 1);
	r = kube_watch_pods(p->kube, query, on_event, should_stop, p, &code);
	/* Any refusal (410 Gone, a version from before an API server restart, ...): start
	 * again from a list, as client-go's reflector does. No answer at all: retry the watch. */
	if (code && code != 200) {
		pthread_mutex_lock(&p->lock);
		p->relist = true;
		pthread_mutex_unlock(&p->lock);
	}
	return r == KUBE_OK || code == 410;
}

static void *watcher(void *arg)
{
	struct pods *p = arg;
	long backoff = BACKOFF_FIRST_MS;
	bool list_failed = false;

	while (!atomic_load(&p->stop)) {
		bool need_list, ok;

		pthread_mutex_lock(&p->lock);
		need_list = p->relist || !p->rv[0];
		p->relist = false;
		pthread_mutex_unlock(&p->lock);
		if (need_list) {
			/* One relist per watch that could not resume, however many tries it takes:
			 * a failed list is tried again as a list, never as a watch from the old
			 * version (which a restarted API server would refuse once more). */
			if (p->rv[0] && !list_failed)
				atomic_fetch_add(&p->relists, 1);
			ok = !list(p);
			list_failed = !ok;
			if (!ok) {
				pthread_mutex_lock(&p->lock);
				p->relist = true;
				pthread_mutex_unlock(&p->lock);
			}
		} else {
			ok = watch(p);
		}
		if (ok) {
			backoff = BACKOFF_FIRST_MS;
			continue;
		}
		if (atomic_load(&p->stop))
			break;
		log_debug("pods: retrying in %ld ms", backoff);
		pause_ms(p, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* --- set-up and access ------------------------------------------------------------- */

int pods_open(struct kube *kube, const char *node, struct pods **out)
{
	struct pods *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->pods = VEC_INIT(struct pod);
	p->kube = kube;
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->node = strdup(node);
	/* Never the whole cluster: only this node's pods ("=" escaped in the query). */
	if (p->efd < 0 || !p->node ||
	    asprintf(&p->list_query, "fieldSelector=spec.nodeName%%3D%s", node) < 0) {
		pods_close(p);
		return -ENOMEM;
	}
	if (pthread_create(&p->thread, NULL, watcher, p)) {
		pods_close(p);
		return -EAGAIN;
	}
	p->started = true;
	*out = p;
	return 0;
}

void pods_close(struct pods *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (size_t i = 0; i < p->pods.n; i++)
		pod_free(pod_at(p, i));
	vec_free(&p->pods);
	if (p->efd >= 0)
		close(p->efd);
	free(p->list_query);
	free(p->node);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int pods_event_fd(const struct pods *p)
{
	return p->efd;
}

void pods_ack(struct pods *p)
{
	uint64_t n;
	ssize_t r = read(p->efd, &n, sizeof(n));

	(void)r;
}

bool pods_synced(struct pods *p)
{
	return atomic_load(&p->synced);
}

void pods_lock(struct pods *p)
{
	pthread_mutex_lock(&p->lock);
}

void pods_unlock(struct pods *p)
{
	pthread_mutex_unlock(&p->lock);
}

const struct pod *pods_find(struct pods *p, const char *uid)
{
	return find_locked(p, uid);
}

void pods_expire(struct pods *p, double now, double grace,
		 void (*fn)(const struct pod *pod, void *ctx), void *ctx)
{
	size_t kept = 0;

	for (size_t i = 0; i < p->pods.n; i++) {
		if (pod_at(p, i)->deleted && now - pod_at(p, i)->deleted_at >= grace) {
			fn(pod_at(p, i), ctx);
			pod_free(pod_at(p, i));
			continue;
		}
		*pod_at(p, kept++) = *pod_at(p, i);
	}
	p->pods.n = kept;
}

const struct pod_container *pod_container_by_id(const struct pod *pod, const char *id)
{
	for (size_t i = 0; i < pod->n_containers; i++) {
		if (pod->containers[i].id[0] && !strcmp(pod->containers[i].id, id))
			return &pod->containers[i];
	}
	return NULL;
}

void pods_collect(struct pods *p, struct expo *e)
{
	struct label l = { "state", NULL };
	size_t running = 0, deleted = 0;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->pods.n; i++) {
		if (pod_at(p, i)->deleted)
			deleted++;
		else
			running++;
	}
	pthread_mutex_unlock(&p->lock);
	expo_family(e, "ctrlscope_kube_pods", "gauge",
		    "Pods of this node known to the agent; deleted ones are kept for "
		    "kubernetes.deleted_pod_grace.");
	l.value = "running";
	expo_u64(e, &l, 1, running);
	l.value = "deleted";
	expo_u64(e, &l, 1, deleted);
	expo_family(e, "ctrlscope_kube_pods_synced", "gauge",
		    "1 once the node's pods have been listed.");
	expo_u64(e, NULL, 0, atomic_load(&p->synced));
	expo_family(e, "ctrlscope_kube_pod_events_total", "counter",
		    "Watch events received for the node's pods, by type.");
	l.name = "type";
	for (int i = 0; i < EV_N; i++) {
		l.value = event_names[i];
		expo_u64(e, &l, 1, atomic_load(&p->events[i]));
	}
	expo_family(e, "ctrlscope_kube_pods_relists_total", "counter",
		    "Lists after the first: the watch's version was too old (410 Gone).");
	expo_u64(e, NULL, 0, atomic_load(&p->relists));
}
