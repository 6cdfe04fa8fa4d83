//! Removing the conntrack entries of IKE flows that a WAN address change left translated to
//! the old address. Our nat chain translates IKE with `snat` (the `ike_nat` and `bindings`
//! maps of [`super::nft`]), and the kernel flushes only masquerade entries when an address
//! goes: without this, a client that keeps UDP 500 to its server keeps leaving from the old
//! address, and its re-negotiation with it. Read first: `conntrack(8)` (`-L`, `-D`) and
//! `nf_nat_masquerade.c` (`inet_cmp`: only entries with a masquerade index are flushed).
//!
//! One pass: a ctnetlink dump of the IPv4 entries, decoded as it arrives and keeping only
//! the stale IKE mappings ([`StaleSelection`], bounded), then one delete per entry by its
//! original tuple on a fresh socket. A delete that finds nothing (`ENOENT`) means the entry
//! expired meanwhile. The messages are built and read in [`crate::netlink::conntrack`].

use super::netlink_socket::{NetlinkSocket, Sequence, NETLINK_NETFILTER};
use crate::netlink::conntrack::{
    ctnetlink_message_type, dumped_entry, put_delete_request, put_dump_request, ConntrackEntry, ConntrackTuple,
    IPCTNL_MSG_CT_NEW, IPPROTO_UDP,
};
use core::fmt;
use std::io;
use std::net::Ipv4Addr;

/// At most this many entries are read from the dump; a router's table holds a few tens of
/// thousands (`nf_conntrack_max`), so this stops only a runaway.
pub const MAX_ENTRIES_CONSIDERED: usize = 1 << 18;
/// At most this many stale entries are kept and deleted in one pass: every one is an IKE
/// flow of a client, and the engine holds far fewer.
pub const MAX_STALE_KEPT: usize = 1 << 14;
/// Large enough for any dump part the kernel builds (at most 32 KiB).
const RECV_BUFFER: usize = 64 * 1024;

/// True for an entry that our nat chain translated to `old`: UDP from a source other than
/// `old` to one of the IKE `ports` the ruleset translates, answered to `old`, in zone 0
/// (where the ruleset's entries live, and the only zone the delete names).
pub fn is_stale_ike_mapping(entry: &ConntrackEntry, old: Ipv4Addr, ports: [u16; 2]) -> bool {
    let o = &entry.original;
    entry.zone == 0
        && o.protocol == IPPROTO_UDP
        && ports.contains(&o.dst_port)
        && entry.reply.dst == old
        && o.src != old
}

/// The stale IKE mappings among dumped entries, taken one at a time, within the bounds.
#[derive(Debug)]
pub struct StaleSelection {
    old: Ipv4Addr,
    ports: [u16; 2],
    considered: usize,
    selected: Vec<ConntrackTuple>,
    /// A bound was reached: the pass did not see every entry.
    pub capped: bool,
}

impl StaleSelection {
    pub fn new(old: Ipv4Addr, ports: [u16; 2]) -> StaleSelection {
        StaleSelection { old, ports, considered: 0, selected: Vec::new(), capped: false }
    }

    /// Takes one entry; false once a bound is reached and the rest should not be read.
    pub fn offer(&mut self, entry: &ConntrackEntry) -> bool {
        if self.considered >= MAX_ENTRIES_CONSIDERED || self.selected.len() >= MAX_STALE_KEPT {
            self.capped = true;
            return false;
        }
        self.considered += 1;
        if is_stale_ike_mapping(entry, self.old, self.ports) {
            self.selected.push(entry.original);
        }
        true
    }

    /// The original tuples of the stale entries, in dump order.
    pub fn into_selected(self) -> Vec<ConntrackTuple> {
        self.selected
    }
}

/// The original tuples of the entries in `entries` that our nat chain translated to `old`
/// on the IKE `ports` ([`is_stale_ike_mapping`]), within the bounds of [`StaleSelection`].
pub fn stale_ike_mappings<'a>(
    entries: impl IntoIterator<Item = &'a ConntrackEntry>,
    old: Ipv4Addr,
    ports: [u16; 2],
) -> Vec<ConntrackTuple> {
    let mut selection = StaleSelection::new(old, ports);
    for entry in entries {
        if !selection.offer(entry) {
            break;
        }
    }
    selection.into_selected()
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removal {
    /// Entries deleted.
    pub removed: usize,
    /// Entries that expired between the dump and their delete.
    pub already_gone: usize,
    /// The dump stopped at a bound ([`MAX_ENTRIES_CONSIDERED`], [`MAX_STALE_KEPT`]).
    pub capped: bool,
}

/// Which step of a pass failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Open,
    Dump,
    Delete,
}

/// A failed pass: the step and the errno. Deletes done before a failed one still count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConntrackError {
    pub step: Step,
    pub errno: i32,
    /// Entries deleted before the failure.
    pub removed: usize,
}

impl fmt::Display for ConntrackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Open => "opening a ctnetlink socket",
            Step::Dump => "reading the conntrack table",
            Step::Delete => "deleting a conntrack entry",
        };
        // nfnetlink answers a request for a subsystem nobody registered with EINVAL (or
        // EOPNOTSUPP on some kernels): ctnetlink is its own module.
        let hint = match self.errno {
            libc::EINVAL | libc::EOPNOTSUPP | libc::EPROTONOSUPPORT => {
                " (is the nf_conntrack_netlink module loaded? OpenWrt package kmod-nf-conntrack-netlink)"
            }
            libc::EPERM => " (needs CAP_NET_ADMIN)",
            _ => "",
        };
        write!(f, "{step}: {}{hint}", io::Error::from_raw_os_error(self.errno))?;
        if self.removed > 0 {
            write!(f, " after {} removed", self.removed)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConntrackError {}

/// Deletes the conntrack entries our nat chain translated to `old` on the IKE `ports`.
pub fn remove_stale_ike_mappings(old: Ipv4Addr, ports: [u16; 2]) -> Result<Removal, ConntrackError> {
    let fail = |step, removed| move |errno| ConntrackError { step, errno, removed };
    let open = || {
        let mut socket = NetlinkSocket::open(NETLINK_NETFILTER).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        // A larger buffer lets the kernel run ahead of our reads in a long dump.
        let _ = socket.set_receive_buffer(1 << 20);
        let _ = socket.set_cap_ack();
        socket.bind(0).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
        Ok::<_, i32>(socket)
    };
    let mut seq = Sequence::default();
    let mut send = Vec::with_capacity(128);
    let mut recv = vec![0u8; RECV_BUFFER];
    let mut selection = StaleSelection::new(old, ports);
    {
        // A dump stopped at a bound leaves the rest queued in this socket: it is dropped.
        let socket = open().map_err(fail(Step::Open, 0))?;
        let dump_seq = seq.take();
        put_dump_request(&mut send, dump_seq);
        let answer = ctnetlink_message_type(IPCTNL_MSG_CT_NEW);
        let dumped = socket.dump(&send, dump_seq, &mut recv, "ctnetlink", |message| {
            if message.message_type != answer {
                return Ok(());
            }
            match dumped_entry(message.payload).map_err(|_| libc::EBADMSG)? {
                Some(entry) if !selection.offer(&entry) => Err(libc::ECANCELED),
                _ => Ok(()),
            }
        });
        match dumped {
            Err(libc::ECANCELED) if selection.capped => {}
            other => other.map_err(fail(Step::Dump, 0))?,
        }
    }
    let capped = selection.capped;
    let stale = selection.into_selected();
    let mut removal = Removal { capped, ..Removal::default() };
    if stale.is_empty() {
        return Ok(removal);
    }
    let socket = open().map_err(fail(Step::Open, 0))?;
    for tuple in &stale {
        let delete_seq = seq.take();
        send.clear();
        put_delete_request(&mut send, delete_seq, tuple);
        match socket.dump(&send, delete_seq, &mut recv, "ctnetlink", |_| Ok(())) {
            Ok(()) => removal.removed += 1,
            Err(libc::ENOENT) => removal.already_gone += 1,
            // The same errno would answer every other delete: stop at the first.
            Err(errno) => return Err(fail(Step::Delete, removal.removed)(errno)),
        }
    }
    Ok(removal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const OLD: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
    const NEW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
    const PORTS: [u16; 2] = [500, 4500];

    fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> ConntrackTuple {
        ConntrackTuple { src, dst, protocol: IPPROTO_UDP, src_port: sport, dst_port: dport }
    }

    /// An outbound UDP entry from `client` translated to `nat:nat_port`.
    fn snat(client: Ipv4Addr, port: u16, server_port: u16, nat: Ipv4Addr, nat_port: u16) -> ConntrackEntry {
        ConntrackEntry {
            original: udp(client, port, S, server_port),
            reply: udp(S, server_port, nat, nat_port),
            zone: 0,
        }
    }

    #[test]
    fn selects_the_ike_flows_translated_to_the_old_address_and_nothing_else() {
        let ike = snat(C, 500, 500, OLD, 500);
        let ike_moved_port = snat(Ipv4Addr::new(192, 168, 1, 11), 500, 500, OLD, 501);
        let natt = snat(C, 4500, 4500, OLD, 4500);
        let dns = snat(C, 40000, 53, OLD, 40000);
        let on_new = snat(C, 500, 500, NEW, 500);
        // The router's own IKE from the old address: not translated, not ours.
        let local = ConntrackEntry { original: udp(OLD, 500, S, 500), reply: udp(S, 500, OLD, 500), zone: 0 };
        let mut tcp = snat(C, 500, 500, OLD, 500);
        tcp.original.protocol = 6;
        let mut zoned = ike;
        zoned.zone = 2;
        // Inbound to the old address (a server's DNAT'ed IKE): its reply goes to the server.
        let inbound = ConntrackEntry { original: udp(S, 500, OLD, 500), reply: udp(C, 500, S, 500), zone: 0 };
        let entries = [ike, dns, on_new, local, ike_moved_port, tcp, zoned, natt, inbound];
        assert_eq!(stale_ike_mappings(&entries, OLD, PORTS), [ike.original, ike_moved_port.original, natt.original]);
        assert_eq!(stale_ike_mappings(&entries, NEW, PORTS), [on_new.original]);
        // Other configured ports: only what the ruleset translates.
        assert_eq!(stale_ike_mappings(&entries, OLD, [500, 500]), [ike.original, ike_moved_port.original]);
    }

    #[test]
    fn the_selection_stops_at_its_bounds() {
        let ike = snat(C, 500, 500, OLD, 500);
        let many = vec![ike; MAX_STALE_KEPT + 5];
        let mut selection = StaleSelection::new(OLD, PORTS);
        let taken = many.iter().take_while(|e| selection.offer(e)).count();
        assert_eq!(taken, MAX_STALE_KEPT);
        assert!(selection.capped);
        assert_eq!(selection.into_selected().len(), MAX_STALE_KEPT);
        // Unrelated entries count towards the entries considered.
        let other = snat(C, 40000, 53, OLD, 40000);
        let mut selection = StaleSelection::new(OLD, PORTS);
        let read = std::iter::repeat_n(other, MAX_ENTRIES_CONSIDERED + 1).take_while(|e| selection.offer(e)).count();
        assert_eq!((read, selection.capped), (MAX_ENTRIES_CONSIDERED, true));
        let mut selection = StaleSelection::new(OLD, PORTS);
        assert!(selection.offer(&other) && !selection.capped);
    }

    #[test]
    fn a_missing_ctnetlink_names_the_module_and_the_package() {
        let e = ConntrackError { step: Step::Dump, errno: libc::EINVAL, removed: 0 };
        let text = e.to_string();
        assert!(text.starts_with("reading the conntrack table: "), "{text}");
        assert!(text.contains("nf_conntrack_netlink") && text.contains("kmod-nf-conntrack-netlink"), "{text}");
        let e = ConntrackError { step: Step::Delete, errno: libc::EIO, removed: 3 };
        assert!(e.to_string().ends_with(" after 3 removed"), "{e}");
        assert!(!e.to_string().contains("kmod"));
    }
}
