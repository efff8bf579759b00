/* The net module's maps, shared by bpf/net.bpf.c and user/modules/net.c.
 *
 * A target's TCP sockets carry socket-local storage (struct cs_net_sock) from the moment
 * they connect or listen; accepted sockets inherit it from their listener. Nothing runs
 * per packet: payload bytes and retransmits are the kernel's own tcp_sock counters, read
 * when a connection closes and, for open ones, by an iterator at every scrape. Per
 * (label set, peer) totals live in net_stats. */
#ifndef CTRLSCOPE_NET_H
#define CTRLSCOPE_NET_H

#include "types.h"
#include "hist.h"

/* How a connect ended. */
enum cs_net_result {
	CS_NET_OK,
	CS_NET_REFUSED,
	CS_NET_TIMEOUT,
	CS_NET_RESET,
	CS_NET_OTHER,
	CS_NET_RESULTS,
};

/* Peer ids: the special peers, then one per (target, peer address) up to the cap. */
#define CS_PEER_NONE	  0 /* not decided yet */
#define CS_PEER_OTHER	  1 /* over the target's cap */
#define CS_PEER_APISERVER 2
#define CS_PEER_FIRST	  3
#define CS_PEER_UNUSED	  0xffffffffu /* net_peer_keys: an id lost to a race */

enum cs_peer_kind {
	CS_PEER_OUT = 1, /* outbound: the remote address and port */
	CS_PEER_IN = 2,	 /* inbound: the local port only */
};

/* Key of net_peer_ids and value of net_peer_keys. IPv4 addresses are stored IPv4-mapped
 * (::ffff:a.b.c.d) so that a dual-stack socket and an IPv4 one name the same peer. */
struct cs_peer_key {
	__u32 target;
	__u16 kind; /* enum cs_peer_kind */
	__u16 port; /* host order */
	__u8 addr[16];
};

/* Key of net_apiserver: the API server's addresses, filled by user space. */
struct cs_addr_port {
	__u8 addr[16];
	__u16 port; /* host order */
	__u16 pad[3];
};

/* Flags of struct cs_net_sock. */
#define CS_NET_INBOUND	0x1 /* accepted from a listener */
#define CS_NET_LISTENER 0x2 /* a listening socket: only passes its storage on */
#define CS_NET_OPEN	0x4 /* counted in the open-connections gauge */
#define CS_NET_CLOSED	0x8 /* reached TCP_CLOSE: final counts taken */

/* Socket-local storage of a target's socket. The sent/received/retrans fields are the
 * tcp_sock counter values already added to net_stats: each accounting adds the difference
 * and moves them forward with a compare-and-swap, so that the close path and the scrape
 * iterator never count a byte twice. */
struct cs_net_sock {
	__u32 slot;
	__u32 target;
	__u32 peer;
	__u32 flags;
	__u64 connect_ns; /* outbound: when SYN_SENT was entered */
	__u64 sent;
	__u64 received;
	__u64 retrans;
};

/* A target's socket as the scrape-time walk sees it. Where the kernel lets the walk reach
 * socket storage from a task's files (iter/task_file), it acts on it in place; where the
 * verifier refuses that (pointers loaded from a socket are untrusted on strict kernels),
 * the walk lists these records for user space, which takes the socket's fd from its
 * process (pidfd_getfd) and hands the record back through a setsockopt that
 * cs_net_sync, a cgroup/setsockopt program, turns into the same action on the socket's
 * storage. */
struct cs_net_seen {
	__u64 secret; /* sync requests: the agent's secret (sync_secret) */
	__u64 ino;    /* the socket's inode: the fd still names this socket */
	__u32 tgid;
	__u32 fd;
	__u32 slot;
	__u32 target;
	__u64 sent; /* the socket's own counters, as sent_of() and received_of() read them */
	__u64 received;
	__u64 retrans;
	__u64 net;     /* its network namespace (the hash programs' listener key) */
	__u8 addr[16]; /* remote address, IPv4-mapped */
	__u16 lport;   /* host order */
	__u16 rport;   /* host order */
	__u8 state;
	__u8 pad[3];
};

/* The setsockopt level and name of a sync request: a level no protocol handles, so that
 * the kernel's own handler would only answer ENOPROTOOPT. */
#define CS_NET_SYNC_LEVEL 0x63730000
#define CS_NET_SYNC_NAME  1

struct cs_net_key {
	__u32 slot;
	__u32 peer;
};

struct cs_net_stats {
	__u64 connects[CS_NET_RESULTS];
	__u64 sent;	/* payload bytes, retransmissions excluded */
	__u64 received; /* payload bytes */
	__u64 retrans;	/* retransmitted segments */
	__u64 resets_sent;
	__u64 resets_received;
	__s64 open; /* established connections now open */
	__u64 connect_sum_ns;
	__u64 connect_buckets[CS_HIST_BUCKETS];
	__u64 rtt_sum_ns;
	__u64 rtt_buckets[CS_HIST_BUCKETS];
};

#endif
