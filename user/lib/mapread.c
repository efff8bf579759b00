/* Whole-map reads: see mapread.h. BPF_MAP_LOOKUP_BATCH (Linux 5.6) with a fallback to
 * get_next_key + lookup where batch operations are refused. */
#include "mapread.h"
#include "clock.h"
#include "vec.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define BATCH 256

/* This thread's seconds in the reads below, ever. */
static __thread double read_seconds;

void mapread_clock_add(double seconds)
{
	read_seconds += seconds;
}

double mapread_seconds(void)
{
	return read_seconds;
}

int map_delete_slot_keys(int fd, size_t key_size, uint32_t slot)
{
	unsigned char *key = malloc(key_size), *next = malloc(key_size);
	bool started = false;
	int n = 0;

	if (!key || !next) {
		free(key);
		free(next);
		return -ENOMEM;
	}
	while (!bpf_map_get_next_key(fd, started ? key : NULL, next)) {
		uint32_t s;

		memcpy(key, next, key_size);
		memcpy(&s, key, sizeof(s));
		if (s == slot && !bpf_map_delete_elem(fd, key)) {
			n++;
			started = false; /* start over: the walk's position was the deleted key */
			continue;
		}
		started = true;
	}
	free(key);
	free(next);
	return n;
}

int map_zero_percpu(int fd, const void *key, size_t value_size)
{
	int n_cpus = libbpf_num_possible_cpus();
	void *zero = calloc(n_cpus > 0 ? (size_t)n_cpus : 1, value_size);
	int err;

	if (!zero)
		return -ENOMEM;
	err = bpf_map_update_elem(fd, key, zero, BPF_ANY) ? -errno : 0;
	free(zero);
	return err;
}

struct reader {
	size_t key_size;
	size_t value_size; /* bytes per CPU slot of one key's value */
	int n_cpus;
	size_t n_u64;
	mapread_fn fn;
	mapread_raw_fn raw_fn;
	void *ctx;
	uint64_t *sum;
};

static void deliver(struct reader *r, const void *key, const char *values)
{
	if (r->raw_fn) {
		r->raw_fn(key, values, r->ctx);
		return;
	}
	memset(r->sum, 0, r->n_u64 * sizeof(uint64_t));
	for (int cpu = 0; cpu < r->n_cpus; cpu++) {
		const uint64_t *v = (const uint64_t *)(values + (size_t)cpu * r->value_size);

		for (size_t i = 0; i < r->n_u64; i++)
			r->sum[i] += v[i];
	}
	r->fn(key, r->sum, r->ctx);
}

/* Whether a batch operation failed only because this kernel has none for the map type
 * (older kernels answer ENOTSUPP, a kernel-internal 524, for per-CPU arrays). */
static bool batch_refused(int err)
{
	return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -ENOSYS ||
	       err == -524;
}

static int read_batched(int fd, struct reader *r, char **keys, char **values, __u32 *cap)
{
	/* Hash map batch tokens are a bucket index; 8 bytes cover every map type. */
	uint64_t in = 0, out = 0;
	void *in_batch = NULL;
	int total = 0;

	for (;;) {
		__u32 count = *cap;
		int err = bpf_map_lookup_batch(fd, in_batch, &out, *keys, *values, &count, NULL);

		if (err && errno == ENOSPC && *cap < (1u << 20)) {
			/* One hash bucket holds more keys than fit: retry it with more room. */
			char *k = realloc(*keys, (size_t)*cap * 2 * r->key_size);
			char *v = k ? realloc(*values,
					      (size_t)*cap * 2 * r->value_size * (size_t)r->n_cpus)
				    : NULL;

			if (k)
				*keys = k;
			if (v)
				*values = v;
			if (!k || !v)
				return -ENOMEM;
			*cap *= 2;
			continue;
		}
		if (err && errno != ENOENT)
			return total ? -EIO : -errno;
		for (__u32 i = 0; i < count; i++)
			deliver(r, *keys + i * r->key_size,
				*values + (size_t)i * r->value_size * (size_t)r->n_cpus);
		total += (int)count;
		if (err)
			return total; /* ENOENT: no more keys */
		in = out;
		in_batch = &in;
	}
}

static int read_iterating(int fd, struct reader *r, char *keys, char *values)
{
	char *key = keys, *next = keys + r->key_size;
	void *prev = NULL;
	int total = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, r->key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, values))
			continue; /* deleted meanwhile */
		deliver(r, key, values);
		total++;
	}
	return errno == ENOENT ? total : -errno;
}

static int read_map(int fd, struct reader *r)
{
	char *keys = calloc(BATCH, r->key_size);
	char *values = calloc(BATCH, r->value_size * (size_t)r->n_cpus);
	__u32 cap = BATCH;
	int ret = -ENOMEM;

	r->sum = calloc(r->n_u64 ? r->n_u64 : 1, sizeof(uint64_t));
	if (!keys || !values || !r->sum)
		goto out;
	ret = read_batched(fd, r, &keys, &values, &cap);
	if (batch_refused(ret))
		ret = read_iterating(fd, r, keys, values);
out:
	free(keys);
	free(values);
	free(r->sum);
	return ret;
}

static int read_map_timed(int fd, struct reader *r)
{
	double t0 = clock_seconds(CLOCK_MONOTONIC);
	int ret = read_map(fd, r);

	mapread_clock_add(clock_seconds(CLOCK_MONOTONIC) - t0);
	return ret;
}

int mapread_u64s(int fd, size_t key_size, size_t n_u64, int percpu, mapread_fn fn, void *ctx)
{
	struct reader r = { .key_size = key_size,
			    .value_size = n_u64 * sizeof(uint64_t),
			    .n_cpus = 1,
			    .n_u64 = n_u64,
			    .fn = fn,
			    .ctx = ctx };

	if (percpu) {
		r.n_cpus = libbpf_num_possible_cpus();
		if (r.n_cpus <= 0)
			return r.n_cpus ? r.n_cpus : -EINVAL;
	}
	return read_map_timed(fd, &r);
}

int mapread_raw(int fd, size_t key_size, size_t value_size, mapread_raw_fn fn, void *ctx)
{
	struct reader r = { .key_size = key_size,
			    .value_size = value_size,
			    .n_cpus = 1,
			    .raw_fn = fn,
			    .ctx = ctx };

	return read_map_timed(fd, &r);
}

/* Add one element's value (per CPU: each CPU's, summed) into dst. */
static void add_value(void *dst, const char *value, size_t value_size, int n_cpus, int percpu)
{
	if (!percpu) {
		memcpy(dst, value, value_size);
		return;
	}
	for (int cpu = 0; cpu < n_cpus; cpu++) {
		const uint64_t *v = (const uint64_t *)(value + (size_t)cpu * value_size);

		for (size_t k = 0; k < value_size / sizeof(uint64_t); k++)
			((uint64_t *)dst)[k] += v[k];
	}
}

/* mapread_array where batch lookups are refused: one lookup per element. */
static int read_array_each(int fd, uint32_t first, uint32_t count, size_t value_size, int n_cpus,
			   int percpu, char *value, void *out)
{
	for (uint32_t i = 0; i < count; i++) {
		uint32_t key = first + i;

		if (bpf_map_lookup_elem(fd, &key, value))
			return errno == ENOENT ? 0 : -errno; /* past the end */
		add_value((char *)out + (size_t)i * value_size, value, value_size, n_cpus, percpu);
	}
	return 0;
}

static int read_array(int fd, uint32_t first, uint32_t count, size_t value_size, int percpu,
		      void *out)
{
	int n_cpus = percpu ? libbpf_num_possible_cpus() : 1;
	size_t stride = value_size * (size_t)(n_cpus > 0 ? n_cpus : 1);
	uint32_t done = 0, prev = first ? first - 1 : 0, next = 0;
	uint32_t chunk = count < BATCH ? count : BATCH;
	uint32_t *keys;
	char *values;
	int err = 0;

	if (n_cpus <= 0)
		return n_cpus ? n_cpus : -EINVAL;
	keys = calloc(chunk ? chunk : 1, sizeof(*keys));
	values = calloc(chunk ? chunk : 1, stride);
	if (!keys || !values) {
		err = -ENOMEM;
		goto out;
	}
	memset(out, 0, (size_t)count * value_size);
	while (done < count) {
		/* An array's batch token is the previous key, as for get_next_key. */
		__u32 n = count - done < chunk ? count - done : chunk;
		void *in_batch = (first || done) ? &prev : NULL;

		if (bpf_map_lookup_batch(fd, in_batch, &next, keys, values, &n, NULL) &&
		    errno != ENOENT) {
			err = -errno;
			if (batch_refused(err) && !done)
				err = read_array_each(fd, first, count, value_size, n_cpus, percpu,
						      values, out);
			goto out;
		}
		if (!n)
			break;
		for (__u32 i = 0; i < n; i++) {
			uint32_t at = keys[i] - first;
			char *dst = (char *)out + (size_t)at * value_size;

			if (keys[i] < first || at >= count)
				continue;
			add_value(dst, values + (size_t)i * stride, value_size, n_cpus, percpu);
		}
		done += n;
		prev = keys[n - 1];
	}
out:
	free(keys);
	free(values);
	return err;
}

int mapread_array(int fd, uint32_t first, uint32_t count, size_t value_size, int percpu, void *out)
{
	double t0 = clock_seconds(CLOCK_MONOTONIC);
	int ret = read_array(fd, first, count, value_size, percpu, out);

	mapread_clock_add(clock_seconds(CLOCK_MONOTONIC) - t0);
	return ret;
}

int maps_memory(uint64_t *bytes, size_t *n_maps)
{
	struct vec ids = VEC_INIT(uint32_t);
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fdinfo");
	int ret = 0;

	*bytes = 0;
	*n_maps = 0;
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		char path[288], line[128];
		unsigned long long memlock = 0;
		unsigned int id = 0;
		bool is_map = false, seen = false;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			is_map |= !strncmp(line, "map_type:", 9);
			sscanf(line, "memlock: %llu", &memlock);
			sscanf(line, "map_id: %u", &id);
		}
		fclose(f);
		if (!is_map || !id)
			continue;
		for (size_t i = 0; i < ids.n && !seen; i++)
			seen = *(uint32_t *)vec_at(&ids, i) == id;
		if (seen)
			continue;
		if (!vec_push(&ids)) {
			ret = -ENOMEM;
			break;
		}
		*(uint32_t *)vec_at(&ids, ids.n - 1) = id;
		*bytes += memlock;
	}
	closedir(dir);
	*n_maps = ids.n;
	vec_free(&ids);
	return ret;
}
