/* Unit tests for the growable byte buffer (user/lib/buf.h): growth, formatting, handing the
 * allocation over, reset and the sticky failure flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_init_is_empty(void **state)
{
	struct buf b;

	(void)state;
	memset(&b, 0xa5, sizeof(b));
	buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_false(b.failed);
	/* An empty buffer still reads as an empty string. */
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.data);
}

static void test_puts_putc_append(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "hello");
	buf_putc(&b, ',');
	buf_putc(&b, ' ');
	buf_append(&b, "world!!!", 5);
	assert_int_equal(b.len, 12);
	assert_string_equal(buf_cstr(&b), "hello, world");
	assert_int_equal(b.data[b.len], 0);
	buf_puts(&b, "");
	assert_int_equal(b.len, 12);
	buf_free(&b);
}

static void test_append_binary(void **state)
{
	static const char bytes[] = { 'a', 0, 'b', 0, (char)0xff };
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_append(&b, bytes, sizeof(bytes));
	buf_putc(&b, 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, bytes, sizeof(bytes));
	assert_int_equal(b.data[5], 0);
	assert_int_equal(b.data[6], 0); /* the terminator, not counted */
	buf_free(&b);
}

static void test_growth(void **state)
{
	char chunk[100];
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_true(buf_reserve(&b, 0));
	assert_int_equal(b.cap, 256);
	/* 255 bytes plus the terminator still fit in the first allocation. */
	memset(chunk, 'x', sizeof(chunk));
	buf_append(&b, chunk, 100);
	buf_append(&b, chunk, 100);
	buf_append(&b, chunk, 55);
	assert_int_equal(b.len, 255);
	assert_int_equal(b.cap, 256);
	buf_putc(&b, 'y');
	assert_int_equal(b.len, 256);
	assert_int_equal(b.cap, 512);
	/* Doubling until the request fits. */
	assert_true(buf_reserve(&b, 5000));
	assert_int_equal(b.cap, 8192);
	assert_int_equal(b.len, 256);
	for (size_t i = 0; i < 255; i++)
		assert_int_equal(b.data[i], 'x');
	assert_int_equal(b.data[255], 'y');
	assert_int_equal(b.data[256], 0);
	buf_free(&b);
}

static void test_many_appends_keep_contents(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	for (int i = 0; i < 100000; i++)
		buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > 100000);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(b.data[100000], 0);
	buf_free(&b);
}

static void test_printf(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_printf(&b, "%s=%d", "n", -42);
	buf_printf(&b, " %llu %05.1f%%", 18446744073709551615ULL, 2.25);
	assert_string_equal(buf_cstr(&b), "n=-42 18446744073709551615 002.2%");
	assert_int_equal(b.len, strlen("n=-42 18446744073709551615 002.2%"));
	buf_printf(&b, "%s", "");
	assert_int_equal(b.len, strlen("n=-42 18446744073709551615 002.2%"));
	buf_free(&b);
}

static void test_printf_long(void **state)
{
	char *big = malloc(10001);
	struct buf b;

	(void)state;
	assert_non_null(big);
	for (int i = 0; i < 10000; i++)
		big[i] = (char)('0' + i % 10);
	big[10000] = 0;
	buf_init(&b);
	buf_puts(&b, "<");
	buf_printf(&b, "%s|%s", big, big);
	buf_puts(&b, ">");
	assert_int_equal(b.len, 20003);
	assert_int_equal(b.data[0], '<');
	assert_memory_equal(b.data + 1, big, 10000);
	assert_int_equal(b.data[10001], '|');
	assert_memory_equal(b.data + 10002, big, 10000);
	assert_int_equal(b.data[20002], '>');
	assert_int_equal(b.data[20003], 0);
	buf_free(&b);
	free(big);
}

static void test_steal(void **state)
{
	struct buf b;
	size_t len = 0;
	char *s;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "abc");
	s = buf_steal(&b, &len);
	assert_string_equal(s, "abc");
	assert_int_equal(len, 3);
	/* The buffer is empty again and no longer owns the memory. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	buf_puts(&b, "next");
	assert_string_equal(buf_cstr(&b), "next");
	assert_ptr_not_equal(b.data, s);
	assert_string_equal(s, "abc");
	free(s);
	buf_free(&b);
}

static void test_steal_empty(void **state)
{
	struct buf b;
	size_t len = 99;
	char *s;

	(void)state;
	buf_init(&b);
	s = buf_steal(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	buf_init(&b);
	buf_puts(&b, "x");
	s = buf_steal(&b, NULL);
	assert_string_equal(s, "x");
	free(s);
}

static void test_reset(void **state)
{
	struct buf b;
	char *data;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "some text");
	data = b.data;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	/* The allocation is kept for reuse. */
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, 256);
	buf_puts(&b, "new");
	assert_string_equal(buf_cstr(&b), "new");
	buf_free(&b);
}

static void test_failure_is_sticky(void **state)
{
	struct buf b;
	size_t len = 7;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "abc");
	assert_false(buf_reserve(&b, SIZE_MAX));
	assert_true(b.failed);
	buf_puts(&b, "def");
	buf_printf(&b, "%d", 1);
	buf_putc(&b, 'g');
	assert_int_equal(b.len, 3);
	assert_false(buf_reserve(&b, 1));
	assert_null(buf_cstr(&b));
	/* reset clears the failure */
	buf_reset(&b);
	assert_false(b.failed);
	buf_puts(&b, "ok");
	assert_string_equal(buf_cstr(&b), "ok");
	/* steal after a failure hands out nothing and frees */
	assert_false(buf_reserve(&b, SIZE_MAX - 1));
	assert_null(buf_steal(&b, &len));
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_false(b.failed);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_is_empty),
		cmocka_unit_test(test_puts_putc_append),
		cmocka_unit_test(test_append_binary),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_many_appends_keep_contents),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_long),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_steal_empty),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_failure_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
