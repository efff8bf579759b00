/* YAML configuration parser: see config.h. Built on libyaml's document loader; the schema
 * is walked explicitly so that every unknown key, wrong type or out-of-range value gets a
 * precise message. Nothing here touches BPF or the running system. */
#include "config.h"
#include "buf.h"
#include "yamlutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <openssl/sha.h>

const struct cfg_option cfg_limit_options[] = {
	[CFG_LIMIT_LABEL_SETS] = { "label_sets", 1, 1 << 16, 256,
				   "distinct label sets (target and comm or container) measured" },
	[CFG_LIMIT_PROCESSES] = { "processes", 1, 1 << 22, 8192,
				  "processes selected by process selectors at one time" },
	[CFG_LIMIT_CGROUPS] = { "cgroups", 1, 1 << 20, 4096,
				"cgroups selected as a whole at one time" },
	[CFG_LIMIT_THREADS] = { "threads", 1, 1 << 22, 32768,
				"threads of targets tracked at one time on kernels without "
				"task-local storage (before Linux 5.11)" },
	{ 0 },
};

struct parser {
	struct ydoc y;
	const struct cfg_module_desc *mods;
	size_t n_mods;
};

static int parse_process(struct parser *ps, const yaml_node_t *node, const struct ypath *p,
			 struct process_selector *sel)
{
	static const char *const keys[] = { "comm", "exe", "cgroup", NULL };
	struct ypath cp = { p, "comm", 0 }, ep = { p, "exe", 0 }, gp = { p, "cgroup", 0 };
	yaml_node_t *v;
	int err;

	if ((err = y_expect_mapping(&ps->y, node, p)) ||
	    (err = y_check_keys(&ps->y, node, p, keys, "comm, exe or cgroup")))
		return err;
	if ((v = y_lookup(&ps->y, node, "comm")) &&
	    (err = y_string_list(&ps->y, v, &cp, CFG_COMM_MAX, "process name", NULL, &sel->comm)))
		return err;
	if ((v = y_lookup(&ps->y, node, "exe")) &&
	    (err = y_string_list(&ps->y, v, &ep, 4095, "path glob", y_check_absolute, &sel->exe)))
		return err;
	if ((v = y_lookup(&ps->y, node, "cgroup")) &&
	    (err = y_string_list(&ps->y, v, &gp, 4095, "path glob", y_check_absolute,
				 &sel->cgroup)))
		return err;
	if (!sel->comm.n && !sel->exe.n && !sel->cgroup.n)
		return y_fail(&ps->y, node, p, "expected at least one of comm, exe or cgroup");
	return 0;
}

static int check_dns_label(struct ydoc *y, const yaml_node_t *node, const struct ypath *p,
			   const char *value)
{
	/* Namespaces and container names are RFC 1123 labels. */
	size_t n = strlen(value);

	if (n > 63 ||
	    (!(value[0] >= 'a' && value[0] <= 'z') && !(value[0] >= '0' && value[0] <= '9')))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = value[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i + 1 < n)))
			goto bad;
	}
	return 0;
bad:
	return y_fail(y, node, p,
		      "expected a lower-case RFC 1123 name (a-z, 0-9, '-', at most 63), got \"%s\"",
		      value);
}

static int parse_kubernetes(struct parser *ps, const yaml_node_t *node, const struct ypath *p,
			    struct kube_selector *sel)
{
	static const char *const keys[] = { "namespaces", "pod_selector", "containers", NULL };
	struct ypath np = { p, "namespaces", 0 }, sp = { p, "pod_selector", 0 },
		     cp = { p, "containers", 0 };
	char why[256];
	yaml_node_t *v;
	int err;

	if (y_is_null(node))
		return 0; /* every container of every pod on the node */
	if ((err = y_expect_mapping(&ps->y, node, p)) ||
	    (err = y_check_keys(&ps->y, node, p, keys, "namespaces, pod_selector or containers")))
		return err;
	if ((v = y_lookup(&ps->y, node, "namespaces")) && !y_is_null(v) &&
	    (err = y_string_list(&ps->y, v, &np, 63, "namespace", check_dns_label,
				 &sel->namespaces)))
		return err;
	if ((v = y_lookup(&ps->y, node, "containers")) && !y_is_null(v) &&
	    (err = y_string_list(&ps->y, v, &cp, 63, "container name", check_dns_label,
				 &sel->containers)))
		return err;
	if ((v = y_lookup(&ps->y, node, "pod_selector")) && !y_is_null(v)) {
		if (v->type != YAML_SCALAR_NODE)
			return y_fail(&ps->y, v, &sp, "expected a label selector string, got %s",
				      y_kind(v));
		sel->pod_selector_text = strdup(y_scalar(v));
		if (!sel->pod_selector_text)
			return y_fail(&ps->y, v, &sp, "out of memory");
		err = label_selector_parse(sel->pod_selector_text, &sel->pod_selector, why,
					   sizeof(why));
		if (err)
			return y_fail(&ps->y, v, &sp, "invalid label selector: %s", why);
	}
	return 0;
}

static int parse_target(struct parser *ps, const yaml_node_t *node, const struct ypath *p,
			struct config *cfg, struct target_config *t)
{
	static const char *const keys[] = { "name", "process", "kubernetes", NULL };
	struct ypath np = { p, "name", 0 }, pp = { p, "process", 0 }, kp = { p, "kubernetes", 0 };
	yaml_node_t *name, *process, *kube;
	int err;

	if ((err = y_expect_mapping(&ps->y, node, p)) ||
	    (err = y_check_keys(&ps->y, node, p, keys, "name, process or kubernetes")))
		return err;
	name = y_lookup(&ps->y, node, "name");
	if (!name)
		return y_fail(&ps->y, node, p, "missing key \"name\"");
	if ((err = y_string(&ps->y, name, &np, CFG_NAME_MAX, "target name", &t->name)))
		return err;
	for (struct target_config *o = cfg->targets; o < t; o++) {
		if (!strcmp(o->name, t->name))
			return y_fail(&ps->y, name, &np, "duplicate target name \"%s\"", t->name);
	}
	process = y_lookup(&ps->y, node, "process");
	kube = y_lookup(&ps->y, node, "kubernetes");
	if (!process == !kube)
		return y_fail(&ps->y, node, p,
			      "expected exactly one selector: \"process\" or \"kubernetes\"");
	if (kube) {
		t->kind = TARGET_KUBERNETES;
		cfg->kubernetes_targets = true;
		return parse_kubernetes(ps, kube, &kp, &t->kubernetes);
	}
	t->kind = TARGET_PROCESS;
	return parse_process(ps, process, &pp, &t->process);
}

static int parse_targets(struct parser *ps, const yaml_node_t *node, struct config *cfg)
{
	struct ypath p = { NULL, "targets", 0 };
	size_t n;
	int err;

	if (node->type != YAML_SEQUENCE_NODE)
		return y_fail(&ps->y, node, &p, "expected a sequence of targets, got %s",
			      y_kind(node));
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return y_fail(&ps->y, node, &p, "expected at least one target");
	if (n > CFG_MAX_TARGETS)
		return y_fail(&ps->y, node, &p, "expected at most %d targets, got %zu",
			      CFG_MAX_TARGETS, n);
	cfg->targets = calloc(n, sizeof(*cfg->targets));
	if (!cfg->targets)
		return y_fail(&ps->y, node, &p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item =
			yaml_document_get_node(&ps->y.doc, node->data.sequence.items.start[i]);
		struct ypath ip = { &p, NULL, i };

		cfg->n_targets++;
		cfg->targets[i].id = (uint32_t)i;
		if ((err = parse_target(ps, item, &ip, cfg, &cfg->targets[i])))
			return err;
	}
	return 0;
}

/* A mapping of integer options described by a table (limits, a module's options). */
static int parse_options(struct parser *ps, const yaml_node_t *node, const struct ypath *p,
			 const struct cfg_option *opts, long long *values, bool *enabled)
{
	for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->y.doc, a->key);
		yaml_node_t *val = yaml_document_get_node(&ps->y.doc, a->value);
		struct ypath kp = { p, NULL, 0 };
		bool found = false;
		int err;

		if (!key || key->type != YAML_SCALAR_NODE)
			return y_fail(&ps->y, key, p, "keys must be strings");
		kp.key = y_scalar(key);
		for (yaml_node_pair_t *b = node->data.mapping.pairs.start; b < a; b++) {
			if (!strcmp(y_scalar(yaml_document_get_node(&ps->y.doc, b->key)), kp.key))
				return y_fail(&ps->y, key, p, "duplicate key \"%s\"", kp.key);
		}
		if (enabled && !strcmp(kp.key, "enabled")) {
			if ((err = y_bool(&ps->y, val, &kp, enabled)))
				return err;
			continue;
		}
		for (size_t i = 0; opts && opts[i].name; i++) {
			if (strcmp(opts[i].name, kp.key))
				continue;
			found = true;
			/* An option from 0 to 1 is a switch: true or false. */
			if (opts[i].min == 0 && opts[i].max == 1) {
				bool on;

				if ((err = y_bool(&ps->y, val, &kp, &on)))
					return err;
				values[i] = on;
			} else if ((err = y_int(&ps->y, val, &kp, opts[i].min, opts[i].max,
						&values[i]))) {
				return err;
			}
		}
		if (!found) {
			struct buf known;

			buf_init(&known);
			if (enabled)
				buf_puts(&known, "enabled");
			for (size_t i = 0; opts && opts[i].name; i++)
				buf_printf(&known, "%s%s", known.len ? ", " : "", opts[i].name);
			err = y_fail(&ps->y, key, p, "unknown key \"%s\" (expected %s)", kp.key,
				     buf_cstr(&known) ? known.data : "");
			buf_free(&known);
			return err;
		}
	}
	return 0;
}

static int parse_modules(struct parser *ps, const yaml_node_t *node, struct config *cfg)
{
	struct ypath p = { NULL, "modules", 0 };
	int err;

	if ((err = y_expect_mapping(&ps->y, node, &p)))
		return err;
	for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->y.doc, a->key);
		yaml_node_t *val = yaml_document_get_node(&ps->y.doc, a->value);
		struct ypath mp = { &p, NULL, 0 };
		size_t m;

		if (!key || key->type != YAML_SCALAR_NODE)
			return y_fail(&ps->y, key, &p, "keys must be strings");
		mp.key = y_scalar(key);
		for (yaml_node_pair_t *b = node->data.mapping.pairs.start; b < a; b++) {
			if (!strcmp(y_scalar(yaml_document_get_node(&ps->y.doc, b->key)), mp.key))
				return y_fail(&ps->y, key, &p, "duplicate key \"%s\"", mp.key);
		}
		for (m = 0; m < ps->n_mods && strcmp(ps->mods[m].name, mp.key); m++)
			;
		if (m == ps->n_mods) {
			struct buf known;

			buf_init(&known);
			for (size_t i = 0; i < ps->n_mods; i++)
				buf_printf(&known, "%s%s", i ? ", " : "", ps->mods[i].name);
			err = y_fail(&ps->y, key, &p, "unknown module \"%s\" (expected %s)", mp.key,
				     buf_cstr(&known) ? known.data : "");
			buf_free(&known);
			return err;
		}
		if (y_is_null(val))
			continue;
		if ((err = y_expect_mapping(&ps->y, val, &mp)) ||
		    (err = parse_options(ps, val, &mp, ps->mods[m].options, cfg->modules[m].values,
					 &cfg->modules[m].enabled)))
			return err;
	}
	return 0;
}

static int set_defaults(struct parser *ps, struct config *cfg)
{
	for (size_t i = 0; i < CFG_LIMIT_COUNT; i++)
		cfg->limits[i] = cfg_limit_options[i].def;
	/* Long enough for a last scrape (and a rate() over it) after the pod is gone. */
	cfg->deleted_pod_grace_ms = 5 * 60 * 1000;
	cfg->label_set_grace_ms = 5 * 60 * 1000;
	cfg->modules = calloc(ps->n_mods ? ps->n_mods : 1, sizeof(*cfg->modules));
	if (!cfg->modules)
		return y_fail(&ps->y, NULL, NULL, "out of memory");
	cfg->n_modules = ps->n_mods;
	for (size_t m = 0; m < ps->n_mods; m++) {
		cfg->modules[m].enabled = true;
		for (size_t i = 0; ps->mods[m].options && ps->mods[m].options[i].name; i++)
			cfg->modules[m].values[i] = ps->mods[m].options[i].def;
	}
	return 0;
}

static int parse_root(struct parser *ps, struct config *cfg)
{
	static const char *const keys[] = { "targets",	  "limits",	     "modules",
					    "kubernetes", "label_set_grace", NULL };
	static const char *const kkeys[] = { "deleted_pod_grace", NULL };
	struct ypath lp = { NULL, "limits", 0 }, kp = { NULL, "kubernetes", 0 },
		     gp = { &kp, "deleted_pod_grace", 0 }, lg = { NULL, "label_set_grace", 0 };
	yaml_node_t *root = y_root(&ps->y);
	yaml_node_t *v;
	int err;

	if (!root)
		return y_fail(&ps->y, NULL, NULL,
			      "empty configuration: expected a mapping with targets");
	if (root->type != YAML_MAPPING_NODE)
		return y_fail(&ps->y, root, NULL, "expected a mapping at the top level, got %s",
			      y_kind(root));
	if ((err = y_check_keys(&ps->y, root, NULL, keys,
				"targets, limits, modules, kubernetes or label_set_grace")) ||
	    (err = set_defaults(ps, cfg)))
		return err;
	v = y_lookup(&ps->y, root, "targets");
	if (!v)
		return y_fail(&ps->y, root, NULL, "missing key \"targets\"");
	if ((err = parse_targets(ps, v, cfg)))
		return err;
	if ((v = y_lookup(&ps->y, root, "limits")) &&
	    ((err = y_expect_mapping(&ps->y, v, &lp)) ||
	     (err = parse_options(ps, v, &lp, cfg_limit_options, cfg->limits, NULL))))
		return err;
	if ((v = y_lookup(&ps->y, root, "modules")) && (err = parse_modules(ps, v, cfg)))
		return err;
	if ((v = y_lookup(&ps->y, root, "label_set_grace")) &&
	    (err = y_duration(&ps->y, v, &lg, 1000, 7 * 24 * 3600 * 1000LL,
			      &cfg->label_set_grace_ms)))
		return err;
	if ((v = y_lookup(&ps->y, root, "kubernetes")) && !y_is_null(v)) {
		yaml_node_t *g;

		if ((err = y_expect_mapping(&ps->y, v, &kp)) ||
		    (err = y_check_keys(&ps->y, v, &kp, kkeys, "deleted_pod_grace")))
			return err;
		if ((g = y_lookup(&ps->y, v, "deleted_pod_grace")) &&
		    (err = y_duration(&ps->y, g, &gp, 0, 7 * 24 * 3600 * 1000LL,
				      &cfg->deleted_pod_grace_ms)))
			return err;
	}
	return 0;
}

int config_parse(const char *name, const char *text, size_t len, const struct cfg_module_desc *mods,
		 size_t n_mods, struct config *cfg, char *err, size_t err_size)
{
	struct parser ps = { .y = { .name = name, .err = err, .err_size = err_size },
			     .mods = mods,
			     .n_mods = n_mods };
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = y_load(&ps.y, text, len);
	if (ret)
		return ret;
	ret = parse_root(&ps, cfg);
	y_free(&ps.y);
	if (ret)
		config_free(cfg);
	return ret;
}

int config_load(const char *path, const struct cfg_module_desc *mods, size_t n_mods,
		struct config *cfg, char *err, size_t err_size)
{
	struct buf text;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	ret = y_read_file(path, "configuration file", &text, err, err_size);
	if (ret)
		return ret;
	ret = config_parse(path, text.data ? text.data : "", text.len, mods, n_mods, cfg, err,
			   err_size);
	if (!ret &&
	    !SHA256((const unsigned char *)(text.data ? text.data : ""), text.len, cfg->sha256)) {
		config_free(cfg);
		snprintf(err, err_size, "%s: cannot hash the configuration", path);
		ret = -ENOMEM;
	}
	buf_free(&text);
	return ret;
}

int config_assign_ids(struct config *cfg, const struct target_ref *old, size_t n_old,
		      uint64_t taken, char *err, size_t err_size)
{
	for (size_t k = 0; k < n_old; k++)
		taken |= 1ULL << (old[k].id % CFG_MAX_TARGETS);
	for (size_t i = 0; i < cfg->n_targets; i++) {
		struct target_config *tc = &cfg->targets[i];
		bool kept = false;

		for (size_t k = 0; k < n_old && !kept; k++) {
			if (old[k].kind == tc->kind && !strcmp(old[k].name, tc->name)) {
				tc->id = old[k].id;
				kept = true;
			}
		}
		if (kept)
			continue;
		if (taken == UINT64_MAX) {
			snprintf(
				err, err_size,
				"target \"%s\" is new, and every one of the %d target numbers is "
				"held by a target or by the series of a removed one: restart the "
				"agent without --bpf.pin-path's state, or wait for those series to "
				"be released",
				tc->name, CFG_MAX_TARGETS);
			return -ENOSPC;
		}
		tc->id = (uint32_t)__builtin_ctzll(~taken);
		taken |= 1ULL << tc->id;
	}
	return 0;
}

const struct target_config *config_target(const struct config *cfg, uint32_t id)
{
	for (size_t i = 0; i < cfg->n_targets; i++) {
		if (cfg->targets[i].id == id)
			return &cfg->targets[i];
	}
	return NULL;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_targets; i++) {
		free(cfg->targets[i].name);
		string_list_free(&cfg->targets[i].process.comm);
		string_list_free(&cfg->targets[i].process.exe);
		string_list_free(&cfg->targets[i].process.cgroup);
		string_list_free(&cfg->targets[i].kubernetes.namespaces);
		string_list_free(&cfg->targets[i].kubernetes.containers);
		free(cfg->targets[i].kubernetes.pod_selector_text);
		label_selector_free(&cfg->targets[i].kubernetes.pod_selector);
	}
	free(cfg->targets);
	free(cfg->modules);
	memset(cfg, 0, sizeof(*cfg));
}
