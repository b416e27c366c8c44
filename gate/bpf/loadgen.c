// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
//
// The gate benchmark's load generator and its stand-in receivers (not used by the gate):
//   tx   - run through BPF_PROG_TEST_RUN with live frames, sends each frame out of the
//          interface given as ingress (a veth: the frame arrives on its peer);
//   pass - a do-nothing receiver, so a veth without the gate still takes XDP frames;
//   drop - a receiver that drops everything: the sender's own ceiling.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
