/* Pinned kernel state: see pin.h. */
#include "pin.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <openssl/sha.h>

#define BPF_MOUNT	"/sys/fs/bpf"
#define HASH_HEX	16
#define CFG_MAX_MODULES 16 /* more than there are */

/* Whether path (or, while it does not exist, its nearest parent) is on a bpffs. */
static bool on_bpffs(const char *path)
{
	char p[sizeof(((struct pin_state *)0)->dir)];
	struct statfs st;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		char *slash;

		if (!statfs(p, &st))
			return st.f_type == BPF_FS_MAGIC;
		slash = strrchr(p, '/');
		if (!slash || slash == p)
			return false;
		*slash = 0;
	}
}

static int mkdirs(const char *path)
{
	char p[sizeof(((struct pin_state *)0)->dir)];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -errno : 0;
}

/* Whether name is a state directory's: <16 hex>-<16 hex>. */
static bool is_state_name(const char *name)
{
	size_t n = strlen(name);

	if (n != 2 * HASH_HEX + 1 || name[HASH_HEX] != '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i != HASH_HEX && !strchr("0123456789abcdef", name[i]))
			return false;
	}
	return true;
}

/* Remove the files of dir whose names start with prefix ("" for all). */
static void remove_files(const char *dir, const char *prefix)
{
	size_t len = strlen(prefix);
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[sizeof(((struct pin_state *)0)->dir) + 256];

		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, len))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path))
			log_warn("cannot remove %s: %s", path, strerror(errno));
	}
	if (d)
		closedir(d);
}

static void remove_state(const char *dir)
{
	remove_files(dir, "");
	if (rmdir(dir) && errno != ENOENT)
		log_warn("cannot remove %s: %s", dir, strerror(errno));
}

/* What sizes the maps, hashed: the limits, each module's switch and options, the
 * kernel's features (they choose map types). */
static void sizing_hash(const struct config *cfg, const struct features *f, char *hex)
{
	unsigned char md[SHA256_DIGEST_LENGTH],
		buf[sizeof(cfg->limits) + 4 +
		    CFG_MAX_MODULES * (1 + sizeof(long long) * CFG_MAX_OPTIONS)];
	size_t n = 0;

	memcpy(buf, cfg->limits, sizeof(cfg->limits));
	n += sizeof(cfg->limits);
	buf[n++] = f->tracepoints_preemptible;
	buf[n++] = f->classic_tracepoints;
	buf[n++] = f->task_storage;
	buf[n++] = f->atomics;
	for (size_t m = 0; m < cfg->n_modules && m < CFG_MAX_MODULES; m++) {
		buf[n++] = cfg->modules[m].enabled;
		memcpy(buf + n, cfg->modules[m].values, sizeof(cfg->modules[m].values));
		n += sizeof(cfg->modules[m].values);
	}
	SHA256(buf, n, md);
	for (int i = 0; i < HASH_HEX / 2; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int pin_prepare(const char *pin_path, const char *layout, const struct config *cfg,
		const struct features *f, struct pin_state *out, char *err, size_t err_size)
{
	char sizing[HASH_HEX + 1], name[2 * HASH_HEX + 2], core[sizeof(out->dir) + 32];
	struct stat st;
	struct dirent *e;
	DIR *d;
	int ret;

	*out = (struct pin_state){ 0 };
	if (!pin_path || !*pin_path)
		return 0;
	if (pin_path[0] != '/') {
		snprintf(err, err_size, "--bpf.pin-path=%s: expected an absolute path", pin_path);
		return -EINVAL;
	}
	if (!on_bpffs(pin_path) && !strncmp(pin_path, BPF_MOUNT, strlen(BPF_MOUNT)) &&
	    (pin_path[strlen(BPF_MOUNT)] == '/' || !pin_path[strlen(BPF_MOUNT)]) &&
	    !mount("bpf", BPF_MOUNT, "bpf", 0, "mode=0700"))
		log_info("mounted the BPF filesystem at %s", BPF_MOUNT);
	if (!on_bpffs(pin_path)) {
		snprintf(err, err_size,
			 "--bpf.pin-path=%s: not on a BPF filesystem (mount one: mount -t bpf bpf "
			 "%s)",
			 pin_path, BPF_MOUNT);
		return -EINVAL;
	}
	if ((ret = mkdirs(pin_path))) {
		snprintf(err, err_size, "--bpf.pin-path=%s: cannot create it: %s", pin_path,
			 strerror(-ret));
		return ret;
	}
	sizing_hash(cfg, f, sizing);
	snprintf(name, sizeof(name), "%.*s-%s", HASH_HEX, layout, sizing);
	d = opendir(pin_path);
	while (d && (e = readdir(d))) {
		char path[sizeof(out->dir) + 256];

		if (!is_state_name(e->d_name) || !strcmp(e->d_name, name))
			continue;
		out->discarded = strncmp(e->d_name, name, HASH_HEX) ? "layout" : "sizing";
		snprintf(path, sizeof(path), "%s/%s", pin_path, e->d_name);
		log_warn("discarding the kernel state pinned at %s by an agent with another %s: "
			 "its counters start from zero",
			 path,
			 !strcmp(out->discarded, "layout") ? "map layout (another version)"
							   : "limits, modules or kernel");
		remove_state(path);
	}
	if (d)
		closedir(d);
	snprintf(out->dir, sizeof(out->dir), "%s/%s", pin_path, name);
	snprintf(core, sizeof(core), "%s/targets_slot_tickets", out->dir);
	if (!stat(out->dir, &st) && stat(core, &st)) {
		out->discarded = "partial";
		log_warn("discarding the kernel state pinned at %s: incomplete (an agent stopped "
			 "while pinning it)",
			 out->dir);
		remove_state(out->dir);
	}
	out->found = !stat(core, &st);
	if (mkdir(out->dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_size, "--bpf.pin-path=%s: cannot create %s: %s", pin_path,
			 out->dir, strerror(errno));
		return ret;
	}
	return 0;
}

static bool holds_state(struct bpf_map *map)
{
	const char *name = bpf_map__name(map);

	if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF || bpf_map__fd(map) >= 0)
		return false; /* events in flight; a map another object owns */
	return !bpf_map__is_internal(map) ||
	       (!strstr(name, ".rodata") && !strstr(name, ".kconfig"));
}

static void pin_path_of(const struct pin_group *g, struct bpf_map *map, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s_%s", g->state->dir, g->prefix, bpf_map__name(map));

	/* An internal map's name has a dot (".bss"): bpffs names may too, but keep them
	 * plain. */
	for (char *p = out + strlen(g->state->dir) + 1; n > 0 && *p; p++) {
		if (*p == '.')
			*p = '_';
	}
}

int pin_maps(struct pin_group *g, struct bpf_object *obj)
{
	struct bpf_map *map;
	size_t total = 0, found = 0;

	if (!g || !g->state || !g->state->dir[0])
		return 0;
	bpf_object__for_each_map(map, obj)
	{
		char path[sizeof(g->state->dir) + 64];

		if (!holds_state(map))
			continue;
		pin_path_of(g, map, path, sizeof(path));
		total++;
		found += !access(path, F_OK);
	}
	if (!g->decided) {
		g->decided = true;
		g->adopted = total && found == total;
		if (found && !g->adopted) {
			log_warn("discarding the kernel state pinned for %s: incomplete",
				 g->prefix);
			pin_forget(g);
		}
	}
	bpf_object__for_each_map(map, obj)
	{
		char path[sizeof(g->state->dir) + 64];
		int err;

		if (!holds_state(map))
			continue;
		pin_path_of(g, map, path, sizeof(path));
		if ((err = bpf_map__set_pin_path(map, path)))
			return err;
	}
	return 0;
}

void pin_discard(struct pin_state *s)
{
	if (!s->dir[0])
		return;
	remove_files(s->dir, "");
	s->found = false;
	s->discarded = "unusable";
}

void pin_forget(struct pin_group *g)
{
	char prefix[sizeof(g->prefix) + 1];

	if (!g || !g->state || !g->state->dir[0])
		return;
	snprintf(prefix, sizeof(prefix), "%s_", g->prefix);
	remove_files(g->state->dir, prefix);
	g->adopted = false;
}

int pin_remove_all(const char *pin_path, char *err, size_t err_size)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir(pin_path);

	if (!d) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, err_size, "--bpf.pin-path=%s: %s", pin_path, strerror(errno));
		return -errno;
	}
	while ((e = readdir(d))) {
		char path[sizeof(((struct pin_state *)0)->dir) + 256];

		if (!is_state_name(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_path, e->d_name);
		remove_state(path);
		n++;
	}
	closedir(d);
	rmdir(pin_path); /* when nothing else is there */
	log_info("removed %zu pinned state%s under %s", n, n == 1 ? "" : "s", pin_path);
	return 0;
}
