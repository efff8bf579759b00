/* Loading with refused programs left out (user/core/load.c), against the running kernel's
 * verifier: the refused program is named with the verifier's reason, the rest of the
 * object loads and works, and a required program's refusal fails the load. Needs root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "buf.h"
#include "load.h"
#include "refuse.skel.h"

struct ctx {
	struct refuse_bpf *skel;
	int opened;
	int destroyed;
	size_t refused_seen; /* what open was told the last time */
};

static int open_skel(void *c, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct ctx *ctx = c;

	ctx->skel = refuse_bpf__open();
	if (!ctx->skel)
		return -errno;
	ctx->skel->rodata->pid = (uint32_t)getpid();
	ctx->skel->rodata->syscall_nr = SYS_getppid;
	ctx->opened++;
	ctx->refused_seen = refused->n;
	*skel = ctx->skel->skeleton;
	return 0;
}

static void destroy_skel(void *c)
{
	struct ctx *ctx = c;

	refuse_bpf__destroy(ctx->skel);
	ctx->skel = NULL;
	ctx->destroyed++;
}

static const struct load_ops ops = { open_skel, destroy_skel };

static void test_refused_program_left_out_and_named(void **state)
{
	struct load_refusals refused;
	struct ctx ctx = { 0 };
	uint32_t zero = 0;
	uint64_t n = 0;
	struct bpf_link *link;
	struct attach_registry *r = attach_registry_new();
	struct attach_group *g = attach_group_new(r, "test");

	(void)state;
	assert_non_null(g);
	assert_int_equal(load_skeleton(g, &ops, &ctx, NULL, &refused), 0);
	/* Opened twice: the first load failed on refused, the second left it out. */
	assert_int_equal(ctx.opened, 2);
	assert_int_equal(ctx.destroyed, 1);
	assert_int_equal(ctx.refused_seen, 1);
	assert_int_equal(refused.n, 1);
	assert_string_equal(refused.items[0].program, "refused");
	assert_int_equal(refused.items[0].err, -EACCES);
	/* The verifier's own words, not just "Permission denied". */
	assert_non_null(strstr(refused.items[0].why, "invalid mem access"));
	assert_non_null(load_refusal_of(&refused, "refused"));
	assert_null(load_refusal_of(&refused, "accepted"));
	assert_false(bpf_program__autoload(ctx.skel->progs.refused));
	assert_true(bpf_program__fd(ctx.skel->progs.accepted) >= 0);

	/* What was accepted works: three getppid calls, three counted. */
	link = bpf_program__attach(ctx.skel->progs.accepted);
	assert_non_null(link);
	for (int i = 0; i < 3; i++)
		syscall(SYS_getppid);
	bpf_link__destroy(link);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(ctx.skel->maps.counts), &zero, &n), 0);
	assert_int_equal(n, 3);

	load_refusals_free(&refused);
	destroy_skel(&ctx);
	attach_registry_free(r);
}

static void test_required_program_refused_fails_the_load(void **state)
{
	const char *const required[] = { "refused", NULL };
	struct load_refusals refused;
	struct ctx ctx = { 0 };
	struct buf b;
	struct attach_registry *r = attach_registry_new();
	struct attach_group *g = attach_group_new(r, "test-required");

	(void)state;
	assert_non_null(g);
	assert_int_equal(load_skeleton(g, &ops, &ctx, required, &refused), -EACCES);
	assert_int_equal(ctx.opened, 1);
	assert_int_equal(ctx.destroyed, 1); /* nothing left behind */
	assert_null(ctx.skel);
	assert_int_equal(refused.n, 0);
	/* What --probe shows of the module: the refused program with the verifier's words. */
	buf_init(&b);
	attach_describe(g, &b);
	assert_non_null(buf_cstr(&b));
	assert_non_null(strstr(b.data, "refused not loaded: "));
	assert_non_null(strstr(b.data, "invalid mem access"));
	buf_free(&b);
	attach_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_program_left_out_and_named),
		cmocka_unit_test(test_required_program_refused_fails_the_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
