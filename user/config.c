/* YAML configuration parser: see config.h. Built on libyaml's document loader; the schema
 * is walked explicitly so that every unknown key, wrong type or out-of-range value gets a
 * precise message. Nothing here touches BPF or the running system. */
#include "config.h"
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

const struct cfg_option cfg_limit_options[] = {
	[CFG_LIMIT_LABEL_SETS] = { "label_sets", 1, 1 << 16, 256,
				   "distinct label sets (target and comm or container) measured" },
	[CFG_LIMIT_PROCESSES] = { "processes", 1, 1 << 22, 8192,
				  "processes selected by process selectors at one time" },
	[CFG_LIMIT_CGROUPS] = { "cgroups", 1, 1 << 20, 4096,
				"cgroups selected as a whole at one time" },
	{ 0 },
};

struct parser {
	yaml_document_t doc;
	const char *name;
	const struct cfg_module_desc *mods;
	size_t n_mods;
	char *err;
	size_t err_size;
};

/* A key path for messages ("targets[0].process.comm"), built on the stack as we descend. */
struct path {
	const struct path *up;
	const char *key; /* or NULL for an index */
	size_t index;
};

static void path_format(struct buf *b, const struct path *p)
{
	if (!p)
		return;
	path_format(b, p->up);
	if (p->key)
		buf_printf(b, "%s%s", p->up ? "." : "", p->key);
	else
		buf_printf(b, "[%zu]", p->index);
}

/* Messages quote keys and values as written, and YAML allows line breaks in both: escape
 * control characters so that an error is always one line. */
static void one_line(struct buf *b)
{
	struct buf out;

	if (!buf_cstr(b))
		return;
	buf_init(&out);
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (c == '\n')
			buf_puts(&out, "\\n");
		else if (c == '\t')
			buf_puts(&out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(&out, "\\x%02x", c);
		else
			buf_putc(&out, (char)c);
	}
	if (buf_cstr(&out)) {
		buf_free(b);
		*b = out;
	} else {
		buf_free(&out);
	}
}

static int fail(struct parser *ps, const yaml_node_t *node, const struct path *p, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct parser *ps, const yaml_node_t *node, const struct path *p, const char *fmt,
		...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_printf(&b, "%s", ps->name);
	if (node)
		buf_printf(&b, ":%zu:%zu", node->start_mark.line + 1, node->start_mark.column + 1);
	buf_puts(&b, ": ");
	if (p) {
		path_format(&b, p);
		buf_puts(&b, ": ");
	}
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	one_line(&b);
	snprintf(ps->err, ps->err_size, "%s", buf_cstr(&b) ? b.data : "out of memory");
	buf_free(&b);
	return -EINVAL;
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

static bool is_plain(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *node)
{
	const char *v;

	if (!is_plain(node))
		return false;
	v = scalar(node);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static int expect_mapping(struct parser *ps, const yaml_node_t *node, const struct path *p)
{
	if (node->type != YAML_MAPPING_NODE)
		return fail(ps, node, p, "expected a mapping, got %s", node_kind(node));
	return 0;
}

/* Check that every key of a mapping is a known, unique scalar. */
static int check_keys(struct parser *ps, const yaml_node_t *map, const struct path *p,
		      const char *const *known, const char *known_text)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);
		bool ok = false;

		if (!key || key->type != YAML_SCALAR_NODE)
			return fail(ps, key, p, "keys must be strings");
		for (const char *const *k = known; *k; k++)
			ok = ok || !strcmp(*k, scalar(key));
		if (!ok)
			return fail(ps, key, p, "unknown key \"%s\" (expected %s)", scalar(key),
				    known_text);
		for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *other = yaml_document_get_node(&ps->doc, b->key);

			if (!strcmp(scalar(other), scalar(key)))
				return fail(ps, key, p, "duplicate key \"%s\"", scalar(key));
		}
	}
	return 0;
}

static yaml_node_t *lookup(struct parser *ps, const yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);

		if (key && key->type == YAML_SCALAR_NODE && !strcmp(scalar(key), name))
			return yaml_document_get_node(&ps->doc, a->value);
	}
	return NULL;
}

static int parse_string(struct parser *ps, const yaml_node_t *node, const struct path *p,
			size_t max, const char *what, char **out)
{
	const char *v;

	if (node->type != YAML_SCALAR_NODE || is_null(node))
		return fail(ps, node, p, "expected %s, got %s", what,
			    node->type == YAML_SCALAR_NODE ? "null" : node_kind(node));
	v = scalar(node);
	if (strlen(v) != node->data.scalar.length)
		return fail(ps, node, p, "expected %s without NUL characters", what);
	if (!*v)
		return fail(ps, node, p, "expected %s, got an empty string", what);
	if (strlen(v) > max)
		return fail(ps, node, p, "expected %s of at most %zu bytes, got %zu bytes", what,
			    max, strlen(v));
	*out = strdup(v);
	if (!*out)
		return fail(ps, node, p, "out of memory");
	return 0;
}

static int parse_bool(struct parser *ps, const yaml_node_t *node, const struct path *p, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", NULL };
	static const char *const no[] = { "false", "False", "FALSE", NULL };

	if (is_plain(node)) {
		for (int i = 0; yes[i]; i++) {
			if (!strcmp(scalar(node), yes[i])) {
				*out = true;
				return 0;
			}
			if (!strcmp(scalar(node), no[i])) {
				*out = false;
				return 0;
			}
		}
	}
	return fail(ps, node, p, "expected true or false, got %s%s%s",
		    node->type == YAML_SCALAR_NODE ? "\"" : "",
		    node->type == YAML_SCALAR_NODE ? scalar(node) : node_kind(node),
		    node->type == YAML_SCALAR_NODE ? "\"" : "");
}

static int parse_int(struct parser *ps, const yaml_node_t *node, const struct path *p,
		     const struct cfg_option *opt, long long *out)
{
	const char *v;
	char *end;
	long long n;

	if (!is_plain(node))
		goto bad;
	v = scalar(node);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || *end || errno || v[0] == '+' || v[0] == ' ')
		goto bad;
	if (n < opt->min || n > opt->max)
		return fail(ps, node, p, "expected an integer from %lld to %lld, got %lld",
			    opt->min, opt->max, n);
	*out = n;
	return 0;
bad:
	return fail(ps, node, p, "expected an integer from %lld to %lld, got %s%s%s", opt->min,
		    opt->max, node->type == YAML_SCALAR_NODE ? "\"" : "",
		    node->type == YAML_SCALAR_NODE ? scalar(node) : node_kind(node),
		    node->type == YAML_SCALAR_NODE ? "\"" : "");
}

typedef int (*item_check_fn)(struct parser *ps, const yaml_node_t *node, const struct path *p,
			     const char *value);

static int parse_string_list(struct parser *ps, const yaml_node_t *node, const struct path *p,
			     size_t max, const char *what, item_check_fn check,
			     struct string_list *out)
{
	size_t n;
	int err;

	if (node->type != YAML_SEQUENCE_NODE)
		return fail(ps, node, p, "expected a sequence of %ss, got %s", what,
			    node_kind(node));
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return fail(ps, node, p, "expected a non-empty sequence of %ss", what);
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items)
		return fail(ps, node, p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item =
			yaml_document_get_node(&ps->doc, node->data.sequence.items.start[i]);
		struct path ip = { p, NULL, i };

		err = parse_string(ps, item, &ip, max, what, &out->items[out->n]);
		if (err)
			return err;
		out->n++;
		if (check && (err = check(ps, item, &ip, out->items[i])))
			return err;
	}
	return 0;
}

static int check_absolute(struct parser *ps, const yaml_node_t *node, const struct path *p,
			  const char *value)
{
	if (value[0] != '/')
		return fail(ps, node, p,
			    "expected an absolute path glob starting with '/', got \"%s\"", value);
	return 0;
}

static int parse_process(struct parser *ps, const yaml_node_t *node, const struct path *p,
			 struct process_selector *sel)
{
	static const char *const keys[] = { "comm", "exe", "cgroup", NULL };
	struct path cp = { p, "comm", 0 }, ep = { p, "exe", 0 }, gp = { p, "cgroup", 0 };
	yaml_node_t *v;
	int err;

	if ((err = expect_mapping(ps, node, p)) ||
	    (err = check_keys(ps, node, p, keys, "comm, exe or cgroup")))
		return err;
	if ((v = lookup(ps, node, "comm")) &&
	    (err = parse_string_list(ps, v, &cp, CFG_COMM_MAX, "process name", NULL, &sel->comm)))
		return err;
	if ((v = lookup(ps, node, "exe")) &&
	    (err = parse_string_list(ps, v, &ep, 4095, "path glob", check_absolute, &sel->exe)))
		return err;
	if ((v = lookup(ps, node, "cgroup")) &&
	    (err = parse_string_list(ps, v, &gp, 4095, "path glob", check_absolute, &sel->cgroup)))
		return err;
	if (!sel->comm.n && !sel->exe.n && !sel->cgroup.n)
		return fail(ps, node, p, "expected at least one of comm, exe or cgroup");
	return 0;
}

static int parse_target(struct parser *ps, const yaml_node_t *node, const struct path *p,
			struct config *cfg, struct target_config *t)
{
	static const char *const keys[] = { "name", "process", NULL };
	struct path np = { p, "name", 0 }, pp = { p, "process", 0 };
	yaml_node_t *name, *process;
	int err;

	if ((err = expect_mapping(ps, node, p)) ||
	    (err = check_keys(ps, node, p, keys, "name or process")))
		return err;
	name = lookup(ps, node, "name");
	if (!name)
		return fail(ps, node, p, "missing key \"name\"");
	if ((err = parse_string(ps, name, &np, CFG_NAME_MAX, "target name", &t->name)))
		return err;
	for (struct target_config *o = cfg->targets; o < t; o++) {
		if (!strcmp(o->name, t->name))
			return fail(ps, name, &np, "duplicate target name \"%s\"", t->name);
	}
	process = lookup(ps, node, "process");
	if (!process)
		return fail(ps, node, p, "missing key \"process\" (the target's selector)");
	return parse_process(ps, process, &pp, &t->process);
}

static int parse_targets(struct parser *ps, const yaml_node_t *node, struct config *cfg)
{
	struct path p = { NULL, "targets", 0 };
	size_t n;
	int err;

	if (node->type != YAML_SEQUENCE_NODE)
		return fail(ps, node, &p, "expected a sequence of targets, got %s",
			    node_kind(node));
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return fail(ps, node, &p, "expected at least one target");
	if (n > CFG_MAX_TARGETS)
		return fail(ps, node, &p, "expected at most %d targets, got %zu", CFG_MAX_TARGETS,
			    n);
	cfg->targets = calloc(n, sizeof(*cfg->targets));
	if (!cfg->targets)
		return fail(ps, node, &p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item =
			yaml_document_get_node(&ps->doc, node->data.sequence.items.start[i]);
		struct path ip = { &p, NULL, i };

		cfg->n_targets++;
		if ((err = parse_target(ps, item, &ip, cfg, &cfg->targets[i])))
			return err;
	}
	return 0;
}

/* A mapping of integer options described by a table (limits, a module's options). */
static int parse_options(struct parser *ps, const yaml_node_t *node, const struct path *p,
			 const struct cfg_option *opts, long long *values, bool *enabled)
{
	for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);
		yaml_node_t *val = yaml_document_get_node(&ps->doc, a->value);
		struct path kp = { p, NULL, 0 };
		bool found = false;
		int err;

		if (!key || key->type != YAML_SCALAR_NODE)
			return fail(ps, key, p, "keys must be strings");
		kp.key = scalar(key);
		for (yaml_node_pair_t *b = node->data.mapping.pairs.start; b < a; b++) {
			if (!strcmp(scalar(yaml_document_get_node(&ps->doc, b->key)), kp.key))
				return fail(ps, key, p, "duplicate key \"%s\"", kp.key);
		}
		if (enabled && !strcmp(kp.key, "enabled")) {
			if ((err = parse_bool(ps, val, &kp, enabled)))
				return err;
			continue;
		}
		for (size_t i = 0; opts && opts[i].name; i++) {
			if (strcmp(opts[i].name, kp.key))
				continue;
			found = true;
			if ((err = parse_int(ps, val, &kp, &opts[i], &values[i])))
				return err;
		}
		if (!found) {
			struct buf known;

			buf_init(&known);
			if (enabled)
				buf_puts(&known, "enabled");
			for (size_t i = 0; opts && opts[i].name; i++)
				buf_printf(&known, "%s%s", known.len ? ", " : "", opts[i].name);
			err = fail(ps, key, p, "unknown key \"%s\" (expected %s)", kp.key,
				   buf_cstr(&known) ? known.data : "");
			buf_free(&known);
			return err;
		}
	}
	return 0;
}

static int parse_modules(struct parser *ps, const yaml_node_t *node, struct config *cfg)
{
	struct path p = { NULL, "modules", 0 };
	int err;

	if ((err = expect_mapping(ps, node, &p)))
		return err;
	for (yaml_node_pair_t *a = node->data.mapping.pairs.start; a < node->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);
		yaml_node_t *val = yaml_document_get_node(&ps->doc, a->value);
		struct path mp = { &p, NULL, 0 };
		size_t m;

		if (!key || key->type != YAML_SCALAR_NODE)
			return fail(ps, key, &p, "keys must be strings");
		mp.key = scalar(key);
		for (yaml_node_pair_t *b = node->data.mapping.pairs.start; b < a; b++) {
			if (!strcmp(scalar(yaml_document_get_node(&ps->doc, b->key)), mp.key))
				return fail(ps, key, &p, "duplicate key \"%s\"", mp.key);
		}
		for (m = 0; m < ps->n_mods && strcmp(ps->mods[m].name, mp.key); m++)
			;
		if (m == ps->n_mods) {
			struct buf known;

			buf_init(&known);
			for (size_t i = 0; i < ps->n_mods; i++)
				buf_printf(&known, "%s%s", i ? ", " : "", ps->mods[i].name);
			err = fail(ps, key, &p, "unknown module \"%s\" (expected %s)", mp.key,
				   buf_cstr(&known) ? known.data : "");
			buf_free(&known);
			return err;
		}
		if (is_null(val))
			continue;
		if ((err = expect_mapping(ps, val, &mp)) ||
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
	cfg->modules = calloc(ps->n_mods ? ps->n_mods : 1, sizeof(*cfg->modules));
	if (!cfg->modules)
		return fail(ps, NULL, NULL, "out of memory");
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
	static const char *const keys[] = { "targets", "limits", "modules", NULL };
	struct path lp = { NULL, "limits", 0 };
	yaml_node_t *root = yaml_document_get_root_node(&ps->doc);
	yaml_node_t *v;
	int err;

	if (!root)
		return fail(ps, NULL, NULL, "empty configuration: expected a mapping with targets");
	if (root->type != YAML_MAPPING_NODE)
		return fail(ps, root, NULL, "expected a mapping at the top level, got %s",
			    node_kind(root));
	if ((err = check_keys(ps, root, NULL, keys, "targets, limits or modules")) ||
	    (err = set_defaults(ps, cfg)))
		return err;
	v = lookup(ps, root, "targets");
	if (!v)
		return fail(ps, root, NULL, "missing key \"targets\"");
	if ((err = parse_targets(ps, v, cfg)))
		return err;
	if ((v = lookup(ps, root, "limits")) &&
	    ((err = expect_mapping(ps, v, &lp)) ||
	     (err = parse_options(ps, v, &lp, cfg_limit_options, cfg->limits, NULL))))
		return err;
	if ((v = lookup(ps, root, "modules")) && (err = parse_modules(ps, v, cfg)))
		return err;
	return 0;
}

/* A second document after "---" would otherwise be ignored unchecked. */
static int expect_single_document(struct parser *ps, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int ret = 0;

	if (!yaml_parser_load(parser, &next))
		return fail(ps, NULL, NULL, "invalid YAML after the first document: %s",
			    parser->problem ? parser->problem : "syntax error");
	root = yaml_document_get_root_node(&next);
	if (root)
		ret = fail(ps, root, NULL, "expected one YAML document, found another");
	yaml_document_delete(&next);
	return ret;
}

static yaml_mark_t mark_of_offset(const char *text, size_t len, size_t offset)
{
	yaml_mark_t m = { .index = offset };

	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			m.line++;
			m.column = 0;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			m.column++; /* columns count characters, not UTF-8 continuation bytes */
		}
	}
	return m;
}

int config_parse(const char *name, const char *text, size_t len, const struct cfg_module_desc *mods,
		 size_t n_mods, struct config *cfg, char *err, size_t err_size)
{
	struct parser ps = {
		.name = name, .mods = mods, .n_mods = n_mods, .err = err, .err_size = err_size
	};
	yaml_parser_t parser;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (!yaml_parser_initialize(&parser))
		return fail(&ps, NULL, NULL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &ps.doc)) {
		yaml_mark_t at = parser.problem_mark;

		/* Encoding errors come with a byte offset only. */
		if (parser.error == YAML_READER_ERROR)
			at = mark_of_offset(text, len, parser.problem_offset);
		snprintf(err, err_size, "%s:%zu:%zu: invalid YAML: %s%s%s", name, at.line + 1,
			 at.column + 1, parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	ret = parse_root(&ps, cfg);
	if (!ret)
		ret = expect_single_document(&ps, &parser);
	yaml_document_delete(&ps.doc);
	yaml_parser_delete(&parser);
	if (ret)
		config_free(cfg);
	return ret;
}

int config_load(const char *path, const struct cfg_module_desc *mods, size_t n_mods,
		struct config *cfg, char *err, size_t err_size)
{
	struct buf text;
	char chunk[4096];
	size_t n;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_size, "%s: cannot open the configuration file: %s", path,
			 strerror(errno));
		return -errno;
	}
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && text.len < (1 << 24))
		buf_append(&text, chunk, n);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	if (ret || text.failed || text.len >= (1 << 24)) {
		snprintf(err, err_size, "%s: cannot read the configuration file: %s", path,
			 ret ? strerror(EIO) : "larger than 16 MiB or out of memory");
		buf_free(&text);
		return ret ? ret : -EFBIG;
	}
	ret = config_parse(path, text.data ? text.data : "", text.len, mods, n_mods, cfg, err,
			   err_size);
	buf_free(&text);
	return ret;
}

static void string_list_free(struct string_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_targets; i++) {
		free(cfg->targets[i].name);
		string_list_free(&cfg->targets[i].process.comm);
		string_list_free(&cfg->targets[i].process.exe);
		string_list_free(&cfg->targets[i].process.cgroup);
	}
	free(cfg->targets);
	free(cfg->modules);
	memset(cfg, 0, sizeof(*cfg));
}
