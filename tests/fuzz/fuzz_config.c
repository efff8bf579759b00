/* libFuzzer target for the YAML configuration parser (config_parse in user/core/config.c).
 * Beyond "does not crash": the result is 0 or -EINVAL, an error is one line starting with
 * the file name and leaves the config empty, and a parsed config respects every bound the
 * schema promises. A parsed config is written back as YAML and must parse to the same
 * config again. Not for config_load (file I/O only). */
#include "config.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME	 "fuzz.yaml"
#define ERR_SIZE 512

/* A module table like the agent's: one module with two integer options (the bounds and
 * defaults of user/modules/syscalls.c). */
static const struct cfg_option syscalls_options[] = {
	{ "max_entries", 16, 1 << 20, 2048, "(label set, syscall) pairs measured" },
	{ "max_error_entries", 16, 1 << 20, 4096, "(label set, syscall, errno) triples" },
	{ 0 },
};

static const struct cfg_module_desc mods[] = {
	{ "syscalls", syscalls_options },
};

#define N_MODS (sizeof(mods) / sizeof(mods[0]))

static void check_error(int ret, const char *err, const struct config *cfg)
{
	static const struct config empty;

	check_one_line_error(ret, err, ERR_SIZE, NAME ":");
	/* "cfg is then empty and needs no config_free". */
	CHECK(!memcmp(cfg, &empty, sizeof(empty)));
}

static void check_list(const struct string_list *l, size_t max, bool absolute)
{
	CHECK(!l->n == !l->items);
	for (size_t i = 0; i < l->n; i++) {
		CHECK(l->items[i]);
		CHECK(l->items[i][0] && strlen(l->items[i]) <= max);
		CHECK(!absolute || l->items[i][0] == '/');
	}
}

static void check_option(const struct cfg_option *opt, long long v)
{
	CHECK(v >= opt->min && v <= opt->max);
}

static void check_config(const struct config *cfg)
{
	CHECK(cfg->n_targets >= 1 && cfg->n_targets <= CFG_MAX_TARGETS && cfg->targets);
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct target_config *t = &cfg->targets[i];
		const struct process_selector *p = &t->process;
		const struct kube_selector *k = &t->kubernetes;

		CHECK(t->name);
		CHECK(t->name[0] && strlen(t->name) <= CFG_NAME_MAX);
		/* Target names become the `target` label: unique. */
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(cfg->targets[j].name, t->name));
		check_list(&p->comm, CFG_COMM_MAX, false);
		check_list(&p->exe, 4095, true);
		check_list(&p->cgroup, 4095, true);
		check_list(&k->namespaces, 63, false);
		check_list(&k->containers, 63, false);
		/* A target selects by exactly one kind; a process selector is never empty. */
		if (t->kind == TARGET_PROCESS) {
			CHECK(p->comm.n || p->exe.n || p->cgroup.n);
			CHECK(!k->namespaces.n && !k->containers.n && !k->pod_selector_text);
		} else {
			CHECK(t->kind == TARGET_KUBERNETES && cfg->kubernetes_targets);
			CHECK(!p->comm.n && !p->exe.n && !p->cgroup.n);
		}
	}
	CHECK(cfg->deleted_pod_grace_ms >= 0 &&
	      cfg->deleted_pod_grace_ms <= 7 * 24 * 3600 * 1000LL);
	CHECK(cfg->n_modules == N_MODS && cfg->modules);
	for (size_t m = 0; m < N_MODS; m++) {
		for (size_t i = 0; mods[m].options[i].name; i++)
			check_option(&mods[m].options[i], cfg->modules[m].values[i]);
	}
	for (size_t i = 0; i < CFG_LIMIT_COUNT; i++)
		check_option(&cfg_limit_options[i], cfg->limits[i]);
}

/* Decode one UTF-8 sequence (the parser only returns valid UTF-8: libyaml checks it). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xe0) {
		*cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (s[0] < 0xf0) {
		*cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	*cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
	      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	return 4;
}

/* A YAML double-quoted scalar. Raw characters are kept only where YAML reads them back
 * unchanged: printable, and not a line break (NEL, LS, PS fold like '\n'). */
static void put_quoted(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		uint32_t cp;
		size_t len = utf8_decode(p, &cp);

		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (char)cp);
		else if ((cp >= 0x20 && cp < 0x7f) ||
			 (cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 && cp != 0x2029) ||
			 (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || cp >= 0x10000)
			fwrite(p, 1, len, f);
		else if (cp <= 0xff)
			fprintf(f, "\\x%02x", (unsigned int)cp);
		else
			fprintf(f, "\\u%04x", (unsigned int)cp);
		p += len;
	}
	fputc('"', f);
}

static void put_list(FILE *f, const char *key, const struct string_list *l)
{
	if (!l->n)
		return;
	fprintf(f, "      %s:\n", key);
	for (size_t i = 0; i < l->n; i++) {
		fputs("        - ", f);
		put_quoted(f, l->items[i]);
		fputc('\n', f);
	}
}

static char *write_config(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	CHECK(f);
	fputs("targets:\n", f);
	for (size_t i = 0; i < cfg->n_targets; i++) {
		const struct target_config *t = &cfg->targets[i];

		fputs("  - name: ", f);
		put_quoted(f, t->name);
		if (t->kind == TARGET_KUBERNETES) {
			const struct kube_selector *k = &t->kubernetes;

			/* An empty mapping selects every container, as a null one does. */
			if (!k->namespaces.n && !k->containers.n && !k->pod_selector_text) {
				fputs("\n    kubernetes: {}\n", f);
				continue;
			}
			fputs("\n    kubernetes:\n", f);
			put_list(f, "namespaces", &k->namespaces);
			put_list(f, "containers", &k->containers);
			if (k->pod_selector_text) {
				fputs("      pod_selector: ", f);
				put_quoted(f, k->pod_selector_text);
				fputc('\n', f);
			}
			continue;
		}
		fputs("\n    process:\n", f);
		put_list(f, "comm", &t->process.comm);
		put_list(f, "exe", &t->process.exe);
		put_list(f, "cgroup", &t->process.cgroup);
	}
	fprintf(f, "kubernetes:\n  deleted_pod_grace: %lldms\n", cfg->deleted_pod_grace_ms);
	fputs("limits:\n", f);
	for (size_t i = 0; i < CFG_LIMIT_COUNT; i++)
		fprintf(f, "  %s: %lld\n", cfg_limit_options[i].name, cfg->limits[i]);
	fputs("modules:\n", f);
	for (size_t m = 0; m < N_MODS; m++) {
		fprintf(f, "  %s:\n    enabled: %s\n", mods[m].name,
			cfg->modules[m].enabled ? "true" : "false");
		for (size_t i = 0; mods[m].options[i].name; i++)
			fprintf(f, "    %s: %lld\n", mods[m].options[i].name,
				cfg->modules[m].values[i]);
	}
	CHECK(!fclose(f));
	return text;
}

static bool same_list(const struct string_list *a, const struct string_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

static bool same_config(const struct config *a, const struct config *b)
{
	if (a->n_targets != b->n_targets || a->n_modules != b->n_modules ||
	    a->kubernetes_targets != b->kubernetes_targets ||
	    a->deleted_pod_grace_ms != b->deleted_pod_grace_ms ||
	    memcmp(a->limits, b->limits, sizeof(a->limits)))
		return false;
	for (size_t i = 0; i < a->n_targets; i++) {
		const struct target_config *x = &a->targets[i], *y = &b->targets[i];

		if (x->kind != y->kind ||
		    !same_list(&x->kubernetes.namespaces, &y->kubernetes.namespaces) ||
		    !same_list(&x->kubernetes.containers, &y->kubernetes.containers) ||
		    !x->kubernetes.pod_selector_text != !y->kubernetes.pod_selector_text ||
		    (x->kubernetes.pod_selector_text &&
		     strcmp(x->kubernetes.pod_selector_text, y->kubernetes.pod_selector_text)))
			return false;
		if (strcmp(x->name, y->name) || !same_list(&x->process.comm, &y->process.comm) ||
		    !same_list(&x->process.exe, &y->process.exe) ||
		    !same_list(&x->process.cgroup, &y->process.cgroup))
			return false;
	}
	for (size_t m = 0; m < a->n_modules; m++) {
		if (a->modules[m].enabled != b->modules[m].enabled ||
		    memcmp(a->modules[m].values, b->modules[m].values,
			   sizeof(a->modules[m].values)))
			return false;
	}
	return true;
}

/* What was parsed, written back, must parse to the same config. */
static void check_round_trip(const struct config *cfg)
{
	struct config again;
	char err[ERR_SIZE];
	size_t len;
	char *text = write_config(cfg, &len);
	int ret = config_parse(NAME, text, len, mods, N_MODS, &again, err, sizeof(err));

	if (ret)
		note("error", err, strlen(err));
	if (ret || !same_config(cfg, &again))
		note(ret ? "written back, fails to parse" : "written back, parses differently",
		     text, len);
	CHECK(!ret);
	CHECK(same_config(cfg, &again));
	config_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[ERR_SIZE];
	int ret;

	/* Poison cfg and err so that whatever the parser leaves unset shows. */
	memset(&cfg, 0xa5, sizeof(cfg));
	memset(err, 0xa5, sizeof(err));
	/* The parser takes (text, len): data is not NUL-terminated, as a file's contents. */
	ret = config_parse(NAME, (const char *)data, size, mods, N_MODS, &cfg, err, sizeof(err));
	if (ret) {
		check_error(ret, err, &cfg);
		return 0;
	}
	check_config(&cfg);
	check_round_trip(&cfg);
	config_free(&cfg);
	return 0;
}
