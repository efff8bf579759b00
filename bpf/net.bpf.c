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

static __always_inline bool is_tcp(const struct sock *sk)
{
	return sk->sk_protocol == IPPROTO_TCP &&
	       (sk->__sk_common.skc_family == AF_INET || sk->__sk_common.skc_family == AF_INET6);
}

/* The socket's storage, or NULL. Request and time-wait sockets are not full sockets and
 * have no storage field: their state says so before anything past sock_common is read. */
static __always_inline struct cs_net_sock *sock_of(const struct sock *sk)
{
	int state;

	if (!sk)
		return NULL;
	state = sk->__sk_common.skc_state;
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return NULL;
	if (!sk->sk_bpf_storage)
		return NULL; /* the non-target path: no helper call */
	return bpf_sk_storage_get(&net_socks, (struct sock *)sk, 0, 0);
}

static __always_inline void remote_addr(const struct sock *sk, __u8 addr[16])
{
	if (sk->__sk_common.skc_family == AF_INET) {
		__u32 v4 = sk->__sk_common.skc_daddr;

		__builtin_memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		__builtin_memcpy(addr + 12, &v4, 4);
		return;
	}
	/* A dual-stack socket connecting to an IPv4 address holds it IPv4-mapped already. */
	BPF_CORE_READ_INTO((__u8(*)[16])addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
}

/* The peer id of key, allocated on first sight while the target is under its cap. */
static __always_inline __u32 peer_id(struct cs_peer_key *key)
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
	count = &peer_count[t];
	if (__sync_fetch_and_add(count, 1) >= max_peers) {
		__sync_fetch_and_sub(count, 1);
		__sync_fetch_and_add(&peer_overflow[t], 1);
		return CS_PEER_OTHER;
	}
	id = __sync_fetch_and_add(&next_peer, 1);
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

static __always_inline __u32 outbound_peer(const struct sock *sk, __u32 target)
{
	struct cs_peer_key key = {};

	key.target = target;
	key.kind = CS_PEER_OUT;
	key.port = bpf_ntohs(sk->__sk_common.skc_dport);
	remote_addr(sk, key.addr);
	return peer_id(&key);
}

static __always_inline __u32 inbound_peer(const struct sock *sk, __u32 target)
{
	struct cs_peer_key key = {};

	key.target = target;
	key.kind = CS_PEER_IN;
	key.port = sk->__sk_common.skc_num;
	return peer_id(&key);
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

/* Add the socket's bytes and retransmits not counted yet. */
static __always_inline void account(const struct sock *sk, struct cs_net_sock *s)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct cs_net_stats *st;
	__u64 sent, received, retrans;

	if (!tp)
		return;
	sent = cs_claim(&s->sent, sent_of(tp));
	received = cs_claim(&s->received, received_of(sk, tp));
	retrans = cs_claim(&s->retrans, tp->total_retrans);
	if (!sent && !received && !retrans)
		return;
	st = stats_of(s->slot, s->peer);
	if (!st)
		return;
	__sync_fetch_and_add(&st->sent, sent);
	__sync_fetch_and_add(&st->received, received);
	__sync_fetch_and_add(&st->retrans, retrans);
}

/* Start counting from the socket's current counters (a socket found already open). */
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

/* A task starts a connect or a listen: tag the socket if the task is a target. A socket
 * tagged for an earlier connection and now reused by another task loses its tag. */
static __always_inline void tag(const struct sock *sk, int newstate)
{
	struct cs_task *task = cs_current_task_state();
	struct cs_net_sock *s;

	if (!task) {
		if (sk->sk_bpf_storage)
			bpf_sk_storage_delete(&net_socks, (struct sock *)sk);
		return;
	}
	s = bpf_sk_storage_get(&net_socks, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	/* A socket may connect again after a failed connect: start over. */
	__builtin_memset(s, 0, sizeof(*s));
	s->slot = task->slot;
	s->target = task->target;
	if (newstate == TCP_LISTEN) {
		s->flags = CS_NET_LISTENER;
		return;
	}
	s->peer = outbound_peer(sk, task->target);
	s->connect_ns = bpf_ktime_get_ns();
	baseline(sk, s);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(cs_net_state, const struct sock *sk, int oldstate, int newstate)
{
	struct cs_net_stats *st;
	struct cs_net_sock *s;

	if (!is_tcp(sk))
		return 0;
	if (oldstate == TCP_CLOSE && (newstate == TCP_SYN_SENT || newstate == TCP_LISTEN)) {
		tag(sk, newstate);
		return 0;
	}
	s = sock_of(sk);
	if (!s)
		return 0;

	if (s->flags & CS_NET_LISTENER) {
		if (oldstate != TCP_LISTEN || newstate != TCP_SYN_RECV)
			return 0; /* the listener itself closing */
		/* sk is a new child carrying a copy of its listener's storage. */
		s->flags = CS_NET_INBOUND;
		s->peer = inbound_peer(sk, s->target);
		s->connect_ns = 0;
		s->sent = 0;
		s->received = 0;
		s->retrans = 0;
		return 0;
	}

	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		st = stats_of(s->slot, s->peer);
		if (!st)
			return 0;
		__sync_fetch_and_add(&st->connects[CS_NET_OK], 1);
		if (oldstate == TCP_SYN_SENT && s->connect_ns)
			hist_add(st->connect_buckets, &st->connect_sum_ns,
				 bpf_ktime_get_ns() - s->connect_ns);
		opened(s, st);
		return 0;
	}

	if (newstate != TCP_CLOSE || (s->flags & CS_NET_CLOSED))
		return 0;
	/* The storage stays until the socket is freed: a reset may still be sent after the
	 * state became TCP_CLOSE (abort on close with unread data, zero linger). */
	s->flags |= CS_NET_CLOSED;
	if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV) {
		st = stats_of(s->slot, s->peer);
		if (st)
			__sync_fetch_and_add(&st->connects[connect_result(sk)], 1);
	}
	account(sk, s);
	if (s->flags & CS_NET_OPEN) {
		struct cs_net_key key = { .slot = s->slot, .peer = s->peer };

		/* No new row for a decrement: a slot forgotten meanwhile has no gauge. */
		st = bpf_map_lookup_elem(&net_stats, &key);
		if (st)
			__sync_fetch_and_sub(&st->open, 1);
	}
	return 0;
}

static __always_inline void count_reset(const struct sock *sk, bool sent)
{
	struct cs_net_stats *st;
	struct cs_net_sock *s;

	if (!sk || !is_tcp(sk))
		return;
	s = sock_of(sk);
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
	count_reset(sk, true);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(cs_net_receive_reset, struct sock *sk)
{
	count_reset(sk, false);
	return 0;
}

/* RTT samples of tagged sockets: the callback is switched on when a tagged connection is
 * established, so untagged sockets never call this program per packet. */
SEC("sockops")
int cs_net_sockops(struct bpf_sock_ops *ops)
{
	struct cs_net_stats *st;
	struct cs_net_sock *s;
	struct bpf_sock *sk;
	__u64 rtt_us;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sk = ops->sk;
		if (sk && bpf_sk_storage_get(&net_socks, sk, 0, 0))
			bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags |
							       BPF_SOCK_OPS_RTT_CB_FLAG);
		return 1;
	case BPF_SOCK_OPS_RTT_CB:
		sk = ops->sk;
		if (!sk)
			return 1;
		s = bpf_sk_storage_get(&net_socks, sk, 0, 0);
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

/* Every file of every target task, at each scrape: bring the counts of its open
 * connections up to date, and tag the sockets it had before it became a target (or
 * before the agent started), counting them from now on. Which side of an adopted
 * connection connected is no longer known: the side whose port is the lower of the two
 * is taken as the server. Task files rather than the storage map or the TCP socket table:
 * a map iterator cannot be loaded on every kernel, and TCP iterators see one network
 * namespace, while each pod has its own. */
SEC("iter/task_file")
int cs_net_walk(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct cs_net_stats *st;
	struct cs_net_sock *s;
	struct cs_task *ts;
	struct socket *sock;
	struct sock *sk;
	int state;
	__u16 lport, rport;

	if (!task || !file)
		return 0;
	ts = cs_task_state(task);
	if (!ts)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk || !is_tcp(sk))
		return 0;
	state = sk->__sk_common.skc_state;
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	s = sk->sk_bpf_storage ? bpf_sk_storage_get(&net_socks, sk, 0, 0) : NULL;
	if (s) {
		if (!(s->flags & (CS_NET_LISTENER | CS_NET_CLOSED)))
			account(sk, s);
		return 0;
	}
	if (state == TCP_CLOSE || state == TCP_SYN_SENT || state == TCP_SYN_RECV)
		return 0; /* not connected, or tagged by the state changes still to come */
	s = bpf_sk_storage_get(&net_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	s->slot = ts->slot;
	s->target = ts->target;
	if (state == TCP_LISTEN) {
		s->flags = CS_NET_LISTENER;
		return 0;
	}
	lport = sk->__sk_common.skc_num;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (lport < rport) {
		s->flags = CS_NET_INBOUND;
		s->peer = inbound_peer(sk, ts->target);
	} else {
		s->peer = outbound_peer(sk, ts->target);
	}
	baseline(sk, s);
	st = stats_of(s->slot, s->peer);
	if (st)
		opened(s, st);
	return 0;
}
