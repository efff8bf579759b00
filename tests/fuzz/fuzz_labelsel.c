/* libFuzzer target for label selectors (label_selector_parse and label_selector_match in
 * user/lib/labelsel.c). The input is the selector text, then optionally a NUL and bytes that
 * choose labels. Beyond "does not crash": an error is one line at an offset inside the
 * text and leaves the selector empty; a parsed selector holds only valid keys and values,
 * in the shape each operator promises, sorted; written back in canonical form it parses
 * to the same selector; keys and values pass a model of Kubernetes's validation written
 * here; and matching agrees with a model of Requirement.Matches, requirement by
 * requirement. Not for the config file around it. */
#include "labelsel.h"
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_SIZE   256
#define MAX_LABELS 64

/* Input bytes are quoted escaped: a message is printable ASCII, whatever the text held. */
static void check_error(int ret, const char *err, const struct label_selector *sel, size_t text_len)
{
	const char *nul = check_one_line_error(ret, err, ERR_SIZE, "at offset ");
	unsigned long off;

	for (const char *c = err; c < nul; c++)
		CHECK(*c >= 0x20 && *c < 0x7f);
	CHECK(sscanf(err, "at offset %lu: expected ", &off) == 1);
	CHECK(strstr(err, ": expected "));
	CHECK(off <= text_len);
	CHECK(!sel->reqs && !sel->n);
}

/* The model of validity, from the regular expressions of apimachinery's content package
 * rather than from labelsel.c: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63. */
static bool model_name(const char *s, size_t n)
{
	static const char inner[] =
		"-_.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	if (n < 1 || n > 63 || strspn(s, inner + 3) < 1)
		return false;
	if (!strchr(inner + 3, s[n - 1]) || strspn(s, inner) < n)
		return false;
	return true;
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? joined by '.', at most 253 in all. */
static bool model_subdomain(const char *s, size_t n)
{
	static const char chars[] = "-0123456789abcdefghijklmnopqrstuvwxyz";
	size_t start = 0;

	if (n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (i == start || s[start] == '-' || s[i - 1] == '-' ||
		    strspn(s + start, chars) < i - start)
			return false;
		start = i + 1;
	}
	return true;
}

static bool model_key(const char *key)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return model_name(key, strlen(key));
	return model_subdomain(key, (size_t)(slash - key)) &&
	       model_name(slash + 1, strlen(slash + 1));
}

static void check_req(const struct lsel_req *r)
{
	CHECK(r->key && label_key_valid(r->key) && model_key(r->key));
	switch (r->op) {
	case LSEL_EXISTS:
	case LSEL_NOT_EXISTS:
		CHECK(!r->values && !r->n_values);
		return;
	case LSEL_EQ:
	case LSEL_NE:
		CHECK(r->values && r->n_values == 1);
		break;
	case LSEL_IN:
	case LSEL_NOTIN:
		CHECK(r->values && r->n_values >= 1);
		break;
	default:
		CHECK(!"an operator outside enum lsel_op");
	}
	for (size_t i = 0; i < r->n_values; i++) {
		CHECK(r->values[i] && label_value_valid(r->values[i]));
		CHECK(!r->values[i][0] || model_name(r->values[i], strlen(r->values[i])));
		/* a set: sorted, each value once */
		CHECK(!i || strcmp(r->values[i - 1], r->values[i]) < 0);
	}
}

static void check_selector(const struct label_selector *sel, const char *text)
{
	CHECK(!sel->n == !sel->reqs);
	for (size_t i = 0; i < sel->n; i++) {
		check_req(&sel->reqs[i]);
		CHECK(strstr(text, sel->reqs[i].key));
		CHECK(!i || strcmp(sel->reqs[i - 1].key, sel->reqs[i].key) <= 0);
	}
}

/* The canonical text: Kubernetes's Selector.String(), except that a set holding only the
 * empty value is "(,)", since "()" is refused. */
static void put_req(FILE *f, const struct lsel_req *r)
{
	static const char *const ops[] = { "=", "!=", " in (", " notin (", "", "" };

	fprintf(f, "%s%s%s", r->op == LSEL_NOT_EXISTS ? "!" : "", r->key, ops[r->op]);
	for (size_t i = 0; i < r->n_values; i++)
		fprintf(f, "%s%s", i ? "," : "", r->values[i]);
	if ((r->op == LSEL_IN || r->op == LSEL_NOTIN) && r->n_values == 1 && !r->values[0][0])
		fputc(',', f);
	if (r->op == LSEL_IN || r->op == LSEL_NOTIN)
		fputc(')', f);
}

static char *write_selector(const struct label_selector *sel)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	CHECK(f);
	for (size_t i = 0; i < sel->n; i++) {
		if (i)
			fputc(',', f);
		put_req(f, &sel->reqs[i]);
	}
	CHECK(!fclose(f));
	return text;
}

static bool same_req(const struct lsel_req *a, const struct lsel_req *b)
{
	if (strcmp(a->key, b->key) || a->op != b->op || a->n_values != b->n_values)
		return false;
	for (size_t i = 0; i < a->n_values; i++) {
		if (strcmp(a->values[i], b->values[i]))
			return false;
	}
	return true;
}

static bool same_selector(const struct label_selector *a, const struct label_selector *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (!same_req(&a->reqs[i], &b->reqs[i]))
			return false;
	}
	return true;
}

/* Written back, the selector parses to itself, and writes back to the same text. */
static void check_round_trip(const struct label_selector *sel)
{
	struct label_selector again;
	char err[ERR_SIZE];
	char *text = write_selector(sel), *text2;
	int ret = label_selector_parse(text, &again, err, sizeof(err));

	if (ret)
		note("error", err, strlen(err));
	if (ret || !same_selector(sel, &again))
		note(ret ? "written back, fails to parse" : "written back, parses differently",
		     text, strlen(text));
	CHECK(!ret);
	CHECK(same_selector(sel, &again));
	text2 = write_selector(&again);
	CHECK(!strcmp(text, text2));
	label_selector_free(&again);
	free(text2);
	free(text);
}

/* Labels chosen by the bytes after the NUL: per requirement, its key absent or set to one
 * of its values, the empty value or another; then a few keys of no requirement. */
struct labels {
	const char *keys[MAX_LABELS];
	const char *values[MAX_LABELS];
	size_t n;
};

static const char *pick_value(const struct lsel_req *r, uint8_t b)
{
	switch (b % 4) {
	case 0:
		return r->n_values ? r->values[0] : "v";
	case 1:
		return r->n_values ? r->values[r->n_values - 1] : "";
	case 2:
		return "";
	default:
		return "other-value";
	}
}

static void make_labels(const struct label_selector *sel, const uint8_t *b, size_t nb,
			struct labels *l)
{
	static const char *const junk[] = { "a", "app", "example.com/x", "in" };

	l->n = 0;
	for (size_t i = 0; i < sel->n && l->n < MAX_LABELS - 4; i++) {
		uint8_t c = nb ? b[i % nb] : (uint8_t)i;

		if (c & 4)
			continue; /* absent */
		l->keys[l->n] = sel->reqs[i].key;
		l->values[l->n++] = pick_value(&sel->reqs[i], c >> 3);
	}
	for (size_t i = 0; i < 4 && nb > sel->n + i; i++) {
		if (b[sel->n + i] & 1) {
			l->keys[l->n] = junk[i];
			l->values[l->n++] = "j";
		}
	}
}

/* Requirement.Matches: the model, from the Kubernetes source rather than from ours. */
static bool model_req(const struct lsel_req *r, const struct labels *l)
{
	const char *v = NULL;
	bool in = false;

	for (size_t i = l->n; i-- > 0;) { /* the first of a key counts: scan from the end */
		if (!strcmp(l->keys[i], r->key))
			v = l->values[i];
	}
	for (size_t i = 0; v && i < r->n_values; i++)
		in = in || !strcmp(r->values[i], v);
	if (r->op == LSEL_EXISTS)
		return v != NULL;
	if (r->op == LSEL_NOT_EXISTS)
		return v == NULL;
	if (r->op == LSEL_EQ || r->op == LSEL_IN)
		return v && in;
	return !v || !in;
}

/* The selector matches iff each requirement alone does (AND); nothing matches all. */
static void check_match(const struct label_selector *sel, const struct labels *l)
{
	bool all = true;
	struct label_selector empty = { NULL, 0 };

	for (size_t i = 0; i < sel->n; i++) {
		struct label_selector one = { &sel->reqs[i], 1 };
		bool want = model_req(&sel->reqs[i], l);

		CHECK(label_selector_match(&one, l->keys, l->values, l->n) == want);
		all = all && want;
	}
	CHECK(label_selector_match(sel, l->keys, l->values, l->n) == all);
	CHECK(label_selector_match(&empty, l->keys, l->values, l->n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t text_len = nul ? (size_t)(nul - data) : size;
	const uint8_t *rest = nul ? nul + 1 : data;
	size_t rest_len = nul ? size - text_len - 1 : size;
	struct label_selector sel;
	struct labels labels;
	char err[ERR_SIZE];
	char *text = malloc(text_len + 1);
	int ret;

	CHECK(text);
	memcpy(text, data, text_len);
	text[text_len] = '\0';
	/* Poison sel and err so that whatever the parser leaves unset shows. */
	memset(&sel, 0xa5, sizeof(sel));
	memset(err, 0xa5, sizeof(err));
	/* The validators themselves, on the whole text. */
	CHECK(label_key_valid(text) == model_key(text));
	CHECK(label_value_valid(text) == (!text_len || model_name(text, text_len)));
	ret = label_selector_parse(text, &sel, err, sizeof(err));
	if (ret) {
		check_error(ret, err, &sel, text_len);
		free(text);
		return 0;
	}
	CHECK(err[0] == '\0');
	check_selector(&sel, text);
	check_round_trip(&sel);
	make_labels(&sel, rest, rest_len, &labels);
	check_match(&sel, &labels);
	label_selector_free(&sel);
	CHECK(!sel.reqs && !sel.n);
	free(text);
	return 0;
}
