/* YAML schema-walking helpers: see yamlutil.h. */
#include "yamlutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void y_path_format(struct buf *b, const struct ypath *p)
{
	if (!p)
		return;
	y_path_format(b, p->up);
	if (p->key)
		buf_printf(b, "%s%s", p->up ? "." : "", p->key);
	else
		buf_printf(b, "[%zu]", p->index);
}

/* Messages quote keys and values as written, and YAML allows line breaks in both: escape
 * control characters so that an error is always one line. */
static void y_one_line(struct buf *b)
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

int y_fail(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_printf(&b, "%s", ps->name);
	if (node)
		buf_printf(&b, ":%zu:%zu", node->start_mark.line + 1, node->start_mark.column + 1);
	buf_puts(&b, ": ");
	if (p) {
		y_path_format(&b, p);
		buf_puts(&b, ": ");
	}
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	y_one_line(&b);
	snprintf(ps->err, ps->err_size, "%s", buf_cstr(&b) ? b.data : "out of memory");
	buf_free(&b);
	return -EINVAL;
}

const char *y_kind(const yaml_node_t *node)
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

const char *y_scalar(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

bool y_is_plain(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool y_is_null(const yaml_node_t *node)
{
	const char *v;

	if (!y_is_plain(node))
		return false;
	v = y_scalar(node);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

int y_expect_mapping(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p)
{
	if (node->type != YAML_MAPPING_NODE)
		return y_fail(ps, node, p, "expected a mapping, got %s", y_kind(node));
	return 0;
}

/* Check that every key of a mapping is a known, unique scalar. */
int y_check_keys(struct ydoc *ps, const yaml_node_t *map, const struct ypath *p,
		 const char *const *known, const char *known_text)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);
		bool ok = false;

		if (!key || key->type != YAML_SCALAR_NODE)
			return y_fail(ps, key, p, "keys must be strings");
		for (const char *const *k = known; *k; k++)
			ok = ok || !strcmp(*k, y_scalar(key));
		if (!ok)
			return y_fail(ps, key, p, "unknown key \"%s\" (expected %s)", y_scalar(key),
				      known_text);
		for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
			yaml_node_t *other = yaml_document_get_node(&ps->doc, b->key);

			if (!strcmp(y_scalar(other), y_scalar(key)))
				return y_fail(ps, key, p, "duplicate key \"%s\"", y_scalar(key));
		}
	}
	return 0;
}

yaml_node_t *y_lookup(struct ydoc *ps, const yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *key = yaml_document_get_node(&ps->doc, a->key);

		if (key && key->type == YAML_SCALAR_NODE && !strcmp(y_scalar(key), name))
			return yaml_document_get_node(&ps->doc, a->value);
	}
	return NULL;
}

int y_string(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p, size_t max,
	     const char *what, char **out)
{
	const char *v;

	if (node->type != YAML_SCALAR_NODE || y_is_null(node))
		return y_fail(ps, node, p, "expected %s, got %s", what,
			      node->type == YAML_SCALAR_NODE ? "null" : y_kind(node));
	v = y_scalar(node);
	if (strlen(v) != node->data.scalar.length)
		return y_fail(ps, node, p, "expected %s without NUL characters", what);
	if (!*v)
		return y_fail(ps, node, p, "expected %s, got an empty string", what);
	if (strlen(v) > max)
		return y_fail(ps, node, p, "expected %s of at most %zu bytes, got %zu bytes", what,
			      max, strlen(v));
	*out = strdup(v);
	if (!*out)
		return y_fail(ps, node, p, "out of memory");
	return 0;
}

int y_bool(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", NULL };
	static const char *const no[] = { "false", "False", "FALSE", NULL };

	if (y_is_plain(node)) {
		for (int i = 0; yes[i]; i++) {
			if (!strcmp(y_scalar(node), yes[i])) {
				*out = true;
				return 0;
			}
			if (!strcmp(y_scalar(node), no[i])) {
				*out = false;
				return 0;
			}
		}
	}
	return y_fail(ps, node, p, "expected true or false, got %s%s%s",
		      node->type == YAML_SCALAR_NODE ? "\"" : "",
		      node->type == YAML_SCALAR_NODE ? y_scalar(node) : y_kind(node),
		      node->type == YAML_SCALAR_NODE ? "\"" : "");
}

int y_int(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p, long long min,
	  long long max, long long *out)
{
	const char *v;
	char *end;
	long long n;

	if (!y_is_plain(node))
		goto bad;
	v = y_scalar(node);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || *end || errno || v[0] == '+' || v[0] == ' ')
		goto bad;
	if (n < min || n > max)
		return y_fail(ps, node, p, "expected an integer from %lld to %lld, got %lld", min,
			      max, n);
	*out = n;
	return 0;
bad:
	return y_fail(ps, node, p, "expected an integer from %lld to %lld, got %s%s%s", min, max,
		      node->type == YAML_SCALAR_NODE ? "\"" : "",
		      node->type == YAML_SCALAR_NODE ? y_scalar(node) : y_kind(node),
		      node->type == YAML_SCALAR_NODE ? "\"" : "");
}

int y_string_list(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p, size_t max,
		  const char *what, y_item_check_fn check, struct string_list *out)
{
	size_t n;
	int err;

	if (node->type != YAML_SEQUENCE_NODE)
		return y_fail(ps, node, p, "expected a sequence of %ss, got %s", what,
			      y_kind(node));
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return y_fail(ps, node, p, "expected a non-empty sequence of %ss", what);
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items)
		return y_fail(ps, node, p, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item =
			yaml_document_get_node(&ps->doc, node->data.sequence.items.start[i]);
		struct ypath ip = { p, NULL, i };

		err = y_string(ps, item, &ip, max, what, &out->items[out->n]);
		if (err)
			return err;
		out->n++;
		if (check && (err = check(ps, item, &ip, out->items[i])))
			return err;
	}
	return 0;
}

int y_check_absolute(struct ydoc *ps, const yaml_node_t *node, const struct ypath *p,
		     const char *value)
{
	if (value[0] != '/')
		return y_fail(ps, node, p,
			      "expected an absolute path glob starting with '/', got \"%s\"",
			      value);
	return 0;
}

yaml_node_t *y_root(struct ydoc *y)
{
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *y_node(struct ydoc *y, yaml_node_item_t id)
{
	return yaml_document_get_node(&y->doc, id);
}

int y_expect_sequence(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, size_t *n)
{
	if (node->type != YAML_SEQUENCE_NODE)
		return y_fail(y, node, p, "expected a sequence, got %s", y_kind(node));
	*n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	return 0;
}

int parse_duration_ms(const char *s, long long *out_ms)
{
	static const struct {
		const char *unit;
		long long ms;
	} units[] = { { "ms", 1 },
		      { "s", 1000 },
		      { "m", 60 * 1000 },
		      { "h", 3600 * 1000 },
		      { "d", 86400 * 1000 },
		      { "w", 7 * 86400 * 1000LL },
		      { "y", 365 * 86400 * 1000LL } };
	long long total = 0;
	int last = -1;

	if (!*s)
		return -EINVAL;
	if (!strcmp(s, "0"))
		goto done;
	/* Units in decreasing order, each at most once (Prometheus's model.ParseDuration). */
	while (*s) {
		long long n = 0;
		int digits = 0, u;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (n > (LLONG_MAX - (*s - '0')) / 10)
				return -EINVAL;
			n = n * 10 + (*s - '0');
		}
		if (!digits)
			return -EINVAL;
		for (u = 0; u < (int)(sizeof(units) / sizeof(units[0])); u++) {
			size_t len = strlen(units[u].unit);

			/* "ms" before "m": the table lists it first. */
			if (!strncmp(s, units[u].unit, len) && !(u == 2 && s[1] == 's'))
				break;
		}
		if (u == (int)(sizeof(units) / sizeof(units[0])))
			return -EINVAL;
		if (last >= 0 && (units[u].ms >= units[last].ms))
			return -EINVAL;
		if (n > (LLONG_MAX - total) / units[u].ms)
			return -EINVAL;
		total += n * units[u].ms;
		last = u;
		s += strlen(units[u].unit);
	}
done:
	*out_ms = total;
	return 0;
}

int y_duration(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, long long min_ms,
	       long long max_ms, long long *out_ms)
{
	long long ms;

	if (!y_is_plain(node) || parse_duration_ms(y_scalar(node), &ms))
		return y_fail(y, node, p,
			      "expected a duration such as 30s, 5m or 1h30m, got %s%s%s",
			      node->type == YAML_SCALAR_NODE ? "\"" : "",
			      node->type == YAML_SCALAR_NODE ? y_scalar(node) : y_kind(node),
			      node->type == YAML_SCALAR_NODE ? "\"" : "");
	if (ms < min_ms || ms > max_ms)
		return y_fail(y, node, p, "expected a duration from %lldms to %lldms, got %s",
			      min_ms, max_ms, y_scalar(node));
	*out_ms = ms;
	return 0;
}

/* A second document after "---" would otherwise be ignored unchecked. */
static int expect_single_document(struct ydoc *ps, yaml_parser_t *parser)
{
	yaml_document_t next;
	yaml_node_t *root;
	int ret = 0;

	if (!yaml_parser_load(parser, &next))
		return y_fail(ps, NULL, NULL, "invalid YAML after the first document: %s",
			      parser->problem ? parser->problem : "syntax error");
	root = yaml_document_get_root_node(&next);
	if (root)
		ret = y_fail(ps, root, NULL, "expected one YAML document, found another");
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

/* Caps on what a document expands to, so that a small file cannot make the schema walk
 * take minutes and gigabytes (anchors and aliases: "a billion laughs") or recurse without
 * bound. A real configuration is thousands of nodes and a few levels deep. */
#define Y_MAX_EXPANDED 1000000
#define Y_MAX_DEPTH    64

/* The number of children of node i (0-based; a mapping's keys and values both count),
 * and the index of its k-th. */
static size_t y_n_children(const yaml_document_t *doc, size_t i)
{
	const yaml_node_t *n = &doc->nodes.start[i];

	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (n->type == YAML_MAPPING_NODE)
		return 2 * (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	return 0;
}

static size_t y_child(const yaml_document_t *doc, size_t i, size_t k)
{
	const yaml_node_t *n = &doc->nodes.start[i];

	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)n->data.sequence.items.start[k] - 1;
	return (size_t)(k % 2 ? n->data.mapping.pairs.start[k / 2].value
			      : n->data.mapping.pairs.start[k / 2].key) -
	       1;
}

/* Refuse a document that expands to too many nodes, nests too deep or contains itself
 * (aliases make the nodes a graph): one depth-first pass, each node done once, with an
 * explicit stack. */
static int check_shape(struct ydoc *y)
{
	const yaml_document_t *doc = &y->doc;
	size_t n = (size_t)(doc->nodes.top - doc->nodes.start), top = 0;
	uint64_t *expanded = calloc(n ? n : 1, sizeof(uint64_t));
	uint32_t *height = calloc(n ? n : 1, sizeof(uint32_t));
	size_t *next = calloc(n ? n : 1, sizeof(size_t)),
	       *stack = calloc(n ? n : 1, sizeof(size_t));
	uint8_t *state = calloc(n ? n : 1, 1); /* 0 new, 1 on the stack, 2 done */
	const char *why = NULL;
	int ret = 0;

	if (!expanded || !height || !next || !stack || !state) {
		ret = y_fail(y, NULL, NULL, "out of memory");
		goto out;
	}
	if (n) {
		stack[top++] = 0;
		state[0] = 1;
		expanded[0] = 1;
	}
	while (top && !why) {
		size_t i = stack[top - 1], c;

		if (next[i] == y_n_children(doc, i)) {
			state[i] = 2;
			top--;
			if (top) {
				size_t parent = stack[top - 1];

				expanded[parent] += expanded[i];
				if (expanded[parent] > Y_MAX_EXPANDED)
					why = "expands";
				if (height[parent] < height[i] + 1)
					height[parent] = height[i] + 1;
				if (height[parent] > Y_MAX_DEPTH)
					why = "nests";
			}
			continue;
		}
		c = y_child(doc, i, next[i]++);
		if (c >= n)
			continue;
		if (state[c] == 1) {
			why = "contains";
		} else if (state[c] == 2) { /* an alias of a node done: its size again */
			expanded[i] += expanded[c];
			if (expanded[i] > Y_MAX_EXPANDED)
				why = "expands";
			if (height[i] < height[c] + 1)
				height[i] = height[c] + 1;
		} else {
			state[c] = 1;
			expanded[c] = 1;
			stack[top++] = c;
		}
	}
	if (why && !strcmp(why, "expands"))
		ret = y_fail(y, &doc->nodes.start[0], NULL,
			     "the document expands to more than %d nodes (anchors and aliases)",
			     Y_MAX_EXPANDED);
	else if (why && !strcmp(why, "nests"))
		ret = y_fail(y, &doc->nodes.start[0], NULL, "nested deeper than %d levels",
			     Y_MAX_DEPTH);
	else if (why)
		ret = y_fail(y, &doc->nodes.start[0], NULL,
			     "a node contains itself (a recursive alias)");
out:
	free(expanded);
	free(height);
	free(next);
	free(stack);
	free(state);
	return ret;
}

int y_load(struct ydoc *y, const char *text, size_t len)
{
	yaml_parser_t parser;
	int ret;

	memset(&y->doc, 0, sizeof(y->doc));
	if (!yaml_parser_initialize(&parser))
		return y_fail(y, NULL, NULL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &y->doc)) {
		yaml_mark_t at = parser.problem_mark;

		/* Encoding errors come with a byte offset only. */
		if (parser.error == YAML_READER_ERROR)
			at = mark_of_offset(text, len, parser.problem_offset);
		snprintf(y->err, y->err_size, "%s:%zu:%zu: invalid YAML: %s%s%s", y->name,
			 at.line + 1, at.column + 1,
			 parser.problem ? parser.problem : "syntax error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	ret = expect_single_document(y, &parser);
	yaml_parser_delete(&parser);
	if (!ret)
		ret = check_shape(y);
	if (ret)
		yaml_document_delete(&y->doc);
	return ret;
}

void y_free(struct ydoc *y)
{
	yaml_document_delete(&y->doc);
}

int y_read_file(const char *path, const char *what, struct buf *out, char *err, size_t err_size)
{
	char chunk[4096];
	struct stat st;
	ssize_t n;
	int fd, ret = 0;

	buf_init(out);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_size, "%s: cannot open the %s: %s", path, what, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		close(fd);
		snprintf(err, err_size, "%s: the %s is a directory, not a file", path, what);
		return -EISDIR;
	}
	while (!ret && (n = read(fd, chunk, sizeof(chunk))) != 0 && out->len < (1 << 24)) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		else
			buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	if (ret || out->failed || out->len >= (1 << 24)) {
		snprintf(err, err_size, "%s: cannot read the %s: %s", path, what,
			 ret ? strerror(-ret) : "larger than 16 MiB or out of memory");
		buf_free(out);
		return ret ? ret : -EFBIG;
	}
	buf_cstr(out);
	return 0;
}

void string_list_free(struct string_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
