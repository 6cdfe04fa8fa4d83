//! nfnetlink_queue messages (NFQUEUE over raw netlink): the bytes we send and the bytes we
//! read back, on top of [`super::framing`]. Pure codec, no syscalls; [`crate::shell::nfqueue`]
//! owns the socket.
//!
//! Read first, in the kernel's uapi headers: `linux/netlink.h` (`nlmsghdr`, `nlattr`,
//! `nlmsgerr`), `linux/netfilter/nfnetlink.h` (`nfgenmsg`, subsystem ids) and
//! `linux/netfilter/nfnetlink_queue.h` (message types, attributes, config and verdict
//! structures). The kernel side is `net/netfilter/nfnetlink_queue.c`.
//!
//! Byte order is mixed, and this module is the only place that has to care:
//! - netlink framing (`nlmsghdr`, `nlattr` length and type, the `nlmsgerr` error code) is
//!   in HOST order, so it is written with `to_ne_bytes` and read with `from_ne_bytes`;
//! - `nfgenmsg.res_id` (the queue number) and every NFQUEUE attribute payload are in
//!   NETWORK order (big-endian), written with `to_be_bytes`.
//!
//! On a big-endian MIPS router the two agree; on x86 and mipsel they don't. The unit tests
//! build their expected bytes the same way so they hold on both.
//!
//! Builders append to a caller's `Vec<u8>` so the shell can reuse one buffer for every
//! verdict. The parser is a checked iterator: any length that points outside the buffer is
//! an error, never a panic and never an out-of-bounds read.

use super::framing::{
    attributes, begin_nfnl_message, finish_message, put_attribute, EncodeError, NetlinkError, NetlinkMessage,
    AF_UNSPEC, MAX_ATTRIBUTE_PAYLOAD, NFGENMSG_LEN, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
use crate::bytes::{be_u16, be_u32};
use core::fmt;

// --- linux/netfilter/nfnetlink.h -------------------------------------------------------

/// `NFNL_SUBSYS_QUEUE`: the high byte of every nfnetlink_queue message type.
pub const NFNL_SUBSYS_QUEUE: u8 = 3;

// --- linux/netfilter/nfnetlink_queue.h -------------------------------------------------

/// `NFQNL_MSG_PACKET`: a queued packet, kernel to user space.
pub const NFQNL_MSG_PACKET: u8 = 0;
/// `NFQNL_MSG_VERDICT`: a verdict, user space to kernel.
pub const NFQNL_MSG_VERDICT: u8 = 1;
/// `NFQNL_MSG_CONFIG`: bind, unbind and configure a queue.
pub const NFQNL_MSG_CONFIG: u8 = 2;

/// `NFQA_PACKET_HDR`: `struct nfqnl_msg_packet_hdr` (be32 id, be16 hw_protocol, u8 hook).
pub const NFQA_PACKET_HDR: u16 = 1;
/// `NFQA_VERDICT_HDR`: `struct nfqnl_msg_verdict_hdr` (be32 verdict, be32 id).
pub const NFQA_VERDICT_HDR: u16 = 2;
/// `NFQA_MARK`: be32 nfmark.
pub const NFQA_MARK: u16 = 3;
/// `NFQA_IFINDEX_INDEV`: be32 input interface index.
pub const NFQA_IFINDEX_INDEV: u16 = 5;
/// `NFQA_IFINDEX_OUTDEV`: be32 output interface index.
pub const NFQA_IFINDEX_OUTDEV: u16 = 6;
/// `NFQA_PAYLOAD`: the packet from its network header on (or the replacement, in a verdict).
pub const NFQA_PAYLOAD: u16 = 10;
/// `NFQA_CAP_LEN`: be32 length of the packet before `copy_range` cut it.
pub const NFQA_CAP_LEN: u16 = 13;
/// `NFQA_SKB_INFO`: be32 `NFQA_SKB_*` flags.
pub const NFQA_SKB_INFO: u16 = 14;

/// `NFQA_CFG_CMD`: `struct nfqnl_msg_config_cmd` (u8 command, u8 pad, be16 pf).
pub const NFQA_CFG_CMD: u16 = 1;
/// `NFQA_CFG_PARAMS`: `struct nfqnl_msg_config_params` (be32 copy_range, u8 copy_mode), packed.
pub const NFQA_CFG_PARAMS: u16 = 2;
/// `NFQA_CFG_QUEUE_MAXLEN`: be32 queue length limit.
pub const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
/// `NFQA_CFG_MASK`: be32, which `NFQA_CFG_F_*` flags this message changes.
pub const NFQA_CFG_MASK: u16 = 4;
/// `NFQA_CFG_FLAGS`: be32, their new values.
pub const NFQA_CFG_FLAGS: u16 = 5;

/// `NFQNL_CFG_CMD_BIND`: attach this socket to the queue.
pub const NFQNL_CFG_CMD_BIND: u8 = 1;
/// `NFQNL_CFG_CMD_UNBIND`: detach it.
pub const NFQNL_CFG_CMD_UNBIND: u8 = 2;
/// `NFQNL_CFG_CMD_PF_BIND`: obsolete since Linux 3.8 (a no-op that the kernel still ACKs).
pub const NFQNL_CFG_CMD_PF_BIND: u8 = 3;
/// `NFQNL_CFG_CMD_PF_UNBIND`: obsolete, as `PF_BIND`.
pub const NFQNL_CFG_CMD_PF_UNBIND: u8 = 4;

/// `NFQNL_COPY_NONE`.
pub const NFQNL_COPY_NONE: u8 = 0;
/// `NFQNL_COPY_META`: metadata only, no payload.
pub const NFQNL_COPY_META: u8 = 1;
/// `NFQNL_COPY_PACKET`: metadata and up to `copy_range` bytes of the packet.
pub const NFQNL_COPY_PACKET: u8 = 2;

/// `NFQA_CFG_F_FAIL_OPEN`: accept instead of drop when the queue (or our socket) is full.
pub const NFQA_CFG_F_FAIL_OPEN: u32 = 1 << 0;
/// `NFQA_CFG_F_CONNTRACK`: attach conntrack information.
pub const NFQA_CFG_F_CONNTRACK: u32 = 1 << 1;
/// `NFQA_CFG_F_GSO`: hand over GSO packets unsegmented (we leave it off).
pub const NFQA_CFG_F_GSO: u32 = 1 << 2;

/// `NFQA_SKB_CSUMNOTREADY`: checksums look wrong but will be filled in by the device.
pub const NFQA_SKB_CSUMNOTREADY: u32 = 1 << 0;
/// `NFQA_SKB_GSO`: the payload is a GSO super-packet larger than the MTU.
pub const NFQA_SKB_GSO: u32 = 1 << 1;
/// `NFQA_SKB_CSUM_NOTVERIFIED`: nobody has verified the checksum yet.
pub const NFQA_SKB_CSUM_NOTVERIFIED: u32 = 1 << 2;

/// The netlink message type of an nfnetlink_queue message: subsystem in the high byte.
pub const fn queue_message_type(message: u8) -> u16 {
    ((NFNL_SUBSYS_QUEUE as u16) << 8) | message as u16
}

/// A verdict on a queued packet, with the kernel's numbers (`linux/netfilter.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NfVerdict {
    /// `NF_DROP` (0): the packet is freed.
    Drop,
    /// `NF_ACCEPT` (1): the packet continues with the next hook.
    Accept,
    /// `NF_REPEAT` (4): the packet goes through the current hook again, from its start.
    Repeat,
}

impl NfVerdict {
    /// The kernel's `NF_*` value, as carried in `nfqnl_msg_verdict_hdr.verdict`.
    pub const fn code(self) -> u32 {
        match self {
            NfVerdict::Drop => 0,
            NfVerdict::Accept => 1,
            NfVerdict::Repeat => 4,
        }
    }
}

impl fmt::Display for NfVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NfVerdict::Drop => "NF_DROP",
            NfVerdict::Accept => "NF_ACCEPT",
            NfVerdict::Repeat => "NF_REPEAT",
        })
    }
}

/// `struct nfqnl_msg_config_cmd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigCommand {
    /// One of `NFQNL_CFG_CMD_*`.
    pub command: u8,
    /// Protocol family; only the obsolete `PF_BIND`/`PF_UNBIND` read it.
    pub pf: u8,
}

/// One NFQNL_MSG_CONFIG message. Every part is optional; the kernel applies the command
/// first and then the rest, all under one ACK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// `NFQA_CFG_CMD`.
    pub command: Option<ConfigCommand>,
    /// `NFQA_CFG_PARAMS`: (`NFQNL_COPY_*` mode, copy range in bytes).
    pub copy: Option<(u8, u32)>,
    /// `NFQA_CFG_QUEUE_MAXLEN`.
    pub max_len: Option<u32>,
    /// `NFQA_CFG_MASK` and `NFQA_CFG_FLAGS`: (mask of flags to change, their values).
    pub flags: Option<(u32, u32)>,
}

impl QueueConfig {
    /// The obsolete per-family bind. The kernel answers it before looking at any queue, so
    /// it is a clean probe: EPERM means "no CAP_NET_ADMIN", EINVAL or EOPNOTSUPP means
    /// "no nfnetlink_queue in this kernel".
    pub fn pf_bind(pf: u8) -> QueueConfig {
        QueueConfig { command: Some(ConfigCommand { command: NFQNL_CFG_CMD_PF_BIND, pf }), ..QueueConfig::default() }
    }

    /// Bind to the queue and configure it in the same message, so no packet reaches us in
    /// the default `NFQNL_COPY_META` mode.
    pub fn bind(copy_range: u32, max_len: u32, fail_open: bool) -> QueueConfig {
        QueueConfig {
            command: Some(ConfigCommand { command: NFQNL_CFG_CMD_BIND, pf: AF_UNSPEC }),
            copy: Some((NFQNL_COPY_PACKET, copy_range)),
            max_len: Some(max_len),
            flags: Some((NFQA_CFG_F_FAIL_OPEN, if fail_open { NFQA_CFG_F_FAIL_OPEN } else { 0 })),
        }
    }

    /// Detach from the queue (the kernel also does this when the socket closes).
    pub fn unbind() -> QueueConfig {
        QueueConfig {
            command: Some(ConfigCommand { command: NFQNL_CFG_CMD_UNBIND, pf: AF_UNSPEC }),
            ..QueueConfig::default()
        }
    }
}

/// Appends an NFQNL_MSG_CONFIG message for `queue` (flags `NLM_F_REQUEST | NLM_F_ACK`).
pub fn put_config(buf: &mut Vec<u8>, seq: u32, queue: u16, config: &QueueConfig) {
    let family = config.command.map_or(AF_UNSPEC, |c| c.pf);
    let start = begin_message(buf, NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, family, queue);
    if let Some(cmd) = config.command {
        let pf = u16::from(cmd.pf).to_be_bytes();
        put_attribute(buf, NFQA_CFG_CMD, &[cmd.command, 0, pf[0], pf[1]]);
    }
    if let Some((mode, range)) = config.copy {
        let r = range.to_be_bytes();
        // packed struct: 5 bytes, the attribute pads it to 8.
        put_attribute(buf, NFQA_CFG_PARAMS, &[r[0], r[1], r[2], r[3], mode]);
    }
    if let Some(max_len) = config.max_len {
        put_attribute(buf, NFQA_CFG_QUEUE_MAXLEN, &max_len.to_be_bytes());
    }
    if let Some((mask, flags)) = config.flags {
        put_attribute(buf, NFQA_CFG_MASK, &mask.to_be_bytes());
        put_attribute(buf, NFQA_CFG_FLAGS, &flags.to_be_bytes());
    }
    finish_message(buf, start);
}

/// Appends an NFQNL_MSG_VERDICT message for packet `id` of `queue` (flag `NLM_F_REQUEST`
/// only: the kernel reports a failed verdict as an `NLMSG_ERROR` anyway, and an ACK per
/// packet would double the traffic). `new_payload` replaces the packet; it is not sent
/// with `Drop`, where the kernel would ignore it.
pub fn put_verdict(
    buf: &mut Vec<u8>,
    seq: u32,
    queue: u16,
    id: u32,
    verdict: NfVerdict,
    new_payload: Option<&[u8]>,
) -> Result<(), EncodeError> {
    let new_payload = new_payload.filter(|_| verdict != NfVerdict::Drop);
    if new_payload.is_some_and(|p| p.len() > MAX_ATTRIBUTE_PAYLOAD) {
        return Err(EncodeError::PayloadTooLarge);
    }
    let start = begin_message(buf, NFQNL_MSG_VERDICT, NLM_F_REQUEST, seq, AF_UNSPEC, queue);
    let v = verdict.code().to_be_bytes();
    let i = id.to_be_bytes();
    put_attribute(buf, NFQA_VERDICT_HDR, &[v[0], v[1], v[2], v[3], i[0], i[1], i[2], i[3]]);
    if let Some(payload) = new_payload {
        put_attribute(buf, NFQA_PAYLOAD, payload);
    }
    finish_message(buf, start);
    Ok(())
}

/// What a netlink message from the nfnetlink_queue socket means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// NFQNL_MSG_PACKET: a packet waiting for its verdict.
    Packet(PacketMessage<'a>),
    /// `NLMSG_ERROR` with error 0: request `seq` succeeded.
    Ack {
        /// Sequence number of the acknowledged request.
        seq: u32,
    },
    /// `NLMSG_ERROR` with an error: request `seq` failed with `errno` (positive).
    Error {
        /// Sequence number of the failed request.
        seq: u32,
        /// The kernel's errno, made positive (compare with `libc::E*`).
        errno: i32,
    },
    /// `NLMSG_DONE`.
    Done,
    /// `NLMSG_NOOP`, `NLMSG_OVERRUN` or a message type we do not read; kept for counting.
    Other {
        /// `nlmsg_type`.
        message_type: u16,
    },
}

/// The fields of an NFQNL_MSG_PACKET that the daemon uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMessage<'a> {
    /// `nfgenmsg.nfgen_family`: `AF_INET` or `AF_INET6` for IP hooks.
    pub family: u8,
    /// `nfgenmsg.res_id`: the queue number.
    pub queue: u16,
    /// `nfqnl_msg_packet_hdr.packet_id`: what the verdict must quote.
    pub id: u32,
    /// `nfqnl_msg_packet_hdr.hw_protocol`: the EtherType (0x0800 IPv4, 0x86dd IPv6).
    pub hw_protocol: u16,
    /// `nfqnl_msg_packet_hdr.hook`: `NF_INET_*` hook number.
    pub hook: u8,
    /// `NFQA_PAYLOAD`: the packet from its network header on; empty if absent.
    pub payload: &'a [u8],
    /// `NFQA_IFINDEX_INDEV`.
    pub indev: Option<u32>,
    /// `NFQA_IFINDEX_OUTDEV`.
    pub outdev: Option<u32>,
    /// `NFQA_SKB_INFO`: `NFQA_SKB_*` flags.
    pub skb_info: Option<u32>,
    /// `NFQA_CAP_LEN`: the packet's full length, when `copy_range` cut the payload.
    pub cap_len: Option<u32>,
    /// `NFQA_MARK`.
    pub mark: Option<u32>,
}

impl<'a> NetlinkMessage<'a> {
    /// Decodes the message as the nfnetlink_queue socket sends it.
    pub fn decode(&self) -> Result<Received<'a>, NetlinkError> {
        match self.message_type {
            NLMSG_ERROR => {
                let errno = self.error_code().ok_or(NetlinkError::Truncated)?;
                if errno == 0 {
                    Ok(Received::Ack { seq: self.seq })
                } else {
                    Ok(Received::Error { seq: self.seq, errno })
                }
            }
            NLMSG_DONE => Ok(Received::Done),
            t if t == queue_message_type(NFQNL_MSG_PACKET) => decode_packet(self.payload).map(Received::Packet),
            message_type => Ok(Received::Other { message_type }),
        }
    }
}

fn decode_packet(payload: &[u8]) -> Result<PacketMessage<'_>, NetlinkError> {
    let family = payload.first().copied().ok_or(NetlinkError::Truncated)?;
    let queue = be_u16(payload, 2).ok_or(NetlinkError::Truncated)?;
    let attrs = payload.get(NFGENMSG_LEN..).ok_or(NetlinkError::Truncated)?;

    let mut header = None;
    let mut packet = PacketMessage {
        family,
        queue,
        id: 0,
        hw_protocol: 0,
        hook: 0,
        payload: &[],
        indev: None,
        outdev: None,
        skb_info: None,
        cap_len: None,
        mark: None,
    };
    for attr in attributes(attrs) {
        let (kind, data) = attr?;
        let be32 = || be_u32(data, 0).ok_or(NetlinkError::ShortAttribute(kind));
        match kind {
            NFQA_PACKET_HDR => {
                let id = be_u32(data, 0);
                let hw = be_u16(data, 4);
                let hook = data.get(6).copied();
                match (id, hw, hook) {
                    (Some(id), Some(hw), Some(hook)) => header = Some((id, hw, hook)),
                    _ => return Err(NetlinkError::ShortAttribute(kind)),
                }
            }
            NFQA_PAYLOAD => packet.payload = data,
            NFQA_IFINDEX_INDEV => packet.indev = Some(be32()?),
            NFQA_IFINDEX_OUTDEV => packet.outdev = Some(be32()?),
            NFQA_SKB_INFO => packet.skb_info = Some(be32()?),
            NFQA_CAP_LEN => packet.cap_len = Some(be32()?),
            NFQA_MARK => packet.mark = Some(be32()?),
            _ => {} // timestamps, hw address, uid/gid, ...: not ours to read.
        }
    }
    let (id, hw_protocol, hook) = header.ok_or(NetlinkError::MissingPacketHeader)?;
    packet.id = id;
    packet.hw_protocol = hw_protocol;
    packet.hook = hook;
    Ok(packet)
}

/// Writes `nlmsghdr` (length patched later) and `nfgenmsg`; returns where the message starts.
fn begin_message(buf: &mut Vec<u8>, message: u8, flags: u16, seq: u32, family: u8, queue: u16) -> usize {
    begin_nfnl_message(buf, queue_message_type(message), flags, seq, family, queue)
}

#[cfg(test)]
mod tests {
    //! Expected bytes are written out field by field from the uapi struct layouts quoted
    //! in each comment. Host-order fields go through `to_ne_bytes` so the same test holds
    //! on big-endian mips; network-order fields are literal big-endian bytes.

    use super::super::framing::*;
    use super::*;
    use proptest::prelude::*;

    fn ne16(v: u16) -> [u8; 2] {
        v.to_ne_bytes()
    }

    fn ne32(v: u32) -> [u8; 4] {
        v.to_ne_bytes()
    }

    /// `struct nlmsghdr` as host-order bytes.
    fn nlmsghdr(len: u32, kind: u16, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
        [&ne32(len)[..], &ne16(kind), &ne16(flags), &ne32(seq), &ne32(pid)].concat()
    }

    /// `struct nlattr` header as host-order bytes.
    fn nlattr(len: u16, kind: u16) -> Vec<u8> {
        [ne16(len), ne16(kind)].concat()
    }

    #[test]
    fn bind_message_matches_the_uapi_layout() {
        let mut buf = Vec::new();
        put_config(&mut buf, 1, 7, &QueueConfig::bind(0xffff, 1024, true));
        let expected = [
            // nlmsghdr: 16 + nfgenmsg 4 + CMD 8 + PARAMS 12 + MAXLEN 8 + MASK 8 + FLAGS 8 = 64
            nlmsghdr(64, 0x0302, NLM_F_REQUEST | NLM_F_ACK, 1, 0),
            // nfgenmsg: family AF_UNSPEC, version 0, res_id = queue 7 big-endian
            vec![0, 0, 0x00, 0x07],
            // NFQA_CFG_CMD: nfqnl_msg_config_cmd {command BIND, _pad, be16 pf 0}
            nlattr(8, 1),
            vec![1, 0, 0x00, 0x00],
            // NFQA_CFG_PARAMS: packed {be32 copy_range 0xffff, u8 mode PACKET}, nla_len 9, pad 3
            nlattr(9, 2),
            vec![0x00, 0x00, 0xff, 0xff, 2, 0, 0, 0],
            // NFQA_CFG_QUEUE_MAXLEN: be32 1024
            nlattr(8, 3),
            vec![0x00, 0x00, 0x04, 0x00],
            // NFQA_CFG_MASK: be32 FAIL_OPEN
            nlattr(8, 4),
            vec![0x00, 0x00, 0x00, 0x01],
            // NFQA_CFG_FLAGS: be32 FAIL_OPEN
            nlattr(8, 5),
            vec![0x00, 0x00, 0x00, 0x01],
        ]
        .concat();
        assert_eq!(buf, expected);
    }

    #[test]
    fn bind_without_fail_open_clears_the_flag_under_its_mask() {
        let mut buf = Vec::new();
        put_config(&mut buf, 9, 0x1234, &QueueConfig::bind(1500, 64, false));
        assert_eq!(buf.len(), 64);
        assert_eq!(&buf[16..20], &[0, 0, 0x12, 0x34]);
        assert_eq!(&buf[32..37], &[0x00, 0x00, 0x05, 0xdc, 2]); // copy_range 1500, mode PACKET
        assert_eq!(&buf[44..48], &[0, 0, 0, 64]); // max_len
        assert_eq!(&buf[52..56], &[0, 0, 0, 1]); // mask FAIL_OPEN
        assert_eq!(&buf[60..64], &[0, 0, 0, 0]); // flags: off
    }

    #[test]
    fn pf_bind_and_unbind_messages_match_the_uapi_layout() {
        let mut buf = Vec::new();
        put_config(&mut buf, 5, 3, &QueueConfig::pf_bind(AF_INET));
        let expected = [
            nlmsghdr(28, 0x0302, NLM_F_REQUEST | NLM_F_ACK, 5, 0),
            vec![AF_INET, 0, 0x00, 0x03],
            nlattr(8, 1),
            vec![NFQNL_CFG_CMD_PF_BIND, 0, 0x00, AF_INET], // be16 pf = 2
        ]
        .concat();
        assert_eq!(buf, expected);

        buf.clear();
        put_config(&mut buf, 6, 3, &QueueConfig::unbind());
        let expected = [
            nlmsghdr(28, 0x0302, NLM_F_REQUEST | NLM_F_ACK, 6, 0),
            vec![0, 0, 0x00, 0x03],
            nlattr(8, 1),
            vec![NFQNL_CFG_CMD_UNBIND, 0, 0, 0],
        ]
        .concat();
        assert_eq!(buf, expected);
    }

    #[test]
    fn verdict_message_matches_the_uapi_layout() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 42, 7, 0x0102_0304, NfVerdict::Accept, None).unwrap();
        let expected = [
            // 16 + nfgenmsg 4 + VERDICT_HDR 12 = 32; no ACK requested
            nlmsghdr(32, 0x0301, NLM_F_REQUEST, 42, 0),
            vec![0, 0, 0x00, 0x07],
            // NFQA_VERDICT_HDR: nfqnl_msg_verdict_hdr {be32 verdict NF_ACCEPT, be32 id}
            nlattr(12, 2),
            vec![0, 0, 0, 1, 0x01, 0x02, 0x03, 0x04],
        ]
        .concat();
        assert_eq!(buf, expected);
    }

    #[test]
    fn verdict_with_payload_pads_the_attribute_but_not_its_length() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 1, 0, 9, NfVerdict::Repeat, Some(&[0xaa, 0xbb, 0xcc, 0xdd, 0xee])).unwrap();
        let expected = [
            // 16 + 4 + 12 + NFQA_PAYLOAD (4 + 5, padded to 12) = 44
            nlmsghdr(44, 0x0301, NLM_F_REQUEST, 1, 0),
            vec![0, 0, 0, 0],
            nlattr(12, 2),
            vec![0, 0, 0, 4, 0, 0, 0, 9], // NF_REPEAT = 4
            nlattr(9, 10),
            vec![0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0],
        ]
        .concat();
        assert_eq!(buf, expected);
    }

    #[test]
    fn drop_verdict_leaves_out_the_payload() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 1, 0, 9, NfVerdict::Drop, Some(&[1, 2, 3])).unwrap();
        assert_eq!(buf.len(), 32);
        assert_eq!(&buf[24..28], &[0, 0, 0, 0]); // NF_DROP
    }

    #[test]
    fn oversized_payload_is_refused_and_nothing_is_written() {
        let mut buf = Vec::new();
        let big = vec![0u8; MAX_ATTRIBUTE_PAYLOAD + 1];
        assert_eq!(put_verdict(&mut buf, 1, 0, 1, NfVerdict::Accept, Some(&big)), Err(EncodeError::PayloadTooLarge));
        assert!(buf.is_empty());
        let max = vec![0u8; MAX_ATTRIBUTE_PAYLOAD];
        put_verdict(&mut buf, 1, 0, 1, NfVerdict::Accept, Some(&max)).unwrap();
        assert_eq!(buf.len(), 32 + align(NLA_HDRLEN + MAX_ATTRIBUTE_PAYLOAD));
    }

    #[test]
    fn builders_append_so_one_buffer_holds_several_messages() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 1, 0, 1, NfVerdict::Accept, None).unwrap();
        put_verdict(&mut buf, 2, 0, 2, NfVerdict::Drop, None).unwrap();
        let seqs: Vec<u32> = messages(&buf).map(|m| m.unwrap().seq).collect();
        assert_eq!(seqs, [1, 2]);
    }

    /// An NFQNL_MSG_PACKET as the kernel builds it (`nfqnl_build_packet_message`), with the
    /// payload attribute last and, like the kernel's, not padded.
    fn packet_message(seq: u32, id: u32, payload: &[u8], extra: &[(u16, [u8; 4])]) -> Vec<u8> {
        let mut body = vec![AF_INET, 0, 0x00, 0x07]; // nfgenmsg, queue 7
        body.extend(nlattr(11, NFQA_PACKET_HDR)); // packed {be32 id, be16 hw_protocol, u8 hook}
        body.extend(id.to_be_bytes());
        body.extend([0x08, 0x00, 3, 0]); // ETH_P_IP, NF_INET_LOCAL_OUT, 1 pad byte
        for (kind, value) in extra {
            body.extend(nlattr(8, *kind));
            body.extend(value);
        }
        body.extend(nlattr(u16::try_from(4 + payload.len()).unwrap(), NFQA_PAYLOAD));
        body.extend(payload);
        let len = u32::try_from(NLMSG_HDRLEN + body.len()).unwrap();
        [nlmsghdr(len, 0x0300, 0, seq, 0), body].concat()
    }

    fn nlmsgerr(seq: u32, errno: i32) -> Vec<u8> {
        // struct nlmsgerr {int error; struct nlmsghdr msg;} with the request header echoed.
        [nlmsghdr(36, NLMSG_ERROR, 0x100, seq, 77), (-errno).to_ne_bytes().to_vec(), nlmsghdr(28, 0x0302, 5, seq, 0)]
            .concat()
    }

    #[test]
    fn packet_message_yields_header_payload_and_interfaces() {
        let buf = packet_message(
            0,
            0xdead_beef,
            &[0x45, 0, 0, 5, 0xff],
            &[(NFQA_IFINDEX_INDEV, [0, 0, 0, 2]), (NFQA_IFINDEX_OUTDEV, [0, 0, 1, 0]), (NFQA_SKB_INFO, [0, 0, 0, 6])],
        );
        let mut all = messages(&buf);
        let Received::Packet(p) = all.next().unwrap().unwrap().decode().unwrap() else { panic!("not a packet") };
        assert!(all.next().is_none());
        assert_eq!(p.family, AF_INET);
        assert_eq!(p.queue, 7);
        assert_eq!(p.id, 0xdead_beef);
        assert_eq!(p.hw_protocol, 0x0800);
        assert_eq!(p.hook, 3);
        assert_eq!(p.payload, &[0x45, 0, 0, 5, 0xff]);
        assert_eq!(p.indev, Some(2));
        assert_eq!(p.outdev, Some(256));
        assert_eq!(p.skb_info, Some(NFQA_SKB_GSO | NFQA_SKB_CSUM_NOTVERIFIED));
        assert_eq!(p.cap_len, None);
        assert_eq!(p.mark, None);
    }

    #[test]
    fn packet_without_payload_attribute_has_an_empty_payload() {
        let mut buf = packet_message(0, 1, &[], &[]);
        // Drop the zero-length NFQA_PAYLOAD and fix nlmsg_len.
        buf.truncate(buf.len() - 4);
        let len = u32::try_from(buf.len()).unwrap();
        buf[..4].copy_from_slice(&ne32(len));
        let Received::Packet(p) = messages(&buf).next().unwrap().unwrap().decode().unwrap() else { panic!() };
        assert!(p.payload.is_empty());
    }

    #[test]
    fn several_messages_in_one_buffer_unpadded_one_in_between() {
        let first = packet_message(0, 1, &[1, 2, 3], &[]); // 39 bytes, not a multiple of 4
        let mut buf = first.clone();
        buf.resize(align(first.len()), 0);
        buf.extend(nlmsgerr(8, 0));
        buf.extend(nlmsgerr(9, libc_eperm()));
        buf.extend(nlmsghdr(16, NLMSG_DONE, NLM_F_MULTI, 9, 0));
        let decoded: Vec<Received<'_>> = messages(&buf).map(|m| m.unwrap().decode().unwrap()).collect();
        assert_eq!(decoded.len(), 4);
        assert!(matches!(decoded[0], Received::Packet(p) if p.id == 1 && p.payload == [1, 2, 3]));
        assert_eq!(decoded[1], Received::Ack { seq: 8 });
        assert_eq!(decoded[2], Received::Error { seq: 9, errno: libc_eperm() });
        assert_eq!(decoded[3], Received::Done);
    }

    /// EPERM is 1 on every Linux architecture, MIPS included.
    fn libc_eperm() -> i32 {
        1
    }

    #[test]
    fn unknown_attributes_and_flag_bits_are_skipped() {
        let mut buf = packet_message(0, 5, &[9], &[(NFQA_MARK, [0, 0, 0, 42])]);
        // Append an unknown nested attribute (type 0x8000 | 30) at the end.
        buf.resize(align(buf.len()), 0);
        buf.extend(nlattr(8, 0x8000 | 30));
        buf.extend([1, 2, 3, 4]);
        let len = u32::try_from(buf.len()).unwrap();
        buf[..4].copy_from_slice(&ne32(len));
        let Received::Packet(p) = messages(&buf).next().unwrap().unwrap().decode().unwrap() else { panic!() };
        assert_eq!((p.id, p.mark, p.payload), (5, Some(42), &[9u8][..]));
    }

    #[test]
    fn error_without_its_code_is_truncated() {
        let buf = nlmsghdr(18, NLMSG_ERROR, 0, 1, 0).into_iter().chain([0, 0]).collect::<Vec<u8>>();
        let m = messages(&buf).next().unwrap().unwrap();
        assert_eq!(m.decode(), Err(NetlinkError::Truncated));
    }

    #[test]
    fn bad_lengths_are_errors_and_end_the_iteration() {
        // shorter than a header
        assert_eq!(messages(&[1, 2, 3]).collect::<Vec<_>>(), [Err(NetlinkError::Truncated)]);
        // nlmsg_len below the header size
        let buf = nlmsghdr(8, NLMSG_DONE, 0, 0, 0);
        assert_eq!(messages(&buf).collect::<Vec<_>>(), [Err(NetlinkError::BadLength)]);
        // nlmsg_len past the buffer
        let buf = nlmsghdr(4096, NLMSG_DONE, 0, 0, 0);
        assert_eq!(messages(&buf).collect::<Vec<_>>(), [Err(NetlinkError::BadLength)]);
        // a good message, then garbage: one Ok, one Err, then nothing
        let mut buf = nlmsgerr(3, 0);
        buf.extend([0xff; 20]);
        let all: Vec<_> = messages(&buf).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].is_ok());
        assert_eq!(all[1], Err(NetlinkError::BadLength));
    }

    #[test]
    fn truncated_packet_messages_are_errors() {
        let full = packet_message(0, 1, &[1, 2, 3, 4], &[]);
        for cut in 0..full.len() {
            let mut buf = full[..cut].to_vec();
            if buf.len() >= 4 {
                // Keep nlmsg_len consistent with the cut so the attribute parser sees it.
                let len = u32::try_from(buf.len()).unwrap();
                buf[..4].copy_from_slice(&ne32(len));
            }
            for m in messages(&buf).flatten() {
                let _ = m.decode();
            }
        }
        // An nfgenmsg cut short, and a PACKET_HDR attribute of 6 bytes instead of 7.
        let short_gen = [nlmsghdr(18, 0x0300, 0, 0, 0), vec![2, 0]].concat();
        assert_eq!(messages(&short_gen).next().unwrap().unwrap().decode(), Err(NetlinkError::Truncated));
        let short_hdr =
            [nlmsghdr(32, 0x0300, 0, 0, 0), vec![2, 0, 0, 7], nlattr(10, 1), vec![0, 0, 0, 1, 8, 0, 0, 0]].concat();
        assert_eq!(
            messages(&short_hdr).next().unwrap().unwrap().decode(),
            Err(NetlinkError::ShortAttribute(NFQA_PACKET_HDR))
        );
        let no_hdr = [nlmsghdr(20, 0x0300, 0, 0, 0), vec![2, 0, 0, 7]].concat();
        assert_eq!(messages(&no_hdr).next().unwrap().unwrap().decode(), Err(NetlinkError::MissingPacketHeader));
        let bad_attr = [nlmsghdr(28, 0x0300, 0, 0, 0), vec![2, 0, 0, 7], nlattr(40, 1), vec![0; 4]].concat();
        assert_eq!(messages(&bad_attr).next().unwrap().unwrap().decode(), Err(NetlinkError::BadLength));
        let short_ifindex = [nlmsghdr(28, 0x0300, 0, 0, 0), vec![2, 0, 0, 7], nlattr(6, 5), vec![0, 1, 0, 0]].concat();
        assert_eq!(
            messages(&short_ifindex).next().unwrap().unwrap().decode(),
            Err(NetlinkError::ShortAttribute(NFQA_IFINDEX_INDEV))
        );
    }

    #[test]
    fn our_own_verdict_parses_back_as_other() {
        let mut buf = Vec::new();
        put_verdict(&mut buf, 1, 0, 1, NfVerdict::Accept, Some(&[1])).unwrap();
        let m = messages(&buf).next().unwrap().unwrap();
        assert_eq!(m.decode(), Ok(Received::Other { message_type: 0x0301 }));
        let attrs: Vec<_> = attributes(&m.payload[NFGENMSG_LEN..]).map(|a| a.unwrap().0).collect();
        assert_eq!(attrs, [NFQA_VERDICT_HDR, NFQA_PAYLOAD]);
    }

    #[test]
    fn verdict_codes_are_the_kernels() {
        assert_eq!([NfVerdict::Drop, NfVerdict::Accept, NfVerdict::Repeat].map(NfVerdict::code), [0, 1, 4]);
        assert_eq!(NfVerdict::Accept.to_string(), "NF_ACCEPT");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for m in messages(&bytes).flatten() {
                let _ = m.decode();
                for a in attributes(m.payload) {
                    let _ = a;
                }
            }
        }

        #[test]
        fn mutated_packets_never_panic(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            at in 0usize..128,
            value in any::<u8>(),
        ) {
            let mut buf = packet_message(1, 2, &payload, &[(NFQA_IFINDEX_INDEV, [0, 0, 0, 1])]);
            let len = buf.len();
            if let Some(b) = buf.get_mut(at % len) {
                *b = value;
            }
            for m in messages(&buf).flatten() {
                let _ = m.decode();
            }
        }

        #[test]
        fn verdicts_round_trip(seq in any::<u32>(), queue in any::<u16>(), id in any::<u32>(),
                               payload in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut buf = Vec::new();
            put_verdict(&mut buf, seq, queue, id, NfVerdict::Accept, Some(&payload)).unwrap();
            prop_assert_eq!(buf.len() % 4, 0);
            let m = messages(&buf).next().unwrap().unwrap();
            prop_assert_eq!(m.seq, seq);
            prop_assert_eq!(&m.payload[2..4], &queue.to_be_bytes());
            let attrs: Vec<_> = attributes(&m.payload[NFGENMSG_LEN..]).map(|a| a.unwrap()).collect();
            prop_assert_eq!(&attrs[0].1[4..8], &id.to_be_bytes());
            prop_assert_eq!(attrs[1].1, &payload[..]);
        }
    }
}
