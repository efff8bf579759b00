/* Label selectors: see labelsel.h. The lexer and grammar follow apimachinery's
 * pkg/labels/selector.go (v0.37): the same tokens, the same contexts where "in" and "notin"
 * are plain words, the same empty values but for "()"; errors name the byte offset. No I/O. */
#include "labelsel.h"
#include "vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN	  63  /* qualified name and label value: validation.IsQualifiedName */
#define SUBDOMAIN_MAX_LEN 253 /* DNS1123SubdomainMaxLength */
#define SHOWN_MAX	  32  /* bytes of a token quoted in an error message */

enum tok_kind { TK_END, TK_WORD, TK_COMMA, TK_OPEN, TK_CLOSE, TK_NOT, TK_EQ, TK_NE, TK_GT, TK_LT };

struct token {
	enum tok_kind kind;
	size_t off;
	size_t len;
};

/* Longest match first: "==" and "!=" are the only two-byte symbols. */
static const struct {
	const char *text;
	enum tok_kind kind;
} symbols[] = {
	{ "==", TK_EQ },   { "!=", TK_NE },   { "=", TK_EQ }, { "!", TK_NOT }, { "(", TK_OPEN },
	{ ")", TK_CLOSE }, { ",", TK_COMMA }, { ">", TK_GT }, { "<", TK_LT },
};

struct parser {
	const char *text;
	size_t pos;	  /* where the next token starts being looked for */
	struct token tok; /* the lookahead */
	char *err;
	size_t err_size;
};

/* --- validation ------------------------------------------------------------------------ */

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-_.A-Za-z0-9]*)?[A-Za-z0-9], non-empty: a key's name or a non-empty value. */
static bool name_chars_ok(const char *s, size_t n)
{
	if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	}
	return true;
}

/* A lower-case RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?. */
static bool dns_label_ok(const char *s, size_t n)
{
	if (!n || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

static bool subdomain_ok(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (!dns_label_ok(s + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* Why s is not a label key, or NULL when it is one (content.IsLabelKey). */
static const char *key_problem(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t name_len = slash ? n - (size_t)(slash - s) - 1 : n;
	const char *name = slash ? slash + 1 : s;

	if (slash && memchr(name, '/', name_len))
		return "more than one '/'";
	if (slash && slash == s)
		return "empty prefix before '/'";
	if (slash && (size_t)(slash - s) > SUBDOMAIN_MAX_LEN)
		return "prefix longer than 253 characters";
	if (slash && !subdomain_ok(s, (size_t)(slash - s)))
		return "prefix is not a lower-case DNS subdomain";
	if (!name_len)
		return "empty name";
	if (name_len > NAME_MAX_LEN)
		return "name longer than 63 characters";
	if (!name_chars_ok(name, name_len))
		return "name must be [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside";
	return NULL;
}

/* Why s is not a label value, or NULL when it is one (content.IsLabelValue). */
static const char *value_problem(const char *s, size_t n)
{
	if (n > NAME_MAX_LEN)
		return "longer than 63 characters";
	if (n && !name_chars_ok(s, n))
		return "must be [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside";
	return NULL;
}

bool label_key_valid(const char *key)
{
	return key && !key_problem(key, strlen(key));
}

bool label_value_valid(const char *value)
{
	return value && !value_problem(value, strlen(value));
}

/* --- lexer ----------------------------------------------------------------------------- */

/* Whitespace and symbols end a word, as the Kubernetes lexer's isWhitespace and
 * isSpecialSymbol. */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_symbol(char c)
{
	return c && strchr("=!(),<>", c);
}

static void lex_symbol(const char *s, struct token *t)
{
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		size_t n = strlen(symbols[i].text);

		if (!strncmp(s + t->off, symbols[i].text, n)) {
			t->kind = symbols[i].kind;
			t->len = n;
			return;
		}
	}
}

static void advance(struct parser *p)
{
	const char *s = p->text;
	struct token t = { TK_END, p->pos, 0 };

	while (is_blank(s[t.off]))
		t.off++;
	if (is_symbol(s[t.off])) {
		lex_symbol(s, &t);
	} else if (s[t.off]) {
		t.kind = TK_WORD;
		while (s[t.off + t.len] && !is_blank(s[t.off + t.len]) &&
		       !is_symbol(s[t.off + t.len]))
			t.len++;
	}
	p->tok = t;
	p->pos = t.off + t.len;
}

/* "in" and "notin" are operators only right after a key; anywhere else they are words. */
static bool is_keyword(const struct parser *p, const char *word)
{
	return p->tok.kind == TK_WORD && p->tok.len == strlen(word) &&
	       !memcmp(p->text + p->tok.off, word, p->tok.len);
}

/* --- errors ---------------------------------------------------------------------------- */

/* The token as quoted in a message: at most SHOWN_MAX bytes, anything but printable ASCII
 * escaped, so the message stays one line whatever the input holds. */
static void show_token(const struct parser *p, const struct token *t, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)p->text + t->off;
	size_t len = 0, n = t->len < SHOWN_MAX ? t->len : SHOWN_MAX;

	if (t->kind == TK_END) {
		snprintf(out, size, "end of text");
		return;
	}
	len += (size_t)snprintf(out + len, size - len, "'");
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			len += (size_t)snprintf(out + len, size - len, "%c", s[i]);
		else
			len += (size_t)snprintf(out + len, size - len, "\\x%02x", s[i]);
	}
	snprintf(out + len, size - len, "%s'", t->len > n ? "..." : "");
}

/* "at offset N: expected <what>, found <token>[ (<why>)]"; returns -EINVAL. */
static int fail_at(struct parser *p, const struct token *t, const char *what, const char *why)
{
	char shown[SHOWN_MAX * 4 + 8];

	show_token(p, t, shown, sizeof(shown));
	if (p->err_size)
		snprintf(p->err, p->err_size, "at offset %zu: expected %s, found %s%s%s%s", t->off,
			 what, shown, why ? " (" : "", why ? why : "", why ? ")" : "");
	return -EINVAL;
}

static int fail(struct parser *p, const char *what)
{
	return fail_at(p, &p->tok, what, NULL);
}

/* --- building the result --------------------------------------------------------------- */

static int add_value(struct lsel_req *r, const char *s, size_t n)
{
	char **value = ARRAY_PUSH(r->values, r->n_values);

	if (!value || !(*value = strndup(s, n)))
		return -ENOMEM;
	r->n_values++;
	return 0;
}

static int cmp_values(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Values form a set in Kubernetes (sets.String.List()): sorted, each once. */
static void make_set(struct lsel_req *r)
{
	size_t n = 0;

	qsort(r->values, r->n_values, sizeof(*r->values), cmp_values);
	for (size_t i = 0; i < r->n_values; i++) {
		if (n && !strcmp(r->values[n - 1], r->values[i]))
			free(r->values[i]);
		else
			r->values[n++] = r->values[i];
	}
	r->n_values = n;
}

/* A new zeroed requirement at the end of sel, so that label_selector_free can undo a
 * half-parsed one. */
static struct lsel_req *add_req(struct label_selector *sel)
{
	struct lsel_req *req = ARRAY_PUSH(sel->reqs, sel->n);

	if (req)
		sel->n++;
	return req;
}

/* Stable, by key: labels.Parse sorts by key (sort.Sort, whose order among equal keys is
 * unspecified; we keep the text's). */
static void sort_by_key(struct label_selector *sel)
{
	for (size_t i = 1; i < sel->n; i++) {
		struct lsel_req r = sel->reqs[i];
		size_t j = i;

		for (; j && strcmp(sel->reqs[j - 1].key, r.key) > 0; j--)
			sel->reqs[j] = sel->reqs[j - 1];
		sel->reqs[j] = r;
	}
}

/* --- grammar --------------------------------------------------------------------------- */

/* Remember the first invalid value: Kubernetes checks values only once the requirement's
 * syntax is complete, so a later syntax error takes precedence. */
static int take_value(struct parser *p, struct lsel_req *r, struct token *bad)
{
	const struct token *t = &p->tok;

	if (bad->kind != TK_WORD && value_problem(p->text + t->off, t->len))
		*bad = *t;
	return add_value(r, p->text + t->off, t->len);
}

/* After "=", "==" or "!=": one value, empty when the requirement ends here. */
static int parse_exact(struct parser *p, struct lsel_req *r, struct token *bad)
{
	int err;

	if (p->tok.kind == TK_END || p->tok.kind == TK_COMMA)
		return add_value(r, "", 0);
	if (p->tok.kind != TK_WORD)
		return fail(p, "a value");
	if ((err = take_value(p, r, bad)))
		return err;
	advance(p);
	return 0;
}

/* One item of a set: a word, or nothing before ',' or ')' (the empty value). */
static int parse_item(struct parser *p, struct lsel_req *r, struct token *bad)
{
	int err;

	if (p->tok.kind == TK_COMMA || p->tok.kind == TK_CLOSE)
		return add_value(r, "", 0);
	if (p->tok.kind != TK_WORD)
		return fail(p, "a value, ',' or ')'");
	if ((err = take_value(p, r, bad)))
		return err;
	advance(p);
	if (p->tok.kind != TK_COMMA && p->tok.kind != TK_CLOSE)
		return fail(p, "',' or ')'");
	return 0;
}

/* After "in" or "notin": "(" item {"," item} ")". "()" is refused (Kubernetes reads it as
 * the empty value, a surprise; "(,)" says it). */
static int parse_set(struct parser *p, struct lsel_req *r, struct token *bad)
{
	int err;

	if (p->tok.kind != TK_OPEN)
		return fail(p, "'('");
	advance(p);
	if (p->tok.kind == TK_CLOSE)
		return fail(p, "a value (write \"(,)\" for the empty value)");
	for (;;) {
		if ((err = parse_item(p, r, bad)))
			return err;
		if (p->tok.kind == TK_CLOSE)
			break;
		advance(p); /* the ',' */
	}
	advance(p);
	make_set(r);
	return 0;
}

static int parse_operator(struct parser *p, struct lsel_req *r)
{
	if (p->tok.kind == TK_EQ)
		r->op = LSEL_EQ;
	else if (p->tok.kind == TK_NE)
		r->op = LSEL_NE;
	else if (is_keyword(p, "in"))
		r->op = LSEL_IN;
	else if (is_keyword(p, "notin"))
		r->op = LSEL_NOTIN;
	else if (p->tok.kind == TK_GT || p->tok.kind == TK_LT)
		return fail_at(p, &p->tok, "=, ==, !=, in or notin", "> and < are not supported");
	else
		return fail(p, "=, ==, !=, in or notin");
	advance(p);
	return 0;
}

static int take_key(struct parser *p, struct lsel_req *r)
{
	const char *why = key_problem(p->text + p->tok.off, p->tok.len);

	if (why)
		return fail_at(p, &p->tok, "a label key", why);
	r->key = strndup(p->text + p->tok.off, p->tok.len);
	if (!r->key)
		return -ENOMEM;
	advance(p);
	return 0;
}

/* ["!"] key [op values]; the lookahead is a word or "!". */
static int parse_requirement(struct parser *p, struct lsel_req *r)
{
	bool negated = p->tok.kind == TK_NOT;
	struct token bad = { TK_END, 0, 0 };
	int err;

	if (negated) {
		advance(p);
		if (p->tok.kind != TK_WORD)
			return fail(p, "a label key after '!'");
	}
	if ((err = take_key(p, r)))
		return err;
	if (negated || p->tok.kind == TK_END || p->tok.kind == TK_COMMA) {
		r->op = negated ? LSEL_NOT_EXISTS : LSEL_EXISTS;
		return 0;
	}
	if ((err = parse_operator(p, r)))
		return err;
	if (r->op == LSEL_IN || r->op == LSEL_NOTIN)
		err = parse_set(p, r, &bad);
	else
		err = parse_exact(p, r, &bad);
	if (err)
		return err;
	if (bad.kind == TK_WORD)
		return fail_at(p, &bad, "a label value", value_problem(p->text + bad.off, bad.len));
	return 0;
}

/* requirement {"," requirement}, or nothing at all. */
static int parse_requirements(struct parser *p, struct label_selector *sel)
{
	struct lsel_req *r;
	int err;

	if (p->tok.kind == TK_END)
		return 0;
	if (p->tok.kind != TK_WORD && p->tok.kind != TK_NOT)
		return fail(p, "'!', a label key or end of text");
	for (;;) {
		if (!(r = add_req(sel)))
			return -ENOMEM;
		if ((err = parse_requirement(p, r)))
			return err;
		if (p->tok.kind == TK_END)
			return 0;
		if (p->tok.kind != TK_COMMA)
			return fail(p, "',' or end of text");
		advance(p);
		if (p->tok.kind != TK_WORD && p->tok.kind != TK_NOT)
			return fail(p, "'!' or a label key after ','");
	}
}

int label_selector_parse(const char *text, struct label_selector *out, char *err, size_t err_size)
{
	struct parser p = { text, 0, { TK_END, 0, 0 }, err, err ? err_size : 0 };
	int ret;

	out->reqs = NULL;
	out->n = 0;
	if (!text)
		return -EINVAL;
	advance(&p);
	ret = parse_requirements(&p, out);
	if (ret) {
		if (ret == -ENOMEM && p.err_size)
			snprintf(err, err_size, "out of memory");
		label_selector_free(out);
		return ret;
	}
	sort_by_key(out);
	if (p.err_size)
		err[0] = '\0';
	return 0;
}

/* --- matching -------------------------------------------------------------------------- */

static const char *label_lookup(const char *const *keys, const char *const *values, size_t n,
				const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(keys[i], key))
			return values[i];
	}
	return NULL;
}

static bool has_value(const struct lsel_req *r, const char *v)
{
	for (size_t i = 0; i < r->n_values; i++) {
		if (!strcmp(r->values[i], v))
			return true;
	}
	return false;
}

/* v is the label's value, NULL when the key is absent (Requirement.Matches). */
static bool req_match(const struct lsel_req *r, const char *v)
{
	switch (r->op) {
	case LSEL_EQ:
	case LSEL_IN:
		return v && has_value(r, v);
	case LSEL_NE:
	case LSEL_NOTIN:
		return !v || !has_value(r, v);
	case LSEL_EXISTS:
		return v != NULL;
	case LSEL_NOT_EXISTS:
		return v == NULL;
	}
	return false;
}

bool label_selector_match(const struct label_selector *sel, const char *const *keys,
			  const char *const *values, size_t n)
{
	for (size_t i = 0; i < sel->n; i++) {
		const struct lsel_req *r = &sel->reqs[i];

		if (!req_match(r, label_lookup(keys, values, n, r->key)))
			return false;
	}
	return true;
}

void label_selector_free(struct label_selector *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		struct lsel_req *r = &sel->reqs[i];

		for (size_t j = 0; j < r->n_values; j++)
			free(r->values[j]);
		free(r->values);
		free(r->key);
	}
	free(sel->reqs);
	sel->reqs = NULL;
	sel->n = 0;
}
