/* cgroup v2 tree cache: see cgroups.h. Not for cgroup v1 hierarchies, and not for pod or
 * container identity (that is parsed from these paths elsewhere). */
#include "cgroups.h"
#include "buf.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64

struct node {
	struct node *next;
	uint64_t id;
	char *path;
};

struct cgroups {
	char *mount;
	struct node **buckets;
	size_t n_buckets;
	size_t count;
};

static size_t bucket_of(const struct cgroups *cg, uint64_t id)
{
	/* Fibonacci hashing: inode numbers are dense and sequential. */
	return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 32) & (cg->n_buckets - 1);
}

static struct node *find(const struct cgroups *cg, uint64_t id)
{
	for (struct node *n = cg->buckets[bucket_of(cg, id)]; n; n = n->next) {
		if (n->id == id)
			return n;
	}
	return NULL;
}

static int grow(struct cgroups *cg)
{
	size_t n_buckets = cg->n_buckets * 2;
	struct node **buckets = calloc(n_buckets, sizeof(*buckets));
	struct cgroups tmp = { .buckets = buckets, .n_buckets = n_buckets };

	if (!buckets)
		return -ENOMEM;
	for (size_t i = 0; i < cg->n_buckets; i++) {
		struct node *n = cg->buckets[i], *next;

		for (; n; n = next) {
			size_t b = bucket_of(&tmp, n->id);

			next = n->next;
			n->next = buckets[b];
			buckets[b] = n;
		}
	}
	free(cg->buckets);
	cg->buckets = buckets;
	cg->n_buckets = n_buckets;
	return 0;
}

static const char *put(struct cgroups *cg, uint64_t id, const char *path)
{
	struct node *n = find(cg, id);
	char *copy = strdup(path);

	if (!copy)
		return NULL;
	if (n) {
		free(n->path);
		n->path = copy;
		return copy;
	}
	if (cg->count >= cg->n_buckets && grow(cg))
		goto fail;
	n = malloc(sizeof(*n));
	if (!n)
		goto fail;
	n->id = id;
	n->path = copy;
	n->next = cg->buckets[bucket_of(cg, id)];
	cg->buckets[bucket_of(cg, id)] = n;
	cg->count++;
	return copy;
fail:
	free(copy);
	return NULL;
}

static void clear(struct cgroups *cg)
{
	for (size_t i = 0; i < cg->n_buckets; i++) {
		struct node *n = cg->buckets[i], *next;

		for (; n; n = next) {
			next = n->next;
			free(n->path);
			free(n);
		}
		cg->buckets[i] = NULL;
	}
	cg->count = 0;
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

/* Whether the comma-separated list has the token. */
static bool has_token(const char *list, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, token, n) && (p[n] == ',' || p[n] == 0))
			return true;
	}
	return false;
}

int cgroups_find_mount_of(const char *text, const char *controller, char *out, size_t size)
{
	/* mountinfo(5): id parent major:minor root mountpoint options [optional...] - fstype
	 * source superoptions */
	while (text && *text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[4096], *fields[6], *tail[2], *save = NULL, *sep = NULL;
		int n = 0, m = 0;

		if (len < sizeof(line)) {
			memcpy(line, text, len);
			line[len] = 0;
			sep = strstr(line, " - ");
		}
		text = eol ? eol + 1 : NULL;
		if (!sep ||
		    strncmp(sep + 3, controller ? "cgroup " : "cgroup2 ", controller ? 7 : 8))
			continue;
		if (controller) {
			/* A v1 hierarchy names its controllers in the super options. */
			for (char *f = strtok_r(sep + 10, " ", &save); f && m < 2;
			     f = strtok_r(NULL, " ", &save))
				tail[m++] = f;
			if (m < 2 || !has_token(tail[1], controller))
				continue;
		}
		*sep = 0;
		save = NULL;
		for (char *f = strtok_r(line, " ", &save); f && n < 6;
		     f = strtok_r(NULL, " ", &save))
			fields[n++] = f;
		/* A mount point too long for out is skipped, not cut into a wrong path. */
		if (n >= 5 && strlen(fields[4]) < size) {
			unescape_octal(fields[4]);
			snprintf(out, size, "%s", fields[4]);
			return 0;
		}
	}
	return -ENOENT;
}

int cgroups_find_mount(const char *text, char *out, size_t size)
{
	return cgroups_find_mount_of(text, NULL, out, size);
}

static int walk(struct cgroups *cg, int dirfd, struct buf *path, int depth)
{
	DIR *dir;
	struct dirent *de;
	size_t base = path->len;
	int err = 0;

	if (depth > MAX_DEPTH) {
		close(dirfd);
		return 0;
	}
	dir = fdopendir(dirfd);
	if (!dir) {
		close(dirfd);
		return -errno;
	}
	while ((de = readdir(dir))) {
		struct stat st;
		int fd;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue; /* removed meanwhile */
		if (fstat(fd, &st)) {
			close(fd);
			continue;
		}
		path->len = base;
		buf_printf(path, "%s%s", base > 1 ? "/" : "", de->d_name);
		if (!buf_cstr(path) || !put(cg, st.st_ino, path->data)) {
			close(fd);
			err = -ENOMEM;
			break;
		}
		err = walk(cg, fd, path, depth + 1);
		if (err)
			break;
	}
	path->len = base;
	closedir(dir);
	return err;
}

int cgroups_rescan(struct cgroups *cg)
{
	struct buf path;
	struct stat st;
	int fd, err;

	clear(cg);
	fd = open(cg->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!put(cg, st.st_ino, "/")) {
		close(fd);
		return -ENOMEM;
	}
	buf_init(&path);
	buf_puts(&path, "/");
	err = walk(cg, fd, &path, 0);
	buf_free(&path);
	return err;
}

static int find_mount_in(const char *mountinfo, const char *controller, char *out, size_t size)
{
	struct buf text;
	char chunk[4096];
	size_t n;
	FILE *f;
	int err;

	f = fopen(mountinfo, "re");
	if (!f)
		return -errno;
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&text, chunk, n);
	fclose(f);
	err = buf_cstr(&text) ? cgroups_find_mount_of(text.data, controller, out, size) : -ENOMEM;
	buf_free(&text);
	return err;
}

int cgroups_open_id(int mount_fd, uint64_t id)
{
	/* kernfs encodes a node as its 64-bit id, of handle type FILEID_KERNFS. */
	union {
		struct file_handle fh;
		char bytes[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = 0xfe } };

	int fd;

	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(mount_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cgroups_self_mount(char *out, size_t size)
{
	return find_mount_in("/proc/self/mountinfo", NULL, out, size);
}

int cgroups_self_mount_v1(const char *controller, char *out, size_t size)
{
	return find_mount_in("/proc/self/mountinfo", controller, out, size);
}

int cgroups_open(const char *mountinfo, struct cgroups **out)
{
	struct cgroups *cg;
	char mount[4096];
	int err;

	err = find_mount_in(mountinfo ? mountinfo : "/proc/self/mountinfo", NULL, mount,
			    sizeof(mount));
	if (err)
		return err;

	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	cg->n_buckets = 256;
	cg->buckets = calloc(cg->n_buckets, sizeof(*cg->buckets));
	cg->mount = strdup(mount);
	if (!cg->buckets || !cg->mount) {
		cgroups_close(cg);
		return -ENOMEM;
	}
	err = cgroups_rescan(cg);
	if (err) {
		cgroups_close(cg);
		return err;
	}
	*out = cg;
	return 0;
}

void cgroups_close(struct cgroups *cg)
{
	if (!cg)
		return;
	if (cg->buckets)
		clear(cg);
	free(cg->buckets);
	free(cg->mount);
	free(cg);
}

const char *cgroups_mount(const struct cgroups *cg)
{
	return cg->mount;
}

const char *cgroups_path(const struct cgroups *cg, uint64_t id)
{
	struct node *n = find(cg, id);

	return n ? n->path : NULL;
}

const char *cgroups_add(struct cgroups *cg, uint64_t id, uint64_t parent, const char *name)
{
	const char *up = cgroups_path(cg, parent);
	struct buf path;
	const char *stored = NULL;

	if (!up || !*name || strchr(name, '/'))
		return NULL;
	buf_init(&path);
	buf_printf(&path, "%s%s%s", up, strcmp(up, "/") ? "/" : "", name);
	if (buf_cstr(&path))
		stored = put(cg, id, path.data);
	buf_free(&path);
	return stored;
}

void cgroups_remove(struct cgroups *cg, uint64_t id)
{
	struct node **link = &cg->buckets[bucket_of(cg, id)];

	for (; *link; link = &(*link)->next) {
		struct node *n = *link;

		if (n->id == id) {
			*link = n->next;
			free(n->path);
			free(n);
			cg->count--;
			return;
		}
	}
}

size_t cgroups_count(const struct cgroups *cg)
{
	return cg->count;
}

void cgroups_foreach(const struct cgroups *cg, void (*fn)(uint64_t id, const char *path, void *ctx),
		     void *ctx)
{
	for (size_t i = 0; i < cg->n_buckets; i++) {
		for (struct node *n = cg->buckets[i]; n; n = n->next)
			fn(n->id, n->path, ctx);
	}
}

int cgroups_foreach_proc(const struct cgroups *cg, uint64_t id,
			 void (*fn)(uint32_t tgid, void *ctx), void *ctx)
{
	const char *path = cgroups_path(cg, id);
	struct buf file;
	unsigned long pid;
	FILE *f;

	if (!path)
		return -ENOENT;
	buf_init(&file);
	buf_printf(&file, "%s%s/cgroup.procs", cg->mount, strcmp(path, "/") ? path : "");
	f = buf_cstr(&file) ? fopen(file.data, "re") : NULL;
	buf_free(&file);
	if (!f)
		return -errno;
	while (fscanf(f, "%lu", &pid) == 1)
		fn((uint32_t)pid, ctx);
	fclose(f);
	return 0;
}
