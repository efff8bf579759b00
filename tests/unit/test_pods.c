/* Unit tests for the pieces of Kubernetes targets that need no API server: Pod JSON,
 * the workload convention, container ids and label sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "containers.h"
#include "pods.h"
#include "selector.h"

static const char pod_json[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"ctl-7d4b9c-x1\","
	"\"namespace\":\"cert-manager\",\"uid\":\"1B4E28BA-2FA1-11D2-883F-0016D3CCA427\","
	"\"labels\":{\"app\":\"ctl\",\"pod-template-hash\":\"7d4b9c\"},"
	"\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n\"},"
	"{\"kind\":\"ReplicaSet\",\"name\":\"ctl-7d4b9c\",\"controller\":true}]},"
	"\"spec\":{\"containers\":[{\"name\":\"manager\"},{\"name\":\"sidecar\"}],"
	"\"initContainers\":[{\"name\":\"init\"}]},"
	"\"status\":{\"containerStatuses\":[{\"name\":\"manager\",\"containerID\":"
	"\"containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
	"{\"name\":\"sidecar\"}],"
	"\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":"
	"\"cri-o://fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"}]}}";

static void test_pod_parse(void **state)
{
	struct pod pod;

	(void)state;
	assert_int_equal(pod_parse(pod_json, strlen(pod_json), &pod), 0);
	assert_string_equal(pod.uid, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	assert_string_equal(pod.namespace, "cert-manager");
	assert_string_equal(pod.name, "ctl-7d4b9c-x1");
	assert_string_equal(pod.workload, "ctl");
	assert_int_equal(pod.n_labels, 2);
	assert_int_equal(pod.n_containers, 3);
	assert_string_equal(pod.containers[0].name, "manager");
	assert_string_equal(pod.containers[0].id,
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_string_equal(pod.containers[1].name, "sidecar");
	assert_string_equal(pod.containers[1].id, "");
	assert_string_equal(pod.containers[2].name, "init");
	assert_non_null(pod_container_by_id(
		&pod, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"));
	assert_null(pod_container_by_id(&pod, ""));
	pod_free(&pod);
}

static void test_pod_parse_rejects(void **state)
{
	struct pod pod;

	(void)state;
	assert_int_equal(pod_parse("{", 1, &pod), -EINVAL);
	assert_int_equal(pod_parse("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"}}", 42, &pod),
			 -EINVAL); /* no uid */
	assert_int_equal(
		pod_parse("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"short\"}}",
			  57, &pod),
		-EINVAL);
}

static void test_workload(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(pod_workload("ReplicaSet", "web-5f7c9", "5f7c9", buf, sizeof(buf)),
			    "web");
	/* A ReplicaSet not made by a Deployment keeps its own name. */
	assert_string_equal(pod_workload("ReplicaSet", "web", "5f7c9", buf, sizeof(buf)), "web");
	assert_string_equal(pod_workload("ReplicaSet", "web-abc", NULL, buf, sizeof(buf)),
			    "web-abc");
	assert_string_equal(pod_workload("ReplicaSet", "-5f7c9", "5f7c9", buf, sizeof(buf)),
			    "-5f7c9");
	assert_string_equal(pod_workload("StatefulSet", "db", "x", buf, sizeof(buf)), "db");
	assert_string_equal(pod_workload(NULL, NULL, NULL, buf, sizeof(buf)), "");
}

static void count_forgotten(uint32_t target, uint64_t id, void *ctx)
{
	(void)target;
	(void)id;
	(*(int *)ctx)++;
}

static void test_containers_ids(void **state)
{
	struct pod pod;
	struct containers *c;
	struct container_labels l;
	uint64_t a, b;

	(void)state;
	assert_int_equal(pod_parse(pod_json, strlen(pod_json), &pod), 0);
	assert_int_equal(containers_open(&c), 0);
	a = containers_id(c, 0, &pod, "manager");
	b = containers_id(c, 1, &pod, "manager"); /* another target: another id */
	assert_true(a != 0 && b != 0 && a != b);
	assert_int_equal(containers_id(c, 0, &pod, "manager"), a); /* stable: restarts */
	assert_int_equal(containers_labels(c, a, &l), 0);
	assert_string_equal(l.namespace, "cert-manager");
	assert_string_equal(l.pod, "ctl-7d4b9c-x1");
	assert_string_equal(l.container, "manager");
	assert_string_equal(l.workload, "ctl");
	container_labels_free(&l);
	assert_int_equal(containers_count(c), 2);
	containers_close(c);
	/* Another run of the agent gives the same ids (pinned label sets record them). */
	assert_int_equal(containers_open(&c), 0);
	assert_int_equal(containers_id(c, 1, &pod, "manager"), b);
	assert_int_equal(containers_id(c, 0, &pod, "manager"), a);
	containers_close(c);
	pod_free(&pod);
}

static void test_containers_forget(void **state)
{
	struct pod pod;
	struct containers *c;
	struct container_labels l;
	int n = 0;
	uint64_t id;

	(void)state;
	assert_int_equal(pod_parse(pod_json, strlen(pod_json), &pod), 0);
	assert_int_equal(containers_open(&c), 0);
	id = containers_id(c, 0, &pod, "manager");
	containers_id(c, 0, &pod, "sidecar");
	containers_forget_pod(c, pod.uid, count_forgotten, &n);
	assert_int_equal(n, 2);
	assert_int_equal(containers_count(c), 0);
	assert_int_equal(containers_labels(c, id, &l), -ENOENT);
	/* After forgetting, the same container (the same pod UID) gets its id again. */
	assert_int_equal(containers_id(c, 0, &pod, "manager"), id);
	containers_close(c);
	pod_free(&pod);
}

static void test_kube_selector(void **state)
{
	struct kube_selector sel = { 0 };
	char *ns[] = { "cert-manager" }, *ct[] = { "manager" }, err[128];
	struct pod pod;

	(void)state;
	assert_int_equal(pod_parse(pod_json, strlen(pod_json), &pod), 0);
	assert_true(kube_selector_match(&sel, &pod, "sidecar")); /* empty: everything */
	sel.namespaces = (struct string_list){ ns, 1 };
	sel.containers = (struct string_list){ ct, 1 };
	assert_true(kube_selector_match(&sel, &pod, "manager"));
	assert_false(kube_selector_match(&sel, &pod, "sidecar"));
	assert_int_equal(
		label_selector_parse("app=ctl,tier!=web", &sel.pod_selector, err, sizeof(err)), 0);
	assert_true(kube_selector_match(&sel, &pod, "manager"));
	label_selector_free(&sel.pod_selector);
	assert_int_equal(label_selector_parse("app in (web)", &sel.pod_selector, err, sizeof(err)),
			 0);
	assert_false(kube_selector_match(&sel, &pod, "manager"));
	label_selector_free(&sel.pod_selector);
	pod_free(&pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_parse),	  cmocka_unit_test(test_pod_parse_rejects),
		cmocka_unit_test(test_workload),	  cmocka_unit_test(test_containers_ids),
		cmocka_unit_test(test_containers_forget), cmocka_unit_test(test_kube_selector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
