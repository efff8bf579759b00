/* Schema-walking helpers over libyaml's document API, shared by every YAML file the agent
 * reads (config, web config, kubeconfig). Each check that fails writes one line naming the
 * file, line and column, the key path and what was expected, and returns -EINVAL. */
#ifndef CTRLSCOPE_YAMLUTIL_H
#define CTRLSCOPE_YAMLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "buf.h"

struct ydoc {
	yaml_document_t doc;
	const char *name; /* the file, for messages */
	char *err;
	size_t err_size;
};

/* A key path for messages ("targets[0].process.comm"), built on the stack as we descend. */
struct ypath {
	const struct ypath *up;
	const char *key; /* or NULL for an index */
	size_t index;
};

struct string_list {
	char **items;
	size_t n;
};

typedef int (*y_item_check_fn)(struct ydoc *y, const yaml_node_t *node, const struct ypath *p,
			       const char *value);

/* Load exactly one document from text; on error fills y->err and returns -EINVAL. */
int y_load(struct ydoc *y, const char *text, size_t len);
void y_free(struct ydoc *y);
/* Read a whole file (at most 16 MiB); what names it in messages ("configuration file"). */
int y_read_file(const char *path, const char *what, struct buf *out, char *err, size_t err_size);

int y_fail(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *y_kind(const yaml_node_t *node);
const char *y_scalar(const yaml_node_t *node);
bool y_is_plain(const yaml_node_t *node);
bool y_is_null(const yaml_node_t *node);
yaml_node_t *y_root(struct ydoc *y);
yaml_node_t *y_node(struct ydoc *y, yaml_node_item_t id);
int y_expect_mapping(struct ydoc *y, const yaml_node_t *node, const struct ypath *p);
int y_expect_sequence(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, size_t *n);
/* Every key a known, unique scalar; known is NULL-terminated, known_text names them. */
int y_check_keys(struct ydoc *y, const yaml_node_t *map, const struct ypath *p,
		 const char *const *known, const char *known_text);
yaml_node_t *y_lookup(struct ydoc *y, const yaml_node_t *map, const char *name);
int y_string(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, size_t max,
	     const char *what, char **out);
int y_bool(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, bool *out);
int y_int(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, long long min,
	  long long max, long long *out);
/* A duration like Prometheus writes them ("1h30m", "5s", "250ms"), in milliseconds. */
int y_duration(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, long long min_ms,
	       long long max_ms, long long *out_ms);
int y_string_list(struct ydoc *y, const yaml_node_t *node, const struct ypath *p, size_t max,
		  const char *what, y_item_check_fn check, struct string_list *out);
int y_check_absolute(struct ydoc *y, const yaml_node_t *node, const struct ypath *p,
		     const char *value);
void string_list_free(struct string_list *l);

/* Parse a duration string; returns 0 and milliseconds, or -EINVAL. Exposed for tests. */
int parse_duration_ms(const char *s, long long *out_ms);

#endif
