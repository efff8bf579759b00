/* What the agent takes from its process environment: the downward API's node name and pod
 * IP, and the API server's in-cluster service. main.c reads it once and passes it down;
 * nothing else calls getenv. */
#ifndef CTRLSCOPE_ENV_H
#define CTRLSCOPE_ENV_H

#include <stdint.h>

struct agent_env {
	const char *node_name; /* $NODE_NAME (spec.nodeName), or NULL */
	const char *pod_ip;    /* $POD_IP (status.podIP), or NULL */
	/* $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT: both set, with a port, or
	 * service_host NULL (as client-go's in-cluster configuration reads them). */
	const char *service_host;
	const char *service_port; /* its text, for URLs */
	uint16_t service_port_number;
	const char *bad_port; /* a $KUBERNETES_SERVICE_PORT that is no port, or NULL */
};

/* Read them from environ; an empty value counts as unset. */
void agent_env_read(struct agent_env *env);
/* The same from a getenv-like lookup (tests). */
void agent_env_from(struct agent_env *env, const char *(*lookup)(const char *name));

#endif
