//! The kernel's netlink protocols, as pure codecs: the bytes the daemon sends and the
//! checked views of the bytes it reads back. No syscalls here; the sockets are in
//! [`crate::shell`] ([`crate::shell::netlink_socket`]).
//!
//! - [`framing`]: `nlmsghdr`, `nlattr`, `nlmsgerr` and `nfgenmsg` (`linux/netlink.h`,
//!   `linux/netfilter/nfnetlink.h`), shared by every protocol below;
//! - [`conntrack`]: ctnetlink (`linux/netfilter/nfnetlink_conntrack.h`): a dump of the
//!   IPv4 entries and a delete by original tuple, for the IKE flows a WAN change left
//!   translated to the old address;
//! - [`queue`]: nfnetlink_queue (NFQUEUE): packets in, verdicts out;
//! - [`nftables`]: nf_tables set elements and counters, in batches and dumps;
//! - [`route`]: rtnetlink addresses and routes (`linux/rtnetlink.h`, `linux/if_addr.h`):
//!   the egress address and default route, and the proxy-ARP pool addresses;
//! - [`tc`]: rtnetlink traffic control (`linux/pkt_sched.h`, `linux/pkt_cls.h`): the
//!   `clsact` qdisc and the eBPF fast path's `bpf` filter at its ingress hook.
//!
//! Packets themselves are read in [`crate::wire`]; nothing here parses a packet.

pub mod conntrack;
pub mod framing;
pub mod nftables;
pub mod queue;
pub mod route;
pub mod tc;
