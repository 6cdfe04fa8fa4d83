//! Netlink framing (RFC 3549 §2.3.2, `linux/netlink.h`) and the nfnetlink header
//! (`linux/netfilter/nfnetlink.h`): messages, attributes, acknowledgements, and the
//! checked iterators that read them. Pure codec, no syscalls; the protocol codecs
//! ([`super::queue`], [`super::nftables`], [`super::route`]) are built on it.
//!
//! Byte order: netlink framing (`nlmsghdr`, `nlattr` length and type, the `nlmsgerr`
//! error code) is in HOST order, written with `to_ne_bytes` and read with
//! `from_ne_bytes`; `nfgenmsg.res_id` is in network order. On a big-endian MIPS router
//! the two agree; on x86 and mipsel they don't, and the tests build their expected bytes
//! the same way so they hold on both.
//!
//! The parsers are checked iterators: any length that points outside the buffer is an
//! error, never a panic and never an out-of-bounds read.

use crate::bytes::{ne_i32, ne_u16, ne_u32};
use core::fmt;

// --- linux/netlink.h -------------------------------------------------------------------

/// `NLMSG_HDRLEN`: `struct nlmsghdr` is `u32 len, u16 type, u16 flags, u32 seq, u32 pid`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLA_HDRLEN`: `struct nlattr` is `u16 len, u16 type`.
pub const NLA_HDRLEN: usize = 4;
/// `NLMSG_ALIGNTO` and `NLA_ALIGNTO`: messages and attributes start on 4-byte boundaries.
pub const NLMSG_ALIGNTO: usize = 4;

/// `NLM_F_REQUEST`: every message to the kernel carries it.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`: part of a multipart reply, ended by `NLMSG_DONE`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`: ask for an `NLMSG_ERROR` with error 0 on success.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_REPLACE`: with `NLM_F_CREATE`, replace an existing object (`tc filter replace`).
pub const NLM_F_REPLACE: u16 = 0x100;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): a GET request for every object.
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_EXCL`: with `NLM_F_CREATE`, an object that exists already is an error (EEXIST).
pub const NLM_F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: create the object if it does not exist (without `NLM_F_EXCL`, an
/// existing one is not an error).
pub const NLM_F_CREATE: u16 = 0x400;

/// `NLMSG_NOOP`: to be ignored.
pub const NLMSG_NOOP: u16 = 0x1;
/// `NLMSG_ERROR`: an error report or, with error 0, an acknowledgement.
pub const NLMSG_ERROR: u16 = 0x2;
/// `NLMSG_DONE`: the end of a multipart reply.
pub const NLMSG_DONE: u16 = 0x3;
/// `NLMSG_OVERRUN`: data lost (reserved by the kernel, not sent today).
pub const NLMSG_OVERRUN: u16 = 0x4;

/// `NLA_F_NESTED`: the attribute's payload is itself attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` share the top of `nla_type`;
/// `NLA_TYPE_MASK` strips them.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

// --- linux/netfilter/nfnetlink.h -------------------------------------------------------

/// `sizeof(struct nfgenmsg)`: `u8 family, u8 version, be16 res_id`.
pub const NFGENMSG_LEN: usize = 4;
/// `NFNETLINK_V0`, the only version.
pub const NFNETLINK_V0: u8 = 0;

/// `AF_UNSPEC`. Address family numbers are the same on every Linux architecture.
pub const AF_UNSPEC: u8 = 0;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

/// The largest payload an `nlattr` can carry (`nla_len` is a `u16` that counts its header).
pub const MAX_ATTRIBUTE_PAYLOAD: usize = u16::MAX as usize - NLA_HDRLEN;

/// Why a message could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The replacement payload does not fit an `nlattr` (more than [`MAX_ATTRIBUTE_PAYLOAD`]).
    PayloadTooLarge,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::PayloadTooLarge => write!(f, "payload larger than {MAX_ATTRIBUTE_PAYLOAD} bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why a received buffer could not be read. All are the sender's fault (malformed input);
/// from the kernel they would mean a bug on one side, so the shell counts and skips them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetlinkError {
    /// Fewer bytes than a header needs.
    Truncated,
    /// An `nlmsg_len` or `nla_len` smaller than its header or past the end of the buffer.
    BadLength,
    /// A packet message without `NFQA_PACKET_HDR`.
    MissingPacketHeader,
    /// A known attribute whose payload is shorter than its structure; carries the type.
    ShortAttribute(u16),
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetlinkError::Truncated => f.write_str("truncated netlink message"),
            NetlinkError::BadLength => f.write_str("netlink length field out of bounds"),
            NetlinkError::MissingPacketHeader => f.write_str("NFQNL_MSG_PACKET without NFQA_PACKET_HDR"),
            NetlinkError::ShortAttribute(t) => write!(f, "nfqueue attribute {t} too short"),
        }
    }
}

impl std::error::Error for NetlinkError {}

/// One netlink message, header fields decoded, payload borrowed from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetlinkMessage<'a> {
    /// `nlmsg_type`.
    pub message_type: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: for replies, the sequence number of the request.
    pub seq: u32,
    /// `nlmsg_pid`: 0 for messages from the kernel.
    pub port_id: u32,
    /// Everything after the 16-byte header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// Iterates over the netlink messages in one `recv` buffer. Yields at most one error and
/// then stops, since nothing after a bad length can be trusted.
#[derive(Clone, Debug)]
pub struct NetlinkMessages<'a> {
    rest: &'a [u8],
}

/// The messages in `buf`, as returned by one `recv` on a netlink socket.
pub fn messages(buf: &[u8]) -> NetlinkMessages<'_> {
    NetlinkMessages { rest: buf }
}

impl<'a> Iterator for NetlinkMessages<'a> {
    type Item = Result<NetlinkMessage<'a>, NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = split_message(self.rest);
        match result {
            Ok((message, rest)) => {
                self.rest = rest;
                Some(Ok(message))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Iterates over the attributes (`nlattr`) in `bytes`: (type without flag bits, payload).
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

/// The attributes in `bytes` (what follows `nfgenmsg` in an nfnetlink message).
pub fn attributes(bytes: &[u8]) -> Attributes<'_> {
    Attributes { rest: bytes }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer bytes than a header left over is alignment slack, not an attribute.
        if self.rest.len() < NLA_HDRLEN {
            return None;
        }
        let result = split_attribute(self.rest);
        match result {
            Ok((kind, payload, rest)) => {
                self.rest = rest;
                Some(Ok((kind, payload)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl NetlinkMessage<'_> {
    /// For an `NLMSG_ERROR` message: `Some(0)` for an acknowledgement, `Some(errno)`
    /// (positive) for a failed request, `None` if the message is too short to say.
    pub fn error_code(&self) -> Option<i32> {
        // struct nlmsgerr: int error (host order, negative errno), then the request's header.
        ne_i32(self.payload, 0).map(i32::saturating_neg)
    }
}

/// Splits the first message off `buf`. The kernel may leave the last message unpadded
/// (the NFQA_PAYLOAD attribute ends where the packet does), so the step to the next
/// message is `NLMSG_ALIGN(len)` capped at the buffer's end, as `nlmsg_next` does.
fn split_message(buf: &[u8]) -> Result<(NetlinkMessage<'_>, &[u8]), NetlinkError> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(NetlinkError::Truncated);
    }
    let len = ne_u32(buf, 0).ok_or(NetlinkError::Truncated)?;
    let len = usize::try_from(len).map_err(|_| NetlinkError::BadLength)?;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(NetlinkError::BadLength);
    }
    let message = NetlinkMessage {
        message_type: ne_u16(buf, 4).ok_or(NetlinkError::Truncated)?,
        flags: ne_u16(buf, 6).ok_or(NetlinkError::Truncated)?,
        seq: ne_u32(buf, 8).ok_or(NetlinkError::Truncated)?,
        port_id: ne_u32(buf, 12).ok_or(NetlinkError::Truncated)?,
        payload: buf.get(NLMSG_HDRLEN..len).ok_or(NetlinkError::BadLength)?,
    };
    let next = align(len).min(buf.len());
    Ok((message, buf.get(next..).unwrap_or_default()))
}

/// Splits the first attribute off `buf`: (type, payload, rest).
fn split_attribute(buf: &[u8]) -> Result<(u16, &[u8], &[u8]), NetlinkError> {
    let len = usize::from(ne_u16(buf, 0).ok_or(NetlinkError::Truncated)?);
    let kind = ne_u16(buf, 2).ok_or(NetlinkError::Truncated)? & NLA_TYPE_MASK;
    if len < NLA_HDRLEN || len > buf.len() {
        return Err(NetlinkError::BadLength);
    }
    let payload = buf.get(NLA_HDRLEN..len).ok_or(NetlinkError::BadLength)?;
    let next = align(len).min(buf.len());
    Ok((kind, payload, buf.get(next..).unwrap_or_default()))
}

/// Writes an `nlmsghdr` with `message_type` (length patched by [`finish_message`]) and
/// returns where the message starts. The protocol's own header follows.
pub(crate) fn begin_message(buf: &mut Vec<u8>, message_type: u16, flags: u16, seq: u32) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, see finish_message
    buf.extend_from_slice(&message_type.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0 = to the kernel
    start
}

/// Writes the header of any nfnetlink message: `nlmsghdr` with `message_type` (subsystem
/// in the high byte; length patched by [`finish_message`]) and `nfgenmsg` with `res_id`
/// in network order. Returns where the message starts.
pub(crate) fn begin_nfnl_message(
    buf: &mut Vec<u8>,
    message_type: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
) -> usize {
    let start = begin_message(buf, message_type, flags, seq);
    buf.push(family);
    buf.push(NFNETLINK_V0);
    buf.extend_from_slice(&res_id.to_be_bytes()); // res_id: network order
    start
}

/// Patches `nlmsg_len` of the message that starts at `start`.
pub(crate) fn finish_message(buf: &mut [u8], start: usize) {
    let len = buf.len().saturating_sub(start);
    // Our messages are at most a verdict with a 64 KiB payload, far below u32::MAX.
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes();
    if let Some(slot) = buf.get_mut(start..start.saturating_add(4)) {
        slot.copy_from_slice(&len);
    }
}

/// Appends one attribute, padded to 4 bytes (`nla_len` counts header + data, not padding).
/// Callers keep `data` within [`MAX_ATTRIBUTE_PAYLOAD`].
pub(crate) fn put_attribute(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = u16::try_from(NLA_HDRLEN.saturating_add(data.len())).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    let padded = align(usize::from(len));
    buf.resize(buf.len() + (padded - usize::from(len)), 0);
}

/// Writes a nested attribute's header (`NLA_F_NESTED`; length patched by [`end_nested`])
/// and returns where it starts. The nested attributes follow.
pub(crate) fn begin_nested(buf: &mut Vec<u8>, kind: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    start
}

/// Patches the length of the nest that starts at `start`; its contents are already padded.
pub(crate) fn end_nested(buf: &mut [u8], start: usize) {
    let len = u16::try_from(buf.len().saturating_sub(start)).unwrap_or(u16::MAX);
    if let Some(slot) = buf.get_mut(start..start + 2) {
        slot.copy_from_slice(&len.to_ne_bytes());
    }
}

/// `NLMSG_ALIGN` / `NLA_ALIGN`.
pub(crate) const fn align(len: usize) -> usize {
    len.saturating_add(NLMSG_ALIGNTO - 1) & !(NLMSG_ALIGNTO - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `NLMSG_ERROR` message carrying `code` (as the kernel writes it: negative errno).
    fn error_message(seq: u32, code: i32) -> Vec<u8> {
        let mut buf = Vec::new();
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&code.to_ne_bytes());
        finish_message(&mut buf, start);
        buf
    }

    #[test]
    fn error_code_is_positive_errno_or_zero_for_an_ack() {
        let mut buf = error_message(7, 0);
        buf.extend(error_message(8, -17));
        let got: Vec<(u32, Option<i32>)> =
            messages(&buf).map(|m| m.map(|m| (m.seq, m.error_code()))).collect::<Result<_, _>>().unwrap_or_default();
        assert_eq!(got, vec![(7, Some(0)), (8, Some(17))]);
    }

    #[test]
    fn an_error_message_without_its_code_says_nothing() {
        let mut buf = error_message(1, 0);
        buf.truncate(NLMSG_HDRLEN);
        finish_message(&mut buf, 0);
        let message = messages(&buf).next().and_then(Result::ok);
        assert_eq!(message.map(|m| m.error_code()), Some(None));
    }

    #[test]
    fn attributes_are_padded_and_read_back() {
        let mut buf = Vec::new();
        put_attribute(&mut buf, 3, b"abcde");
        put_attribute(&mut buf, 0x8000 | 4, &[9]);
        assert_eq!(buf.len(), 12 + 8);
        let got: Vec<(u16, Vec<u8>)> =
            attributes(&buf).map(|a| a.map(|(k, d)| (k, d.to_vec()))).collect::<Result<_, _>>().unwrap_or_default();
        assert_eq!(got, vec![(3, b"abcde".to_vec()), (4, vec![9])]);
    }

    #[test]
    fn a_length_past_the_buffer_is_an_error_not_a_panic() {
        let mut buf = error_message(1, 0);
        buf.truncate(18);
        assert_eq!(messages(&buf).next(), Some(Err(NetlinkError::BadLength)));
        assert_eq!(attributes(&[200, 0, 1, 0, 0]).next(), Some(Err(NetlinkError::BadLength)));
    }
}

/// An attribute's payload as an IPv4 address (4 bytes, network order), or which attribute
/// was too short.
pub fn attribute_ipv4(kind: u16, data: &[u8]) -> Result<std::net::Ipv4Addr, NetlinkError> {
    let octets: [u8; 4] = data.get(..4).and_then(|b| b.try_into().ok()).ok_or(NetlinkError::ShortAttribute(kind))?;
    Ok(std::net::Ipv4Addr::from(octets))
}

/// Attributes spelled out byte by byte from the uapi layout, independently of
/// [`put_attribute`], for the codecs' byte-exact tests.
#[cfg(test)]
pub(crate) mod hand_built {
    use super::NLA_F_NESTED;

    /// `struct nlattr` (host-order length and type) and its data, padded to 4 bytes.
    pub(crate) fn nla(kind: u16, data: &[u8]) -> Vec<u8> {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        let mut v = [len.to_ne_bytes(), kind.to_ne_bytes()].concat();
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A nested attribute holding `parts`.
    pub(crate) fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        nla(kind | NLA_F_NESTED, &parts.concat())
    }
}
