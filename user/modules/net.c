/* net module, user side: sizes the maps, tells the kernel the API server's addresses,
 * attaches the RTT program to the cgroup2 root, and at every scrape brings open
 * connections' bytes up to date and writes the ctrlscope_tcp_* families. The counting is
 * in bpf/net.bpf.c. */
#include <ctrlscope/net.h> /* before the skeleton, which uses its types */

#include "attach.h"
#include "cgroups.h"
#include "load.h"
#include "log.h"
#include "mapread.h"
#include "module.h"
#include "net.skel.h"
#include "net_peers.h"
#include "rowset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define MODULE_NAME "net"

enum { OPT_MAX_ENTRIES, OPT_MAX_PEERS };

static const struct cfg_option options[] = {
	[OPT_MAX_ENTRIES] = { "max_entries", 16, 1 << 20, 4096,
			      "(label set, peer) pairs measured" },
	[OPT_MAX_PEERS] = { "max_peers", 1, 1024, 32,
			    "distinct peers named per target; more are counted as peer=\"other\"" },
	{ 0 },
};

static const char *const required_programs[] = { "cs_net_state", "cs_net_state_hash",
						 "cs_net_destroy_hash", NULL };

/* Sockets of targets the hash programs track at once (bpf/net.bpf.c: kernels before
 * 5.12), and listening ones; allocated as they are used. */
#define HASH_SOCKETS   65536
#define HASH_LISTENERS 4096

static const char *const result_names[CS_NET_RESULTS] = {
	[CS_NET_OK] = "ok",	  [CS_NET_REFUSED] = "refused", [CS_NET_TIMEOUT] = "timeout",
	[CS_NET_RESET] = "reset", [CS_NET_OTHER] = "other",
};

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

struct state {
	struct attach_group *attach; /* this module\'s programs, for the self-metrics */
	struct net_bpf *skel;
	const struct module_env *env; /* during open only */
	const struct config *cfg;
	uint32_t max_entries;
	uint32_t max_peers;
	uint32_t max_peer_ids;
	uint64_t secret; /* of sync requests */
	/* Iterator over targets' files: brings open connections' counts up to date and
	 * tags the sockets of tasks that became targets. Owned by the attach registry.
	 * With listing, it is cs_net_list and every socket it lists is handed back
	 * to cs_net_sync; otherwise cs_net_walk does the work in place. */
	struct bpf_link *walk;
	bool listing;
	bool hash;		   /* the hash programs (bpf/net.bpf.c): no compare-and-swap here */
	uint64_t walked_gen;	   /* target_gen at the last walk */
	int walk_err;		   /* of the last walk, logged when it changes */
	struct expo_bounds bounds; /* of the histograms */
};

struct row {
	struct cs_net_key key;
	struct cs_net_stats stats;
};

/* --- the API server's addresses ------------------------------------------------------ */

static int add_apiserver(struct state *st, const char *host, uint16_t port, const char *source)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = bpf_map__fd(st->skel->maps.net_apiserver);
	char text[INET6_ADDRSTRLEN];
	uint8_t one = 1;
	int err;

	err = getaddrinfo(host, NULL, &hints, &res);
	if (err) {
		log_warn("net: cannot resolve the API server %s (%s): %s; its connections are "
			 "named by address",
			 host, source, gai_strerror(err));
		return -ENOENT;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct cs_addr_port key = { .port = port };

		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ai->ai_addr;

			key.addr[10] = key.addr[11] = 0xff;
			memcpy(key.addr + 12, &sin->sin_addr, 4);
			inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;

			memcpy(key.addr, &sin6->sin6_addr, 16);
			inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		} else {
			continue;
		}
		if (bpf_map_update_elem(fd, &key, &one, BPF_ANY))
			log_warn("net: cannot record API server address %s: %s", text,
				 strerror(errno));
		else
			log_info("net: peer=\"kube-apiserver\" is %s port %u (%s)", text, port,
				 source);
	}
	freeaddrinfo(res);
	return 0;
}

/* From the agent's kubeconfig (or in-cluster) server, and from the kubernetes Service
 * that in-cluster clients reach (env.h). */
static void set_apiservers(struct state *st, const char *url, const struct agent_env *env)
{
	char host[256];
	uint16_t port;

	if (url) {
		if (peer_parse_url(url, host, sizeof(host), &port))
			log_warn("net: cannot read the API server's address from %s", url);
		else
			add_apiserver(st, host, port, "kubeconfig");
	}
	if (env->service_host)
		add_apiserver(st, env->service_host, env->service_port_number,
			      "KUBERNETES_SERVICE_HOST");
}

/* --- lifecycle ---------------------------------------------------------------------- */

/* The programs of the set in use. */
static struct bpf_program *sockops_prog(const struct state *st)
{
	return st->hash ? st->skel->progs.cs_net_sockops_hash : st->skel->progs.cs_net_sockops;
}

static struct bpf_program *list_prog(const struct state *st)
{
	return st->hash ? st->skel->progs.cs_net_list_hash : st->skel->progs.cs_net_list;
}

static struct bpf_program *sync_prog(const struct state *st)
{
	return st->hash ? st->skel->progs.cs_net_sync_hash : st->skel->progs.cs_net_sync;
}

/* load_ops.open: a fresh, configured skeleton. The walk is done in place unless the
 * kernel refused cs_net_walk (or the hash programs are in use); then by listing and sync
 * requests. */
static int open_skel(void *ctx, const struct load_refusals *refused,
		     struct bpf_object_skeleton **skel)
{
	struct state *st = ctx;
	int err;

	st->skel = net_bpf__open_opts(st->env->open_opts);
	if (!st->skel)
		return -errno;
	st->skel->rodata->max_peers = st->max_peers;
	st->skel->rodata->max_peer_ids = st->max_peer_ids;
	st->skel->rodata->sync_secret = st->secret;
	bpf_map__set_max_entries(st->skel->maps.net_stats, st->max_entries);
	bpf_map__set_max_entries(st->skel->maps.net_peer_ids, st->max_peer_ids);
	bpf_map__set_max_entries(st->skel->maps.net_peer_keys, st->max_peer_ids);
	if (st->hash) {
		bpf_map__set_max_entries(st->skel->maps.net_sock_hash, HASH_SOCKETS);
		bpf_map__set_max_entries(st->skel->maps.net_listeners, HASH_LISTENERS);
		bpf_map__set_max_entries(st->skel->maps.net_peer_tickets, st->max_peer_ids);
	}
	/* One set of programs (bpf/net.bpf.c). */
	for (struct bpf_program *prog = NULL;
	     (prog = bpf_object__next_program(st->skel->obj, prog));) {
		const char *name = bpf_program__name(prog);
		size_t n = strlen(name);

		bpf_program__set_autoload(prog,
					  (n > 5 && !strcmp(name + n - 5, "_hash")) == st->hash);
	}
	/* Attached by hand: cgroups and iterators. */
	bpf_program__set_autoattach(sockops_prog(st), false);
	bpf_program__set_autoattach(st->skel->progs.cs_net_walk, false);
	bpf_program__set_autoattach(list_prog(st), false);
	bpf_program__set_autoattach(sync_prog(st), false);
	/* The hash programs can only list: their claims must be made under the socket's
	 * lock, which a sync request takes. */
	st->listing = st->hash || load_refusal_of(refused, "cs_net_walk") != NULL;
	bpf_program__set_autoload(st->skel->progs.cs_net_walk, !st->listing);
	bpf_program__set_autoload(list_prog(st), st->listing);
	bpf_program__set_autoload(sync_prog(st), st->listing);
	err = module_reuse_shared_maps(st->env, st->skel->obj);
	*skel = st->skel->skeleton;
	return err;
}

static void destroy_skel(void *ctx)
{
	struct state *st = ctx;

	net_bpf__destroy(st->skel);
	st->skel = NULL;
}

static const struct load_ops load_ops = { open_skel, destroy_skel };

static int net_open(const struct module_env *env, void **out)
{
	struct state *st = calloc(1, sizeof(*st));
	const struct load_refusal *walk_refusal;
	char note[LOAD_WHY_MAX + 64];
	struct load_refusals refused;
	int err;

	if (!st)
		return -ENOMEM;
	st->attach = env->attach;
	*out = st;
	/* Without compare-and-swap (Linux 5.12; and before 5.11 without socket storage in
	 * tracing programs or bpf_sock_from_file()): the hash programs. */
	st->hash = !env->features->atomics;
	expo_pow2_ns_bounds(&st->bounds, CS_HIST_MIN_EXP, CS_HIST_BUCKETS - 1);
	st->env = env;
	st->cfg = env->cfg;
	st->max_entries = (uint32_t)env->options[OPT_MAX_ENTRIES];
	st->max_peers = (uint32_t)env->options[OPT_MAX_PEERS];
	/* Every target can fill its cap; ids lost to insert races need a little more. */
	st->max_peer_ids = CS_PEER_FIRST + CS_MAX_TARGETS * st->max_peers + 64;
	if (getrandom(&st->secret, sizeof(st->secret), 0) != sizeof(st->secret))
		return errno ? -errno : -EIO;
	err = load_skeleton(st->attach, &load_ops, st, required_programs, &refused);
	st->env = NULL;
	if (err)
		return err;
	if (st->hash && !module_adopted(env) &&
	    (err = load_fill_tickets(bpf_map__fd(st->skel->maps.net_peer_tickets), CS_PEER_FIRST,
				     st->max_peer_ids))) {
		load_refusals_free(&refused);
		return err;
	}
	attach_feature(st->attach, "socket_state", st->hash ? "hash" : "socket_storage",
		       st->hash ? "no atomic compare-and-swap before Linux 5.12: socket state "
				  "in a hash map, claims under the socket's lock"
				: NULL);
	/* The in-place walk has a replacement; anything else refused is reported. */
	for (size_t i = 0; i < refused.n; i++) {
		if (strcmp(refused.items[i].program, "cs_net_walk"))
			attach_record_refused(st->attach, refused.items[i].program,
					      refused.items[i].err, refused.items[i].why);
	}
	walk_refusal = load_refusal_of(&refused, "cs_net_walk");
	if (walk_refusal)
		snprintf(note, sizeof(note), "the kernel refused cs_net_walk: %s",
			 walk_refusal->why);
	attach_feature(st->attach, "socket_walk",
		       st->listing ? "task_file_list+sockopt_sync" : "task_file_sk_storage",
		       walk_refusal ? note : NULL);
	load_refusals_free(&refused);
	set_apiservers(st, env->apiserver, env->env);
	return 0;
}

/* Attach prog to the cgroup2 root, so that every socket is under it. */
static struct bpf_link *attach_root_cgroup(struct state *st, struct bpf_program *prog,
					   const char *without)
{
	struct bpf_link *link = NULL;
	char mount[4096];
	int fd, err;

	err = cgroups_self_mount(mount, sizeof(mount));
	if (!err) {
		fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
		} else {
			link = bpf_program__attach_cgroup(prog, fd);
			err = link ? 0 : -errno;
			close(fd);
		}
	}
	if (err)
		log_warn("net: %s: cannot attach %s to the cgroup2 root: %s", without,
			 bpf_program__name(prog), strerror(-err));
	if (attach_record(st->attach, prog, link, err)) {
		bpf_link__destroy(link);
		return NULL;
	}
	return link;
}

static int net_attach(void *state)
{
	struct state *st = state;
	bool ok;

	attach_object(st->attach, st->skel->obj, required_programs, &ok);
	/* RTT samples need the sock_ops program; without it the module still counts
	 * everything else. */
	attach_root_cgroup(st, sockops_prog(st), "no RTT samples");
	if (!st->listing) {
		st->walk = attach_iter(st->attach, st->skel->progs.cs_net_walk);
	} else if (attach_root_cgroup(st, sync_prog(st),
				      "open connections count only when they close")) {
		st->walk = attach_iter(st->attach, list_prog(st));
	}
	/* Without the walk, open connections would count only at close. */
	return ok && st->walk ? 0 : -ENOTSUP;
}

static uint64_t target_gen(struct state *st)
{
	uint32_t zero = 0;
	uint64_t gen = 0;

	bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.target_gen), &zero, &gen);
	return gen;
}

static void add_seen(const void *rec, void *ctx)
{
	struct cs_net_seen *v = vec_push(ctx);

	if (v)
		memcpy(v, rec, sizeof(*v));
}

/* Hand a listed socket back to cs_net_sync: take its fd from the process, check it is
 * still the listed socket, and send the record through setsockopt. 0 when the program
 * acted on it; a socket closed or gone meanwhile is no error. */
static int sync_one(struct state *st, int pidfd, struct cs_net_seen *v)
{
	struct stat sb;
	int fd, err = 0;

	fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)v->fd, 0);
	if (fd < 0)
		return errno == EBADF || errno == ESRCH ? 0 : -errno;
	if (fstat(fd, &sb) || (uint64_t)sb.st_ino != v->ino)
		goto out_close; /* the fd names another file now */
	v->secret = st->secret;
	/* cs_net_sync answers 0. ENOPROTOOPT: it let the kernel answer, as the socket
	 * changed state since it was listed; the next walk sees it as it is. (A program
	 * that is not attached shows in ctrlscope_program_attached.) */
	if (setsockopt(fd, CS_NET_SYNC_LEVEL, CS_NET_SYNC_NAME, v, sizeof(*v)) &&
	    errno != ENOPROTOOPT)
		err = -errno;
	v->secret = 0;
out_close:
	close(fd);
	return err;
}

/* Records come grouped by process: one pidfd per run of the same tgid. */
static int sync_listed(struct state *st, const struct vec *l)
{
	int pidfd = -1, first_err = 0;
	uint32_t tgid = 0;

	for (size_t i = 0; i < l->n; i++) {
		int err;

		struct cs_net_seen *v = vec_at(l, i);

		if (pidfd < 0 || v->tgid != tgid) {
			if (pidfd >= 0)
				close(pidfd);
			tgid = v->tgid;
			pidfd = (int)syscall(SYS_pidfd_open, (pid_t)tgid, 0);
			if (pidfd < 0) {
				if (errno != ESRCH && !first_err)
					first_err = -errno;
				continue;
			}
		}
		err = sync_one(st, pidfd, v);
		if (err && !first_err)
			first_err = err;
	}
	if (pidfd >= 0)
		close(pidfd);
	return first_err;
}

static int walk_listing(struct state *st)
{
	struct vec l = VEC_INIT(struct cs_net_seen);
	int err;

	err = attach_read_iter(st->walk, sizeof(struct cs_net_seen), add_seen, &l);
	if (!err && l.failed)
		err = -ENOMEM;
	if (!err)
		err = sync_listed(st, &l);
	vec_free(&l);
	return err;
}

/* gen: target_gen read before the walk, so that a target appearing during it is walked
 * again at the next tick. */
static void walk(struct state *st, uint64_t gen)
{
	int err = st->listing ? walk_listing(st) : attach_run_iter(st->walk);

	/* Once per change, not at every scrape (a pidfd_getfd an LSM refuses, say). */
	if (err && err != st->walk_err)
		log_warn("net: cannot walk the sockets of targets: %s", strerror(-err));
	else if (!err && st->walk_err)
		log_info("net: the sockets of targets are walked again");
	st->walk_err = err;
	st->walked_gen = gen;
}

/* Sockets of tasks that became targets (the agent started, a process matched a
 * selector) are tagged within a second, not only at the next scrape: what they send
 * until then is not counted. */
static void net_tick(void *state)
{
	struct state *st = state;
	uint64_t gen = target_gen(st);

	if (gen != st->walked_gen)
		walk(st, gen);
}

/* --- collection ---------------------------------------------------------------------- */

static void add_row(const void *key, const uint64_t *sum, void *ctx)
{
	struct row *r = vec_push(ctx);

	if (!r)
		return;
	memcpy(&r->key, key, sizeof(struct cs_net_key));
	memcpy(&r->stats, sum, sizeof(struct cs_net_stats));
}

static int cmp_row(const void *a, const void *b)
{
	const struct cs_net_key *x = &((const struct row *)a)->key;
	const struct cs_net_key *y = &((const struct row *)b)->key;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

static const struct row_shape row_shape = { sizeof(struct cs_net_key), offsetof(struct row, stats),
					    cmp_row };

struct peer_names {
	struct cs_peer_key *keys; /* index: id - CS_PEER_FIRST */
	uint32_t n;
	char buf[PEER_LABEL_MAX];
};

static int read_peers(struct state *st, struct peer_names *p)
{
	uint32_t next = __atomic_load_n(&st->skel->data->next_peer, __ATOMIC_ACQUIRE);

	if (next > st->max_peer_ids)
		next = st->max_peer_ids;
	p->n = next > CS_PEER_FIRST ? next - CS_PEER_FIRST : 0;
	p->keys = calloc(p->n ? p->n : 1, sizeof(*p->keys));
	if (!p->keys)
		return -ENOMEM;
	if (!p->n)
		return 0;
	return mapread_array(bpf_map__fd(st->skel->maps.net_peer_keys), CS_PEER_FIRST, p->n,
			     sizeof(*p->keys), 0, p->keys);
}

/* The peer label of id, or NULL for an id not (yet) known. */
static const char *peer_name(struct peer_names *p, uint32_t id)
{
	if (id == CS_PEER_OTHER)
		return "other";
	if (id == CS_PEER_APISERVER)
		return "kube-apiserver";
	if (id < CS_PEER_FIRST || id - CS_PEER_FIRST >= p->n ||
	    p->keys[id - CS_PEER_FIRST].target == CS_PEER_UNUSED)
		return NULL;
	peer_format(&p->keys[id - CS_PEER_FIRST], p->buf, sizeof(p->buf));
	return p->buf;
}

/* Labels of a row: the slot's, then peer. 0 when the row cannot be named. */
static size_t row_labels(struct scrape *c, struct peer_names *p, const struct row *row,
			 struct label *labels)
{
	size_t n = slot_labels(c->slots, row->key.slot, labels);
	const char *peer = n ? peer_name(p, row->key.peer) : NULL;

	if (!peer)
		return 0;
	labels[n++] = (struct label){ "peer", peer };
	return n;
}

static uint64_t hist_count(const uint64_t *buckets)
{
	uint64_t n = 0;

	for (int b = 0; b < CS_HIST_BUCKETS; b++)
		n += buckets[b];
	return n;
}

enum field {
	F_SENT,
	F_RECEIVED,
	F_RETRANS,
	F_OPEN,
};

static void write_simple(struct scrape *c, struct peer_names *p, const struct vec *r,
			 const char *name, const char *type, const char *help, enum field f)
{
	struct label labels[SLOT_MAX_LABELS + 1];

	expo_family(c->e, name, type, help);
	for (size_t i = 0; i < r->n; i++) {
		const struct row *row = vec_at(r, i);
		const struct cs_net_stats *s = &row->stats;
		size_t n = row_labels(c, p, row, labels);
		uint64_t v;

		if (!n)
			continue;
		switch (f) {
		case F_SENT:
			v = s->sent;
			break;
		case F_RECEIVED:
			v = s->received;
			break;
		case F_RETRANS:
			v = s->retrans;
			break;
		default:
			v = s->open > 0 ? (uint64_t)s->open : 0;
			break;
		}
		expo_u64(c->e, labels, n, v);
	}
}

static void write_connects(struct scrape *c, struct peer_names *p, const struct vec *r)
{
	struct label labels[SLOT_MAX_LABELS + 2];

	expo_family(c->e, "ctrlscope_tcp_connects_total", "counter",
		    "TCP connections a target opened (outbound, by how the connect ended) or "
		    "accepted (inbound, result=\"ok\").");
	for (size_t i = 0; i < r->n; i++) {
		const struct row *row = vec_at(r, i);
		const struct cs_net_stats *s = &row->stats;
		uint64_t any = 0;
		size_t n;

		for (int k = 0; k < CS_NET_RESULTS; k++)
			any += s->connects[k];
		n = any ? row_labels(c, p, row, labels) : 0;
		if (!n)
			continue;
		for (int k = 0; k < CS_NET_RESULTS; k++) {
			labels[n] = (struct label){ "result", result_names[k] };
			expo_u64(c->e, labels, n + 1, s->connects[k]);
		}
	}
}

static void write_resets(struct scrape *c, struct peer_names *p, const struct vec *r)
{
	struct label labels[SLOT_MAX_LABELS + 2];

	expo_family(c->e, "ctrlscope_tcp_resets_total", "counter",
		    "TCP resets on a target's connections, sent by it or received from the peer.");
	for (size_t i = 0; i < r->n; i++) {
		const struct row *row = vec_at(r, i);
		const struct cs_net_stats *s = &row->stats;
		size_t n = row_labels(c, p, row, labels);

		if (!n)
			continue;
		labels[n] = (struct label){ "direction", "received" };
		expo_u64(c->e, labels, n + 1, s->resets_received);
		labels[n] = (struct label){ "direction", "sent" };
		expo_u64(c->e, labels, n + 1, s->resets_sent);
	}
}

static void write_hist(struct scrape *c, struct state *st, struct peer_names *p,
		       const struct vec *r, bool rtt)
{
	struct label labels[SLOT_MAX_LABELS + 1];

	if (rtt)
		expo_family(c->e, "ctrlscope_tcp_rtt_seconds", "histogram",
			    "Round-trip time samples of a target's TCP connections.");
	else
		expo_family(c->e, "ctrlscope_tcp_connect_duration_seconds", "histogram",
			    "Time from SYN to established of a target's successful outbound "
			    "connects.");
	for (size_t i = 0; i < r->n; i++) {
		const struct row *row = vec_at(r, i);
		const struct cs_net_stats *s = &row->stats;
		const uint64_t *b = (const uint64_t *)(rtt ? s->rtt_buckets : s->connect_buckets);
		uint64_t sum = rtt ? s->rtt_sum_ns : s->connect_sum_ns;
		struct expo_hist h = { st->bounds.le, b, CS_HIST_BUCKETS, (double)sum / 1e9 };
		size_t n = hist_count(b) ? row_labels(c, p, row, labels) : 0;

		if (n)
			expo_histogram(c->e, labels, n, &h);
	}
}

static void write_overflows(struct scrape *c, struct state *st)
{
	struct label l = { "target", NULL };

	expo_family(c->e, "ctrlscope_tcp_peer_overflows_total", "counter",
		    "Connections counted under peer=\"other\" because their target already had "
		    "modules.net.max_peers peers.");
	for (size_t t = 0; t < st->cfg->n_targets; t++) {
		uint32_t id = st->cfg->targets[t].id;

		l.value = st->cfg->targets[t].name;
		expo_u64(c->e, &l, 1,
			 id < CS_MAX_TARGETS ? __atomic_load_n(&st->skel->bss->peer_overflow[id],
							       __ATOMIC_RELAXED)
					     : 0);
	}
}

static int net_collect(void *state, struct scrape *c)
{
	struct state *st = state;
	struct vec rows = VEC_INIT(struct row);
	struct peer_names peers = { 0 };
	int err, n;

	walk(st, target_gen(st));
	n = mapread_u64s(bpf_map__fd(st->skel->maps.net_stats), sizeof(struct cs_net_key),
			 sizeof(struct cs_net_stats) / 8, 0, add_row, &rows);
	err = n < 0 ? n : rows.failed ? -ENOMEM : 0;
	if (!err)
		err = read_peers(st, &peers);
	if (err)
		goto out;
	rows_merge_aliases(&rows, &row_shape, c->slots);
	write_connects(c, &peers, &rows);
	write_hist(c, st, &peers, &rows, false);
	write_simple(c, &peers, &rows, "ctrlscope_tcp_sent_bytes_total", "counter",
		     "TCP payload bytes a target sent (retransmissions not counted again).",
		     F_SENT);
	write_simple(c, &peers, &rows, "ctrlscope_tcp_received_bytes_total", "counter",
		     "TCP payload bytes a target received.", F_RECEIVED);
	write_simple(c, &peers, &rows, "ctrlscope_tcp_retransmits_total", "counter",
		     "TCP segments a target's connections retransmitted.", F_RETRANS);
	write_resets(c, &peers, &rows);
	write_hist(c, st, &peers, &rows, true);
	write_simple(c, &peers, &rows, "ctrlscope_tcp_open_connections", "gauge",
		     "Established TCP connections of a target now open.", F_OPEN);
	write_overflows(c, st);
	scrape_report_map(c, "net_stats", (uint64_t)n, st->max_entries,
			  __atomic_load_n(&st->skel->bss->stats_full, __ATOMIC_RELAXED));
	scrape_report_map(c, "net_peer_ids", peers.n, st->max_peer_ids,
			  __atomic_load_n(&st->skel->bss->peers_full, __ATOMIC_RELAXED));
	if (st->hash) {
		int64_t hashed = __atomic_load_n(&st->skel->bss->sock_hashed, __ATOMIC_RELAXED);

		scrape_report_map(c, "net_sock_hash", hashed > 0 ? (uint64_t)hashed : 0,
				  HASH_SOCKETS,
				  __atomic_load_n(&st->skel->bss->socks_full, __ATOMIC_RELAXED));
	}
out:
	vec_free(&rows);
	free(peers.keys);
	return err;
}

/* The slot's series are gone: drop its rows. Its sockets, if any outlive it, find no
 * row to decrement and start new rows for whatever they still count. */
static void net_forget_slot(void *state, uint32_t slot)
{
	struct state *st = state;

	map_delete_slot_keys(bpf_map__fd(st->skel->maps.net_stats), sizeof(struct cs_net_key),
			     slot);
}

static void net_close(void *state)
{
	struct state *st = state;

	if (!st)
		return;
	attach_detach(st->attach); /* destroys the iterator links too */
	net_bpf__destroy(st->skel);
	free(st);
}

const struct module net_module = {
	.name = MODULE_NAME,
	.options = options,
	.open = net_open,
	.attach = net_attach,
	.collect = net_collect,
	.forget_slot = net_forget_slot,
	.tick = net_tick,
	.close = net_close,
};
