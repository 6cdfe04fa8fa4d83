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

use crate::bytes::{be_u16, be_u32, be_u64};
