// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// The packet gate's XDP program: decides every inbound packet by its source address.
//
//   blocked (in the active "blocked" trie)            -> drop, count BLOCKED
//   unknown (in neither trie)                         -> drop, count UNKNOWN, sample
//   known, of another operator than the interface's
//   link (when its link names one)                    -> drop, count SPOOFED, note
//   known, TCP to port 443 or 80 (the web proxy)      -> pass, count PASS
//   known, a later fragment (it has no ports): passed
//   only when the first fragment of its datagram
//   (same source, destination, protocol and id) was
//   passed within FRAGMENT_TTL_NS                     -> pass, count PASS
//                                                        (else drop, count UNGRANTED;
//                                                         an IPv4 TCP fragment at offset
//                                                         8, which could rewrite the
//                                                         ports, count MALFORMED)
//   known, granted to its organisation (the
//   "openings" trie: organisation, protocol, port,
//   destination; not yet expired)                     -> pass, count GRANTED (QUIC too)
//   known, UDP to port 443 or 80 (QUIC, plain HTTP/3) -> drop, count QUIC
//                                                        (or pass to the stack's reject
//                                                         rule when settings ask for it)
//   known, a QUIC long header to any other UDP port   -> drop, count QUIC
//   known, opened for every source ([gate] allow:
//   organisation 0 in the same trie), or addressed
//   to the gateway itself                             -> pass, count PASS
//   known otherwise                                   -> drop, count UNGRANTED, note
//   an IPv6 header chain past EXT_MAX extension
//   headers or cut short, an IPv4 header cut short,
//   a frame neither IP, ARP nor LLDP                  -> drop, count MALFORMED (fail closed)
//
// Link control, passed before the catalog check (uncounted), but only to the gateway
// itself, never to be forwarded: IPv6 neighbour discovery (ICMPv6 133-137 with hop limit
// 255, as RFC 4861 requires), anything from an IPv6 link-local or unspecified source
// (DHCPv6, MLD, duplicate address detection) and from IPv4 0.0.0.0 (DHCP). "To the
// gateway" is a link-local or link-scope multicast destination, IPv4 broadcast, or one
// the kernel's routing table would not forward (bpf_fib_lookup: local, or forwarding off).
// Such traffic to any other destination is decided like any packet (a link-local or
// unspecified source, never in the catalog, is dropped as unknown, without a sample).
// ARP and LLDP frames are passed: they are never routed.
//
// The tries of one catalog generation live in slot 0 or 1 of four ARRAY_OF_MAPS; `active`
// names the slot in use. Userspace fills the idle slot with new tries and then flips
// `active` in one 4-byte write: a packet sees the old generation or the new one, never a
// mix and never an empty table. Small changes are written into the active tries in place
// (each element update is atomic on its own).
//
// This program must not keep state beyond its maps, and must not look at payloads.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define VERDICT_PASS 0
#define VERDICT_UNKNOWN 1
#define VERDICT_BLOCKED 2
#define VERDICT_QUIC 3
#define VERDICT_SAMPLE_LOST 4
#define VERDICT_MALFORMED 5
#define VERDICT_UNGRANTED 6
#define VERDICT_SPOOFED 7
#define VERDICT_GRANTED 8
#define VERDICTS 16
#define MAX_SLOTS 64
#define MAX_IFINDEX 4096

#define SETTING_QUIC_TO_STACK 1

// Most IPv6 extension headers read before the upper-layer header (RFC 8200's order
// has at most six); a longer chain is dropped.
#define EXT_MAX 6
// upper6's answers besides a protocol number.
#define UPPER_MALFORMED -1
#define UPPER_LATER_FRAGMENT -2

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_LLDP 0x88CC

// What a sample reports: an unknown source (to the catalog), a catalogued source's
// packet no grant opens, or a source spoofed on another operator's link (to the log).
#define SAMPLE_UNKNOWN 0
#define SAMPLE_UNGRANTED 1
#define SAMPLE_SPOOFED 2
// The organisation of openings every catalogued source has ([gate] allow).
#define EVERYONE 0

// Later fragments follow their first: a first fragment that passed is remembered
// (least recently used forgotten first) for as long as a host keeps a datagram waiting
// for its fragments.
#define FRAGMENT_TTL_NS (60ULL * 1000000000ULL)
#define FRAGMENTS_MAX 65536

struct fragment_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;
	__u32 proto;
};

struct lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

// An opening: organisation, protocol and destination port fully matched (64 bits),
// then the destination prefix (IPv4 as ::ffff:a.b.c.d).
struct open_key {
	__u32 prefixlen;
	__u32 org;
	__u8 proto;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

// Who a catalogued prefix belongs to (the store's ids).
struct owner {
	__u32 org;
	__u32 operator;
};

struct trie4 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct lpm4_key));
	__uint(value_size, 1);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct trie6 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct lpm6_key));
	__uint(value_size, 1);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct owned4 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct lpm4_key));
	__uint(value_size, sizeof(struct owner));
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct owned6 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct lpm6_key));
	__uint(value_size, sizeof(struct owner));
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

// Value: the CLOCK_MONOTONIC nanosecond from which it opens nothing.
struct open_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct open_key));
	__uint(value_size, sizeof(__u64));
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct owned4);
} known4 SEC(".maps");

// The first fragments passed: until when their later fragments may follow.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAGMENTS_MAX);
	__type(key, struct fragment_key);
	__type(value, __u64);
} fragments SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct owned6);
} known6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct open_trie);
} openings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct trie4);
} blocked4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct trie6);
} blocked6 SEC(".maps");

// Index 0: the active slot (0 or 1).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active SEC(".maps");

struct settings {
	__u64 sample_interval_ns;
	__u64 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} settings SEC(".maps");

// A guarded interface: its counter slot (1..MAX_SLOTS-1; 0 collects interfaces not
// configured) and the operator of its link (0: none, sources are not bound).
struct iface {
	__u32 slot;
	__u32 operator;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct iface);
} ifslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SLOTS * VERDICTS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

// Last time each unknown source was reported (IPv4 as ::ffff:a.b.c.d).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct in6_addr);
	__type(value, __u64);
} seen SEC(".maps");

// Last time each (source, what) was noted to the log: ungranted per protocol, spoofed.
struct noted_key {
	__u8 addr[16];
	__u32 what;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct noted_key);
	__type(value, __u64);
} noted SEC(".maps");

struct sample {
	__u8 addr[16];
	__u32 ifindex;
	__u32 family;
	__u8 dst[16];
	__u8 kind;
	__u8 proto;
	__u16 port;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} samples SEC(".maps");

static __always_inline void count(__u32 slot, __u32 verdict)
{
	__u32 key = slot * VERDICTS + verdict;
	__u64 *c = bpf_map_lookup_elem(&counters, &key);
	if (c)
		*c += 1;
}

static __always_inline struct iface *iface_of(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	if (ifindex >= MAX_IFINDEX)
		return 0;
	return bpf_map_lookup_elem(&ifslots, &ifindex);
}

static __always_inline __u32 slot_of(struct xdp_md *ctx)
{
	struct iface *i = iface_of(ctx);
	return (i && i->slot < MAX_SLOTS) ? i->slot : 0;
}

static __always_inline __u64 sample_interval(void)
{
	__u32 zero = 0;
	struct settings *s = bpf_map_lookup_elem(&settings, &zero);
	return s ? s->sample_interval_ns : 60000000000ULL;
}

static __always_inline void emit(struct xdp_md *ctx, __u32 slot, struct sample *ev)
{
	ev->ifindex = ctx->ingress_ifindex;
	if (bpf_ringbuf_output(&samples, ev, sizeof(*ev), 0) != 0)
		count(slot, VERDICT_SAMPLE_LOST);
}

static __always_inline void sample(struct xdp_md *ctx, __u32 slot, struct in6_addr *addr, __u32 family)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&seen, addr);
	if (last && now - *last < sample_interval())
		return;
	bpf_map_update_elem(&seen, addr, &now, BPF_ANY);
	struct sample ev = {};
	__builtin_memcpy(ev.addr, addr, 16);
	ev.family = family;
	ev.kind = SAMPLE_UNKNOWN;
	emit(ctx, slot, &ev);
}

// A catalogued source's packet dropped by policy, noted at most once per interval per
// source and protocol (ungranted) or per source (spoofed). Addresses as in the opening
// keys (IPv4 mapped).
static __always_inline void note(struct xdp_md *ctx, __u32 slot, __u8 kind, struct open_key *k, __u8 *src, __u32 family)
{
	struct noted_key n = {};
	__builtin_memcpy(n.addr, src, 16);
	n.what = kind == SAMPLE_SPOOFED ? 0x100 : k->proto;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&noted, &n);
	if (last && now - *last < sample_interval())
		return;
	bpf_map_update_elem(&noted, &n, &now, BPF_ANY);
	struct sample ev = {};
	__builtin_memcpy(ev.addr, src, 16);
	__builtin_memcpy(ev.dst, k->addr, 16);
	ev.family = family;
	ev.kind = kind;
	ev.proto = k->proto;
	ev.port = bpf_ntohs(k->port);
	emit(ctx, slot, &ev);
}

static __always_inline int quic_port(__u16 dport)
{
	return dport == bpf_htons(443) || dport == bpf_htons(80);
}

// A QUIC long header (RFC 9000 17.2: header form and fixed bit set) of version 1, 2
// (RFC 9369) or a draft (0xff0000xx): how every QUIC connection begins, on any port.
static __always_inline int quic_long_header(struct udphdr *udp, void *end)
{
	__u8 *q = (void *)(udp + 1);
	if ((void *)(q + 5) > end || (q[0] & 0xc0) != 0xc0)
		return 0;
	__u32 version = (__u32)q[1] << 24 | (__u32)q[2] << 16 | (__u32)q[3] << 8 | q[4];
	return version == 1 || version == 0x6b3343cf || (version & 0xffffff00) == 0xff000000;
}

static __always_inline int settle(struct xdp_md *ctx, __u32 slot, __u32 verdict)
{
	count(slot, verdict);
	if (verdict == VERDICT_PASS || verdict == VERDICT_GRANTED)
		return XDP_PASS;
	if (verdict == VERDICT_QUIC) {
		__u32 zero = 0;
		struct settings *s = bpf_map_lookup_elem(&settings, &zero);
		if (s && (s->flags & SETTING_QUIC_TO_STACK))
			return XDP_PASS;
	}
	return XDP_DROP;
}

// QUIC from a catalogued source: to 443 or 80 it is answered (settle), elsewhere it is
// dropped outright (the stack's reject rule covers only those two ports).
static __always_inline int quic(struct xdp_md *ctx, __u32 slot, struct udphdr *udp, void *end)
{
	if (quic_port(udp->dest))
		return settle(ctx, slot, VERDICT_QUIC);
	if (quic_long_header(udp, end)) {
		count(slot, VERDICT_QUIC);
		return XDP_DROP;
	}
	return -1;
}

static __always_inline __u32 table_slot(void)
{
	__u32 zero = 0;
	__u32 *a = bpf_map_lookup_elem(&active, &zero);
	return a ? (*a & 1) : 0;
}

static __always_inline int extension6(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_FRAGMENT || next == IPPROTO_AH || next == 135 /* mobility */ ||
	       next == 139 /* HIP */ || next == 140 /* shim6 */ || next == 253 || next == 254;
}

// The upper-layer protocol after at most EXT_MAX extension headers, and where it starts;
// UPPER_LATER_FRAGMENT for a fragment after the first (it has no upper-layer header),
// UPPER_MALFORMED for a chain that is longer or cut short (fail closed: dropped).
static __always_inline int upper6(struct ipv6hdr *ip, void *end, void **l4)
{
	__u8 next = ip->nexthdr;
	void *p = ip + 1;
#pragma unroll
	for (int i = 0; i < EXT_MAX; i++) {
		if (!extension6(next))
			break;
		__u8 *h = p;
		if ((void *)(h + 8) > end)
			return UPPER_MALFORMED;
		if (next == IPPROTO_FRAGMENT) {
			if ((h[2] << 8 | h[3]) & 0xfff8)
				return UPPER_LATER_FRAGMENT;
			next = h[0];
			p = h + 8;
		} else if (next == IPPROTO_AH) {
			next = h[0];
			p = h + (h[1] + 2) * 4;
		} else {
			next = h[0];
			p = h + (h[1] + 1) * 8;
		}
	}
	if (extension6(next))
		return UPPER_MALFORMED;
	*l4 = p;
	return next;
}

// Whether the routing table would not forward this packet (addressed to the gateway,
// or forwarding is off on the interface), by the kernel's own lookup.
static __always_inline int not_forwarded(int rc)
{
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

static __always_inline int to_gateway4(struct xdp_md *ctx, struct iphdr *ip)
{
	if (ip->daddr == 0xffffffff)
		return 1;
	struct bpf_fib_lookup p = {};
	p.family = AF_INET;
	p.ifindex = ctx->ingress_ifindex;
	p.l4_protocol = ip->protocol;
	p.tot_len = bpf_ntohs(ip->tot_len);
	p.ipv4_src = ip->saddr;
	p.ipv4_dst = ip->daddr;
	return not_forwarded(bpf_fib_lookup(ctx, &p, sizeof(p), 0));
}

static __always_inline int to_gateway6(struct xdp_md *ctx, struct ipv6hdr *ip)
{
	__u8 d0 = ip->daddr.in6_u.u6_addr8[0], d1 = ip->daddr.in6_u.u6_addr8[1];
	// Link-local unicast (fe80::/10) or link-scope multicast (ff02::/16).
	if ((d0 == 0xfe && (d1 & 0xc0) == 0x80) || (d0 == 0xff && d1 == 0x02))
		return 1;
	struct bpf_fib_lookup p = {};
	p.family = AF_INET6;
	p.ifindex = ctx->ingress_ifindex;
	p.l4_protocol = ip->nexthdr;
	p.tot_len = bpf_ntohs(ip->payload_len) + sizeof(*ip);
	__builtin_memcpy(p.ipv6_src, &ip->saddr, 16);
	__builtin_memcpy(p.ipv6_dst, &ip->daddr, 16);
	return not_forwarded(bpf_fib_lookup(ctx, &p, sizeof(p), 0));
}

// An IPv6 link-local (fe80::/10) or unspecified (::) source: never in the catalog.
static __always_inline int link_source6(struct ipv6hdr *ip)
{
	__u32 w0 = ip->saddr.in6_u.u6_addr32[0];
	if ((w0 & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000))
		return 1;
	return (w0 | ip->saddr.in6_u.u6_addr32[1] | ip->saddr.in6_u.u6_addr32[2] | ip->saddr.in6_u.u6_addr32[3]) == 0;
}

// Neighbour discovery (ICMPv6 133-137) as RFC 4861 sends it: hop limit 255.
static __always_inline int neighbour_discovery(struct ipv6hdr *ip, int proto, void *l4, void *end)
{
	__u8 *icmp = l4;
	if (proto != IPPROTO_ICMPV6 || ip->hop_limit != 255 || (void *)(icmp + 1) > end)
		return 0;
	return *icmp >= 133 && *icmp <= 137;
}

// reach's answer when only "addressed to the gateway itself" can still pass the packet.
#define UNDECIDED -1

// Whether the interface's link belongs to another operator than the source's prefix.
static __always_inline int spoofed(struct xdp_md *ctx, struct owner *o)
{
	struct iface *i = iface_of(ctx);
	return i && i->operator != 0 && o->operator != i->operator;
}

// Whether the active openings let `k` through for organisation `org`, not yet expired.
static __always_inline int opened(struct open_key *k, __u32 org)
{
	__u32 t = table_slot();
	void *trie = bpf_map_lookup_elem(&openings, &t);
	if (!trie)
		return 0;
	k->org = org;
	__u64 *until = bpf_map_lookup_elem(trie, k);
	return until && *until > bpf_ktime_get_ns();
}

// What a catalogued source's packet may reach: the web proxy, its organisation's
// grants (QUIC included), then QUIC is dropped, then the services opened for every
// source. UNDECIDED for the rest.
static __always_inline int reach(struct xdp_md *ctx, __u32 slot, struct owner *o, struct open_key *k,
				 struct udphdr *udp, void *end)
{
	if (k->proto == IPPROTO_TCP && (k->port == bpf_htons(443) || k->port == bpf_htons(80)))
		return settle(ctx, slot, VERDICT_PASS);
	if (opened(k, o->org))
		return settle(ctx, slot, VERDICT_GRANTED);
	if (udp) {
		int verdict = quic(ctx, slot, udp, end);
		if (verdict >= 0)
			return verdict;
	}
	if (opened(k, EVERYONE))
		return settle(ctx, slot, VERDICT_PASS);
	return UNDECIDED;
}

// The destination port of a TCP or UDP header at `l4` into `k`; the UDP header when it
// is one. -1 when the header is cut short.
static __always_inline int ports(struct open_key *k, void *l4, void *end, struct udphdr **udp)
{
	if (k->proto != IPPROTO_TCP && k->proto != IPPROTO_UDP)
		return 0;
	__u16 *p = l4;
	if ((void *)(p + 4) > end)
		return -1;
	k->port = p[1];
	if (k->proto == IPPROTO_UDP)
		*udp = l4;
	return 0;
}

// What a packet is of a fragmented datagram, with its key (source, destination,
// identification and protocol: the same in every fragment of a datagram). IPv6: only a
// fragment header right after the IPv6 header is read (where senders put it unless a
// hop-by-hop or routing header comes first); a later fragment behind other headers is
// never matched (dropped), and a first fragment there is not remembered.
#define FRAG_NONE 0
#define FRAG_FIRST 1
#define FRAG_LATER 2

static __always_inline int fragment_of(struct xdp_md *ctx, __u32 off, struct fragment_key *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (off & 0x3f);
	if ((void *)(ip + 1) > end)
		return FRAG_NONE;
	if (ip->version == 4) {
		f->src[10] = f->src[11] = f->dst[10] = f->dst[11] = 0xff;
		__builtin_memcpy(f->src + 12, &ip->saddr, 4);
		__builtin_memcpy(f->dst + 12, &ip->daddr, 4);
		f->id = ip->id;
		f->proto = ip->protocol;
		if (ip->frag_off & bpf_htons(0x1fff))
			return FRAG_LATER;
		return (ip->frag_off & bpf_htons(0x2000)) ? FRAG_FIRST : FRAG_NONE;
	}
	struct ipv6hdr *ip6 = (void *)ip;
	__u8 *fh = (void *)(ip6 + 1);
	if (ip->version != 6 || (void *)(fh + 8) > end || ip6->nexthdr != IPPROTO_FRAGMENT)
		return FRAG_NONE;
	__builtin_memcpy(f->src, &ip6->saddr, 16);
	__builtin_memcpy(f->dst, &ip6->daddr, 16);
	f->id = (__u32)fh[4] << 24 | (__u32)fh[5] << 16 | (__u32)fh[6] << 8 | fh[7];
	f->proto = fh[0];
	if ((fh[2] << 8 | fh[3]) & 0xfff8)
		return FRAG_LATER;
	return (fh[3] & 1) ? FRAG_FIRST : FRAG_NONE;
}

// Called for every packet passed (the IP header at `off`): a first fragment is
// remembered, so that its later fragments may follow for FRAGMENT_TTL_NS. A global
// function, verified once on its own, not along every path of the decision.
__attribute__((noinline)) int first_fragment_passed(struct xdp_md *ctx, __u32 off)
{
	struct fragment_key f = {};
	if (fragment_of(ctx, off, &f) != FRAG_FIRST)
		return 0;
	__u64 until = bpf_ktime_get_ns() + FRAGMENT_TTL_NS;
	bpf_map_update_elem(&fragments, &f, &until, BPF_ANY);
	return 0;
}

// Whether a later fragment (the IP header at `off`) follows a first fragment that
// passed, recently.
__attribute__((noinline)) int later_fragment_follows(struct xdp_md *ctx, __u32 off)
{
	struct fragment_key f = {};
	if (fragment_of(ctx, off, &f) != FRAG_LATER)
		return 0;
	__u64 *until = bpf_map_lookup_elem(&fragments, &f);
	return until && *until > bpf_ktime_get_ns();
}

static __always_inline int decide4(struct xdp_md *ctx, void *l3, void *end, __u32 off)
{
	struct iphdr *ip = l3;
	__u32 slot = slot_of(ctx);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return settle(ctx, slot, VERDICT_MALFORMED);
	if (ip->saddr == 0) {
		if (to_gateway4(ctx, ip))
			return XDP_PASS;
		return settle(ctx, slot, VERDICT_UNKNOWN);
	}
	__u32 t = table_slot();
	struct lpm4_key key = {.prefixlen = 32};
	__builtin_memcpy(key.addr, &ip->saddr, 4);

	void *blocked = bpf_map_lookup_elem(&blocked4, &t);
	if (blocked && bpf_map_lookup_elem(blocked, &key))
		return settle(ctx, slot, VERDICT_BLOCKED);
	void *known = bpf_map_lookup_elem(&known4, &t);
	struct owner *o = known ? bpf_map_lookup_elem(known, &key) : 0;
	__u8 src[16] = {};
	src[10] = 0xff;
	src[11] = 0xff;
	__builtin_memcpy(src + 12, &ip->saddr, 4);
	if (!o) {
		sample(ctx, slot, (struct in6_addr *)src, 4);
		return settle(ctx, slot, VERDICT_UNKNOWN);
	}
	struct open_key k = {.prefixlen = 64 + 128, .proto = ip->protocol};
	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	__builtin_memcpy(k.addr + 12, &ip->daddr, 4);
	if (spoofed(ctx, o)) {
		note(ctx, slot, SAMPLE_SPOOFED, &k, src, 4);
		return settle(ctx, slot, VERDICT_SPOOFED);
	}
	// RFC 1858: a TCP fragment at offset 8 bytes can only be there to rewrite the ports.
	if (ip->protocol == IPPROTO_TCP && (ip->frag_off & bpf_htons(0x1fff)) == bpf_htons(1))
		return settle(ctx, slot, VERDICT_MALFORMED);
	if (ip->frag_off & bpf_htons(0x1fff))
		return settle(ctx, slot, later_fragment_follows(ctx, off) ? VERDICT_PASS : VERDICT_UNGRANTED);
	struct udphdr *udp = 0;
	if (ports(&k, (void *)ip + ip->ihl * 4, end, &udp) < 0)
		return settle(ctx, slot, VERDICT_MALFORMED);
	int verdict = reach(ctx, slot, o, &k, udp, end);
	if (verdict != UNDECIDED)
		return verdict;
	if (to_gateway4(ctx, ip))
		return settle(ctx, slot, VERDICT_PASS);
	note(ctx, slot, SAMPLE_UNGRANTED, &k, src, 4);
	return settle(ctx, slot, VERDICT_UNGRANTED);
}

static __always_inline int decide6(struct xdp_md *ctx, void *l3, void *end, __u32 off)
{
	struct ipv6hdr *ip = l3;
	__u32 slot = slot_of(ctx);
	if ((void *)(ip + 1) > end)
		return settle(ctx, slot, VERDICT_MALFORMED);
	void *l4 = 0;
	int proto = upper6(ip, end, &l4);
	if (proto == UPPER_MALFORMED)
		return settle(ctx, slot, VERDICT_MALFORMED);
	int link = link_source6(ip);
	if ((link || neighbour_discovery(ip, proto, l4, end)) && to_gateway6(ctx, ip))
		return XDP_PASS;
	if (link)
		return settle(ctx, slot, VERDICT_UNKNOWN);
	__u32 t = table_slot();
	struct lpm6_key key = {.prefixlen = 128};
	__builtin_memcpy(key.addr, &ip->saddr, 16);

	void *blocked = bpf_map_lookup_elem(&blocked6, &t);
	if (blocked && bpf_map_lookup_elem(blocked, &key))
		return settle(ctx, slot, VERDICT_BLOCKED);
	void *known = bpf_map_lookup_elem(&known6, &t);
	struct owner *o = known ? bpf_map_lookup_elem(known, &key) : 0;
	if (!o) {
		sample(ctx, slot, &ip->saddr, 6);
		return settle(ctx, slot, VERDICT_UNKNOWN);
	}
	struct open_key k = {.prefixlen = 64 + 128};
	__builtin_memcpy(k.addr, &ip->daddr, 16);
	__u8 src[16];
	__builtin_memcpy(src, &ip->saddr, 16);
	if (spoofed(ctx, o)) {
		note(ctx, slot, SAMPLE_SPOOFED, &k, src, 6);
		return settle(ctx, slot, VERDICT_SPOOFED);
	}
	if (proto == UPPER_LATER_FRAGMENT)
		return settle(ctx, slot, later_fragment_follows(ctx, off) ? VERDICT_PASS : VERDICT_UNGRANTED);
	k.proto = proto;
	struct udphdr *udp = 0;
	if (ports(&k, l4, end, &udp) < 0)
		return settle(ctx, slot, VERDICT_MALFORMED);
	int verdict = reach(ctx, slot, o, &k, udp, end);
	if (verdict != UNDECIDED)
		return verdict;
	if (to_gateway6(ctx, ip))
		return settle(ctx, slot, VERDICT_PASS);
	note(ctx, slot, SAMPLE_UNGRANTED, &k, src, 6);
	return settle(ctx, slot, VERDICT_UNGRANTED);
}

SEC("xdp")
int gate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return settle(ctx, slot_of(ctx), VERDICT_MALFORMED);
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
	// Up to two VLAN tags (802.1ad outer, 802.1Q inner).
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		__u16 *tag = l3;
		if ((void *)(tag + 2) > end)
			return settle(ctx, slot_of(ctx), VERDICT_MALFORMED);
		proto = tag[1];
		l3 = tag + 2;
	}
	__u32 off = l3 - data;
	if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6)) {
		int verdict = proto == bpf_htons(ETH_P_IP) ? decide4(ctx, l3, end, off) : decide6(ctx, l3, end, off);
		if (verdict == XDP_PASS)
			first_fragment_passed(ctx, off);
		return verdict;
	}
	if (proto == bpf_htons(ETH_P_ARP) || proto == bpf_htons(ETH_P_LLDP))
		return XDP_PASS;
	return settle(ctx, slot_of(ctx), VERDICT_MALFORMED);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
