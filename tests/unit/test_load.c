/* load_log_reason(): what the log says of a program the kernel refused, taken from the
 * verifier logs of real kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "load.h"

/* Linux 6.18's verifier: the error, then the statistics. */
static const char log_618[] =
	"func#0 @0\n"
	"0: R1=ctx() R10=fp0\n"
	"6: (85) call bpf_map_lookup_elem#1     ; R0_w=map_value_or_null(id=1,map=seen)\n"
	"7: (79) r1 = *(u64 *)(r0 +0)\n"
	"R0 invalid mem access 'map_value_or_null'\n"
	"processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
	"mark_read 0\n";

/* Linux 7.3's: a hint between the error and the statistics. */
static const char log_73[] = "7: (79) r1 = *(u64 *)(r0 +0)\n"
			     "R0 invalid mem access 'map_value_or_null'\n"
			     "Suggestion:\n"
			     "  Add a NULL check before the access and dereference the pointer "
			     "only on the non-NULL path.\n"
			     "processed 8 insns (limit 1000000) max_states_per_insn 0\n";

/* Linux 7.3's verifier: the trace, then a report (excerpt of a real one). */
static const char log_73_report[] =
	"7: (79) r1 = *(u64 *)(r0 +0)\n"
	"R0 invalid mem access 'map_value_or_null'\n"
	"\n"
	"Verification failed: Register Type Safety: Invalid dereference\n"
	"\n"
	"Reason:\n"
	"  R0 may be NULL here (a nullable map value pointer).\n"
	"\n"
	"At:\n"
	"  Instruction context:\n"
	"       6 | (85) call bpf_map_lookup_elem#1\n"
	"  >>>  7 | (79) r1 = *(u64 *)(r0 +0)\n"
	"       8 | (b4) w0 = 1\n"
	"\n"
	"Suggestion:\n"
	"  Add a NULL check before the access and dereference the pointer only on the "
	"non-NULL path.\n"
	"\n"
	"processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0\n";

static void test_error_lines_without_the_statistics(void **state)
{
	char out[LOAD_WHY_MAX];

	(void)state;
	load_log_reason(log_618, out, sizeof(out));
	assert_string_equal(out, "7: (79) r1 = *(u64 *)(r0 +0) | R0 invalid mem access "
				 "'map_value_or_null'");
}

static void test_hint_follows_the_error(void **state)
{
	char out[LOAD_WHY_MAX];

	(void)state;
	load_log_reason(log_73, out, sizeof(out));
	assert_string_equal(out, "7: (79) r1 = *(u64 *)(r0 +0) | R0 invalid mem access "
				 "'map_value_or_null' (hint: Add a NULL check before the access "
				 "and dereference the pointer only on the non-NULL path.)");
}

static void test_report_after_the_trace(void **state)
{
	char out[LOAD_WHY_MAX];

	(void)state;
	load_log_reason(log_73_report, out, sizeof(out));
	assert_string_equal(out, "7: (79) r1 = *(u64 *)(r0 +0) | R0 invalid mem access "
				 "'map_value_or_null' (hint: Add a NULL check before the access "
				 "and dereference the pointer only on the non-NULL path.)");
}

static void test_short_buffers_and_empty_logs(void **state)
{
	char out[16];

	(void)state;
	load_log_reason("", out, sizeof(out));
	assert_string_equal(out, "");
	load_log_reason("processed 1 insns\n", out, sizeof(out));
	assert_string_equal(out, "");
	load_log_reason(log_73, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_memory_equal(out, "7: (79) r1 = *(", 15);
	load_log_reason("one line, no newline", out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_lines_without_the_statistics),
		cmocka_unit_test(test_hint_follows_the_error),
		cmocka_unit_test(test_report_after_the_trace),
		cmocka_unit_test(test_short_buffers_and_empty_logs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
