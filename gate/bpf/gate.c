// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// The packet gate's XDP program: decides every inbound packet by its source address.
//
//   blocked (in the active "blocked" trie)            -> drop, count BLOCKED
//   unknown (in neither trie)                         -> drop, count UNKNOWN, sample
//   known, UDP to port 443 or 80 (QUIC, plain HTTP/3) -> drop, count QUIC
//                                                        (or pass to the stack's reject
//                                                         rule when settings ask for it)
//   known otherwise                                   -> pass, count PASS
//
// Never decided (passed, uncounted): non-IP frames (ARP, LLDP), IPv6 neighbour discovery
// (ICMPv6 133-137 from any source), IPv6 link-local and unspecified sources, IPv4
// 0.0.0.0. A gate that broke neighbour discovery would break IPv6 for everyone.
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
#define VERDICTS 8
#define MAX_SLOTS 64
#define MAX_IFINDEX 4096

#define SETTING_QUIC_TO_STACK 1

struct lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct trie4);
} known4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct trie6);
} known6 SEC(".maps");

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

// ifindex -> counter slot (1..MAX_SLOTS-1; 0 collects interfaces not configured).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_IFINDEX);
	__type(key, __u32);
	__type(value, __u32);
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

struct sample {
	__u8 addr[16];
	__u32 ifindex;
	__u32 family;
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

static __always_inline __u32 slot_of(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	if (ifindex >= MAX_IFINDEX)
		return 0;
	__u32 *slot = bpf_map_lookup_elem(&ifslots, &ifindex);
	return (slot && *slot < MAX_SLOTS) ? *slot : 0;
}

static __always_inline void sample(struct xdp_md *ctx, __u32 slot, struct in6_addr *addr, __u32 family)
{
	__u32 zero = 0;
	struct settings *s = bpf_map_lookup_elem(&settings, &zero);
	__u64 interval = s ? s->sample_interval_ns : 60000000000ULL;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&seen, addr);
	if (last && now - *last < interval)
		return;
	bpf_map_update_elem(&seen, addr, &now, BPF_ANY);
	struct sample ev = {};
	__builtin_memcpy(ev.addr, addr, 16);
	ev.ifindex = ctx->ingress_ifindex;
	ev.family = family;
	if (bpf_ringbuf_output(&samples, &ev, sizeof(ev), 0) != 0)
		count(slot, VERDICT_SAMPLE_LOST);
}

static __always_inline int quic_port(__u16 dport)
{
	return dport == bpf_htons(443) || dport == bpf_htons(80);
}

static __always_inline int settle(struct xdp_md *ctx, __u32 slot, __u32 verdict)
{
	count(slot, verdict);
	if (verdict == VERDICT_PASS)
		return XDP_PASS;
	if (verdict == VERDICT_QUIC) {
		__u32 zero = 0;
		struct settings *s = bpf_map_lookup_elem(&settings, &zero);
		if (s && (s->flags & SETTING_QUIC_TO_STACK))
			return XDP_PASS;
	}
	return XDP_DROP;
}

static __always_inline __u32 table_slot(void)
{
	__u32 zero = 0;
	__u32 *a = bpf_map_lookup_elem(&active, &zero);
	return a ? (*a & 1) : 0;
}

static __always_inline int decide4(struct xdp_md *ctx, void *l3, void *end)
{
	struct iphdr *ip = l3;
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	if (ip->saddr == 0)
		return XDP_PASS;
	__u32 slot = slot_of(ctx);
	__u32 t = table_slot();
	struct lpm4_key key = {.prefixlen = 32};
	__builtin_memcpy(key.addr, &ip->saddr, 4);

	void *blocked = bpf_map_lookup_elem(&blocked4, &t);
	if (blocked && bpf_map_lookup_elem(blocked, &key))
		return settle(ctx, slot, VERDICT_BLOCKED);
	void *known = bpf_map_lookup_elem(&known4, &t);
	if (!known || !bpf_map_lookup_elem(known, &key)) {
		struct in6_addr a = {};
		a.in6_u.u6_addr16[5] = 0xffff;
		a.in6_u.u6_addr32[3] = ip->saddr;
		sample(ctx, slot, &a, 4);
		return settle(ctx, slot, VERDICT_UNKNOWN);
	}
	if (ip->protocol == IPPROTO_UDP && (ip->frag_off & bpf_htons(0x1fff)) == 0) {
		struct udphdr *udp = (void *)ip + ip->ihl * 4;
		if ((void *)(udp + 1) <= end && quic_port(udp->dest))
			return settle(ctx, slot, VERDICT_QUIC);
	}
	return settle(ctx, slot, VERDICT_PASS);
}

// The upper-layer protocol after at most three extension headers, and where it starts;
// 255 when there is none to see (a later fragment, too many headers, truncated).
static __always_inline __u8 upper6(struct ipv6hdr *ip, void *end, void **l4)
{
	__u8 next = ip->nexthdr;
	void *p = ip + 1;
#pragma unroll
	for (int i = 0; i < 3; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT)
			break;
		__u8 *h = p;
		if ((void *)(h + 8) > end)
			return 255;
		if (next == IPPROTO_FRAGMENT) {
			if ((h[2] << 8 | h[3]) & 0xfff8)
				return 255;
			next = h[0];
			p = h + 8;
		} else {
			next = h[0];
			p = h + (h[1] + 1) * 8;
		}
	}
	*l4 = p;
	return next;
}

static __always_inline int decide6(struct xdp_md *ctx, void *l3, void *end)
{
	struct ipv6hdr *ip = l3;
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	__u32 w0 = ip->saddr.in6_u.u6_addr32[0];
	// Link-local (fe80::/10) and unspecified (::, duplicate address detection).
	if ((w0 & bpf_htonl(0xffc00000)) == bpf_htonl(0xfe800000))
		return XDP_PASS;
	if ((w0 | ip->saddr.in6_u.u6_addr32[1] | ip->saddr.in6_u.u6_addr32[2] |
	     ip->saddr.in6_u.u6_addr32[3]) == 0)
		return XDP_PASS;
	void *l4 = 0;
	__u8 proto = upper6(ip, end, &l4);
	if (proto == IPPROTO_ICMPV6) {
		__u8 *icmp = l4;
		if ((void *)(icmp + 1) <= end && *icmp >= 133 && *icmp <= 137)
			return XDP_PASS;
	}
	__u32 slot = slot_of(ctx);
	__u32 t = table_slot();
	struct lpm6_key key = {.prefixlen = 128};
	__builtin_memcpy(key.addr, &ip->saddr, 16);

	void *blocked = bpf_map_lookup_elem(&blocked6, &t);
	if (blocked && bpf_map_lookup_elem(blocked, &key))
		return settle(ctx, slot, VERDICT_BLOCKED);
	void *known = bpf_map_lookup_elem(&known6, &t);
	if (!known || !bpf_map_lookup_elem(known, &key)) {
		sample(ctx, slot, &ip->saddr, 6);
		return settle(ctx, slot, VERDICT_UNKNOWN);
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) <= end && quic_port(udp->dest))
			return settle(ctx, slot, VERDICT_QUIC);
	}
	return settle(ctx, slot, VERDICT_PASS);
}

SEC("xdp")
int gate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		__u16 *tag = l3;
		if ((void *)(tag + 2) > end)
			return XDP_PASS;
		proto = tag[1];
		l3 = tag + 2;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return decide4(ctx, l3, end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return decide6(ctx, l3, end);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
