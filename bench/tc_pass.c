// SPDX-License-Identifier: MIT OR Apache-2.0
//
// tc_pass.c: a tc program that takes nothing; every packet goes on to the hook's next
// classifier, and with none to the stack.
//
// bench/datapath.sh attaches it where the fast path sits (clsact ingress of both router
// devices) for the TC0 windows, so that what other traffic pays for the hook itself
// (the clsact qdisc, tcf_classify, cls_bpf) is measured apart from what
// bpf/esp_fastpath.c adds to it.
#define SEC(name) __attribute__((section(name), used))

SEC("tc")
int tc_pass(void *skb)
{
	(void)skb;
	return -1; // TC_ACT_UNSPEC, what the fast path returns for a packet it does not take
}

char program_license[] SEC("license") = "Dual MIT/GPL";
