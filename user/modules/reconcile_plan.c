/* Planning a controller-runtime binary's probes: see reconcile_plan.h, and
 * docs/reconcile-probes.md for why each probe reads what it does. */
#include "reconcile_plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gobin.h"
#include "returns.h"
#include "vec.h"

#define CR_MODULE "sigs.k8s.io/controller-runtime"
#define CONTROLLER_PREFIX                                                                          \
	"sigs.k8s.io/controller-runtime/pkg/internal/controller.(*Controller[go.shape."

/* The controller-runtime versions whose functions and layouts were checked
 * (docs/reconcile-probes.md): generic controllers start at v0.20; a newer minor version
 * may move what the probes read, and a wrong number is worse than none. */
#define CR_OLDEST_MINOR	  20
#define CR_NEWEST_MINOR	  25
#define CR_RESULT24_MINOR 23 /* reconcile.Result gained Priority */

const char *const rec_skip_names[REC_SKIPS] = {
	[REC_OK] = "",
	[REC_SKIP_UNREADABLE] = "unreadable",
	[REC_SKIP_NOT_GO] = "not_go",
	[REC_SKIP_NO_CR] = "no_controller_runtime",
	[REC_SKIP_VERSION] = "unsupported_version",
	[REC_SKIP_SYMBOLS] = "symbols_not_found",
};

static int skip(int why_code, char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int skip(int why_code, char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return why_code;
}

int rec_parse_version(const char *v, unsigned *major, unsigned *minor, unsigned *patch, bool *pre)
{
	int n = 0;

	if (!v || sscanf(v, "v%u.%u.%u%n", major, minor, patch, &n) != 3)
		return -EINVAL;
	if (v[n] != '\0' && v[n] != '-' && v[n] != '+')
		return -EINVAL;
	*pre = v[n] == '-';
	return 0;
}

/* The functions a plan needs, by role. */
enum role {
	ROLE_RECONCILE,
	ROLE_HANDLER,
	ROLE_UPDATE,
	ROLE_DEFERRETURN,
	ROLE_ERRORS_IS,
	ROLE_WQ, /* a work queue's metrics method: wq_names says which */
};

/* The work queues' metrics methods: the shaped bodies, which the probes read (receiver,
 * dictionary, then the item), and the concrete methods every interface call goes
 * through, which must call them (else the compiler inlined the body into the concrete
 * method, whose registers differ); the retries, whose registers are not read, at the
 * body every call goes through. */
#define CG_METRICS "k8s.io/client-go/util/workqueue.(*defaultQueueMetrics["
#define PQ_METRICS                                                                                 \
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue.(*defaultQueueMetrics["
#define REQUEST_SHAPE "go.shape.struct { k8s.io/apimachinery/pkg/types.NamespacedName }"
#define REQUEST	      "sigs.k8s.io/controller-runtime/pkg/reconcile.Request"

enum { WQ_CG, WQ_PQ, WQ_KINDS };
enum { WQ_ADD, WQ_GET, WQ_DONE, WQ_METHODS };

static const char *const wq_shaped[WQ_KINDS][WQ_METHODS] = {
	{ CG_METRICS REQUEST_SHAPE "]).add", CG_METRICS REQUEST_SHAPE "]).get",
	  CG_METRICS REQUEST_SHAPE "]).done" },
	{ PQ_METRICS REQUEST_SHAPE "]).add", PQ_METRICS REQUEST_SHAPE "]).get",
	  PQ_METRICS REQUEST_SHAPE "]).done" },
};
static const char *const wq_concrete[WQ_KINDS][WQ_METHODS] = {
	{ CG_METRICS REQUEST "]).add", CG_METRICS REQUEST "]).get", CG_METRICS REQUEST "]).done" },
	{ PQ_METRICS REQUEST "]).add", PQ_METRICS REQUEST "]).get", PQ_METRICS REQUEST "]).done" },
};
static const char *const wq_retry[WQ_KINDS] = {
	"k8s.io/client-go/util/workqueue.(*defaultRetryMetrics).retry",
	PQ_METRICS REQUEST "]).retry",
};

static bool is_wq(const char *name)
{
	for (int k = 0; k < WQ_KINDS; k++) {
		if (!strcmp(name, wq_retry[k]))
			return true;
		for (int m = 0; m < WQ_METHODS; m++) {
			if (!strcmp(name, wq_shaped[k][m]) || !strcmp(name, wq_concrete[k][m]))
				return true;
		}
	}
	return false;
}

static const char *const method_suffix[] = {
	[ROLE_RECONCILE] = "]).Reconcile",
	[ROLE_HANDLER] = "]).reconcileHandler",
	[ROLE_UPDATE] = "]).updateMetrics",
};

static int role_of(const char *name)
{
	size_t n = strlen(name), p = sizeof(CONTROLLER_PREFIX) - 1;

	if (!strcmp(name, "runtime.deferreturn"))
		return ROLE_DEFERRETURN;
	if (!strcmp(name, "errors.Is"))
		return ROLE_ERRORS_IS;
	if (is_wq(name))
		return ROLE_WQ;
	if (n <= p || strncmp(name, CONTROLLER_PREFIX, p))
		return -1;
	for (int r = ROLE_RECONCILE; r <= ROLE_UPDATE; r++) {
		size_t s = strlen(method_suffix[r]);

		if (n > p + s && !strcmp(name + n - s, method_suffix[r]))
			return r;
	}
	return -1;
}

static bool wanted(const char *name, void *ctx)
{
	(void)ctx;
	return role_of(name) >= 0;
}

/* The shape of a Controller method: the text between the prefix and its suffix. */
static bool same_shape(const char *a, const char *b)
{
	const char *ea = strstr(a, "]).");
	const char *eb = strstr(b, "]).");

	/* Shapes hold no "]).": the first one ends the type parameter list. */
	return ea && eb && ea - a == eb - b && !strncmp(a, b, (size_t)(ea - a));
}

static struct rec_probe *add_probe(struct rec_plan *p, enum rec_probe_kind kind, uint64_t addr)
{
	struct rec_probe *r = ARRAY_PUSH(p->probes, p->n_probes);

	if (!r)
		return NULL;
	*r = (struct rec_probe){ .kind = kind, .addr = addr };
	p->n_probes++;
	return r;
}

static int scan(struct gobin *b, const struct gobin_func *f, struct go_code *code, char *why,
		size_t why_size)
{
	const uint8_t *bytes;
	char err[160];
	int ret;

	if (f->is_asm)
		return skip(REC_SKIP_SYMBOLS, why, why_size, "%s is assembly", f->name);
	if (gobin_code(b, f->entry, f->end - f->entry, &bytes))
		return skip(REC_SKIP_SYMBOLS, why, why_size, "the code of %s is not in the file",
			    f->name);
	ret = go_scan_code(gobin_machine(b), bytes, f->end - f->entry, f->entry, code, err,
			   sizeof(err));
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		return skip(REC_SKIP_SYMBOLS, why, why_size, "%s: %s", f->name, err);
	return 0;
}

/* One instantiation's probes: Reconcile (its body and returns), updateMetrics (its body)
 * and, when reconcileHandler calls errors.Is exactly once, the return of that call. */
static int plan_shape(struct gobin *b, struct rec_plan *p, const struct gobin_func *rec,
		      const struct gobin_func *update, const struct gobin_func *handler,
		      uint64_t deferreturn, uint64_t errors_is, char *why, size_t why_size)
{
	struct go_code code;
	size_t normal = 0, panics = 0;
	int ret;

	if ((ret = scan(b, rec, &code, why, why_size)))
		return ret;
	if (!add_probe(p, REC_PROBE_BEGIN, code.body))
		goto nomem;
	for (size_t i = 0; i < code.n_rets; i++) {
		bool panic = deferreturn && code.rets[i].after_call == deferreturn;

		if (!add_probe(p, panic ? REC_PROBE_PANIC : REC_PROBE_RETURN, code.rets[i].addr))
			goto nomem;
		panic ? panics++ : normal++;
	}
	go_code_free(&code);
	if (!normal)
		return skip(REC_SKIP_SYMBOLS, why, why_size, "%s has no return but the panic's",
			    rec->name);
	if (panics != 1)
		p->panics = false;
	if ((ret = scan(b, update, &code, why, why_size)))
		return ret;
	if (!add_probe(p, REC_PROBE_END, code.body))
		goto nomem;
	go_code_free(&code);
	if (!handler || !errors_is) {
		p->terminal = false;
		return 0;
	}
	if ((ret = scan(b, handler, &code, why, why_size)))
		return ret;
	{
		const struct go_call *found = NULL;
		size_t n = 0;

		for (size_t i = 0; i < code.n_calls; i++) {
			if (code.calls[i].target == errors_is) {
				found = &code.calls[i];
				n++;
			}
		}
		if (n == 1 && !add_probe(p, REC_PROBE_TERMINAL, found->next))
			goto nomem;
		if (n != 1)
			p->terminal = false;
	}
	go_code_free(&code);
	return 0;
nomem:
	go_code_free(&code);
	return -ENOMEM;
}

static const struct gobin_func *find(const struct gobin_func *funcs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(funcs[i].name, name))
			return &funcs[i];
	}
	return NULL;
}

static int wq_skip(struct rec_plan *p, const char *fmt, const char *name)
{
	snprintf(p->workqueue_why, sizeof(p->workqueue_why), fmt, name);
	p->workqueue = false;
	return 0;
}

/* The work queues' probes, both kinds of queue: a binary has both (the priority queue is
 * the default from v0.23). A queue whose methods are not as expected is not probed; the
 * reconciles still are. 0 or -ENOMEM. */
static int plan_workqueue(struct gobin *b, struct rec_plan *p, const struct gobin_func *funcs,
			  size_t n)
{
	static const enum rec_probe_kind kinds[WQ_METHODS] = { REC_PROBE_WQ_ADD, REC_PROBE_WQ_GET,
							       REC_PROBE_WQ_DONE };
	size_t first = p->n_probes;
	char why[160];

	p->workqueue = true;
	for (int k = 0; k < WQ_KINDS && p->workqueue; k++) {
		const struct gobin_func *retry = find(funcs, n, wq_retry[k]);
		struct go_code code;
		int ret;

		for (int m = 0; m < WQ_METHODS && p->workqueue; m++) {
			const struct gobin_func *shaped = find(funcs, n, wq_shaped[k][m]);
			const struct gobin_func *concrete = find(funcs, n, wq_concrete[k][m]);
			bool calls = false;

			if (!shaped || !concrete) {
				wq_skip(p, "%s is not in the binary",
					!shaped ? wq_shaped[k][m] : wq_concrete[k][m]);
				break;
			}
			ret = scan(b, concrete, &code, why, sizeof(why));
			if (ret == -ENOMEM)
				return ret;
			if (ret) {
				wq_skip(p, "%s", why);
				break;
			}
			for (size_t i = 0; i < code.n_calls; i++)
				calls |= code.calls[i].target == shaped->entry;
			go_code_free(&code);
			if (!calls) {
				wq_skip(p, "%s does not call its shaped body (inlined)",
					concrete->name);
				break;
			}
			ret = scan(b, shaped, &code, why, sizeof(why));
			if (ret == -ENOMEM)
				return ret;
			if (ret) {
				wq_skip(p, "%s", why);
				break;
			}
			if (!add_probe(p, kinds[m], code.body)) {
				go_code_free(&code);
				return -ENOMEM;
			}
			go_code_free(&code);
		}
		if (!p->workqueue)
			break;
		if (!retry) {
			wq_skip(p, "%s is not in the binary", wq_retry[k]);
			break;
		}
		ret = scan(b, retry, &code, why, sizeof(why));
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			wq_skip(p, "%s", why);
			break;
		}
		if (!add_probe(p, k == WQ_CG ? REC_PROBE_WQ_RETRY : REC_PROBE_WQ_RETRY_QUEUE,
			       code.body)) {
			go_code_free(&code);
			return -ENOMEM;
		}
		go_code_free(&code);
	}
	if (!p->workqueue)
		p->n_probes = first; /* none of them */
	return 0;
}

/* Which controller-runtime the binary has, and whether its layouts are known. */
static int check_version(const struct go_buildinfo *bi, struct rec_plan *p, char *why,
			 size_t why_size)
{
	const struct go_module *m = go_buildinfo_module(bi, CR_MODULE);
	const char *v;
	unsigned major, minor, patch;
	bool pre;

	if (!m)
		return skip(REC_SKIP_NO_CR, why, why_size, "a Go program (%s) without %s",
			    bi->go_version, CR_MODULE);
	v = m->version;
	if (m->replace_path) {
		if (!m->replace_version || !*m->replace_version)
			return skip(REC_SKIP_VERSION, why, why_size,
				    "%s %s is replaced by the directory %s: its version is "
				    "unknown",
				    CR_MODULE, m->version, m->replace_path);
		v = m->replace_version;
	}
	snprintf(p->cr_version, sizeof(p->cr_version), "%s", v);
	if (rec_parse_version(v, &major, &minor, &patch, &pre))
		return skip(REC_SKIP_VERSION, why, why_size, "%s version %s does not parse",
			    CR_MODULE, v);
	/* A pre-release of v0.23.0 may have either reconcile.Result. */
	if (major != 0 || minor < CR_OLDEST_MINOR || minor > CR_NEWEST_MINOR ||
	    (pre && minor == CR_RESULT24_MINOR && patch == 0))
		return skip(REC_SKIP_VERSION, why, why_size,
			    "%s %s: this agent reads v0.%u.0 to v0.%u.x (generic controllers, "
			    "layouts checked)",
			    CR_MODULE, v, CR_OLDEST_MINOR, CR_NEWEST_MINOR);
	p->result24 = minor >= CR_RESULT24_MINOR;
	return 0;
}

int rec_plan_binary(int fd, struct rec_plan *p, char *why, size_t why_size)
{
	struct go_buildinfo bi = { 0 };
	struct gobin_func *funcs = NULL;
	struct gobin *b = NULL;
	const char *from = "";
	uint64_t deferreturn = 0, errors_is = 0;
	void *disasm = NULL;
	size_t n = 0;
	char err[160];
	int ret;

	memset(p, 0, sizeof(*p));
	p->terminal = p->panics = true;
	ret = gobin_open_fd(fd, &b, err, sizeof(err));
	if (ret == -ENOMEM)
		return ret;
	if (ret)
		return skip(REC_SKIP_UNREADABLE, why, why_size, "%s", err);
	ret = gobin_buildinfo(b, &bi, err, sizeof(err));
	if (ret) {
		ret = ret == -ENOMEM ? ret : skip(REC_SKIP_NOT_GO, why, why_size, "%s", err);
		goto out;
	}
	snprintf(p->go_version, sizeof(p->go_version), "%s", bi.go_version);
	if ((ret = check_version(&bi, p, why, why_size)))
		goto out;
	ret = gobin_funcs(b, wanted, NULL, &funcs, &n, &from, err, sizeof(err));
	if (ret) {
		ret = ret == -ENOMEM ? ret : skip(REC_SKIP_SYMBOLS, why, why_size, "%s", err);
		goto out;
	}
	p->pclntab = !strcmp(from, "pclntab");
	disasm = go_disasm_hold();
	for (size_t i = 0; i < n; i++) {
		int r = role_of(funcs[i].name);

		if (r == ROLE_DEFERRETURN)
			deferreturn = funcs[i].entry;
		else if (r == ROLE_ERRORS_IS)
			errors_is = funcs[i].entry;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		const struct gobin_func *update = NULL, *handler = NULL;

		if (role_of(funcs[i].name) != ROLE_RECONCILE)
			continue;
		for (size_t j = 0; j < n; j++) {
			int r = role_of(funcs[j].name);

			if (r == ROLE_UPDATE && same_shape(funcs[i].name, funcs[j].name))
				update = &funcs[j];
			else if (r == ROLE_HANDLER && same_shape(funcs[i].name, funcs[j].name))
				handler = &funcs[j];
		}
		if (!update)
			continue; /* inlined away, or another package's Controller */
		ret = plan_shape(b, p, &funcs[i], update, handler, deferreturn, errors_is, why,
				 why_size);
		p->shapes++;
	}
	if (!ret && p->shapes)
		ret = plan_workqueue(b, p, funcs, n);
	if (!ret && !p->shapes)
		ret = skip(REC_SKIP_SYMBOLS, why, why_size,
			   "%s %s: no Controller.Reconcile with its updateMetrics in the %s",
			   CR_MODULE, p->cr_version,
			   p->pclntab ? "function table" : "symbol table");
	for (size_t i = 0; !ret && i < p->n_probes; i++) {
		if (gobin_file_offset(b, p->probes[i].addr, &p->probes[i].offset))
			ret = skip(REC_SKIP_SYMBOLS, why, why_size,
				   "address %#llx is in no executable segment of the file",
				   (unsigned long long)p->probes[i].addr);
	}
out:
	go_disasm_release(disasm);
	gobin_funcs_free(funcs, n);
	go_buildinfo_free(&bi);
	gobin_close(b);
	if (ret)
		rec_plan_free(p);
	return ret;
}

void rec_plan_free(struct rec_plan *p)
{
	free(p->probes);
	p->probes = NULL;
	p->n_probes = 0;
}
