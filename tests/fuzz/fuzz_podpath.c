/* libFuzzer target for pod identity from cgroup paths and container ids from pod status
 * (cgroup_path_parse_pod and container_id_from_status in user/kube/podpath.c). Beyond "does not
 * crash": a pod UID is canonical and spelt in the path (modulo '_' and case), a container
 * id is 64 lower-case hex and is the last component's; the answer depends on the last two
 * components only; a failure leaves the output alone; and a status id is accepted exactly
 * when a model written here from the Kubernetes API's forms accepts it. */
#include "podpath.h"
#include "check.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static void check_uid(const char *uid)
{
	CHECK(strlen(uid) == POD_UID_LEN);
	for (size_t i = 0; i < POD_UID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			CHECK(uid[i] == '-');
		else
			CHECK(is_lower_hex(uid + i, 1));
	}
}

/* Whether s holds uid, a '-' of it written '-' or '_', any digit in either case. */
static bool spells_uid(const char *s, size_t len, const char *uid)
{
	for (size_t at = 0; at + POD_UID_LEN <= len; at++) {
		size_t i = 0;

		for (; i < POD_UID_LEN; i++) {
			char c = (char)tolower((unsigned char)s[at + i]);

			if (c != uid[i] && !(uid[i] == '-' && c == '_'))
				break;
		}
		if (i == POD_UID_LEN)
			return true;
	}
	return false;
}

/* The component of path that ends at end, and its length. */
static const char *component(const char *path, size_t end, size_t *len)
{
	size_t start = end;

	while (start && path[start - 1] != '/')
		start--;
	*len = end - start;
	return path + start;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

static void check_ref(const char *path, const struct pod_ref *ref)
{
	size_t end = strlen(path), len, parent_len = 0, cid_len = strlen(ref->container_id);
	const char *last, *parent = NULL;

	while (end && path[end - 1] == '/')
		end--;
	last = component(path, end, &len);
	if (last > path)
		parent = component(path, (size_t)(last - path) - 1, &parent_len);
	check_uid(ref->pod_uid);
	CHECK(cid_len == 0 || cid_len == CONTAINER_ID_LEN);
	CHECK(is_lower_hex(ref->container_id, cid_len));
	CHECK(spells_uid(path, strlen(path), ref->pod_uid));
	CHECK(!memmem(last, len, "conmon", 6));
	/* A pod's own cgroup names the pod last. */
	if (!cid_len) {
		CHECK(spells_uid(last, len, ref->pod_uid));
		return;
	}
	/* A container's names the container last, directly in its pod, both of one driver:
	 * a systemd scope in a slice, a cgroupfs directory in a directory. */
	CHECK(memmem(last, len, ref->container_id, cid_len));
	CHECK(parent && spells_uid(parent, parent_len, ref->pod_uid));
	CHECK(ends_with(last, len, ".scope") == ends_with(parent, parent_len, ".slice"));
}

static int parse(const char *path, struct pod_ref *ref)
{
	struct pod_ref before;
	int ret;

	memset(ref, 0xa5, sizeof(*ref));
	before = *ref;
	ret = cgroup_path_parse_pod(path, ref);
	CHECK(ret == 0 || ret == -ENOENT);
	if (ret)
		CHECK(!memcmp(ref, &before, sizeof(before)));
	return ret;
}

static void check_same(const char *path, int want_ret, const struct pod_ref *want)
{
	struct pod_ref ref;
	int ret = parse(path, &ref);

	if (ret != want_ret || (!ret && memcmp(&ref, want, sizeof(ref))))
		note("a path with the same last two components, parsed differently", path,
		     strlen(path));
	CHECK(ret == want_ret);
	CHECK(ret || !memcmp(&ref, want, sizeof(ref)));
}

/* Only the last two components count: another prefix, or a trailing '/', changes nothing. */
static void check_prefix_and_slash(const char *path, int ret, const struct pod_ref *ref)
{
	size_t len = strlen(path);
	char *other = malloc(len + 16);

	CHECK(other);
	snprintf(other, len + 16, "/x/y.slice/%s", path);
	check_same(other, ret, ref);
	snprintf(other, len + 16, "%s/", path);
	check_same(other, ret, ref);
	free(other);
}

/* The same pod and container, written in each driver's form, parse to the same ref. */
static void check_rewritten(const struct pod_ref *ref)
{
	char uid_[POD_UID_LEN + 1], path[256];
	struct pod_ref again;

	memcpy(uid_, ref->pod_uid, sizeof(uid_));
	for (char *c = uid_; *c; c++)
		*c = *c == '-' ? '_' : *c;
	snprintf(path, sizeof(path), "/kubepods/burstable/pod%s/%s", ref->pod_uid,
		 ref->container_id);
	CHECK(!parse(path, &again) && !memcmp(&again, ref, sizeof(again)));
	if (ref->container_id[0])
		snprintf(path, sizeof(path), "/kubepods-pod%s.slice/crio-%s.scope", uid_,
			 ref->container_id);
	else
		snprintf(path, sizeof(path), "/kubepods-besteffort-pod%s.slice", uid_);
	CHECK(!parse(path, &again) && !memcmp(&again, ref, sizeof(again)));
}

/* containerStatuses[].containerID: a known scheme, then exactly 64 lower-case hex. */
static bool model_status(const char *s, const char **id)
{
	static const char *const schemes[] = { "containerd://", "cri-o://", "docker://" };

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);

		if (!strncmp(s, schemes[i], n) && strlen(s + n) == CONTAINER_ID_LEN &&
		    is_lower_hex(s + n, CONTAINER_ID_LEN)) {
			*id = s + n;
			return true;
		}
	}
	return false;
}

static void check_status(const char *s)
{
	char out[CONTAINER_ID_LEN + 1], before[CONTAINER_ID_LEN + 1];
	const char *id = NULL;
	bool want = model_status(s, &id);
	int ret;

	memset(out, 0xa5, sizeof(out));
	memcpy(before, out, sizeof(out));
	ret = container_id_from_status(s, out);
	CHECK(ret == 0 || ret == -EINVAL);
	CHECK(!ret == want);
	if (ret)
		CHECK(!memcmp(out, before, sizeof(out)));
	else
		CHECK(!strcmp(out, id));
}

/* A container id found in a path is one the API would report, in every scheme. */
static void check_status_of(const char *cid)
{
	char status[32 + CONTAINER_ID_LEN], out[CONTAINER_ID_LEN + 1];

	snprintf(status, sizeof(status), "cri-o://%s", cid);
	CHECK(!container_id_from_status(status, out) && !strcmp(out, cid));
	snprintf(status, sizeof(status), "docker://%s", cid);
	check_status(status);
}

/* The forms of peers-deployment.md 4.1; %s are the UID (systemd: '_') and the id. */
static const char *const forms[] = {
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
	"cri-containerd-%s.scope",
	"/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%s.scope",
	"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/crio-%s.scope",
	"/kubepods.slice/kubepods-pod%s.slice/docker-%s.scope",
	("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	 "kubelet-kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope"),
	"/kubepods/burstable/pod%s/%s",
	"/kubepods/pod%s/%s",
	"/kubepods/besteffort/pod%s/crio-%s",
};

#define N_FORMS	  (sizeof(forms) / sizeof(forms[0]))
#define N_SYSTEMD 5 /* the first ones */
#define GEN_INPUT (16 + 32 + 1)

/* From the input's first bytes, a UID (hex digits in the case the bits say) and a
 * container id, written in one of the forms: it must parse to exactly them, whether or
 * not the mutator ever finds such a path by itself. */
static void check_generated(const uint8_t *b)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	struct pod_ref want = { "", "" }, ref;
	char uid[POD_UID_LEN + 1], path[512];
	size_t form = b[48] % N_FORMS, k = 0;

	for (size_t i = 0; i < POD_UID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		unsigned v = b[k / 2] >> (k % 2 ? 4 : 0) & 0xf, upper = b[(k + 7) % 16] & 16;

		uid[i] = dash ? (form < N_SYSTEMD ? '_' : '-') : hex[v + upper];
		want.pod_uid[i] = dash ? '-' : hex[v];
		k += !dash;
	}
	uid[POD_UID_LEN] = want.pod_uid[POD_UID_LEN] = '\0';
	for (size_t i = 0; i < CONTAINER_ID_LEN; i++)
		want.container_id[i] = hex[b[16 + i / 2] >> (i % 2 ? 4 : 0) & 0xf];
	want.container_id[CONTAINER_ID_LEN] = '\0';
	snprintf(path, sizeof(path), forms[form], uid, want.container_id);
	if (parse(path, &ref) || memcmp(&ref, &want, sizeof(ref)))
		note("a generated path, not parsed as generated", path, strlen(path));
	CHECK(!parse(path, &ref) && !memcmp(&ref, &want, sizeof(ref)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)(nul - data) : size;
	char *path = malloc(len + 1);
	struct pod_ref ref;
	int ret;

	CHECK(path);
	memcpy(path, data, len);
	path[len] = '\0';
	ret = parse(path, &ref);
	if (!ret) {
		check_ref(path, &ref);
		check_rewritten(&ref);
		if (ref.container_id[0])
			check_status_of(ref.container_id);
	}
	check_prefix_and_slash(path, ret, &ref);
	check_status(path);
	if (size >= GEN_INPUT)
		check_generated(data);
	free(path);
	return 0;
}
