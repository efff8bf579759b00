/* Pod and container identity from cgroup paths: see podpath.h. Names come from kubelet
 * (pkg/kubelet/cm/cgroup_manager_linux.go: systemd escapes '-' as '_' and expands slices)
 * and the runtimes (scope prefixes); only the last two components are looked at. */
#include "podpath.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A piece of a path, not NUL-terminated. */
struct span {
	const char *s;
	size_t len;
};

/* The systemd scope prefixes of each runtime (kubelet-test's SystemdPathPrefixOfRuntime,
 * cri-dockerd). "crio-conmon-<id>.scope" starts with "crio-" but is no container id. */
static const char *const scope_prefixes[] = { "cri-containerd-", "crio-", "docker-" };

static bool take_prefix(struct span *c, const char *prefix)
{
	size_t n = strlen(prefix);

	if (c->len < n || memcmp(c->s, prefix, n))
		return false;
	c->s += n;
	c->len -= n;
	return true;
}

static bool take_suffix(struct span *c, const char *suffix)
{
	size_t n = strlen(suffix);

	if (c->len < n || memcmp(c->s + c->len - n, suffix, n))
		return false;
	c->len -= n;
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 8-4-4-4-12 hex digits separated by sep, into the canonical lower-case form with '-'. */
static bool parse_uid(struct span c, char sep, char out[POD_UID_LEN + 1])
{
	char uid[POD_UID_LEN + 1];

	if (c.len != POD_UID_LEN)
		return false;
	for (size_t i = 0; i < POD_UID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		int v = hex_value(c.s[i]);

		if (dash ? c.s[i] != sep : v < 0)
			return false;
		uid[i] = dash ? '-' : "0123456789abcdef"[v];
	}
	uid[POD_UID_LEN] = '\0';
	memcpy(out, uid, sizeof(uid));
	return true;
}

/* Exactly 64 lower-case hex digits. */
static bool parse_container_id(struct span c, char out[CONTAINER_ID_LEN + 1])
{
	if (c.len != CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < CONTAINER_ID_LEN; i++) {
		if (!((c.s[i] >= '0' && c.s[i] <= '9') || (c.s[i] >= 'a' && c.s[i] <= 'f')))
			return false;
	}
	memcpy(out, c.s, CONTAINER_ID_LEN);
	out[CONTAINER_ID_LEN] = '\0';
	return true;
}

/* systemd: [kubelet-]kubepods[-burstable|-besteffort]-pod<uid_with_underscores>.slice.
 * Guaranteed pods have no QoS level; kind's kubelet runs under cgroupRoot /kubelet. */
static bool parse_pod_slice(struct span c, char uid[POD_UID_LEN + 1])
{
	take_prefix(&c, "kubelet-");
	if (!take_prefix(&c, "kubepods-"))
		return false;
	if (!take_prefix(&c, "burstable-"))
		take_prefix(&c, "besteffort-");
	return take_prefix(&c, "pod") && take_suffix(&c, ".slice") && parse_uid(c, '_', uid);
}

/* cgroupfs: pod<uid-with-dashes>. */
static bool parse_pod_dir(struct span c, char uid[POD_UID_LEN + 1])
{
	return take_prefix(&c, "pod") && parse_uid(c, '-', uid);
}

static bool parse_scope(struct span c, char id[CONTAINER_ID_LEN + 1])
{
	if (!take_suffix(&c, ".scope"))
		return false;
	for (size_t i = 0; i < sizeof(scope_prefixes) / sizeof(scope_prefixes[0]); i++) {
		struct span rest = c;

		if (take_prefix(&rest, scope_prefixes[i]) && parse_container_id(rest, id))
			return true;
	}
	return false;
}

/* cgroupfs: the id alone (containerd, cri-dockerd), or crio-<id> (CRI-O's
 * CgroupfsManager.ContainerCgroupPath). */
static bool parse_container_dir(struct span c, char id[CONTAINER_ID_LEN + 1])
{
	take_prefix(&c, "crio-");
	return parse_container_id(c, id);
}

/* The component of path that ends at end (exclusive): after the last '/' before it. */
static struct span component_before(const char *path, size_t end)
{
	size_t start = end;

	while (start && path[start - 1] != '/')
		start--;
	return (struct span){ path + start, end - start };
}

int cgroup_path_parse_pod(const char *path, struct pod_ref *out)
{
	struct pod_ref ref = { "", "" };
	struct span last, parent = { path, 0 };
	size_t end;

	if (!path)
		return -EINVAL;
	end = strlen(path);
	while (end && path[end - 1] == '/')
		end--;
	last = component_before(path, end);
	if (last.s > path)
		parent = component_before(path, (size_t)(last.s - path) - 1);
	if (!(parse_pod_slice(last, ref.pod_uid) || parse_pod_dir(last, ref.pod_uid)) &&
	    !(parse_scope(last, ref.container_id) && parse_pod_slice(parent, ref.pod_uid)) &&
	    !(parse_container_dir(last, ref.container_id) && parse_pod_dir(parent, ref.pod_uid)))
		return -ENOENT;
	*out = ref;
	return 0;
}

int container_id_from_status(const char *status_id, char out[CONTAINER_ID_LEN + 1])
{
	static const char *const schemes[] = { "containerd://", "cri-o://", "docker://" };
	char id[CONTAINER_ID_LEN + 1];

	if (!status_id)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		struct span c = { status_id, strlen(status_id) };

		if (take_prefix(&c, schemes[i]) && parse_container_id(c, id)) {
			memcpy(out, id, sizeof(id));
			return 0;
		}
	}
	return -EINVAL;
}
