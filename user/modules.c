/* The module table: the only place that lists the modules. */
#include "module.h"

extern const struct module syscalls_module;
extern const struct module net_module;
extern const struct module sched_module;
extern const struct module proc_module;
extern const struct module reconcile_module;

const struct module *const modules[] = {
	&syscalls_module, &net_module, &sched_module, &proc_module, &reconcile_module,
};

const size_t n_modules = sizeof(modules) / sizeof(modules[0]);
