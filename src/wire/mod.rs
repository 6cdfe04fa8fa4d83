//! Checked, panic-free views over the packets the ALG reads. Only this module touches bytes.
//!
//! Each view (`Ipv4Packet`, `UdpDatagram`, `EspPacket`, `IsakmpHeader`, ...) checks its
//! length once in `new_checked` and then offers big-endian accessors that cannot panic.
//! [`classify`] turns a raw IP packet, as NFQUEUE hands it over, into a [`Classified`]
//! value that holds only the fields the engine needs, so the engine never sees bytes.
//!
//! Read first: RFC 791 §3.1 (IPv4 header), RFC 8200 §3 (IPv6 header), RFC 768 (UDP),
//! RFC 4303 §2 (ESP), RFC 2408 §3.1 (ISAKMP header, IKEv1), RFC 7296 §3.1 (IKEv2 header),
//! RFC 3948 §2 (UDP encapsulation of ESP and the non-ESP marker).
//!
//! We write these views ourselves instead of pulling in a packet crate: the ALG reads about
//! a dozen fields and rewrites one address in place, and a few hundred fuzzed lines cost
//! less flash than a general parser.

pub mod build;
mod classify;
mod esp;
mod ipv4;
mod ipv6;
mod isakmp;
pub mod nfnetlink;
pub mod nftables;
mod numbers;
mod udp;

pub use classify::{classify, Classified, EspInfo, IkeInfo, Layer, Malformed, NatTKind, Ports, UdpEndpoints};
pub use esp::{EspPacket, ESP_HEADER_LEN};
pub use ipv4::{internet_checksum, rewrite_ipv4_addresses, Ipv4Packet};
pub use ipv6::Ipv6Packet;
pub use isakmp::{IkeFlags, IkeVersion, IsakmpHeader, ISAKMP_HEADER_LEN};
pub use numbers::{ExchangeType, IkeSpi, IpProtocol, MessageId, Spi};
pub use udp::UdpDatagram;

use core::fmt;

/// Why a view refused its input. Every variant is the sender's fault (malformed input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Fewer bytes than the fixed header, or than a length field announces.
    Truncated,
    /// A version field that this view does not read.
    BadVersion,
    /// A header-length or total-length field that contradicts itself or the buffer.
    BadLength,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::BadVersion => "unsupported version field",
            WireError::BadLength => "inconsistent length field",
        })
    }
}

impl std::error::Error for WireError {}

/// Reads a big-endian `u16` at `at`, or `None` past the end.
fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b.first().copied()?, b.get(1).copied()?]))
}

/// Reads a big-endian `u32` at `at`, or `None` past the end.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Reads a big-endian `u64` at `at`, or `None` past the end.
fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
