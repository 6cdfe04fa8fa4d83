//! Packet builders for tests, benchmarks and fuzz seeds: the inverse of the views.
//!
//! They emit well-formed IPv4 packets with valid header checksums (RFC 791), UDP with a
//! zero checksum (RFC 768: "no checksum"), and ISAKMP headers whose Length matches.

use super::internet_checksum;
use super::{ExchangeType, IkeSpi, IpProtocol, MessageId, Spi};
use std::net::Ipv4Addr;

/// The ISAKMP header fields a test sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeHeader {
    /// 1 or 2.
    pub major_version: u8,
    pub exchange: ExchangeType,
    pub flags: u8,
    pub message_id: MessageId,
    pub initiator_spi: IkeSpi,
    pub responder_spi: IkeSpi,
    /// Bytes of (opaque) payload after the header.
    pub body_len: usize,
}

/// An IPv4 packet with the given protocol and payload.
pub fn ipv4(protocol: IpProtocol, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol.0, 0, 0]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    let checksum = internet_checksum(&packet);
    if let Some(slot) = packet.get_mut(10..12) {
        slot.copy_from_slice(&checksum.to_be_bytes());
    }
    packet.extend_from_slice(payload);
    packet
}

/// An ESP packet (protocol 50) with `body_len` opaque bytes after SPI and sequence number.
pub fn esp(src: Ipv4Addr, dst: Ipv4Addr, spi: Spi, sequence: u32, body_len: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(8 + body_len);
    payload.extend_from_slice(&spi.0.to_be_bytes());
    payload.extend_from_slice(&sequence.to_be_bytes());
    payload.resize(8 + body_len, 0xab);
    ipv4(IpProtocol::ESP, src, dst, &payload)
}

/// A UDP datagram in IPv4.
pub fn udp(src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16, data: &[u8]) -> Vec<u8> {
    let length = u16::try_from(8 + data.len()).unwrap_or(u16::MAX);
    let mut datagram = Vec::with_capacity(usize::from(length));
    datagram.extend_from_slice(&src_port.to_be_bytes());
    datagram.extend_from_slice(&dst_port.to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(data);
    ipv4(IpProtocol::UDP, src, dst, &datagram)
}

/// The bytes of an ISAKMP message: header plus opaque body.
pub fn isakmp(header: &IkeHeader) -> Vec<u8> {
    let length = u32::try_from(28 + header.body_len).unwrap_or(u32::MAX);
    let mut message = Vec::with_capacity(28 + header.body_len);
    message.extend_from_slice(&header.initiator_spi.0.to_be_bytes());
    message.extend_from_slice(&header.responder_spi.0.to_be_bytes());
    // Next payload 46 (Encrypted, RFC 7296 §3.14) or 8 (Hash, IKEv1); opaque either way.
    let next_payload = if header.major_version == 2 { 46 } else { 8 };
    message.extend_from_slice(&[next_payload, header.major_version << 4, header.exchange.0, header.flags]);
    message.extend_from_slice(&header.message_id.0.to_be_bytes());
    message.extend_from_slice(&length.to_be_bytes());
    message.resize(28 + header.body_len, 0x5a);
    message
}

/// An IKE message on UDP.
pub fn ike(src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16, header: &IkeHeader) -> Vec<u8> {
    udp(src, src_port, dst, dst_port, &isakmp(header))
}

/// IKE on the NAT-T port: the non-ESP marker, then the message (RFC 3948 §2.2).
pub fn natt_ike(src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16, header: &IkeHeader) -> Vec<u8> {
    let mut data = vec![0, 0, 0, 0];
    data.extend_from_slice(&isakmp(header));
    udp(src, src_port, dst, dst_port, &data)
}

/// UDP-encapsulated ESP (RFC 3948 §2.1).
pub fn natt_esp(src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16, spi: Spi, sequence: u32) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend_from_slice(&spi.0.to_be_bytes());
    data.extend_from_slice(&sequence.to_be_bytes());
    data.resize(64, 0xcd);
    udp(src, src_port, dst, dst_port, &data)
}
