/* Kubernetes label selectors in their string form ("app=x,tier in (a,b),!canary"), parsed
 * and matched as k8s.io/apimachinery/pkg/labels Parse and Selector.Matches do. Not for
 * field selectors, the API's LabelSelector objects, or the Gt/Lt forms ("x>1"), rejected. */
#ifndef CTRLSCOPE_LABELSEL_H
#define CTRLSCOPE_LABELSEL_H

#include <stdbool.h>
#include <stddef.h>

/* "==" parses as LSEL_EQ; "!key" is LSEL_NOT_EXISTS. */
enum lsel_op { LSEL_EQ, LSEL_NE, LSEL_IN, LSEL_NOTIN, LSEL_EXISTS, LSEL_NOT_EXISTS };

/* values: one for EQ and NE, one or more for IN and NOTIN (sorted, no duplicates, as
 * Kubernetes keeps a set), none (NULL) for EXISTS and NOT_EXISTS. */
struct lsel_req {
	char *key;
	enum lsel_op op;
	char **values;
	size_t n_values;
};

/* Requirements sorted by key, as labels.Parse sorts them; all must match (AND). No
 * requirement (n == 0, as parsed from "" or a zeroed struct) matches everything. */
struct label_selector {
	struct lsel_req *reqs;
	size_t n;
};

/* Parse "a=b,c!=d,e in (x, y),f notin (z),g,!h" (also "=="). Returns 0, or -EINVAL with one
 * line in err ("at offset N: expected ..."; never includes newlines from the input), or -ENOMEM
 * ("out of memory" in err). On error out is left empty. Unlike Kubernetes, "in ()" is an error:
 * write "in (,)" for the empty value. */
int label_selector_parse(const char *text, struct label_selector *out, char *err, size_t err_size);
/* Labels as parallel arrays (a key given twice: the first counts). != and notin also match
 * when the key is absent, as in Kubernetes. */
bool label_selector_match(const struct label_selector *sel, const char *const *keys,
			  const char *const *values, size_t n);
/* Frees what parse allocated and leaves sel empty; safe on an empty or zeroed selector. */
void label_selector_free(struct label_selector *sel);

/* Exposed for tests: a valid label key (optional DNS-subdomain prefix up to 253 chars + '/',
 * name up to 63 chars [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside) and a valid value
 * (empty, or up to 63 chars of the same form). */
bool label_key_valid(const char *key);
bool label_value_valid(const char *value);

#endif
