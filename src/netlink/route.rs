//! rtnetlink addresses and routes: the dumps and notifications the daemon reads to follow
//! the egress interface's IPv4 address and the default route, and the requests that add and
//! remove the proxy-ARP pool addresses. Pure codec on top of [`super::framing`]; the socket
//! is [`crate::shell::routes`].
//!
//! Read first, in the kernel's uapi headers: `linux/rtnetlink.h` (`RTM_*`, `struct rtmsg`,
//! `RTA_*`, `RTMGRP_*`) and `linux/if_addr.h` (`struct ifaddrmsg`, `IFA_*`); the kernel side
//! is `net/ipv4/devinet.c` (`inet_rtm_newaddr`, `inet_fill_ifaddr`) and
//! `net/ipv4/fib_frontend.c` (`inet_dump_fib`). rtnetlink(7) describes the same.
//!
//! Only what the daemon uses is written here, as our own small message types rather than
//! `netlink-packet-route`: that crate, used through a small enum of ours, added 104 KB to a
//! static mipsel build (538 KB used as its examples do), for about 150 lines of codec.
//!
//! Byte order: the headers' `ifa_index` and the `RTA_OIF`, `RTA_PRIORITY` and `RTA_TABLE`
//! payloads are host order; addresses (`IFA_LOCAL`, `RTA_DST`, `RTA_GATEWAY`) are network
//! order, four bytes as on the wire.

use super::framing::{
    attribute_ipv4, attributes, begin_message, finish_message, put_attribute, NetlinkError, NetlinkMessage, AF_INET,
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use crate::bytes::ne_u32;
use std::net::Ipv4Addr;

// --- linux/rtnetlink.h -------------------------------------------------------------------

/// `RTM_NEWLINK`: a device (a link dump's answer).
pub const RTM_NEWLINK: u16 = 16;
/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWADDR`: an address was added (notification, dump answer) or is to be added.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_GETADDR`.
pub const RTM_GETADDR: u16 = 22;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
pub const RTM_DELROUTE: u16 = 25;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;

/// `RTMGRP_IPV4_IFADDR`: the multicast group of IPv4 address changes.
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
/// `RTMGRP_IPV4_ROUTE`: the multicast group of IPv4 route changes.
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;

/// `RT_TABLE_MAIN`: the table `ip route` shows, where OpenWrt's netifd puts the default route.
pub const RT_TABLE_MAIN: u32 = 254;
/// `RTN_UNICAST`: a gateway or direct route (not local, broadcast, blackhole, ...).
pub const RTN_UNICAST: u8 = 1;

/// `RTA_DST`.
pub const RTA_DST: u16 = 1;
/// `RTA_OIF`: the output interface index.
pub const RTA_OIF: u16 = 4;
/// `RTA_GATEWAY`.
pub const RTA_GATEWAY: u16 = 5;
/// `RTA_PRIORITY`: the metric; the lowest wins.
pub const RTA_PRIORITY: u16 = 6;
/// `RTA_TABLE`: the table id, also for ids above 255 that `rtm_table` cannot hold.
pub const RTA_TABLE: u16 = 15;

/// `sizeof(struct rtmsg)`: `u8 family, dst_len, src_len, tos, table, protocol, scope, type;
/// u32 flags`.
pub const RTMSG_LEN: usize = 12;

// --- linux/if_addr.h ---------------------------------------------------------------------

/// `IFA_ADDRESS`: the peer address on point-to-point links, else the same as `IFA_LOCAL`.
pub const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`: the interface's own address.
pub const IFA_LOCAL: u16 = 2;

/// `sizeof(struct ifaddrmsg)`: `u8 family, prefixlen, flags, scope; u32 index`.
pub const IFADDRMSG_LEN: usize = 8;

/// `sizeof(struct ifinfomsg)`: `u8 family, pad; u16 type; i32 index; u32 flags, change`.
pub const IFINFOMSG_LEN: usize = 16;
/// `ARPHRD_ETHER`: the device's frames start with an Ethernet header.
pub const ARPHRD_ETHER: u16 = 1;

/// `RT_SCOPE_UNIVERSE`: a global address, as `ip addr add` gives one by default.
const RT_SCOPE_UNIVERSE: u8 = 0;

/// What a dump asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dump {
    /// Every IPv4 address of every interface (`ip -4 addr`).
    Addresses,
    /// Every IPv4 route of every table (`ip -4 route show table all`).
    Routes,
    /// Every device, with its hardware type (`ip link`).
    Links,
}

/// Appends a dump request (`NLM_F_REQUEST | NLM_F_DUMP`) for IPv4 addresses or routes.
pub fn put_dump_request(buf: &mut Vec<u8>, seq: u32, dump: Dump) {
    let (message_type, header_len) = match dump {
        Dump::Addresses => (RTM_GETADDR, IFADDRMSG_LEN),
        Dump::Routes => (RTM_GETROUTE, RTMSG_LEN),
        Dump::Links => (RTM_GETLINK, IFINFOMSG_LEN),
    };
    let start = begin_message(buf, message_type, NLM_F_REQUEST | NLM_F_DUMP, seq);
    // Both headers start with the family; the rest zero means "no filter".
    buf.push(AF_INET);
    buf.resize(buf.len() + header_len - 1, 0);
    finish_message(buf, start);
}

/// Adding or removing an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressOp {
    /// `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`: EEXIST if it is there already.
    Add,
    /// `RTM_DELADDR`: EADDRNOTAVAIL if it is not there.
    Remove,
}

/// Appends a request (with `NLM_F_ACK`) that adds or removes `address/prefix_len` on the
/// interface with index `index`, as `ip -4 addr add|del` does: `IFA_LOCAL` and
/// `IFA_ADDRESS` both the address, global scope.
pub fn put_address_change(buf: &mut Vec<u8>, seq: u32, op: AddressOp, index: u32, address: Ipv4Addr, prefix_len: u8) {
    let (message_type, flags) = match op {
        AddressOp::Add => (RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
        AddressOp::Remove => (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK),
    };
    let start = begin_message(buf, message_type, flags, seq);
    buf.extend_from_slice(&[AF_INET, prefix_len, 0, RT_SCOPE_UNIVERSE]);
    buf.extend_from_slice(&index.to_ne_bytes());
    put_attribute(buf, IFA_LOCAL, &address.octets());
    put_attribute(buf, IFA_ADDRESS, &address.octets());
    finish_message(buf, start);
}

/// One IPv4 address of an interface, from an `RTM_NEWADDR` or `RTM_DELADDR` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    /// `ifa_index`.
    pub index: u32,
    /// `IFA_LOCAL`, or `IFA_ADDRESS` when there is no `IFA_LOCAL`.
    pub address: Ipv4Addr,
    /// `ifa_prefixlen`.
    pub prefix_len: u8,
}

/// One IPv4 route, from an `RTM_NEWROUTE` or `RTM_DELROUTE` message: the fields that say
/// whether it is the default route and where it leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// `RTA_TABLE`, else `rtm_table`.
    pub table: u32,
    /// `rtm_type`.
    pub route_type: u8,
    /// `rtm_dst_len`: 0 for a default route.
    pub dst_len: u8,
    /// `RTA_DST`: the destination prefix's address; absent for a default route.
    pub dst: Option<Ipv4Addr>,
    /// `RTA_OIF`; a multipath route has none.
    pub oif: Option<u32>,
    /// `RTA_GATEWAY`.
    pub gateway: Option<Ipv4Addr>,
    /// `RTA_PRIORITY` (0 when absent, as the kernel reads it).
    pub priority: u32,
}

impl Route {
    /// A unicast default route of the main table.
    pub fn is_main_default(&self) -> bool {
        self.dst_len == 0 && self.table == RT_TABLE_MAIN && self.route_type == RTN_UNICAST
    }
}

/// What one rtnetlink message says, of what the daemon reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteMessage {
    /// `RTM_NEWADDR` (`removed` false) or `RTM_DELADDR` of an IPv4 address.
    Address { address: InterfaceAddress, removed: bool },
    /// `RTM_NEWROUTE` or `RTM_DELROUTE` of an IPv4 route.
    Route { route: Route, removed: bool },
    /// `RTM_NEWLINK`: a device and its hardware type (`ARPHRD_*`).
    Link { index: u32, link_type: u16 },
    /// Another family, another message type, or an address message without an address.
    Other,
}

/// Decodes an rtnetlink message as a dump answer or a notification.
pub fn decode(message: &NetlinkMessage<'_>) -> Result<RouteMessage, NetlinkError> {
    let removed = matches!(message.message_type, RTM_DELADDR | RTM_DELROUTE);
    let payload = message.payload;
    match message.message_type {
        RTM_NEWADDR | RTM_DELADDR => {
            let header = payload.get(..IFADDRMSG_LEN).ok_or(NetlinkError::Truncated)?;
            if header.first() != Some(&AF_INET) {
                return Ok(RouteMessage::Other);
            }
            let prefix_len = header.get(1).copied().unwrap_or_default();
            let index = ne_u32(header, 4).ok_or(NetlinkError::Truncated)?;
            let (mut local, mut peer) = (None, None);
            for attribute in attributes(payload.get(IFADDRMSG_LEN..).unwrap_or_default()) {
                let (kind, data) = attribute?;
                match kind {
                    IFA_LOCAL => local = Some(attribute_ipv4(kind, data)?),
                    IFA_ADDRESS => peer = Some(attribute_ipv4(kind, data)?),
                    _ => {}
                }
            }
            Ok(local.or(peer).map_or(RouteMessage::Other, |address| RouteMessage::Address {
                address: InterfaceAddress { index, address, prefix_len },
                removed,
            }))
        }
        RTM_NEWROUTE | RTM_DELROUTE => {
            let header = payload.get(..RTMSG_LEN).ok_or(NetlinkError::Truncated)?;
            let field = |at: usize| header.get(at).copied().unwrap_or_default();
            if field(0) != AF_INET {
                return Ok(RouteMessage::Other);
            }
            let mut route = Route {
                table: u32::from(field(4)),
                route_type: field(7),
                dst_len: field(1),
                dst: None,
                oif: None,
                gateway: None,
                priority: 0,
            };
            for attribute in attributes(payload.get(RTMSG_LEN..).unwrap_or_default()) {
                let (kind, data) = attribute?;
                let host_u32 = || ne_u32(data, 0).ok_or(NetlinkError::ShortAttribute(kind));
                match kind {
                    RTA_TABLE => route.table = host_u32()?,
                    RTA_OIF => route.oif = Some(host_u32()?),
                    RTA_PRIORITY => route.priority = host_u32()?,
                    RTA_GATEWAY => route.gateway = Some(attribute_ipv4(kind, data)?),
                    RTA_DST => route.dst = Some(attribute_ipv4(kind, data)?),
                    _ => {}
                }
            }
            Ok(RouteMessage::Route { route, removed })
        }
        RTM_NEWLINK => {
            let header = payload.get(..IFINFOMSG_LEN).ok_or(NetlinkError::Truncated)?;
            let link_type = header.get(2..4).and_then(|b| b.try_into().ok()).map(u16::from_ne_bytes);
            let index = ne_u32(header, 4);
            match (link_type, index) {
                (Some(link_type), Some(index)) => Ok(RouteMessage::Link { index, link_type }),
                _ => Err(NetlinkError::Truncated),
            }
        }
        _ => Ok(RouteMessage::Other),
    }
}

/// The interface of the main table's default route with the lowest metric, as the kernel
/// picks it (ties: the first listed).
pub fn default_route_interface<'a>(routes: impl IntoIterator<Item = &'a Route>) -> Option<u32> {
    let mut best: Option<&Route> = None;
    for route in routes.into_iter().filter(|r| r.is_main_default() && r.oif.is_some()) {
        if best.is_none_or(|b| route.priority < b.priority) {
            best = Some(route);
        }
    }
    best.and_then(|r| r.oif)
}

/// The interface the main table sends `address` out of: the unicast route with the longest
/// prefix that holds it, the lowest metric among those (policy routing rules are not read).
/// `None` for a multipath route or when no route holds it.
pub fn route_interface<'a>(routes: impl IntoIterator<Item = &'a Route>, address: Ipv4Addr) -> Option<u32> {
    let holds = |r: &Route| {
        let bits = u32::from(r.dst_len.min(32));
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        let prefix = r.dst.map_or(0, u32::from);
        u32::from(address) & mask == prefix & mask
    };
    let mut best: Option<&Route> = None;
    for route in routes.into_iter().filter(|r| r.table == RT_TABLE_MAIN && r.route_type == RTN_UNICAST && holds(r)) {
        let better = best.is_none_or(|b| {
            (route.dst_len, core::cmp::Reverse(route.priority)) > (b.dst_len, core::cmp::Reverse(b.priority))
        });
        if better {
            best = Some(route);
        }
    }
    best.and_then(|r| r.oif)
}

#[cfg(test)]
mod tests {
    //! Expected bytes follow the uapi layouts: host-order fields through `to_ne_bytes` so
    //! the tests hold on big-endian mips, addresses as literal network-order bytes.

    use super::super::framing::messages;
    use super::*;

    fn only_message(buf: &[u8]) -> NetlinkMessage<'_> {
        let all: Vec<_> = messages(buf).collect();
        assert_eq!(all.len(), 1);
        all.into_iter().next().and_then(Result::ok).unwrap_or_else(|| panic!("one good message in {buf:?}"))
    }

    /// An nlattr as host-order header bytes and its (padded) data.
    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_attribute(&mut out, kind, data);
        out
    }

    fn message(message_type: u16, body: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let start = begin_message(&mut buf, message_type, 0, 9);
        buf.extend_from_slice(body);
        finish_message(&mut buf, start);
        buf
    }

    #[test]
    fn address_add_is_what_ip_addr_add_sends() {
        let mut buf = Vec::new();
        put_address_change(&mut buf, 5, AddressOp::Add, 3, Ipv4Addr::new(203, 0, 113, 20), 32);
        let m = only_message(&buf);
        assert_eq!(m.message_type, RTM_NEWADDR);
        assert_eq!(m.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(m.seq, 5);
        let mut body = vec![AF_INET, 32, 0, 0];
        body.extend_from_slice(&3u32.to_ne_bytes());
        body.extend(attr(IFA_LOCAL, &[203, 0, 113, 20]));
        body.extend(attr(IFA_ADDRESS, &[203, 0, 113, 20]));
        assert_eq!(m.payload, &body[..]);

        buf.clear();
        put_address_change(&mut buf, 6, AddressOp::Remove, 3, Ipv4Addr::new(203, 0, 113, 20), 32);
        let m = only_message(&buf);
        assert_eq!((m.message_type, m.flags), (RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(m.payload, &body[..], "the same address message, another type");
    }

    #[test]
    fn dump_requests_carry_the_family_and_no_filter() {
        let mut buf = Vec::new();
        put_dump_request(&mut buf, 1, Dump::Addresses);
        put_dump_request(&mut buf, 2, Dump::Routes);
        let all: Vec<_> = messages(&buf).filter_map(Result::ok).collect();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].message_type, all[0].flags), (RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP));
        assert_eq!(all[0].payload, &[AF_INET, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(all[1].message_type, RTM_GETROUTE);
        assert_eq!(all[1].payload, &[AF_INET, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn decodes_an_address_notification() {
        let mut body = vec![AF_INET, 24, 0x80, 0];
        body.extend_from_slice(&7u32.to_ne_bytes());
        body.extend(attr(IFA_ADDRESS, &[10, 0, 0, 9]));
        body.extend(attr(IFA_LOCAL, &[192, 0, 2, 7]));
        body.extend(attr(3, b"wan\0"));
        let buf = message(RTM_DELADDR, &body);
        let expected = InterfaceAddress { index: 7, address: Ipv4Addr::new(192, 0, 2, 7), prefix_len: 24 };
        assert_eq!(decode(&only_message(&buf)), Ok(RouteMessage::Address { address: expected, removed: true }));
    }

    #[test]
    fn decodes_a_default_route_with_table_and_metric() {
        let mut body = vec![AF_INET, 0, 0, 0, 254, 3, 0, RTN_UNICAST];
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend(attr(RTA_TABLE, &RT_TABLE_MAIN.to_ne_bytes()));
        body.extend(attr(RTA_PRIORITY, &10u32.to_ne_bytes()));
        body.extend(attr(RTA_GATEWAY, &[192, 0, 2, 1]));
        body.extend(attr(RTA_OIF, &4u32.to_ne_bytes()));
        let buf = message(RTM_NEWROUTE, &body);
        let route = Route {
            table: RT_TABLE_MAIN,
            route_type: RTN_UNICAST,
            dst_len: 0,
            dst: None,
            oif: Some(4),
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            priority: 10,
        };
        assert_eq!(decode(&only_message(&buf)), Ok(RouteMessage::Route { route, removed: false }));
    }

    #[test]
    fn other_families_and_types_are_other_and_short_ones_are_errors() {
        let mut v6 = vec![10, 64, 0, 0];
        v6.extend_from_slice(&1u32.to_ne_bytes());
        assert_eq!(decode(&only_message(&message(RTM_NEWADDR, &v6))), Ok(RouteMessage::Other));
        assert_eq!(decode(&only_message(&message(RTM_GETLINK, &[0; 16]))), Ok(RouteMessage::Other));
        assert_eq!(decode(&only_message(&message(RTM_NEWLINK, &[0; 8]))), Err(NetlinkError::Truncated));
        assert_eq!(decode(&only_message(&message(RTM_NEWADDR, &[AF_INET, 32]))), Err(NetlinkError::Truncated));
        let mut short = vec![AF_INET, 0, 0, 0, 254, 3, 0, RTN_UNICAST, 0, 0, 0, 0];
        short.extend(attr(RTA_OIF, &[1, 2]));
        assert_eq!(decode(&only_message(&message(RTM_NEWROUTE, &short))), Err(NetlinkError::ShortAttribute(RTA_OIF)));
    }

    #[test]
    fn a_link_is_decoded_with_its_index_and_hardware_type() {
        // struct ifinfomsg: family, pad, type (ARPHRD_PPP = 512), index 7, flags, change.
        let mut link = vec![0, 0];
        link.extend_from_slice(&512u16.to_ne_bytes());
        link.extend_from_slice(&7u32.to_ne_bytes());
        link.extend_from_slice(&[0; 8]);
        link.extend(attr(3, b"pppoe-wan\0")); // IFLA_IFNAME, not needed
        assert_eq!(
            decode(&only_message(&message(RTM_NEWLINK, &link))),
            Ok(RouteMessage::Link { index: 7, link_type: 512 })
        );
        let mut buf = Vec::new();
        put_dump_request(&mut buf, 9, Dump::Links);
        assert_eq!(buf.len(), 16 + IFINFOMSG_LEN);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), RTM_GETLINK);
    }

    #[test]
    fn the_default_route_is_the_main_tables_lowest_metric() {
        let route = |table, dst_len, oif, priority| Route {
            table,
            route_type: RTN_UNICAST,
            dst_len,
            dst: None,
            oif: Some(oif),
            gateway: None,
            priority,
        };
        let routes = [
            route(RT_TABLE_MAIN, 24, 1, 0), // the LAN subnet
            route(100, 0, 2, 0),            // a policy-routing table's default
            route(RT_TABLE_MAIN, 0, 3, 20), // a backup WAN
            route(RT_TABLE_MAIN, 0, 4, 10), // the WAN
        ];
        assert_eq!(default_route_interface(&routes), Some(4));
        assert_eq!(default_route_interface(&routes[..2]), None);
        let blackhole = Route { route_type: 6, ..route(RT_TABLE_MAIN, 0, 5, 0) };
        assert_eq!(default_route_interface(&[blackhole]), None);
    }

    #[test]
    fn a_subnet_route_is_decoded_with_its_prefix_and_the_longest_prefix_wins() {
        let mut body = vec![AF_INET, 24, 0, 0, 254, 2, 253, RTN_UNICAST];
        body.extend_from_slice(&0u32.to_ne_bytes());
        body.extend(attr(RTA_DST, &[192, 168, 1, 0]));
        body.extend(attr(RTA_OIF, &7u32.to_ne_bytes()));
        let Ok(RouteMessage::Route { route: lan, .. }) = decode(&only_message(&message(RTM_NEWROUTE, &body))) else {
            panic!("a route");
        };
        assert_eq!((lan.dst, lan.dst_len, lan.oif), (Some(Ipv4Addr::new(192, 168, 1, 0)), 24, Some(7)));
        let route = |dst: [u8; 4], dst_len, oif, priority| Route {
            table: RT_TABLE_MAIN,
            route_type: RTN_UNICAST,
            dst_len,
            dst: Some(Ipv4Addr::from(dst)),
            oif: Some(oif),
            gateway: None,
            priority,
        };
        let default = Route { dst: None, ..route([0; 4], 0, 2, 0) };
        let routes = [default, lan, route([192, 168, 1, 128], 25, 8, 0), route([192, 168, 1, 128], 25, 9, 5)];
        assert_eq!(route_interface(&routes, Ipv4Addr::new(192, 168, 1, 10)), Some(7));
        assert_eq!(route_interface(&routes, Ipv4Addr::new(192, 168, 1, 200)), Some(8), "longest, then lowest metric");
        assert_eq!(route_interface(&routes, Ipv4Addr::new(203, 0, 113, 1)), Some(2), "the default route");
        assert_eq!(route_interface(&routes[1..], Ipv4Addr::new(203, 0, 113, 1)), None);
        let other_table = Route { table: 100, ..lan };
        assert_eq!(route_interface(&[other_table], Ipv4Addr::new(192, 168, 1, 10)), None);
    }
}
