//! ctnetlink, conntrack's nfnetlink subsystem: a dump request for the IPv4 entries, a
//! delete of one entry by its original tuple, and a checked view of a dumped entry's
//! original and reply tuples. Pure codec, no syscalls; [`crate::shell::conntrack`] owns the
//! socket.
//!
//! Read first, in the kernel's uapi headers: `linux/netfilter/nfnetlink_conntrack.h`
//! (`cntl_msg_types`, `ctattr_type`, `ctattr_tuple`, `ctattr_ip`, `ctattr_l4proto`); the
//! kernel side is `net/netfilter/nf_conntrack_netlink.c` (`ctnetlink_dump_table`,
//! `ctnetlink_del_conntrack`, `ctnetlink_dump_tuples`). This is what `conntrack -L` and
//! `conntrack -D` send.
//!
//! Byte order as in [`super::framing`]: framing in host order; addresses, ports and the
//! zone in network order, the protocol number a single byte.

use super::framing::{
    attribute_ipv4, attributes, begin_nested, begin_nfnl_message, end_nested, finish_message, put_attribute,
    NetlinkError, AF_INET, NFGENMSG_LEN, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::bytes::be_u16;
use std::net::Ipv4Addr;

// --- linux/netfilter/nfnetlink.h -------------------------------------------------------

/// `NFNL_SUBSYS_CTNETLINK`.
pub const NFNL_SUBSYS_CTNETLINK: u8 = 1;

// --- linux/netfilter/nfnetlink_conntrack.h ---------------------------------------------

/// `IPCTNL_MSG_CT_NEW`: how the kernel answers a `CT_GET` dump, one message per entry.
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
/// `IPCTNL_MSG_CT_GET`.
pub const IPCTNL_MSG_CT_GET: u8 = 1;
/// `IPCTNL_MSG_CT_DELETE`.
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;
/// `CTA_TUPLE_ORIG` (nested tuple): the direction of the packet that created the entry.
pub const CTA_TUPLE_ORIG: u16 = 1;
/// `CTA_TUPLE_REPLY` (nested tuple): what answers look like, after NAT.
pub const CTA_TUPLE_REPLY: u16 = 2;
/// `CTA_ZONE` (be16).
pub const CTA_ZONE: u16 = 18;
/// `CTA_TUPLE_IP` (nested `ctattr_ip`).
pub const CTA_TUPLE_IP: u16 = 1;
/// `CTA_TUPLE_PROTO` (nested `ctattr_l4proto`).
pub const CTA_TUPLE_PROTO: u16 = 2;
/// `CTA_IP_V4_SRC` (4 bytes).
pub const CTA_IP_V4_SRC: u16 = 1;
/// `CTA_IP_V4_DST` (4 bytes).
pub const CTA_IP_V4_DST: u16 = 2;
/// `CTA_PROTO_NUM` (u8).
pub const CTA_PROTO_NUM: u16 = 1;
/// `CTA_PROTO_SRC_PORT` (be16).
pub const CTA_PROTO_SRC_PORT: u16 = 2;
/// `CTA_PROTO_DST_PORT` (be16).
pub const CTA_PROTO_DST_PORT: u16 = 3;

/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;

/// The netlink message type of a ctnetlink message: subsystem in the high byte.
pub const fn ctnetlink_message_type(message: u8) -> u16 {
    ((NFNL_SUBSYS_CTNETLINK as u16) << 8) | message as u16
}

/// One direction of a conntrack entry. Ports are 0 for protocols without them (ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConntrackTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A dumped entry: its two tuples and its zone (0 unless a `ct zone` rule set one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConntrackEntry {
    pub original: ConntrackTuple,
    pub reply: ConntrackTuple,
    pub zone: u16,
}

/// Appends an `IPCTNL_MSG_CT_GET` dump request for every IPv4 entry (the kernel skips
/// entries of other families when `nfgenmsg.family` names one).
pub fn put_dump_request(buf: &mut Vec<u8>, seq: u32) {
    let message_type = ctnetlink_message_type(IPCTNL_MSG_CT_GET);
    let start = begin_nfnl_message(buf, message_type, NLM_F_REQUEST | NLM_F_DUMP, seq, AF_INET, 0);
    finish_message(buf, start);
}

/// Appends an `IPCTNL_MSG_CT_DELETE` of the zone-0 entry whose original tuple is `tuple`,
/// with `NLM_F_ACK`. The tuple is always sent: a delete without one flushes the whole table.
pub fn put_delete_request(buf: &mut Vec<u8>, seq: u32, tuple: &ConntrackTuple) {
    let message_type = ctnetlink_message_type(IPCTNL_MSG_CT_DELETE);
    let start = begin_nfnl_message(buf, message_type, NLM_F_REQUEST | NLM_F_ACK, seq, AF_INET, 0);
    let orig = begin_nested(buf, CTA_TUPLE_ORIG);
    let ip = begin_nested(buf, CTA_TUPLE_IP);
    put_attribute(buf, CTA_IP_V4_SRC, &tuple.src.octets());
    put_attribute(buf, CTA_IP_V4_DST, &tuple.dst.octets());
    end_nested(buf, ip);
    let proto = begin_nested(buf, CTA_TUPLE_PROTO);
    put_attribute(buf, CTA_PROTO_NUM, &[tuple.protocol]);
    put_attribute(buf, CTA_PROTO_SRC_PORT, &tuple.src_port.to_be_bytes());
    put_attribute(buf, CTA_PROTO_DST_PORT, &tuple.dst_port.to_be_bytes());
    end_nested(buf, proto);
    end_nested(buf, orig);
    finish_message(buf, start);
}

/// The entry in the payload of one `IPCTNL_MSG_CT_NEW` message of a dump (what follows the
/// `nlmsghdr`). `None` for an entry without both IPv4 tuples; a length outside the buffer
/// or an attribute shorter than its type is an error. Attributes not read are skipped.
pub fn dumped_entry(payload: &[u8]) -> Result<Option<ConntrackEntry>, NetlinkError> {
    let attrs = payload.get(NFGENMSG_LEN..).ok_or(NetlinkError::Truncated)?;
    let (mut original, mut reply, mut zone) = (None, None, 0);
    for attr in attributes(attrs) {
        let (kind, data) = attr?;
        match kind {
            CTA_TUPLE_ORIG => original = tuple(data)?,
            CTA_TUPLE_REPLY => reply = tuple(data)?,
            CTA_ZONE => zone = be_u16(data, 0).ok_or(NetlinkError::ShortAttribute(kind))?,
            _ => {} // status, timeout, counters, mark, labels: not ours to read.
        }
    }
    Ok(original.zip(reply).map(|(original, reply)| ConntrackEntry { original, reply, zone }))
}

/// A nested tuple; `None` without both IPv4 addresses or without a protocol number.
fn tuple(nest: &[u8]) -> Result<Option<ConntrackTuple>, NetlinkError> {
    let (mut src, mut dst, mut protocol, mut src_port, mut dst_port) = (None, None, None, 0, 0);
    for attr in attributes(nest) {
        let (kind, data) = attr?;
        match kind {
            CTA_TUPLE_IP => {
                for field in attributes(data) {
                    let (kind, value) = field?;
                    match kind {
                        CTA_IP_V4_SRC => src = Some(attribute_ipv4(kind, value)?),
                        CTA_IP_V4_DST => dst = Some(attribute_ipv4(kind, value)?),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for field in attributes(data) {
                    let (kind, value) = field?;
                    let short = NetlinkError::ShortAttribute(kind);
                    match kind {
                        CTA_PROTO_NUM => protocol = Some(*value.first().ok_or(short)?),
                        CTA_PROTO_SRC_PORT => src_port = be_u16(value, 0).ok_or(short)?,
                        CTA_PROTO_DST_PORT => dst_port = be_u16(value, 0).ok_or(short)?,
                        _ => {} // ICMP id, type and code
                    }
                }
            }
            _ => {} // CTA_TUPLE_ZONE
        }
    }
    Ok(match (src, dst, protocol) {
        (Some(src), Some(dst), Some(protocol)) => Some(ConntrackTuple { src, dst, protocol, src_port, dst_port }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    //! Expected bytes are spelled out from the uapi layouts; host-order fields go through
    //! `to_ne_bytes` so the tests hold on big-endian mips too.

    use super::super::framing::hand_built::{nest, nla};
    use super::super::framing::messages;
    use super::*;

    fn nlmsg(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(16 + 4 + body.len()).unwrap();
        let mut v = [
            &len.to_ne_bytes()[..],
            &kind.to_ne_bytes(),
            &flags.to_ne_bytes(),
            &seq.to_ne_bytes(),
            &0u32.to_ne_bytes(),
        ]
        .concat();
        v.extend_from_slice(&[2, 0, 0, 0]); // nfgenmsg: AF_INET, version 0, res_id 0
        v.extend_from_slice(body);
        v
    }

    const C: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const N: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

    /// A tuple nest as `ctnetlink_dump_tuples` writes it (addresses, then proto).
    fn tuple_nest(kind: u16, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
        nest(
            kind,
            &[
                nest(CTA_TUPLE_IP, &[nla(CTA_IP_V4_SRC, &src.octets()), nla(CTA_IP_V4_DST, &dst.octets())]),
                nest(
                    CTA_TUPLE_PROTO,
                    &[
                        nla(CTA_PROTO_NUM, &[17]),
                        nla(CTA_PROTO_SRC_PORT, &sport.to_be_bytes()),
                        nla(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    #[test]
    fn the_dump_request_is_a_bare_ipv4_get() {
        let mut buf = Vec::new();
        put_dump_request(&mut buf, 4);
        assert_eq!(buf, nlmsg(0x0101, NLM_F_REQUEST | NLM_F_DUMP, 4, &[]));
    }

    #[test]
    fn a_delete_names_the_original_tuple_in_the_uapi_layout() {
        let mut buf = Vec::new();
        let tuple = ConntrackTuple { src: C, dst: S, protocol: IPPROTO_UDP, src_port: 500, dst_port: 4500 };
        put_delete_request(&mut buf, 7, &tuple);
        // Spelled out byte by byte: 4 of orig header, 20 of ip nest, 28 of proto nest.
        let mut body = Vec::new();
        body.extend([52u16.to_ne_bytes(), (0x8000u16 | 1).to_ne_bytes()].concat()); // CTA_TUPLE_ORIG
        body.extend([20u16.to_ne_bytes(), (0x8000u16 | 1).to_ne_bytes()].concat()); // CTA_TUPLE_IP
        body.extend([8u16.to_ne_bytes(), 1u16.to_ne_bytes()].concat());
        body.extend([192, 168, 1, 10]);
        body.extend([8u16.to_ne_bytes(), 2u16.to_ne_bytes()].concat());
        body.extend([198, 51, 100, 1]);
        body.extend([28u16.to_ne_bytes(), (0x8000u16 | 2).to_ne_bytes()].concat()); // CTA_TUPLE_PROTO
        body.extend([5u16.to_ne_bytes(), 1u16.to_ne_bytes()].concat());
        body.extend([17, 0, 0, 0]); // u8 and padding
        body.extend([6u16.to_ne_bytes(), 2u16.to_ne_bytes()].concat());
        body.extend([0x01, 0xf4, 0, 0]);
        body.extend([6u16.to_ne_bytes(), 3u16.to_ne_bytes()].concat());
        body.extend([0x11, 0x94, 0, 0]);
        assert_eq!(buf, nlmsg(0x0102, NLM_F_REQUEST | NLM_F_ACK, 7, &body));
        assert_eq!(buf.len(), 16 + 4 + 52);
        let message = messages(&buf).next().unwrap().unwrap();
        assert_eq!(message.message_type, ctnetlink_message_type(IPCTNL_MSG_CT_DELETE));
    }

    /// An entry as `ctnetlink_fill_info` writes it: orig, reply, then status, timeout and
    /// others, with the zone only when it is not 0.
    fn dumped_message(zone: Option<u16>) -> Vec<u8> {
        let mut body = [
            tuple_nest(CTA_TUPLE_ORIG, C, S, 500, 500),
            tuple_nest(CTA_TUPLE_REPLY, S, N, 500, 501),
            nla(3, &0x18eu32.to_be_bytes()), // CTA_STATUS
            nla(7, &117u32.to_be_bytes()),   // CTA_TIMEOUT
        ]
        .concat();
        if let Some(zone) = zone {
            body.extend(nla(CTA_ZONE, &zone.to_be_bytes()));
        }
        nlmsg(0x0100, 2, 3, &body)
    }

    #[test]
    fn reads_both_tuples_of_a_dumped_entry() {
        let buf = dumped_message(None);
        let message = messages(&buf).next().unwrap().unwrap();
        let entry = dumped_entry(message.payload).unwrap().unwrap();
        assert_eq!(entry.original, ConntrackTuple { src: C, dst: S, protocol: 17, src_port: 500, dst_port: 500 });
        assert_eq!(entry.reply, ConntrackTuple { src: S, dst: N, protocol: 17, src_port: 500, dst_port: 501 });
        assert_eq!(entry.zone, 0);
        let buf = dumped_message(Some(3));
        let message = messages(&buf).next().unwrap().unwrap();
        assert_eq!(dumped_entry(message.payload).unwrap().map(|e| e.zone), Some(3));
    }

    #[test]
    fn an_icmp_entry_has_no_ports_and_an_ipv6_one_is_skipped() {
        let icmp = |kind, src: Ipv4Addr, dst: Ipv4Addr| {
            nest(
                kind,
                &[
                    nest(CTA_TUPLE_IP, &[nla(CTA_IP_V4_SRC, &src.octets()), nla(CTA_IP_V4_DST, &dst.octets())]),
                    nest(CTA_TUPLE_PROTO, &[nla(CTA_PROTO_NUM, &[1]), nla(4, &7u16.to_be_bytes())]),
                ],
            )
        };
        let payload = [vec![2, 0, 0, 0], icmp(CTA_TUPLE_ORIG, C, S), icmp(CTA_TUPLE_REPLY, S, N)].concat();
        let entry = dumped_entry(&payload).unwrap().unwrap();
        assert_eq!((entry.original.protocol, entry.original.src_port, entry.reply.dst_port), (1, 0, 0));
        let v6 = nest(CTA_TUPLE_ORIG, &[nest(CTA_TUPLE_IP, &[nla(3, &[0; 16]), nla(4, &[0; 16])])]);
        assert_eq!(dumped_entry(&[vec![10, 0, 0, 0], v6].concat()), Ok(None));
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let buf = dumped_message(Some(1));
        let message = messages(&buf).next().unwrap().unwrap();
        for cut in 0..message.payload.len() {
            let _ = dumped_entry(&message.payload[..cut]);
        }
        assert_eq!(dumped_entry(&[2, 0]), Err(NetlinkError::Truncated));
        let short = nest(CTA_TUPLE_ORIG, &[nest(CTA_TUPLE_IP, &[nla(CTA_IP_V4_SRC, &[1, 2])])]);
        assert_eq!(dumped_entry(&[vec![2, 0, 0, 0], short].concat()), Err(NetlinkError::ShortAttribute(CTA_IP_V4_SRC)));
        let short_port = nest(CTA_TUPLE_REPLY, &[nest(CTA_TUPLE_PROTO, &[nla(CTA_PROTO_DST_PORT, &[1])])]);
        assert_eq!(
            dumped_entry(&[vec![2, 0, 0, 0], short_port].concat()),
            Err(NetlinkError::ShortAttribute(CTA_PROTO_DST_PORT))
        );
        assert_eq!(
            dumped_entry(&[vec![2, 0, 0, 0], nla(CTA_ZONE, &[])].concat()),
            Err(NetlinkError::ShortAttribute(CTA_ZONE))
        );
    }
}
