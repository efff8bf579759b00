/* Which pod and container a cgroup v2 directory belongs to, from its path alone (kubelet's
 * naming for the systemd and cgroupfs drivers, the runtimes' scope names), and the container
 * id of a pod's containerStatuses. Not for reading /proc or walking the cgroup tree. */
#ifndef CTRLSCOPE_PODPATH_H
#define CTRLSCOPE_PODPATH_H

#define POD_UID_LEN	 36
#define CONTAINER_ID_LEN 64

struct pod_ref {
	char pod_uid[POD_UID_LEN +
		     1]; /* lower-case, dashes: "1b4e28ba-2fa1-11d2-883f-0016d3cca427" */
	char container_id[CONTAINER_ID_LEN +
			  1]; /* 64 lower-case hex, or "" for the pod's own cgroup */
};

/* Parse the last one or two components of a cgroup path (whatever prefix: kind nests
 * kubelet.slice/kubelet-kubepods.slice/..., tests add their own prefix). Returns 0 when the
 * path is a pod's cgroup or a container's cgroup inside one, -ENOENT otherwise (including
 * crio-conmon-*.scope, the CRI-O monitor, and anything that is not exactly a pod/container),
 * -EINVAL for a NULL path. out is written only on success.
 *
 *   systemd:  [kubelet-]kubepods[-burstable|-besteffort]-pod<uid, '_' for '-'>.slice
 *             then cri-containerd-<id>.scope, crio-<id>.scope or docker-<id>.scope
 *   cgroupfs: pod<uid>, then <id> (containerd, cri-dockerd) or crio-<id> (CRI-O)
 *
 * The UID is 8-4-4-4-12 hex digits, either case (lowered in out); the container id is 64
 * lower-case hex digits, as runtimes write it. A trailing '/' is ignored. */
int cgroup_path_parse_pod(const char *path, struct pod_ref *out);

/* The 64-hex id in a containerStatuses[].containerID ("containerd://<id>", "cri-o://<id>",
 * "docker://<id>"); -EINVAL otherwise. out is written only on success. */
int container_id_from_status(const char *status_id, char out[CONTAINER_ID_LEN + 1]);

#endif
