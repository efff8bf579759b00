/* Unit tests for Kubernetes label selectors (user/lib/labelsel.h): every form labels.Parse
 * accepts, with the exact parse result (sorted by key, values as a sorted set), match truth
 * tables with absent keys, and every error with its exact message. Expected results were
 * checked against apimachinery v0.37.2. Not for the config file around it (test_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labelsel.h"

#define A63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B63 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define B61 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
/* A DNS subdomain of exactly 253 characters (three 63-character labels, one of 61). */
#define P253 B63 "." B63 "." B63 "." B61

/* The parse result in one line: `key = "v"`, `key != "v"`, `key in ("a", "b")`,
 * `key notin ("a")`, `key`, `!key`, joined by "; ". */
static void put_values(char **p, const struct lsel_req *r)
{
	for (size_t i = 0; i < r->n_values; i++)
		*p += sprintf(*p, "%s\"%s\"", i ? ", " : "", r->values[i]);
}

static void dump(const struct label_selector *sel, char *out)
{
	static const char *const ops[] = { " = ", " != ", " in (", " notin (", "", "" };
	char *p = out;

	*p = '\0';
	for (size_t i = 0; i < sel->n; i++) {
		const struct lsel_req *r = &sel->reqs[i];

		p += sprintf(p, "%s%s%s%s", i ? "; " : "", r->op == LSEL_NOT_EXISTS ? "!" : "",
			     r->key, ops[r->op]);
		put_values(&p, r);
		if (r->op == LSEL_IN || r->op == LSEL_NOTIN)
			p += sprintf(p, ")");
	}
}

static void check_parse(const char *text, const char *want)
{
	struct label_selector sel;
	char err[256] = "", got[4096];

	memset(&sel, 0x5a, sizeof(sel));
	assert_int_equal(label_selector_parse(text, &sel, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	dump(&sel, got);
	assert_string_equal(got, want);
	label_selector_free(&sel);
	assert_null(sel.reqs);
	assert_int_equal(sel.n, 0);
}

static void check_error(const char *text, const char *want)
{
	struct label_selector sel;
	char err[256];

	memset(&sel, 0x5a, sizeof(sel));
	memset(err, 'X', sizeof(err));
	assert_int_equal(label_selector_parse(text, &sel, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	/* "On error out is left empty". */
	assert_null(sel.reqs);
	assert_int_equal(sel.n, 0);
}

static void test_empty_selects_everything(void **state)
{
	(void)state;
	check_parse("", "");
	check_parse(" ", "");
	check_parse(" \t\r\n ", "");
}

static void test_equality(void **state)
{
	(void)state;
	check_parse("a=b", "a = \"b\"");
	check_parse("a==b", "a = \"b\"");
	check_parse("a!=b", "a != \"b\"");
	check_parse("  a = b  ", "a = \"b\"");
	check_parse("a\t==\tb", "a = \"b\"");
	check_parse("a\n!=\rb", "a != \"b\"");
	check_parse("a=A-b_c.9", "a = \"A-b_c.9\"");
	check_parse("a=" A63, "a = \"" A63 "\"");
	/* "in" and "notin" are plain words after an operator and as keys. */
	check_parse("a=in", "a = \"in\"");
	check_parse("notin!=notin", "notin != \"notin\"");
}

static void test_empty_exact_value(void **state)
{
	(void)state;
	check_parse("a=", "a = \"\"");
	check_parse("a==", "a = \"\"");
	check_parse("a!=", "a != \"\"");
	check_parse("a= ,b", "a = \"\"; b");
	check_parse("b!=,a==", "a = \"\"; b != \"\"");
}

static void test_exists(void **state)
{
	(void)state;
	check_parse("a", "a");
	check_parse("!a", "!a");
	check_parse("! a", "!a");
	check_parse(" ! a ,  b ", "!a; b");
	check_parse("in", "in");
	check_parse("!notin", "!notin");
}

static void test_sets(void **state)
{
	(void)state;
	check_parse("a in (x, y)", "a in (\"x\", \"y\")");
	check_parse("a in(x)", "a in (\"x\")");
	check_parse("a notin(z)", "a notin (\"z\")");
	check_parse("a notin\n (z)", "a notin (\"z\")");
	check_parse("a  notin\t\t(x,y)", "a notin (\"x\", \"y\")");
	/* A set: sorted, each value once. */
	check_parse("a in (y,x,y,x)", "a in (\"x\", \"y\")");
	check_parse("a in (b,B,a,0)", "a in (\"0\", \"B\", \"a\", \"b\")");
	check_parse("a in (x,y,notin, z,in)", "a in (\"in\", \"notin\", \"x\", \"y\", \"z\")");
	check_parse("in in (in)", "in in (\"in\")");
	check_parse("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
		    "0.1.2.domain/99 notin (\"10.10.100.1\", \"tick.tack.clock\")");
}

/* An empty item before ',' or ')' is the empty value, as in Kubernetes. */
static void test_empty_set_values(void **state)
{
	(void)state;
	check_parse("a in (,)", "a in (\"\")");
	check_parse("a in ( , )", "a in (\"\")");
	check_parse("a in (x,)", "a in (\"\", \"x\")");
	check_parse("a in (,x)", "a in (\"\", \"x\")");
	check_parse("a notin (x,,y)", "a notin (\"\", \"x\", \"y\")");
	check_parse("a in (x,,,)", "a in (\"\", \"x\")");
	check_parse("a in (x,,x,,x,,)", "a in (\"\", \"x\")");
	check_parse("a in (,,)", "a in (\"\")");
}

static void test_sorted_by_key(void **state)
{
	(void)state;
	check_parse("a=b,c!=d,e in (x, y),f notin (z),g,!h",
		    "a = \"b\"; c != \"d\"; e in (\"x\", \"y\"); f notin (\"z\"); g; !h");
	check_parse("!h,g,f notin (z),e in (y,x),c!=d,a=b",
		    "a = \"b\"; c != \"d\"; e in (\"x\", \"y\"); f notin (\"z\"); g; !h");
	check_parse("x,y in (a)", "x; y in (\"a\")");
	check_parse("y in (a),x", "x; y in (\"a\")");
	check_parse("b=1,a=2,B=3", "B = \"3\"; a = \"2\"; b = \"1\"");
	check_parse("x notin (abc,,def),bar,z in (,),w",
		    "bar; w; x notin (\"\", \"abc\", \"def\"); z in (\"\")");
}

/* Duplicates and contradictions are kept; among equal keys the text's order stays. */
static void test_duplicates_kept(void **state)
{
	(void)state;
	check_parse("a=1,a=1", "a = \"1\"; a = \"1\"");
	check_parse("a,!a", "a; !a");
	check_parse("!a,a", "!a; a");
	check_parse("b,a=2,b=1,a", "a = \"2\"; a; b; b = \"1\"");
}

static void test_keys_with_prefix(void **state)
{
	(void)state;
	check_parse("example.com/app=x", "example.com/app = \"x\"");
	check_parse("k8s.io/a-b_c.D in (v)", "k8s.io/a-b_c.D in (\"v\")");
	check_parse("app.kubernetes.io/name!=web", "app.kubernetes.io/name != \"web\"");
	check_parse("!1.2-3/" A63, "!1.2-3/" A63);
	check_parse(P253 "/" A63 "=v", P253 "/" A63 " = \"v\"");
}

static void test_structure(void **state)
{
	struct label_selector sel;
	char err[128];

	(void)state;
	assert_int_equal(label_selector_parse("a,!b,c=d,e in (f,g)", &sel, err, sizeof(err)), 0);
	assert_int_equal(sel.n, 4);
	assert_string_equal(sel.reqs[0].key, "a");
	assert_int_equal(sel.reqs[0].op, LSEL_EXISTS);
	assert_null(sel.reqs[0].values);
	assert_int_equal(sel.reqs[0].n_values, 0);
	assert_string_equal(sel.reqs[1].key, "b");
	assert_int_equal(sel.reqs[1].op, LSEL_NOT_EXISTS);
	assert_null(sel.reqs[1].values);
	assert_int_equal(sel.reqs[1].n_values, 0);
	assert_int_equal(sel.reqs[2].op, LSEL_EQ);
	assert_int_equal(sel.reqs[2].n_values, 1);
	assert_string_equal(sel.reqs[2].values[0], "d");
	assert_int_equal(sel.reqs[3].op, LSEL_IN);
	assert_int_equal(sel.reqs[3].n_values, 2);
	label_selector_free(&sel);
	/* Freeing twice, or a zeroed selector, is harmless. */
	label_selector_free(&sel);
}

/* err may be NULL or short: the result is the same, the message cut. */
static void test_error_buffer(void **state)
{
	struct label_selector sel;
	char err[16];

	(void)state;
	assert_int_equal(label_selector_parse("a b", &sel, NULL, 0), -EINVAL);
	assert_int_equal(label_selector_parse("a b", &sel, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "at offset 2: ex");
	assert_int_equal(label_selector_parse("a", &sel, NULL, 0), 0);
	label_selector_free(&sel);
	assert_int_equal(label_selector_parse(NULL, &sel, err, sizeof(err)), -EINVAL);
}

static void test_errors_syntax(void **state)
{
	(void)state;
	check_error(",", "at offset 0: expected '!', a label key or end of text, found ','");
	check_error("  =a", "at offset 2: expected '!', a label key or end of text, found '='");
	check_error("(", "at offset 0: expected '!', a label key or end of text, found '('");
	check_error("!=a", "at offset 0: expected '!', a label key or end of text, found '!='");
	check_error("a=b c", "at offset 4: expected ',' or end of text, found 'c'");
	check_error("a in (x)b", "at offset 8: expected ',' or end of text, found 'b'");
	check_error("!a=b", "at offset 2: expected ',' or end of text, found '='");
	check_error("a=b\nc", "at offset 4: expected ',' or end of text, found 'c'");
	check_error("a,", "at offset 2: expected '!' or a label key after ',', found end of text");
	check_error("a,,b", "at offset 2: expected '!' or a label key after ',', found ','");
	check_error("a, )", "at offset 3: expected '!' or a label key after ',', found ')'");
}

static void test_errors_after_not(void **state)
{
	(void)state;
	check_error("!", "at offset 1: expected a label key after '!', found end of text");
	check_error("!!a", "at offset 1: expected a label key after '!', found '!'");
	check_error("a,! ,b", "at offset 4: expected a label key after '!', found ','");
}

static void test_errors_operator(void **state)
{
	(void)state;
	check_error("a b", "at offset 2: expected =, ==, !=, in or notin, found 'b'");
	check_error("a (", "at offset 2: expected =, ==, !=, in or notin, found '('");
	check_error("a !b", "at offset 2: expected =, ==, !=, in or notin, found '!'");
	check_error("x nott in (y)", "at offset 2: expected =, ==, !=, in or notin, found 'nott'");
	check_error("a IN (b)", "at offset 2: expected =, ==, !=, in or notin, found 'IN'");
	/* Kubernetes's Gt and Lt have no lsel_op. */
	check_error("a>1", "at offset 1: expected =, ==, !=, in or notin, found '>' "
			   "(> and < are not supported)");
	check_error("a < 1", "at offset 2: expected =, ==, !=, in or notin, found '<' "
			     "(> and < are not supported)");
}

static void test_errors_values(void **state)
{
	(void)state;
	check_error("a===b", "at offset 3: expected a value, found '='");
	check_error("a==(b)", "at offset 3: expected a value, found '('");
	check_error("a=!b", "at offset 2: expected a value, found '!'");
	check_error("a in x", "at offset 5: expected '(', found 'x'");
	check_error("a in", "at offset 4: expected '(', found end of text");
	check_error("a notin(", "at offset 8: expected a value, ',' or ')', found end of text");
	check_error("a in (=)", "at offset 6: expected a value, ',' or ')', found '='");
	check_error("a in (x,(", "at offset 8: expected a value, ',' or ')', found '('");
	check_error("a in (x y)", "at offset 8: expected ',' or ')', found 'y'");
	check_error("a in (x", "at offset 7: expected ',' or ')', found end of text");
	check_error("a in (x,", "at offset 8: expected a value, ',' or ')', found end of text");
	check_error("a in (x))", "at offset 8: expected ',' or end of text, found ')'");
}

/* Kubernetes reads "()" as the empty value; we refuse it. */
static void test_errors_empty_set(void **state)
{
	(void)state;
	check_error("a in ()", "at offset 6: expected a value (write \"(,)\" for the empty value), "
			       "found ')'");
	check_error("a notin ( )", "at offset 10: expected a value (write \"(,)\" for the empty "
				   "value), found ')'");
}

static void test_errors_invalid_key(void **state)
{
	(void)state;
	check_error("A/b=c", "at offset 0: expected a label key, found 'A/b' (prefix is not a "
			     "lower-case DNS subdomain)");
	check_error("a_b/c", "at offset 0: expected a label key, found 'a_b/c' (prefix is not a "
			     "lower-case DNS subdomain)");
	check_error("a..b/c", "at offset 0: expected a label key, found 'a..b/c' (prefix is not a "
			      "lower-case DNS subdomain)");
	check_error("x,/a", "at offset 2: expected a label key, found '/a' (empty prefix before "
			    "'/')");
	check_error("a/", "at offset 0: expected a label key, found 'a/' (empty name)");
	check_error("!a/b/c", "at offset 1: expected a label key, found 'a/b/c' (more than one "
			      "'/')");
	check_error("a" A63,
		    "at offset 0: expected a label key, found "
		    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' (name longer than 63 characters)");
	check_error("b" P253 "/a", "at offset 0: expected a label key, found "
				   "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...' (prefix longer than 253 "
				   "characters)");
	check_error("-a=b", "at offset 0: expected a label key, found '-a' (name must be "
			    "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a$ in (b)", "at offset 0: expected a label key, found 'a$' (name must be "
				 "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	/* Anything but printable ASCII is escaped: the message stays one line. */
	check_error("\xc3\xa9", "at offset 0: expected a label key, found '\\xc3\\xa9' (name must "
				"be [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a\v", "at offset 0: expected a label key, found 'a\\x0b' (name must be "
			   "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
}

static void test_errors_invalid_value(void **state)
{
	(void)state;
	check_error("a=b$", "at offset 2: expected a label value, found 'b$' (must be "
			    "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a = -b", "at offset 4: expected a label value, found '-b' (must be "
			      "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a!=x/y", "at offset 3: expected a label value, found 'x/y' (must be "
			      "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a=b" A63, "at offset 2: expected a label value, found "
			       "'baaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' (longer than 63 characters)");
	check_error("a in (x, y_)", "at offset 9: expected a label value, found 'y_' (must be "
				    "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	/* The first invalid value is named... */
	check_error("a in (b$, c$)", "at offset 6: expected a label value, found 'b$' (must be "
				     "[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	/* ...once the requirement's syntax is complete, as Kubernetes validates. */
	check_error("a in (b$ c)", "at offset 9: expected ',' or ')', found 'c'");
	/* "x=a||y=b" from Kubernetes's tests: '|' is no symbol, "||y" a (bad) value. */
	check_error("x=a||y=b", "at offset 2: expected a label value, found 'a||y' (must be "
				"[A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
	check_error("a=\x01\x7f", "at offset 2: expected a label value, found '\\x01\\x7f' (must "
				  "be [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside)");
}

static void test_key_valid(void **state)
{
	(void)state;
	assert_true(label_key_valid("a"));
	assert_true(label_key_valid("A"));
	assert_true(label_key_valid("a-b_c.D9"));
	assert_true(label_key_valid(A63));
	assert_true(label_key_valid("a/B"));
	assert_true(label_key_valid("1.2/x"));
	assert_true(label_key_valid("a-1.b/c"));
	assert_true(label_key_valid(P253 "/" A63));
	assert_false(label_key_valid(NULL));
	assert_false(label_key_valid(""));
	assert_false(label_key_valid("a" A63));
	assert_false(label_key_valid("x" P253 "/a"));
	assert_false(label_key_valid("-a"));
	assert_false(label_key_valid("a."));
	assert_false(label_key_valid("a b"));
	assert_false(label_key_valid("/a"));
	assert_false(label_key_valid("a/"));
	assert_false(label_key_valid("a/b/c"));
	assert_false(label_key_valid("A/b"));
	assert_false(label_key_valid("a_b/c"));
	assert_false(label_key_valid("aBc/d"));
	assert_false(label_key_valid("a.bC/d"));
	assert_false(label_key_valid("a-/b"));
	assert_false(label_key_valid("a.-b/c"));
	assert_false(label_key_valid(".a/b"));
	assert_false(label_key_valid("a/.b"));
	assert_false(label_key_valid("a/b-"));
}

static void test_value_valid(void **state)
{
	(void)state;
	assert_true(label_value_valid(""));
	assert_true(label_value_valid("a"));
	assert_true(label_value_valid("0"));
	assert_true(label_value_valid("A-b_c.9"));
	assert_true(label_value_valid(A63));
	assert_false(label_value_valid(NULL));
	assert_false(label_value_valid("a" A63));
	assert_false(label_value_valid("-a"));
	assert_false(label_value_valid("a_"));
	assert_false(label_value_valid(".a"));
	assert_false(label_value_valid("a b"));
	assert_false(label_value_valid("a/b"));
	assert_false(label_value_valid("\xc3\xa9"));
}

/* Match text against labels "k1=v1,k2=v2" (a made-up form for tests: no spaces, values
 * may be empty). */
static bool match(const char *text, const char *labels)
{
	const char *keys[8], *values[8];
	char buf[256], *save = NULL;
	struct label_selector sel;
	char err[256] = "";
	size_t n = 0;
	bool ret;

	assert_int_equal(label_selector_parse(text, &sel, err, sizeof(err)), 0);
	snprintf(buf, sizeof(buf), "%s", labels);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		assert_non_null(eq);
		*eq = '\0';
		assert_true(n < 8);
		keys[n] = kv;
		values[n++] = eq + 1;
	}
	ret = label_selector_match(&sel, keys, values, n);
	label_selector_free(&sel);
	return ret;
}

static void test_match_equality(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		const char *sel = i ? "a==b" : "a=b";

		assert_false(match(sel, ""));
		assert_true(match(sel, "a=b"));
		assert_false(match(sel, "a=c"));
		assert_false(match(sel, "a="));
		assert_false(match(sel, "b=b"));
		assert_true(match(sel, "x=y,a=b"));
		assert_false(match(sel, "a=B"));
	}
	assert_true(match("a=", "a="));
	assert_false(match("a=", ""));
	assert_false(match("a=", "a=b"));
}

/* != and notin also match when the key is absent. */
static void test_match_inequality(void **state)
{
	(void)state;
	assert_true(match("a!=b", ""));
	assert_false(match("a!=b", "a=b"));
	assert_true(match("a!=b", "a=c"));
	assert_true(match("a!=b", "a="));
	assert_true(match("a!=b", "b=b"));
	assert_true(match("a!=", ""));
	assert_false(match("a!=", "a="));
	assert_true(match("a!=", "a=b"));
}

static void test_match_sets(void **state)
{
	(void)state;
	assert_false(match("a in (b,c)", ""));
	assert_true(match("a in (b,c)", "a=b"));
	assert_true(match("a in (b,c)", "a=c"));
	assert_false(match("a in (b,c)", "a=d"));
	assert_false(match("a in (b,c)", "a="));
	assert_false(match("a in (b,c)", "b=b"));
	assert_true(match("a in (,b)", "a="));
	assert_true(match("a in (,b)", "a=b"));
	assert_false(match("a in (,b)", ""));
	assert_true(match("a notin (b,c)", ""));
	assert_false(match("a notin (b,c)", "a=b"));
	assert_false(match("a notin (b,c)", "a=c"));
	assert_true(match("a notin (b,c)", "a=d"));
	assert_true(match("a notin (b,c)", "a="));
	assert_true(match("a notin (b,c)", "b=b"));
	assert_false(match("a notin (,)", "a="));
	assert_true(match("a notin (,)", ""));
}

static void test_match_exists(void **state)
{
	(void)state;
	assert_false(match("a", ""));
	assert_true(match("a", "a="));
	assert_true(match("a", "a=x"));
	assert_false(match("a", "b=x"));
	assert_true(match("!a", ""));
	assert_false(match("!a", "a="));
	assert_false(match("!a", "a=x"));
	assert_true(match("!a", "b=x"));
	assert_false(match("a,!a", ""));
	assert_false(match("a,!a", "a=x"));
}

static void test_match_all_requirements(void **state)
{
	static const char sel[] = "app=web,!canary,tier notin (db),example.com/team in (a,b)";
	struct label_selector empty = { NULL, 0 };
	const char *k[] = { "a" }, *v[] = { "b" };

	(void)state;
	assert_true(match(sel, "app=web,example.com/team=a"));
	assert_true(match(sel, "app=web,example.com/team=b,tier=fe"));
	assert_false(match(sel, "app=web,example.com/team=b,tier=db"));
	assert_false(match(sel, "app=web,example.com/team=b,canary="));
	assert_false(match(sel, "app=api,example.com/team=a"));
	assert_false(match(sel, "app=web,example.com/team=c"));
	assert_false(match(sel, "app=web"));
	/* No requirement matches everything, labels or none. */
	assert_true(match("", ""));
	assert_true(match("", "a=b"));
	assert_true(label_selector_match(&empty, NULL, NULL, 0));
	assert_true(label_selector_match(&empty, k, v, 1));
}

/* Labels with a key twice (not from the API, which has a map): the first counts. */
static void test_match_first_of_duplicate_labels(void **state)
{
	(void)state;
	assert_true(match("a=b", "a=b,a=c"));
	assert_false(match("a=c", "a=b,a=c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_selects_everything),
		cmocka_unit_test(test_equality),
		cmocka_unit_test(test_empty_exact_value),
		cmocka_unit_test(test_exists),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_empty_set_values),
		cmocka_unit_test(test_sorted_by_key),
		cmocka_unit_test(test_duplicates_kept),
		cmocka_unit_test(test_keys_with_prefix),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_errors_syntax),
		cmocka_unit_test(test_errors_after_not),
		cmocka_unit_test(test_errors_operator),
		cmocka_unit_test(test_errors_values),
		cmocka_unit_test(test_errors_empty_set),
		cmocka_unit_test(test_errors_invalid_key),
		cmocka_unit_test(test_errors_invalid_value),
		cmocka_unit_test(test_key_valid),
		cmocka_unit_test(test_value_valid),
		cmocka_unit_test(test_match_equality),
		cmocka_unit_test(test_match_inequality),
		cmocka_unit_test(test_match_sets),
		cmocka_unit_test(test_match_exists),
		cmocka_unit_test(test_match_all_requirements),
		cmocka_unit_test(test_match_first_of_duplicate_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
