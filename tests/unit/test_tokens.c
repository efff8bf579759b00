/* Unit tests for the static token file (user/web/tokens.h), kube-apiserver's --token-auth-file
 * format: CSV records "token,user,uid[,\"group1,group2\"]". tokens_parse is checked on
 * text (counts and exact one-line errors), tokens_open and tokens_lookup through a
 * temporary file (exact identities, reloading a changed file, keeping the old tokens when
 * the new file is broken). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokens.h"

#define NAME "t.csv"

static size_t parse_ok_len(const char *text, size_t len)
{
	struct token_entries *e = NULL;
	char err[256] = "";
	size_t n;

	assert_int_equal(tokens_parse(NAME, text, len, &e, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(e);
	n = tokens_count(e);
	tokens_entries_free(e);
	return n;
}

static size_t parse_ok(const char *text)
{
	return parse_ok_len(text, strlen(text));
}

static void check_error_len(const char *text, size_t len, const char *want)
{
	struct token_entries *e = (struct token_entries *)0x1;
	char err[256];

	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
	assert_int_equal(tokens_parse(NAME, text, len, &e, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	/* Nothing handed out on failure. */
	assert_ptr_equal(e, (struct token_entries *)0x1);
}

static void check_error(const char *text, const char *want)
{
	check_error_len(text, strlen(text), want);
}

static void test_parse_counts(void **state)
{
	(void)state;
	assert_int_equal(parse_ok(""), 0);
	assert_int_equal(parse_ok("\n\n\r\n"), 0);
	assert_int_equal(parse_ok("tok1,alice,1001\n"), 1);
	assert_int_equal(parse_ok("tok1,alice,1001"), 1); /* no final newline */
	assert_int_equal(parse_ok("tok1,alice,1001,\"g1,g2\"\ntok2,bob,1002\n"), 2);
	/* Blank lines are skipped, wherever they are. */
	assert_int_equal(parse_ok("\ntok1,alice,1001\n\n\ntok2,bob,1002\n\n"), 2);
	assert_int_equal(parse_ok("tok1,alice,1001\r\n\r\ntok2,bob,1002\r\n"), 2);
	/* Quotes: "" escapes a quote, a quoted field may hold commas and line breaks. */
	assert_int_equal(parse_ok("\"to\"\"k\",\"a,b\",\"1\n2\"\n"), 1);
	/* More than four columns: kube-apiserver ignores the rest. */
	assert_int_equal(parse_ok("tok1,alice,1001,g1,extra\n"), 1);
	/* An empty uid is allowed. */
	assert_int_equal(parse_ok("tok1,alice,\n"), 1);
}

static void test_parse_errors(void **state)
{
	(void)state;
	check_error("tok1,alice\n",
		    NAME ":1: expected at least 3 columns (token, user name, user uid), found 2");
	check_error("tok1\n",
		    NAME ":1: expected at least 3 columns (token, user name, user uid), found 1");
	/* Line numbers count blank lines too. */
	check_error("tok1,alice,1\n\n\ntok2;bob;2\n",
		    NAME ":4: expected at least 3 columns (token, user name, user uid), found 1");
	check_error("tok1,\"alice,1\n", NAME ":1: unterminated quoted field");
	check_error("tok1,alice,1\n\"tok2,bob,2\n", NAME ":2: unterminated quoted field");
	check_error(",alice,1\n", NAME ":1: empty token");
	check_error("tok1,,1\n", NAME ":1: empty user name");
	check_error("  ,alice,1\n", NAME ":1: empty token");
	check_error_len("tok1,alice,1\0\n", 14, NAME ": contains a NUL byte");
	check_error_len("\0", 1, NAME ": contains a NUL byte");
	/* A token listed twice: the first repetition, with both lines, never the token. */
	check_error("tok1,alice,1\ntok2,bob,2\n\ntok1,carol,3\ntok2,dave,4\n",
		    NAME ":4: the same token as line 1: each token may be listed once");
	check_error("a,x,1\nb,y,2\nb,z,3\na,w,4\n",
		    NAME ":3: the same token as line 2: each token may be listed once");
}

/* A closing quote ends the field: anything but a comma or the end of the line after it
 * is malformed (encoding/csv: `extraneous or missing " in quoted-field`), not the start
 * of another record on the same line. */
static void test_parse_text_after_quote(void **state)
{
	static const char text[] = "tok1,alice,\"1001\"tok2,admin,0\n";
	struct token_entries *e = NULL;
	char err[256] = "";
	int ret;

	(void)state;
	ret = tokens_parse(NAME, text, strlen(text), &e, err, sizeof(err));
	if (!ret) {
		size_t n = tokens_count(e);

		tokens_entries_free(e);
		fail_msg("one line accepted as %zu records", n);
	}
	assert_int_equal(ret, -EINVAL);
	assert_memory_equal(err, NAME ":1: ", strlen(NAME ":1: "));
}

/* Errors name the line a record starts on, whatever came before: a quoted line break
 * (encoding/csv counts it) and CRLF line ends included. */
static void test_parse_error_line_after_quoted_break(void **state)
{
	(void)state;
	check_error("tok1,alice,\"multi\nline\"\ntok2\n",
		    NAME ":3: expected at least 3 columns (token, user name, user uid), found 1");
}

static void test_parse_error_line_crlf(void **state)
{
	(void)state;
	check_error("tok1,alice,1001\r\ntok2\r\n",
		    NAME ":2: expected at least 3 columns (token, user name, user uid), found 1");
	check_error("tok1,alice,\"1001\"\r\ntok2\r\n",
		    NAME ":2: expected at least 3 columns (token, user name, user uid), found 1");
}

/* --- tokens_open and tokens_lookup, through a file ------------------------------------ */

struct fixture {
	char dir[64];
	char path[128];
};

static void write_file(const char *path, const char *text)
{
	char tmp[160];
	FILE *f;

	/* Replaced as an editor or a Secret volume does it: a new file renamed over. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_tokens.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/tokens.csv", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char tmp[160];

	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->path);
	unlink(tmp);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void assert_identity(const struct identity *id, const char *user, const char *uid,
			    size_t n_groups, const char *const *groups)
{
	assert_string_equal(id->user, user);
	if (uid)
		assert_string_equal(id->uid, uid);
	else
		assert_null(id->uid);
	assert_int_equal(id->n_groups, n_groups);
	for (size_t i = 0; i < n_groups; i++)
		assert_string_equal(id->groups[i], groups[i]);
}

static int lookup(struct token_file *tf, const char *token, struct identity *id)
{
	memset(id, 0, sizeof(*id));
	return tokens_lookup(tf, token, strlen(token), id);
}

static void assert_unknown(struct token_file *tf, const char *token)
{
	struct identity id;
	struct identity zero = { 0 };

	assert_int_equal(lookup(tf, token, &id), 0);
	assert_memory_equal(&id, &zero, sizeof(id)); /* untouched */
}

/* Sleep past the next wall-clock second: the file is looked at most once a second. */
static void next_second(void)
{
	struct timespec ts = { 1, 100 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static void test_lookup(void **state)
{
	static const char *const g_alice[] = { "system:monitoring", "sre" };
	static const char *const g_dave[] = { "a", "b", "c" };
	struct fixture *fx = *state;
	struct token_file *tf = NULL;
	struct identity id;
	char err[256] = "";

	write_file(fx->path, "# kube-apiserver has no comments: this is a token too,x,y\n"
			     "tokA,alice,1001,\"system:monitoring,sre\"\n"
			     "\n"
			     "  tokB, bob ,\n"
			     "\"to\"\"kC\",\"carol, jr\",\"1003\"\n"
			     "tokD,dave,1004,\"a, b,,c\"\n");
	assert_int_equal(tokens_open(fx->path, &tf, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_int_equal(lookup(tf, "tokA", &id), 1);
	assert_identity(&id, "alice", "1001", 2, g_alice);
	identity_free(&id);

	/* Leading blanks of a field are trimmed, trailing ones kept; no uid is NULL. */
	assert_int_equal(lookup(tf, "tokB", &id), 1);
	assert_identity(&id, "bob ", NULL, 0, NULL);
	identity_free(&id);

	assert_int_equal(lookup(tf, "to\"kC", &id), 1);
	assert_identity(&id, "carol, jr", "1003", 0, NULL);
	identity_free(&id);

	/* Groups: split on commas, leading blanks trimmed, empty names dropped. */
	assert_int_equal(lookup(tf, "tokD", &id), 1);
	assert_identity(&id, "dave", "1004", 3, g_dave);
	identity_free(&id);

	assert_int_equal(lookup(tf, "# kube-apiserver has no comments: this is a token too", &id),
			 1);
	assert_identity(&id, "x", "y", 0, NULL);
	identity_free(&id);

	/* The length counts, not a NUL. */
	memset(&id, 0, sizeof(id));
	assert_int_equal(tokens_lookup(tf, "tokAXYZ", 4, &id), 1);
	assert_string_equal(id.user, "alice");
	identity_free(&id);

	assert_unknown(tf, "tokE");
	assert_unknown(tf, "tok");
	assert_unknown(tf, "tokA ");
	assert_unknown(tf, "toka");
	assert_unknown(tf, "");
	tokens_close(tf);
}

static void test_reload(void **state)
{
	struct fixture *fx = *state;
	struct token_file *tf = NULL;
	struct identity id;
	char err[256] = "";

	write_file(fx->path, "old,alice,1\n");
	assert_int_equal(tokens_open(fx->path, &tf, err, sizeof(err)), 0);
	assert_int_equal(lookup(tf, "old", &id), 1);
	identity_free(&id);

	/* A new file: seen after the next second, the old tokens gone. */
	write_file(fx->path, "new,bob,2,\"g\"\n");
	next_second();
	assert_int_equal(lookup(tf, "new", &id), 1);
	assert_string_equal(id.user, "bob");
	assert_string_equal(id.uid, "2");
	assert_int_equal(id.n_groups, 1);
	assert_string_equal(id.groups[0], "g");
	identity_free(&id);
	assert_unknown(tf, "old");

	/* A broken file keeps the tokens we have. */
	write_file(fx->path, "newer,carol\n");
	next_second();
	assert_unknown(tf, "newer");
	assert_int_equal(lookup(tf, "new", &id), 1);
	assert_string_equal(id.user, "bob");
	identity_free(&id);

	/* Once fixed, it is read again. */
	write_file(fx->path, "newer,carol,3\n");
	next_second();
	assert_int_equal(lookup(tf, "newer", &id), 1);
	assert_string_equal(id.user, "carol");
	identity_free(&id);
	assert_unknown(tf, "new");

	/* A deleted file keeps them too. */
	unlink(fx->path);
	next_second();
	assert_int_equal(lookup(tf, "newer", &id), 1);
	identity_free(&id);
	tokens_close(tf);
}

static void test_open_errors(void **state)
{
	struct fixture *fx = *state;
	struct token_file *tf = NULL;
	char err[256], want[320];

	assert_int_equal(tokens_open(fx->path, &tf, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s: cannot open the static tokens file: No such file or directory", fx->path);
	assert_string_equal(err, want);
	assert_null(tf);

	write_file(fx->path, "ok,alice,1\nbroken\n");
	assert_int_equal(tokens_open(fx->path, &tf, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:2: expected at least 3 columns (token, user name, user uid), found 1",
		 fx->path);
	assert_string_equal(err, want);
	assert_null(tf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_counts),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_text_after_quote),
		cmocka_unit_test(test_parse_error_line_after_quoted_break),
		cmocka_unit_test(test_parse_error_line_crlf),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
