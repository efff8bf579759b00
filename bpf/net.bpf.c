// SPDX-License-Identifier: GPL-2.0
/* net module: TCP connects, payload bytes, retransmits, resets, RTT and open connections
 * of target processes, per (label set, peer).
 *
 * Cost model: nothing runs per packet for anyone's traffic. A socket of a target is
 * tagged with socket-local storage when it connects or listens (sock:inet_sock_set_state,
 * in the connecting task's context); accepted sockets inherit the listener's storage
 * (BPF_F_CLONE). Every TCP state change on the node costs a non-target one pointer test
 * (the socket carries no BPF storage at all) or one storage lookup. Bytes and retransmits
 * are the kernel's own tcp_sock counters, read at close and, for open connections, by
 * the cs_net_walk iterator at every scrape. RTT samples come from sock_ops on tagged
 * sockets only: the RTT callback is switched on per socket. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"
#include <ctrlscope/net.h>

char LICENSE[] SEC("license") = "GPL";

/* Two sets of programs, one loaded (user/modules/net.c). The native one keeps a socket's state in
 * socket storage and claims counts with compare-and-swap. The hash one, for kernels
 * before 5.12 (no compare-and-swap; before 5.11 no socket storage in tracing programs and
 * no bpf_sock_from_file()), keeps it in net_sock_hash keyed by the socket's address,
 * created where storage would be and deleted when the kernel destroys the socket, finds
 * accepted sockets' listeners in net_listeners, allocates peer ids from a queue, and
 * walks open connections only by listing them for sync requests: its claims are made
 * under the socket's lock (the close path's state change, a cgroup/setsockopt program),
 * never two at once. Shared code takes `legacy`, a constant in each program: the hash
 * programs contain no instruction the 5.10 verifier refuses. */

/* How much of now, a reading of a monotonic kernel counter, is not yet counted, claiming
 * it: *done moves to now. A close path and a scrape-time iterator may claim the same
 * counter at once on two CPUs; each unit is counted once. */
static __always_inline __u64 cs_claim(__u64 *done, __u64 now, const bool legacy)
{
	if (legacy) { /* the socket's lock is held: the only claimer */
		__u64 old = *done;

		if (now <= old)
			return 0;
		*done = now;
		return now - old;
	}
	for (int i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)done;

		if (now <= old)
			return 0;
		if (__sync_val_compare_and_swap(done, old, now) == old)
			return now - old;
	}
	return 0; /* lost four races in a row: the winners counted it */
}

#define AF_INET	     2
#define AF_INET6     10
#define IPPROTO_TCP  6
#define ECONNRESET   104
#define ETIMEDOUT    110
#define ECONNREFUSED 111

const volatile __u32 max_peers = 32;	/* per target */
const volatile __u32 max_peer_ids = 64; /* net_peer_keys entries */

__u32 next_peer = CS_PEER_FIRST;
__u32 peer_count[CS_MAX_TARGETS];
__u64 peer_overflow[CS_MAX_TARGETS]; /* connections put under "other" by the cap */
__u64 peers_full;		     /* net_peer_keys exhausted */
__u64 stats_full;		     /* net_stats full */
struct cs_net_stats zero_stats;	     /* the value of a new net_stats row */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct cs_net_sock);
} net_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_net_key);
	__type(value, struct cs_net_stats);
} net_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* max_peer_ids */
	__type(key, struct cs_peer_key);
	__type(value, __u32);
} net_peer_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* max_peer_ids */
	__type(key, __u32);
	__type(value, struct cs_peer_key);
} net_peer_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct cs_addr_port);
	__type(value, __u8);
} net_apiserver SEC(".maps");

/* The hash programs' socket state (see the top), by the socket's address. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* sized by user space; 1 when unused */
	__type(key, __u64);
	__type(value, struct cs_net_sock);
} net_sock_hash SEC(".maps");

/* The hash programs' listening sockets of targets, by network namespace and port: an
 * accepted socket takes its listener's target from here. */
struct cs_listen_key {
	__u64 net;
	__u32 port;
	__u32 pad;
};

struct cs_listener {
	__u64 sk;
	__u32 slot;
	__u32 target;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, struct cs_listen_key);
	__type(value, struct cs_listener);
} net_listeners SEC(".maps");

/* The hash programs' peer ids never used yet, CS_PEER_FIRST to max_peer_ids - 1 in
 * order, filled by user space: popping one stands for fetch-and-add on next_peer. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1); /* max_peer_ids */
	__type(value, __u32);
} net_peer_tickets SEC(".maps");

__u64 socks_full;  /* net_sock_hash or net_listeners full: a socket left unmeasured */
__s64 sock_hashed; /* entries of net_sock_hash */

static __always_inline bool is_tcp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_TCP &&
	       (sk->__sk_common.skc_family == AF_INET || sk->__sk_common.skc_family == AF_INET6);
}

/* The socket's state, or NULL. Request and time-wait sockets are not full sockets and
 * have no storage field: their state says so before anything past sock_common is read. */
static __always_inline struct cs_net_sock *sock_of(const struct sock *sk, const bool legacy)
{
	__u64 key = (__u64)sk;
	int state;

	if (!sk)
		return NULL;
	state = sk->__sk_common.skc_state;
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return NULL;
	if (legacy)
		return bpf_map_lookup_elem(&net_sock_hash, &key);
	if (!sk->sk_bpf_storage)
		return NULL; /* the non-target path: no helper call */
	return bpf_sk_storage_get(&net_socks, (struct sock *)sk, 0, 0);
}

/* A target socket's state from scratch: the one initialiser, for a connect, a listen, an
 * accepted socket and one the walk adopts. */
static __always_inline void sock_init(struct cs_net_sock *s, __u32 slot, __u32 target, __u32 flags)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->slot = slot;
	s->target = target;
	s->flags = flags;
}

/* sk's state, created (or started over: a socket may connect again after a failed
 * connect) with sock_init(); NULL when there is no room. */
static __always_inline struct cs_net_sock *sock_create(void *sk, __u32 slot, __u32 target,
						       __u32 flags, const bool legacy)
{
	struct cs_net_sock zero = {}, *s;
	__u64 key = (__u64)sk;

	if (!legacy) {
		s = bpf_sk_storage_get(&net_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	} else {
		/* Its lock is held: nobody deletes an entry meanwhile. */
		s = bpf_map_lookup_elem(&net_sock_hash, &key);
		if (!s) {
			if (bpf_map_update_elem(&net_sock_hash, &key, &zero, BPF_NOEXIST)) {
				__sync_fetch_and_add(&socks_full, 1);
				return NULL;
			}
			__sync_fetch_and_add(&sock_hashed, 1);
			s = bpf_map_lookup_elem(&net_sock_hash, &key);
		}
	}
	if (s)
		sock_init(s, slot, target, flags);
	return s;
}

static __always_inline void sock_delete(const struct sock *sk, const bool legacy)
{
	__u64 key = (__u64)sk;

	if (legacy) {
		if (!bpf_map_delete_elem(&net_sock_hash, &key))
			__sync_fetch_and_add(&sock_hashed, -1);
	} else if (sk->sk_bpf_storage)
		bpf_sk_storage_delete(&net_socks, (struct sock *)sk);
}

/* Read with BPF_CORE_READ: the hash programs' walk holds sk as a plain number. */
static __always_inline void remote_addr(const struct sock *sk, __u8 addr[16])
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET) {
		__u32 v4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		__builtin_memcpy(addr + 12, &v4, 4);
		return;
	}
	/* A dual-stack socket connecting to an IPv4 address holds it IPv4-mapped already. */
	BPF_CORE_READ_INTO((__u8(*)[16])addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
}

/* A new peer id, or max_peer_ids when none is left. */
static __always_inline __u32 new_peer_id(const bool legacy)
{
	__u32 id;

	if (!legacy)
		return __sync_fetch_and_add(&next_peer, 1);
	if (bpf_map_pop_elem(&net_peer_tickets, &id))
		return max_peer_ids;
	__sync_fetch_and_add(&next_peer, 1); /* tickets come in order: next_peer passes id */
	return id;
}

/* Whether target t may name one more peer, counting it. Without fetch-and-add (legacy),
 * CPUs naming peers of one target at the same moment may pass the cap together. */
static __always_inline bool peer_take(__u32 *count, const bool legacy)
{
	if (legacy) {
		if (*(volatile __u32 *)count >= max_peers)
			return false;
		__sync_fetch_and_add(count, 1);
		return true;
	}
	if (__sync_fetch_and_add(count, 1) < max_peers)
		return true;
	__sync_fetch_and_sub(count, 1);
	return false;
}

/* The peer id of key, allocated on first sight while the target is under its cap. */
static __always_inline __u32 peer_id(struct cs_peer_key *key, const bool legacy)
{
	struct cs_peer_key *slot_key;
	__u32 *found, *count, id, t = key->target;

	if (key->kind == CS_PEER_OUT) {
		struct cs_addr_port ap = {};

		__builtin_memcpy(ap.addr, key->addr, sizeof(ap.addr));
		ap.port = key->port;
		if (bpf_map_lookup_elem(&net_apiserver, &ap))
			return CS_PEER_APISERVER;
	}
	found = bpf_map_lookup_elem(&net_peer_ids, key);
	if (found)
		return *found;
	if (t >= CS_MAX_TARGETS)
		return CS_PEER_OTHER;
	/* A no-op after the test, but the 5.10 verifier loses the test's bound on a target
	 * read back from a sync request; the barrier keeps clang from dropping the mask. */
	_Static_assert((CS_MAX_TARGETS & (CS_MAX_TARGETS - 1)) == 0, "a power of two");
	barrier_var(t);
	t &= CS_MAX_TARGETS - 1;
	count = &peer_count[t];
	if (!peer_take(count, legacy)) {
		__sync_fetch_and_add(&peer_overflow[t], 1);
		return CS_PEER_OTHER;
	}
	id = new_peer_id(legacy);
	slot_key = id < max_peer_ids ? bpf_map_lookup_elem(&net_peer_keys, &id) : NULL;
	if (!slot_key) {
		__sync_fetch_and_sub(count, 1);
		__sync_fetch_and_add(&peers_full, 1);
		return CS_PEER_OTHER;
	}
	/* The key is in place before the id is published: user space trusts keys of ids
	 * it finds in use. */
	*slot_key = *key;
	if (bpf_map_update_elem(&net_peer_ids, key, &id, BPF_NOEXIST)) {
		/* Another CPU named this peer first (or the map is full). */
		slot_key->target = CS_PEER_UNUSED;
		__sync_fetch_and_sub(count, 1);
		found = bpf_map_lookup_elem(&net_peer_ids, key);
		if (found)
			return *found;
		__sync_fetch_and_add(&peers_full, 1);
		return CS_PEER_OTHER;
	}
	return id;
}

static __always_inline __u32 outbound_peer(const struct sock *sk, __u32 target, const bool legacy)
{
	struct cs_peer_key key = {};

	key.target = target;
	key.kind = CS_PEER_OUT;
	key.port = bpf_ntohs(sk->__sk_common.skc_dport);
	remote_addr(sk, key.addr);
	return peer_id(&key, legacy);
}

static __always_inline __u32 inbound_peer(const struct sock *sk, __u32 target, const bool legacy)
{
	struct cs_peer_key key = {};

	key.target = target;
	key.kind = CS_PEER_IN;
	key.port = sk->__sk_common.skc_num;
	return peer_id(&key, legacy);
}

static __always_inline struct cs_net_stats *stats_of(__u32 slot, __u32 peer)
{
	struct cs_net_key key = { .slot = slot, .peer = peer };

	return cs_lookup_or_init(&net_stats, &key, &zero_stats, &stats_full);
}

/* Payload counters of a socket: bytes_sent counts retransmitted bytes again, and
 * bytes_received counts a received FIN (SOCK_DONE) as one byte. */
static __always_inline __u64 sent_of(const struct tcp_sock *tp)
{
	return tp->bytes_sent - tp->bytes_retrans;
}

static __always_inline __u64 received_of(const struct sock *sk, const struct tcp_sock *tp)
{
	__u64 received = tp->bytes_received;

	if (received && (sk->__sk_common.skc_flags & (1UL << SOCK_DONE)))
		received -= 1;
	return received;
}

/* Add what of the socket's counters is not counted yet. */
static __always_inline void claim_counts(struct cs_net_sock *s, __u64 sent_now, __u64 received_now,
					 __u64 retrans_now, const bool legacy)
{
	struct cs_net_stats *st;
	__u64 sent, received, retrans;

	sent = cs_claim(&s->sent, sent_now, legacy);
	received = cs_claim(&s->received, received_now, legacy);
	retrans = cs_claim(&s->retrans, retrans_now, legacy);
	if (!sent && !received && !retrans)
		return;
	st = stats_of(s->slot, s->peer);
	if (!st)
		return;
	__sync_fetch_and_add(&st->sent, sent);
	__sync_fetch_and_add(&st->received, received);
	__sync_fetch_and_add(&st->retrans, retrans);
}

/* Add the socket's bytes and retransmits not counted yet. */
static __always_inline void account(const struct sock *sk, struct cs_net_sock *s, const bool legacy)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	if (tp)
		claim_counts(s, sent_of(tp), received_of(sk, tp), tp->total_retrans, legacy);
}

/* Start counting from the socket's current counters (a connect starting). */
static __always_inline void baseline(const struct sock *sk, struct cs_net_sock *s)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	if (!tp)
		return;
	s->sent = sent_of(tp);
	s->received = received_of(sk, tp);
	s->retrans = tp->total_retrans;
}

static __always_inline void hist_add(__u64 *buckets, __u64 *sum, __u64 ns)
{
	__u32 b = cs_hist_bucket(ns);

	if (b < CS_HIST_BUCKETS)
		__sync_fetch_and_add(&buckets[b], 1);
	__sync_fetch_and_add(sum, ns);
}

static __always_inline void opened(struct cs_net_sock *s, struct cs_net_stats *st)
{
	if (s->flags & CS_NET_OPEN)
		return;
	s->flags |= CS_NET_OPEN;
	__sync_fetch_and_add(&st->open, 1);
}

/* A tagged connection became established: one connect, its duration when outbound
 * (active), and one more open connection. Counted once, by whichever comes first of the
 * state change and the sock_ops callback that follows it: the kernel skips a tracing
 * program that a softirq interrupts on its CPU and calls again (recursion_misses), while
 * cgroup programs are not skipped. Both run with the socket locked. */
static __always_inline void established(struct cs_net_sock *s, bool active)
{
	struct cs_net_stats *st;

	if (s->flags & (CS_NET_OPEN | CS_NET_LISTENER | CS_NET_CLOSED))
		return;
	st = stats_of(s->slot, s->peer);
	if (!st)
		return;
	__sync_fetch_and_add(&st->connects[CS_NET_OK], 1);
	if (active && s->connect_ns)
		hist_add(st->connect_buckets, &st->connect_sum_ns,
			 bpf_ktime_get_ns() - s->connect_ns);
	opened(s, st);
}

static __always_inline int connect_result(const struct sock *sk)
{
	switch (sk->sk_err) {
	case ECONNREFUSED:
		return CS_NET_REFUSED;
	case ETIMEDOUT:
		return CS_NET_TIMEOUT;
	case ECONNRESET:
		return CS_NET_RESET;
	default:
		return CS_NET_OTHER; /* unreachable, canceled by the application, ... */
	}
}

/* The hash programs' key of a listening socket (or of the listener of an accepted one:
 * the same namespace and local port). */
static __always_inline struct cs_listen_key listen_key(const struct sock *sk)
{
	struct cs_listen_key key = {};

	key.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	key.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	return key;
}

/* The hash programs: a target's socket sk starts listening (key: listen_key()), or one
 * stops. */
static __always_inline void listener_set(struct cs_listen_key key, const void *sk,
					 const struct cs_net_sock *s)
{
	struct cs_listener l = { .sk = (__u64)sk, .slot = s->slot, .target = s->target };

	if (bpf_map_update_elem(&net_listeners, &key, &l, BPF_ANY))
		__sync_fetch_and_add(&socks_full, 1);
}

static __always_inline void listener_clear(const struct sock *sk)
{
	struct cs_listen_key key = listen_key(sk);
	struct cs_listener *l = bpf_map_lookup_elem(&net_listeners, &key);

	if (l && l->sk == (__u64)sk)
		bpf_map_delete_elem(&net_listeners, &key);
}

/* A task starts a connect or a listen: tag the socket if the task is a target. A socket
 * tagged for an earlier connection and now reused by another task loses its tag. */
static __always_inline void tag(const struct sock *sk, int newstate, const bool legacy)
{
	struct cs_task *task = cs_current_task_state();
	struct cs_net_sock *s;

	if (!task) {
		sock_delete(sk, legacy);
		return;
	}
	s = sock_create((void *)sk, task->slot, task->target,
			newstate == TCP_LISTEN ? CS_NET_LISTENER : 0, legacy);
	if (!s)
		return;
	if (newstate == TCP_LISTEN) {
		if (legacy)
			listener_set(listen_key(sk), sk, s);
		return;
	}
	s->peer = outbound_peer(sk, task->target, legacy);
	s->connect_ns = bpf_ktime_get_ns();
	baseline(sk, s);
}

/* The hash programs: an accepted socket (sk, just cloned from its listener) of a target's
 * listener gets its state, as socket storage would be cloned. */
static __always_inline void adopt_child(const struct sock *sk)
{
	struct cs_listen_key key = listen_key(sk);
	struct cs_listener *l = bpf_map_lookup_elem(&net_listeners, &key);
	struct cs_net_sock *s;

	if (!l)
		return;
	s = sock_create((void *)sk, l->slot, l->target, CS_NET_INBOUND, true);
	if (s)
		s->peer = inbound_peer(sk, s->target, true);
}

/* A tagged connection closed (connecting: before it was established): its last counts.
 * Once: at TCP_CLOSE, or when the kernel destroys a socket whose TCP_CLOSE it skipped. The
 * state stays until the socket is freed: a reset may still be sent after the state became
 * TCP_CLOSE (abort on close with unread data, zero linger). */
static __always_inline void closed(const struct sock *sk, struct cs_net_sock *s, bool connecting,
				   const bool legacy)
{
	struct cs_net_stats *st;

	if (s->flags & (CS_NET_CLOSED | CS_NET_LISTENER))
		return;
	s->flags |= CS_NET_CLOSED;
	if (connecting) {
		st = stats_of(s->slot, s->peer);
		if (st)
			__sync_fetch_and_add(&st->connects[connect_result(sk)], 1);
	}
	account(sk, s, legacy);
	if (s->flags & CS_NET_OPEN) {
		struct cs_net_key key = { .slot = s->slot, .peer = s->peer };

		/* No new row for a decrement: a slot forgotten meanwhile has no gauge. */
		st = bpf_map_lookup_elem(&net_stats, &key);
		if (st)
			__sync_fetch_and_sub(&st->open, 1);
	}
}

/* The kernel destroys a TCP socket: its close, if the state change was skipped. An
 * outbound connection that never opened was still connecting. */
static __always_inline void destroyed(const struct sock *sk, struct cs_net_sock *s,
				      const bool legacy)
{
	closed(sk, s, !(s->flags & (CS_NET_OPEN | CS_NET_INBOUND)) && s->connect_ns, legacy);
}

static __always_inline int on_state(const struct sock *sk, int oldstate, int newstate,
				    const bool legacy)
{
	struct cs_net_sock *s;

	if (!is_tcp(sk))
		return 0;
	if (oldstate == TCP_CLOSE && (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)) {
		tag(sk, newstate, legacy);
		return 0;
	}
	if (legacy && oldstate == TCP_LISTEN && newstate == TCP_SYN_RECV) {
		adopt_child(sk);
		return 0;
	}
	s = sock_of(sk, legacy);
	if (!s)
		return 0;

	if (s->flags & CS_NET_LISTENER) {
		if (legacy) {
			if (newstate == TCP_CLOSE)
				listener_clear(sk);
			return 0;
		}
		if (oldstate != TCP_LISTEN || newstate != TCP_SYN_RECV)
			return 0; /* the listener itself closing */
		/* sk is a new child carrying a copy of its listener's storage. */
		sock_init(s, s->slot, s->target, CS_NET_INBOUND);
		s->peer = inbound_peer(sk, s->target, false);
		return 0;
	}

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		established(s, oldstate == TCP_SYN_SENT);
		return 0;
	}
	if (newstate == TCP_CLOSE)
		closed(sk, s, oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV, legacy);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cs_net_state, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, oldstate, newstate, false);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cs_net_state_hash, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, oldstate, newstate, true);
}

/* The hash programs: the kernel destroys a TCP socket; its state goes with it, as socket
 * storage would. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(cs_net_destroy, struct sock *sk)
{
	struct cs_net_sock *s = sock_of(sk, false);

	if (s)
		destroyed(sk, s, false);
	return 0;
}

/* The hash programs: besides, the state goes with the socket, as socket storage would. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(cs_net_destroy_hash, struct sock *sk)
{
	struct cs_net_sock *s = sock_of(sk, true);

	if (!s)
		return 0;
	destroyed(sk, s, true);
	if (s->flags & CS_NET_LISTENER)
		listener_clear(sk);
	sock_delete(sk, true);
	return 0;
}

static __always_inline void count_reset(const struct sock *sk, bool sent, const bool legacy)
{
	struct cs_net_stats *st;
	struct cs_net_sock *s;

	if (!sk || !is_tcp(sk))
		return;
	s = sock_of(sk, legacy);
	if (!s || (s->flags & CS_NET_LISTENER))
		return;
	/* A reset answering a SYN is a refused connect, counted as such. */
	if (sk->__sk_common.skc_state == TCP_SYN_SENT)
		return;
	st = stats_of(s->slot, s->peer);
	if (!st)
		return;
	if (sent)
		__sync_fetch_and_add(&st->resets_sent, 1);
	else
		__sync_fetch_and_add(&st->resets_received, 1);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(cs_net_send_reset, const struct sock *sk)
{
	count_reset(sk, true, false);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(cs_net_receive_reset, struct sock *sk)
{
	count_reset(sk, false, false);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(cs_net_send_reset_hash, const struct sock *sk)
{
	count_reset(sk, true, true);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(cs_net_receive_reset_hash, struct sock *sk)
{
	count_reset(sk, false, true);
	return 0;
}

/* The state of a sock_ops or sockopt program's socket. */
static __always_inline struct cs_net_sock *bpf_sock_of(struct bpf_sock *sk, const bool legacy)
{
	__u64 key = (__u64)sk;

	if (legacy)
		return bpf_map_lookup_elem(&net_sock_hash, &key);
	return bpf_sk_storage_get(&net_socks, sk, 0, 0);
}

/* RTT samples of tagged sockets: the callback is switched on when a tagged connection is
 * established, so untagged sockets never call this program per packet. */
static __always_inline int on_sockops(struct bpf_sock_ops *ops, const bool legacy)
{
	struct cs_net_stats *st;
	struct cs_net_sock *s;
	struct bpf_sock *sk;
	__u64 rtt_us;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sk = ops->sk;
		s = sk ? bpf_sock_of(sk, legacy) : NULL;
		if (!s)
			return 1;
		established(s, ops->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB);
		bpf_sock_ops_cb_flags_set(ops,
					  ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
		return 1;
	case BPF_SOCK_OPS_RTT_CB:
		sk = ops->sk;
		if (!sk)
			return 1;
		s = bpf_sock_of(sk, legacy);
		if (!s || (s->flags & CS_NET_LISTENER))
			return 1;
		/* args[0] is the sample in microseconds (Linux 6.12+); older kernels pass
		 * nothing and the smoothed RTT (srtt_us holds 8 times it) stands in. A
		 * negative sample (none) arrives as a large u32. */
		rtt_us = ops->args[0];
		if (!rtt_us || rtt_us >= 0x80000000ULL)
			rtt_us = ops->srtt_us >> 3;
		if (!rtt_us)
			return 1;
		st = stats_of(s->slot, s->peer);
		if (st)
			hist_add(st->rtt_buckets, &st->rtt_sum_ns, rtt_us * 1000);
		return 1;
	default:
		return 1;
	}
}

SEC("sockops")
int cs_net_sockops(struct bpf_sock_ops *ops)
{
	return on_sockops(ops, false);
}

SEC("sockops")
int cs_net_sockops_hash(struct bpf_sock_ops *ops)
{
	return on_sockops(ops, true);
}

/* --- the scrape-time walk ------------------------------------------------------------
 * Every file of every target task, at each scrape: bring the counts of its open
 * connections up to date, and tag the sockets it had before it became a target (or
 * before the agent started), counting them from now on. Which side of an adopted
 * connection connected is no longer known: the side whose port is the lower of the two
 * is taken as the server. Task files rather than the TCP socket table: TCP iterators see
 * one network namespace, while each pod has its own; and map iterators are refused on
 * some kernels. */

const volatile __u64 sync_secret; /* set by user space before loading */
__u64 sync_requests;		  /* sync requests acted on */

/* Whether the walk has nothing to do with a socket in this state: an untagged one in the
 * SYN states is not connected yet and will be tagged by the state changes to come. */
static __always_inline bool walk_skips(int state, bool has_storage)
{
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV || state == TCP_CLOSE)
		return true;
	return !has_storage && (state == TCP_SYN_SENT || state == TCP_SYN_RECV);
}

/* What the walk needs of sk. Everything is read with BPF_CORE_READ: a socket pointer
 * loaded from a struct socket is untrusted on strict kernels, where only reads through it
 * pass the verifier, and the hash programs hold it as a plain number. */
static __always_inline void read_seen(const struct sock *sk, struct cs_net_seen *v)
{
	const struct tcp_sock *tp = (const void *)sk;
	__u64 received = BPF_CORE_READ(tp, bytes_received);

	v->sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	if (received && (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << SOCK_DONE)))
		received -= 1;
	v->received = received;
	v->retrans = BPF_CORE_READ(tp, total_retrans);
	v->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	v->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	v->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	v->net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	remote_addr(sk, v->addr);
}

/* The walk's action on a target's socket sk, seen as v; s is its storage, or NULL when it
 * has none. Both variants end here. */
static __always_inline void walk_socket(void *sk, struct cs_net_sock *s,
					const struct cs_net_seen *v, const bool legacy)
{
	struct cs_peer_key key = {};
	struct cs_net_stats *st;

	if (s) {
		if (!(s->flags & (CS_NET_LISTENER | CS_NET_CLOSED)))
			claim_counts(s, v->sent, v->received, v->retrans, legacy);
		return;
	}
	if (v->state == TCP_SYN_SENT || v->state == TCP_SYN_RECV)
		return;
	/* Which side connected is no longer known: the lower port is taken as the server. */
	s = sock_create(sk, v->slot, v->target,
			v->state == TCP_LISTEN ? CS_NET_LISTENER
			: v->lport < v->rport  ? CS_NET_INBOUND
					       : 0,
			legacy);
	if (!s)
		return;
	if (v->state == TCP_LISTEN) {
		struct cs_listen_key lk = { .net = v->net, .port = v->lport };

		if (legacy)
			listener_set(lk, sk, s);
		return;
	}
	key.target = v->target;
	if (s->flags & CS_NET_INBOUND) {
		key.kind = CS_PEER_IN;
		key.port = v->lport;
	} else {
		key.kind = CS_PEER_OUT;
		key.port = v->rport;
		__builtin_memcpy(key.addr, v->addr, sizeof(key.addr));
	}
	s->peer = peer_id(&key, legacy);
	/* Counted from now on: what the socket carried before is not the target's. */
	s->sent = v->sent;
	s->received = v->received;
	s->retrans = v->retrans;
	st = stats_of(s->slot, s->peer);
	if (st)
		opened(s, st);
}

#define S_IFMT	   00170000
#define S_IFSOCK   0140000
#define FMODE_PATH 0x4000

/* The socket of a file, without bpf_sock_from_file() (Linux 5.11): a socket's file is the
 * only open file with a socket inode, its private data the struct socket (an O_PATH file
 * of a socket's path has the inode but no private data). */
static __always_inline struct sock *file_sock(struct file *file)
{
	struct socket *sock;

	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK ||
	    (BPF_CORE_READ(file, f_mode) & FMODE_PATH))
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return sock ? BPF_CORE_READ(sock, sk) : NULL;
}

/* The TCP socket behind a target task's file that the walk has to look at, or NULL;
 * *v is filled from it. */
static __always_inline struct sock *walk_target_sock(struct bpf_iter__task_file *ctx,
						     struct cs_net_seen *v, bool *has_storage,
						     const bool legacy)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct cs_task *ts;
	struct sock *sk;
	__u64 key;

	if (!task || !file)
		return NULL;
	ts = cs_task_state(task);
	if (!ts)
		return NULL;
	if (legacy) {
		sk = file_sock(file);
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
			return NULL;
		key = (__u64)sk;
		*has_storage = bpf_map_lookup_elem(&net_sock_hash, &key) != NULL;
		if (walk_skips(BPF_CORE_READ(sk, __sk_common.skc_state), *has_storage))
			return NULL;
		goto read;
	}
	sock = bpf_sock_from_file(file);
	if (!sock)
		return NULL;
	sk = sock->sk;
	if (!sk || !is_tcp(sk))
		return NULL;
	*has_storage = sk->sk_bpf_storage != NULL;
	if (walk_skips(sk->__sk_common.skc_state, *has_storage))
		return NULL;
read:
	read_seen(sk, v);
	v->slot = ts->slot;
	v->target = ts->target;
	return sk;
}

/* The in-place variant: the kernel lets the walk use the storage of a socket it reached
 * through a task's file (not so where such pointers are untrusted). */
SEC("iter/task_file")
int cs_net_walk(struct bpf_iter__task_file *ctx)
{
	struct cs_net_seen v = {};
	struct cs_net_sock *s;
	bool has_storage;
	struct sock *sk;

	sk = walk_target_sock(ctx, &v, &has_storage, false);
	if (!sk)
		return 0;
	s = has_storage ? bpf_sk_storage_get(&net_socks, sk, 0, 0) : NULL;
	walk_socket(sk, s, &v, false);
	return 0;
}

/* The listing variant: one struct cs_net_seen per socket for user space, which hands
 * each back to cs_net_sync on the socket itself. */
static __always_inline int list_socket(struct bpf_iter__task_file *ctx, const bool legacy)
{
	struct cs_net_seen v = {};
	bool has_storage;

	if (!walk_target_sock(ctx, &v, &has_storage, legacy))
		return 0;
	v.tgid = BPF_CORE_READ(ctx, task, tgid);
	v.fd = ctx->fd;
	v.ino = BPF_CORE_READ(ctx, file, f_inode, i_ino);
	bpf_seq_write(ctx->meta->seq, &v, sizeof(v));
	return 0;
}

SEC("iter/task_file")
int cs_net_list(struct bpf_iter__task_file *ctx)
{
	return list_socket(ctx, false);
}

SEC("iter/task_file")
int cs_net_list_hash(struct bpf_iter__task_file *ctx)
{
	return list_socket(ctx, true);
}

/* A sync request: the agent's setsockopt with a record of cs_net_list, on the socket
 * itself (an fd taken from its process). Runs for every setsockopt of the node while the
 * listing variant is in use: for everyone else, two comparisons. */
static __always_inline int sync_socket(struct bpf_sockopt *ctx, const bool legacy)
{
	struct bpf_sock *sk = ctx->sk;
	void *val, *end;
	struct cs_net_seen v;
	struct cs_net_sock *s;

	if (ctx->level != CS_NET_SYNC_LEVEL || ctx->optname != CS_NET_SYNC_NAME)
		return 1;
	val = ctx->optval;
	end = ctx->optval_end;
	if (!sk || val + sizeof(v) > end)
		return 1;
	__builtin_memcpy(&v, val, sizeof(v));
	/* Only the agent knows the secret: nobody else can tag a socket or move counts. */
	if (!sync_secret || v.secret != sync_secret)
		return 1;
	if (sk->protocol != IPPROTO_TCP || sk->state != v.state)
		return 1; /* changed since it was listed: the next walk sees it as it is */
	s = bpf_sock_of(sk, legacy);
	walk_socket(sk, s, &v, legacy);
	__sync_fetch_and_add(&sync_requests, 1);
	ctx->optlen = -1; /* answered here: the kernel's own handler is not called */
	return 1;
}

SEC("cgroup/setsockopt")
int cs_net_sync(struct bpf_sockopt *ctx)
{
	return sync_socket(ctx, false);
}

/* The hash programs' sync runs with the socket locked (the kernel holds lock_sock
 * around cgroup/setsockopt programs), as its state changes do. */
SEC("cgroup/setsockopt")
int cs_net_sync_hash(struct bpf_sockopt *ctx)
{
	return sync_socket(ctx, true);
}
