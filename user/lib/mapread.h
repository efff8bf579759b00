/* Reading whole BPF hash maps from user space: batched where the kernel allows it (one
 * syscall per batch instead of two per key), per-CPU values summed; and clearing a label
 * set's entries. */
#ifndef CTRLSCOPE_MAPREAD_H
#define CTRLSCOPE_MAPREAD_H

#include <stddef.h>
#include <stdint.h>

/* Called once per key with the values summed over CPUs (n_u64 counters each). */
typedef void (*mapread_fn)(const void *key, const uint64_t *sum, void *ctx);

/* Read a map whose value is n_u64 u64 counters, per-CPU or not. Returns the number of
 * keys read, or -errno. */
int mapread_u64s(int fd, size_t key_size, size_t n_u64, int percpu, mapread_fn fn, void *ctx);

/* Read a hash map with plain (not per-CPU) values of value_size bytes. */
typedef void (*mapread_raw_fn)(const void *key, const void *value, void *ctx);
int mapread_raw(int fd, size_t key_size, size_t value_size, mapread_raw_fn fn, void *ctx);

/* Read keys [first, first + count) of an array map into out: count values of value_size
 * bytes, summed over CPUs for a per-CPU map (values are then u64 counters). Returns 0 or
 * -errno. */
int mapread_array(int fd, uint32_t first, uint32_t count, size_t value_size, int percpu, void *out);

/* The seconds this thread has spent in the reads above (and in those added with
 * mapread_clock_add: other map walks of a scrape): the difference around a scrape is its
 * collection time, apart from the time it spends writing the page. */
double mapread_seconds(void);
void mapread_clock_add(double seconds);

/* Forgetting a label set's entries (every key of these maps starts with its __u32 slot):
 * delete the hash map's keys whose first four bytes are slot; returns how many. */
int map_delete_slot_keys(int fd, size_t key_size, uint32_t slot);
/* Set the per-CPU value of key to zeroes on every CPU. */
int map_zero_percpu(int fd, const void *key, size_t value_size);

/* The memory the kernel charges for every BPF map this process holds (the memlock of
 * /proc/self/fdinfo, each map counted once however many fds name it), and how many maps.
 * 0 or -errno. */
int maps_memory(uint64_t *bytes, size_t *n_maps);

#endif
