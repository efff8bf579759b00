/* Unit tests for pod and container identity from cgroup paths (user/kube/podpath.h): every form
 * of peers-deployment.md 4.1 (systemd and cgroupfs drivers, containerd, CRI-O, cri-dockerd,
 * kind), UID case, and everything that is not exactly a pod or a container in one: -ENOENT.
 * Not for finding the cgroup of a process (cgroups.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "podpath.h"

#define UID	"1b4e28ba-2fa1-11d2-883f-0016d3cca427"
#define UID_	"1b4e28ba_2fa1_11d2_883f_0016d3cca427" /* systemd-escaped */
#define UID_UP	"1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
#define UID_UP_ "1B4E28BA_2fa1_11D2_883F_0016d3CCA427" /* mixed case */
#define CID	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CID_UP	"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"

#define BURSTABLE  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice"
#define BESTEFFORT "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice"
#define GUARANTEED "/kubepods.slice/kubepods-pod" UID_ ".slice"
#define KIND                                                                                       \
	"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"                 \
	"kubelet-kubepods-besteffort-pod" UID_ ".slice"

static void check_ok(const char *path, const char *uid, const char *cid)
{
	struct pod_ref ref;

	memset(&ref, 'x', sizeof(ref));
	assert_int_equal(cgroup_path_parse_pod(path, &ref), 0);
	assert_string_equal(ref.pod_uid, uid);
	assert_string_equal(ref.container_id, cid);
}

static void check_none(const char *path)
{
	struct pod_ref ref, before;

	memset(&ref, 'x', sizeof(ref));
	before = ref;
	assert_int_equal(cgroup_path_parse_pod(path, &ref), -ENOENT);
	/* "out is written only on success". */
	assert_memory_equal(&ref, &before, sizeof(ref));
}

static void test_systemd_containerd(void **state)
{
	(void)state;
	check_ok(BURSTABLE "/cri-containerd-" CID ".scope", UID, CID);
	check_ok(BESTEFFORT "/cri-containerd-" CID ".scope", UID, CID);
	check_ok(GUARANTEED "/cri-containerd-" CID ".scope", UID, CID);
}

static void test_systemd_crio(void **state)
{
	(void)state;
	check_ok(BESTEFFORT "/crio-" CID ".scope", UID, CID);
	check_ok(GUARANTEED "/crio-" CID ".scope", UID, CID);
	/* conmon, CRI-O's monitor, sits beside the container: not a container. */
	check_none(BESTEFFORT "/crio-conmon-" CID ".scope");
	check_none(GUARANTEED "/crio-conmon-" CID ".scope/");
}

static void test_systemd_docker(void **state)
{
	(void)state;
	check_ok(GUARANTEED "/docker-" CID ".scope", UID, CID);
	check_ok(BURSTABLE "/docker-" CID ".scope", UID, CID);
}

static void test_kind_nested(void **state)
{
	(void)state;
	check_ok(KIND "/cri-containerd-" CID ".scope", UID, CID);
	check_ok("0::" KIND "/cri-containerd-" CID ".scope", UID, CID);
	check_ok("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_
		 ".slice/cri-containerd-" CID ".scope",
		 UID, CID);
	check_ok("/kubelet-kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope", UID,
		 CID);
	check_ok(KIND, UID, "");
}

static void test_cgroupfs(void **state)
{
	(void)state;
	check_ok("/kubepods/burstable/pod" UID "/" CID, UID, CID);
	check_ok("/kubepods/besteffort/pod" UID "/" CID, UID, CID);
	check_ok("/kubepods/pod" UID "/" CID, UID, CID);
	/* CRI-O names the container's directory crio-<id> under cgroupfs. */
	check_ok("/kubepods/pod" UID "/crio-" CID, UID, CID);
	check_none("/kubepods/pod" UID "/crio-conmon-" CID);
}

/* Whatever comes before the last two components: a cgroup namespace's relative path, a
 * test's own directory. */
static void test_any_prefix(void **state)
{
	(void)state;
	check_ok("/../../../kubepods-burstable.slice/kubepods-burstable-pod" UID_
		 ".slice/cri-containerd-" CID ".scope",
		 UID, CID);
	check_ok("/sys/fs/cgroup/ctrlscope-test.1234/kubepods-pod" UID_ ".slice/crio-" CID ".scope",
		 UID, CID);
	check_ok("kubepods-pod" UID_ ".slice/docker-" CID ".scope", UID, CID);
	check_ok("/tmp/x/pod" UID "/" CID, UID, CID);
	check_ok("pod" UID, UID, "");
}

static void test_pod_alone(void **state)
{
	(void)state;
	check_ok(BURSTABLE, UID, "");
	check_ok(BESTEFFORT "/", UID, "");
	check_ok(GUARANTEED "//", UID, "");
	check_ok("/kubepods/burstable/pod" UID, UID, "");
	check_ok("/kubepods/pod" UID "/", UID, "");
}

static void test_uid_case(void **state)
{
	(void)state;
	check_ok("/kubepods.slice/kubepods-pod" UID_UP_ ".slice/cri-containerd-" CID ".scope", UID,
		 CID);
	check_ok("/kubepods/burstable/pod" UID_UP "/" CID, UID, CID);
	check_ok("/kubepods/burstable/pod" UID_UP, UID, "");
	/* Runtimes write container ids in lower case: anything else is not one. */
	check_none(GUARANTEED "/cri-containerd-" CID_UP ".scope");
	check_none("/kubepods/pod" UID "/" CID_UP);
}

static void test_wrong_lengths(void **state)
{
	(void)state;
	/* container id of 63 and 65 digits */
	check_none(GUARANTEED "/cri-containerd-" CID "0.scope");
	check_none(GUARANTEED "/cri-containerd-123456789abcdef0123456789abcdef0123456789abcdef"
			      "0123456789abcdef.scope");
	check_none("/kubepods/pod" UID "/" CID "0");
	check_none("/kubepods/pod" UID "/123456789abcdef0123456789abcdef0123456789abcdef"
		   "0123456789abcdef");
	/* UID one digit short or long, or grouped differently */
	check_none("/kubepods.slice/kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca42.slice");
	check_none("/kubepods.slice/kubepods-pod" UID_ "7.slice");
	check_none("/kubepods/pod1b4e28ba-2fa1-11d2-883f-0016d3cca42");
	check_none("/kubepods/pod" UID "0");
	check_none("/kubepods/pod1b4e28ba2-fa1-11d2-883f-0016d3cca427");
	check_none("/kubepods/pod");
	check_none("/kubepods.slice/kubepods-pod.slice");
}

static void test_not_hex(void **state)
{
	(void)state;
	check_none(GUARANTEED "/cri-containerd-g123456789abcdef0123456789abcdef0123456789abcdef"
			      "0123456789abcdef.scope");
	check_none("/kubepods/pod" UID "/0123456789abcdef0123456789abcdef0123456789abcdef"
		   "0123456789abcde-");
	check_none("/kubepods/podzb4e28ba-2fa1-11d2-883f-0016d3cca427");
	check_none("/kubepods.slice/kubepods-pod1b4e28ba_2fa1_11d2_883f_0016d3cca42 .slice");
}

/* A container only counts directly under its pod, in the pod's own driver form. */
static void test_container_without_pod(void **state)
{
	(void)state;
	check_none("/cri-containerd-" CID ".scope");
	check_none("cri-containerd-" CID ".scope");
	check_none("0::/../cri-containerd-" CID ".scope");
	check_none("/system.slice/docker-" CID ".scope");
	check_none("/kubepods.slice/kubepods-burstable.slice/cri-containerd-" CID ".scope");
	check_none("/kubepods/burstable/" CID);
	check_none("/" CID);
	check_none(CID);
	/* systemd scope under a cgroupfs pod, cgroupfs id under a systemd slice */
	check_none("/kubepods/pod" UID "/cri-containerd-" CID ".scope");
	check_none(GUARANTEED "/" CID);
	check_none(GUARANTEED "/crio-" CID);
	/* UID separators of the other driver */
	check_none("/kubepods.slice/kubepods-pod" UID ".slice");
	check_none("/kubepods/pod" UID_);
	check_none("/kubepods/pod" UID_ "/" CID);
	/* a pod slice and a container, one level apart */
	check_none(GUARANTEED "/x/cri-containerd-" CID ".scope");
	check_none(GUARANTEED "/cri-containerd-" CID ".scope/cri-containerd-" CID ".scope");
}

static void test_extra_components(void **state)
{
	(void)state;
	check_none(GUARANTEED "/cri-containerd-" CID ".scope/init.scope");
	check_none(BURSTABLE "/crio-" CID ".scope/container");
	check_none("/kubepods/pod" UID "/" CID "/x");
	check_none("/kubepods/pod" UID "/" CID "/" CID);
}

static void test_not_pods(void **state)
{
	(void)state;
	check_none("");
	check_none("/");
	check_none("///");
	check_none("/kubepods.slice");
	check_none("/kubepods.slice/kubepods-burstable.slice");
	check_none("/kubepods");
	check_none("/kubepods/burstable");
	check_none("/system.slice/containerd.service");
	/* unknown QoS class, suffix or prefix */
	check_none("/kubepods.slice/kubepods-guaranteed-pod" UID_ ".slice");
	check_none("/kubepods.slice/kubepods-burstable-besteffort-pod" UID_ ".slice");
	check_none("/kubepods.slice/kubepods-pod" UID_ ".scope");
	check_none("/kubepods.slice/kubepods-pod" UID_ ".slice.bak");
	check_none("/kubepods.slice/xkubepods-pod" UID_ ".slice");
	check_none("/kubepods.slice/kubelet-kubelet-kubepods-pod" UID_ ".slice");
	check_none("/kubepods.slice/kubepods_pod" UID_ ".slice");
	check_none("/kubepods/xpod" UID);
	check_none("/kubepods/Pod" UID);
	/* other runtimes' scopes: podman, a plain systemd unit */
	check_none(GUARANTEED "/libpod-" CID ".scope");
	check_none(GUARANTEED "/containerd-" CID ".scope");
	check_none(GUARANTEED "/cri-containerd-" CID ".service");
	check_none(GUARANTEED "/cri-containerd-" CID);
}

static void test_null_path(void **state)
{
	struct pod_ref ref;

	(void)state;
	assert_int_equal(cgroup_path_parse_pod(NULL, &ref), -EINVAL);
}

static void check_status(const char *status, int want_ret, const char *want)
{
	char id[CONTAINER_ID_LEN + 1];

	memset(id, 'x', sizeof(id));
	id[CONTAINER_ID_LEN] = '\0';
	assert_int_equal(container_id_from_status(status, id), want_ret);
	assert_string_equal(id, want);
}

#define UNTOUCHED "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static void test_status_ok(void **state)
{
	(void)state;
	check_status("containerd://" CID, 0, CID);
	check_status("cri-o://" CID, 0, CID);
	check_status("docker://" CID, 0, CID);
}

static void test_status_invalid(void **state)
{
	(void)state;
	check_status(NULL, -EINVAL, UNTOUCHED);
	check_status("", -EINVAL, UNTOUCHED);
	check_status(CID, -EINVAL, UNTOUCHED);
	check_status("containerd://", -EINVAL, UNTOUCHED);
	check_status("containerd://" CID "0", -EINVAL, UNTOUCHED);
	check_status("containerd://123456789abcdef0123456789abcdef0123456789abcdef"
		     "0123456789abcdef",
		     -EINVAL, UNTOUCHED);
	check_status("containerd://" CID_UP, -EINVAL, UNTOUCHED);
	check_status("containerd://" CID "\n", -EINVAL, UNTOUCHED);
	check_status("containerd:/" CID, -EINVAL, UNTOUCHED);
	check_status("CONTAINERD://" CID, -EINVAL, UNTOUCHED);
	check_status("crio://" CID, -EINVAL, UNTOUCHED);
	check_status("rkt://" CID, -EINVAL, UNTOUCHED);
	check_status("containerd://cri-containerd-" CID, -EINVAL, UNTOUCHED);
	check_status(" docker://" CID, -EINVAL, UNTOUCHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_systemd_containerd),
		cmocka_unit_test(test_systemd_crio),
		cmocka_unit_test(test_systemd_docker),
		cmocka_unit_test(test_kind_nested),
		cmocka_unit_test(test_cgroupfs),
		cmocka_unit_test(test_any_prefix),
		cmocka_unit_test(test_pod_alone),
		cmocka_unit_test(test_uid_case),
		cmocka_unit_test(test_wrong_lengths),
		cmocka_unit_test(test_not_hex),
		cmocka_unit_test(test_container_without_pod),
		cmocka_unit_test(test_extra_components),
		cmocka_unit_test(test_not_pods),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_status_ok),
		cmocka_unit_test(test_status_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
