// SPDX-License-Identifier: MIT OR Apache-2.0
//
// esp_fastpath.c: the tc (clsact) fast path for learned ESP SAs.
//
// The daemon learns each ESP SA (addresses plus SPI, RFC 4303 section 2.1) and puts its
// stateless NAT rewrite into `esp_sa`. This program forwards a packet of such an SA
// itself: it rewrites one address with an incremental checksum update (RFC 1624; ESP has
// no L4 checksum to fix), decrements the TTL (RFC 791, RFC 1812 section 5.3.1), takes the
// Ethernet addresses from the kernel's FIB and redirects to the egress device.
//
// Attach it at clsact ingress of the LAN and WAN devices: the FIB lookup asks for the
// route as seen from skb->ingress_ifindex, as the stack's forwarding would.
//
// It takes a packet only when everything below holds; anything else it returns unchanged
// with TC_ACT_UNSPEC ("not mine": see PASS_ON), so the stack and the nft table keep
// handling misses, fragments, TTL expiry (ICMP time exceeded) and PMTU (ICMP fragmentation
// needed):
//   Ethernet + IPv4, ihl 5 (no options), protocol 50, not a fragment (MF clear, offset 0),
//   TTL > 1, the ESP header in the linear data, (src, dst, SPI) in `esp_sa`, and
//   bpf_fib_lookup on the rewritten addresses answering SUCCESS (or NO_NEIGH, then
//   bpf_redirect_neigh resolves the next hop) with the packet fitting the egress MTU and,
//   on SUCCESS, an egress device with an Ethernet address.
//
// The map is BPF_MAP_TYPE_PERCPU_HASH: every CPU counts into its own copy of the value, so
// the counters need no 64-bit atomics (the 32-bit MIPS JIT may not have them) and no
// cache line bounces between CPUs. The loader writes the same rewrite into every CPU's
// copy and sums packets and bytes (and takes the latest last-seen) over CPUs.
// `bytes` counts the IPv4 total length, as the nft counters it stands next to do.
//
// Build: bpf/build.sh OUTDIR (clang -O2 -g0, -target bpfel and bpfeb). No BTF: the map is
// a legacy "maps" section that the crate's raw loader (src/bpf/object.rs) reads. Only UAPI
// headers; the helpers are declared here from their numbers in linux/bpf.h.
//
// License: the program section says "Dual MIT/GPL" because bpf_fib_lookup is GPL-only in
// the kernel; MIT is one of the crate's two licenses, and the kernel reads that string as
// GPL-compatible.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

// What the program returns for a packet it does not take. TC_ACT_UNSPEC hands the packet
// on to the hook's next classifier: cls_bpf goes on to the filters at later priorities
// (another package's, e.g. qosify's or a mirred to an ifb), and tcx (Linux 6.6) to its
// next program and then clsact's filters; with none, the stack gets it. TC_ACT_OK would
// end classification at our filter and hide every packet from those.
#define PASS_ON TC_ACT_UNSPEC

#define SEC(name) __attribute__((section(name), used))
#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Helpers by number (enum bpf_func_id in linux/bpf.h).
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to,
				   __u64 size) = (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen,
			      __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen,
				  __u64 flags) = (void *)BPF_FUNC_redirect_neigh;

// The legacy map definition the loader reads from the "maps" section: five u32 in the
// object's byte order, the layout libbpf's old `struct bpf_map_def` had.
struct map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

// Key: the addresses and SPI as they arrive, all in network byte order.
struct esp_sa_key {
	__be32 src;
	__be32 dst;
	__be32 spi;
};

#define ESP_SA_REWRITE_SOURCE 1 // outbound: the source becomes the NAT address
#define ESP_SA_REWRITE_DESTINATION 2 // inbound: the destination becomes the client

// Value: the rewrite, then this CPU's counters. 32 bytes, no padding holes the loader has
// to guess: src/bpf/mod.rs encodes and decodes exactly this layout.
struct esp_sa_value {
	__be32 addr; // the new address, network byte order
	__u32 rewrite; // ESP_SA_REWRITE_*
	__u64 packets;
	__u64 bytes;
	__u64 last_seen_ns; // bpf_ktime_get_ns (CLOCK_MONOTONIC) of the last packet
};

// 65,536: the engine's session limit (Limits::max_sessions), to which the daemon sizes its
// nft maps too (`size 65536`). A session is one SA, one direction, and this one map holds
// both directions, so it holds every session the engine can have. Not preallocated
// (BPF_F_NO_PREALLOC): a preallocated hash reserves every entry with its per-CPU values at
// creation, about 9.5 MiB of kernel memory on 2 CPUs and more with each CPU, for a table a
// home router fills a few entries of. Only the daemon inserts, from process context, so
// allocating on update costs nothing on the packet path; lookups are the same either way.
struct map_def esp_sa SEC("maps") = {
	.type = BPF_MAP_TYPE_PERCPU_HASH,
	.key_size = sizeof(struct esp_sa_key),
	.value_size = sizeof(struct esp_sa_value),
	.max_entries = 65536,
	.map_flags = BPF_F_NO_PREALLOC,
};

#define IPPROTO_ESP_NUMBER 50
#define AF_INET_NUMBER 2
#define IP_MF_AND_OFFSET 0x3fff
#define ETH_OFF_IP sizeof(struct ethhdr)
#define IP_CSUM_OFF (ETH_OFF_IP + __builtin_offsetof(struct iphdr, check))

ALWAYS_INLINE __u16 be16(__u16 host)
{
	return __builtin_bswap16(host);
}

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HTONS(x) ((__u16)(x))
#else
#define HTONS(x) ((__u16)__builtin_bswap16(x))
#endif

SEC("tc")
int esp_fastpath(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_OFF_IP;
	__be32 *spi = data + ETH_OFF_IP + sizeof(struct iphdr);

	if ((void *)(spi + 1) > data_end)
		return PASS_ON;
	if (eth->h_proto != HTONS(ETH_P_IP))
		return PASS_ON;
	if (ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_ESP_NUMBER)
		return PASS_ON;
	if (ip->frag_off & HTONS(IP_MF_AND_OFFSET))
		return PASS_ON;
	if (ip->ttl <= 1)
		return PASS_ON;

	struct esp_sa_key key = { .src = ip->saddr, .dst = ip->daddr, .spi = *spi };
	struct esp_sa_value *sa = bpf_map_lookup_elem(&esp_sa, &key);
	if (!sa)
		return PASS_ON;

	__be32 new_src = ip->saddr;
	__be32 new_dst = ip->daddr;
	if (sa->rewrite == ESP_SA_REWRITE_SOURCE)
		new_src = sa->addr;
	else if (sa->rewrite == ESP_SA_REWRITE_DESTINATION)
		new_dst = sa->addr;
	else
		return PASS_ON;

	__u16 tot_len = be16(ip->tot_len);
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET_NUMBER;
	fib.tos = ip->tos;
	fib.l4_protocol = IPPROTO_ESP_NUMBER;
	fib.tot_len = tot_len; // non-zero: the kernel checks it against the route's MTU
	fib.ifindex = skb->ingress_ifindex;
	fib.ipv4_src = new_src;
	fib.ipv4_dst = new_dst;

	long fib_rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (fib_rc != BPF_FIB_LKUP_RET_SUCCESS && fib_rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return PASS_ON;
	// An egress device with no Ethernet address (PPP, a tunnel) takes no Ethernet frame:
	// the stack forwards those. The daemon promotes only SAs between Ethernet devices and
	// demotes every SA when a route changes; this covers the moment in between.
	if (fib_rc == BPF_FIB_LKUP_RET_SUCCESS &&
	    !(fib.smac[0] | fib.smac[1] | fib.smac[2] | fib.smac[3] | fib.smac[4] | fib.smac[5]))
		return PASS_ON;

	// All direct writes first: the checksum helpers below invalidate packet pointers.
	__be32 old_addr, new_addr;
	if (sa->rewrite == ESP_SA_REWRITE_SOURCE) {
		old_addr = ip->saddr;
		new_addr = new_src;
		ip->saddr = new_src;
	} else {
		old_addr = ip->daddr;
		new_addr = new_dst;
		ip->daddr = new_dst;
	}
	// The TTL shares its 16-bit checksum word with the protocol byte.
	__be16 old_ttl_word = *(__be16 *)&ip->ttl;
	ip->ttl -= 1;
	__be16 new_ttl_word = *(__be16 *)&ip->ttl;
	if (fib_rc == BPF_FIB_LKUP_RET_SUCCESS) {
		__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	}

	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(__be32)))
		return TC_ACT_SHOT; // the packet is half rewritten: it must not go on
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ttl_word, new_ttl_word, sizeof(__be16)))
		return TC_ACT_SHOT;

	sa->packets += 1;
	sa->bytes += tot_len;
	sa->last_seen_ns = bpf_ktime_get_ns();

	if (fib_rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		// The FIB gave the next hop (gateway or the destination itself) in ipv4_dst.
		struct bpf_redir_neigh nh = {};
		nh.nh_family = AF_INET_NUMBER;
		nh.ipv4_nh = fib.ipv4_dst;
		return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
	}
	return bpf_redirect(fib.ifindex, 0);
}

char program_license[] SEC("license") = "Dual MIT/GPL";
