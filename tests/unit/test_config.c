/* Unit tests for the YAML configuration parser (user/core/config.h): every field of a valid
 * file lands where it should, defaults apply, and every kind of mistake yields exactly one
 * line "NAME:LINE:COL: PATH: MESSAGE" pointing at the offending node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"

enum { SYS_MAX_ENTRIES, SYS_MAX_ERROR_ENTRIES };

static const struct cfg_option syscalls_options[] = {
	[SYS_MAX_ENTRIES] = { "max_entries", 16, 1 << 20, 2048, "pairs" },
	[SYS_MAX_ERROR_ENTRIES] = { "max_error_entries", 16, 1 << 16, 512, "triples" },
	{ 0 },
};

static const struct cfg_option net_options[] = {
	{ "max_peers", 1, 1024, 64, "peers per target" },
	{ 0 },
};

enum { MOD_SYSCALLS, MOD_NET, N_MODS };

static const struct cfg_module_desc mods[N_MODS] = {
	[MOD_SYSCALLS] = { "syscalls", syscalls_options },
	[MOD_NET] = { "net", net_options },
};

/* A minimal valid prefix that later sections are appended to. */
#define TARGET_A "targets:\n  - name: a\n    process: {comm: [a]}\n"

static int parse(const char *yaml, struct config *cfg, char *err, size_t err_size)
{
	return config_parse("c.yaml", yaml, strlen(yaml), mods, N_MODS, cfg, err, err_size);
}

static void assert_zeroed(const struct config *cfg)
{
	struct config zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(cfg, &zero, sizeof(zero));
}

static void check_error(const char *yaml, const char *want)
{
	struct config cfg;
	char err[512];

	/* Garbage in cfg and err: a failed parse must leave cfg empty and err exact. */
	memset(&cfg, 0x5a, sizeof(cfg));
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = 0;
	assert_int_equal(parse(yaml, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_zeroed(&cfg);
	config_free(&cfg); /* harmless on an emptied config */
	assert_zeroed(&cfg);
}

static struct config parse_ok(const char *yaml)
{
	struct config cfg;
	char err[512] = "";
	int ret = parse(yaml, &cfg, err, sizeof(err));

	assert_string_equal(err, ""); /* shows the message if the parse failed */
	assert_int_equal(ret, 0);
	return cfg;
}

static void test_valid_full_config(void **state)
{
	struct config cfg = parse_ok("targets:\n"
				     "  - name: controllers\n"
				     "    process:\n"
				     "      comm: [manager, kube-controller]\n"
				     "      exe: [\"/usr/local/bin/*\", /opt/*/bin/manager]\n"
				     "      cgroup:\n"
				     "        - /system.slice/*.service\n"
				     "  - name: \"local \\\"x\\\"\"\n"
				     "    process:\n"
				     "      cgroup: ['/kubepods/*']\n"
				     "limits:\n"
				     "  label_sets: 2000\n"
				     "  processes: 1\n"
				     "  cgroups: 1048576\n"
				     "modules:\n"
				     "  syscalls:\n"
				     "    enabled: false\n"
				     "    max_entries: 16\n"
				     "    max_error_entries: 65536\n"
				     "  net:\n"
				     "    max_peers: 1024\n"
				     "    enabled: True\n");
	const struct process_selector *p0, *p1;

	(void)state;
	assert_int_equal(cfg.n_targets, 2);
	p0 = &cfg.targets[0].process;
	p1 = &cfg.targets[1].process;
	assert_string_equal(cfg.targets[0].name, "controllers");
	assert_int_equal(p0->comm.n, 2);
	assert_string_equal(p0->comm.items[0], "manager");
	assert_string_equal(p0->comm.items[1], "kube-controller");
	assert_int_equal(p0->exe.n, 2);
	assert_string_equal(p0->exe.items[0], "/usr/local/bin/*");
	assert_string_equal(p0->exe.items[1], "/opt/*/bin/manager");
	assert_int_equal(p0->cgroup.n, 1);
	assert_string_equal(p0->cgroup.items[0], "/system.slice/*.service");

	assert_string_equal(cfg.targets[1].name, "local \"x\"");
	assert_int_equal(p1->comm.n, 0);
	assert_null(p1->comm.items);
	assert_int_equal(p1->exe.n, 0);
	assert_null(p1->exe.items);
	assert_int_equal(p1->cgroup.n, 1);
	assert_string_equal(p1->cgroup.items[0], "/kubepods/*");

	assert_int_equal(cfg.limits[CFG_LIMIT_LABEL_SETS], 2000);
	assert_int_equal(cfg.limits[CFG_LIMIT_PROCESSES], 1);
	assert_int_equal(cfg.limits[CFG_LIMIT_CGROUPS], 1048576);

	assert_int_equal(cfg.n_modules, N_MODS);
	assert_false(cfg.modules[MOD_SYSCALLS].enabled);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ENTRIES], 16);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ERROR_ENTRIES], 65536);
	assert_true(cfg.modules[MOD_NET].enabled);
	assert_int_equal(cfg.modules[MOD_NET].values[0], 1024);

	config_free(&cfg);
	assert_zeroed(&cfg);
	config_free(&cfg); /* twice is fine */
}

static void test_defaults(void **state)
{
	struct config cfg = parse_ok(TARGET_A);

	(void)state;
	assert_int_equal(cfg.n_targets, 1);
	assert_string_equal(cfg.targets[0].name, "a");
	assert_int_equal(cfg.targets[0].process.comm.n, 1);
	assert_string_equal(cfg.targets[0].process.comm.items[0], "a");
	assert_int_equal(cfg.limits[CFG_LIMIT_LABEL_SETS], 256);
	assert_int_equal(cfg.limits[CFG_LIMIT_PROCESSES], 8192);
	assert_int_equal(cfg.limits[CFG_LIMIT_CGROUPS], 4096);
	assert_int_equal(cfg.label_set_grace_ms, 5 * 60 * 1000);
	for (int i = 0; i < CFG_LIMIT_COUNT; i++)
		assert_int_equal(cfg.limits[i], cfg_limit_options[i].def);
	/* Modules not mentioned are enabled with their defaults. */
	assert_int_equal(cfg.n_modules, N_MODS);
	assert_true(cfg.modules[MOD_SYSCALLS].enabled);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ENTRIES], 2048);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ERROR_ENTRIES], 512);
	assert_true(cfg.modules[MOD_NET].enabled);
	assert_int_equal(cfg.modules[MOD_NET].values[0], 64);
	config_free(&cfg);
}

static void test_partial_overrides(void **state)
{
	struct config cfg = parse_ok(TARGET_A "limits:\n"
					      "  processes: 10\n"
					      "modules:\n"
					      "  syscalls:\n"
					      "    max_error_entries: 16\n"
					      "  net: ~\n");

	(void)state;
	assert_int_equal(cfg.limits[CFG_LIMIT_LABEL_SETS], 256);
	assert_int_equal(cfg.limits[CFG_LIMIT_PROCESSES], 10);
	assert_int_equal(cfg.limits[CFG_LIMIT_CGROUPS], 4096);
	assert_true(cfg.modules[MOD_SYSCALLS].enabled);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ENTRIES], 2048);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ERROR_ENTRIES], 16);
	assert_true(cfg.modules[MOD_NET].enabled);
	assert_int_equal(cfg.modules[MOD_NET].values[0], 64);
	config_free(&cfg);
}

static void test_bool_spellings(void **state)
{
	static const struct {
		const char *text;
		bool want;
	} cases[] = {
		{ "true", true },   { "True", true },	{ "TRUE", true },
		{ "false", false }, { "False", false }, { "FALSE", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[256];
		struct config cfg;

		snprintf(yaml, sizeof(yaml), TARGET_A "modules:\n  net:\n    enabled: %s\n",
			 cases[i].text);
		cfg = parse_ok(yaml);
		assert_int_equal(cfg.modules[MOD_NET].enabled, cases[i].want);
		assert_true(cfg.modules[MOD_SYSCALLS].enabled);
		config_free(&cfg);
	}
}

static void test_bounds_inclusive(void **state)
{
	struct config cfg =
		parse_ok("targets:\n"
			 "  - name: a\n"
			 "    process:\n"
			 "      comm: [abcdefghijklmno]\n" /* 15 bytes: TASK_COMM_LEN - 1 */
			 "limits: {label_sets: 1, processes: 4194304, cgroups: 1}\n"
			 "modules: {syscalls: {max_entries: 1048576}}\n");

	(void)state;
	assert_string_equal(cfg.targets[0].process.comm.items[0], "abcdefghijklmno");
	assert_int_equal(cfg.limits[CFG_LIMIT_LABEL_SETS], 1);
	assert_int_equal(cfg.limits[CFG_LIMIT_PROCESSES], 4194304);
	assert_int_equal(cfg.limits[CFG_LIMIT_CGROUPS], 1);
	assert_int_equal(cfg.modules[MOD_SYSCALLS].values[SYS_MAX_ENTRIES], 1048576);
	config_free(&cfg);
}

static void test_error_invalid_yaml(void **state)
{
	(void)state;
	check_error("a: b: c",
		    "c.yaml:1:5: invalid YAML: mapping values are not allowed in this context");
	check_error(
		"targets: [a",
		"c.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a flow "
		"sequence");
	check_error("targets:\n\t- x", "c.yaml:2:1: invalid YAML: found character that cannot "
				       "start any token while scanning for the next token");
}

/* libyaml reports a reader error (bad UTF-8 in the file) by byte offset, not by mark: the
 * position must still point at the offending byte, not at 1:1. */
static void test_error_invalid_utf8_position(void **state)
{
	static const char yaml[] = "targets:\n  - name: a\n    process: {comm: [\xff]}\n";
	static const char want[] = "c.yaml:3:22: invalid YAML: ";
	struct config cfg;
	char err[512] = "", head[64];

	(void)state;
	assert_int_equal(parse(yaml, &cfg, err, sizeof(err)), -EINVAL);
	/* Only the position is pinned: the rest of the message is libyaml's. */
	snprintf(head, sizeof(head), "%.*s", (int)strlen(want), err);
	assert_string_equal(head, want);
	assert_zeroed(&cfg);
}

static void test_error_empty_document(void **state)
{
	(void)state;
	check_error("", "c.yaml: empty configuration: expected a mapping with targets");
	check_error("# only a comment\n",
		    "c.yaml: empty configuration: expected a mapping with targets");
}

static void test_error_top_level_not_mapping(void **state)
{
	(void)state;
	check_error("- a\n", "c.yaml:1:1: expected a mapping at the top level, got a sequence");
	check_error("just text", "c.yaml:1:1: expected a mapping at the top level, got a scalar");
	check_error("\n  ~\n", "c.yaml:2:3: expected a mapping at the top level, got a scalar");
}

static void test_error_unknown_top_level_key(void **state)
{
	(void)state;
	check_error(TARGET_A "foo: 1\n", "c.yaml:4:1: unknown key \"foo\" (expected targets, "
					 "limits, modules, kubernetes or label_set_grace)");
	check_error("? [a]\n: b\n", "c.yaml:1:3: keys must be strings");
}

static void test_label_set_grace(void **state)
{
	struct config cfg = parse_ok(TARGET_A "label_set_grace: 1m30s\n");

	(void)state;
	assert_int_equal(cfg.label_set_grace_ms, 90 * 1000);
	config_free(&cfg);
	check_error(TARGET_A "label_set_grace: 500ms\n",
		    "c.yaml:4:18: label_set_grace: expected a duration from 1000ms to "
		    "604800000ms, got 500ms");
	check_error(TARGET_A "label_set_grace: soon\n",
		    "c.yaml:4:18: label_set_grace: expected a duration such as 30s, 5m or 1h30m, "
		    "got \"soon\"");
}

static void test_error_missing_targets(void **state)
{
	(void)state;
	check_error("\n\nlimits:\n  processes: 5\n", "c.yaml:3:1: missing key \"targets\"");
}

static void test_error_targets_shape(void **state)
{
	(void)state;
	check_error("targets: []\n", "c.yaml:1:10: targets: expected at least one target");
	check_error("targets: {}\n",
		    "c.yaml:1:10: targets: expected a sequence of targets, got a mapping");
	check_error("targets:\n",
		    "c.yaml:1:9: targets: expected a sequence of targets, got a scalar");
	check_error("targets:\n  - foo\n",
		    "c.yaml:2:5: targets[0]: expected a mapping, got a scalar");
}

static void test_error_target_without_name(void **state)
{
	(void)state;
	check_error("targets:\n- process: {comm: [a]}\n",
		    "c.yaml:2:3: targets[0]: missing key \"name\"");
	check_error("targets:\n  - name:\n    process: {comm: [a]}\n",
		    "c.yaml:2:10: targets[0].name: expected target name, got null");
	check_error("targets:\n  - name: \"a\\0b\"\n    process: {comm: [a]}\n",
		    "c.yaml:2:11: targets[0].name: expected target name without NUL characters");
}

static void test_error_target_name_too_long(void **state)
{
	char name[130], yaml[300], want[200];

	(void)state;
	memset(name, 'n', 129);
	name[129] = 0;
	snprintf(yaml, sizeof(yaml), "targets:\n  - name: %s\n    process: {comm: [a]}\n", name);
	snprintf(want, sizeof(want),
		 "c.yaml:2:11: targets[0].name: expected target name of at most 128 bytes, got "
		 "129 bytes");
	check_error(yaml, want);
}

static void test_error_target_without_process(void **state)
{
	(void)state;
	check_error("targets:\n  - name: a\n", "c.yaml:2:5: targets[0]: expected exactly one "
					       "selector: \"process\" or \"kubernetes\"");
}

static void test_error_duplicate_target_names(void **state)
{
	(void)state;
	check_error("targets:\n"
		    "  - name: a\n"
		    "    process: {comm: [a]}\n"
		    "  - name: a\n"
		    "    process: {comm: [b]}\n",
		    "c.yaml:4:11: targets[1].name: duplicate target name \"a\"");
}

static void test_error_unknown_key_in_target(void **state)
{
	(void)state;
	check_error("targets:\n  - name: a\n    procss: {}\n",
		    "c.yaml:3:5: targets[0]: unknown key \"procss\" (expected name, process or "
		    "kubernetes)");
}

static void test_error_process_without_selector(void **state)
{
	(void)state;
	check_error(
		"targets:\n  - name: a\n    process: {}\n",
		"c.yaml:3:14: targets[0].process: expected at least one of comm, exe or cgroup");
	check_error("targets:\n  - name: a\n    process:\n",
		    "c.yaml:3:13: targets[0].process: expected a mapping, got a scalar");
	check_error("targets:\n  - name: a\n    process: {cmd: [a]}\n",
		    "c.yaml:3:15: targets[0].process: unknown key \"cmd\" (expected comm, exe or "
		    "cgroup)");
	check_error(
		"targets:\n  - name: a\n    process:\n      comm: []\n",
		"c.yaml:4:13: targets[0].process.comm: expected a non-empty sequence of process "
		"names");
}

static void test_error_comm_too_long(void **state)
{
	(void)state;
	check_error("targets:\n  - name: a\n    process:\n      comm: [ok, abcdefghijklmnop]\n",
		    "c.yaml:4:18: targets[0].process.comm[1]: expected process name of at most 15 "
		    "bytes, got 16 bytes");
}

static void test_error_glob_not_absolute(void **state)
{
	(void)state;
	check_error(
		"targets:\n"
		"  - name: a\n"
		"    process:\n"
		"      exe:\n"
		"        - /bin/x\n"
		"        - bin/*\n",
		"c.yaml:6:11: targets[0].process.exe[1]: expected an absolute path glob starting "
		"with '/', got \"bin/*\"");
	check_error("targets:\n  - name: a\n    process:\n      cgroup: [system.slice]\n",
		    "c.yaml:4:16: targets[0].process.cgroup[0]: expected an absolute path glob "
		    "starting with '/', got \"system.slice\"");
}

static void test_error_empty_item(void **state)
{
	(void)state;
	check_error("targets:\n  - name: a\n    process:\n      comm: [\"a\", \"\"]\n",
		    "c.yaml:4:19: targets[0].process.comm[1]: expected process name, got an empty "
		    "string");
	check_error("targets:\n  - name: a\n    process:\n      comm: [~]\n",
		    "c.yaml:4:14: targets[0].process.comm[0]: expected process name, got null");
	check_error(
		"targets:\n  - name: a\n    process: {comm: [[a]]}\n",
		"c.yaml:3:22: targets[0].process.comm[0]: expected process name, got a sequence");
}

static void test_error_not_a_sequence(void **state)
{
	(void)state;
	check_error(
		"targets:\n  - name: a\n    process:\n      comm: manager\n",
		"c.yaml:4:13: targets[0].process.comm: expected a sequence of process names, got "
		"a scalar");
	check_error("targets:\n  - name: a\n    process:\n      exe: {a: b}\n",
		    "c.yaml:4:12: targets[0].process.exe: expected a sequence of path globs, got a "
		    "mapping");
}

static void test_error_limits_out_of_range(void **state)
{
	(void)state;
	check_error(TARGET_A "limits:\n  processes: 0\n",
		    "c.yaml:5:14: limits.processes: expected an integer from 1 to 4194304, got 0");
	check_error(TARGET_A "limits:\n  label_sets: 1048577\n",
		    "c.yaml:5:15: limits.label_sets: expected an integer from 1 to 65536, got "
		    "1048577");
	check_error(TARGET_A "limits:\n  label_sets: -1\n",
		    "c.yaml:5:15: limits.label_sets: expected an integer from 1 to 65536, got -1");
	check_error(TARGET_A "modules: {syscalls: {max_entries: 15}}\n",
		    "c.yaml:4:35: modules.syscalls.max_entries: expected an integer from 16 to "
		    "1048576, got 15");
}

static void test_error_limits_not_integer(void **state)
{
	(void)state;
	check_error(
		TARGET_A "limits:\n  cgroups: 12a\n",
		"c.yaml:5:12: limits.cgroups: expected an integer from 1 to 1048576, got \"12a\"");
	check_error(
		TARGET_A "limits:\n  cgroups: \"12\"\n",
		"c.yaml:5:12: limits.cgroups: expected an integer from 1 to 1048576, got \"12\"");
	check_error(TARGET_A "limits: {label_sets: 0x10, processes: 1}\n",
		    "c.yaml:4:22: limits.label_sets: expected an integer from 1 to 65536, got "
		    "\"0x10\"");
	check_error(TARGET_A "limits: {label_sets: 1.5}\n",
		    "c.yaml:4:22: limits.label_sets: expected an integer from 1 to 65536, got "
		    "\"1.5\"");
	check_error(TARGET_A "limits: {label_sets: +5}\n",
		    "c.yaml:4:22: limits.label_sets: expected an integer from 1 to 65536, got "
		    "\"+5\"");
	check_error(TARGET_A "limits: {label_sets: 99999999999999999999}\n",
		    "c.yaml:4:22: limits.label_sets: expected an integer from 1 to 65536, got "
		    "\"99999999999999999999\"");
	check_error(TARGET_A "modules: {syscalls: {max_entries: [1]}}\n",
		    "c.yaml:4:35: modules.syscalls.max_entries: expected an integer from 16 to "
		    "1048576, got a sequence");
}

static void test_error_limits_shape(void **state)
{
	(void)state;
	check_error(TARGET_A "limits: 5\n", "c.yaml:4:9: limits: expected a mapping, got a scalar");
	check_error(TARGET_A "limits: {enabled: true}\n",
		    "c.yaml:4:10: limits: unknown key \"enabled\" (expected label_sets, processes, "
		    "cgroups, threads)");
}

static void test_error_unknown_module(void **state)
{
	(void)state;
	check_error(TARGET_A "modules:\n  bogus: {}\n",
		    "c.yaml:5:3: modules: unknown module \"bogus\" (expected syscalls, net)");
	check_error(TARGET_A "modules: [syscalls]\n",
		    "c.yaml:4:10: modules: expected a mapping, got a sequence");
	check_error(TARGET_A "modules:\n  syscalls: 5\n",
		    "c.yaml:5:13: modules.syscalls: expected a mapping, got a scalar");
}

static void test_error_unknown_module_option(void **state)
{
	(void)state;
	check_error(TARGET_A "modules:\n  syscalls:\n    max_entry: 5\n",
		    "c.yaml:6:5: modules.syscalls: unknown key \"max_entry\" (expected enabled, "
		    "max_entries, max_error_entries)");
	check_error(TARGET_A "modules:\n  net: {max_entries: 5}\n",
		    "c.yaml:5:9: modules.net: unknown key \"max_entries\" (expected enabled, "
		    "max_peers)");
}

static void test_error_enabled_not_bool(void **state)
{
	(void)state;
	check_error(TARGET_A "modules:\n  syscalls:\n    enabled: \"yes\"\n",
		    "c.yaml:6:14: modules.syscalls.enabled: expected true or false, got \"yes\"");
	/* YAML 1.1's yes/no/on/off are not booleans here. */
	check_error(TARGET_A "modules:\n  syscalls:\n    enabled: yes\n",
		    "c.yaml:6:14: modules.syscalls.enabled: expected true or false, got \"yes\"");
	check_error(TARGET_A "modules: {syscalls: {enabled: 1}}\n",
		    "c.yaml:4:31: modules.syscalls.enabled: expected true or false, got \"1\"");
	check_error(TARGET_A "modules: {syscalls: {enabled: \"true\"}}\n",
		    "c.yaml:4:31: modules.syscalls.enabled: expected true or false, got \"true\"");
	check_error(
		TARGET_A "modules: {syscalls: {enabled: [true]}}\n",
		"c.yaml:4:31: modules.syscalls.enabled: expected true or false, got a sequence");
}

static void test_error_duplicate_keys(void **state)
{
	(void)state;
	check_error("targets:\n  - {name: a, process: {comm: [a]}}\ntargets: []\n",
		    "c.yaml:3:1: duplicate key \"targets\"");
	check_error("targets:\n  - name: a\n    name: b\n    process: {comm: [a]}\n",
		    "c.yaml:3:5: targets[0]: duplicate key \"name\"");
	check_error("targets:\n  - name: a\n    process: {comm: [a], comm: [b]}\n",
		    "c.yaml:3:26: targets[0].process: duplicate key \"comm\"");
	check_error(TARGET_A "limits:\n  processes: 5\n  processes: 6\n",
		    "c.yaml:6:3: limits: duplicate key \"processes\"");
	check_error(TARGET_A "modules:\n  syscalls: {}\n  syscalls: {}\n",
		    "c.yaml:6:3: modules: duplicate key \"syscalls\"");
	check_error(TARGET_A "modules:\n  syscalls: {max_entries: 16, max_entries: 32}\n",
		    "c.yaml:5:31: modules.syscalls: duplicate key \"max_entries\"");
	check_error(TARGET_A "modules:\n  syscalls: {enabled: true, enabled: false}\n",
		    "c.yaml:5:29: modules.syscalls: duplicate key \"enabled\"");
}

static char *many_targets(int n)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "targets:\n");
	for (int i = 0; i < n; i++)
		buf_printf(&b, "  - {name: t%d, process: {comm: [c%d]}}\n", i, i);
	return buf_steal(&b, NULL);
}

static void test_target_count_limit(void **state)
{
	char *yaml = many_targets(CFG_MAX_TARGETS);
	struct config cfg;

	(void)state;
	assert_int_equal(CFG_MAX_TARGETS, 64);
	assert_non_null(yaml);
	cfg = parse_ok(yaml);
	assert_int_equal(cfg.n_targets, 64);
	assert_string_equal(cfg.targets[63].name, "t63");
	assert_string_equal(cfg.targets[63].process.comm.items[0], "c63");
	config_free(&cfg);
	free(yaml);

	yaml = many_targets(CFG_MAX_TARGETS + 1);
	assert_non_null(yaml);
	check_error(yaml, "c.yaml:2:3: targets: expected at most 64 targets, got 65");
	free(yaml);
}

/* An error late in the file, after targets were allocated: everything is freed and cfg
 * is zeroed (run under ASan/LSan to see leaks). */
static void test_late_error_frees_everything(void **state)
{
	(void)state;
	check_error(
		"targets:\n"
		"  - name: a\n"
		"    process: {comm: [a, b], exe: [/x], cgroup: [/y]}\n"
		"  - name: b\n"
		"    process: {comm: [a], exe: [/x, z]}\n",
		"c.yaml:5:36: targets[1].process.exe[1]: expected an absolute path glob starting "
		"with '/', got \"z\"");
}

static void test_error_truncated_to_buffer(void **state)
{
	struct config cfg;
	char err[16];

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(parse("limits: {}\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c.yaml:1:1: mis");
	assert_zeroed(&cfg);
}

static void test_config_free_on_zeroed(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	assert_zeroed(&cfg);
}

static void test_config_load(void **state)
{
	char path[] = "/tmp/ctrlscope-test-config-XXXXXX";
	char err[512];
	struct config cfg;
	int fd = mkstemp(path);
	static const char text[] = TARGET_A "limits: {cgroups: 7}\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(config_load(path, mods, N_MODS, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_targets, 1);
	assert_int_equal(cfg.limits[CFG_LIMIT_CGROUPS], 7);
	config_free(&cfg);
	unlink(path);

	/* Messages name the file. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "targets: []\n", 12), 12);
	close(fd);
	{
		char want[600];

		snprintf(want, sizeof(want), "%s:1:10: targets: expected at least one target",
			 path);
		assert_int_equal(config_load(path, mods, N_MODS, &cfg, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, want);
		assert_zeroed(&cfg);
	}
	unlink(path);

	assert_int_equal(
		config_load("/nonexistent/ctrlscope.yaml", mods, N_MODS, &cfg, err, sizeof(err)),
		-ENOENT);
	assert_string_equal(err, "/nonexistent/ctrlscope.yaml: cannot open the configuration "
				 "file: No such file or directory");
	assert_zeroed(&cfg);
}

/* A module whose descriptor has no options table (options == NULL, which set_defaults
 * accepts) must reject an unknown option with a message, not crash. */
static void test_module_without_options(void **state)
{
	static const struct cfg_module_desc bare[] = { { "bare", NULL } };
	static const char ok_text[] = TARGET_A "modules:\n  bare:\n    enabled: false\n";
	static const char bad_text[] = TARGET_A "modules:\n  bare:\n    foo: 1\n";
	struct config cfg;
	char err[512] = "";

	(void)state;
	assert_int_equal(
		config_parse("c.yaml", ok_text, strlen(ok_text), bare, 1, &cfg, err, sizeof(err)),
		0);
	assert_int_equal(cfg.n_modules, 1);
	assert_false(cfg.modules[0].enabled);
	config_free(&cfg);

	assert_int_equal(
		config_parse("c.yaml", bad_text, strlen(bad_text), bare, 1, &cfg, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err,
			    "c.yaml:6:5: modules.bare: unknown key \"foo\" (expected enabled)");
	assert_zeroed(&cfg);
}

static void test_error_second_document(void **state)
{
	(void)state;
	check_error(TARGET_A "---\ntargets: []\n",
		    "c.yaml:5:1: expected one YAML document, found another");
}

static void test_error_message_is_one_line(void **state)
{
	(void)state;
	check_error("\"unknown\\nkey\": 1\n", "c.yaml:1:1: unknown key \"unknown\\nkey\" (expected "
					      "targets, limits, modules, kubernetes or "
					      "label_set_grace)");
	check_error(TARGET_A "limits:\n  processes: \"1\\t2\"\n",
		    "c.yaml:5:14: limits.processes: expected an integer from 1 to 4194304, got "
		    "\"1\\t2\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_full_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_partial_overrides),
		cmocka_unit_test(test_bool_spellings),
		cmocka_unit_test(test_bounds_inclusive),
		cmocka_unit_test(test_error_invalid_yaml),
		cmocka_unit_test(test_error_invalid_utf8_position),
		cmocka_unit_test(test_error_second_document),
		cmocka_unit_test(test_error_message_is_one_line),
		cmocka_unit_test(test_error_empty_document),
		cmocka_unit_test(test_error_top_level_not_mapping),
		cmocka_unit_test(test_error_unknown_top_level_key),
		cmocka_unit_test(test_label_set_grace),
		cmocka_unit_test(test_error_missing_targets),
		cmocka_unit_test(test_error_targets_shape),
		cmocka_unit_test(test_error_target_without_name),
		cmocka_unit_test(test_error_target_name_too_long),
		cmocka_unit_test(test_error_target_without_process),
		cmocka_unit_test(test_error_duplicate_target_names),
		cmocka_unit_test(test_error_unknown_key_in_target),
		cmocka_unit_test(test_error_process_without_selector),
		cmocka_unit_test(test_error_comm_too_long),
		cmocka_unit_test(test_error_glob_not_absolute),
		cmocka_unit_test(test_error_empty_item),
		cmocka_unit_test(test_error_not_a_sequence),
		cmocka_unit_test(test_error_limits_out_of_range),
		cmocka_unit_test(test_error_limits_not_integer),
		cmocka_unit_test(test_error_limits_shape),
		cmocka_unit_test(test_error_unknown_module),
		cmocka_unit_test(test_error_unknown_module_option),
		cmocka_unit_test(test_error_enabled_not_bool),
		cmocka_unit_test(test_error_duplicate_keys),
		cmocka_unit_test(test_target_count_limit),
		cmocka_unit_test(test_late_error_frees_everything),
		cmocka_unit_test(test_error_truncated_to_buffer),
		cmocka_unit_test(test_config_free_on_zeroed),
		cmocka_unit_test(test_config_load),
		cmocka_unit_test(test_module_without_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
