/* The process environment, read once: see env.h. */
#include "env.h"

#include <stdlib.h>
#include <string.h>

static const char *nonempty(const char *value)
{
	return value && *value ? value : NULL;
}

static const char *lookup_environ(const char *name)
{
	return getenv(name);
}

void agent_env_from(struct agent_env *env, const char *(*lookup)(const char *name))
{
	const char *host = nonempty(lookup("KUBERNETES_SERVICE_HOST"));
	const char *port = nonempty(lookup("KUBERNETES_SERVICE_PORT"));
	char *end;
	long p;

	memset(env, 0, sizeof(*env));
	env->node_name = nonempty(lookup("NODE_NAME"));
	env->pod_ip = nonempty(lookup("POD_IP"));
	if (!host || !port)
		return;
	p = strtol(port, &end, 10);
	if (*end || p < 1 || p > 65535) {
		env->bad_port = port;
		return;
	}
	env->service_host = host;
	env->service_port = port;
	env->service_port_number = (uint16_t)p;
}

void agent_env_read(struct agent_env *env)
{
	agent_env_from(env, lookup_environ);
}
