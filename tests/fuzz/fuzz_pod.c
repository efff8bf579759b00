/* Fuzz target: a Pod object from the API server (pod_parse, pods.c). Invariants: 0 or
 * -EINVAL/-ENOMEM; on 0, a 36-character lower-case UID, a namespace, a name and a
 * workload, unique container names, and container ids empty or 64 lower-case hex. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "pods.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pod pod;
	int ret = pod_parse((const char *)data, size, &pod);

	CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret)
		return 0;
	CHECK(strlen(pod.uid) == POD_UID_LEN);
	for (size_t i = 0; i < POD_UID_LEN; i++)
		CHECK(!(pod.uid[i] >= 'A' && pod.uid[i] <= 'F'));
	CHECK(pod.namespace && pod.name && pod.workload);
	for (size_t i = 0; i < pod.n_containers; i++) {
		size_t n = strlen(pod.containers[i].id);

		CHECK(n == 0 || n == CONTAINER_ID_LEN);
		for (size_t k = 0; k < n; k++)
			CHECK((pod.containers[i].id[k] >= '0' && pod.containers[i].id[k] <= '9') ||
			      (pod.containers[i].id[k] >= 'a' && pod.containers[i].id[k] <= 'f'));
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(pod.containers[k].name, pod.containers[i].name));
	}
	pod_free(&pod);
	return 0;
}
